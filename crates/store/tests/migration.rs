//! SQLite's migration 0010 rebuilds `auth_codes` and `refresh_tokens` as
//! WITHOUT ROWID tables: a database written before it keeps every row, and
//! the rebuilt tables keep their foreign keys and index.

use cognate_store::auth_codes::Taken;
use cognate_store::Store;

async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sql).fetch_one(pool).await.unwrap().get(0)
}

#[tokio::test]
async fn rows_written_before_the_rebuild_are_kept_with_their_keys() {
    sqlx::any::install_default_drivers();
    // The migrations as they were before 0010, applied by sqlx itself.
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let before = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0010" {
            std::fs::copy(&path, before.path().join(&name)).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cognate.db").display()
    );
    let old = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(before.path())
        .await
        .unwrap()
        .run(&old)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO user_pools (id, name, settings, created_ms, updated_ms) VALUES ('p', 'p', '{}', 1, 1)",
        "INSERT INTO token_origins (origin_jti, pool_id, client_id, sub, auth_time, scopes, created_ms, expires_ms) \
         VALUES ('o1', 'p', 'c', 'alice', 5, 'openid', 5, 9000000000000)",
        "INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) VALUES ('h1', 'o1', 5, 9000000000000)",
        "INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms, replaced_ms) VALUES ('h2', 'o1', 6, 9000000000000, 7)",
        "INSERT INTO auth_codes (code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce, code_challenge, \
         auth_time, created_ms, expires_ms) VALUES ('c1', 'p', 'c', 'alice', 'https://app/cb', 'openid', 'n', NULL, 5, 5, 9000000000000)",
    ] {
        sqlx::query(sql).execute(&old).await.unwrap();
    }
    old.close().await;

    // Opening the store applies 0010.
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    let rt = store.refresh_token("h1").await.unwrap().expect("h1 kept");
    assert_eq!((rt.origin.sub.as_str(), rt.replaced_ms), ("alice", None));
    let rt = store.refresh_token("h2").await.unwrap().expect("h2 kept");
    assert_eq!(rt.replaced_ms, Some(7));
    match store.take_auth_code("c1", 10, "o2").await.unwrap() {
        Taken::Fresh(c) => {
            assert_eq!(
                (c.sub.as_str(), c.redirect_uri.as_str(), c.nonce.as_deref()),
                ("alice", "https://app/cb", Some("n"))
            );
        }
        other => panic!("the code was not kept fresh: {other:?}"),
    }
    assert!(matches!(
        store.take_auth_code("c1", 11, "o3").await.unwrap(),
        Taken::Replayed(_)
    ));

    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    for table in ["auth_codes", "refresh_tokens"] {
        let sql: String = {
            use sqlx::Row;
            sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table)
                .fetch_one(&raw)
                .await
                .unwrap()
                .get(0)
        };
        assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    }
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'refresh_tokens_origin'"
        )
        .await,
        1
    );
    // The foreign keys came along: a token of an unknown origin is refused,
    // and deleting the pool takes its origins' tokens and its codes.
    assert!(sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, origin_jti, created_ms, expires_ms) VALUES ('h3', 'nope', 1, 2)"
    )
    .execute(&mut *{
        let mut c = raw.acquire().await.unwrap();
        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *c).await.unwrap();
        c
    })
    .await
    .is_err());
    assert!(store.delete_pool("p").await.unwrap());
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM refresh_tokens").await, 0);
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM auth_codes").await, 0);
    raw.close().await;
    store.close().await;
}
