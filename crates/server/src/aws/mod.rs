//! AWS addresses reach cognate: an HTTPS listener that answers for the
//! AWS host names of the stacks' resources (`cognito-idp.{region}.amazonaws.com`,
//! `{apiId}.execute-api.{region}.amazonaws.com`,
//! `{prefix}.auth.{region}.amazoncognito.com`) with a development
//! certificate carrying those names, and the environment that sends the
//! functions' connections to those names there (a preload for Node.js, a
//! `sitecustomize` for Python) and trusts its CA. Unchanged function code
//! (aws-jwt-verify's CognitoJwtVerifier, axios/fetch/requests to a pool
//! domain, the AWS SDKs with their default endpoints) then reaches cognate
//! without root, /etc/hosts or a change to the code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

const NODE_PRELOAD: &str = include_str!("preload.cjs");
const PYTHON_SITECUSTOMIZE: &str = include_str!("sitecustomize.py");

/// The AWS listener, bound, and what functions need to use it.
pub struct AwsEndpoint {
    /// Taken when serving starts.
    pub listener: Option<TcpListener>,
    pub tls: Arc<rustls::ServerConfig>,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The CA that signed its certificate (PEM).
    pub ca_file: String,
    /// Environment for every function.
    pub function_env: BTreeMap<String, String>,
}

/// The host names (and parents of host names) the listener answers for.
pub fn host_suffixes(region: &str) -> Vec<String> {
    vec![
        format!("cognito-idp.{region}.amazonaws.com"),
        format!("execute-api.{region}.amazonaws.com"),
        format!("auth.{region}.amazoncognito.com"),
    ]
}

/// Binds the listener on `ip` (a free port), makes or reads its
/// certificate and writes the function runtimes' files under
/// `data_dir/aws/`.
pub async fn prepare(
    data_dir: &Path,
    ip: std::net::IpAddr,
    region: &str,
    admin: &cognate_config::AdminCredentials,
) -> Result<AwsEndpoint, String> {
    let dir = data_dir.join("aws").join(region);
    let names: Vec<String> = host_suffixes(region)
        .into_iter()
        .flat_map(|s| {
            let wildcard = format!("*.{s}");
            if s.starts_with("cognito-idp.") {
                vec![s]
            } else {
                vec![wildcard]
            }
        })
        .collect();
    let (cert, key) = crate::tls::development_certificate(&dir.join("tls"), names)?;
    let tls = crate::tls::from_pem(&cert, &key)?;
    let ca_file = dir.join("tls").join("ca.pem");
    // Python reads one trust file: the system's CAs plus ours.
    let mut bundle =
        std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    bundle.push_str(
        &std::fs::read_to_string(&ca_file)
            .map_err(|e| format!("cannot read {}: {e}", ca_file.display()))?,
    );
    let write = |name: &str, text: &str| -> Result<String, String> {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        crate::binding::write_atomically(&p, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p.canonicalize().unwrap_or(p).display().to_string())
    };
    let bundle_file = write("ca-bundle.pem", &bundle)?;
    let preload = write("node/preload.cjs", NODE_PRELOAD)?;
    write("python/sitecustomize.py", PYTHON_SITECUSTOMIZE)?;
    let python_dir = dir
        .join("python")
        .canonicalize()
        .map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| format!("cannot listen on {ip}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let endpoint = format!("{}:{}", addr.ip(), addr.port());
    let ca = ca_file
        .canonicalize()
        .unwrap_or(ca_file)
        .display()
        .to_string();
    let function_env = BTreeMap::from([
        ("COGNATE_AWS_ENDPOINT".to_string(), endpoint.clone()),
        (
            "COGNATE_AWS_HOSTS".to_string(),
            host_suffixes(region).join(","),
        ),
        ("NODE_OPTIONS".to_string(), format!("--require {preload}")),
        ("NODE_EXTRA_CA_CERTS".to_string(), ca.clone()),
        ("PYTHONPATH".to_string(), python_dir.display().to_string()),
        ("SSL_CERT_FILE".to_string(), bundle_file.clone()),
        ("REQUESTS_CA_BUNDLE".to_string(), bundle_file.clone()),
        ("AWS_CA_BUNDLE".to_string(), bundle_file),
        // The SDKs sign with the admin credentials, as a function's role
        // credentials would be used on AWS.
        ("AWS_ACCESS_KEY_ID".to_string(), admin.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            admin.secret_access_key.clone(),
        ),
    ]);
    Ok(AwsEndpoint {
        listener: Some(listener),
        tls,
        url: format!("https://{endpoint}"),
        ca_file: ca,
        function_env,
    })
}

/// AWS host name -> router, for the custom-domain dispatch of every
/// listener: each HTTP API and WebSocket API at
/// `{apiId}.execute-api.{region}.amazonaws.com` (stages by path, as on
/// its own listener; `@connections` for WebSocket APIs), each pool domain
/// at `{prefix}.auth.{region}.amazoncognito.com`. `cognito-idp.{region}.amazonaws.com`
/// needs none: the main router serves it.
pub fn hosts(
    config: &cognate_config::Config,
    applied: &cognate_identity::bootstrap::Applied,
    apis: &crate::gateway::Apis,
    ws_apis: &crate::gateway::WsApis,
    state: &crate::app::AppState,
) -> Vec<(String, axum::Router)> {
    let region = &config.region;
    let mut out = Vec::new();
    for (name, api) in apis {
        out.push((
            format!(
                "{}.execute-api.{region}.amazonaws.com",
                cognate_gateway::api_id(name)
            ),
            crate::gateway::api_app(api.clone()),
        ));
    }
    for (name, api) in ws_apis {
        out.push((
            format!(
                "{}.execute-api.{region}.amazonaws.com",
                cognate_gateway::api_id(&format!("websocket.{name}"))
            ),
            crate::gateway::ws_app(api.clone()),
        ));
    }
    for pool in &config.user_pools {
        if let (Some(d), Some(id)) = (&pool.domain, applied.pool_ids.get(&pool.name)) {
            out.push((
                format!("{}.auth.{region}.amazoncognito.com", d.prefix),
                crate::oauth::domain_app(state.clone(), id.clone(), true),
            ));
        }
    }
    out
}
