//! Template text -> JSON values: CloudFormation JSON, or YAML with
//! CloudFormation's short forms (`!Ref`, `!GetAtt`, `!Sub`, ...) turned into
//! their long forms (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`), so the rest of
//! the pipeline sees one shape.

use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

/// Parses a template or serverless.yml: JSON when it looks like JSON, YAML
/// otherwise. The error says where.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"));
    }
    let mut doc: Yaml = serde_norway::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    doc.apply_merge()
        .map_err(|e| format!("invalid YAML merge key: {e}"))?;
    to_json(doc)
}

fn to_json(y: Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{f} is not a number JSON can hold"))?
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => return Err(format!("a mapping key must be a scalar, not {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(t.value)?;
            short_form(name, value)?
        }
    })
}

/// `!Name value` -> the intrinsic's long form.
fn short_form(name: &str, value: Value) -> Result<Value, String> {
    let long = match name {
        "Ref" => "Ref",
        "Condition" => "Condition",
        "GetAtt" => {
            // `!GetAtt Resource.Attribute` (the attribute may have dots:
            // `Outputs.Name`), or the sequence form.
            let v = match value {
                Value::String(s) => match s.split_once('.') {
                    Some((r, a)) => Value::Array(vec![Value::from(r), Value::from(a)]),
                    None => return Err(format!("!GetAtt {s}: write Resource.Attribute")),
                },
                other => other,
            };
            return Ok(single("Fn::GetAtt", v));
        }
        "Sub" | "Join" | "Select" | "Split" | "If" | "Equals" | "Not" | "And" | "Or"
        | "FindInMap" | "GetAZs" | "Base64" | "ImportValue" | "Cidr" | "Transform"
        | "ToJsonString" | "Length" => return Ok(single(&format!("Fn::{name}"), value)),
        other => return Err(format!("unknown YAML tag !{other}")),
    };
    Ok(single(long, value))
}

fn single(key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), value);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse(
            "A: !Ref Pool\nB: !GetAtt Fn.Arn\nC: !Sub 'x-${AWS::Region}'\nD: !Join ['', [a, !Ref P]]\nE: !If [Cond, 1, 2]\nF: !GetAtt [Api, ApiEndpoint]\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "A": {"Ref": "Pool"},
                "B": {"Fn::GetAtt": ["Fn", "Arn"]},
                "C": {"Fn::Sub": "x-${AWS::Region}"},
                "D": {"Fn::Join": ["", ["a", {"Ref": "P"}]]},
                "E": {"Fn::If": ["Cond", 1, 2]},
                "F": {"Fn::GetAtt": ["Api", "ApiEndpoint"]},
            })
        );
    }

    #[test]
    fn unknown_tags_and_bad_yaml_are_refused() {
        assert!(parse("A: !Nope x\n").unwrap_err().contains("!Nope"));
        assert!(parse("A: [\n").unwrap_err().contains("invalid YAML"));
        assert!(parse("{\"A\": }").unwrap_err().contains("invalid JSON"));
    }

    #[test]
    fn anchors_and_merge_keys_are_expanded() {
        let v = parse("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n").unwrap();
        assert_eq!(v["other"], json!({"x": 1, "y": 2}));
    }
}
