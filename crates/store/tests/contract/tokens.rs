//! The store's contract, second half: token origins and refresh tokens,
//! challenge sessions and codes, signing keys, gateway nodes, identity
//! providers and links, meta values, reopening, authorization codes and
//! claims.

use super::*;

pub(crate) async fn live_origins_are_told_apart_from_revoked_and_unknown_ones(h: Harness) {
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

pub(crate) async fn revoking_an_origin_kills_its_refresh_tokens(h: Harness) {
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

pub(crate) async fn a_refresh_grant_and_a_user_bring_their_groups_in_one_read(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let alice = user("us-east-1_a", "alice");
    s.insert_user(&alice, None).await.unwrap();
    s.insert_origin(&origin("us-east-1_a", "o1", "sub-alice"), Some("h1"))
        .await
        .unwrap();
    // No groups yet: the user alone.
    let g = s.refresh_grant("h1").await.unwrap().unwrap();
    assert_eq!(g.token, s.refresh_token("h1").await.unwrap().unwrap());
    assert_eq!(g.user.as_ref(), Some(&alice));
    assert!(g.groups.is_empty());
    three_groups_with_alice(s).await;
    // Another user's membership is not alice's.
    s.insert_user(&user("us-east-1_a", "bob"), None)
        .await
        .unwrap();
    s.add_member("us-east-1_a", "mid", "sub-bob").await.unwrap();
    let g = s.refresh_grant("h1").await.unwrap().unwrap();
    assert_eq!(g.user.as_ref(), Some(&alice));
    assert_eq!(g.groups, ["zeta", "mid", "alpha"]);
    let names = group_names(s, "us-east-1_a", "sub-alice").await;
    assert_eq!(g.groups, names, "the same order as groups_of");
    let (u, groups) = s
        .user_with_groups("us-east-1_a", "sub-alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u, groups), (alice.clone(), names));
    let (_, groups) = s
        .user_with_groups("us-east-1_a", "sub-bob")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(groups, ["mid"]);
    assert!(s
        .user_with_groups("us-east-1_a", "sub-gone")
        .await
        .unwrap()
        .is_none());
    // An origin whose user is gone: the token, no user, no groups.
    s.insert_origin(&origin("us-east-1_a", "o2", "sub-gone"), Some("h2"))
        .await
        .unwrap();
    let g = s.refresh_grant("h2").await.unwrap().unwrap();
    assert_eq!(g.token.origin.sub, "sub-gone");
    assert!(g.user.is_none() && g.groups.is_empty());
    assert!(s.refresh_grant("never").await.unwrap().is_none());
}

pub(crate) async fn an_origin_whose_refresh_token_fails_is_not_recorded(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    s.insert_origin(&origin("us-east-1_a", "o1", "sub-a"), Some("h1"))
        .await
        .unwrap();
    // The same refresh token hash again: the whole write fails, the
    // origin with it.
    assert!(s
        .insert_origin(&origin("us-east-1_a", "o2", "sub-a"), Some("h1"))
        .await
        .is_err());
    assert!(s.origin("o2").await.unwrap().is_none());
    assert_eq!(
        s.refresh_token("h1")
            .await
            .unwrap()
            .unwrap()
            .origin
            .origin_jti,
        "o1"
    );
    // Nothing was left open: the writer goes on.
    for i in 0..3 {
        s.insert_origin(
            &origin("us-east-1_a", &format!("n{i}"), "sub-a"),
            Some(&format!("n{i}")),
        )
        .await
        .unwrap();
    }
    s.insert_origin(&origin("us-east-1_a", "o3", "sub-a"), None)
        .await
        .unwrap();
    assert!(s.origin("o3").await.unwrap().is_some());
    assert_eq!(
        s.refresh_token("n2")
            .await
            .unwrap()
            .unwrap()
            .origin
            .origin_jti,
        "n2"
    );
    assert!(s.refresh_token("o3").await.unwrap().is_none());
}

pub(crate) async fn only_one_concurrent_rotation_wins(h: Harness) {
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

pub(crate) async fn a_challenge_session_is_taken_once(h: Harness) {
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

pub(crate) async fn codes_are_replaced_and_consumed_with_the_user_write(h: Harness) {
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

pub(crate) async fn key_rotation_retires_the_old_keys(h: Harness) {
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

pub(crate) async fn gateway_nodes_are_refreshed_listed_by_freshness_and_removed(h: Harness) {
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

pub(crate) async fn identity_providers_round_trip_and_go_with_their_pool(h: Harness) {
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

pub(crate) async fn meta_values_are_inserted_once_or_replaced(h: Harness) {
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

    // A value settled by meta_get_or_insert is the same for every node and
    // kept in memory from then on: a change behind this process's back
    // (which meta_set's contract rules out for such keys) is not read
    // again, while this process's own meta_set is seen at once.
    assert_eq!(s.meta_get_or_insert("once", "a").await.unwrap(), "a");
    let other = Store::connect(&h.reopen).await.unwrap();
    assert_eq!(other.meta_get_or_insert("once", "b").await.unwrap(), "a");
    other.meta_set("once", "behind").await.unwrap();
    assert_eq!(s.meta_get_or_insert("once", "c").await.unwrap(), "a");
    s.meta_set("once", "d").await.unwrap();
    assert_eq!(s.meta_get_or_insert("once", "e").await.unwrap(), "d");
    other.close().await;
}

pub(crate) async fn data_survives_reopening(h: Harness) {
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

/// An untaken code of client `c1` for `sub-a` in pool `us-east-1_a`.
fn auth_code(hash: &str) -> AuthCode {
    AuthCode {
        code_hash: hash.into(),
        pool_id: "us-east-1_a".into(),
        client_id: "c1".into(),
        sub: "sub-a".into(),
        redirect_uri: "https://app/cb".into(),
        scopes: "openid".into(),
        nonce: None,
        code_challenge: Some("x".into()),
        auth_time: 5,
        created_ms: 10,
        expires_ms: 1_000,
        consumed_ms: None,
        origin_jti: None,
    }
}

pub(crate) async fn an_authorization_code_is_taken_once_and_a_replay_is_recognised(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let code = AuthCode {
        client_id: "c".into(),
        nonce: Some("n".into()),
        ..auth_code("ch")
    };
    s.insert_auth_code(&code).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.take_auth_code("ch", 20, "o1").await.unwrap()
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
    match s.take_auth_code("ch", 30, "o2").await.unwrap() {
        // The taker's origin, never a replayer's.
        Taken::Replayed(c) => assert_eq!(c.origin_jti.as_deref(), Some("o1")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.take_auth_code("nope", 30, "o3").await.unwrap(),
        Taken::Unknown
    );
    assert_eq!(s.purge_auth_codes(2_000).await.unwrap(), 1);
}

pub(crate) async fn a_sealed_code_is_taken_once_in_the_write_of_what_it_issues(h: Harness) {
    let s = &h.store;
    s.insert_pool(&pool("us-east-1_a")).await.unwrap();
    let code = auth_code;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = s.clone();
        let sealed = code("sealed-1");
        tasks.push(tokio::spawn(async move {
            let o = origin("us-east-1_a", &format!("o{i}"), "sub-a");
            let taken = s
                .insert_origin_taking_code(&o, &format!("r{i}"), &sealed)
                .await
                .unwrap();
            (i, taken)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, taken) = t.await.unwrap();
        // Only a taker's own authentication and refresh token are recorded.
        assert_eq!(s.origin(&format!("o{i}")).await.unwrap().is_some(), taken);
        assert_eq!(
            s.refresh_token(&format!("r{i}")).await.unwrap().is_some(),
            taken
        );
        if taken {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let row = s
        .auth_code("sealed-1")
        .await
        .unwrap()
        .expect("the taken code's row");
    assert_eq!(
        row,
        AuthCode {
            consumed_ms: Some(100),
            origin_jti: Some(format!("o{}", winners[0])),
            ..code("sealed-1")
        }
    );
    // A write that fails after the code's row (this refresh token exists)
    // leaves nothing: the code is still untaken, the origin not recorded.
    let o = origin("us-east-1_a", "o-late", "sub-a");
    let clash = format!("r{}", winners[0]);
    assert!(s
        .insert_origin_taking_code(&o, &clash, &code("sealed-2"))
        .await
        .is_err());
    assert_eq!(s.auth_code("sealed-2").await.unwrap(), None);
    assert!(s.origin("o-late").await.unwrap().is_none());
    assert!(s
        .insert_origin_taking_code(&o, "r-late", &code("sealed-2"))
        .await
        .unwrap());
    // A failed exchange burns a code: no later taker gets it, and a code
    // taken before is not burnt again (its row keeps the first taker).
    assert!(!s.burn_sealed_code(&code("sealed-1"), 50).await.unwrap());
    assert!(s.burn_sealed_code(&code("sealed-3"), 50).await.unwrap());
    let o = origin("us-east-1_a", "o-burnt", "sub-a");
    assert!(!s
        .insert_origin_taking_code(&o, "r-burnt", &code("sealed-3"))
        .await
        .unwrap());
    assert!(s.origin("o-burnt").await.unwrap().is_none());
    let burnt = s
        .auth_code("sealed-3")
        .await
        .unwrap()
        .expect("burnt code's row");
    assert_eq!((burnt.consumed_ms, burnt.origin_jti), (Some(50), None));
    assert_eq!(
        s.auth_code("sealed-1")
            .await
            .unwrap()
            .and_then(|c| c.origin_jti),
        Some(format!("o{}", winners[0]))
    );
    assert_eq!(s.purge_auth_codes(2_000).await.unwrap(), 3);
    assert_eq!(s.auth_code("sealed-1").await.unwrap(), None);
}

pub(crate) async fn provider_links_are_unique_and_go_with_their_user(h: Harness) {
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

pub(crate) async fn a_key_is_claimed_once_even_by_racing_callers(h: Harness) {
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
