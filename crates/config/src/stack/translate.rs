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

use super::template::{self, scalar_string, Attributes, Env, Evaluator, Sections};
use super::{Stack, StackResource};

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

/// Ref and Fn::GetAtt of each resource type, as AWS answers them, with
/// placeholders for what exists only once cognate runs.
struct Names<'a> {
    stack: &'a str,
    region: &'a str,
    account: &'a str,
    /// Resources whose `ProtocolType` is WEBSOCKET.
    websocket_apis: BTreeSet<String>,
}

impl Names<'_> {
    fn function_name(&self, ev: &Evaluator<'_>, logical: &str, props: &Value) -> Result<String, String> {
        match props.get("FunctionName") {
            Some(n) => ev.string(n, "FunctionName"),
            None => Ok(config_name(self.stack, logical)),
        }
    }
}

impl Attributes for Names<'_> {
    fn attribute(
        &self,
        ev: &Evaluator<'_>,
        logical: &str,
        kind: &str,
        props: &Value,
        attr: Option<&str>,
    ) -> Result<Value, String> {
        let (region, account) = (self.region, self.account);
        let name = config_name(self.stack, logical);
        let pool_of = |ev: &Evaluator<'_>| -> Result<String, String> {
            let id = props
                .get("UserPoolId")
                .ok_or_else(|| format!("{logical} has no UserPoolId"))
                .and_then(|v| ev.string(v, "UserPoolId"))?;
            placeholder_name(&id, "pool")
                .ok_or_else(|| format!("{logical}'s UserPoolId must be a pool of this stack"))
        };
        let s = match (kind, attr) {
            ("AWS::Cognito::UserPool", None | Some("UserPoolId")) => format!("${{pool.{name}}}"),
            ("AWS::Cognito::UserPool", Some("Arn")) => {
                format!("arn:aws:cognito-idp:{region}:{account}:userpool/${{pool.{name}}}")
            }
            ("AWS::Cognito::UserPool", Some("ProviderName")) => {
                format!("cognito-idp.{region}.amazonaws.com/${{pool.{name}}}")
            }
            ("AWS::Cognito::UserPool", Some("ProviderURL")) => {
                format!("https://cognito-idp.{region}.amazonaws.com/${{pool.{name}}}")
            }
            ("AWS::Cognito::UserPoolClient", None | Some("ClientId")) => {
                format!("${{client.{}.{logical}}}", pool_of(ev)?)
            }
            ("AWS::Cognito::UserPoolClient", Some("ClientSecret")) => {
                format!("${{clientsecret.{}.{logical}}}", pool_of(ev)?)
            }
            ("AWS::Cognito::UserPoolClient", Some("Name")) => match props.get("ClientName") {
                Some(n) => ev.string(n, "ClientName")?,
                None => logical.to_string(),
            },
            ("AWS::Cognito::UserPoolDomain", None) => {
                ev.string(props.get("Domain").unwrap_or(&Value::Null), "Domain")?
            }
            ("AWS::Cognito::UserPoolDomain", Some("CloudFrontDistribution")) => {
                "cognate.cloudfront.net".to_string()
            }
            ("AWS::Cognito::UserPoolResourceServer", None) => {
                ev.string(props.get("Identifier").unwrap_or(&Value::Null), "Identifier")?
            }
            ("AWS::Cognito::UserPoolGroup", None) => match props.get("GroupName") {
                Some(n) => ev.string(n, "GroupName")?,
                None => name,
            },
            ("AWS::Cognito::UserPoolUser", None) => match props.get("Username") {
                Some(n) => ev.string(n, "Username")?,
                None => name,
            },
            ("AWS::ApiGatewayV2::Api", None | Some("ApiId")) => {
                if self.websocket_apis.contains(logical) {
                    format!("${{wsapiid.{name}}}")
                } else {
                    format!("${{apiid.{name}}}")
                }
            }
            ("AWS::ApiGatewayV2::Api", Some("ApiEndpoint")) => {
                if self.websocket_apis.contains(logical) {
                    format!("wss://${{wsapiid.{name}}}.execute-api.{region}.amazonaws.com")
                } else {
                    format!("https://${{apiid.{name}}}.execute-api.{region}.amazonaws.com")
                }
            }
            ("AWS::ApiGatewayV2::Stage", None) => ev.string(
                props.get("StageName").unwrap_or(&Value::Null),
                "StageName",
            )?,
            ("AWS::ApiGatewayV2::DomainName", None) => ev.string(
                props.get("DomainName").unwrap_or(&Value::Null),
                "DomainName",
            )?,
            ("AWS::ApiGatewayV2::DomainName", Some("RegionalDomainName")) => {
                format!("d-{}.execute-api.{region}.amazonaws.com", logical.to_lowercase())
            }
            ("AWS::ApiGatewayV2::DomainName", Some("RegionalHostedZoneId")) => {
                "Z1UJRXOUMOOFQ8".to_string()
            }
            (
                "AWS::ApiGatewayV2::Integration"
                | "AWS::ApiGatewayV2::Authorizer"
                | "AWS::ApiGatewayV2::Route"
                | "AWS::ApiGatewayV2::Deployment"
                | "AWS::ApiGatewayV2::RouteResponse"
                | "AWS::ApiGatewayV2::ApiMapping",
                None,
            ) => logical.to_string(),
            ("AWS::ApiGatewayV2::Authorizer", Some("AuthorizerId")) => logical.to_string(),
            ("AWS::ApiGatewayV2::Integration", Some("IntegrationId")) => logical.to_string(),
            ("AWS::ApiGatewayV2::Route", Some("RouteId")) => logical.to_string(),
            ("AWS::Lambda::Function", None) => self.function_name(ev, logical, props)?,
            ("AWS::Lambda::Function", Some("Arn")) => format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                self.function_name(ev, logical, props)?
            ),
            (k, None) if k.starts_with("AWS::IAM::") => name,
            (k, Some("Arn")) if k.starts_with("AWS::IAM::") => {
                format!("arn:aws:iam::{account}:role/{name}")
            }
            ("AWS::Logs::LogGroup", Some("Arn")) => {
                format!("arn:aws:logs:{region}:{account}:log-group:{name}:*")
            }
            (_, None) => name,
            (_, Some("Arn")) => format!("arn:aws:cloudformation:{region}:{account}:{name}"),
            (k, Some(a)) => {
                return Err(format!("{logical} ({k}) has no attribute {a} that cognate knows"))
            }
        };
        Ok(Value::String(s))
    }
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
                    && r.pointer("/Properties/ProtocolType").and_then(Value::as_str)
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
            format!("circular dependency between resources: {}", cycle.join(" -> ")),
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
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or("").to_string();
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
                    problem(
                        t.b,
                        at.clone(),
                        format!("property {k} is not supported"),
                    );
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
                p.no_effect(&["DomainNameConfigurations", "MutualTlsAuthentication", "Tags", "RoutingMode"]);
                Ok(None)
            }
            "AWS::ApiGatewayV2::ApiMapping" => self.api_mapping(p),
            "AWS::Cognito::UserPoolGroup" => self.group(logical, p),
            "AWS::Cognito::UserPoolUser" => self.user(logical, p),
            "AWS::Cognito::UserPoolUserToGroupAttachment" => self.attachment(p),
            other => Err(format!("resource type {other} is not supported")),
        }
    }

    fn user_pool(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let name = self.name(logical);
        let mut pool = json!({"name": name, "issuer": "aws"});
        let o = pool.as_object_mut().expect("object");
        if let Some(n) = p.string("UserPoolName") {
            o.insert("display_name".into(), json!(n));
        }
        if let Some(policies) = p.take("Policies") {
            let pp = policies.get("PasswordPolicy").cloned().unwrap_or(json!({}));
            let mut out = Map::new();
            for (k, key) in [
                ("MinimumLength", "minimum_length"),
                ("TemporaryPasswordValidityDays", "temporary_password_validity_days"),
            ] {
                if let Some(n) = pp.get(k).and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }) {
                    out.insert(key.into(), json!(n));
                }
            }
            for (k, key) in [
                ("RequireUppercase", "require_uppercase"),
                ("RequireLowercase", "require_lowercase"),
                ("RequireNumbers", "require_numbers"),
                ("RequireSymbols", "require_symbols"),
            ] {
                if let Some(b) = pp.get(k).and_then(as_bool) {
                    out.insert(key.into(), json!(b));
                }
            }
            for k in pp.as_object().into_iter().flat_map(|m| m.keys()) {
                if !matches!(
                    k.as_str(),
                    "MinimumLength"
                        | "TemporaryPasswordValidityDays"
                        | "RequireUppercase"
                        | "RequireLowercase"
                        | "RequireNumbers"
                        | "RequireSymbols"
                ) {
                    return Err(format!("property Policies.PasswordPolicy.{k} is not supported"));
                }
            }
            for k in policies.as_object().into_iter().flat_map(|m| m.keys()) {
                if k != "PasswordPolicy" {
                    return Err(format!("property Policies.{k} is not supported"));
                }
            }
            o.insert("password_policy".into(), Value::Object(out));
        }
        for (k, key) in [
            ("UsernameAttributes", "username_attributes"),
            ("AliasAttributes", "alias_attributes"),
            ("AutoVerifiedAttributes", "auto_verified_attributes"),
        ] {
            if let Some(v) = p.strings(k) {
                o.insert(key.into(), json!(v));
            }
        }
        if let Some(c) = p.take("AdminCreateUserConfig") {
            if let Some(b) = c.get("AllowAdminCreateUserOnly").and_then(as_bool) {
                o.insert("allow_admin_create_user_only".into(), json!(b));
            }
            for k in c.as_object().into_iter().flat_map(|m| m.keys()) {
                if !matches!(
                    k.as_str(),
                    "AllowAdminCreateUserOnly" | "InviteMessageTemplate" | "UnusedAccountValidityDays"
                ) {
                    return Err(format!("property AdminCreateUserConfig.{k} is not supported"));
                }
            }
        }
        if let Some(c) = p.take("UsernameConfiguration") {
            if let Some(b) = c.get("CaseSensitive").and_then(as_bool) {
                o.insert("username_case_sensitive".into(), json!(b));
            }
        }
        if let Some(schema) = p.take("Schema") {
            let mut required = Vec::new();
            let mut custom = Vec::new();
            for a in schema.as_array().into_iter().flatten() {
                let Some(n) = a.get("Name").and_then(Value::as_str) else {
                    return Err("every Schema attribute needs a Name".into());
                };
                let standard = n == "sub" || crate::rules::STANDARD_ATTRIBUTES.contains(&n);
                if standard {
                    if a.get("Required").and_then(as_bool) == Some(true) {
                        required.push(n.to_string());
                    }
                } else {
                    let data_type = a
                        .get("AttributeDataType")
                        .and_then(Value::as_str)
                        .unwrap_or("String");
                    let mutable = a.get("Mutable").and_then(as_bool).unwrap_or(true);
                    custom.push(json!({"name": n.trim_start_matches("custom:"), "data_type": data_type, "mutable": mutable}));
                }
            }
            o.insert("required_attributes".into(), json!(required));
            o.insert("custom_attributes".into(), json!(custom));
        }
        if let Some(m) = p.string("MfaConfiguration") {
            o.insert("mfa".into(), json!(m));
        }
        if let Some(d) = p.string("DeletionProtection") {
            o.insert("deletion_protection".into(), json!(d == "ACTIVE"));
        }
        if let Some(lc) = p.take("LambdaConfig") {
            if lc.as_object().is_some_and(|m| !m.is_empty()) {
                return Err("property LambdaConfig (Cognito triggers) is not supported yet".into());
            }
        }
        p.no_effect(&[
            "AccountRecoverySetting",
            "EmailConfiguration",
            "SmsConfiguration",
            "VerificationMessageTemplate",
            "EmailVerificationMessage",
            "EmailVerificationSubject",
            "SmsVerificationMessage",
            "SmsAuthenticationMessage",
            "EmailAuthenticationMessage",
            "EmailAuthenticationSubject",
            "UserPoolTags",
            "UserAttributeUpdateSettings",
            "DeviceConfiguration",
            "UserPoolAddOns",
            "UserPoolTier",
            "EnabledMfas",
            "SmsConfiguration",
            "WebAuthnRelyingPartyID",
            "WebAuthnUserVerification",
        ]);
        self.pools.insert(logical.to_string(), self.b.pools.len());
        self.b.pools.push(pool);
        Ok(Some(format!("${{cognito}}/${{pool.{name}}}")))
    }

    fn client(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let mut c = Map::new();
        c.insert("name".into(), json!(logical));
        if let Some(b) = p.bool("GenerateSecret") {
            c.insert("generate_secret".into(), json!(b));
        }
        if let Some(f) = p.strings("ExplicitAuthFlows") {
            c.insert("explicit_auth_flows".into(), json!(f));
        }
        let oauth_on = p.bool("AllowedOAuthFlowsUserPoolClient").unwrap_or(false);
        let flows = p.strings("AllowedOAuthFlows").unwrap_or_default();
        let scopes = p.strings("AllowedOAuthScopes").unwrap_or_default();
        if oauth_on {
            c.insert("allowed_oauth_flows".into(), json!(flows));
            c.insert("allowed_oauth_scopes".into(), json!(scopes));
        } else if !flows.is_empty() {
            self.b.not_applied.push(format!(
                "{}/{logical}.AllowedOAuthFlows (AllowedOAuthFlowsUserPoolClient is false)",
                self.src.stack
            ));
        }
        for (k, key) in [("CallbackURLs", "callback_urls"), ("LogoutURLs", "logout_urls")] {
            if let Some(v) = p.strings(k) {
                c.insert(key.into(), json!(v));
            }
        }
        if let Some(d) = p.string("DefaultRedirectURI") {
            c.insert("default_redirect_uri".into(), json!(d));
        }
        for (k, key) in [("ReadAttributes", "read_attributes"), ("WriteAttributes", "write_attributes")] {
            if let Some(v) = p.strings(k) {
                c.insert(key.into(), json!(v));
            }
        }
        let units = p.take("TokenValidityUnits").unwrap_or(json!({}));
        for (k, unit_key, default_unit, key) in [
            ("AccessTokenValidity", "AccessToken", "hours", "access_token_validity"),
            ("IdTokenValidity", "IdToken", "hours", "id_token_validity"),
            ("RefreshTokenValidity", "RefreshToken", "days", "refresh_token_validity"),
        ] {
            if let Some(n) = p.number(k) {
                let unit = units.get(unit_key).and_then(Value::as_str).unwrap_or(default_unit);
                let suffix = match unit {
                    "seconds" => "s",
                    "minutes" => "m",
                    "hours" => "h",
                    "days" => "d",
                    other => return Err(format!("TokenValidityUnits.{unit_key} '{other}' is not seconds, minutes, hours or days")),
                };
                c.insert(key.into(), json!(format!("{}{suffix}", n as u64)));
            }
        }
        if let Some(v) = p.string("PreventUserExistenceErrors") {
            c.insert("prevent_user_existence_errors".into(), json!(v));
        }
        if let Some(b) = p.bool("EnableTokenRevocation") {
            c.insert("enable_token_revocation".into(), json!(b));
        }
        if let Some(n) = p.number("AuthSessionValidity") {
            c.insert("auth_session_validity_minutes".into(), json!(n as u64));
        }
        if let Some(r) = p.take("RefreshTokenRotation") {
            let enabled = r.get("Feature").and_then(Value::as_str) == Some("ENABLED");
            let grace = r
                .get("RetryGracePeriodSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            c.insert(
                "refresh_token_rotation".into(),
                json!({"enabled": enabled, "retry_grace_period_seconds": grace}),
            );
        }
        if let Some(idps) = p.strings("SupportedIdentityProviders") {
            if let Some(other) = idps.iter().find(|i| *i != "COGNITO") {
                return Err(format!(
                    "SupportedIdentityProviders: '{other}': federated identity providers are not supported yet"
                ));
            }
        }
        p.no_effect(&[
            "ClientName",
            "EnablePropagateAdditionalUserContextData",
            "AnalyticsConfiguration",
        ]);
        let pool_json = self.b.pools[pool].as_object_mut().expect("object");
        let clients = pool_json
            .entry("clients")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array");
        clients.push(Value::Object(c));
        Ok(None)
    }

    fn domain(&mut self, _logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let domain = p.string("Domain").ok_or("Domain is required")?;
        let mut d = Map::new();
        if p.take("CustomDomainConfig").is_some() || domain.contains('.') {
            let prefix: String = domain
                .split('.')
                .next()
                .unwrap_or("auth")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            d.insert("prefix".into(), json!(prefix.to_lowercase()));
            d.insert("custom_domains".into(), json!([domain]));
        } else {
            d.insert("prefix".into(), json!(domain));
        }
        p.no_effect(&["ManagedLoginVersion"]);
        let pool_json = self.b.pools[pool].as_object_mut().expect("object");
        if pool_json.contains_key("domain") {
            return Err("the pool already has a domain".into());
        }
        let pool_name = pool_json["name"].as_str().unwrap_or("").to_string();
        pool_json.insert("domain".into(), Value::Object(d));
        Ok(Some(format!("${{domain.{pool_name}}}")))
    }

    fn resource_server(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let identifier = p.string("Identifier").ok_or("Identifier is required")?;
        let name = p.string("Name").unwrap_or_else(|| identifier.clone());
        let scopes: Vec<Value> = p
            .take("Scopes")
            .and_then(|s| s.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|s| {
                json!({
                    "name": s.get("ScopeName").and_then(Value::as_str).unwrap_or(""),
                    "description": s.get("ScopeDescription").and_then(Value::as_str).unwrap_or(""),
                })
            })
            .collect();
        let pool_json = self.b.pools[pool].as_object_mut().expect("object");
        pool_json
            .entry("resource_servers")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!({"identifier": identifier, "name": name, "scopes": scopes}));
        Ok(None)
    }

    fn pool_list(&mut self, pool: usize, key: &str) -> &mut Vec<Value> {
        self.b.pools[pool]
            .as_object_mut()
            .expect("object")
            .entry(key)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
    }

    fn group(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let name = p.string("GroupName").unwrap_or_else(|| self.name(logical));
        let mut g = json!({"name": name});
        if let Some(d) = p.string("Description") {
            g["description"] = json!(d);
        }
        if let Some(n) = p.number("Precedence") {
            g["precedence"] = json!(n as i64);
        }
        if let Some(r) = p.string("RoleArn") {
            g["role_arn"] = json!(r);
        }
        self.pool_list(pool, "groups").push(g);
        Ok(None)
    }

    fn user(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let username = p.string("Username").unwrap_or_else(|| self.name(logical).to_lowercase());
        let mut attributes = Map::new();
        for a in p.take("UserAttributes").and_then(|v| v.as_array().cloned()).unwrap_or_default() {
            let (Some(n), Some(v)) = (a.get("Name").and_then(Value::as_str), a.get("Value").and_then(scalar_string)) else {
                return Err("every UserAttributes entry needs a Name and a Value".into());
            };
            attributes.insert(n.to_string(), json!(v));
        }
        let suppress = match p.string("MessageAction").as_deref() {
            None => false,
            Some("SUPPRESS") => true,
            Some(other) => return Err(format!("MessageAction {other} is not supported (SUPPRESS is; RESEND has no meaning at creation)")),
        };
        p.no_effect(&["DesiredDeliveryMediums", "ForceAliasCreation", "ClientMetadata", "ValidationData"]);
        self.pool_list(pool, "users").push(json!({
            "username": username, "attributes": attributes, "suppress_message": suppress,
        }));
        Ok(None)
    }

    fn attachment(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let pool = self.pool(p)?;
        let group = p.string("GroupName").ok_or("GroupName is required")?;
        let username = p.string("Username").ok_or("Username is required")?;
        let users = self.pool_list(pool, "users");
        let Some(user) = users.iter_mut().find(|u| u["username"] == json!(username)) else {
            return Err(format!("Username '{username}' is not an AWS::Cognito::UserPoolUser of this stack"));
        };
        user.as_object_mut()
            .expect("object")
            .entry("groups")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(group));
        Ok(None)
    }

    fn function(&mut self, logical: &str, p: &mut Props, raw: &Value) -> Result<Option<String>, String> {
        let name = self.name(logical);
        let runtime = p.string("Runtime").ok_or("Runtime is required (container images are not supported)")?;
        let kind = if runtime.starts_with("nodejs") {
            "nodejs"
        } else if runtime.starts_with("python") {
            "python"
        } else if runtime.starts_with("provided") {
            "provided"
        } else {
            return Err(format!(
                "runtime {runtime} is not supported (Node.js, Python and custom runtimes are)"
            ));
        };
        let handler = p.string("Handler");
        let code = p.take("Code").ok_or("Code is required")?;
        let dir = if let Some(zip) = code.get("ZipFile") {
            let text = scalar_string(zip).ok_or("Code.ZipFile must be text")?;
            let dir = self.b_code_dir(&name);
            let module = handler
                .as_deref()
                .and_then(|h| h.rsplit_once('.'))
                .map(|(m, _)| m.to_string())
                .unwrap_or_else(|| "index".to_string());
            let file = match kind {
                "python" => format!("{module}.py"),
                _ => format!("{module}.js"),
            };
            self.b.inline_files.push((dir.join(file), text));
            dir
        } else if let Some(path) = raw
            .pointer("/Metadata/aws:asset:path")
            .and_then(Value::as_str)
        {
            let base = self.src.assets_dir.as_deref().unwrap_or(&self.src.base_dir);
            let dir = base.join(path);
            if !dir.is_dir() {
                return Err(format!(
                    "asset {} is not a folder (zip-file assets are not supported; synthesize again)",
                    dir.display()
                ));
            }
            dir
        } else if let Some(dir) = code
            .get("S3Key")
            .and_then(Value::as_str)
            .and_then(|k| self.src.assets.get(k))
        {
            if !dir.is_dir() {
                return Err(format!(
                    "asset {} is not a folder (zip-file assets are not supported; synthesize again)",
                    dir.display()
                ));
            }
            dir.clone()
        } else if let Some(local) = code.get("LocalPath").and_then(Value::as_str) {
            // Written by the SAM and serverless expansions: a folder on disk.
            PathBuf::from(local)
        } else {
            return Err(
                "Code must be inline (ZipFile), a CDK asset folder or a local CodeUri: code in S3 cannot be fetched"
                    .into(),
            );
        };
        let mut f = Map::new();
        f.insert("name".into(), json!(name));
        f.insert("runtime".into(), json!(kind));
        if let Some(h) = handler {
            f.insert("handler".into(), json!(h));
        }
        f.insert("code".into(), json!(dir.display().to_string()));
        if let Some(t) = p.number("Timeout") {
            f.insert("timeout_seconds".into(), json!(t as u64));
        }
        if let Some(c) = p.number("ReservedConcurrentExecutions") {
            if c >= 1.0 {
                f.insert("concurrency".into(), json!(c as u64));
            }
        }
        let mut env = Map::new();
        if let Some(e) = p.take("Environment") {
            let vars = e.get("Variables").cloned().unwrap_or(json!({}));
            for (k, v) in vars.as_object().into_iter().flatten() {
                env.insert(k.clone(), json!(scalar_string(v).unwrap_or_default()));
            }
        }
        // MemorySize is reported to the function as Lambda reports it
        // (context.memoryLimitInMB); it is not enforced.
        if let Some(m) = p.number("MemorySize") {
            env.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), json!((m as u64).to_string()));
        }
        if !env.is_empty() {
            f.insert("environment".into(), Value::Object(env));
        }
        if let Some(layers) = p.take("Layers") {
            if layers.as_array().is_some_and(|l| !l.is_empty()) {
                return Err("property Layers is not supported: put the layer's code in the function's folder".into());
            }
        }
        if let Some(pt) = p.string("PackageType") {
            if pt != "Zip" {
                return Err(format!("PackageType {pt} is not supported"));
            }
        }
        p.no_effect(&[
            "FunctionName",
            "Role",
            "Architectures",
            "Description",
            "Tags",
            "LoggingConfig",
            "TracingConfig",
            "VpcConfig",
            "EphemeralStorage",
            "DeadLetterConfig",
            "KmsKeyArn",
            "SnapStart",
            "RuntimeManagementConfig",
            "CodeSigningConfigArn",
            "RecursiveLoop",
        ]);
        self.b.functions.push(Value::Object(f));
        Ok(None)
    }

    fn b_code_dir(&self, name: &str) -> PathBuf {
        self.code_dir.join(name)
    }

    fn http_api(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
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
                return Err(format!("property {k} is not supported (routes must be resources of the template)"));
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

    fn stage(&mut self, p: &mut Props) -> Result<Option<String>, String> {
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
        let stages = api.get_mut("stages").and_then(Value::as_array_mut).expect("stages");
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

    fn integration(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let (_, i, ws) = self.api(p)?;
        let kind = p.string("IntegrationType").ok_or("IntegrationType is required")?;
        let uri = p.string("IntegrationUri");
        let mut out = Map::new();
        match kind.as_str() {
            "AWS_PROXY" => {
                let uri = uri.ok_or("IntegrationUri is required")?;
                out.insert("type".into(), json!("lambda"));
                out.insert("function".into(), json!(self.function_of(&uri)?));
                if !ws {
                    let v = p.string("PayloadFormatVersion").unwrap_or_else(|| "2.0".into());
                    out.insert("payload_format_version".into(), json!(v));
                }
            }
            "HTTP_PROXY" | "HTTP" if !ws || kind == "HTTP_PROXY" => {
                let uri = uri.ok_or("IntegrationUri is required")?;
                if !uri.starts_with("http://") && !uri.starts_with("https://") {
                    return Err(format!("IntegrationUri '{uri}' is not a URL (VPC links are not supported)"));
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
                    return Err("IntegrationType HTTP is not supported for HTTP APIs; use HTTP_PROXY".into());
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
        p.no_effect(&["Description", "CredentialsArn", "PayloadFormatVersion", "IntegrationMethod", "ContentHandlingStrategy", "PassthroughBehavior"]);
        let api = self.api_json(i, ws);
        api.get_mut("integrations")
            .and_then(Value::as_object_mut)
            .expect("integrations")
            .insert(logical.to_string(), Value::Object(out));
        Ok(None)
    }

    fn authorizer(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
        let (_, i, ws) = self.api(p)?;
        let kind = p.string("AuthorizerType").ok_or("AuthorizerType is required")?;
        let mut out = Map::new();
        let sources = p.strings("IdentitySource").unwrap_or_default();
        match kind.as_str() {
            "JWT" if !ws => {
                out.insert("type".into(), json!("jwt"));
                let jwt = p.take("JwtConfiguration").ok_or("JwtConfiguration is required")?;
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
                match issuer.strip_prefix(&cognito).and_then(|r| placeholder_name(r, "pool")) {
                    Some(pool) => {
                        out.insert("user_pool".into(), json!(pool));
                        // Clients of the pool by their names in the pool.
                        let aud: Vec<String> = audience
                            .iter()
                            .map(|a| match a.strip_prefix("${client.").and_then(|r| r.strip_suffix('}')) {
                                Some(rest) => rest.rsplit('.').next().unwrap_or(rest).to_string(),
                                None => a.clone(),
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
                let uri = p.string("AuthorizerUri").ok_or("AuthorizerUri is required")?;
                out.insert("function".into(), json!(self.function_of(&uri)?));
                if !sources.is_empty() {
                    out.insert("identity_sources".into(), json!(sources));
                }
                if let Some(t) = p.number("AuthorizerResultTtlInSeconds") {
                    out.insert("ttl_seconds".into(), json!(t as u64));
                }
                if !ws {
                    let v = p
                        .string("AuthorizerPayloadFormatVersion")
                        .ok_or("AuthorizerPayloadFormatVersion is required for REQUEST authorizers")?;
                    out.insert("payload_format_version".into(), json!(v));
                    if let Some(b) = p.bool("EnableSimpleResponses") {
                        out.insert("simple_responses".into(), json!(b));
                    }
                }
            }
            other => return Err(format!("AuthorizerType {other} is not supported here")),
        }
        p.no_effect(&["Name", "AuthorizerCredentialsArn", "IdentityValidationExpression"]);
        let api = self.api_json(i, ws);
        api.get_mut("authorizers")
            .and_then(Value::as_object_mut)
            .expect("authorizers")
            .insert(logical.to_string(), Value::Object(out));
        Ok(None)
    }

    fn route(&mut self, logical: &str, p: &mut Props) -> Result<Option<String>, String> {
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
                let id = p.string("AuthorizerId").ok_or("AuthorizerId is required with this AuthorizationType")?;
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
        if p.take("RequestParameters").is_some_and(|r| r.as_object().is_some_and(|m| !m.is_empty())) {
            return Err("property RequestParameters is not supported".into());
        }
        p.no_effect(&["OperationName", "ModelSelectionExpression", "RequestModels", "RouteResponseSelectionExpression"]);
        let api = self.api_json(i, ws);
        let routes = api.get_mut("routes").and_then(Value::as_array_mut).expect("routes");
        let index = routes.len();
        routes.push(Value::Object(out));
        self.routes.insert(logical.to_string(), (api_logical, index));
        Ok(None)
    }

    fn route_response(&mut self, p: &mut Props) -> Result<Option<String>, String> {
        let (api_logical, i, ws) = self.api(p)?;
        let route = p.string("RouteId").ok_or("RouteId is required")?;
        p.string("RouteResponseKey");
        p.no_effect(&["ModelSelectionExpression", "ResponseModels", "ResponseParameters"]);
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

    fn api_mapping(&mut self, p: &mut Props) -> Result<Option<String>, String> {
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


/// AWS addresses of the stacks' own resources -> the placeholders of
/// their local addresses, in every string given.
pub(crate) struct Localizer {
    pairs: Vec<(String, String)>,
}

impl Localizer {
    pub(crate) fn new(b: &Builder, region: &str) -> Self {
        let mut pairs = Vec::new();
        for api in &b.http_apis {
            let n = api["name"].as_str().unwrap_or("");
            pairs.push((
                format!("https://${{apiid.{n}}}.execute-api.{region}.amazonaws.com"),
                format!("${{api.{n}}}"),
            ));
        }
        for api in &b.websocket_apis {
            let n = api["name"].as_str().unwrap_or("");
            pairs.push((
                format!("wss://${{wsapiid.{n}}}.execute-api.{region}.amazonaws.com"),
                format!("${{websocket.{n}}}"),
            ));
            pairs.push((
                format!("https://${{wsapiid.{n}}}.execute-api.{region}.amazonaws.com"),
                format!("${{wshttp.{n}}}"),
            ));
        }
        for pool in &b.pools {
            let n = pool["name"].as_str().unwrap_or("");
            if let Some(prefix) = pool.pointer("/domain/prefix").and_then(Value::as_str) {
                if pool.pointer("/domain/custom_domains").is_none() {
                    pairs.push((
                        format!("https://{prefix}.auth.{region}.amazoncognito.com"),
                        format!("${{domain.{n}}}"),
                    ));
                }
            }
            for d in pool
                .pointer("/domain/custom_domains")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                pairs.push((format!("https://{d}"), format!("${{domain.{n}}}")));
            }
        }
        Localizer { pairs }
    }

    pub(crate) fn apply(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (aws, local) in &self.pairs {
            if out.contains(aws.as_str()) {
                out = out.replace(aws.as_str(), local);
            }
        }
        out
    }

    /// Every string in a JSON value.
    pub(crate) fn apply_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.apply(s),
            Value::Array(a) => a.iter_mut().for_each(|v| self.apply_value(v)),
            Value::Object(m) => m.values_mut().for_each(|v| self.apply_value(v)),
            _ => {}
        }
    }
}
