//! Wiring of the gateway: compiles the config's HTTP APIs and gives each
//! its listener's router and its custom domains' routers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::Request;
use axum::Router;
use cognate_config::Config;
use cognate_gateway::websocket::WsApi;
use cognate_gateway::{Api, Mapping, Setup};

/// HTTP API name -> the compiled API.
pub type Apis = HashMap<String, Arc<Api>>;
/// WebSocket API name -> the compiled API.
pub type WsApis = HashMap<String, Arc<WsApi>>;

/// The metrics listener's router: `GET /metrics` in Prometheus' text format.
pub fn metrics_app(shared: Arc<cognate_gateway::Shared>) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let shared = shared.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    shared.metrics.encode(),
                )
            }
        }),
    )
}

/// Compiles the config's HTTP and WebSocket APIs on what `setup` gives
/// (identity, store, clock, functions).
pub(crate) async fn build(
    config: &Config,
    setup: &Setup<'_>,
    placeholders: &HashMap<String, String>,
) -> Result<(Apis, WsApis, Arc<cognate_gateway::Shared>), String> {
    let shared = cognate_gateway::shared(setup, &config.functions);
    let mut verifiers = cognate_gateway::Verifiers::new();
    let mut apis = HashMap::new();
    for api in &config.http_apis {
        let compiled = cognate_gateway::compile(api, setup, shared.clone(), &mut verifiers)
            .await
            .map_err(|e| format!("HTTP API {}: {e}", api.name))?;
        apis.insert(api.name.clone(), compiled);
    }
    let mut ws_apis = HashMap::new();
    for api in &config.websocket_apis {
        // Where this node serves the API, for the nodes sharing the
        // database (in http form: management calls and broadcasts).
        // A wildcard bind (0.0.0.0, [::]) names no address another node
        // could reach: such a node serves its own connections only.
        let own_url = placeholders
            .get(&format!("websocket.{}", api.name))
            .map(|u| {
                u.replacen("wss://", "https://", 1)
                    .replacen("ws://", "http://", 1)
            })
            .filter(|u| {
                let wildcard = u.contains("//0.0.0.0") || u.contains("//[::]");
                if wildcard {
                    tracing::warn!(api = %api.name, url = %u, "WebSocket API bound to a wildcard address: other nodes cannot relay to this one; bind it to a routable address");
                }
                !wildcard
            });
        let compiled = cognate_gateway::websocket::compile(
            api,
            &config.http_apis,
            own_url,
            setup,
            shared.clone(),
            &mut verifiers,
        )
        .await
        .map_err(|e| format!("WebSocket API {}: {e}", api.name))?;
        ws_apis.insert(api.name.clone(), compiled);
    }
    Ok((apis, ws_apis, shared))
}

/// The router of a WebSocket API's own listener.
pub fn ws_app(api: Arc<WsApi>) -> Router {
    Router::new().fallback(move |request: Request| {
        let api = api.clone();
        async move { api.handle(request, None).await }
    })
}

/// An API a custom domain maps to.
#[derive(Clone)]
enum Mapped {
    Http(Arc<Api>),
    WebSocket(Arc<WsApi>),
}

/// The router of an API's own listener.
pub fn api_app(api: Arc<Api>) -> Router {
    Router::new().fallback(move |request: Request| {
        let api = api.clone();
        async move { api.handle(request, None).await }
    })
}

/// Host name -> a router choosing among the host's API mappings by the
/// longest base path that prefixes the request path (whole segments).
pub fn custom_domains(config: &Config, apis: &Apis, ws_apis: &WsApis) -> Vec<(String, Router)> {
    let mut by_host: BTreeMap<String, Vec<(String, String, Mapped)>> = BTreeMap::new();
    for api in &config.http_apis {
        let Some(compiled) = apis.get(&api.name) else {
            continue;
        };
        for m in &api.custom_domains {
            by_host.entry(m.host.clone()).or_default().push((
                m.base_path.clone(),
                m.stage.clone(),
                Mapped::Http(compiled.clone()),
            ));
        }
    }
    for api in &config.websocket_apis {
        let Some(compiled) = ws_apis.get(&api.name) else {
            continue;
        };
        for m in &api.custom_domains {
            by_host.entry(m.host.clone()).or_default().push((
                m.base_path.clone(),
                m.stage.clone(),
                Mapped::WebSocket(compiled.clone()),
            ));
        }
    }
    by_host
        .into_iter()
        .map(|(host, mut mappings)| {
            mappings.sort_by_key(|(base, _, _)| std::cmp::Reverse(base.len()));
            let mappings = Arc::new(mappings);
            let router = Router::new().fallback(move |request: Request| {
                let mappings = mappings.clone();
                async move {
                    let path = request.uri().path();
                    let chosen = mappings.iter().find(|(base, _, _)| {
                        base.is_empty()
                            || path
                                .strip_prefix('/')
                                .and_then(|p| p.strip_prefix(base.as_str()))
                                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                    });
                    match chosen {
                        Some((base, stage, api)) => {
                            let mapping = Some(Mapping {
                                base_path: base.clone(),
                                stage: stage.clone(),
                            });
                            match api {
                                Mapped::Http(api) => api.clone().handle(request, mapping).await,
                                Mapped::WebSocket(api) => {
                                    api.clone().handle(request, mapping).await
                                }
                            }
                        }
                        None => cognate_gateway::not_found(),
                    }
                }
            });
            (host, router)
        })
        .collect()
}
