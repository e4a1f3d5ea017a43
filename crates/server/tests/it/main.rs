//! In-process tests of the server: the app built as `cognate serve` builds
//! it (cognate::InProcess), on a SQLite store in a temporary folder with a
//! clock each test moves, driven with tower's `oneshot`. They pin the HTTP
//! behaviour of the gateway, the cookie sessions, the hosted pages and the
//! OAuth endpoints: status codes, bodies, headers, cookies. tests/python
//! keeps what needs a real client (SDKs, browsers, functions, raw sockets,
//! several nodes).

mod gateway;
mod gateway_demo;
mod harness;
mod hosted;
mod hosted_forms;
mod oauth;
mod sessions;
mod upstream;
