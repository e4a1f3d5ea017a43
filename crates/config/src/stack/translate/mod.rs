//! CloudFormation resources -> the config file's shape, resource by
//! resource. Every property is either applied, accepted as having no
//! meaning locally (listed once at start as "not applied"), or refused with
//! the resource, its type and the file named.
//!
//! Names: a resource of stack `S` with logical id `L` is `S-L` in the config
//! (pools, APIs, functions); a client is `L` within its pool; authorizers
//! and integrations keep their logical ids within their API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::template::{self, scalar_string, Env, Evaluator, Sections};
use super::{Stack, StackResource};

mod apigw;
mod cognito;
mod lambda;
mod localize;
mod names;

pub(crate) use localize::Localizer;
use names::Names;

/// Resource types that have no meaning locally: accepted, listed once.
const NOT_APPLIED_TYPES: &[&str] = &[
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Logs::LogGroup",
    "AWS::CDK::Metadata",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::CloudWatch::Alarm",
];

/// Where a template came from, for messages and for code paths.
pub(crate) struct Source {
    /// The file named in messages.
    pub file: PathBuf,
    /// Relative code paths (SAM CodeUri, serverless handlers) start here.
    pub base_dir: PathBuf,
    /// cdk.out: asset paths (`aws:asset:path`) start here.
    pub assets_dir: Option<PathBuf>,
    /// cdk.out: the S3 object key of each file asset -> its folder (from
    /// the `*.assets.json` manifests), for templates synthesized without
    /// asset metadata.
    pub assets: BTreeMap<String, PathBuf>,
    pub stack: String,
}

/// Everything the stacks add up to, in the config file's shape.
#[derive(Default)]
pub(crate) struct Builder {
    pub pools: Vec<Value>,
    pub http_apis: Vec<Value>,
    pub websocket_apis: Vec<Value>,
    pub functions: Vec<Value>,
    pub stacks: Vec<Stack>,
    pub not_applied: Vec<String>,
    /// (location, message) of what is refused.
    pub problems: Vec<(String, String)>,
    pub inline_files: Vec<(PathBuf, String)>,
}

pub(crate) struct Options<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub parameters: &'a BTreeMap<String, String>,
    /// Inline function code (ZipFile) is written under here.
    pub code_dir: &'a Path,
}

/// The config name of a stack's resource.
fn config_name(stack: &str, logical: &str) -> String {
    format!("{stack}-{logical}")
}

/// `${KIND.NAME}` -> NAME.
fn placeholder_name(s: &str, kind: &str) -> Option<String> {
    s.strip_prefix(&format!("${{{kind}."))
        .and_then(|r| r.strip_suffix('}'))
        .filter(|n| !n.contains('}'))
        .map(str::to_string)
}

/// A resource's properties, tracking which were read.
struct Props {
    map: Map<String, Value>,
    used: BTreeSet<String>,
    ignored: Vec<String>,
}

impl Props {
    fn take(&mut self, k: &str) -> Option<Value> {
        self.used.insert(k.to_string());
        self.map.get(k).cloned()
    }
    fn string(&mut self, k: &str) -> Option<String> {
        self.take(k).as_ref().and_then(scalar_string)
    }
    fn strings(&mut self, k: &str) -> Option<Vec<String>> {
        self.take(k).map(|v| match v {
            Value::Array(a) => a.iter().filter_map(scalar_string).collect(),
            other => scalar_string(&other).into_iter().collect(),
        })
    }
    fn bool(&mut self, k: &str) -> Option<bool> {
        self.take(k).and_then(|v| match v {
            Value::Bool(b) => Some(b),
            Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
            _ => None,
        })
    }
    fn number(&mut self, k: &str) -> Option<f64> {
        self.take(k).and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    }
    /// Properties without local meaning: accepted, listed as not applied.
    fn no_effect(&mut self, keys: &[&str]) {
        for k in keys {
            if self.map.contains_key(*k) && !self.used.contains(*k) {
                self.used.insert(k.to_string());
                self.ignored.push(k.to_string());
            }
        }
    }
    fn unused(&self) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect()
    }
}

/// One stack's translation.
struct Stackt<'a> {
    src: &'a Source,
    region: &'a str,
    code_dir: &'a Path,
    b: &'a mut Builder,
    /// logical -> index in b.pools
    pools: BTreeMap<String, usize>,
    /// logical -> (index, websocket?) in b.http_apis / b.websocket_apis
    apis: BTreeMap<String, (usize, bool)>,
    /// AWS function name -> config name
    functions: BTreeMap<String, String>,
    /// route logical -> (api logical, index in routes)
    routes: BTreeMap<String, (String, usize)>,
    resources: BTreeMap<String, StackResource>,
}

/// The types handled, in the order they are translated (what others refer to first).
const ORDER: &[&str] = &[
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::UserPoolResourceServer",
    "AWS::Cognito::UserPoolIdentityProvider",
    "AWS::Cognito::UserPoolGroup",
    "AWS::Cognito::UserPoolUser",
    "AWS::Cognito::UserPoolUserToGroupAttachment",
    "AWS::Lambda::Function",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::RouteResponse",
    "AWS::ApiGatewayV2::DomainName",
    "AWS::ApiGatewayV2::ApiMapping",
];

/// Translates one stack's (plain CloudFormation) template into `b`.
pub(crate) fn stack(b: &mut Builder, src: &Source, doc: &Value, opts: &Options<'_>) {
    let at_file = src.file.display().to_string();
    let problem = |b: &mut Builder, at: String, m: String| {
        b.problems.push((format!("{at_file}: {at}"), m));
    };
    let Some(resources) = doc.get("Resources").and_then(Value::as_object) else {
        problem(b, src.stack.clone(), "the template has no Resources".into());
        return;
    };
    if let Some(t) = doc.get("Transform") {
        problem(
            b,
            src.stack.clone(),
            format!("Transform {t} is not supported (only AWS::Serverless-2016-10-31)"),
        );
        return;
    }
    let env = Env {
        region: opts.region.to_string(),
        account: opts.account.to_string(),
        stack_name: src.stack.clone(),
    };
    // Conditions first: resources whose condition is false do not exist.
    let names = Names {
        stack: &src.stack,
        region: opts.region,
        account: opts.account,
        websocket_apis: resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::ApiGatewayV2::Api")
                    && r.pointer("/Properties/ProtocolType")
                        .and_then(Value::as_str)
                        == Some("WEBSOCKET")
            })
            .map(|(k, _)| k.clone())
            .collect(),
    };
    let sections = Sections {
        parameters: doc.get("Parameters"),
        conditions: doc.get("Conditions"),
        mappings: doc.get("Mappings"),
    };
    let empty = Map::new();
    let probe = match Evaluator::new(&env, sections, opts.parameters, &empty, &names) {
        Ok(ev) => ev,
        Err(ps) => {
            for (at, m) in ps {
                problem(b, format!("{}: {at}", src.stack), m);
            }
            return;
        }
    };
    let mut live = Map::new();
    for (logical, r) in resources {
        match r.get("Condition").and_then(Value::as_str) {
            Some(c) => match probe.condition(c) {
                Ok(true) => {
                    live.insert(logical.clone(), r.clone());
                }
                Ok(false) => {}
                Err(e) => problem(b, format!("{}/{logical}", src.stack), e),
            },
            None => {
                live.insert(logical.clone(), r.clone());
            }
        }
    }
    drop(probe);
    let names_set: BTreeSet<String> = live.keys().cloned().collect();
    let deps: BTreeMap<String, BTreeSet<String>> = live
        .iter()
        .map(|(k, r)| (k.clone(), template::dependencies(r, &names_set)))
        .collect();
    for (k, r) in &live {
        if let Some(d) = r.get("DependsOn") {
            let listed: Vec<&str> = match d {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            for l in listed {
                if !resources.contains_key(l) {
                    problem(
                        b,
                        format!("{}/{k}", src.stack),
                        format!("DependsOn {l}, which is not a resource of this template"),
                    );
                }
            }
        }
    }
    if let Some(cycle) = template::find_cycle(&deps) {
        problem(
            b,
            format!("{}/{}", src.stack, cycle[0]),
            format!(
                "circular dependency between resources: {}",
                cycle.join(" -> ")
            ),
        );
        return;
    }
    let sections = Sections {
        parameters: doc.get("Parameters"),
        conditions: doc.get("Conditions"),
        mappings: doc.get("Mappings"),
    };
    let ev = match Evaluator::new(&env, sections, opts.parameters, &live, &names) {
        Ok(ev) => ev,
        Err(_) => return, // reported above
    };

    let mut t = Stackt {
        src,
        region: opts.region,
        code_dir: opts.code_dir,
        b,
        pools: BTreeMap::new(),
        apis: BTreeMap::new(),
        functions: BTreeMap::new(),
        routes: BTreeMap::new(),
        resources: BTreeMap::new(),
    };
    // Function names first: integrations and authorizers find functions by
    // the name in their ARN.
    for (logical, r) in &live {
        if r.get("Type").and_then(Value::as_str) == Some("AWS::Lambda::Function") {
            let props = r.get("Properties").unwrap_or(&Value::Null);
            if let Ok(n) = names.function_name(&ev, logical, props) {
                t.functions.insert(n, config_name(&src.stack, logical));
            }
        }
    }
    let mut ordered: Vec<(&String, &Value)> = live.iter().collect();
    ordered.sort_by_key(|(_, r)| {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or("");
        ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
    });
    for (logical, r) in ordered {
        let kind = r
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let at = format!("{}/{logical} ({kind})", src.stack);
        let raw = r.get("Properties").cloned().unwrap_or(json!({}));
        let props = match ev.eval(&raw) {
            Ok(Some(Value::Object(m))) => m,
            Ok(_) => Map::new(),
            Err(e) => {
                problem(t.b, at, e);
                continue;
            }
        };
        for key in r.as_object().into_iter().flat_map(|m| m.keys()) {
            if !matches!(
                key.as_str(),
                "Type"
                    | "Properties"
                    | "DependsOn"
                    | "Condition"
                    | "Metadata"
                    | "DeletionPolicy"
                    | "UpdateReplacePolicy"
                    | "UpdatePolicy"
                    | "CreationPolicy"
            ) {
                problem(t.b, at.clone(), format!("unknown resource attribute {key}"));
            }
        }
        let mut p = Props {
            map: props,
            used: BTreeSet::new(),
            ignored: Vec::new(),
        };
        let physical = ev
            .eval(&json!({"Ref": logical}))
            .ok()
            .flatten()
            .as_ref()
            .and_then(scalar_string)
            .unwrap_or_default();
        let result = if NOT_APPLIED_TYPES.contains(&kind.as_str()) || kind.starts_with("AWS::IAM::")
        {
            t.b.not_applied
                .push(format!("{}/{logical} ({kind})", src.stack));
            p.used.extend(p.map.keys().cloned());
            Ok(None)
        } else {
            t.resource(logical, &kind, &mut p, r)
        };
        match result {
            Ok(url) => {
                for k in p.unused() {
                    problem(t.b, at.clone(), format!("property {k} is not supported"));
                }
                for k in &p.ignored {
                    t.b.not_applied
                        .push(format!("{}/{logical}.{k} ({kind})", src.stack));
                }
                t.resources.insert(
                    logical.clone(),
                    StackResource {
                        kind: kind.clone(),
                        physical_id: physical,
                        url,
                    },
                );
            }
            Err(m) => problem(t.b, at, m),
        }
    }
    let mut outputs = BTreeMap::new();
    if let Some(outs) = doc.get("Outputs").and_then(Value::as_object) {
        for (name, o) in outs {
            if let Some(c) = o.get("Condition").and_then(Value::as_str) {
                if !ev.condition(c).unwrap_or(false) {
                    continue;
                }
            }
            match o
                .get("Value")
                .ok_or_else(|| "has no Value".to_string())
                .and_then(|v| ev.string(v, "Value"))
            {
                Ok(v) => {
                    outputs.insert(name.clone(), v);
                }
                Err(e) => problem(t.b, format!("{}: Outputs.{name}", src.stack), e),
            }
        }
    }
    let resources = std::mem::take(&mut t.resources);
    t.b.stacks.push(Stack {
        name: src.stack.clone(),
        outputs,
        resources,
    });
}

impl Stackt<'_> {
    fn name(&self, logical: &str) -> String {
        config_name(&self.src.stack, logical)
    }

    /// The pool a `UserPoolId` property names.
    fn pool(&self, p: &mut Props) -> Result<usize, String> {
        let id = p.string("UserPoolId").ok_or("UserPoolId is required")?;
        let name = placeholder_name(&id, "pool")
            .ok_or_else(|| format!("UserPoolId '{id}' is not a user pool of this stack"))?;
        let logical = name
            .strip_prefix(&format!("{}-", self.src.stack))
            .unwrap_or(&name);
        self.pools
            .get(logical)
            .copied()
            .ok_or_else(|| format!("UserPoolId '{id}' is not a user pool of this stack"))
    }

    /// The API an `ApiId` property names: (logical, index, websocket?).
    fn api(&self, p: &mut Props) -> Result<(String, usize, bool), String> {
        let id = p.string("ApiId").ok_or("ApiId is required")?;
        let name = placeholder_name(&id, "apiid")
            .or_else(|| placeholder_name(&id, "wsapiid"))
            .ok_or_else(|| format!("ApiId '{id}' is not an API of this stack"))?;
        let logical = name
            .strip_prefix(&format!("{}-", self.src.stack))
            .unwrap_or(&name)
            .to_string();
        let (i, ws) = self
            .apis
            .get(&logical)
            .copied()
            .ok_or_else(|| format!("ApiId '{id}' is not an API of this stack"))?;
        Ok((logical, i, ws))
    }

    fn api_json(&mut self, index: usize, ws: bool) -> &mut Map<String, Value> {
        let v = if ws {
            &mut self.b.websocket_apis[index]
        } else {
            &mut self.b.http_apis[index]
        };
        v.as_object_mut().expect("APIs are objects")
    }

    /// The config function an ARN (or invocation ARN) names.
    fn function_of(&self, arn: &str) -> Result<String, String> {
        // arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations
        let inner = arn
            .split_once("/functions/")
            .map(|(_, r)| r.trim_end_matches("/invocations"))
            .unwrap_or(arn);
        let name = match inner.split_once(":function:") {
            Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
            None => inner,
        };
        self.functions.get(name).cloned().ok_or_else(|| {
            format!("'{arn}' is not a function of this stack (cognate runs only the functions it is given)")
        })
    }

    /// Translates one resource; the URL it has, if any.
    fn resource(
        &mut self,
        logical: &str,
        kind: &str,
        p: &mut Props,
        raw: &Value,
    ) -> Result<Option<String>, String> {
        match kind {
            "AWS::Cognito::UserPool" => self.user_pool(logical, p),
            "AWS::Cognito::UserPoolClient" => self.client(logical, p),
            "AWS::Cognito::UserPoolDomain" => self.domain(logical, p),
            "AWS::Cognito::UserPoolResourceServer" => self.resource_server(p),
            "AWS::Lambda::Function" => self.function(logical, p, raw),
            "AWS::ApiGatewayV2::Api" => self.http_api(logical, p),
            "AWS::ApiGatewayV2::Stage" => self.stage(p),
            "AWS::ApiGatewayV2::Integration" => self.integration(logical, p),
            "AWS::ApiGatewayV2::Authorizer" => self.authorizer(logical, p),
            "AWS::ApiGatewayV2::Route" => self.route(logical, p),
            "AWS::ApiGatewayV2::RouteResponse" => self.route_response(p),
            "AWS::ApiGatewayV2::DomainName" => {
                p.take("DomainName").ok_or("DomainName is required")?;
                p.no_effect(&[
                    "DomainNameConfigurations",
                    "MutualTlsAuthentication",
                    "Tags",
                    "RoutingMode",
                ]);
                Ok(None)
            }
            "AWS::ApiGatewayV2::ApiMapping" => self.api_mapping(p),
            "AWS::Cognito::UserPoolGroup" => self.group(logical, p),
            "AWS::Cognito::UserPoolIdentityProvider" => self.identity_provider(p),
            "AWS::Cognito::UserPoolUser" => self.user(logical, p),
            "AWS::Cognito::UserPoolUserToGroupAttachment" => self.attachment(p),
            other => Err(format!("resource type {other} is not supported")),
        }
    }
}

fn throttle(v: &Value) -> Option<Value> {
    let rate = v.get("ThrottlingRateLimit").and_then(Value::as_f64)?;
    let burst = v.get("ThrottlingBurstLimit").and_then(Value::as_u64)?;
    Some(json!({"rate": rate, "burst": burst}))
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    }
}
