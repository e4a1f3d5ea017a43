//! serverless.yml (the Serverless Framework, provider `aws`): its
//! variables (`${opt:..}`, `${self:..}`, `${env:..}`, `${sls:stage}`,
//! `${aws:region}`, with defaults), then the CloudFormation the framework
//! deploys: one function per entry of `functions`, the `HttpApi` with its
//! `$default` stage, routes, integrations and authorizers (the framework's
//! logical ids: `HttpApi`, `HttpApiRouteGetUserProfile`, ...), the
//! `WebsocketsApi` with its stage, and the `resources:` section merged in.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

/// A serverless.yml turned into a CloudFormation template.
pub(crate) struct Converted {
    pub template: Value,
    pub stack_name: String,
    pub region: String,
}

pub(crate) fn looks_like(doc: &Value) -> bool {
    doc.get("service").is_some() && doc.get("provider").is_some()
}

pub(crate) fn convert(
    mut doc: Value,
    dir: &Path,
    options: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
    not_applied: &mut Vec<String>,
) -> Result<Converted, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let stage = options
        .get("stage")
        .cloned()
        .or_else(|| {
            doc.pointer("/provider/stage")
                .and_then(Value::as_str)
                .filter(|s| !s.contains("${"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "dev".into());
    let region = options
        .get("region")
        .cloned()
        .or_else(|| {
            doc.pointer("/provider/region")
                .and_then(Value::as_str)
                .filter(|s| !s.contains("${"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "us-east-1".into());
    let vars = Vars {
        root: doc.clone(),
        options,
        env,
        stage: stage.clone(),
        region: region.clone(),
    };
    if let Err(e) = vars.resolve(&mut doc, 0) {
        return Err(vec![("variables".into(), e)]);
    }
    let provider = doc.get("provider").cloned().unwrap_or(json!({}));
    if provider.get("name").and_then(Value::as_str) != Some("aws") {
        problems.push((
            "provider.name".into(),
            "only provider aws is supported".into(),
        ));
    }
    let service = match doc.get("service") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    };
    if service.is_empty() {
        problems.push(("service".into(), "a service name is required".into()));
    }
    for k in [
        "org",
        "app",
        "frameworkVersion",
        "custom",
        "package",
        "configValidationMode",
        "useDotenv",
        "variablesResolutionMode",
        "deprecationNotificationMode",
        "disabledDeprecations",
        "params",
    ] {
        if doc.get(k).is_some() {
            not_applied.push(format!("{k} (serverless.yml)"));
        }
    }
    if let Some(p) = doc.get("plugins") {
        problems.push((
            "plugins".into(),
            format!("plugins are not run: {p}; remove them to serve this file"),
        ));
    }
    let mut resources = Map::new();
    let provider_env = provider
        .pointer("/environment")
        .cloned()
        .unwrap_or(json!({}));
    let runtime = provider
        .get("runtime")
        .and_then(Value::as_str)
        .unwrap_or("nodejs20.x")
        .to_string();
    let timeout = provider.get("timeout").cloned();
    let http = provider.get("httpApi").cloned().unwrap_or(json!({}));
    let mut has_http = false;
    let mut has_ws = false;
    let mut ws_authorizers: BTreeMap<String, Value> = BTreeMap::new();

    let functions = doc
        .get("functions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (fname, f) in &functions {
        let logical = format!("{}LambdaFunction", normalize(fname));
        let Some(handler) = f.get("handler").and_then(Value::as_str) else {
            problems.push((
                format!("functions.{fname}"),
                "handler is required (container images are not supported)".into(),
            ));
            continue;
        };
        let mut env = provider_env.as_object().cloned().unwrap_or_default();
        if let Some(own) = f.get("environment").and_then(Value::as_object) {
            env.extend(own.clone());
        }
        let mut props = json!({
            "FunctionName": f.get("name").cloned().unwrap_or(json!(format!("{service}-{stage}-{fname}"))),
            "Handler": handler,
            "Runtime": f.get("runtime").and_then(Value::as_str).unwrap_or(&runtime),
            "Code": {"LocalPath": dir.display().to_string()},
            "Environment": {"Variables": Value::Object(env)},
        });
        if let Some(t) = f.get("timeout").or(timeout.as_ref()) {
            props["Timeout"] = t.clone();
        }
        if let Some(c) = f.get("reservedConcurrency") {
            props["ReservedConcurrentExecutions"] = c.clone();
        }
        for k in f.as_object().into_iter().flat_map(|m| m.keys()) {
            if !matches!(
                k.as_str(),
                "handler"
                    | "environment"
                    | "name"
                    | "runtime"
                    | "timeout"
                    | "reservedConcurrency"
                    | "events"
                    | "memorySize"
                    | "description"
                    | "package"
                    | "role"
                    | "tags"
                    | "logRetentionInDays"
                    | "architecture"
            ) {
                problems.push((format!("functions.{fname}.{k}"), "is not supported".into()));
            }
        }
        resources.insert(
            logical.clone(),
            json!({"Type": "AWS::Lambda::Function", "Properties": props}),
        );
        for (i, e) in f
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("functions.{fname}.events[{i}]");
            if let Some(h) = e.get("httpApi") {
                has_http = true;
                let (method, path, auth) = match h {
                    Value::String(s) if s == "*" => ("*".to_string(), String::new(), None),
                    Value::String(s) => match s.split_once(' ') {
                        Some((m, p)) => (m.to_string(), p.to_string(), None),
                        None => {
                            problems.push((at, format!("'{s}' is not 'METHOD /path' or '*'")));
                            continue;
                        }
                    },
                    Value::Object(m) => (
                        m.get("method")
                            .and_then(Value::as_str)
                            .unwrap_or("*")
                            .to_string(),
                        m.get("path")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        m.get("authorizer").cloned(),
                    ),
                    _ => {
                        problems
                            .push((at, "httpApi takes 'METHOD /path' or {method, path}".into()));
                        continue;
                    }
                };
                let route_key = if method == "*" && path.is_empty() {
                    "$default".to_string()
                } else {
                    let m = if method == "*" {
                        "ANY".to_string()
                    } else {
                        method.to_uppercase()
                    };
                    format!("{m} {path}")
                };
                let integration = format!("HttpApiIntegration{}", normalize(fname));
                if !resources.contains_key(&integration) {
                    resources.insert(integration.clone(), json!({"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
                        "ApiId": {"Ref": "HttpApi"}, "IntegrationType": "AWS_PROXY",
                        "IntegrationUri": {"Fn::GetAtt": [logical, "Arn"]},
                        "PayloadFormatVersion": http.get("payload").cloned().unwrap_or(json!("2.0")),
                    }}));
                }
                let mut route = json!({"ApiId": {"Ref": "HttpApi"}, "RouteKey": route_key, "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration}]]}});
                if let Some(a) = auth {
                    let (name, scopes) = match &a {
                        Value::String(s) => (s.clone(), None),
                        Value::Object(m) => (
                            m.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            m.get("scopes").cloned(),
                        ),
                        _ => (String::new(), None),
                    };
                    let Some(def) = http.pointer(&format!("/authorizers/{name}")) else {
                        problems.push((
                            at,
                            format!("no authorizer '{name}' in provider.httpApi.authorizers"),
                        ));
                        continue;
                    };
                    let jwt = def.get("type").and_then(Value::as_str) != Some("request");
                    route["AuthorizationType"] = json!(if jwt { "JWT" } else { "CUSTOM" });
                    route["AuthorizerId"] =
                        json!({"Ref": format!("HttpApiAuthorizer{}", normalize(&name))});
                    if let Some(s) = scopes {
                        route["AuthorizationScopes"] = s;
                    }
                }
                let route_logical = format!("HttpApiRoute{}", normalize_route(&route_key));
                resources.insert(
                    route_logical,
                    json!({"Type": "AWS::ApiGatewayV2::Route", "Properties": route}),
                );
            } else if let Some(w) = e.get("websocket") {
                has_ws = true;
                let (route, auth, two_way) = match w {
                    Value::String(s) => (s.clone(), None, None),
                    Value::Object(m) => (
                        m.get("route")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        m.get("authorizer").cloned(),
                        m.get("routeResponseSelectionExpression").cloned(),
                    ),
                    _ => {
                        problems
                            .push((at, "websocket takes a route or {route, authorizer}".into()));
                        continue;
                    }
                };
                let integration = format!("{}WebsocketsIntegration", normalize(fname));
                resources.entry(integration.clone()).or_insert_with(|| {
                    json!({"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
                        "ApiId": {"Ref": "WebsocketsApi"}, "IntegrationType": "AWS_PROXY",
                        "IntegrationUri": {"Fn::GetAtt": [logical, "Arn"]},
                    }})
                });
                let mut rp = json!({"ApiId": {"Ref": "WebsocketsApi"}, "RouteKey": route, "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration}]]}});
                if let Some(e) = two_way {
                    rp["RouteResponseSelectionExpression"] = e;
                }
                if let Some(a) = auth {
                    if route != "$connect" {
                        problems.push((at, "an authorizer belongs on the $connect route".into()));
                        continue;
                    }
                    let (name, sources) = match &a {
                        Value::String(s) => (s.clone(), json!(["route.request.header.Auth"])),
                        Value::Object(m) => (
                            m.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            m.get("identitySource")
                                .cloned()
                                .unwrap_or(json!(["route.request.header.Auth"])),
                        ),
                        _ => (String::new(), Value::Null),
                    };
                    let fn_logical = format!("{}LambdaFunction", normalize(&name));
                    let auth_logical = format!("{}WebsocketsAuthorizer", normalize(&name));
                    let sources = match sources {
                        Value::String(s) => json!([s]),
                        other => other,
                    };
                    ws_authorizers.insert(auth_logical.clone(), json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": {
                        "ApiId": {"Ref": "WebsocketsApi"}, "AuthorizerType": "REQUEST", "Name": name,
                        "AuthorizerUri": {"Fn::Join": ["", ["arn:aws:apigateway:", {"Ref": "AWS::Region"}, ":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": [fn_logical, "Arn"]}, "/invocations"]]},
                        "IdentitySource": sources,
                    }}));
                    rp["AuthorizationType"] = json!("CUSTOM");
                    rp["AuthorizerId"] = json!({"Ref": auth_logical});
                }
                resources.insert(
                    format!("{}WebsocketsRoute", normalize_route(&route)),
                    json!({"Type": "AWS::ApiGatewayV2::Route", "Properties": rp}),
                );
            } else {
                let kind = e
                    .as_object()
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_default();
                problems.push((
                    at,
                    format!("event type {kind} is not supported (httpApi and websocket are)"),
                ));
            }
        }
    }
    resources.extend(ws_authorizers);
    let mut outputs = Map::new();
    if has_http {
        let mut api = json!({"Name": format!("{stage}-{service}"), "ProtocolType": "HTTP"});
        if let Some(c) = http.get("cors") {
            api["CorsConfiguration"] = match c {
                Value::Bool(true) => {
                    json!({"AllowOrigins": ["*"], "AllowHeaders": ["Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key", "X-Amz-Security-Token", "X-Amz-User-Agent"], "AllowMethods": ["OPTIONS", "GET", "POST", "PUT", "PATCH", "DELETE"]})
                }
                Value::Object(m) => json!({
                    "AllowOrigins": m.get("allowedOrigins").cloned().unwrap_or(json!(["*"])),
                    "AllowHeaders": m.get("allowedHeaders").cloned().unwrap_or(json!([])),
                    "AllowMethods": m.get("allowedMethods").cloned().unwrap_or(json!([])),
                    "ExposeHeaders": m.get("exposedResponseHeaders").cloned().unwrap_or(json!([])),
                    "AllowCredentials": m.get("allowCredentials").cloned().unwrap_or(json!(false)),
                    "MaxAge": m.get("maxAge").cloned().unwrap_or(Value::Null),
                }),
                _ => Value::Null,
            };
        }
        resources.insert(
            "HttpApi".into(),
            json!({"Type": "AWS::ApiGatewayV2::Api", "Properties": api}),
        );
        resources.insert("HttpApiStage".into(), json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": true}}));
        for (name, def) in http
            .get("authorizers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let logical = format!("HttpApiAuthorizer{}", normalize(name));
            let a = if def.get("type").and_then(Value::as_str) == Some("request") {
                let f = def
                    .get("functionName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut a = json!({
                    "ApiId": {"Ref": "HttpApi"}, "AuthorizerType": "REQUEST", "Name": name,
                    "AuthorizerUri": {"Fn::Join": ["", ["arn:aws:apigateway:", {"Ref": "AWS::Region"}, ":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": [format!("{}LambdaFunction", normalize(f)), "Arn"]}, "/invocations"]]},
                    "AuthorizerPayloadFormatVersion": def.get("payloadVersion").cloned().unwrap_or(json!("2.0")),
                    "EnableSimpleResponses": def.get("enableSimpleResponses").cloned().unwrap_or(json!(false)),
                    "AuthorizerResultTtlInSeconds": def.get("resultTtlInSeconds").cloned().unwrap_or(json!(300)),
                });
                if let Some(s) = def.get("identitySource") {
                    a["IdentitySource"] = match s {
                        Value::String(s) => json!([s]),
                        other => other.clone(),
                    };
                }
                a
            } else {
                json!({
                    "ApiId": {"Ref": "HttpApi"}, "AuthorizerType": "JWT", "Name": name,
                    "IdentitySource": [def.get("identitySource").cloned().unwrap_or(json!("$request.header.Authorization"))],
                    "JwtConfiguration": {"Issuer": def.get("issuerUrl").cloned().unwrap_or(Value::Null), "Audience": match def.get("audience") {
                        Some(Value::Array(a)) => Value::Array(a.clone()),
                        Some(other) => json!([other]),
                        None => json!([]),
                    }},
                })
            };
            resources.insert(
                logical,
                json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": a}),
            );
        }
        outputs.insert("HttpApiId".into(), json!({"Value": {"Ref": "HttpApi"}}));
        outputs.insert("HttpApiUrl".into(), json!({"Value": {"Fn::Join": ["", ["https://", {"Ref": "HttpApi"}, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]]}}));
    }
    if has_ws {
        resources.insert("WebsocketsApi".into(), json!({"Type": "AWS::ApiGatewayV2::Api", "Properties": {
            "Name": format!("{stage}-{service}-websockets"), "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": provider.get("websocketsApiRouteSelectionExpression").cloned().unwrap_or(json!("$request.body.action")),
        }}));
        resources.insert("WebsocketsDeploymentStage".into(), json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"ApiId": {"Ref": "WebsocketsApi"}, "StageName": stage}}));
        outputs.insert("ServiceEndpointWebsocket".into(), json!({"Value": {"Fn::Join": ["", ["wss://", {"Ref": "WebsocketsApi"}, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}, "/", stage]]}}));
    }
    for k in provider.as_object().into_iter().flat_map(|m| m.keys()) {
        match k.as_str() {
            "name"
            | "runtime"
            | "stage"
            | "region"
            | "environment"
            | "httpApi"
            | "timeout"
            | "websocketsApiRouteSelectionExpression" => {}
            "memorySize"
            | "iam"
            | "iamRoleStatements"
            | "logRetentionInDays"
            | "tags"
            | "stackTags"
            | "deploymentBucket"
            | "architecture"
            | "versionFunctions"
            | "profile"
            | "logs"
            | "tracing"
            | "lambdaHashingVersion"
            | "websocketsApiName"
            | "apiName"
            | "stackName" => {
                not_applied.push(format!("provider.{k} (serverless.yml)"));
            }
            other => problems.push((format!("provider.{other}"), "is not supported".into())),
        }
    }
    for k in http.as_object().into_iter().flat_map(|m| m.keys()) {
        if !matches!(
            k.as_str(),
            "authorizers"
                | "cors"
                | "payload"
                | "name"
                | "id"
                | "metrics"
                | "disableDefaultEndpoint"
        ) {
            problems.push((format!("provider.httpApi.{k}"), "is not supported".into()));
        }
    }
    let extra = doc.get("resources").cloned().unwrap_or(json!({}));
    // The `resources:` section is merged over what the framework made (an
    // entry for `HttpApi` may add a DependsOn or override properties).
    for (k, v) in extra
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        match (resources.get_mut(k), v) {
            (Some(Value::Object(existing)), Value::Object(over)) => {
                for (key, val) in over {
                    match (existing.get_mut(key), val) {
                        (Some(Value::Object(e)), Value::Object(o)) if key == "Properties" => {
                            e.extend(o.clone());
                        }
                        _ => {
                            existing.insert(key.clone(), val.clone());
                        }
                    }
                }
            }
            _ => {
                resources.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in extra
        .get("Outputs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        outputs.insert(k.clone(), v.clone());
    }
    for k in extra.as_object().into_iter().flat_map(|m| m.keys()) {
        if !matches!(
            k.as_str(),
            "Resources" | "Outputs" | "Conditions" | "Mappings" | "Parameters"
        ) {
            problems.push((format!("resources.{k}"), "is not supported".into()));
        }
    }
    let mut template = json!({"Resources": resources, "Outputs": outputs});
    for k in ["Conditions", "Mappings", "Parameters"] {
        if let Some(v) = extra.get(k) {
            template[k] = v.clone();
        }
    }
    if problems.is_empty() {
        Ok(Converted {
            template,
            stack_name: options
                .get("stack-name")
                .cloned()
                .or_else(|| {
                    provider
                        .get("stackName")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or(format!("{service}-{stage}")),
            region,
        })
    } else {
        Err(problems)
    }
}

/// The framework's normalized names: first letter upper case, `-` as
/// `Dash`, `_` as `Underscore`.
fn normalize(s: &str) -> String {
    let s = s.replace('-', "Dash").replace('_', "Underscore");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `GET /user/profile` -> `GetUserProfile`; `$connect` -> `SconnectConnect`-free `Connect`.
fn normalize_route(key: &str) -> String {
    let mut out = String::new();
    for part in key.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(&c.as_str().to_lowercase());
        }
    }
    if key.contains('{') {
        out.push_str("Var");
    }
    if out.is_empty() {
        "Default".into()
    } else {
        out
    }
}

struct Vars<'a> {
    root: Value,
    options: &'a BTreeMap<String, String>,
    env: &'a BTreeMap<String, String>,
    stage: String,
    region: String,
}

impl Vars<'_> {
    fn resolve(&self, v: &mut Value, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("variables nest too deeply (a variable refers to itself?)".into());
        }
        match v {
            Value::String(s) => {
                if let Some(new) = self.string(s, depth)? {
                    *v = new;
                }
            }
            Value::Array(a) => {
                for i in a {
                    self.resolve(i, depth)?;
                }
            }
            Value::Object(m) => {
                for (_, i) in m.iter_mut() {
                    self.resolve(i, depth)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Resolves the variables of one string: `None` when it has none. A
    /// string that is one variable takes the variable's value as it is
    /// (an object, a number).
    fn string(&self, s: &str, depth: usize) -> Result<Option<Value>, String> {
        let mut from = 0;
        let (start, end, value) = loop {
            let Some((start, end)) = innermost(s, from) else {
                return Ok(None);
            };
            let expr = &s[start + 2..end];
            match self.variable(expr, depth)? {
                Some(v) => break (start, end, v),
                // Not one of ours (CloudFormation's ${AWS::Region} in a Fn::Sub).
                None => from = end + 1,
            }
        };
        let expr = &s[start + 2..end];
        if start == 0 && end == s.len() - 1 {
            let mut v = value;
            self.resolve(&mut v, depth + 1)?;
            return Ok(Some(v));
        }
        let text = match &value {
            Value::String(t) => t.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(format!(
                    "${{{expr}}} is {other}, which cannot be part of a string"
                ))
            }
        };
        let joined = format!("{}{}{}", &s[..start], text, &s[end + 1..]);
        Ok(Some(match self.string(&joined, depth + 1)? {
            Some(v) => v,
            None => Value::String(joined),
        }))
    }

    fn variable(&self, expr: &str, depth: usize) -> Result<Option<Value>, String> {
        let (main, fallback) = split_default(expr);
        let main = main.trim();
        let Some((source, key)) = main.split_once(':') else {
            return Ok(None);
        };
        let found = match source {
            "opt" => self
                .options
                .get(key)
                .map(|v| json!(v))
                .or_else(|| match key {
                    "stage" => Some(json!(self.stage)),
                    "region" => Some(json!(self.region)),
                    _ => None,
                }),
            "env" => self.env.get(key).map(|v| json!(v)),
            "self" => {
                let pointer = format!("/{}", key.replace('.', "/"));
                let mut v = self.root.pointer(&pointer).cloned();
                if let Some(v) = &mut v {
                    self.resolve(v, depth + 1)?;
                }
                v
            }
            "sls" if key == "stage" => Some(json!(self.stage)),
            "sls" if key == "instanceId" => Some(json!("cognate")),
            "aws" if key == "region" => Some(json!(self.region)),
            "aws" if key == "accountId" => Some(json!("000000000000")),
            "file" | "cf" | "ssm" | "s3" | "param" | "sls" | "aws" => {
                return Err(format!("variable ${{{main}}} is not supported"))
            }
            // ${AWS::Region} and the like: CloudFormation's, left alone.
            _ => return Ok(None),
        };
        match (found, fallback) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(d)) => {
                let d = d.trim();
                if let Some(q) = d
                    .strip_prefix('\'')
                    .and_then(|r| r.strip_suffix('\''))
                    .or_else(|| d.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
                {
                    Ok(Some(json!(q)))
                } else if let Ok(n) = d.parse::<i64>() {
                    Ok(Some(json!(n)))
                } else {
                    match self.variable(d, depth + 1)? {
                        Some(v) => Ok(Some(v)),
                        None => Err(format!(
                            "${{{expr}}}: no value and the default '{d}' has none"
                        )),
                    }
                }
            }
            (None, None) => Err(format!("${{{main}}} has no value and no default")),
        }
    }
}

/// The first innermost `${...}` at or after `from`: (index of `$`, index of `}`).
fn innermost(s: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut open = None;
    for (i, b) in bytes.iter().enumerate().skip(from) {
        if *b == b'$' && bytes.get(i + 1) == Some(&b'{') {
            open = Some(i);
        } else if *b == b'}' {
            if let Some(o) = open {
                return Some((o, i));
            }
        }
    }
    None
}

/// `source:key, default` -> (`source:key`, Some(`default`)), at the first
/// comma outside quotes.
fn split_default(expr: &str) -> (&str, Option<&str>) {
    let mut quote = None;
    for (i, c) in expr.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => return (&expr[..i], Some(&expr[i + 1..])),
            _ => {}
        }
    }
    (expr, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(root: Value) -> Value {
        let options = BTreeMap::from([("stage".to_string(), "prod".to_string())]);
        let env = BTreeMap::from([("HOME_X".to_string(), "h".to_string())]);
        let v = Vars {
            root: root.clone(),
            options: &options,
            env: &env,
            stage: "prod".into(),
            region: "us-east-1".into(),
        };
        let mut out = root;
        v.resolve(&mut out, 0).unwrap();
        out
    }

    #[test]
    fn variables_resolve_with_defaults_and_nesting() {
        let out = vars(json!({
            "provider": {"stage": "${opt:stage, 'dev'}", "region": "${opt:region, 'us-east-1'}"},
            "custom": {"prod": {"size": 3}, "name": "x"},
            "a": "${self:provider.stage}-${self:custom.name}",
            "b": "${self:custom.${opt:stage}.size}",
            "c": "${env:HOME_X}/${env:NOPE, 'fallback'}",
            "d": {"Fn::Sub": "${AWS::Region}-${self:custom.name}"},
            "e": "${self:custom.prod}",
        }));
        assert_eq!(out["a"], json!("prod-x"));
        assert_eq!(out["b"], json!(3));
        assert_eq!(out["c"], json!("h/fallback"));
        assert_eq!(out["d"], json!({"Fn::Sub": "${AWS::Region}-x"}));
        assert_eq!(out["e"], json!({"size": 3}));
        assert_eq!(out["provider"]["region"], json!("us-east-1"));
    }

    #[test]
    fn a_variable_without_value_or_default_is_an_error() {
        let options = BTreeMap::new();
        let env = BTreeMap::new();
        let v = Vars {
            root: json!({}),
            options: &options,
            env: &env,
            stage: "dev".into(),
            region: "us-east-1".into(),
        };
        let mut x = json!("${env:MISSING_VAR_X}");
        assert!(v
            .resolve(&mut x, 0)
            .unwrap_err()
            .contains("env:MISSING_VAR_X"));
    }

    #[test]
    fn names_follow_the_framework() {
        assert_eq!(
            normalize("get-profile_info"),
            "GetDashprofileUnderscoreinfo"
        );
        assert_eq!(normalize_route("GET /user/profile"), "GetUserProfile");
    }
}
