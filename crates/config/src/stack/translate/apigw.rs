//! API Gateway v2 resources: APIs, stages, integrations, authorizers,
//! routes, route responses, API mappings.

use serde_json::{json, Map, Value};

use super::{as_bool, placeholder_name, throttle, Props, Stackt};
use crate::stack::template::scalar_string;

impl Stackt<'_> {
    /// Puts an integration or authorizer into its API's map, by logical id.
    fn api_member(&mut self, i: usize, ws: bool, key: &str, logical: &str, v: Map<String, Value>) {
        self.api_json(i, ws)
            .get_mut(key)
            .and_then(Value::as_object_mut)
            .expect("APIs have their maps")
            .insert(logical.to_string(), Value::Object(v));
    }

    pub(super) fn http_api(
        &mut self,
        logical: &str,
        p: &mut Props,
    ) -> Result<Option<String>, String> {
        let name = self.name(logical);
        let protocol = p.string("ProtocolType").ok_or("ProtocolType is required")?;
        let ws = match protocol.as_str() {
            "HTTP" => false,
            "WEBSOCKET" => true,
            other => return Err(format!("ProtocolType {other} is not HTTP or WEBSOCKET")),
        };
        let mut api = Map::new();
        api.insert("name".into(), json!(name));
        api.insert("routes".into(), json!([]));
        api.insert("integrations".into(), json!({}));
        api.insert("authorizers".into(), json!({}));
        api.insert("stages".into(), json!([]));
        if ws {
            if let Some(e) = p.string("RouteSelectionExpression") {
                api.insert("route_selection_expression".into(), json!(e));
            }
        } else if let Some(c) = p.take("CorsConfiguration") {
            let mut cors = Map::new();
            for (k, key) in [
                ("AllowOrigins", "allow_origins"),
                ("AllowMethods", "allow_methods"),
                ("AllowHeaders", "allow_headers"),
                ("ExposeHeaders", "expose_headers"),
            ] {
                if let Some(v) = c.get(k).and_then(Value::as_array) {
                    cors.insert(key.into(), json!(v));
                }
            }
            if let Some(m) = c.get("MaxAge").and_then(Value::as_u64) {
                cors.insert("max_age".into(), json!(m));
            }
            if let Some(b) = c.get("AllowCredentials").and_then(as_bool) {
                cors.insert("allow_credentials".into(), json!(b));
            }
            api.insert("cors".into(), Value::Object(cors));
        }
        // Quick create: Target (+ RouteKey) makes an integration, a route
        // and the $default stage.
        if let Some(target) = p.string("Target") {
            let route_key = p.string("RouteKey").unwrap_or_else(|| "$default".into());
            let integration = if target.starts_with("http") {
                json!({"type": "http", "url": target})
            } else {
                json!({"type": "lambda", "function": self.function_of(&target)?, "payload_format_version": "2.0"})
            };
            api.insert("integrations".into(), json!({ "quick": integration }));
            api.insert(
                "routes".into(),
                json!([{ "route": route_key, "integration": "quick" }]),
            );
        }
        for k in ["Body", "BodyS3Location", "BasePath", "CredentialsArn"] {
            if p.take(k).is_some() {
                return Err(format!(
                    "property {k} is not supported (routes must be resources of the template)"
                ));
            }
        }
        p.no_effect(&[
            "Name",
            "Description",
            "Tags",
            "Version",
            "DisableExecuteApiEndpoint",
            "DisableSchemaValidation",
            "FailOnWarnings",
            "ApiKeySelectionExpression",
            "IpAddressType",
        ]);
        let list = if ws {
            &mut self.b.websocket_apis
        } else {
            &mut self.b.http_apis
        };
        self.apis.insert(logical.to_string(), (list.len(), ws));
        list.push(Value::Object(api));
        Ok(Some(if ws {
            format!("${{websocket.{name}}}")
        } else {
            format!("${{api.{name}}}")
        }))
    }

    pub(super) fn stage(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let (api_logical, i, ws) = self.api(p)?;
        let stage = p.string("StageName").ok_or("StageName is required")?;
        let mut s = Map::new();
        s.insert("name".into(), json!(stage));
        if let Some(v) = p.take("StageVariables") {
            let vars: Map<String, Value> = v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), json!(scalar_string(v).unwrap_or_default())))
                .collect();
            s.insert("variables".into(), Value::Object(vars));
        }
        if !ws {
            if let Some(d) = p.take("DefaultRouteSettings") {
                if let Some(t) = throttle(&d) {
                    s.insert("throttle".into(), t);
                }
            }
            if let Some(r) = p.take("RouteSettings") {
                let mut per = Map::new();
                for (k, v) in r.as_object().into_iter().flatten() {
                    if let Some(t) = throttle(v) {
                        per.insert(k.clone(), t);
                    }
                }
                if !per.is_empty() {
                    s.insert("route_throttle".into(), Value::Object(per));
                }
            }
        }
        p.no_effect(&[
            "AutoDeploy",
            "DeploymentId",
            "AccessLogSettings",
            "Description",
            "Tags",
            "ClientCertificateId",
            "DefaultRouteSettings",
            "RouteSettings",
        ]);
        let name = self.name(&api_logical);
        let api = self.api_json(i, ws);
        let stages = api
            .get_mut("stages")
            .and_then(Value::as_array_mut)
            .expect("stages");
        if stages.iter().any(|x| x["name"] == json!(stage)) {
            return Err(format!("the API already has a stage named {stage}"));
        }
        stages.push(Value::Object(s));
        let base = if ws {
            format!("${{websocket.{name}}}")
        } else {
            format!("${{api.{name}}}")
        };
        Ok(Some(if stage == "$default" {
            base
        } else {
            format!("{base}/{stage}")
        }))
    }

    pub(super) fn integration(
        &mut self,
        logical: &str,
        p: &mut Props,
    ) -> Result<Option<String>, String> {
        let (_, i, ws) = self.api(p)?;
        let kind = p
            .string("IntegrationType")
            .ok_or("IntegrationType is required")?;
        let uri = p.string("IntegrationUri");
        let mut out = Map::new();
        match kind.as_str() {
            "AWS_PROXY" => {
                let uri = uri.ok_or("IntegrationUri is required")?;
                out.insert("type".into(), json!("lambda"));
                out.insert("function".into(), json!(self.function_of(&uri)?));
                if !ws {
                    let v = p
                        .string("PayloadFormatVersion")
                        .unwrap_or_else(|| "2.0".into());
                    out.insert("payload_format_version".into(), json!(v));
                }
            }
            "HTTP_PROXY" | "HTTP" if !ws || kind == "HTTP_PROXY" => {
                let uri = uri.ok_or("IntegrationUri is required")?;
                if !uri.starts_with("http://") && !uri.starts_with("https://") {
                    return Err(format!(
                        "IntegrationUri '{uri}' is not a URL (VPC links are not supported)"
                    ));
                }
                out.insert("type".into(), json!("http"));
                out.insert("url".into(), json!(uri));
                if !ws {
                    if let Some(m) = p.string("IntegrationMethod") {
                        if m != "ANY" {
                            out.insert("method".into(), json!(m));
                        }
                    }
                    if let Some(rp) = p.take("RequestParameters") {
                        out.insert("request_parameters".into(), rp);
                    }
                }
                if kind == "HTTP" {
                    return Err(
                        "IntegrationType HTTP is not supported for HTTP APIs; use HTTP_PROXY"
                            .into(),
                    );
                }
            }
            other => return Err(format!("IntegrationType {other} is not supported")),
        }
        if let Some(t) = p.number("TimeoutInMillis") {
            out.insert("timeout_ms".into(), json!(t as u64));
        }
        if let Some(c) = p.string("ConnectionType") {
            if c != "INTERNET" {
                return Err(format!("ConnectionType {c} is not supported"));
            }
        }
        if p.take("IntegrationSubtype").is_some() {
            return Err("AWS service integrations (IntegrationSubtype) are not supported".into());
        }
        p.no_effect(&[
            "Description",
            "CredentialsArn",
            "PayloadFormatVersion",
            "IntegrationMethod",
            "ContentHandlingStrategy",
            "PassthroughBehavior",
        ]);
        self.api_member(i, ws, "integrations", logical, out);
        Ok(None)
    }

    pub(super) fn authorizer(
        &mut self,
        logical: &str,
        p: &mut Props,
    ) -> Result<Option<String>, String> {
        let (_, i, ws) = self.api(p)?;
        let kind = p
            .string("AuthorizerType")
            .ok_or("AuthorizerType is required")?;
        let mut out = Map::new();
        let sources = p.strings("IdentitySource").unwrap_or_default();
        match kind.as_str() {
            "JWT" if !ws => {
                out.insert("type".into(), json!("jwt"));
                let jwt = p
                    .take("JwtConfiguration")
                    .ok_or("JwtConfiguration is required")?;
                let issuer = jwt
                    .get("Issuer")
                    .and_then(Value::as_str)
                    .ok_or("JwtConfiguration.Issuer is required")?;
                let audience: Vec<String> = jwt
                    .get("Audience")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(scalar_string).collect())
                    .unwrap_or_default();
                let cognito = format!("https://cognito-idp.{}.amazonaws.com/", self.region);
                match issuer
                    .strip_prefix(&cognito)
                    .and_then(|r| placeholder_name(r, "pool"))
                {
                    Some(pool) => {
                        out.insert("user_pool".into(), json!(pool));
                        // Clients of the pool by their names in the pool.
                        let aud: Vec<String> = audience
                            .iter()
                            .map(|a| {
                                match a
                                    .strip_prefix("${client.")
                                    .and_then(|r| r.strip_suffix('}'))
                                {
                                    Some(rest) => {
                                        rest.rsplit('.').next().unwrap_or(rest).to_string()
                                    }
                                    None => a.clone(),
                                }
                            })
                            .collect();
                        if !aud.is_empty() {
                            out.insert("audience".into(), json!(aud));
                        }
                    }
                    None => {
                        if issuer.contains("${pool.") {
                            return Err(format!("JwtConfiguration.Issuer '{issuer}' names a pool of this stack in another region"));
                        }
                        out.insert("issuer".into(), json!(issuer));
                        out.insert("audience".into(), json!(audience));
                    }
                }
                if let Some(s) = sources.first() {
                    out.insert("identity_source".into(), json!(s));
                }
            }
            "REQUEST" => {
                out.insert("type".into(), json!("request"));
                let uri = p
                    .string("AuthorizerUri")
                    .ok_or("AuthorizerUri is required")?;
                out.insert("function".into(), json!(self.function_of(&uri)?));
                if !sources.is_empty() {
                    out.insert("identity_sources".into(), json!(sources));
                }
                if let Some(t) = p.number("AuthorizerResultTtlInSeconds") {
                    out.insert("ttl_seconds".into(), json!(t as u64));
                }
                if !ws {
                    let v = p.string("AuthorizerPayloadFormatVersion").ok_or(
                        "AuthorizerPayloadFormatVersion is required for REQUEST authorizers",
                    )?;
                    out.insert("payload_format_version".into(), json!(v));
                    if let Some(b) = p.bool("EnableSimpleResponses") {
                        out.insert("simple_responses".into(), json!(b));
                    }
                }
            }
            other => return Err(format!("AuthorizerType {other} is not supported here")),
        }
        p.no_effect(&[
            "Name",
            "AuthorizerCredentialsArn",
            "IdentityValidationExpression",
        ]);
        self.api_member(i, ws, "authorizers", logical, out);
        Ok(None)
    }

    pub(super) fn route(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let (api_logical, i, ws) = self.api(p)?;
        let key = p.string("RouteKey").ok_or("RouteKey is required")?;
        let mut out = Map::new();
        out.insert("route".into(), json!(key));
        if let Some(target) = p.string("Target") {
            let integration = target
                .strip_prefix("integrations/")
                .ok_or_else(|| format!("Target '{target}' is not integrations/ID"))?;
            out.insert("integration".into(), json!(integration));
        } else if !ws {
            return Err("Target is required: a route without an integration cannot answer".into());
        }
        match p.string("AuthorizationType").as_deref() {
            None | Some("NONE") => {}
            Some("JWT") | Some("CUSTOM") => {
                let id = p
                    .string("AuthorizerId")
                    .ok_or("AuthorizerId is required with this AuthorizationType")?;
                out.insert("authorizer".into(), json!(id));
            }
            Some(other) => return Err(format!("AuthorizationType {other} is not supported")),
        }
        if let Some(s) = p.strings("AuthorizationScopes") {
            if !s.is_empty() {
                out.insert("scopes".into(), json!(s));
            }
        }
        if ws && p.string("RouteResponseSelectionExpression").is_some() {
            out.insert("route_response".into(), json!(true));
        }
        if p.bool("ApiKeyRequired") == Some(true) {
            return Err("ApiKeyRequired is not supported".into());
        }
        if p.take("RequestParameters")
            .is_some_and(|r| r.as_object().is_some_and(|m| !m.is_empty()))
        {
            return Err("property RequestParameters is not supported".into());
        }
        p.no_effect(&[
            "OperationName",
            "ModelSelectionExpression",
            "RequestModels",
            "RouteResponseSelectionExpression",
        ]);
        let api = self.api_json(i, ws);
        let routes = api
            .get_mut("routes")
            .and_then(Value::as_array_mut)
            .expect("routes");
        let index = routes.len();
        routes.push(Value::Object(out));
        self.routes
            .insert(logical.to_string(), (api_logical, index));
        Ok(None)
    }

    pub(super) fn route_response(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let (api_logical, i, ws) = self.api(p)?;
        let route = p.string("RouteId").ok_or("RouteId is required")?;
        p.string("RouteResponseKey");
        p.no_effect(&[
            "ModelSelectionExpression",
            "ResponseModels",
            "ResponseParameters",
        ]);
        let Some((a, index)) = self.routes.get(&route).cloned() else {
            return Err(format!("RouteId '{route}' is not a route of this stack"));
        };
        if a != api_logical || !ws {
            return Err("route responses are for routes of the same WebSocket API".into());
        }
        let api = self.api_json(i, ws);
        api["routes"][index]["route_response"] = json!(true);
        Ok(None)
    }

    pub(super) fn api_mapping(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let (_, i, ws) = self.api(p)?;
        let host = p.string("DomainName").ok_or("DomainName is required")?;
        let stage = p.string("Stage").ok_or("Stage is required")?;
        let base = p.string("ApiMappingKey").unwrap_or_default();
        let api = self.api_json(i, ws);
        api.entry("custom_domains")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!({"host": host, "base_path": base, "stage": stage}));
        Ok(None)
    }
}
