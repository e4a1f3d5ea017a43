//! The SAM transform (`AWS::Serverless-2016-10-31`): `Globals`,
//! `AWS::Serverless::Function` with `HttpApi` events and
//! `AWS::Serverless::HttpApi` with JWT and Lambda authorizers, expanded
//! into the plain CloudFormation resources SAM deploys (an API, its
//! `$default` stage, integrations, routes, authorizers), keeping the
//! logical ids SAM gives them (`ServerlessHttpApi`, `...ApiGatewayDefaultStage`),
//! so `!Ref ServerlessHttpApi` in Outputs means what it does on AWS.

use std::path::Path;

use serde_json::{json, Map, Value};

pub(crate) const TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// Whether the template asks for the SAM transform.
pub(crate) fn is_sam(doc: &Value) -> bool {
    match doc.get("Transform") {
        Some(Value::String(s)) => s == TRANSFORM,
        Some(Value::Array(a)) => a.iter().any(|t| t.as_str() == Some(TRANSFORM)),
        _ => false,
    }
}

/// Function properties SAM has that mean nothing locally.
const FUNCTION_NO_EFFECT: &[&str] = &[
    "Policies",
    "AutoPublishAlias",
    "DeploymentPreference",
    "Tracing",
    "ProvisionedConcurrencyConfig",
    "PermissionsBoundary",
    "AssumeRolePolicyDocument",
    "EventInvokeConfig",
    "VersionDescription",
];

/// Expands the transform in place. Problems as (logical id, message);
/// properties dropped as having no local meaning are added to `not_applied`.
pub(crate) fn expand(
    doc: &mut Value,
    base_dir: &Path,
    not_applied: &mut Vec<String>,
) -> Result<(), Vec<(String, String)>> {
    let mut problems = Vec::new();
    let globals = doc.get("Globals").cloned().unwrap_or(json!({}));
    if let Some(m) = doc.as_object_mut() {
        m.remove("Transform");
        m.remove("Globals");
    }
    for k in globals.as_object().into_iter().flat_map(|m| m.keys()) {
        if k != "Function" && k != "HttpApi" {
            problems.push((
                "Globals".to_string(),
                format!("Globals.{k} is not supported"),
            ));
        }
    }
    let resources = doc
        .get("Resources")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    // Each HTTP API's Auth, by logical id, for the routes.
    let mut apis: Map<String, Value> = Map::new();
    let mut needs_implicit = false;
    for (logical, r) in &resources {
        if r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi") {
            let props = merged(globals.get("HttpApi"), r.get("Properties"));
            apis.insert(logical.clone(), props);
        }
    }
    for (logical, r) in &resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "AWS::Serverless::Function" => {
                let props = merged(globals.get("Function"), r.get("Properties"));
                let mut p = props.as_object().cloned().unwrap_or_default();
                let code = match (p.remove("InlineCode"), p.remove("CodeUri")) {
                    (Some(z), _) => json!({"ZipFile": z}),
                    (None, Some(Value::String(uri))) if !uri.starts_with("s3://") => {
                        json!({"LocalPath": base_dir.join(uri).display().to_string()})
                    }
                    (None, None) => json!({"LocalPath": base_dir.display().to_string()}),
                    (None, Some(other)) => {
                        problems.push((
                            logical.clone(),
                            format!("CodeUri {other}: code in S3 cannot be fetched; give a local folder"),
                        ));
                        continue;
                    }
                };
                p.insert("Code".into(), code);
                for k in FUNCTION_NO_EFFECT {
                    if p.remove(*k).is_some() {
                        not_applied.push(format!("{logical}.{k} (AWS::Serverless::Function)"));
                    }
                }
                let events = p.remove("Events").unwrap_or(json!({}));
                for (ename, e) in events.as_object().into_iter().flatten() {
                    let etype = e.get("Type").and_then(Value::as_str).unwrap_or("");
                    if etype != "HttpApi" {
                        problems.push((
                            logical.clone(),
                            format!(
                                "Events.{ename}: event type {etype} is not supported (HttpApi is)"
                            ),
                        ));
                        continue;
                    }
                    let ep = e.get("Properties").cloned().unwrap_or(json!({}));
                    let api = match ep.get("ApiId") {
                        Some(Value::Object(r)) => {
                            r.get("Ref").and_then(Value::as_str).map(str::to_string)
                        }
                        Some(Value::String(s)) => Some(s.clone()),
                        None => {
                            needs_implicit = true;
                            Some("ServerlessHttpApi".to_string())
                        }
                        _ => None,
                    };
                    let Some(api) = api else {
                        problems.push((
                            logical.clone(),
                            format!(
                                "Events.{ename}.ApiId must be !Ref of an AWS::Serverless::HttpApi"
                            ),
                        ));
                        continue;
                    };
                    let method = ep
                        .get("Method")
                        .and_then(Value::as_str)
                        .unwrap_or("ANY")
                        .to_uppercase();
                    let path = ep.get("Path").and_then(Value::as_str).unwrap_or("$default");
                    let route_key = if path == "$default" {
                        "$default".to_string()
                    } else {
                        format!(
                            "{} {path}",
                            if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
                                "ANY"
                            } else {
                                &method
                            }
                        )
                    };
                    let integration = format!("{logical}{ename}Integration");
                    let mut ip = json!({
                        "ApiId": {"Ref": api},
                        "IntegrationType": "AWS_PROXY",
                        "IntegrationUri": {"Fn::GetAtt": [logical, "Arn"]},
                        "PayloadFormatVersion": ep.get("PayloadFormatVersion").cloned().unwrap_or(json!("2.0")),
                    });
                    if let Some(t) = ep.get("TimeoutInMillis") {
                        ip["TimeoutInMillis"] = t.clone();
                    }
                    out.insert(
                        integration.clone(),
                        json!({"Type": "AWS::ApiGatewayV2::Integration", "Properties": ip}),
                    );
                    let mut rp = json!({
                        "ApiId": {"Ref": api},
                        "RouteKey": route_key,
                        "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration}]]},
                    });
                    let auth = apis
                        .get(&api)
                        .and_then(|a| a.get("Auth"))
                        .cloned()
                        .unwrap_or(json!({}));
                    let chosen = ep
                        .pointer("/Auth/Authorizer")
                        .and_then(Value::as_str)
                        .or_else(|| auth.get("DefaultAuthorizer").and_then(Value::as_str));
                    if let Some(name) = chosen.filter(|n| *n != "NONE") {
                        let Some(def) = auth.pointer(&format!("/Authorizers/{name}")) else {
                            problems.push((logical.clone(), format!("Events.{ename}: no authorizer {name} in {api}'s Auth.Authorizers")));
                            continue;
                        };
                        let jwt = def.get("JwtConfiguration").is_some();
                        rp["AuthorizationType"] = json!(if jwt { "JWT" } else { "CUSTOM" });
                        rp["AuthorizerId"] = json!({"Ref": format!("{api}{name}Authorizer")});
                        let scopes = ep
                            .pointer("/Auth/AuthorizationScopes")
                            .or_else(|| def.get("AuthorizationScopes"));
                        if let Some(s) = scopes {
                            rp["AuthorizationScopes"] = s.clone();
                        }
                    }
                    out.insert(
                        format!("{logical}{ename}Route"),
                        json!({"Type": "AWS::ApiGatewayV2::Route", "Properties": rp}),
                    );
                }
                let mut res =
                    json!({"Type": "AWS::Lambda::Function", "Properties": Value::Object(p)});
                copy_attributes(r, &mut res);
                out.insert(logical.clone(), res);
            }
            "AWS::Serverless::HttpApi" => {}
            k if k.starts_with("AWS::Serverless::") => {
                problems.push((
                    logical.clone(),
                    format!("resource type {k} is not supported"),
                ));
            }
            _ => {
                out.insert(logical.clone(), r.clone());
            }
        }
    }
    if needs_implicit && !apis.contains_key("ServerlessHttpApi") {
        apis.insert(
            "ServerlessHttpApi".into(),
            merged(globals.get("HttpApi"), None),
        );
    }
    for (logical, props) in &apis {
        let mut p = props.as_object().cloned().unwrap_or_default();
        let mut api = json!({"ProtocolType": "HTTP", "Name": {"Ref": "AWS::StackName"}});
        if let Some(c) = p.remove("CorsConfiguration") {
            api["CorsConfiguration"] = match c {
                Value::Bool(true) => {
                    json!({"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]})
                }
                Value::Bool(false) => Value::Null,
                other => other,
            };
        }
        for k in [
            "Name",
            "Description",
            "DisableExecuteApiEndpoint",
            "FailOnWarnings",
            "Tags",
        ] {
            if let Some(v) = p.remove(k) {
                api[k] = v;
            }
        }
        let mut stage = json!({"ApiId": {"Ref": logical}, "StageName": p.remove("StageName").unwrap_or(json!("$default")), "AutoDeploy": true});
        for k in [
            "StageVariables",
            "DefaultRouteSettings",
            "RouteSettings",
            "AccessLogSettings",
        ] {
            if let Some(v) = p.remove(k) {
                stage[k] = v;
            }
        }
        let auth = p.remove("Auth").unwrap_or(json!({}));
        for (name, def) in auth
            .get("Authorizers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let a = if let Some(j) = def.get("JwtConfiguration") {
                json!({
                    "ApiId": {"Ref": logical}, "AuthorizerType": "JWT", "Name": name,
                    "IdentitySource": [def.get("IdentitySource").cloned().unwrap_or(json!("$request.header.Authorization"))],
                    "JwtConfiguration": {
                        "Issuer": j.get("issuer").or_else(|| j.get("Issuer")).cloned().unwrap_or(Value::Null),
                        "Audience": j.get("audience").or_else(|| j.get("Audience")).cloned().unwrap_or(json!([])),
                    },
                })
            } else if let Some(f) = def.get("FunctionArn") {
                let mut sources = Vec::new();
                let id = def.get("Identity").cloned().unwrap_or(json!({}));
                for (k, prefix) in [
                    ("Headers", "$request.header."),
                    ("QueryStrings", "$request.querystring."),
                    ("Context", "$context."),
                    ("StageVariables", "$stageVariables."),
                ] {
                    for h in id
                        .get(k)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        sources.push(json!(format!("{prefix}{h}")));
                    }
                }
                let mut a = json!({
                    "ApiId": {"Ref": logical}, "AuthorizerType": "REQUEST", "Name": name,
                    "AuthorizerUri": {"Fn::Join": ["", ["arn:aws:apigateway:", {"Ref": "AWS::Region"}, ":lambda:path/2015-03-31/functions/", f, "/invocations"]]},
                    "AuthorizerPayloadFormatVersion": def.get("AuthorizerPayloadFormatVersion").cloned().unwrap_or(json!("2.0")),
                    "AuthorizerResultTtlInSeconds": id.get("ReauthorizeEvery").cloned().unwrap_or(json!(300)),
                });
                if !sources.is_empty() {
                    a["IdentitySource"] = Value::Array(sources);
                }
                if let Some(s) = def.get("EnableSimpleResponses") {
                    a["EnableSimpleResponses"] = s.clone();
                }
                a
            } else {
                problems.push((
                    logical.clone(),
                    format!("Auth.Authorizers.{name} needs JwtConfiguration or FunctionArn"),
                ));
                continue;
            };
            out.insert(
                format!("{logical}{name}Authorizer"),
                json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": a}),
            );
        }
        for k in p.keys() {
            problems.push((
                logical.clone(),
                format!("property {k} of AWS::Serverless::HttpApi is not supported"),
            ));
        }
        let mut res = json!({"Type": "AWS::ApiGatewayV2::Api", "Properties": api});
        if let Some(r) = resources.get(logical) {
            copy_attributes(r, &mut res);
        }
        out.insert(logical.clone(), res);
        out.insert(
            format!("{logical}ApiGatewayDefaultStage"),
            json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": stage}),
        );
    }
    doc["Resources"] = Value::Object(out);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Condition and DependsOn carry over to the expanded resource.
fn copy_attributes(from: &Value, to: &mut Value) {
    for k in ["Condition", "DependsOn", "Metadata"] {
        if let Some(v) = from.get(k) {
            to[k] = v.clone();
        }
    }
}

/// Globals under a resource's own properties: maps merge key by key (the
/// resource's win), lists are concatenated, anything else is replaced.
fn merged(global: Option<&Value>, own: Option<&Value>) -> Value {
    match (global, own) {
        (None, None) => json!({}),
        (Some(g), None) => g.clone(),
        (None, Some(o)) => o.clone(),
        (Some(g), Some(o)) => merge(g, o),
    }
}

fn merge(g: &Value, o: &Value) -> Value {
    match (g, o) {
        (Value::Object(gm), Value::Object(om)) => {
            let mut out = gm.clone();
            for (k, v) in om {
                let m = match gm.get(k) {
                    Some(gv) if !is_intrinsic(v) && !is_intrinsic(gv) => merge(gv, v),
                    _ => v.clone(),
                };
                out.insert(k.clone(), m);
            }
            Value::Object(out)
        }
        (Value::Array(ga), Value::Array(oa)) => {
            Value::Array(ga.iter().chain(oa.iter()).cloned().collect())
        }
        (_, o) => o.clone(),
    }
}

fn is_intrinsic(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::")))
}
