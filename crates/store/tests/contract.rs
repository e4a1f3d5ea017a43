//! The store's contract: every test runs against SQLite and, when
//! `COGNATE_TEST_DATABASE_URL` names a PostgreSQL server, against PostgreSQL
//! in a schema of its own.

use std::collections::BTreeMap;

use cognate_config::{ClientSettings, PoolSettings, ResourceScope};
use cognate_store::auth_codes::{AuthCode, Taken};
use cognate_store::codes::{AuthSession, Code};
use cognate_store::groups::Group;
use cognate_store::keys::SigningKey;
use cognate_store::pools::{Client, Pool, ResourceServer};
use cognate_store::tokens::Origin;
use cognate_store::users::{FilterColumn, User, UserFilter};
use cognate_store::{Store, StoreError};

#[macro_use]
mod common;
use common::Harness;

contract!(
    gateway_nodes_are_refreshed_listed_by_freshness_and_removed,
    pools_clients_and_resource_servers_round_trip,
    deleting_a_pool_removes_everything_in_it,
    users_are_unique_by_username_and_alias,
    list_users_filters_and_pages,
    concurrent_failures_are_all_counted,
    groups_order_by_precedence_and_list_members,
    revoking_an_origin_kills_its_refresh_tokens,
    live_origins_are_told_apart_from_revoked_and_unknown_ones,
    only_one_concurrent_rotation_wins,
    a_challenge_session_is_taken_once,
    codes_are_replaced_and_consumed_with_the_user_write,
    key_rotation_retires_the_old_keys,
    meta_values_are_inserted_once_or_replaced,
    identity_providers_round_trip_and_go_with_their_pool,
    data_survives_reopening,
    an_authorization_code_is_taken_once_and_a_replay_is_recognised,
    provider_links_are_unique_and_go_with_their_user,
    a_key_is_claimed_once_even_by_racing_callers,
);

fn pool(id: &str) -> Pool {
    Pool {
        id: id.into(),
        name: format!("pool {id}"),
        config_key: Some(format!("key-{id}")),
        settings: PoolSettings::default(),
        domain: None,
        created_ms: 1_000,
        updated_ms: 1_000,
    }
}

fn client(pool_id: &str, id: &str) -> Client {
    Client {
        id: id.into(),
        pool_id: pool_id.into(),
        name: format!("client {id}"),
        secret: Some("s3cr3t".into()),
        config_key: Some(id.into()),
        settings: ClientSettings::default(),
        created_ms: 1,
        updated_ms: 1,
    }
}

fn user(pool_id: &str, username: &str) -> User {
    let mut attributes = BTreeMap::new();
    attributes.insert("email".to_string(), format!("{username}@example.com"));
    User {
        pool_id: pool_id.into(),
        sub: format!("sub-{username}"),
        username: username.into(),
        username_key: username.to_lowercase(),
        email_key: Some(format!("{}@example.com", username.to_lowercase())),
        phone_key: None,
        preferred_username_key: None,
        status: "CONFIRMED".into(),
        enabled: true,
        attributes,
        pending_attributes: BTreeMap::new(),
        password_hash: Some("$argon2id$x".into()),
        password_set_ms: Some(5),
        srp_salt: Some("0abc".into()),
        srp_verifier: Some("1def".into()),
        totp_pending: None,
        totp_secret: Some("00ff".into()),
        totp_enabled: true,
        email_mfa_enabled: false,
        mfa_preferred: Some("SOFTWARE_TOKEN_MFA".into()),
        failed_attempts: 0,
        last_failure_ms: None,
        created_ms: 10,
        updated_ms: 10,
    }
}

fn origin(pool_id: &str, jti: &str, sub: &str) -> Origin {
    Origin {
        origin_jti: jti.into(),
        pool_id: pool_id.into(),
        client_id: "c1".into(),
        sub: sub.into(),
        auth_time: 1_700_000_000,
        scopes: "aws.cognito.signin.user.admin".into(),
        created_ms: 100,
        expires_ms: 10_000_000,
        revoked_ms: None,
    }
}

async fn pools_clients_and_resource_servers_round_trip(h: Harness) {
    let s = &h.store;
    for id in ["us-east-1_b", "us-east-1_a", "us-east-1_c"] {
        s.insert_pool(&pool(id)).await.unwrap();
    }
    assert!(matches!(
        s.insert_pool(&pool("us-east-1_a")).await,
        Err(StoreError::Conflict(_))
    ));
    let got = s.pool("us-east-1_a").await.unwrap().unwrap();
    assert_eq!(got, pool("us-east-1_a"));
    assert_eq!(
        s.pool_by_config_key("key-us-east-1_b")
            .await
            .unwrap()
            .unwrap()
            .id,
        "us-east-1_b"
    );
    let page1 = s.list_pools(None, 2).await.unwrap();
    assert_eq!(
        page1.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["us-east-1_a", "us-east-1_b"]
    );
    let page2 = s.list_pools(Some("us-east-1_b"), 2).await.unwrap();
    assert_eq!(page2.len(), 1);
    let mut changed = got.clone();
    changed.name = "renamed".into();
    changed.settings.password_policy.minimum_length = 12;
    changed.domain = Some("mydomain".into());
    s.update_pool(&changed).await.unwrap();
    assert_eq!(s.pool("us-east-1_a").await.unwrap().unwrap(), changed);
    assert_eq!(
        s.pool_by_domain("mydomain").await.unwrap().unwrap().id,
        "us-east-1_a"
    );
    let mut other = pool("us-east-1_b");
    other.domain = Some("mydomain".into());
    assert!(matches!(
        s.update_pool(&other).await,
        Err(StoreError::Conflict(_))
    ));

    s.insert_client(&client("us-east-1_a", "c2")).await.unwrap();
    s.insert_client(&client("us-east-1_a", "c1")).await.unwrap();
    assert!(matches!(
        s.insert_client(&client("us-east-1_nope", "c3")).await,
        Err(StoreError::NotFound(_))
    ));
    let listed = s.list_clients("us-east-1_a", None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    let mut c = s.client("c1").await.unwrap().unwrap();
    assert_eq!(c, client("us-east-1_a", "c1"));
    c.settings.callback_urls = vec!["https://x/cb".into()];
    c.secret = None;
    s.update_client(&c).await.unwrap();
    assert_eq!(
        s.client_by_config_key("us-east-1_a", "c1")
            .await
            .unwrap()
            .unwrap(),
        c
    );
    assert!(s.delete_client("us-east-1_a", "c2").await.unwrap());
    assert!(s.client("c2").await.unwrap().is_none());

    let rs = ResourceServer {
        pool_id: "us-east-1_a".into(),
        identifier: "api".into(),
        name: "API".into(),
        scopes: vec![ResourceScope {
            name: "read".into(),
            description: "r".into(),
        }],
    };
    s.insert_resource_server(&rs).await.unwrap();
    assert!(matches!(
        s.insert_resource_server(&rs).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.resource_server("us-east-1_a", "api")
            .await
            .unwrap()
            .unwrap(),
        rs
    );
    assert_eq!(
        s.list_resource_servers("us-east-1_a", None, 5)
            .await
            .unwrap(),
        vec![rs.clone()]
    );
    assert!(s
        .delete_resource_server("us-east-1_a", "api")
        .await
        .unwrap());
}

async fn deleting_a_pool_removes_everything_in_it(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_client(&client("us-east-1_a", "c1")).await.unwrap();
    s.insert_user(&user("us-east-1_a", "alice"), None)
        .await
        .unwrap();
    s.insert_origin(&origin("us-east-1_a", "o1", "sub-alice"), Some("h1"))
        .await
        .unwrap();
    assert!(s.delete_pool("us-east-1_a").await.unwrap());
    assert!(s.client("c1").await.unwrap().is_none());
    assert!(s
        .user_by_sub("us-east-1_a", "sub-alice")
        .await
        .unwrap()
        .is_none());
    assert!(s.refresh_token("h1").await.unwrap().is_none());
    assert!(!s.delete_pool("us-east-1_a").await.unwrap());
}

async fn users_are_unique_by_username_and_alias(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let alice = user("us-east-1_a", "alice");
    s.insert_user(&alice, None).await.unwrap();
    let mut again = user("us-east-1_a", "Alice");
    again.sub = "other".into();
    again.email_key = None;
    assert!(matches!(
        s.insert_user(&again, None).await,
        Err(StoreError::Conflict("username"))
    ));
    let mut same_mail = user("us-east-1_a", "bob");
    same_mail.email_key = alice.email_key.clone();
    assert!(matches!(
        s.insert_user(&same_mail, None).await,
        Err(StoreError::Conflict("email"))
    ));
    assert_eq!(s.count_users("us-east-1_a").await.unwrap(), 1);
    // A pending attribute value round-trips beside the current one.
    let mut pending = s
        .user_by_sub("us-east-1_a", &alice.sub)
        .await
        .unwrap()
        .unwrap();
    assert!(pending.pending_attributes.is_empty());
    pending
        .pending_attributes
        .insert("email".into(), "new@example.com".into());
    s.update_user(&pending, None, None).await.unwrap();
    let read = s
        .user_by_sub("us-east-1_a", &alice.sub)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.pending_attributes["email"], "new@example.com");
    assert_eq!(read.attributes["email"], "alice@example.com");
    pending.pending_attributes.clear();
    s.update_user(&pending, None, None).await.unwrap();
    assert_eq!(
        s.user_by_email_key("us-east-1_a", "alice@example.com")
            .await
            .unwrap()
            .unwrap(),
        alice
    );
    assert_eq!(
        s.user_by_username_key("us-east-1_a", "alice")
            .await
            .unwrap()
            .unwrap(),
        alice
    );
    let mut changed = alice.clone();
    changed.status = "RESET_REQUIRED".into();
    changed.enabled = false;
    changed.attributes.insert("name".into(), "Alice A".into());
    changed.srp_verifier = Some("2abc".into());
    changed.totp_pending = Some("abcd".into());
    changed.totp_enabled = false;
    changed.email_mfa_enabled = true;
    changed.mfa_preferred = Some("EMAIL_OTP".into());
    s.update_user(&changed, None, None).await.unwrap();
    assert_eq!(
        s.user_by_sub("us-east-1_a", "sub-alice")
            .await
            .unwrap()
            .unwrap(),
        changed
    );
    assert!(s.delete_user("us-east-1_a", "sub-alice").await.unwrap());
    assert!(matches!(
        s.update_user(&changed, None, None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn list_users_filters_and_pages(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    for name in ["carol", "alice", "albert", "bob"] {
        let mut u = user("us-east-1_a", name);
        if name == "bob" {
            u.status = "UNCONFIRMED".into();
            u.enabled = false;
        }
        s.insert_user(&u, None).await.unwrap();
    }
    let names = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_users("us-east-1_a", None, None, 3).await.unwrap()),
        ["albert", "alice", "bob"]
    );
    assert_eq!(
        names(
            s.list_users("us-east-1_a", None, Some("bob"), 3)
                .await
                .unwrap()
        ),
        ["carol"]
    );
    let prefix = UserFilter {
        column: FilterColumn::Email,
        prefix: true,
        value: "al".into(),
    };
    assert_eq!(
        names(
            s.list_users("us-east-1_a", Some(&prefix), None, 10)
                .await
                .unwrap()
        ),
        ["albert", "alice"]
    );
    let exact = UserFilter {
        column: FilterColumn::Username,
        prefix: false,
        value: "alice".into(),
    };
    assert_eq!(
        names(
            s.list_users("us-east-1_a", Some(&exact), None, 10)
                .await
                .unwrap()
        ),
        ["alice"]
    );
    let status = UserFilter {
        column: FilterColumn::Status,
        prefix: false,
        value: "UNCONFIRMED".into(),
    };
    assert_eq!(
        names(
            s.list_users("us-east-1_a", Some(&status), None, 10)
                .await
                .unwrap()
        ),
        ["bob"]
    );
    let disabled = UserFilter {
        column: FilterColumn::Enabled,
        prefix: false,
        value: "0".into(),
    };
    assert_eq!(
        names(
            s.list_users("us-east-1_a", Some(&disabled), None, 10)
                .await
                .unwrap()
        ),
        ["bob"]
    );
    let quote = UserFilter {
        column: FilterColumn::Username,
        prefix: false,
        value: "x' OR '1'='1".into(),
    };
    assert!(s
        .list_users("us-east-1_a", Some(&quote), None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn concurrent_failures_are_all_counted(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_user(&user("us-east-1_a", "alice"), None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.record_failure("us-east-1_a", "sub-alice", 1_000 + i, 900_000)
                .await
                .unwrap()
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort();
    assert_eq!(counts, (1..=20).collect::<Vec<i64>>());
    // After a quiet period the run starts over.
    assert_eq!(
        s.record_failure("us-east-1_a", "sub-alice", 2_000_000, 900_000)
            .await
            .unwrap(),
        1
    );
    s.reset_failures("us-east-1_a", "sub-alice").await.unwrap();
    let u = s
        .user_by_sub("us-east-1_a", "sub-alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u.failed_attempts, u.last_failure_ms), (0, None));
}

async fn groups_order_by_precedence_and_list_members(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_user(&user("us-east-1_a", "alice"), None)
        .await
        .unwrap();
    s.insert_user(&user("us-east-1_a", "bob"), None)
        .await
        .unwrap();
    for (name, precedence) in [("zeta", Some(1)), ("alpha", None), ("mid", Some(5))] {
        let g = Group {
            pool_id: "us-east-1_a".into(),
            name: name.into(),
            description: Some("d".into()),
            role_arn: None,
            precedence,
            created_ms: 1,
            updated_ms: 1,
        };
        s.insert_group(&g).await.unwrap();
        s.add_member("us-east-1_a", name, "sub-alice")
            .await
            .unwrap();
    }
    s.add_member("us-east-1_a", "mid", "sub-alice")
        .await
        .unwrap();
    s.add_member("us-east-1_a", "mid", "sub-bob").await.unwrap();
    assert!(matches!(
        s.add_member("us-east-1_a", "nope", "sub-bob").await,
        Err(StoreError::NotFound(_))
    ));
    let groups: Vec<_> = s
        .groups_of("us-east-1_a", "sub-alice")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, ["zeta", "mid", "alpha"]);
    let members: Vec<_> = s
        .members_of("us-east-1_a", "mid", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(members, ["alice", "bob"]);
    s.remove_member("us-east-1_a", "mid", "sub-alice")
        .await
        .unwrap();
    assert_eq!(
        s.groups_of("us-east-1_a", "sub-alice").await.unwrap().len(),
        2
    );
    s.delete_user("us-east-1_a", "sub-bob").await.unwrap();
    assert!(s
        .members_of("us-east-1_a", "mid", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s.delete_group("us-east-1_a", "zeta").await.unwrap());
    assert_eq!(
        s.groups_of("us-east-1_a", "sub-alice").await.unwrap().len(),
        1
    );
}

async fn live_origins_are_told_apart_from_revoked_and_unknown_ones(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    // More than one query's worth of names.
    let mut names = Vec::new();
    for i in 0..600 {
        let jti = format!("o{i}");
        s.insert_origin(
            &origin("us-east-1_a", &jti, "sub-a"),
            Some(&format!("h{i}")),
        )
        .await
        .unwrap();
        names.push(jti);
    }
    s.revoke_origin("o3", 5).await.unwrap();
    s.revoke_origin("o550", 5).await.unwrap();
    names.push("never-issued".into());
    let live = s.live_origins(&names).await.unwrap();
    assert_eq!(live.len(), 598);
    assert!(live.contains("o0") && live.contains("o599"));
    assert!(!live.contains("o3") && !live.contains("o550") && !live.contains("never-issued"));
    assert!(s.live_origins(&[]).await.unwrap().is_empty());
}

async fn revoking_an_origin_kills_its_refresh_tokens(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_origin(&origin("us-east-1_a", "o1", "sub-a"), Some("h1"))
        .await
        .unwrap();
    s.insert_origin(&origin("us-east-1_a", "o2", "sub-a"), Some("h2"))
        .await
        .unwrap();
    s.insert_origin(&origin("us-east-1_a", "o3", "sub-b"), None)
        .await
        .unwrap();
    let rt = s.refresh_token("h1").await.unwrap().unwrap();
    assert_eq!(rt.origin, origin("us-east-1_a", "o1", "sub-a"));
    assert!(s.revoke_origin("o1", 500).await.unwrap());
    assert!(!s.revoke_origin("o1", 600).await.unwrap());
    assert_eq!(
        s.refresh_token("h1")
            .await
            .unwrap()
            .unwrap()
            .origin
            .revoked_ms,
        Some(500)
    );
    assert_eq!(
        s.revoke_user_origins("us-east-1_a", "sub-a", 700)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.origin("o2").await.unwrap().unwrap().revoked_ms, Some(700));
    assert_eq!(s.origin("o3").await.unwrap().unwrap().revoked_ms, None);
    assert_eq!(s.purge_origins(20_000_000).await.unwrap(), 3);
    assert!(s.refresh_token("h2").await.unwrap().is_none());
}

async fn only_one_concurrent_rotation_wins(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_origin(&origin("us-east-1_a", "o1", "sub-a"), Some("old"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.rotate_refresh_token("old", &format!("new{i}"), 1_000, 2_000)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as i32;
    }
    assert_eq!(wins, 1);
    assert_eq!(
        s.refresh_token("old").await.unwrap().unwrap().replaced_ms,
        Some(1_000)
    );
}

async fn a_challenge_session_is_taken_once(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let session = AuthSession {
        session_hash: "sh".into(),
        pool_id: "us-east-1_a".into(),
        client_id: "c".into(),
        sub: "sub-a".into(),
        challenge: "NEW_PASSWORD_REQUIRED".into(),
        created_ms: 0,
        expires_ms: 1_000,
        payload: Some("{\"b\":\"ff\"}".into()),
    };
    s.insert_auth_session(&session).await.unwrap();
    let mut expired = session.clone();
    expired.session_hash = "old".into();
    s.insert_auth_session(&expired).await.unwrap();
    assert!(s.take_auth_session("old", 1_000).await.unwrap().is_none());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.take_auth_session("sh", 10).await.unwrap()
        }));
    }
    let mut taken = Vec::new();
    for t in tasks {
        taken.extend(t.await.unwrap());
    }
    assert_eq!(taken, vec![session]);
    assert_eq!(s.purge_expired(5_000).await.unwrap(), 2);
}

async fn codes_are_replaced_and_consumed_with_the_user_write(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let u = user("us-east-1_a", "alice");
    let code = Code {
        pool_id: "us-east-1_a".into(),
        sub: u.sub.clone(),
        purpose: "signup".into(),
        code_hash: "h1".into(),
        created_ms: 1,
        expires_ms: 100,
        attempts: 0,
    };
    s.insert_user(&u, Some(&code)).await.unwrap();
    assert_eq!(
        s.bump_code_attempts("us-east-1_a", &u.sub, "signup")
            .await
            .unwrap(),
        1
    );
    let newer = Code {
        code_hash: "h2".into(),
        created_ms: 2,
        ..code.clone()
    };
    s.put_code(&newer).await.unwrap();
    assert_eq!(
        s.code("us-east-1_a", &u.sub, "signup")
            .await
            .unwrap()
            .unwrap(),
        newer
    );
    let mut confirmed = u.clone();
    confirmed.status = "CONFIRMED".into();
    s.update_user(&confirmed, Some("signup"), None)
        .await
        .unwrap();
    assert!(s
        .code("us-east-1_a", &u.sub, "signup")
        .await
        .unwrap()
        .is_none());
    // A write that fails leaves the code where it was.
    s.put_code(&newer).await.unwrap();
    let mut ghost = confirmed.clone();
    ghost.sub = "nobody".into();
    assert!(s.update_user(&ghost, Some("signup"), None).await.is_err());
    assert!(s
        .code("us-east-1_a", &u.sub, "signup")
        .await
        .unwrap()
        .is_some());
}

async fn key_rotation_retires_the_old_keys(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let key = |kid: &str, purpose: &str, at: i64| SigningKey {
        kid: kid.into(),
        pool_id: "us-east-1_a".into(),
        purpose: purpose.into(),
        private_key: "pk".into(),
        created_ms: at,
        retired_ms: None,
    };
    s.insert_key(&key("a1", "access", 1)).await.unwrap();
    s.insert_key(&key("i1", "id", 1)).await.unwrap();
    s.rotate_keys(
        "us-east-1_a",
        &[key("a2", "access", 5), key("i2", "id", 5)],
        5,
    )
    .await
    .unwrap();
    let keys = s.keys("us-east-1_a").await.unwrap();
    let state: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.retired_ms))
        .collect();
    assert_eq!(
        state,
        [("a2", None), ("i2", None), ("a1", Some(5)), ("i1", Some(5))]
    );
    assert_eq!(
        s.purge_all_retired_keys(5).await.unwrap(),
        0,
        "retired at 5, not before"
    );
    assert_eq!(s.purge_retired_keys("us-east-1_a", 6).await.unwrap(), 2);
    assert_eq!(s.keys("us-east-1_a").await.unwrap().len(), 2);
}

async fn gateway_nodes_are_refreshed_listed_by_freshness_and_removed(h: Harness) {
    let s = &h.store;
    s.node_seen("chat", "AAAA", "http://10.0.0.1:4003", 1_000)
        .await
        .unwrap();
    s.node_seen("chat", "BBBB", "http://10.0.0.2:4003", 1_000)
        .await
        .unwrap();
    s.node_seen("other", "AAAA", "http://10.0.0.1:4004", 1_000)
        .await
        .unwrap();
    // A refresh moves the node's URL and time.
    s.node_seen("chat", "AAAA", "http://10.0.0.9:4003", 5_000)
        .await
        .unwrap();
    let fresh = s.nodes("chat", 2_000).await.unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        (
            fresh[0].node_tag.as_str(),
            fresh[0].url.as_str(),
            fresh[0].seen_ms
        ),
        ("AAAA", "http://10.0.0.9:4003", 5_000)
    );
    assert_eq!(s.nodes("chat", 0).await.unwrap().len(), 2);
    s.node_gone("chat", "AAAA").await.unwrap();
    let left: Vec<_> = s
        .nodes("chat", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node_tag)
        .collect();
    assert_eq!(left, ["BBBB"]);
    assert_eq!(s.nodes("other", 0).await.unwrap().len(), 1);
}

async fn identity_providers_round_trip_and_go_with_their_pool(h: Harness) {
    use cognate_store::providers::IdentityProvider;
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_p")).await.unwrap();
    let mut p = IdentityProvider {
        pool_id: "us-east-1_p".into(),
        name: "Okta".into(),
        provider_type: "OIDC".into(),
        details: BTreeMap::from([("client_id".to_string(), "abc".to_string())]),
        attribute_mapping: BTreeMap::from([("email".to_string(), "email".to_string())]),
        idp_identifiers: vec!["example.com".into()],
        created_ms: 1,
        updated_ms: 1,
    };
    s.insert_provider(&p).await.unwrap();
    assert!(matches!(
        s.insert_provider(&p).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.provider("us-east-1_p", "Okta").await.unwrap().unwrap(), p);
    p.details.insert("authorize_scopes".into(), "openid".into());
    p.updated_ms = 2;
    s.update_provider(&p).await.unwrap();
    assert_eq!(s.provider("us-east-1_p", "Okta").await.unwrap().unwrap(), p);
    let mut g = p.clone();
    g.name = "Google".into();
    g.provider_type = "Google".into();
    s.insert_provider(&g).await.unwrap();
    let names: Vec<String> = s
        .list_providers("us-east-1_p", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["Google", "Okta"]);
    assert_eq!(
        s.list_providers("us-east-1_p", Some("Google"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.provider_by_identifier("us-east-1_p", "example.com")
            .await
            .unwrap()
            .map(|p| p.name),
        Some("Google".to_string())
    );
    assert!(s
        .provider_by_identifier("us-east-1_p", "nowhere.example")
        .await
        .unwrap()
        .is_none());
    assert!(s.delete_provider("us-east-1_p", "Google").await.unwrap());
    assert!(!s.delete_provider("us-east-1_p", "Google").await.unwrap());
    s.delete_pool("us-east-1_p").await.unwrap();
    assert!(s.provider("us-east-1_p", "Okta").await.unwrap().is_none());
}

async fn meta_values_are_inserted_once_or_replaced(h: Harness) {
    let s = &h.store;
    assert_eq!(s.meta_get("k").await.unwrap(), None);
    assert_eq!(s.meta_get_or_insert("k", "first").await.unwrap(), "first");
    assert_eq!(s.meta_get_or_insert("k", "second").await.unwrap(), "first");
    assert_eq!(s.meta_get("k").await.unwrap().as_deref(), Some("first"));
    // meta_set replaces (what a stack declared last is rewritten each start).
    s.meta_set("k", "third").await.unwrap();
    assert_eq!(s.meta_get("k").await.unwrap().as_deref(), Some("third"));
    s.meta_set("new", "v").await.unwrap();
    assert_eq!(s.meta_get("new").await.unwrap().as_deref(), Some("v"));
}

async fn data_survives_reopening(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_user(&user("us-east-1_a", "alice"), None)
        .await
        .unwrap();
    s.insert_origin(&origin("us-east-1_a", "o1", "sub-alice"), Some("h1"))
        .await
        .unwrap();
    s.close().await;
    let again = Store::connect(&h.reopen).await.unwrap();
    assert!(again.pool("us-east-1_a").await.unwrap().is_some());
    assert!(again
        .user_by_sub("us-east-1_a", "sub-alice")
        .await
        .unwrap()
        .is_some());
    assert!(again.refresh_token("h1").await.unwrap().is_some());
}

async fn an_authorization_code_is_taken_once_and_a_replay_is_recognised(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let code = AuthCode {
        code_hash: "ch".into(),
        pool_id: "us-east-1_a".into(),
        client_id: "c".into(),
        sub: "sub-a".into(),
        redirect_uri: "https://app/cb".into(),
        scopes: "openid".into(),
        nonce: Some("n".into()),
        code_challenge: Some("x".into()),
        auth_time: 5,
        created_ms: 10,
        expires_ms: 1_000,
        consumed_ms: None,
        origin_jti: None,
    };
    s.insert_auth_code(&code).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.take_auth_code("ch", 20).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Taken::Fresh(c) => {
                fresh += 1;
                assert_eq!(c.code_challenge.as_deref(), Some("x"));
            }
            Taken::Replayed(c) => assert_eq!(c.consumed_ms, Some(20)),
            Taken::Unknown => panic!("the code exists"),
        }
    }
    assert_eq!(fresh, 1);
    s.set_auth_code_origin("ch", "o1").await.unwrap();
    match s.take_auth_code("ch", 30).await.unwrap() {
        Taken::Replayed(c) => assert_eq!(c.origin_jti.as_deref(), Some("o1")),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.take_auth_code("nope", 30).await.unwrap(), Taken::Unknown);
    assert_eq!(s.purge_auth_codes(2_000).await.unwrap(), 1);
}

async fn provider_links_are_unique_and_go_with_their_user(h: Harness) {
    use cognate_store::links::ProviderLink;
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_l")).await.unwrap();
    let u = user("us-east-1_l", "native");
    s.insert_user(&u, None).await.unwrap();
    let link = ProviderLink {
        pool_id: "us-east-1_l".into(),
        provider_name: "Google".into(),
        subject: "1234".into(),
        sub: u.sub.clone(),
        created_ms: 5,
    };
    s.insert_link(&link).await.unwrap();
    assert!(matches!(
        s.insert_link(&link).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.link("us-east-1_l", "Google", "1234").await.unwrap(),
        Some(link.clone())
    );
    assert!(s
        .link("us-east-1_l", "Google", "999")
        .await
        .unwrap()
        .is_none());
    let mut other = link.clone();
    other.provider_name = "Facebook".into();
    other.created_ms = 6;
    s.insert_link(&other).await.unwrap();
    let names: Vec<String> = s
        .links_of("us-east-1_l", &u.sub)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.provider_name)
        .collect();
    assert_eq!(names, ["Google", "Facebook"]);
    assert!(s
        .delete_link("us-east-1_l", "Facebook", "1234")
        .await
        .unwrap());
    assert!(!s
        .delete_link("us-east-1_l", "Facebook", "1234")
        .await
        .unwrap());
    // Deleting the user deletes its links.
    assert!(s.delete_user("us-east-1_l", &u.sub).await.unwrap());
    assert!(s
        .link("us-east-1_l", "Google", "1234")
        .await
        .unwrap()
        .is_none());
}

async fn a_key_is_claimed_once_even_by_racing_callers(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_k")).await.unwrap();
    let tries = (0..8).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            s.claim_once("assertion-hash", "us-east-1_k", "SAML_ASSERTION", 1, 10_000)
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for t in tries {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert!(s
        .claim_once("another-hash", "us-east-1_k", "SAML_ASSERTION", 1, 10_000)
        .await
        .unwrap());
    // It is kept until it expires, then purged.
    assert!(s.purge_expired(10_001).await.unwrap() >= 2);
    assert!(s
        .claim_once(
            "assertion-hash",
            "us-east-1_k",
            "SAML_ASSERTION",
            10_002,
            20_000
        )
        .await
        .unwrap());
}
