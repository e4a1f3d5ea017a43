//! What the store's test files share: a store on SQLite and, when
//! `COGNATE_TEST_DATABASE_URL` names a PostgreSQL server, one on PostgreSQL
//! in a schema of its own; and the macro that runs a test on both.

use std::sync::atomic::{AtomicU64, Ordering};

use cognate_store::Store;

/// A store under test, with what it takes to open it again.
pub struct Harness {
    pub store: Store,
    pub reopen: String,
    pub _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    let reopen = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cognate.db").display()
    );
    Harness {
        store,
        reopen,
        _dir: Some(dir),
    }
}

pub async fn postgres() -> Option<Harness> {
    let base = std::env::var("COGNATE_TEST_DATABASE_URL").ok()?;
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("connect to COGNATE_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url).await.unwrap();
    Some(Harness {
        store,
        reopen: url,
        _dir: None,
    })
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::sqlite().await).await } )*
        }
        mod on_postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   match $crate::common::postgres().await {
                       Some(h) => super::$name(h).await,
                       // Not a silent pass: without a database the test
                       // fails, unless skipping PostgreSQL was asked for.
                       None if std::env::var_os("COGNATE_SKIP_POSTGRES").is_some() => {
                           eprintln!("skipped: COGNATE_SKIP_POSTGRES is set, PostgreSQL not tested")
                       }
                       None => panic!(
                           "COGNATE_TEST_DATABASE_URL is unset: set it to a PostgreSQL server \
                            (bash scripts/test does), or set COGNATE_SKIP_POSTGRES=1 to skip these"
                       ),
                   }
               } )*
        }
    };
}
