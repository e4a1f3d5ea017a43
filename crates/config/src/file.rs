//! The file as written: serde structs with `deny_unknown_fields`, and the
//! validation that turns them into the model, collecting every problem.

use serde::Deserialize;

use crate::model::{self, *};
use crate::rules;
use crate::{Collector, Config, Problems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    version: i64,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    server: ServerFile,
    admin: Option<AdminFile>,
    #[serde(default)]
    messages: MessagesFile,
    #[serde(default)]
    pub(crate) user_pools: Vec<PoolFile>,
    #[serde(default)]
    pub(crate) functions: Vec<crate::api::FunctionFile>,
    #[serde(default)]
    pub(crate) http_apis: Vec<crate::api::HttpApiFile>,
    #[serde(default)]
    pub(crate) websocket_apis: Vec<crate::websocket::WebSocketApiFile>,
}

fn default_region() -> String {
    "us-east-1".to_string()
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    public_url: Option<String>,
    tls: Option<TlsFile>,
    metrics_listen: Option<String>,
    max_connections_per_ip: Option<u32>,
    max_pending_connections_per_ip: Option<u32>,
    body_timeout_seconds: Option<u64>,
    redis_url: Option<String>,
    secret_key_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<String>,
    key_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    access_key_id: String,
    secret_access_key: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MessagesFile {
    outbox_dir: Option<String>,
    smtp: Option<SmtpFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    host: String,
    #[serde(default = "default_smtp_port")]
    port: u16,
    username: Option<String>,
    password: Option<String>,
    from: String,
    #[serde(default = "default_smtp_tls")]
    tls: SmtpTls,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolFile {
    pub(crate) name: String,
    display_name: Option<String>,
    output: Option<String>,
    #[serde(default = "default_issuer")]
    issuer: IssuerStyle,
    #[serde(default)]
    password_policy: Option<PasswordPolicyFile>,
    #[serde(default)]
    username_attributes: Vec<String>,
    #[serde(default)]
    alias_attributes: Vec<String>,
    #[serde(default)]
    auto_verified_attributes: Vec<String>,
    #[serde(default)]
    allow_admin_create_user_only: bool,
    #[serde(default = "yes")]
    username_case_sensitive: bool,
    #[serde(default)]
    custom_attributes: Vec<CustomAttribute>,
    #[serde(default)]
    required_attributes: Vec<String>,
    #[serde(default)]
    mfa: MfaConfiguration,
    #[serde(default)]
    deletion_protection: bool,
    domain: Option<DomainFile>,
    #[serde(default)]
    resource_servers: Vec<ResourceServer>,
    #[serde(default)]
    clients: Vec<ClientFile>,
    #[serde(default)]
    groups: Vec<DeclaredGroup>,
    #[serde(default)]
    users: Vec<DeclaredUser>,
    #[serde(default)]
    identity_providers: Vec<DeclaredProvider>,
    #[serde(default)]
    triggers: TriggersFile,
    #[serde(default)]
    attributes_require_verification_before_update: Vec<String>,
}

/// A pool's Lambda triggers: names of functions of the file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TriggersFile {
    pre_sign_up: Option<String>,
    custom_message: Option<String>,
    post_confirmation: Option<String>,
    pre_authentication: Option<String>,
    post_authentication: Option<String>,
    define_auth_challenge: Option<String>,
    create_auth_challenge: Option<String>,
    verify_auth_challenge_response: Option<String>,
    user_migration: Option<String>,
    pre_token_generation: Option<PreTokenFile>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PreTokenFile {
    Function(String),
    Versioned { function: String, version: String },
}

fn default_issuer() -> IssuerStyle {
    IssuerStyle::Cognate
}
fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordPolicyFile {
    minimum_length: Option<u32>,
    require_uppercase: Option<bool>,
    require_lowercase: Option<bool>,
    require_numbers: Option<bool>,
    require_symbols: Option<bool>,
    temporary_password_validity_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainFile {
    prefix: String,
    listen: Option<String>,
    #[serde(default)]
    custom_domains: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    name: String,
    output: Option<String>,
    #[serde(default)]
    generate_secret: bool,
    explicit_auth_flows: Option<Vec<String>>,
    #[serde(default)]
    allowed_oauth_flows: Vec<String>,
    #[serde(default)]
    allowed_oauth_scopes: Vec<String>,
    #[serde(default)]
    callback_urls: Vec<String>,
    #[serde(default)]
    logout_urls: Vec<String>,
    default_redirect_uri: Option<String>,
    supported_identity_providers: Option<Vec<String>>,
    read_attributes: Option<Vec<String>>,
    write_attributes: Option<Vec<String>>,
    access_token_validity: Option<String>,
    id_token_validity: Option<String>,
    refresh_token_validity: Option<String>,
    prevent_user_existence_errors: Option<PreventUserExistenceErrors>,
    enable_token_revocation: Option<bool>,
    refresh_token_rotation: Option<RefreshTokenRotation>,
    auth_session_validity_minutes: Option<u32>,
}

/// A pool's triggers -> Cognito's LambdaConfig, each function checked.
fn triggers(
    c: &mut Collector,
    at: &str,
    t: TriggersFile,
    region: &str,
    functions: &[String],
) -> LambdaConfig {
    let mut arn = |name: &str, function: Option<String>| {
        let f = function?;
        if !functions.contains(&f) {
            c.at(
                format!("{at}.triggers.{name}"),
                format!("'{f}' is not a function of this file"),
            );
        }
        Some(model::function_arn(region, &f))
    };
    let mut out = LambdaConfig {
        pre_sign_up: arn("pre_sign_up", t.pre_sign_up),
        custom_message: arn("custom_message", t.custom_message),
        post_confirmation: arn("post_confirmation", t.post_confirmation),
        pre_authentication: arn("pre_authentication", t.pre_authentication),
        post_authentication: arn("post_authentication", t.post_authentication),
        define_auth_challenge: arn("define_auth_challenge", t.define_auth_challenge),
        create_auth_challenge: arn("create_auth_challenge", t.create_auth_challenge),
        verify_auth_challenge_response: arn(
            "verify_auth_challenge_response",
            t.verify_auth_challenge_response,
        ),
        user_migration: arn("user_migration", t.user_migration),
        ..LambdaConfig::default()
    };
    let (function, version) = match t.pre_token_generation {
        None => return out,
        Some(PreTokenFile::Function(f)) => (f, "V1_0".to_string()),
        Some(PreTokenFile::Versioned { function, version }) => (function, version),
    };
    let a = arn("pre_token_generation", Some(function));
    if !matches!(version.as_str(), "V1_0" | "V2_0" | "V3_0") {
        c.at(
            format!("{at}.triggers.pre_token_generation.version"),
            "must be V1_0, V2_0 or V3_0",
        );
    }
    out.pre_token_generation = a.clone();
    out.pre_token_generation_config = a.map(|lambda_arn| PreTokenGenerationConfig {
        lambda_arn,
        lambda_version: version,
    });
    out
}

pub(crate) fn validate(file: File) -> Result<Config, Problems> {
    let mut c = Collector(Vec::new());
    let standins = crate::placeholder_standins(&file);
    if file.version != 1 {
        c.at(
            "version",
            format!(
                "unsupported version {}; this cognate reads version 1",
                file.version
            ),
        );
    }
    if !rules::is_region(&file.region) {
        c.at(
            "region",
            format!(
                "'{}' is not an AWS region name such as us-east-1",
                file.region
            ),
        );
    }
    if let Some(u) = &file.server.public_url {
        match url::Url::parse(u) {
            Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
            _ => c.at("server.public_url", "must be an absolute http(s) URL"),
        }
    }
    let limits = connection_limits(&mut c, &file.server);
    let redis_url = file.server.redis_url.clone();
    if let Some(u) = &redis_url {
        match url::Url::parse(u) {
            Ok(p) if p.scheme() == "redis" && p.host_str().is_some() => {}
            _ => c.at(
                "server.redis_url",
                "must be a redis://host[:port][/db] URL (TLS to Redis is not supported)",
            ),
        }
    }
    let tls = match file.server.tls {
        None => None,
        Some(TlsFile {
            cert_file: None,
            key_file: None,
        }) => Some(Tls::Development),
        Some(TlsFile {
            cert_file: Some(cert_file),
            key_file: Some(key_file),
        }) => Some(Tls::Files {
            cert_file,
            key_file,
        }),
        Some(_) => {
            c.at(
                "server.tls",
                "give both cert_file and key_file, or neither for a development certificate",
            );
            None
        }
    };
    let admin = file.admin.map(|a| {
        let ok = (16..=128).contains(&a.access_key_id.len())
            && a.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            c.at(
                "admin.access_key_id",
                "must be 16 to 128 letters and digits",
            );
        }
        if a.secret_access_key.len() < 16 {
            c.at("admin.secret_access_key", "must be at least 16 characters");
        }
        AdminCredentials {
            access_key_id: a.access_key_id,
            secret_access_key: a.secret_access_key,
        }
    });
    let smtp = file.messages.smtp.map(|s| {
        if s.host.is_empty() {
            c.at("messages.smtp.host", "must not be empty");
        }
        if !s.from.contains('@') {
            c.at("messages.smtp.from", "must be an email address");
        }
        model::Smtp {
            host: s.host,
            port: s.port,
            username: s.username,
            password: s.password,
            from: s.from,
            tls: s.tls,
        }
    });

    let function_names: Vec<String> = file.functions.iter().map(|f| f.name.clone()).collect();
    let mut pools = Vec::new();
    let mut outputs: Vec<(String, String)> = Vec::new();
    for (pi, p) in file.user_pools.into_iter().enumerate() {
        let at = format!("user_pools[{pi}]");
        if p.name.is_empty() || p.name.len() > 128 {
            c.at(format!("{at}.name"), "must be 1 to 128 characters");
        }
        if pools.iter().any(|q: &UserPool| q.name == p.name) {
            c.at(
                format!("{at}.name"),
                format!("another pool is already named '{}'", p.name),
            );
        }
        if let Some(o) = &p.output {
            outputs.push((format!("{at}.output"), format!("{o}Id")));
        }
        let defaults = PasswordPolicy::default();
        let pp = p
            .password_policy
            .map_or(defaults.clone(), |f| PasswordPolicy {
                minimum_length: f.minimum_length.unwrap_or(defaults.minimum_length),
                require_uppercase: f.require_uppercase.unwrap_or(defaults.require_uppercase),
                require_lowercase: f.require_lowercase.unwrap_or(defaults.require_lowercase),
                require_numbers: f.require_numbers.unwrap_or(defaults.require_numbers),
                require_symbols: f.require_symbols.unwrap_or(defaults.require_symbols),
                temporary_password_validity_days: f
                    .temporary_password_validity_days
                    .unwrap_or(defaults.temporary_password_validity_days),
            });
        let settings = PoolSettings {
            issuer: p.issuer,
            password_policy: pp,
            username_attributes: p.username_attributes,
            alias_attributes: p.alias_attributes,
            auto_verified_attributes: p.auto_verified_attributes,
            allow_admin_create_user_only: p.allow_admin_create_user_only,
            username_case_sensitive: p.username_case_sensitive,
            custom_attributes: p.custom_attributes,
            required_attributes: p.required_attributes,
            mfa: p.mfa,
            deletion_protection: p.deletion_protection,
            lambda_config: triggers(&mut c, &at, p.triggers, &file.region, &function_names),
            attributes_require_verification_before_update: p
                .attributes_require_verification_before_update,
        };
        c.violations(&at, rules::check_pool(&settings));

        let mut custom_scopes = Vec::new();
        for (ri, rs) in p.resource_servers.iter().enumerate() {
            let rat = format!("{at}.resource_servers[{ri}]");
            if rs.identifier.is_empty() || rs.identifier.len() > 256 {
                c.at(format!("{rat}.identifier"), "must be 1 to 256 characters");
            }
            for (si, s) in rs.scopes.iter().enumerate() {
                if s.name.is_empty() || s.name.contains('/') || s.name.contains(' ') {
                    c.at(
                        format!("{rat}.scopes[{si}].name"),
                        "must be non-empty, without '/' or spaces",
                    );
                }
                custom_scopes.push(format!("{}/{}", rs.identifier, s.name));
            }
        }

        let domain = p.domain.map(|d| {
            let ok = !d.prefix.is_empty()
                && d.prefix.len() <= 63
                && d.prefix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !d.prefix.starts_with('-')
                && !d.prefix.ends_with('-');
            if !ok {
                c.at(
                    format!("{at}.domain.prefix"),
                    "must be lowercase letters, digits and inner hyphens, 1-63 long",
                );
            }
            for (i, host) in d.custom_domains.iter().enumerate() {
                let ok = !host.is_empty()
                    && host.len() <= 253
                    && host.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                            && !l.starts_with('-')
                            && !l.ends_with('-')
                    });
                if !ok {
                    c.at(
                        format!("{at}.domain.custom_domains[{i}]"),
                        format!("'{host}' is not a host name"),
                    );
                }
            }
            Domain {
                prefix: d.prefix,
                listen: listen(&mut c, &format!("{at}.domain.listen"), d.listen),
                custom_domains: d
                    .custom_domains
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            }
        });

        let mut clients: Vec<AppClient> = Vec::new();
        for (ci, cf) in p.clients.into_iter().enumerate() {
            let cat = format!("{at}.clients[{ci}]");
            if clients.iter().any(|k| k.name == cf.name) {
                c.at(
                    format!("{cat}.name"),
                    format!("another client of this pool is named '{}'", cf.name),
                );
            }
            if let Some(o) = &cf.output {
                outputs.push((format!("{cat}.output"), format!("{o}Id")));
            }
            for (ii, name) in cf.supported_identity_providers.iter().flatten().enumerate() {
                if name != "COGNITO" && !p.identity_providers.iter().any(|ip| &ip.name == name) {
                    c.at(
                        format!("{cat}.supported_identity_providers[{ii}]"),
                        format!(
                            "'{name}' is neither COGNITO nor an identity provider of this pool"
                        ),
                    );
                }
            }
            let client = client(&mut c, &cat, cf, &custom_scopes, &standins);
            clients.push(client);
        }
        for (gi, g) in p.groups.iter().enumerate() {
            let gat = format!("{at}.groups[{gi}]");
            if g.name.is_empty() || g.name.len() > 128 {
                c.at(format!("{gat}.name"), "must be 1 to 128 characters");
            }
            if p.groups[..gi].iter().any(|o| o.name == g.name) {
                c.at(
                    format!("{gat}.name"),
                    format!("another group is named '{}'", g.name),
                );
            }
            if g.precedence.is_some_and(|x| x < 0) {
                c.at(format!("{gat}.precedence"), "must be 0 or more");
            }
        }
        for (pi2, ip) in p.identity_providers.iter().enumerate() {
            let iat = format!("{at}.identity_providers[{pi2}]");
            if p.identity_providers[..pi2]
                .iter()
                .any(|o| o.name == ip.name)
            {
                c.at(
                    format!("{iat}.name"),
                    format!("another identity provider is named '{}'", ip.name),
                );
            }
            if !matches!(
                ip.provider_type.as_str(),
                "OIDC" | "SAML" | "Google" | "Facebook" | "SignInWithApple" | "LoginWithAmazon"
            ) {
                c.at(
                    format!("{iat}.type"),
                    "must be OIDC, SAML, Google, Facebook, SignInWithApple or LoginWithAmazon",
                );
            }
        }
        for (ui, u) in p.users.iter().enumerate() {
            let uat = format!("{at}.users[{ui}]");
            if u.username.is_empty() || u.username.len() > 128 {
                c.at(format!("{uat}.username"), "must be 1 to 128 characters");
            }
            if p.users[..ui].iter().any(|o| o.username == u.username) {
                c.at(
                    format!("{uat}.username"),
                    format!("another user is named '{}'", u.username),
                );
            }
            for g in &u.groups {
                if !p.groups.iter().any(|d| &d.name == g) {
                    c.at(
                        format!("{uat}.groups"),
                        format!("'{g}' is not a group of this pool"),
                    );
                }
            }
        }
        pools.push(UserPool {
            name: p.name,
            display_name: p.display_name,
            output: p.output,
            settings,
            domain,
            resource_servers: p.resource_servers,
            clients,
            groups: p.groups,
            users: p.users,
            identity_providers: p.identity_providers,
        });
    }
    let mut hosts: Vec<&str> = Vec::new();
    for (pi, p) in pools.iter().enumerate() {
        for (hi, h) in p
            .domain
            .iter()
            .flat_map(|d| d.custom_domains.iter())
            .enumerate()
        {
            if hosts.contains(&h.as_str()) {
                c.at(
                    format!("user_pools[{pi}].domain.custom_domains[{hi}]"),
                    format!("{h} is already used by another pool"),
                );
            }
            hosts.push(h);
        }
    }
    let metrics = file
        .server
        .metrics_listen
        .clone()
        .map(|m| listen(&mut c, "server.metrics_listen", Some(m)));
    let functions = crate::api::functions(&mut c, file.functions);
    let http_apis = crate::api::http_apis(&mut c, file.http_apis, &pools, &functions, listen);
    let websocket_apis = crate::websocket::websocket_apis(
        &mut c,
        file.websocket_apis,
        &http_apis,
        &functions,
        listen,
    );
    for (i, (loc, key)) in outputs.iter().enumerate() {
        if outputs[..i].iter().any(|(_, k)| k == key) {
            c.at(
                loc.clone(),
                format!("output {key} is already produced by another pool or client"),
            );
        }
    }

    if c.0.is_empty() {
        Ok(Config {
            region: file.region,
            server: Server {
                public_url: file.server.public_url,
                tls,
                metrics,
                limits,
                redis_url,
                secret_key_file: file.server.secret_key_file,
            },
            admin,
            messages: Messages {
                outbox_dir: file.messages.outbox_dir,
                smtp,
            },
            user_pools: pools,
            functions,
            http_apis,
            websocket_apis,
        })
    } else {
        Err(Problems(c.0))
    }
}

/// `[server]`'s connection limits; each must be at least 1.
fn connection_limits(c: &mut Collector, server: &ServerFile) -> ConnectionLimits {
    let d = ConnectionLimits::default();
    let mut positive = |key: &str, v: Option<u64>, default: u64| match v {
        Some(0) => {
            c.at(format!("server.{key}"), "must be at least 1".to_string());
            default
        }
        Some(n) => n,
        None => default,
    };
    let open = positive(
        "max_connections_per_ip",
        server.max_connections_per_ip.map(u64::from),
        d.max_connections_per_ip.into(),
    );
    let pending = positive(
        "max_pending_connections_per_ip",
        server.max_pending_connections_per_ip.map(u64::from),
        d.max_pending_connections_per_ip.into(),
    );
    let body = positive(
        "body_timeout_seconds",
        server.body_timeout_seconds,
        d.body_timeout.as_secs(),
    );
    ConnectionLimits {
        max_connections_per_ip: u32::try_from(open).unwrap_or(u32::MAX),
        max_pending_connections_per_ip: u32::try_from(pending).unwrap_or(u32::MAX),
        body_timeout: std::time::Duration::from_secs(body),
    }
}

fn listen(c: &mut Collector, at: &str, raw: Option<String>) -> Listen {
    match raw.as_deref() {
        None | Some("auto") => Listen::Auto,
        Some(s) => match s.parse() {
            Ok(addr) => Listen::Addr(addr),
            Err(_) => {
                c.at(
                    at,
                    format!("'{s}' is not an address such as 127.0.0.1:4002 (or \"auto\")"),
                );
                Listen::Auto
            }
        },
    }
}

fn client(
    c: &mut Collector,
    at: &str,
    f: ClientFile,
    custom_scopes: &[String],
    standins: &std::collections::HashMap<String, String>,
) -> AppClient {
    let defaults = ClientSettings::default();
    let mut flows = Vec::new();
    match f.explicit_auth_flows {
        None => flows = defaults.explicit_auth_flows.clone(),
        Some(list) => {
            for (i, v) in list.iter().enumerate() {
                match AuthFlow::parse(v) {
                    Some(flow) if !flows.contains(&flow) => flows.push(flow),
                    Some(_) => {}
                    None => c.at(
                        format!("{at}.explicit_auth_flows[{i}]"),
                        format!("unknown auth flow '{v}'"),
                    ),
                }
            }
        }
    }
    let mut oauth = Vec::new();
    for (i, v) in f.allowed_oauth_flows.iter().enumerate() {
        match OAuthFlow::parse(v) {
            Some(flow) => oauth.push(flow),
            None => c.at(
                format!("{at}.allowed_oauth_flows[{i}]"),
                format!("unknown OAuth flow '{v}' (code, implicit, client_credentials)"),
            ),
        }
    }
    let mut validity = |name: &str, raw: Option<String>, default: Validity| match raw {
        None => default,
        Some(r) => rules::parse_validity(&r).unwrap_or_else(|e| {
            c.at(format!("{at}.{name}"), e);
            default
        }),
    };
    let access = validity(
        "access_token_validity",
        f.access_token_validity,
        defaults.access_token_validity,
    );
    let id = validity(
        "id_token_validity",
        f.id_token_validity,
        defaults.id_token_validity,
    );
    let refresh = validity(
        "refresh_token_validity",
        f.refresh_token_validity,
        defaults.refresh_token_validity,
    );
    let uses_oauth = !oauth.is_empty();
    let settings = ClientSettings {
        explicit_auth_flows: flows,
        allowed_oauth_flows_user_pool_client: uses_oauth,
        allowed_oauth_flows: oauth,
        allowed_oauth_scopes: f.allowed_oauth_scopes,
        callback_urls: f.callback_urls,
        logout_urls: f.logout_urls,
        default_redirect_uri: f.default_redirect_uri,
        supported_identity_providers: match f.supported_identity_providers {
            Some(list) => list,
            None if uses_oauth => vec!["COGNITO".into()],
            None => Vec::new(),
        },
        read_attributes: f.read_attributes,
        write_attributes: f.write_attributes,
        access_token_validity: access,
        id_token_validity: id,
        refresh_token_validity: refresh,
        prevent_user_existence_errors: f
            .prevent_user_existence_errors
            .unwrap_or(PreventUserExistenceErrors::Enabled),
        enable_token_revocation: f.enable_token_revocation.unwrap_or(true),
        refresh_token_rotation: f.refresh_token_rotation,
        auth_session_validity_minutes: f.auth_session_validity_minutes.unwrap_or(3),
    };
    // URLs are checked with their placeholders filled by stand-ins.
    let mut checked = settings.clone();
    for url in checked
        .callback_urls
        .iter_mut()
        .chain(checked.logout_urls.iter_mut())
    {
        if url.contains("${") {
            let resolved = crate::substitute(url, standins);
            if resolved.contains("${") {
                c.at(
                    format!("{at}.callback_urls"),
                    format!("'{url}' uses an unknown placeholder"),
                );
            }
            *url = resolved;
        }
    }
    if let Some(d) = &mut checked.default_redirect_uri {
        *d = crate::substitute(d, standins);
    }
    c.violations(
        at,
        rules::check_client(&checked, f.generate_secret, custom_scopes),
    );
    AppClient {
        name: f.name,
        output: f.output,
        generate_secret: f.generate_secret,
        settings,
    }
}
