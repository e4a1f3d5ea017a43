//! The in-process harness: an app built as `cognate serve` builds it (the
//! demo, or a configuration of the test's own) on a SQLite store in a
//! temporary folder, with a clock the test moves; requests go to each
//! listener's router through tower's `oneshot`, as hyper would hand them
//! (origin-form URI, Host header, the peer address). `Browser` keeps
//! cookies per origin as a browser does; nothing follows redirects.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const PASSWORD: &str = "Corr3ct-Horse!";

/// Where every app's clock starts: 2027-01-15T08:00:00Z.
pub const START_MS: i64 = 1_800_000_000_000;

pub struct App {
    pub served: cognate::InProcess,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

impl App {
    /// The built-in demo (DEMO.md).
    pub async fn demo() -> App {
        App::from_toml(cognate_config::DEMO_TOML).await
    }

    pub async fn from_toml(text: &str) -> App {
        let config = cognate_config::parse(text).unwrap_or_else(|p| panic!("config: {:?}", p.0));
        let dir = tempfile::tempdir().expect("temporary folder");
        let store = cognate_store::Store::open_sqlite(dir.path())
            .await
            .expect("SQLite store");
        let clock = Arc::new(AtomicI64::new(START_MS));
        let read = clock.clone();
        let served = cognate::InProcess::start(
            config,
            dir.path(),
            store,
            Arc::new(move || read.load(Ordering::SeqCst)),
        )
        .await
        .expect("the app starts");
        App {
            served,
            clock,
            _dir: dir,
        }
    }

    /// An output of the run (`UserPoolId`, `HostedUiUrl`, ...).
    pub fn out(&self, key: &str) -> String {
        self.served
            .outputs
            .get(key)
            .unwrap_or_else(|| panic!("no output {key}"))
            .clone()
    }

    /// Another handle on the app's database, as another node sharing it
    /// would have (its writes are not seen by this process's caches).
    pub async fn other_node_store(&self) -> cognate_store::Store {
        cognate_store::Store::open_sqlite(self._dir.path())
            .await
            .expect("a second handle")
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Moves the clock forward.
    pub fn advance_s(&self, seconds: i64) {
        self.clock.fetch_add(seconds * 1000, Ordering::SeqCst);
    }

    pub fn get(&self, url: &str) -> Call<'_> {
        Call::new(self, Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Call<'_> {
        Call::new(self, Method::POST, url)
    }

    pub fn request(&self, method: Method, url: &str) -> Call<'_> {
        Call::new(self, method, url)
    }

    /// A Cognito JSON API operation signed with the admin credentials.
    pub async fn admin(&self, operation: &str, input: Value) -> Result<Value, Reply> {
        self.json_api(operation, input, true).await
    }

    /// A public (unsigned) Cognito JSON API operation.
    pub async fn public(&self, operation: &str, input: Value) -> Result<Value, Reply> {
        self.json_api(operation, input, false).await
    }

    async fn json_api(&self, operation: &str, input: Value, signed: bool) -> Result<Value, Reply> {
        let endpoint = self.out("CognitoEndpoint");
        let host = endpoint
            .split("://")
            .nth(1)
            .expect("endpoint host")
            .to_string();
        let body = serde_json::to_vec(&input).expect("input serializes");
        let target = format!("AWSCognitoIdentityProviderService.{operation}");
        let mut call = self
            .post(&endpoint)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target);
        if signed {
            let headers = vec![
                (
                    "content-type".to_string(),
                    "application/x-amz-json-1.1".to_string(),
                ),
                ("host".to_string(), host),
                ("x-amz-target".to_string(), target.clone()),
            ];
            let request = cognate_identity::sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: &body,
            };
            let creds = cognate_config::AdminCredentials {
                access_key_id: self.out("AdminAccessKeyId"),
                secret_access_key: self.out("AdminSecretAccessKey"),
            };
            let (date, authorization) = cognate_identity::sigv4::sign(
                &request,
                &creds,
                &self.out("Region"),
                "cognito-idp",
                self.now_ms() / 1000,
            );
            call = call
                .header("x-amz-date", &date)
                .header("authorization", &authorization);
        }
        let reply = call.body(body).send().await;
        if reply.status == StatusCode::OK {
            Ok(reply.json())
        } else {
            Err(reply)
        }
    }

    /// A confirmed user of the demo pool with a verified email
    /// `{name}@example.com` and the password `PASSWORD`.
    pub async fn user(&self, name: &str) -> String {
        let pool = self.out("UserPoolId");
        self.admin(
            "AdminCreateUser",
            json!({"UserPoolId": pool, "Username": name, "MessageAction": "SUPPRESS",
                   "UserAttributes": [{"Name": "email", "Value": format!("{name}@example.com")},
                                      {"Name": "email_verified", "Value": "true"}]}),
        )
        .await
        .unwrap_or_else(|r| panic!("AdminCreateUser: {}", r.text()));
        self.admin(
            "AdminSetUserPassword",
            json!({"UserPoolId": pool, "Username": name, "Password": PASSWORD, "Permanent": true}),
        )
        .await
        .unwrap_or_else(|r| panic!("AdminSetUserPassword: {}", r.text()));
        name.to_string()
    }

    /// USER_PASSWORD_AUTH of the demo's public client: the
    /// `AuthenticationResult` (access, ID and refresh tokens).
    pub async fn sign_in(&self, user: &str) -> Value {
        let r = self
            .public(
                "InitiateAuth",
                json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": self.out("UserPoolClientId"),
                       "AuthParameters": {"USERNAME": user, "PASSWORD": PASSWORD}}),
            )
            .await
            .unwrap_or_else(|r| panic!("InitiateAuth: {}", r.text()));
        r["AuthenticationResult"].clone()
    }

    /// The codes sent to a user through the outbox, oldest first.
    pub fn outbox_codes(&self, username: &str) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.out("OutboxDir"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| serde_json::from_slice::<Value>(&std::fs::read(f).ok()?).ok())
            .filter(|m| m["username"] == username)
            .filter_map(|m| m["code"].as_str().map(str::to_owned))
            .collect()
    }
}

/// One request being put together.
pub struct Call<'a> {
    app: &'a App,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl<'a> Call<'a> {
    fn new(app: &'a App, method: Method, url: &str) -> Call<'a> {
        Call {
            app,
            method,
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A `Cookie` header of these name/value pairs.
    pub fn cookies(self, jar: &BTreeMap<String, String>) -> Self {
        let line = cookie_line(jar);
        self.header("cookie", &line)
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes();
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    pub fn json(mut self, value: &Value) -> Self {
        self.body = value.to_string().into_bytes();
        self.header("content-type", "application/json")
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub async fn send(self) -> Reply {
        let (router, rest) = self
            .app
            .served
            .route(&self.url)
            .unwrap_or_else(|| panic!("no listener serves {}", self.url));
        let authority = self
            .url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next());
        let authority = authority
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default();
        let path = if rest.is_empty() || rest.starts_with('?') {
            format!("/{rest}")
        } else {
            rest.to_string()
        };
        let mut request = Request::builder().method(self.method).uri(path);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            request = request.header("host", authority);
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if !self.body.is_empty() {
            request = request.header("content-length", self.body.len().to_string());
        }
        let mut request = request
            .body(Body::from(self.body))
            .expect("a valid request");
        let peer: SocketAddr = "127.0.0.1:50000".parse().expect("address");
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body is read")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Status and body together, for one assertion.
    pub fn answer(&self) -> (u16, String) {
        (self.status.as_u16(), self.text())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location in a {} answer: {}", self.status, self.text()))
            .to_string()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The Set-Cookie line of the cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.split('=').next() == Some(name))
    }

    /// name -> value of the cookies this answer sets (cleared ones left out).
    pub fn jar(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for line in self.set_cookies() {
            let pair = line.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if line.contains("Max-Age=0") {
                out.remove(name);
            } else {
                out.insert(name.to_string(), value.to_string());
            }
        }
        out
    }

    /// The names of the cookies this answer clears.
    pub fn cleared(&self) -> BTreeSet<String> {
        self.set_cookies()
            .iter()
            .filter(|c| c.contains("Max-Age=0"))
            .filter_map(|c| c.split('=').next().map(str::to_owned))
            .collect()
    }
}

pub fn cookie_line(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A browser's cookie jar, per origin; it follows nothing by itself.
#[derive(Default)]
pub struct Browser {
    jars: BTreeMap<String, BTreeMap<String, String>>,
}

fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("an absolute URL");
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

impl Browser {
    pub async fn get(&mut self, app: &App, url: &str) -> Reply {
        self.send(app.get(url), url).await
    }

    pub async fn post_form(&mut self, app: &App, url: &str, pairs: &[(&str, &str)]) -> Reply {
        self.send(app.post(url).form(pairs), url).await
    }

    pub async fn send(&mut self, call: Call<'_>, url: &str) -> Reply {
        let jar = self.jars.entry(origin(url)).or_default();
        let call = if jar.is_empty() {
            call
        } else {
            call.cookies(jar)
        };
        let reply = call.send().await;
        for line in reply.set_cookies() {
            let pair = line.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if line.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_string(), value.to_string());
                }
            }
        }
        reply
    }

    pub fn cookies(&self, url: &str) -> BTreeMap<String, String> {
        self.jars.get(&origin(url)).cloned().unwrap_or_default()
    }
}

/// The value of the form field `name` in a page.
pub fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// The action of the page's (first) form.
pub fn action(html: &str) -> String {
    let form = html.find("<form").expect("a form on the page");
    let start = html[form..].find("action=\"").expect("a form action") + form + 8;
    let end = html[start..].find('"').expect("the action ends") + start;
    unescape(&html[start..end])
}

/// The first link whose target starts with `prefix`.
pub fn link(html: &str, prefix: &str) -> Option<String> {
    let marker = format!("href=\"{prefix}");
    let start = html.find(&marker)? + 6;
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The query parameters of a URL (or of its fragment), first value each.
pub fn query(url: &str) -> BTreeMap<String, String> {
    let part = url
        .split_once(['?', '#'])
        .map(|(_, q)| q)
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(part.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

pub fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The claims of a JWT, unchecked (the tests that check signatures use
/// real verifiers in tests/python).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A fresh name.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        uuid::Uuid::new_v4().simple().to_string().split_at(8).0
    )
}
