//! A user pool domain's state, shared by its routes (oauth.rs builds the
//! router; the hosted pages and the federation legs read it).

use crate::app::AppState;

#[derive(Clone)]
pub struct DomainState {
    pub app: AppState,
    pub pool_id: String,
    /// Whether the domain is served over https (cookies get `Secure`).
    pub secure: bool,
}
