//! Each provider type's protocol: where the browser goes, how the code is
//! exchanged, where the person's attributes come from and which of them is
//! the subject.
//!
//! - `OIDC`: discovery from `oidc_issuer` (or explicit endpoints), code +
//!   PKCE + nonce, `client_secret_basic` when the provider supports it,
//!   else `client_secret_post`; the ID token is verified, then userinfo
//!   (`attributes_request_method` GET or POST) adds to its claims.
//! - `Google`: the same protocol on Google's endpoints.
//! - `Facebook`: plain OAuth 2.0; the token request is a GET; attributes
//!   come from the Graph API (`id` is the subject, `fields=` names what is
//!   read, values may be objects such as `picture.data.url`).
//! - `LoginWithAmazon`: OAuth 2.0; the profile's `user_id` is the subject.
//! - `SignInWithApple`: the answer is a form POST; the client secret is a
//!   JWT the pool signs (ES256) with the team's key; the name arrives once,
//!   as the `user` form field of the first sign-in.
//!
//! Every endpoint can be overridden in ProviderDetails (`authorize_url`,
//! `token_url`, `attributes_url`, `jwks_uri`, `oidc_issuer`), which is how
//! the tests point the social types at a local stand-in.

use aws_lc_rs::signature::{self, EcdsaKeyPair};
use cognate_store::providers::IdentityProvider;
use serde_json::{json, Map, Value};

use super::{json_body, Failure, Method, Outbound, Pending, ProviderIdentity};
use crate::authorize::s256;
use crate::jwt::{self, RsaAlg};
use crate::{crypto, Identity};

/// Seconds of clock difference allowed on an ID token's `exp` and `iat`.
const LEEWAY_S: i64 = 60;
const FACEBOOK_API: &str = "v17.0";
const APPLE_AUDIENCE: &str = "https://appleid.apple.com";

/// Where a provider's endpoints are.
struct Endpoints {
    authorize: String,
    token: String,
    userinfo: Option<String>,
    jwks: Option<String>,
    issuer: Option<String>,
    /// The OIDC provider accepts `client_secret_basic`.
    basic_auth: bool,
}

fn detail<'a>(p: &'a IdentityProvider, key: &str) -> Option<&'a str> {
    p.details
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn or_default(p: &IdentityProvider, key: &str, default: &str) -> String {
    detail(p, key).unwrap_or(default).to_string()
}

impl Identity {
    async fn endpoints(&self, p: &IdentityProvider, now_ms: i64) -> Result<Endpoints, Failure> {
        let fixed = |authorize: &str,
                     token: &str,
                     userinfo: Option<&str>,
                     jwks: Option<&str>,
                     issuer: Option<&str>| Endpoints {
            authorize: or_default(p, "authorize_url", authorize),
            token: or_default(p, "token_url", token),
            userinfo: detail(p, "attributes_url").or(userinfo).map(str::to_owned),
            jwks: detail(p, "jwks_uri").or(jwks).map(str::to_owned),
            issuer: detail(p, "oidc_issuer").or(issuer).map(str::to_owned),
            basic_auth: false,
        };
        Ok(match p.provider_type.as_str() {
            "Google" => fixed(
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://www.googleapis.com/oauth2/v4/token",
                Some("https://openidconnect.googleapis.com/v1/userinfo"),
                Some("https://www.googleapis.com/oauth2/v3/certs"),
                Some("https://accounts.google.com"),
            ),
            "Facebook" => {
                let v = or_default(p, "api_version", FACEBOOK_API);
                fixed(
                    &format!("https://www.facebook.com/{v}/dialog/oauth"),
                    &format!("https://graph.facebook.com/{v}/oauth/access_token"),
                    Some(&format!("https://graph.facebook.com/{v}/me?fields=")),
                    None,
                    None,
                )
            }
            "LoginWithAmazon" => fixed(
                "https://www.amazon.com/ap/oa",
                "https://api.amazon.com/auth/o2/token",
                Some("https://api.amazon.com/user/profile"),
                None,
                None,
            ),
            "SignInWithApple" => fixed(
                "https://appleid.apple.com/auth/authorize",
                "https://appleid.apple.com/auth/token",
                None,
                Some("https://appleid.apple.com/auth/keys"),
                Some("https://appleid.apple.com"),
            ),
            "OIDC" => self.oidc_endpoints(p, now_ms).await?,
            other => {
                return Err(Failure::new(
                    "invalid_request",
                    format!("Sign-in through a {other} provider is not supported."),
                ))
            }
        })
    }

    /// An OIDC provider's endpoints: those given in ProviderDetails, the
    /// rest from its discovery document (whose `issuer` must be the
    /// configured one).
    async fn oidc_endpoints(
        &self,
        p: &IdentityProvider,
        now_ms: i64,
    ) -> Result<Endpoints, Failure> {
        let issuer = detail(p, "oidc_issuer")
            .ok_or_else(|| Failure::provider(&p.name, "no oidc_issuer"))?
            .trim_end_matches('/')
            .to_string();
        let explicit = ["authorize_url", "token_url", "attributes_url", "jwks_uri"]
            .iter()
            .all(|k| detail(p, k).is_some());
        let discovered = if explicit {
            Value::Null
        } else {
            let url = format!("{issuer}/.well-known/openid-configuration");
            let doc = self.provider_document(&url, false, now_ms).await?;
            if doc["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(issuer.as_str()) {
                return Err(Failure::provider(
                    &p.name,
                    format!(
                        "the discovery document names another issuer: {}",
                        doc["issuer"]
                    ),
                ));
            }
            doc
        };
        let pick = |key: &str, doc_key: &str| -> Option<String> {
            detail(p, key)
                .map(str::to_owned)
                .or_else(|| discovered[doc_key].as_str().map(str::to_owned))
        };
        let required = |key: &str, doc_key: &str| {
            pick(key, doc_key).ok_or_else(|| Failure::provider(&p.name, format!("no {doc_key}")))
        };
        let methods = discovered["token_endpoint_auth_methods_supported"].as_array();
        let basic_auth = match methods {
            // OpenID Connect's default when the provider does not say.
            None => true,
            Some(m) => m.iter().any(|v| v == "client_secret_basic"),
        };
        Ok(Endpoints {
            authorize: required("authorize_url", "authorization_endpoint")?,
            token: required("token_url", "token_endpoint")?,
            userinfo: pick("attributes_url", "userinfo_endpoint"),
            jwks: Some(required("jwks_uri", "jwks_uri")?),
            issuer: Some(issuer),
            basic_auth,
        })
    }

    /// The URL the browser is sent to at the provider.
    pub(super) async fn authorization_url(
        &self,
        p: &IdentityProvider,
        pending: &Pending,
        state: &str,
        now_ms: i64,
    ) -> Result<String, Failure> {
        let e = self.endpoints(p, now_ms).await?;
        let client_id =
            detail(p, "client_id").ok_or_else(|| Failure::provider(&p.name, "no client_id"))?;
        let scopes = detail(p, "authorize_scopes").unwrap_or("");
        let mut url = url::Url::parse(&e.authorize)
            .map_err(|_| Failure::provider(&p.name, "authorize_url is not a URL"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", &pending.callback)
                .append_pair("state", state);
            if !scopes.is_empty() {
                q.append_pair("scope", scopes);
            }
            match p.provider_type.as_str() {
                "OIDC" | "Google" => {
                    q.append_pair("nonce", &pending.nonce)
                        .append_pair("code_challenge", &s256(&pending.verifier))
                        .append_pair("code_challenge_method", "S256");
                }
                "SignInWithApple" => {
                    q.append_pair("nonce", &pending.nonce)
                        .append_pair("response_mode", "form_post");
                }
                _ => {}
            }
        }
        Ok(url.into())
    }

    /// Exchanges the code and reads who signed in.
    pub(super) async fn provider_identity(
        &self,
        p: &IdentityProvider,
        pending: &Pending,
        code: &str,
        params: &[(String, String)],
        now_ms: i64,
    ) -> Result<ProviderIdentity, Failure> {
        let e = self.endpoints(p, now_ms).await?;
        let tokens = self.exchange_code(p, &e, pending, code, now_ms).await?;
        let access_token = tokens["access_token"].as_str().unwrap_or("").to_string();
        let mut claims = Map::new();
        let uses_id_token = matches!(
            p.provider_type.as_str(),
            "OIDC" | "Google" | "SignInWithApple"
        );
        if uses_id_token {
            match tokens["id_token"].as_str() {
                Some(t) => {
                    claims = self
                        .verify_id_token(p, &e, t, &pending.nonce, now_ms)
                        .await?;
                }
                None if p.provider_type != "OIDC" => {
                    return Err(Failure::provider(
                        &p.name,
                        "no id_token in the token response",
                    ))
                }
                None => {}
            }
        }
        if let Some(url) = &e.userinfo {
            if !access_token.is_empty() && p.provider_type != "SignInWithApple" {
                let info = self.provider_userinfo(p, url, &access_token).await?;
                if let (Some(a), Some(b)) = (claims.get("sub"), info.get("sub")) {
                    if a != b {
                        return Err(Failure::provider(
                            &p.name,
                            "the userinfo answer is about another subject",
                        ));
                    }
                }
                claims.extend(info);
            }
        }
        if p.provider_type == "SignInWithApple" {
            apple_user_claims(params, &mut claims);
        }
        let subject = subject_of(p, &claims)?;
        Ok(ProviderIdentity {
            subject,
            claims,
            session: None,
        })
    }

    async fn exchange_code(
        &self,
        p: &IdentityProvider,
        e: &Endpoints,
        pending: &Pending,
        code: &str,
        now_ms: i64,
    ) -> Result<Value, Failure> {
        let client_id = detail(p, "client_id").unwrap_or("").to_string();
        let mut form: Vec<(String, String)> = vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code.into()),
            ("redirect_uri".into(), pending.callback.clone()),
        ];
        let mut headers: Vec<(String, String)> = vec![("accept".into(), "application/json".into())];
        let secret = match p.provider_type.as_str() {
            "SignInWithApple" => Some(apple_client_secret(p, now_ms)?),
            _ => detail(p, "client_secret").map(str::to_owned),
        };
        if matches!(p.provider_type.as_str(), "OIDC" | "Google") {
            form.push(("code_verifier".into(), pending.verifier.clone()));
        }
        match (&secret, e.basic_auth) {
            (Some(s), true) => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic.
                let enc = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", enc(&client_id), enc(s));
                headers.push((
                    "authorization".into(),
                    format!("Basic {}", crypto::b64(pair.as_bytes())),
                ));
            }
            (Some(s), false) => {
                form.push(("client_id".into(), client_id.clone()));
                form.push(("client_secret".into(), s.clone()));
            }
            (None, _) => form.push(("client_id".into(), client_id.clone())),
        }
        let request = if p.provider_type == "Facebook" {
            // Facebook's token endpoint takes its parameters in the query.
            let mut url = url::Url::parse(&e.token)
                .map_err(|_| Failure::provider(&p.name, "token_url is not a URL"))?;
            url.query_pairs_mut()
                .extend_pairs(form.iter().filter(|(k, _)| k != "grant_type"));
            Outbound {
                method: Method::Get,
                url: url.into(),
                headers,
                form: None,
            }
        } else {
            Outbound {
                method: Method::Post,
                url: e.token.clone(),
                headers,
                form: Some(form),
            }
        };
        let answer = self.provider_call(request).await?;
        let tokens = json_body(&e.token, &answer)?;
        if tokens["access_token"].as_str().is_none() && tokens["id_token"].as_str().is_none() {
            return Err(Failure::provider(
                &p.name,
                "the token response has no token",
            ));
        }
        Ok(tokens)
    }

    async fn provider_userinfo(
        &self,
        p: &IdentityProvider,
        url: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let mut target = url.to_string();
        if p.provider_type == "Facebook" {
            // The Graph API returns only the fields it is asked for.
            let mut fields: Vec<&str> = vec!["id"];
            for v in p.attribute_mapping.values() {
                let top = v.split('.').next().unwrap_or(v);
                if !fields.contains(&top) {
                    fields.push(top);
                }
            }
            let mut u = url::Url::parse(url)
                .map_err(|_| Failure::provider(&p.name, "attributes_url is not a URL"))?;
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "fields")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("fields", &fields.join(","));
            target = u.into();
        }
        let post =
            p.provider_type == "OIDC" && detail(p, "attributes_request_method") == Some("POST");
        let answer = self
            .provider_call(Outbound {
                method: if post { Method::Post } else { Method::Get },
                url: target.clone(),
                headers: vec![
                    ("accept".into(), "application/json".into()),
                    ("authorization".into(), format!("Bearer {access_token}")),
                ],
                form: if post { Some(Vec::new()) } else { None },
            })
            .await?;
        match json_body(&target, &answer)? {
            Value::Object(m) => Ok(m),
            _ => unreachable!("json_body returns objects"),
        }
    }

    /// Verifies a provider's ID token: RSA signature by a key of its JWKS,
    /// issuer, audience (and `azp` with several), expiry, and our nonce.
    async fn verify_id_token(
        &self,
        p: &IdentityProvider,
        e: &Endpoints,
        token: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<Map<String, Value>, Failure> {
        let bad = |why: &str| Failure::provider(&p.name, format!("ID token refused: {why}"));
        let jwks_url = e.jwks.as_deref().ok_or_else(|| bad("no jwks_uri"))?;
        let parsed = jwt::parse_rsa(token, &[RsaAlg::Rs256, RsaAlg::Rs384, RsaAlg::Rs512])
            .map_err(|e| bad(&e.to_string()))?;
        let mut key = None;
        for fresh in [false, true] {
            let set = self.provider_document(jwks_url, fresh, now_ms).await?;
            key = find_rsa_key(&set, &parsed.kid);
            if key.is_some() {
                break;
            }
        }
        let (n, exp) = key.ok_or_else(|| bad("unknown kid"))?;
        let claims = parsed
            .verify_with(&n, &exp)
            .map_err(|e| bad(&e.to_string()))?;
        let client_id = detail(p, "client_id").unwrap_or("");
        if let Some(issuer) = &e.issuer {
            let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
            // Google writes its issuer with or without the scheme.
            let google_short = p.provider_type == "Google" && iss == "accounts.google.com";
            if iss.trim_end_matches('/') != issuer.trim_end_matches('/') && !google_short {
                return Err(bad("wrong issuer"));
            }
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences.contains(&client_id) {
            return Err(bad("wrong audience"));
        }
        if audiences.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(client_id) {
            return Err(bad("wrong azp"));
        }
        let now = now_ms / 1000;
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp + LEEWAY_S > now => {}
            _ => return Err(bad("expired")),
        }
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now + LEEWAY_S)
        {
            return Err(bad("issued in the future"));
        }
        let given = claims.get("nonce").and_then(Value::as_str);
        if !given.is_some_and(|g| crypto::equal(g.as_bytes(), nonce.as_bytes())) {
            return Err(bad("wrong nonce"));
        }
        Ok(claims)
    }
}

/// The modulus and exponent of the RSA signing key named `kid`.
fn find_rsa_key(set: &Value, kid: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    set["keys"].as_array()?.iter().find_map(|k| {
        let usable =
            k["kty"] == "RSA" && k["kid"] == kid && k.get("use").is_none_or(|u| u == "sig");
        if !usable {
            return None;
        }
        Some((
            crypto::b64url_decode(k["n"].as_str()?)?,
            crypto::b64url_decode(k["e"].as_str()?)?,
        ))
    })
}

/// The claim that names the person at a provider of type `kind` when the
/// mapping does not say (`username` is mapped to it by default).
pub(crate) fn default_subject_claim(kind: &str) -> &'static str {
    match kind {
        "Facebook" => "id",
        "LoginWithAmazon" => "user_id",
        "SAML" => "NameID",
        _ => "sub",
    }
}

/// The provider's identifier of the person: the claim `username` is
/// mapped to, else the type's own.
pub(crate) fn subject_of(
    p: &IdentityProvider,
    claims: &Map<String, Value>,
) -> Result<String, Failure> {
    let claim = p
        .attribute_mapping
        .get("username")
        .map(String::as_str)
        .unwrap_or(default_subject_claim(&p.provider_type));
    claims
        .get(claim)
        .map(claim_text)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failure::provider(&p.name, format!("the provider gave no {claim}")))
}

/// A claim as an attribute value: strings as they are, the rest as JSON.
pub(crate) fn claim_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Apple sends the name once, on the first sign-in, as the `user` form
/// field: `{"name":{"firstName":..,"lastName":..},"email":..}`.
fn apple_user_claims(params: &[(String, String)], claims: &mut Map<String, Value>) {
    let Some(user) = params
        .iter()
        .find(|(k, _)| k == "user")
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
    else {
        return;
    };
    let first = user["name"]["firstName"].as_str();
    let last = user["name"]["lastName"].as_str();
    if let Some(f) = first {
        claims.insert("firstName".into(), json!(f));
    }
    if let Some(l) = last {
        claims.insert("lastName".into(), json!(l));
    }
    let full: Vec<&str> = [first, last].into_iter().flatten().collect();
    if !full.is_empty() {
        claims.insert("name".into(), json!(full.join(" ")));
    }
}

/// Sign in with Apple's client secret: a JWT (ES256) signed with the
/// team's private key, naming the team (`iss`), the service (`sub`) and
/// Apple (`aud`), valid five minutes.
fn apple_client_secret(p: &IdentityProvider, now_ms: i64) -> Result<String, Failure> {
    let bad =
        |why: &str| Failure::provider(&p.name, format!("cannot sign the client secret: {why}"));
    let pem = detail(p, "private_key").ok_or_else(|| bad("no private_key"))?;
    let der = pem_body(pem).ok_or_else(|| bad("private_key is not a PEM key"))?;
    let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| bad("private_key is not a P-256 PKCS#8 key"))?;
    let header = json!({"alg": "ES256", "kid": detail(p, "key_id").unwrap_or("")});
    let now = now_ms / 1000;
    let claims = json!({
        "iss": detail(p, "team_id").unwrap_or(""),
        "iat": now,
        "exp": now + 300,
        "aud": APPLE_AUDIENCE,
        "sub": detail(p, "client_id").unwrap_or(""),
    });
    let signed = format!(
        "{}.{}",
        crypto::b64url(header.to_string().as_bytes()),
        crypto::b64url(claims.to_string().as_bytes())
    );
    let sig = key
        .sign(&aws_lc_rs::rand::SystemRandom::new(), signed.as_bytes())
        .map_err(|_| bad("signing failed"))?;
    Ok(format!("{signed}.{}", crypto::b64url(sig.as_ref())))
}

/// The DER inside a PEM block: what lies between its BEGIN and END lines
/// (which may arrive on one line, or with `\n` written out).
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let text = pem.replace("\\n", "\n");
    let start = text.find("-----BEGIN")?;
    let after_begin = start + text[start + 5..].find("-----")? + 10;
    let end = after_begin + text[after_begin..].find("-----END")?;
    let body: String = text[after_begin..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    crypto::b64_decode(&body)
}
