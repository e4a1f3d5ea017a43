use super::*;
use serde_json::json;

struct Named;
impl Attributes for Named {
    fn attribute(
        &self,
        _: &Evaluator<'_>,
        logical: &str,
        _: &str,
        _: &Value,
        attr: Option<&str>,
    ) -> Result<Value, String> {
        Ok(Value::from(match attr {
            None => format!("ref-{logical}"),
            Some(a) => format!("{a}-of-{logical}"),
        }))
    }
}

fn env() -> Env {
    Env {
        region: "eu-west-1".into(),
        account: "000000000000".into(),
        stack_name: "S".into(),
    }
}

fn with(template: Value, overrides: &[(&str, &str)], check: impl Fn(&Evaluator<'_>)) {
    let env = env();
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ov = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ev = Evaluator::new(
        &env,
        Sections {
            parameters: template.get("Parameters"),
            conditions: template.get("Conditions"),
            mappings: template.get("Mappings"),
        },
        &ov,
        &resources,
        &Named,
    )
    .unwrap();
    check(&ev);
}

#[test]
fn intrinsics_evaluate_as_cloudformation_does() {
    let t = json!({
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}, "Zones": {"Type": "CommaDelimitedList", "Default": "a,b"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}, "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]}},
        "Mappings": {"Sizes": {"dev": {"Memory": 128}}},
        "Resources": {"Pool": {"Type": "AWS::Cognito::UserPool"}},
    });
    with(t.clone(), &[], |ev| {
        let e = |v: Value| ev.eval(&v).unwrap();
        assert_eq!(
            e(json!({"Fn::Sub": "${Stage}-${AWS::Region}-${Pool}-${Pool.Arn}-${!Literal}"})),
            Some(json!("dev-eu-west-1-ref-Pool-Arn-of-Pool-${Literal}"))
        );
        assert_eq!(
            e(json!({"Fn::Sub": ["${X}/${AWS::AccountId}", {"X": {"Ref": "Stage"}}]})),
            Some(json!("dev/000000000000"))
        );
        assert_eq!(
            e(
                json!({"Fn::Join": ["-", [{"Ref": "Stage"}, 1, {"Fn::Select": [1, {"Ref": "Zones"}]}]]})
            ),
            Some(json!("dev-1-b"))
        );
        assert_eq!(
            e(json!({"Fn::Split": [",", "x,y"]})),
            Some(json!(["x", "y"]))
        );
        assert_eq!(
            e(json!({"Fn::If": ["IsProd", "big", "small"]})),
            Some(json!("small"))
        );
        assert_eq!(
            e(json!({"Fn::If": ["NotProd", {"Ref": "AWS::NoValue"}, 1]})),
            None
        );
        assert_eq!(
            e(json!({"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}]})),
            Some(json!({"B": [1]}))
        );
        assert_eq!(
            e(json!({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]})),
            Some(json!(128))
        );
        assert_eq!(
            e(json!({"Fn::GetAZs": ""})),
            Some(json!(["eu-west-1a", "eu-west-1b", "eu-west-1c"]))
        );
        assert_eq!(e(json!({"Fn::Base64": "hi"})), Some(json!("aGk=")));
        assert_eq!(
            e(json!({"Fn::GetAtt": "Pool.ProviderURL"})),
            Some(json!("ProviderURL-of-Pool"))
        );
        assert_eq!(
            e(json!({"Ref": "AWS::URLSuffix"})),
            Some(json!("amazonaws.com"))
        );
    });
    with(t, &[("Stage", "prod")], |ev| {
        assert!(ev.condition("IsProd").unwrap());
        assert_eq!(
            ev.eval(&json!({"Fn::If": ["IsProd", "big", "small"]}))
                .unwrap(),
            Some(json!("big"))
        );
    });
}

#[test]
fn unknown_names_are_errors_that_say_which() {
    with(json!({"Resources": {}}), &[], |ev| {
        let e = ev.eval(&json!({"Ref": "Nothing"})).unwrap_err();
        assert!(e.contains("Ref to 'Nothing'"), "{e}");
        let e = ev.eval(&json!({"Fn::Sub": "a-${Missing}"})).unwrap_err();
        assert!(e.contains("${Missing}"), "{e}");
        let e = ev.eval(&json!({"Fn::ImportValue": "x"})).unwrap_err();
        assert!(e.contains("ImportValue"), "{e}");
    });
}

#[test]
fn parameters_need_a_value_and_overrides_a_parameter() {
    let env = env();
    let res = Map::new();
    let t = json!({"Parameters": {"Need": {"Type": "String"}, "Pick": {"Type": "String", "Default": "a", "AllowedValues": ["a", "b"]}}});
    let ov = BTreeMap::from([
        ("Pick".to_string(), "c".to_string()),
        ("Other".to_string(), "x".to_string()),
    ]);
    let sections = Sections {
        parameters: t.get("Parameters"),
        conditions: None,
        mappings: None,
    };
    let Err(problems) = Evaluator::new(&env, sections, &ov, &res, &Named) else {
        panic!("accepted")
    };
    let text = format!("{problems:?}");
    assert!(text.contains("Parameters.Need"), "{text}");
    assert!(text.contains("AllowedValues"), "{text}");
    assert!(text.contains("--parameter-overrides Other"), "{text}");
}

#[test]
fn cycles_are_found_with_their_path() {
    let names: BTreeSet<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
    let a = json!({"Properties": {"X": {"Fn::GetAtt": ["B", "Arn"]}}});
    let b = json!({"Properties": {"Y": {"Fn::Sub": "${C.Arn}"}}});
    let c = json!({"DependsOn": "A"});
    let deps = BTreeMap::from([
        ("A".to_string(), dependencies(&a, &names)),
        ("B".to_string(), dependencies(&b, &names)),
        ("C".to_string(), dependencies(&c, &names)),
    ]);
    assert_eq!(find_cycle(&deps).unwrap(), vec!["A", "B", "C", "A"]);
    let deps = BTreeMap::from([("A".to_string(), BTreeSet::new())]);
    assert!(find_cycle(&deps).is_none());
}
