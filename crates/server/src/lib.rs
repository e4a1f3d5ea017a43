//! cognate's server: the listeners, the app of each (the Cognito JSON API,
//! the pool domains' hosted pages and OAuth endpoints, the gateway's HTTP
//! and WebSocket APIs) and the run that serves them. The binary
//! (`main.rs`) is the command line over `serve`; `in_process` builds the
//! same app without serving it, for the in-process tests.

mod app;
mod aws;
mod binding;
pub mod client;
mod domain;
mod errors;
mod framing;
mod gateway;
mod generation;
mod hosted;
pub mod in_process;
mod limits;
mod listener;
pub mod logs;
mod oauth;
mod responses;
pub mod serve;
mod tls;
mod workers;

pub use in_process::InProcess;
