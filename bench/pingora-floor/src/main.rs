//! The floor of a proxy on Cloudflare's Pingora, the same shape as
//! crates/gateway/examples/proxy_floor.rs: no routing, no authorization,
//! no access log, one fixed upstream, Pingora's own upstream keep-alive
//! pool. bench/gateway.sh runs it next to the bare hyper proxy and nginx.
//!
//! `PINGORA_LISTEN=127.0.0.1:P PINGORA_UPSTREAM=127.0.0.1:U pingora-floor -c conf.yaml`
//! (threads and the keep-alive pool size are in the YAML file that
//! bench/gateway.sh writes).

use async_trait::async_trait;
use pingora_core::server::configuration::Opt;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::Result;
use pingora_proxy::{ProxyHttp, Session};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Floor {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let listen = std::env::var("PINGORA_LISTEN").expect("PINGORA_LISTEN");
    let upstream = std::env::var("PINGORA_UPSTREAM").expect("PINGORA_UPSTREAM");
    let mut server = Server::new(Some(Opt::default())).expect("server");
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, Floor { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever();
}
