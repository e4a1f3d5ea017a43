//! Binding listeners, and writing files other processes read: what
//! serving a configuration needs from the system, kept apart from the run
//! itself (serve.rs) and from a configuration's making (generation.rs).

use std::net::SocketAddr;
use std::path::Path;

use cognate_config::Listen;
use tokio::net::TcpListener;

/// A bound listener and the URL clients reach it at.
pub(crate) struct Bound {
    pub(crate) listener: TcpListener,
    pub(crate) url: String,
}

pub(crate) async fn bind(addr: SocketAddr, scheme: &str) -> Result<Bound, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    Ok(Bound {
        listener,
        url: format!("{scheme}://{host}:{}", local.port()),
    })
}

/// Binds a secondary listener. `auto` ones sit next to the main listener
/// (its port plus an offset), on a free port when the main listener asked
/// for port 0 or when that neighbour is taken (a warning says so; the
/// outputs carry the real URL). An address given in the config must be had.
pub(crate) async fn bind_secondary(
    main: SocketAddr,
    listen: &Listen,
    offset: u16,
    scheme: &str,
) -> Result<Bound, String> {
    match listen {
        Listen::Addr(a) => bind(*a, scheme).await,
        Listen::Auto if main.port() == 0 => bind(SocketAddr::new(main.ip(), 0), scheme).await,
        Listen::Auto => {
            let wanted = SocketAddr::new(main.ip(), main.port().saturating_add(offset));
            match bind(wanted, scheme).await {
                Ok(b) => Ok(b),
                Err(e) => {
                    tracing::warn!(address = %wanted, error = %e, "port next to the main listener is taken; using a free one");
                    bind(SocketAddr::new(main.ip(), 0), scheme).await
                }
            }
        }
    }
}

/// Writes a file so that a reader sees the old content or the new, never half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-cognate");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
