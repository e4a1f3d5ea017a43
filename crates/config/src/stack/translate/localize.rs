//! AWS addresses of the stacks' own resources -> their local addresses.

use serde_json::Value;

use super::Builder;

/// AWS addresses of the stacks' own resources -> the placeholders of
/// their local addresses, in every string given.
pub(crate) struct Localizer {
    pairs: Vec<(String, String)>,
}

impl Localizer {
    pub(crate) fn new(b: &Builder, region: &str) -> Self {
        let mut pairs = Vec::new();
        for api in &b.http_apis {
            let n = api["name"].as_str().unwrap_or("");
            pairs.push((
                format!("https://${{apiid.{n}}}.execute-api.{region}.amazonaws.com"),
                format!("${{api.{n}}}"),
            ));
        }
        for api in &b.websocket_apis {
            let n = api["name"].as_str().unwrap_or("");
            pairs.push((
                format!("wss://${{wsapiid.{n}}}.execute-api.{region}.amazonaws.com"),
                format!("${{websocket.{n}}}"),
            ));
            pairs.push((
                format!("https://${{wsapiid.{n}}}.execute-api.{region}.amazonaws.com"),
                format!("${{wshttp.{n}}}"),
            ));
        }
        for pool in &b.pools {
            let n = pool["name"].as_str().unwrap_or("");
            if let Some(prefix) = pool.pointer("/domain/prefix").and_then(Value::as_str) {
                if pool.pointer("/domain/custom_domains").is_none() {
                    pairs.push((
                        format!("https://{prefix}.auth.{region}.amazoncognito.com"),
                        format!("${{domain.{n}}}"),
                    ));
                }
            }
            for d in pool
                .pointer("/domain/custom_domains")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                pairs.push((format!("https://{d}"), format!("${{domain.{n}}}")));
            }
        }
        Localizer { pairs }
    }

    pub(crate) fn apply(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (aws, local) in &self.pairs {
            if out.contains(aws.as_str()) {
                out = out.replace(aws.as_str(), local);
            }
        }
        out
    }

    /// Every string in a JSON value.
    pub(crate) fn apply_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.apply(s),
            Value::Array(a) => a.iter_mut().for_each(|v| self.apply_value(v)),
            Value::Object(m) => m.values_mut().for_each(|v| self.apply_value(v)),
            _ => {}
        }
    }
}
