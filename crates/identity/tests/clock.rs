//! Rules that depend on time, tested by passing the time in: lockout
//! windows, challenge-session validity, temporary-password and code expiry.
//! The JSON API is driven as the server drives it (`Identity::handle_api`).

use cognate_config::{AdminCredentials, Config};
use cognate_identity::messages::Messenger;
use cognate_identity::{crypto, sigv4, srp, Identity};
use serde_json::{json, Value};

const T0: i64 = 1_800_000_000_000;
const PASSWORD: &str = "Corr3ct-Horse!";

struct World {
    id: Identity,
    store: cognate_store::Store,
    pool: String,
    client: String,
    dir: std::path::PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn admin() -> AdminCredentials {
    AdminCredentials {
        access_key_id: "AKIATESTTESTTESTTEST".into(),
        secret_access_key: "s".repeat(40),
    }
}

async fn world() -> World {
    let dir = std::env::temp_dir().join(format!("cognate-clock-{}", uuid::Uuid::new_v4()));
    let store = cognate_store::Store::open_sqlite(&dir).await.unwrap();
    let id = Identity::new(
        store.clone(),
        "us-east-1".into(),
        "http://127.0.0.1:9".into(),
        admin(),
        Messenger::outbox(&dir.join("outbox")),
    );
    let mut config: Config = cognate_config::parse(cognate_config::DEMO_TOML).unwrap();
    cognate_config::resolve_placeholders(
        &mut config,
        &[("api.demo".to_string(), "http://127.0.0.1:8".to_string())]
            .into_iter()
            .collect(),
    );
    let applied = id.apply_config(&config, T0).await.unwrap();
    World {
        pool: applied.outputs["UserPoolId"].clone(),
        client: applied.outputs["UserPoolClientId"].clone(),
        id,
        store,
        dir,
    }
}

impl World {
    /// Calls an operation at time `now` (admin operations are signed).
    async fn call(&self, op: &str, body: Value, now: i64) -> Result<Value, (String, String)> {
        let bytes = serde_json::to_vec(&body).unwrap();
        let target = format!("AWSCognitoIdentityProviderService.{op}");
        let mut headers = vec![
            ("host".to_string(), "127.0.0.1:9".to_string()),
            ("x-amz-target".to_string(), target.clone()),
        ];
        let req = sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &bytes,
        };
        let (date, auth) = sigv4::sign(&req, &admin(), "us-east-1", "cognito-idp", now / 1000);
        headers.push(("x-amz-date".into(), date));
        headers.push(("authorization".into(), auth));
        let req = sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &bytes,
        };
        self.id
            .handle_api(Some(&target), &req, now)
            .await
            .map_err(|e| (e.type_name(), e.message))
    }

    async fn user(&self, name: &str, now: i64) {
        self.call("AdminCreateUser", json!({"UserPoolId": self.pool, "Username": name, "MessageAction": "SUPPRESS",
            "UserAttributes": [{"Name": "email", "Value": format!("{name}@example.com")}, {"Name": "email_verified", "Value": "true"}]}), now)
            .await
            .unwrap();
        self.call("AdminSetUserPassword", json!({"UserPoolId": self.pool, "Username": name, "Password": PASSWORD, "Permanent": true}), now)
            .await
            .unwrap();
    }

    async fn sign_in(
        &self,
        name: &str,
        password: &str,
        now: i64,
    ) -> Result<Value, (String, String)> {
        self.call(
            "InitiateAuth",
            json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": self.client,
            "AuthParameters": {"USERNAME": name, "PASSWORD": password}}),
            now,
        )
        .await
    }
}

#[tokio::test]
async fn lock_lasts_two_to_the_n_minus_five_seconds_and_then_lifts() {
    let w = world().await;
    w.user("alice", T0).await;
    for i in 0..5 {
        assert_eq!(
            w.sign_in("alice", "Wrong-1!", T0 + i).await.unwrap_err().1,
            "Incorrect username or password."
        );
    }
    // Fifth failure at T0+4: locked for 1 s, even for the right password.
    assert_eq!(
        w.sign_in("alice", PASSWORD, T0 + 500).await.unwrap_err().1,
        "Password attempts exceeded"
    );
    // A sixth failure after the lock: locked for 2 s.
    assert!(w.sign_in("alice", "Wrong-1!", T0 + 1_100).await.is_err());
    assert_eq!(
        w.sign_in("alice", PASSWORD, T0 + 2_500)
            .await
            .unwrap_err()
            .1,
        "Password attempts exceeded"
    );
    assert!(
        w.sign_in("alice", PASSWORD, T0 + 3_200).await.unwrap()["AuthenticationResult"].is_object()
    );
    // Success reset the run: four more failures do not lock.
    for i in 0..4 {
        assert!(w
            .sign_in("alice", "Wrong-1!", T0 + 4_000 + i)
            .await
            .is_err());
    }
    assert!(w.sign_in("alice", PASSWORD, T0 + 4_100).await.is_ok());
}

#[tokio::test]
async fn failures_are_forgotten_after_fifteen_quiet_minutes() {
    let w = world().await;
    w.user("bob", T0).await;
    for i in 0..4 {
        assert!(w.sign_in("bob", "Wrong-1!", T0 + i).await.is_err());
    }
    let later = T0 + 15 * 60_000 + 10;
    assert!(w.sign_in("bob", "Wrong-1!", later).await.is_err());
    // Only one failure in the new run: the right password works.
    assert!(w.sign_in("bob", PASSWORD, later + 1).await.is_ok());
}

#[tokio::test]
async fn srp_session_older_than_auth_session_validity_is_refused() {
    let w = world().await;
    w.user("carol", T0).await;
    let (a, big_a) = srp::client::ephemeral();
    let start = w
        .call(
            "InitiateAuth",
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": w.client,
        "AuthParameters": {"USERNAME": "carol", "SRP_A": srp::to_hex(&big_a)}}),
            T0,
        )
        .await
        .unwrap();
    let p = &start["ChallengeParameters"];
    let salt = srp::from_hex(p["SALT"].as_str().unwrap()).unwrap();
    let big_b = srp::from_hex(p["SRP_B"].as_str().unwrap()).unwrap();
    let block = p["SECRET_BLOCK"].as_str().unwrap();
    let answer = |now: i64| {
        let ts = srp::client::timestamp(now / 1000);
        let claim = srp::client::claim(
            &w.pool,
            "carol",
            PASSWORD,
            &salt,
            &a,
            &big_a,
            &big_b,
            &crypto::b64_decode(block).unwrap(),
            &ts,
        );
        json!({"ClientId": w.client, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": {
            "USERNAME": "carol", "PASSWORD_CLAIM_SECRET_BLOCK": block, "TIMESTAMP": ts,
            "PASSWORD_CLAIM_SIGNATURE": crypto::b64(&claim)}})
    };
    // The demo client's AuthSessionValidity is 3 minutes.
    let late = T0 + 3 * 60_000 + 1;
    let err = w
        .call("RespondToAuthChallenge", answer(late), late)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        (
            "NotAuthorizedException".into(),
            "Invalid session for the user, session is expired.".into()
        )
    );
}

#[tokio::test]
async fn temporary_passwords_expire_after_the_pools_validity() {
    let w = world().await;
    w.call(
        "AdminCreateUser",
        json!({"UserPoolId": w.pool, "Username": "dave", "TemporaryPassword": "Temp0rary-Pass!",
        "MessageAction": "SUPPRESS"}),
        T0,
    )
    .await
    .unwrap();
    let day = 86_400_000;
    let ok = w
        .sign_in("dave", "Temp0rary-Pass!", T0 + 7 * day - 1)
        .await
        .unwrap();
    assert_eq!(ok["ChallengeName"], "NEW_PASSWORD_REQUIRED");
    let err = w
        .sign_in("dave", "Temp0rary-Pass!", T0 + 7 * day + 1)
        .await
        .unwrap_err();
    assert_eq!(
        err.1,
        "Temporary password has expired and must be reset by an administrator."
    );
}

#[tokio::test]
async fn codes_expire_sign_up_after_a_day_reset_after_an_hour() {
    let w = world().await;
    w.call(
        "SignUp",
        json!({"ClientId": w.client, "Username": "erin", "Password": PASSWORD,
        "UserAttributes": [{"Name": "email", "Value": "erin@example.com"}]}),
        T0,
    )
    .await
    .unwrap();
    let code = std::fs::read_dir(w.dir.join("outbox"))
        .unwrap()
        .map(|e| {
            serde_json::from_slice::<Value>(&std::fs::read(e.unwrap().path()).unwrap()).unwrap()
        })
        .find(|m| m["username"] == "erin")
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let err = w
        .call(
            "ConfirmSignUp",
            json!({"ClientId": w.client, "Username": "erin", "ConfirmationCode": code}),
            T0 + 24 * 3_600_000 + 1,
        )
        .await
        .unwrap_err();
    assert_eq!(err.0, "ExpiredCodeException");

    w.user("frank", T0).await;
    w.call(
        "ForgotPassword",
        json!({"ClientId": w.client, "Username": "frank"}),
        T0,
    )
    .await
    .unwrap();
    let code = std::fs::read_dir(w.dir.join("outbox"))
        .unwrap()
        .map(|e| {
            serde_json::from_slice::<Value>(&std::fs::read(e.unwrap().path()).unwrap()).unwrap()
        })
        .find(|m| m["username"] == "frank" && m["kind"] == "forgot_password")
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let err = w
        .call(
            "ConfirmForgotPassword",
            json!({"ClientId": w.client, "Username": "frank", "ConfirmationCode": code,
        "Password": "N3w-Passw0rd!"}),
            T0 + 3_600_000 + 1,
        )
        .await
        .unwrap_err();
    assert_eq!(err.0, "ExpiredCodeException");
}

#[tokio::test]
async fn access_tokens_expire_for_the_token_authorized_operations() {
    let w = world().await;
    w.user("gina", T0).await;
    let tokens = w.sign_in("gina", PASSWORD, T0).await.unwrap();
    let at = tokens["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(w
        .call("GetUser", json!({"AccessToken": at}), T0 + 3_599_000)
        .await
        .is_ok());
    let err = w
        .call("GetUser", json!({"AccessToken": at}), T0 + 3_600_000)
        .await
        .unwrap_err();
    assert_eq!(err.1, "Access Token has expired");
}

#[tokio::test]
async fn authorization_codes_expire_after_five_minutes() {
    use cognate_identity::oauth::{ClientAuth, Grant, TokenRequest};
    let w = world().await;
    w.user("hank", T0).await;
    let pairs: Vec<(String, String)> = [
        ("client_id", w.client.as_str()),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:3000/"),
        ("scope", "openid"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let a = w.id.authorize_request(&w.pool, &pairs).await.unwrap();
    let pool = w.store.pool(&w.pool).await.unwrap().unwrap();
    let user = w
        .store
        .user_by_username_key(&w.pool, "hank")
        .await
        .unwrap()
        .unwrap();
    let code_for = |location: String| location.split("code=").nth(1).unwrap().to_string();
    let request = |code: String| TokenRequest {
        client: ClientAuth {
            client_id: w.client.clone(),
            secret: None,
            via_basic: false,
        },
        grant: Grant::AuthorizationCode {
            code,
            redirect_uri: Some("http://localhost:3000/".into()),
            code_verifier: None,
        },
    };
    let fresh = code_for(
        w.id.authorize_complete(&a, &user, T0 / 1000, T0)
            .await
            .unwrap(),
    );
    assert!(w
        .id
        .oauth_token(&pool.id, request(fresh), T0 + 5 * 60_000 - 1)
        .await
        .is_ok());
    let stale = code_for(
        w.id.authorize_complete(&a, &user, T0 / 1000, T0)
            .await
            .unwrap(),
    );
    let err =
        w.id.oauth_token(&pool.id, request(stale), T0 + 5 * 60_000 + 1)
            .await
            .unwrap_err();
    assert_eq!(err.code.as_str(), "invalid_grant");
}
