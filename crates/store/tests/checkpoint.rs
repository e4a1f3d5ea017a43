//! SQLite's log is copied into the database file by the store's own task
//! (checkpoint.rs), not by the commits: writes that stay far below the
//! writers' own checkpoint threshold still reach the database file soon.

use std::time::{Duration, Instant};

use cognate_store::Store;

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn written_pages_reach_the_database_file_without_a_writer_checkpointing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    let (db, wal) = (
        dir.path().join("cognate.db"),
        dir.path().join("cognate.db-wal"),
    );
    // What the migrations wrote is checkpointed first.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = size(&db);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = size(&db);
        if now == before && now > 0 || Instant::now() > deadline {
            break;
        }
        before = now;
    }

    // About 1 MiB in 64 commits: some 250 pages of log, far below the
    // threshold at which a writer would checkpoint in its own commit.
    let value = "x".repeat(16 * 1024);
    for i in 0..64 {
        store.meta_set(&format!("bulk.{i}"), &value).await.unwrap();
    }
    assert!(
        size(&wal) >= 1024 * 1024,
        "the commits went to the log: {} bytes",
        size(&wal)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&db) < before + 1024 * 1024 {
        assert!(
            Instant::now() < deadline,
            "the database file did not grow by the written pages: {} -> {} bytes",
            before,
            size(&db)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing was lost on the way: the rows read back whole.
    for i in 0..64 {
        let got = store.meta_get(&format!("bulk.{i}")).await.unwrap();
        assert_eq!(got.as_deref(), Some(value.as_str()));
    }
    store.close().await;
}
