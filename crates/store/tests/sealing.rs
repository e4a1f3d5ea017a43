//! Secrets at rest (seal.rs), on SQLite and PostgreSQL: what is sealed,
//! what a store without the keys does, and a key rotation.

#[macro_use]
mod common;
use common::Harness;

use cognate_config::{ClientSettings, PoolSettings};
use cognate_store::keys::SigningKey;
use cognate_store::pools::{Client, Pool};
use cognate_store::seal::Keyring;
use cognate_store::StoreError;
use sqlx::Row;

contract!(secrets_are_sealed_at_rest_opened_with_their_keys_and_resealed_after_a_rotation);

/// The stored text of one column of one row, as the database holds it.
async fn raw(h: &Harness, sql: &str, id: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.reopen).await.unwrap();
    let row = sqlx::query(sql).bind(id).fetch_one(&pool).await.unwrap();
    let value: String = row.try_get(0).unwrap();
    pool.close().await;
    value
}

async fn raw_values(h: &Harness) -> [String; 3] {
    [
        raw(h, "SELECT secret FROM app_clients WHERE id = $1", "c1").await,
        raw(
            h,
            "SELECT private_key FROM signing_keys WHERE kid = $1",
            "k1",
        )
        .await,
        raw(
            h,
            "SELECT value FROM meta WHERE key = $1",
            "admin.secret_access_key",
        )
        .await,
    ]
}

async fn secrets_are_sealed_at_rest_opened_with_their_keys_and_resealed_after_a_rotation(
    h: Harness,
) {
    let (a, b) = (Keyring::new_key_line("a"), Keyring::new_key_line("b"));
    let plain = h.store.clone();
    // Written before sealing was turned on: plain, and sealed at the next
    // start (reseal_all) once keys are given.
    plain
        .insert_pool(&Pool {
            id: "us-east-1_s".into(),
            name: "s".into(),
            config_key: None,
            settings: PoolSettings::default(),
            domain: None,
            created_ms: 1,
            updated_ms: 1,
        })
        .await
        .unwrap();
    plain
        .meta_get_or_insert("admin.secret_access_key", "admin-secret-value")
        .await
        .unwrap();
    let sealed = h.store.clone().with_keyring(Keyring::parse(&a).unwrap());
    assert_eq!(sealed.reseal_all().await.unwrap(), 1);
    sealed
        .insert_client(&Client {
            id: "c1".into(),
            pool_id: "us-east-1_s".into(),
            name: "c".into(),
            secret: Some("client-secret-value".into()),
            config_key: None,
            settings: ClientSettings::default(),
            created_ms: 1,
            updated_ms: 1,
        })
        .await
        .unwrap();
    sealed
        .insert_key(&SigningKey {
            kid: "k1".into(),
            pool_id: "us-east-1_s".into(),
            purpose: "access".into(),
            private_key: "private-key-value".into(),
            created_ms: 1,
            retired_ms: None,
        })
        .await
        .unwrap();
    // Not settings: stored as they are.
    sealed.meta_set("stacks.declared", "{}").await.unwrap();
    assert_eq!(
        raw(
            &h,
            "SELECT value FROM meta WHERE key = $1",
            "stacks.declared"
        )
        .await,
        "{}"
    );
    for (stored, secret) in raw_values(&h).await.iter().zip([
        "client-secret-value",
        "private-key-value",
        "admin-secret-value",
    ]) {
        assert!(stored.starts_with("sealed:v1:a:"), "{stored}");
        assert!(!stored.contains(secret));
    }
    // Opened with the keys.
    assert_eq!(
        sealed
            .client("c1")
            .await
            .unwrap()
            .unwrap()
            .secret
            .as_deref(),
        Some("client-secret-value")
    );
    assert_eq!(
        sealed.keys("us-east-1_s").await.unwrap()[0].private_key,
        "private-key-value"
    );
    assert_eq!(
        sealed
            .meta_get("admin.secret_access_key")
            .await
            .unwrap()
            .as_deref(),
        Some("admin-secret-value")
    );
    // Without the keys: refused, never the sealed text as if it were the secret.
    assert!(matches!(
        plain.client("c1").await,
        Err(StoreError::Secret(_))
    ));
    assert!(matches!(
        plain.keys("us-east-1_s").await,
        Err(StoreError::Secret(_))
    ));
    assert!(matches!(
        plain.reseal_all().await,
        Err(StoreError::Secret(_))
    ));
    // Rotation: b first, a still held; every secret is sealed again with b.
    let rotated = h
        .store
        .clone()
        .with_keyring(Keyring::parse(&format!("{b}\n{a}")).unwrap());
    assert_eq!(rotated.reseal_all().await.unwrap(), 3);
    assert_eq!(rotated.reseal_all().await.unwrap(), 0);
    for stored in raw_values(&h).await {
        assert!(stored.starts_with("sealed:v1:b:"), "{stored}");
    }
    // Now b alone opens everything; a alone opens nothing.
    let only_b = h.store.clone().with_keyring(Keyring::parse(&b).unwrap());
    assert_eq!(
        only_b
            .client("c1")
            .await
            .unwrap()
            .unwrap()
            .secret
            .as_deref(),
        Some("client-secret-value")
    );
    let only_a = h.store.clone().with_keyring(Keyring::parse(&a).unwrap());
    assert!(matches!(
        only_a.meta_get("admin.secret_access_key").await,
        Err(StoreError::Secret(_))
    ));
}
