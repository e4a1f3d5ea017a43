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
#[path = "../common/mod.rs"]
mod common;
mod tokens;

use common::Harness;
use tokens::*;

contract!(
    gateway_nodes_are_refreshed_listed_by_freshness_and_removed,
    pools_clients_and_resource_servers_round_trip,
    deleting_a_pool_removes_everything_in_it,
    users_are_unique_by_username_and_alias,
    list_users_filters_and_pages,
    concurrent_failures_are_all_counted,
    groups_order_by_precedence_and_list_members,
    revoking_an_origin_kills_its_refresh_tokens,
    an_origin_whose_refresh_token_fails_is_not_recorded,
    a_refresh_grant_and_a_user_bring_their_groups_in_one_read,
    live_origins_are_told_apart_from_revoked_and_unknown_ones,
    only_one_concurrent_rotation_wins,
    a_challenge_session_is_taken_once,
    codes_are_replaced_and_consumed_with_the_user_write,
    key_rotation_retires_the_old_keys,
    meta_values_are_inserted_once_or_replaced,
    identity_providers_round_trip_and_go_with_their_pool,
    data_survives_reopening,
    an_authorization_code_is_taken_once_and_a_replay_is_recognised,
    a_sealed_code_is_taken_once_in_the_write_of_what_it_issues,
    provider_links_are_unique_and_go_with_their_user,
    a_key_is_claimed_once_even_by_racing_callers,
    pool_and_client_reads_are_kept_briefly_and_this_process_writes_are_seen_at_once,
);

/// The names of a user's groups, as `groups_of` orders them.
pub(crate) async fn group_names(s: &Store, pool_id: &str, sub: &str) -> Vec<String> {
    s.groups_of(pool_id, sub)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect()
}

pub(crate) fn pool(id: &str) -> Pool {
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

pub(crate) fn client(pool_id: &str, id: &str) -> Client {
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

pub(crate) fn user(pool_id: &str, username: &str) -> User {
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

pub(crate) fn group(pool_id: &str, name: &str, precedence: Option<i64>) -> Group {
    Group {
        pool_id: pool_id.into(),
        name: name.into(),
        description: Some("d".into()),
        role_arn: None,
        precedence,
        created_ms: 1,
        updated_ms: 1,
    }
}

/// Groups zeta (precedence 1), alpha (none) and mid (5) in pool
/// us-east-1_a, alice (`sub-alice`) a member of each: in token order
/// zeta, mid, alpha.
pub(crate) async fn three_groups_with_alice(s: &Store) {
    for (name, precedence) in [("zeta", Some(1)), ("alpha", None), ("mid", Some(5))] {
        s.insert_group(&group("us-east-1_a", name, precedence))
            .await
            .unwrap();
        s.add_member("us-east-1_a", name, "sub-alice")
            .await
            .unwrap();
    }
}

pub(crate) fn origin(pool_id: &str, jti: &str, sub: &str) -> Origin {
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
    three_groups_with_alice(s).await;
    s.add_member("us-east-1_a", "mid", "sub-alice")
        .await
        .unwrap();
    s.add_member("us-east-1_a", "mid", "sub-bob").await.unwrap();
    assert!(matches!(
        s.add_member("us-east-1_a", "nope", "sub-bob").await,
        Err(StoreError::NotFound(_))
    ));
    let groups = group_names(s, "us-east-1_a", "sub-alice").await;
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

/// Pools and clients are read through a short cache: this process's
/// writes are seen at once; another process's (another node's) once its
/// read has aged out; rows that do not exist are never kept.
async fn pool_and_client_reads_are_kept_briefly_and_this_process_writes_are_seen_at_once(
    h: Harness,
) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_r")).await.unwrap();
    assert_eq!(s.client("c-r").await.unwrap(), None);
    s.insert_client(&client("us-east-1_r", "c-r"))
        .await
        .unwrap();
    assert_eq!(
        s.client("c-r").await.unwrap().unwrap().name,
        client("us-east-1_r", "c-r").name
    );
    // Another node with the default read time, and one that keeps nothing.
    let other = Store::connect(&h.reopen).await.unwrap();
    let uncached = Store::connect(&h.reopen)
        .await
        .unwrap()
        .with_read_cache_ttl(std::time::Duration::ZERO);
    assert_eq!(
        other.client("c-r").await.unwrap().unwrap().name,
        "client c-r"
    );
    assert_eq!(
        other.pool("us-east-1_r").await.unwrap().unwrap().name,
        "pool us-east-1_r"
    );
    // This process changes them: it sees the change at once.
    let mut c = s.client("c-r").await.unwrap().unwrap();
    c.name = "renamed client".into();
    s.update_client(&c).await.unwrap();
    assert_eq!(
        s.client("c-r").await.unwrap().unwrap().name,
        "renamed client"
    );
    let mut p = s.pool("us-east-1_r").await.unwrap().unwrap();
    p.name = "renamed pool".into();
    s.update_pool(&p).await.unwrap();
    assert_eq!(
        s.pool("us-east-1_r").await.unwrap().unwrap().name,
        "renamed pool"
    );
    // The other node still answers from its recent read; without the
    // cache, the change is there.
    assert_eq!(
        other.client("c-r").await.unwrap().unwrap().name,
        "client c-r"
    );
    assert_eq!(
        other.pool("us-east-1_r").await.unwrap().unwrap().name,
        "pool us-east-1_r"
    );
    assert_eq!(
        uncached.client("c-r").await.unwrap().unwrap().name,
        "renamed client"
    );
    assert_eq!(
        uncached.pool("us-east-1_r").await.unwrap().unwrap().name,
        "renamed pool"
    );
    // Deleting is seen at once by the process that deletes.
    assert!(s.delete_client("us-east-1_r", "c-r").await.unwrap());
    assert_eq!(s.client("c-r").await.unwrap(), None);
    assert!(s.delete_pool("us-east-1_r").await.unwrap());
    assert_eq!(s.pool("us-east-1_r").await.unwrap(), None);
    other.close().await;
    uncached.close().await;
}
