//! Prometheus metrics of the gateway: requests by API, route and status,
//! and their latency, in the text exposition format.
//!
//! Written here rather than with prometheus-client: its histogram takes a
//! write lock on every observation and its families hash label sets per
//! request, which cost as much as a proxied request's own work in the
//! gateway benchmark. Here every counter a request touches is an atomic
//! made when the API is compiled; nothing is locked or allocated per
//! request.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Statuses 100..=599, one counter each.
const STATUSES: usize = 500;
/// Latency bucket upper bounds: 100 µs doubling to about 13 s.
const BUCKETS: usize = 18;

fn bucket_bound(i: usize) -> f64 {
    0.0001 * f64::from(1u32 << i)
}

/// The counters of one route (or of the requests no route matched).
pub struct RouteCounters {
    api: String,
    route: String,
    by_status: Box<[AtomicU64]>,
}

impl RouteCounters {
    pub fn record(&self, status: u16) {
        let i = usize::from(status).saturating_sub(100).min(STATUSES - 1);
        self.by_status[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Request latency of one API.
pub struct Latency {
    api: String,
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Latency {
    pub fn observe_ms(&self, ms: i64) {
        let us = (ms.max(0) as u64) * 1000;
        let secs = us as f64 / 1e6;
        if let Some(i) = (0..BUCKETS).find(|i| secs <= bucket_bound(*i)) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// Counters of one WebSocket API.
#[derive(Default)]
pub struct WsCounters {
    api: String,
    /// Connections open now.
    pub open: AtomicU64,
    /// Upgrades answered 101.
    pub accepted: AtomicU64,
    /// Upgrades refused (any status but 101).
    pub refused: AtomicU64,
    /// Messages received from clients.
    pub messages_in: AtomicU64,
    /// Messages sent to clients.
    pub messages_out: AtomicU64,
}

/// A WebSocket metric family: name, type, help, and its counter.
type WsFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WsCounters) -> &AtomicU64,
);

#[derive(Default)]
pub struct Metrics {
    routes: Mutex<Vec<Arc<RouteCounters>>>,
    latencies: Mutex<Vec<Arc<Latency>>>,
    websockets: Mutex<Vec<Arc<WsCounters>>>,
    /// Live nodes sharing each HTTP API's throttling limits.
    nodes: Mutex<std::collections::BTreeMap<String, u32>>,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counters for a route of an API (`-`: requests no route matched).
    pub fn route(&self, api: &str, route: &str) -> Arc<RouteCounters> {
        let c = Arc::new(RouteCounters {
            api: api.to_string(),
            route: route.to_string(),
            by_status: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
        });
        self.routes.lock().expect("metrics lock").push(c.clone());
        c
    }

    pub fn latency(&self, api: &str) -> Arc<Latency> {
        let l = Arc::new(Latency {
            api: api.to_string(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        });
        self.latencies.lock().expect("metrics lock").push(l.clone());
        l
    }

    pub fn websocket(&self, api: &str) -> Arc<WsCounters> {
        let c = Arc::new(WsCounters {
            api: api.to_string(),
            ..WsCounters::default()
        });
        self.websockets
            .lock()
            .expect("metrics lock")
            .push(c.clone());
        c
    }

    /// Records how many nodes share an API's throttling limits.
    pub fn set_nodes(&self, api: &str, n: u32) {
        self.nodes
            .lock()
            .expect("metrics lock")
            .insert(api.to_string(), n);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_nodes(&mut out);
        self.encode_websockets(&mut out);
        self.encode_requests(&mut out);
        self.encode_latencies(&mut out);
        out
    }

    fn encode_nodes(&self, out: &mut String) {
        let nodes = self.nodes.lock().expect("metrics lock");
        if !nodes.is_empty() {
            out.push_str("# HELP cognate_gateway_nodes Live nodes sharing an HTTP API's throttling limits.\n");
            out.push_str("# TYPE cognate_gateway_nodes gauge\n");
            for (api, n) in nodes.iter() {
                let _ = writeln!(out, "cognate_gateway_nodes{{api=\"{}\"}} {n}", label(api));
            }
        }
    }

    fn encode_websockets(&self, out: &mut String) {
        let websockets = self.websockets.lock().expect("metrics lock");
        let families: [WsFamily; 5] = [
            (
                "cognate_websocket_connections",
                "gauge",
                "Open WebSocket connections.",
                |c| &c.open,
            ),
            (
                "cognate_websocket_upgrades_accepted_total",
                "counter",
                "Upgrades answered 101.",
                |c| &c.accepted,
            ),
            (
                "cognate_websocket_upgrades_refused_total",
                "counter",
                "Upgrades refused before any socket opened.",
                |c| &c.refused,
            ),
            (
                "cognate_websocket_messages_received_total",
                "counter",
                "Messages received from clients.",
                |c| &c.messages_in,
            ),
            (
                "cognate_websocket_messages_sent_total",
                "counter",
                "Messages sent to clients.",
                |c| &c.messages_out,
            ),
        ];
        if !websockets.is_empty() {
            for (name, kind, help, get) in families {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                for c in websockets.iter() {
                    let _ = writeln!(
                        out,
                        "{name}{{api=\"{}\"}} {}",
                        label(&c.api),
                        get(c).load(Ordering::Relaxed)
                    );
                }
            }
        }
    }

    fn encode_requests(&self, out: &mut String) {
        out.push_str("# HELP cognate_gateway_requests_total HTTP API requests by API, route key and status.\n");
        out.push_str("# TYPE cognate_gateway_requests_total counter\n");
        for r in self.routes.lock().expect("metrics lock").iter() {
            for (i, n) in r.by_status.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "cognate_gateway_requests_total{{api=\"{}\",route=\"{}\",status=\"{}\"}} {n}",
                        label(&r.api),
                        label(&r.route),
                        i + 100
                    );
                }
            }
        }
    }

    fn encode_latencies(&self, out: &mut String) {
        out.push_str("# HELP cognate_gateway_request_duration_seconds Time from a request's arrival to its answer's headers.\n");
        out.push_str("# TYPE cognate_gateway_request_duration_seconds histogram\n");
        for l in self.latencies.lock().expect("metrics lock").iter() {
            let api = label(&l.api);
            let mut cumulative = 0;
            for (i, b) in l.buckets.iter().enumerate() {
                cumulative += b.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "cognate_gateway_request_duration_seconds_bucket{{api=\"{api}\",le=\"{}\"}} {cumulative}",
                    bucket_bound(i)
                );
            }
            let count = l.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "cognate_gateway_request_duration_seconds_bucket{{api=\"{api}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "cognate_gateway_request_duration_seconds_sum{{api=\"{api}\"}} {}",
                l.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "cognate_gateway_request_duration_seconds_count{{api=\"{api}\"}} {count}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_encode_in_the_text_format() {
        let m = Metrics::default();
        let r = m.route("shop", "GET /pets");
        r.record(200);
        r.record(200);
        r.record(404);
        let l = m.latency("shop");
        l.observe_ms(3);
        l.observe_ms(5000);
        let text = m.encode();
        assert!(text.contains(
            "cognate_gateway_requests_total{api=\"shop\",route=\"GET /pets\",status=\"200\"} 2\n"
        ));
        assert!(text.contains("status=\"404\"} 1\n"));
        assert!(text.contains(
            "cognate_gateway_request_duration_seconds_bucket{api=\"shop\",le=\"0.0032\"} 1\n"
        ));
        assert!(text.contains("le=\"+Inf\"} 2\n"));
        assert!(text.contains("cognate_gateway_request_duration_seconds_count{api=\"shop\"} 2\n"));
        assert!(text.contains("_sum{api=\"shop\"} 5.003\n"));
    }
}
