//! Nodes sharing a database reach each other's connections.
//!
//! A connection lives on the node that accepted it; its id starts with
//! that node's tag (the first four base64 characters). Each node records
//! in the store where it serves each WebSocket API (refreshed every few
//! seconds, removed when it stops), and keeps a list of its live peers:
//!
//! - an `@connections` call for another node's connection is passed to
//!   that node, re-signed with the admin credentials and marked as relayed
//!   (a relayed call is never passed on again);
//! - a broadcast is delivered to this node's connections and POSTed, signed,
//!   to every peer's `/@broadcast`, which delivers to its own.
//!
//! With one node (SQLite) the peer list is empty and nothing is relayed.

use std::sync::Weak;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use cognate_store::nodes::Node;

use super::WsApi;
use crate::client;

/// How often a node refreshes its record and reads its peers'.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A peer not seen for this long is taken for gone.
const STALE_MS: i64 = 20_000;
/// How long a relayed call may take.
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);
/// Marks a relayed call.
pub const RELAYED: &str = "x-cognate-relayed";

/// The node tag of a connection id (its first four characters).
pub fn tag_of(connection_id: &str) -> &str {
    connection_id.get(..4).unwrap_or("")
}

/// Keeps this node's record fresh and its peer list current.
pub(crate) async fn heartbeat(api: Weak<WsApi>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(api) = api.upgrade() else { return };
        let Some(url) = api.own_url.clone() else {
            return;
        };
        let now = api.now();
        let store = api.store.clone();
        if let Err(e) = store.node_seen(&api.name, &api.tag, &url, now).await {
            tracing::warn!(api = %api.name, error = %e, "cannot record this node");
            continue;
        }
        match store.nodes(&api.name, now - STALE_MS).await {
            Ok(nodes) => {
                *api.peers.write().expect("peers lock") = nodes
                    .into_iter()
                    .filter(|n| n.node_tag != api.tag)
                    .collect();
            }
            Err(e) => tracing::warn!(api = %api.name, error = %e, "cannot read the other nodes"),
        }
    }
}

/// Removes this node's record (it stops).
pub(crate) async fn leave(api: &WsApi) {
    if api.own_url.is_some() {
        if let Err(e) = api.store.node_gone(&api.name, &api.tag).await {
            tracing::warn!(api = %api.name, error = %e, "cannot remove this node's record");
        }
    }
}

fn peer(api: &WsApi, tag: &str) -> Option<Node> {
    api.peers
        .read()
        .expect("peers lock")
        .iter()
        .find(|n| n.node_tag == tag)
        .cloned()
}

/// A signed request to a peer.
fn signed(
    api: &WsApi,
    method: &str,
    base: &str,
    path: &str,
    body: Vec<u8>,
) -> Option<Request<Body>> {
    let url = url::Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).ok()?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str()?),
        None => url.host_str()?.to_string(),
    };
    let headers = vec![("host".to_string(), host.clone())];
    let (date, authorization) = cognate_identity::sigv4::sign(
        &cognate_identity::sigv4::Request {
            method,
            path: url.path(),
            query: url.query().unwrap_or(""),
            headers: &headers,
            body: &body,
        },
        &api.credentials,
        &api.shared.region,
        "execute-api",
        api.now() / 1000,
    );
    Request::builder()
        .method(method)
        .uri(url.as_str())
        .header("host", host)
        .header("x-amz-date", date)
        .header("authorization", authorization)
        .header(RELAYED, "1")
        .body(Body::from(body))
        .ok()
}

/// Passes an `@connections` call to the node holding the connection;
/// `None` when no live node has that tag (the connection is gone).
pub(crate) async fn forward(
    api: &WsApi,
    method: &str,
    stage: &str,
    raw_id: &str,
    body: Vec<u8>,
) -> Option<Response<Body>> {
    let id = cognate_identity::crypto::percent_decode(raw_id, false);
    let node = peer(api, tag_of(&id))?;
    let path = if stage == "$default" {
        format!("/@connections/{raw_id}")
    } else {
        format!("/{stage}/@connections/{raw_id}")
    };
    let request = signed(api, method, &node.url, &path, body)?;
    match client::call(
        &api.shared.invoker.client,
        request,
        RELAY_TIMEOUT,
        1024 * 1024,
    )
    .await
    {
        Ok((parts, bytes)) => {
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = parts.status;
            for name in ["content-type", "x-amzn-errortype", "x-amzn-requestid"] {
                if let Some(v) = parts.headers.get(name) {
                    r.headers_mut().insert(name, v.clone());
                }
            }
            Some(r)
        }
        Err(e) => {
            tracing::warn!(api = %api.name, node = %node.node_tag, error = ?e, "relay to the node holding the connection failed");
            let mut r = Response::new(Body::from(r#"{"message":"Internal server error"}"#));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            Some(r)
        }
    }
}

/// Sends a broadcast to every peer, which delivers it to its own
/// connections.
pub(crate) fn broadcast_to_peers(api: &WsApi, text: &str) {
    let peers = api.peers.read().expect("peers lock").clone();
    for node in peers {
        let Some(request) = signed(
            api,
            "POST",
            &node.url,
            "/@broadcast",
            text.as_bytes().to_vec(),
        ) else {
            continue;
        };
        let client = api.shared.invoker.client.clone();
        let name = api.name.clone();
        tokio::spawn(async move {
            match client::call(&client, request, RELAY_TIMEOUT, 1024).await {
                Ok((parts, _)) if parts.status.is_success() => {}
                other => {
                    tracing::warn!(api = %name, node = %node.node_tag, answer = ?other.map(|(p, _)| p.status), "broadcast to a node failed")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_the_ids_first_four_characters() {
        assert_eq!(tag_of("AQIDBAUGBwgJCgs="), "AQID");
        assert_eq!(tag_of("ab"), "");
    }
}
