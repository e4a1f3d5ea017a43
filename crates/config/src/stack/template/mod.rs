//! CloudFormation's evaluation: parameters (with `--parameter-overrides`),
//! conditions, mappings, pseudo parameters and the intrinsic functions,
//! over a template already in long form (yaml.rs).
//!
//! Values of a stack's own resources that exist only once cognate has
//! started (pool ids, client ids, API ids) come out as placeholders
//! (`${pool.NAME}`, `${client.POOL.NAME}`, `${apiid.NAME}`): the
//! translator decides them (the [`Attributes`] it passes in) and the server
//! fills them in, as it does for a TOML file's placeholders.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde_json::{Map, Value};

/// The stack-wide values of the pseudo parameters.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub region: String,
    pub account: String,
    pub stack_name: String,
}

/// How a template's resources answer `Ref` (`attr` None) and `Fn::GetAtt`.
pub(crate) trait Attributes {
    fn attribute(
        &self,
        ev: &Evaluator<'_>,
        logical: &str,
        kind: &str,
        properties: &Value,
        attr: Option<&str>,
    ) -> Result<Value, String>;
}

pub(crate) struct Evaluator<'a> {
    pub env: &'a Env,
    params: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    mappings: Map<String, Value>,
    /// The resources whose condition holds.
    resources: &'a Map<String, Value>,
    attributes: &'a dyn Attributes,
    /// Resources whose Ref/GetAtt is being computed (a guard: a name
    /// property that refers back to its own resource).
    visiting: RefCell<Vec<String>>,
}

/// The sections of a template the evaluator reads.
pub(crate) struct Sections<'a> {
    pub parameters: Option<&'a Value>,
    pub conditions: Option<&'a Value>,
    pub mappings: Option<&'a Value>,
}

impl<'a> Evaluator<'a> {
    /// Resolves the parameters (overrides first, then defaults) and the
    /// conditions. Problems come back as (location, message).
    pub(crate) fn new(
        env: &'a Env,
        sections: Sections<'_>,
        overrides: &BTreeMap<String, String>,
        resources: &'a Map<String, Value>,
        attributes: &'a dyn Attributes,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let empty = Map::new();
        let declared = sections
            .parameters
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut params = BTreeMap::new();
        for (name, decl) in declared {
            let at = format!("Parameters.{name}");
            let kind = decl.get("Type").and_then(Value::as_str).unwrap_or("String");
            let raw = match overrides.get(name) {
                Some(v) => Some(v.clone()),
                None => decl.get("Default").map(|d| match d {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            };
            let Some(raw) = raw else {
                problems.push((
                    at,
                    "has no Default and no value was given (--parameter-overrides NAME=VALUE)"
                        .to_string(),
                ));
                continue;
            };
            if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_array) {
                let ok = allowed.iter().any(|a| match a {
                    Value::String(s) => *s == raw,
                    other => scalar_string(other).as_deref() == Some(raw.as_str()),
                });
                if !ok {
                    problems.push((
                        at.clone(),
                        format!("'{raw}' is not one of its AllowedValues"),
                    ));
                }
            }
            let value = if kind.starts_with("List<") || kind == "CommaDelimitedList" {
                Value::Array(
                    raw.split(',')
                        .map(|s| Value::from(s.trim().to_string()))
                        .collect(),
                )
            } else {
                if kind == "Number" && raw.trim().parse::<f64>().is_err() {
                    problems.push((at.clone(), format!("'{raw}' is not a Number")));
                }
                Value::from(raw)
            };
            params.insert(name.clone(), value);
        }
        for name in overrides.keys() {
            if !declared.contains_key(name) {
                problems.push((
                    format!("--parameter-overrides {name}"),
                    "the template has no parameter of that name".to_string(),
                ));
            }
        }
        let mut ev = Evaluator {
            env,
            params,
            conditions: BTreeMap::new(),
            mappings: sections
                .mappings
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            resources,
            attributes,
            visiting: RefCell::new(Vec::new()),
        };
        if let Some(conds) = sections.conditions.and_then(Value::as_object) {
            for name in conds.keys() {
                let mut stack = Vec::new();
                if let Err(e) = ev.condition_named(conds, name, &mut stack) {
                    problems.push((format!("Conditions.{name}"), e));
                }
            }
        }
        if problems.is_empty() {
            Ok(ev)
        } else {
            Err(problems)
        }
    }

    fn condition_named(
        &mut self,
        conds: &Map<String, Value>,
        name: &str,
        stack: &mut Vec<String>,
    ) -> Result<bool, String> {
        if let Some(b) = self.conditions.get(name) {
            return Ok(*b);
        }
        if stack.iter().any(|s| s == name) {
            return Err(format!("condition {name} refers to itself"));
        }
        let def = conds
            .get(name)
            .ok_or_else(|| format!("no condition named {name}"))?;
        stack.push(name.to_string());
        let b = self.condition_value(conds, def, stack)?;
        stack.pop();
        self.conditions.insert(name.to_string(), b);
        Ok(b)
    }

    fn condition_value(
        &mut self,
        conds: &Map<String, Value>,
        v: &Value,
        stack: &mut Vec<String>,
    ) -> Result<bool, String> {
        let Some((k, arg)) = single_key(v) else {
            return match v {
                Value::Bool(b) => Ok(*b),
                _ => Err(format!("{v} is not a condition")),
            };
        };
        match k {
            "Condition" => {
                let n = arg.as_str().ok_or("Condition takes a condition's name")?;
                self.condition_named(conds, n, stack)
            }
            "Fn::Equals" => {
                let a = args(arg, 2, "Fn::Equals")?;
                let x = self.eval(&a[0])?.unwrap_or(Value::Null);
                let y = self.eval(&a[1])?.unwrap_or(Value::Null);
                Ok(scalar_string(&x) == scalar_string(&y))
            }
            "Fn::Not" => {
                let a = args(arg, 1, "Fn::Not")?;
                Ok(!self.condition_value(conds, &a[0], stack)?)
            }
            "Fn::And" | "Fn::Or" => {
                let list = arg
                    .as_array()
                    .filter(|l| (2..=10).contains(&l.len()))
                    .ok_or_else(|| format!("{k} takes 2 to 10 conditions"))?;
                let mut out = k == "Fn::And";
                for c in list {
                    let b = self.condition_value(conds, c, stack)?;
                    out = if k == "Fn::And" { out && b } else { out || b };
                }
                Ok(out)
            }
            other => Err(format!("{other} cannot be used in a condition")),
        }
    }

    /// Whether the named condition holds.
    pub(crate) fn condition(&self, name: &str) -> Result<bool, String> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| format!("no condition named {name}"))
    }

    /// Evaluates a value; `None` is `AWS::NoValue` (the property is left out).
    pub(crate) fn eval(&self, v: &Value) -> Result<Option<Value>, String> {
        if let Some((k, arg)) = single_key(v) {
            match k {
                "Ref" => return self.reference(arg),
                "Fn::GetAtt" => return self.get_att(arg).map(Some),
                "Fn::Sub" => return self.sub(arg).map(|s| Some(Value::String(s))),
                "Fn::Join" => {
                    let a = args(arg, 2, "Fn::Join")?;
                    let delim = self.string(&a[0], "Fn::Join's delimiter")?;
                    let items = self.list(&a[1], "Fn::Join")?;
                    let parts = items
                        .iter()
                        .map(|i| {
                            scalar_string(i).ok_or_else(|| {
                                format!("Fn::Join can only join strings, not {i}")
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    return Ok(Some(Value::String(parts.join(&delim))));
                }
                "Fn::Select" => {
                    let a = args(arg, 2, "Fn::Select")?;
                    let index = self.string(&a[0], "Fn::Select's index")?;
                    let index: usize = index
                        .parse()
                        .map_err(|_| format!("Fn::Select's index '{index}' is not a number"))?;
                    let items = self.list(&a[1], "Fn::Select")?;
                    return items.get(index).cloned().map(Some).ok_or_else(|| {
                        format!("Fn::Select: index {index} of a list of {}", items.len())
                    });
                }
                "Fn::Split" => {
                    let a = args(arg, 2, "Fn::Split")?;
                    let delim = self.string(&a[0], "Fn::Split's delimiter")?;
                    let s = self.string(&a[1], "Fn::Split's string")?;
                    if delim.is_empty() {
                        return Err("Fn::Split needs a delimiter".into());
                    }
                    return Ok(Some(Value::Array(
                        s.split(delim.as_str()).map(Value::from).collect(),
                    )));
                }
                "Fn::If" => {
                    let a = args(arg, 3, "Fn::If")?;
                    let name = a[0].as_str().ok_or("Fn::If takes a condition's name first")?;
                    let chosen = if self.condition(name)? { &a[1] } else { &a[2] };
                    return self.eval(chosen);
                }
                "Fn::FindInMap" => {
                    let a = arg
                        .as_array()
                        .filter(|a| a.len() == 3 || a.len() == 4)
                        .ok_or("Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]")?;
                    let map = self.string(&a[0], "Fn::FindInMap's map")?;
                    let top = self.string(&a[1], "Fn::FindInMap's top-level key")?;
                    let second = self.string(&a[2], "Fn::FindInMap's second-level key")?;
                    let found = self
                        .mappings
                        .get(&map)
                        .and_then(|m| m.get(&top))
                        .and_then(|m| m.get(&second))
                        .cloned();
                    return match (found, a.get(3)) {
                        (Some(v), _) => Ok(Some(v)),
                        (None, Some(d)) => {
                            let d = d.get("DefaultValue").unwrap_or(d);
                            self.eval(d)
                        }
                        (None, None) => Err(format!(
                            "Fn::FindInMap: mapping {map} has no {top}.{second}"
                        )),
                    };
                }
                "Fn::GetAZs" => {
                    let region = self.string(arg, "Fn::GetAZs's region")?;
                    let region = if region.is_empty() {
                        self.env.region.clone()
                    } else {
                        region
                    };
                    return Ok(Some(Value::Array(
                        ["a", "b", "c"]
                            .iter()
                            .map(|z| Value::from(format!("{region}{z}")))
                            .collect(),
                    )));
                }
                "Fn::Base64" => {
                    let s = self.string(arg, "Fn::Base64")?;
                    return Ok(Some(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(s),
                    )));
                }
                "Fn::ToJsonString" => {
                    let v = self.eval(arg)?.unwrap_or(Value::Null);
                    return Ok(Some(Value::String(v.to_string())));
                }
                "Fn::Length" => {
                    let items = self.list(arg, "Fn::Length")?;
                    return Ok(Some(Value::from(items.len())));
                }
                "Fn::ImportValue" => {
                    return Err("Fn::ImportValue reads another deployed stack's exports, which do not exist locally; pass the value as a parameter instead".into())
                }
                other if other.starts_with("Fn::") => {
                    return Err(format!("{other} is not supported"))
                }
                _ => {}
            }
        }
        Ok(Some(match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    if let Some(e) = self.eval(v)? {
                        out.insert(k.clone(), e);
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    if let Some(e) = self.eval(i)? {
                        out.push(e);
                    }
                }
                Value::Array(out)
            }
            other => other.clone(),
        }))
    }

    /// Evaluates to a string (numbers and booleans are written out).
    pub(crate) fn string(&self, v: &Value, what: &str) -> Result<String, String> {
        let e = self.eval(v)?.unwrap_or(Value::Null);
        scalar_string(&e).ok_or_else(|| format!("{what} must be a string, not {e}"))
    }

    fn list(&self, v: &Value, what: &str) -> Result<Vec<Value>, String> {
        match self.eval(v)? {
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(format!("{what} needs a list, not {other}")),
            None => Ok(Vec::new()),
        }
    }

    fn reference(&self, arg: &Value) -> Result<Option<Value>, String> {
        let name = arg.as_str().ok_or("Ref takes a name")?;
        if let Some(v) = self.pseudo(name) {
            return Ok(v);
        }
        if let Some(p) = self.params.get(name) {
            return Ok(Some(p.clone()));
        }
        self.resource_attribute(name, None).map(Some)
    }

    fn pseudo(&self, name: &str) -> Option<Option<Value>> {
        let e = self.env;
        Some(Some(Value::from(match name {
            "AWS::Region" => e.region.clone(),
            "AWS::AccountId" => e.account.clone(),
            "AWS::StackName" => e.stack_name.clone(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/cognate",
                e.region, e.account, e.stack_name
            ),
            "AWS::Partition" => "aws".to_string(),
            "AWS::URLSuffix" => "amazonaws.com".to_string(),
            "AWS::NotificationARNs" => return Some(Some(Value::Array(Vec::new()))),
            "AWS::NoValue" => return Some(None),
            _ => return None,
        })))
    }

    fn resource_attribute(&self, logical: &str, attr: Option<&str>) -> Result<Value, String> {
        let Some(resource) = self.resources.get(logical) else {
            return Err(match attr {
                None => format!(
                    "Ref to '{logical}', which is not a parameter, a resource or a pseudo parameter of this template"
                ),
                Some(a) => format!("Fn::GetAtt of '{logical}.{a}': no resource named {logical}"),
            });
        };
        if self.visiting.borrow().iter().any(|v| v == logical) {
            return Err(format!("{logical} refers to itself"));
        }
        self.visiting.borrow_mut().push(logical.to_string());
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
        let props = resource.get("Properties").unwrap_or(&Value::Null);
        let out = self.attributes.attribute(self, logical, kind, props, attr);
        self.visiting.borrow_mut().pop();
        out
    }

    fn get_att(&self, arg: &Value) -> Result<Value, String> {
        let (logical, attr) = match arg {
            Value::String(s) => s
                .split_once('.')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or("Fn::GetAtt takes [Resource, Attribute]")?,
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str()
                    .ok_or("Fn::GetAtt's resource must be a name")?
                    .to_string(),
                self.string(&a[1], "Fn::GetAtt's attribute")?,
            ),
            _ => return Err("Fn::GetAtt takes [Resource, Attribute]".into()),
        };
        self.resource_attribute(&logical, Some(&attr))
    }

    fn sub(&self, arg: &Value) -> Result<String, String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().ok_or("Fn::Sub takes a string first")?,
                Some(
                    a[1].as_object()
                        .ok_or("Fn::Sub's variables must be a map")?,
                ),
            ),
            _ => return Err("Fn::Sub takes a string, or [string, {variables}]".into()),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub: unclosed ${{ in '{text}'"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let name = name.trim();
                let value = if let Some(v) = vars.and_then(|m| m.get(name)) {
                    self.string(v, &format!("Fn::Sub variable {name}"))?
                } else if let Some(v) = self.pseudo(name) {
                    v.as_ref().and_then(scalar_string).unwrap_or_default()
                } else if let Some(p) = self.params.get(name) {
                    match p {
                        Value::Array(items) => items
                            .iter()
                            .filter_map(scalar_string)
                            .collect::<Vec<_>>()
                            .join(","),
                        other => scalar_string(other).unwrap_or_default(),
                    }
                } else if self.resources.contains_key(name) {
                    let v = self.resource_attribute(name, None)?;
                    scalar_string(&v).unwrap_or_default()
                } else if let Some((r, a)) = name
                    .split_once('.')
                    .filter(|(r, _)| self.resources.contains_key(*r))
                {
                    let v = self.resource_attribute(r, Some(a))?;
                    scalar_string(&v).unwrap_or_default()
                } else {
                    return Err(format!(
                        "Fn::Sub: ${{{name}}} is not a parameter, a resource, a resource's attribute or a variable of this Fn::Sub"
                    ));
                };
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn single_key(v: &Value) -> Option<(&str, &Value)> {
    match v {
        Value::Object(m) if m.len() == 1 => m.iter().next().map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

fn args<'v>(arg: &'v Value, n: usize, what: &str) -> Result<&'v [Value], String> {
    match arg {
        Value::Array(a) if a.len() == n => Ok(a),
        _ => Err(format!("{what} takes a list of {n}")),
    }
}

/// A scalar as text, as CloudFormation writes numbers and booleans into strings.
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The resources each resource refers to (Ref, Fn::GetAtt, Fn::Sub
/// variables, DependsOn), among `names`.
pub(crate) fn dependencies(resource: &Value, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(d) = resource.get("DependsOn") {
        match d {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Array(a) => out.extend(a.iter().filter_map(|s| s.as_str().map(String::from))),
            _ => {}
        }
    }
    if let Some(p) = resource.get("Properties") {
        collect(p, names, &mut out);
    }
    out.retain(|n| names.contains(n));
    out
}

fn collect(v: &Value, names: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some((k, arg)) = single_key(v) {
                match (k, arg) {
                    ("Ref", Value::String(s)) => {
                        out.insert(s.clone());
                        return;
                    }
                    ("Fn::GetAtt", Value::Array(a)) => {
                        if let Some(s) = a.first().and_then(Value::as_str) {
                            out.insert(s.to_string());
                        }
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        out.insert(s.split('.').next().unwrap_or("").to_string());
                    }
                    ("Fn::Sub", _) => {
                        let text = match arg {
                            Value::String(s) => Some(s.as_str()),
                            Value::Array(a) => a.first().and_then(Value::as_str),
                            _ => None,
                        };
                        let mut rest = text.unwrap_or("");
                        while let Some(start) = rest.find("${") {
                            let after = &rest[start + 2..];
                            let Some(end) = after.find('}') else { break };
                            let name = &after[..end];
                            if !name.starts_with('!') {
                                let r = name.split('.').next().unwrap_or("").trim();
                                if names.contains(r) {
                                    out.insert(r.to_string());
                                }
                            }
                            rest = &after[end + 1..];
                        }
                    }
                    _ => {}
                }
            }
            for v in m.values() {
                collect(v, names, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect(v, names, out)),
        _ => {}
    }
}

/// A cycle among the resources, as the path that closes it, if there is one.
pub(crate) fn find_cycle(deps: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = deps.keys().map(|k| (k.as_str(), Mark::New)).collect();
    fn visit<'a>(
        n: &'a str,
        deps: &'a BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(n).copied() {
            Some(Mark::Done) | None => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(Mark::New) => {}
        }
        marks.insert(n, Mark::Open);
        path.push(n);
        for d in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, deps, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(n, Mark::Done);
        None
    }
    for k in deps.keys() {
        let mut path = Vec::new();
        if let Some(c) = visit(k, deps, &mut marks, &mut path) {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests;
