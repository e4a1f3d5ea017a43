use serde_json::json;

use super::protocol::claim_text;
use super::users::federated_username;
use cognate_store::providers::IdentityProvider;

fn provider(name: &str, kind: &str) -> IdentityProvider {
    IdentityProvider {
        pool_id: "us-east-1_x".into(),
        name: name.into(),
        provider_type: kind.into(),
        details: Default::default(),
        attribute_mapping: Default::default(),
        idp_identifiers: Vec::new(),
        created_ms: 0,
        updated_ms: 0,
    }
}

#[test]
fn federated_usernames_follow_cognito() {
    assert_eq!(
        federated_username(&provider("Google", "Google"), "123"),
        "google_123"
    );
    assert_eq!(
        federated_username(&provider("SignInWithApple", "SignInWithApple"), "0.a"),
        "signinwithapple_0.a"
    );
    assert_eq!(
        federated_username(&provider("Okta", "OIDC"), "00u1"),
        "Okta_00u1"
    );
}

#[test]
fn claims_become_attribute_text() {
    assert_eq!(claim_text(&json!("a")), "a");
    assert_eq!(claim_text(&json!(true)), "true");
    assert_eq!(claim_text(&json!(12)), "12");
    assert_eq!(claim_text(&json!({"a": 1})), "{\"a\":1}");
}
