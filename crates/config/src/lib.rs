//! cognate's configuration.
//!
//! The pipeline, one way:
//!
//! ```text
//! TOML text --(toml + serde, deny_unknown_fields)--> file::File
//!           --(validate: every problem collected)--> Config
//! ```
//!
//! Precedence is command line > environment > file: the server applies its
//! flags (`--listen`, `--data-dir`, ...) on top of the model; nothing here reads
//! the environment. The file carries `version = 1`; a later format gets a new
//! number and a conversion, never a silent change of meaning.
//!
//! URLs that depend on where listeners end up bound are written with
//! placeholders (`${api.demo}` is the base URL of the HTTP API named `demo`)
//! and resolved by [`resolve_placeholders`] once the listeners are up.

pub mod api;
mod file;
pub mod model;
pub mod rules;
pub mod stack;
pub mod websocket;

use std::collections::HashMap;
use std::fmt;

pub use api::*;
pub use model::*;
pub use websocket::*;

/// The built-in demo configuration (`cognate serve` with no file).
pub const DEMO_TOML: &str = include_str!("../../../examples/demo.toml");

/// One thing wrong with a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A dotted path (`user_pools[0].clients[1].callback_urls[0]`), or
    /// `line L, column C` for syntax and type errors.
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub region: String,
    pub server: Server,
    pub admin: Option<AdminCredentials>,
    pub messages: Messages,
    pub user_pools: Vec<UserPool>,
    pub functions: Vec<api::Function>,
    pub http_apis: Vec<api::HttpApi>,
    pub websocket_apis: Vec<websocket::WebSocketApi>,
}

/// Collects problems with their locations.
pub(crate) struct Collector(pub(crate) Vec<Problem>);

impl Collector {
    pub(crate) fn at(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            location: location.into(),
            message: message.into(),
        });
    }
    pub(crate) fn violations(&mut self, prefix: &str, violations: Vec<rules::Violation>) {
        for v in violations {
            self.at(format!("{prefix}.{}", v.field), v.message);
        }
    }
}

/// Parses and validates a config file's text.
pub fn parse(text: &str) -> Result<Config, Problems> {
    let parsed: file::File =
        toml::from_str(text).map_err(|e| Problems(vec![toml_problem(text, &e)]))?;
    file::validate(parsed)
}

fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let location = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        }
        None => "file".to_string(),
    };
    Problem {
        location,
        message: e.message().to_string(),
    }
}

/// Replaces `${api.NAME}`, `${websocket.NAME}`, `${domain.POOL}` and
/// `${cognito}` in every URL of the config, and in functions' environment
/// (where `${pool.NAME}` and `${client.POOL.NAME}` are filled in later, by
/// [`resolve_ids`]), with the values given.
pub fn resolve_placeholders(config: &mut Config, values: &HashMap<String, String>) {
    for f in &mut config.functions {
        for v in f.environment.values_mut() {
            *v = substitute(v, values);
        }
    }
    for api in &mut config.http_apis {
        if let Some(s) = &mut api.session {
            s.callback_url = substitute(&s.callback_url, values);
            s.hosted_url = substitute(&s.hosted_url, values);
        }
        for i in &mut api.integrations {
            if let IntegrationKind::SessionLogout { redirect: Some(r) } = &mut i.kind {
                *r = substitute(r, values);
            }
        }
    }
    for api in &mut config.websocket_apis {
        for o in api.allowed_origins.iter_mut().flatten() {
            *o = substitute(o, values);
        }
    }
    for pool in &mut config.user_pools {
        for client in &mut pool.clients {
            let s = &mut client.settings;
            for url in s.callback_urls.iter_mut().chain(s.logout_urls.iter_mut()) {
                *url = substitute(url, values);
            }
            if let Some(d) = &mut s.default_redirect_uri {
                *d = substitute(d, values);
            }
        }
    }
}

/// Fills `${pool.NAME}` and `${client.POOL.NAME}` (ids made on first start)
/// in functions' environment.
pub fn resolve_ids(config: &mut Config, ids: &HashMap<String, String>) {
    for f in &mut config.functions {
        for v in f.environment.values_mut() {
            *v = substitute(v, ids);
        }
    }
}

/// Replaces each `${key}` found in `values`; unknown keys stay as written.
pub fn substitute(text: &str, values: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let key = &after[..end];
                match values.get(key) {
                    Some(v) => out.push_str(v.trim_end_matches('/')),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder keys a config may use, each with a stand-in URL used to
/// validate URLs before the real listeners exist.
pub(crate) fn placeholder_standins(file: &file::File) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert("cognito".to_string(), "http://localhost:4000".to_string());
    for a in file.http_apis.iter() {
        m.insert(
            format!("api.{}", a.name),
            "http://localhost:4002".to_string(),
        );
    }
    for a in file.websocket_apis.iter() {
        m.insert(
            format!("websocket.{}", a.name),
            "http://localhost:4003".to_string(),
        );
    }
    for p in file.user_pools.iter() {
        m.insert(
            format!("domain.{}", p.name),
            "http://localhost:4001".to_string(),
        );
    }
    m
}

#[cfg(test)]
mod tests;
