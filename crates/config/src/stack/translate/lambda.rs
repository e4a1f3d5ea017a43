//! Lambda functions: inline code, CDK assets, local folders.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::{Props, Stackt};
use crate::stack::template::scalar_string;

impl Stackt<'_> {
    pub(super) fn function(
        &mut self,
        logical: &str,
        p: &mut Props,
        raw: &Value,
    ) -> Result<Option<String>, String> {
        let name = self.name(logical);
        let runtime = p
            .string("Runtime")
            .ok_or("Runtime is required (container images are not supported)")?;
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
            env.insert(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                json!((m as u64).to_string()),
            );
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

    pub(super) fn b_code_dir(&self, name: &str) -> PathBuf {
        self.code_dir.join(name)
    }
}
