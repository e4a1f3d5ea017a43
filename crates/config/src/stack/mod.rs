//! Stacks as configuration: a CloudFormation template (JSON or YAML), a
//! SAM template, a `cdk.out` folder or a serverless.yml, read into the same
//! model a TOML file gives.
//!
//! ```text
//! file(s) --(yaml.rs: JSON, or YAML with the short forms)--> JSON value
//!         --(serverless.rs / sam.rs: expanded to plain CloudFormation)
//!         --(template.rs: parameters, conditions, mappings, intrinsics;
//!            translate.rs: resource by resource, refusing what is not supported)
//!         --> the config file's shape --(file::validate)--> Config
//! ```
//!
//! Values known only once cognate runs (pool, client and API ids, listener
//! URLs) are placeholders, filled in by the server like a TOML file's.

mod sam;
mod serverless;
mod template;
mod translate;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::{Config, Problem, Problems};

/// The account id of every stack (AWS's documentation account).
pub const ACCOUNT_ID: &str = "000000000000";

/// What the command line says about the stacks.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// cdk.out: serve only this stack (`--stack`).
    pub stack: Option<String>,
    /// The stack's name for a template file (`--stack-name`); default: the
    /// file's stem.
    pub stack_name: Option<String>,
    /// `--parameter-overrides Key=Value`.
    pub parameters: BTreeMap<String, String>,
    /// Unsupported types and properties are warnings instead of errors.
    pub allow_unsupported: bool,
    /// Inline function code (ZipFile, InlineCode) is written under here.
    pub code_dir: PathBuf,
    /// Region of CloudFormation/SAM templates and cdk.out (serverless.yml has
    /// its own `provider.region`); default us-east-1.
    pub region: Option<String>,
    /// serverless.yml's `${opt:NAME}` (stage, region).
    pub cli_options: BTreeMap<String, String>,
    /// serverless.yml's `${env:NAME}`.
    pub env: BTreeMap<String, String>,
}

/// Stacks read into a config.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub stacks: Vec<Stack>,
    /// `Stack/LogicalId (Type)` or `Stack/LogicalId.Property (Type)`: accepted, no local meaning.
    pub not_applied: Vec<String>,
    /// Unsupported types and properties skipped under `--allow-unsupported`.
    pub warnings: Vec<Problem>,
    /// Inline function code to write before serving: (path, text).
    pub inline_files: Vec<(PathBuf, String)>,
}

/// One stack's outputs and resources, with placeholders.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub outputs: BTreeMap<String, String>,
    pub resources: BTreeMap<String, StackResource>,
}

#[derive(Debug, Clone)]
pub struct StackResource {
    pub kind: String,
    pub physical_id: String,
    /// Where the resource is reached, when it has an address.
    pub url: Option<String>,
}

/// Reads a template, SAM template, serverless.yml or cdk.out folder.
pub fn load(path: &Path, opts: &StackOptions) -> Result<Loaded, Problems> {
    let fail = |location: String, message: String| Problems(vec![Problem { location, message }]);
    let mut b = translate::Builder::default();
    let mut region = opts.region.clone().unwrap_or_else(|| "us-east-1".into());
    let shown = path.display().to_string();
    if path.is_dir() {
        let manifest_path = path.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            fail(
                shown.clone(),
                format!("a folder must be a cdk.out with a manifest.json ({e})"),
            )
        })?;
        let manifest: Value = serde_json::from_str(&text).map_err(|e| {
            fail(
                manifest_path.display().to_string(),
                format!("invalid JSON: {e}"),
            )
        })?;
        let mut found = Vec::new();
        for (id, art) in manifest
            .get("artifacts")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            match art.get("type").and_then(Value::as_str) {
                Some("aws:cloudformation:stack") => {
                    let name = art
                        .pointer("/properties/stackName")
                        .and_then(Value::as_str)
                        .unwrap_or(id)
                        .to_string();
                    let file = art
                        .pointer("/properties/templateFile")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    found.push((id.clone(), name, file));
                }
                Some("cdk:cloud-assembly") => {
                    return Err(fail(
                        shown,
                        format!("nested assemblies (CDK Stages such as {id}) are not supported: serve the stage's folder"),
                    ));
                }
                _ => {}
            }
        }
        if let Some(want) = &opts.stack {
            found.retain(|(id, name, _)| id == want || name == want);
            if found.is_empty() {
                return Err(fail(
                    shown,
                    format!("no stack named {want} in the manifest"),
                ));
            }
        }
        if found.is_empty() {
            return Err(fail(shown, "the manifest has no stacks".into()));
        }
        let assets = cdk_assets(path);
        for (_, name, file) in found {
            let tpath = path.join(&file);
            let doc = read(&tpath)?;
            let src = translate::Source {
                file: tpath.clone(),
                base_dir: path.to_path_buf(),
                assets_dir: Some(path.to_path_buf()),
                assets: assets.clone(),
                stack: name,
            };
            template_stack(&mut b, &src, doc, opts, &region);
        }
    } else {
        let mut doc = read(path)?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let dir = dir.canonicalize().unwrap_or(dir);
        if serverless::looks_like(&doc) {
            let mut options = opts.cli_options.clone();
            if let Some(n) = &opts.stack_name {
                options.insert("stack-name".into(), n.clone());
            }
            let c = serverless::convert(doc, &dir, &options, &opts.env, &mut b.not_applied)
                .map_err(|ps| {
                    Problems(
                        ps.into_iter()
                            .map(|(at, m)| Problem {
                                location: format!("{shown}: {at}"),
                                message: m,
                            })
                            .collect(),
                    )
                })?;
            region = c.region;
            let src = translate::Source {
                file: path.to_path_buf(),
                base_dir: dir,
                assets_dir: None,
                assets: BTreeMap::new(),
                stack: c.stack_name,
            };
            template_stack(&mut b, &src, c.template, opts, &region);
        } else {
            let stack = opts.stack_name.clone().unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "stack".into())
            });
            if !stack.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                || !stack.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                return Err(fail(
                    shown,
                    format!("'{stack}' is not a stack name (letters, digits and '-', starting with a letter): give --stack-name"),
                ));
            }
            if sam::is_sam(&doc) {
                sam::expand(&mut doc, &dir, &mut b.not_applied).map_err(|ps| {
                    Problems(
                        ps.into_iter()
                            .map(|(at, m)| Problem {
                                location: format!("{shown}: {stack}/{at}"),
                                message: m,
                            })
                            .collect(),
                    )
                })?;
            }
            let src = translate::Source {
                file: path.to_path_buf(),
                base_dir: dir,
                assets_dir: None,
                assets: BTreeMap::new(),
                stack,
            };
            template_stack(&mut b, &src, doc, opts, &region);
        }
    }

    // Refusals: unsupported types and properties may be let through.
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (location, message) in std::mem::take(&mut b.problems) {
        let p = Problem { location, message };
        if opts.allow_unsupported && p.message.contains("not supported") {
            warnings.push(p);
        } else {
            errors.push(p);
        }
    }
    if !errors.is_empty() {
        return Err(Problems(errors));
    }

    // AWS addresses of the stacks' resources -> local placeholders.
    let local = translate::Localizer::new(&b, &region);
    for f in &mut b.functions {
        if let Some(env) = f.get_mut("environment") {
            local.apply_value(env);
        }
    }
    for pool in &mut b.pools {
        for c in pool
            .get_mut("clients")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for k in ["callback_urls", "logout_urls", "default_redirect_uri"] {
                if let Some(v) = c.get_mut(k) {
                    local.apply_value(v);
                }
            }
        }
    }
    for api in b.http_apis.iter_mut() {
        for (_, a) in api
            .get_mut("authorizers")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flatten()
        {
            if let Some(i) = a.get_mut("issuer") {
                local.apply_value(i);
            }
        }
    }
    for s in &mut b.stacks {
        for v in s.outputs.values_mut() {
            *v = local.apply(v);
        }
    }

    let file = json!({
        "version": 1,
        "region": region,
        "user_pools": b.pools,
        "functions": b.functions,
        "http_apis": b.http_apis,
        "websocket_apis": b.websocket_apis,
    });
    let parsed: crate::file::File = serde_json::from_value(file).map_err(|e| {
        fail(
            shown.clone(),
            format!("the stacks translate to an invalid config: {e}"),
        )
    })?;
    let config = crate::file::validate(parsed).map_err(|ps| {
        Problems(
            ps.0.into_iter()
                .map(|p| Problem {
                    location: format!("{shown} (as config: {})", p.location),
                    message: p.message,
                })
                .collect(),
        )
    })?;
    Ok(Loaded {
        config,
        stacks: b.stacks,
        not_applied: b.not_applied,
        warnings,
        inline_files: b.inline_files,
    })
}

/// cdk.out's file assets: S3 object key -> the asset's folder, from every
/// `*.assets.json` (`files.{hash}.source.path` and its destinations' `objectKey`).
fn cdk_assets(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".assets.json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for (_, f) in doc
            .get("files")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let Some(src) = f.pointer("/source/path").and_then(Value::as_str) else {
                continue;
            };
            for (_, d) in f
                .get("destinations")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(key) = d.get("objectKey").and_then(Value::as_str) {
                    out.insert(key.to_string(), dir.join(src));
                }
            }
        }
    }
    out
}

fn read(path: &Path) -> Result<Value, Problems> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            location: shown.clone(),
            message: format!("cannot read it: {e}"),
        }])
    })?;
    yaml::parse(&text).map_err(|e| {
        Problems(vec![Problem {
            location: shown,
            message: e,
        }])
    })
}

fn template_stack(
    b: &mut translate::Builder,
    src: &translate::Source,
    doc: Value,
    opts: &StackOptions,
    region: &str,
) {
    for k in doc.as_object().into_iter().flat_map(|m| m.keys()) {
        match k.as_str() {
            "AWSTemplateFormatVersion"
            | "Description"
            | "Parameters"
            | "Conditions"
            | "Mappings"
            | "Resources"
            | "Outputs"
            | "Transform" => {}
            "Metadata" | "Rules" => b.not_applied.push(format!("{}: {k}", src.stack)),
            other => b.problems.push((
                format!("{}: {}", src.file.display(), src.stack),
                format!("template section {other} is not supported"),
            )),
        }
    }
    translate::stack(
        b,
        src,
        &doc,
        &translate::Options {
            region,
            account: ACCOUNT_ID,
            parameters: &opts.parameters,
            code_dir: &opts.code_dir.join(&src.stack),
        },
    );
}

#[cfg(test)]
mod tests;
