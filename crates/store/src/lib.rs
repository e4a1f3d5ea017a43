//! cognate's persistence.
//!
//! One [`Store`] over SQLite (default, WAL, a file in the data dir) or
//! PostgreSQL (`--database-url`, for several nodes sharing one database). Both
//! run the same SQL through sqlx's `Any` driver: the statements are written in
//! the subset both speak (`$n` parameters, `ON CONFLICT`, `RETURNING`, integer
//! flags, JSON kept as text), so there is one implementation of each
//! repository and one contract test suite run against both. Each backend has
//! its own migrations, applied at start (PostgreSQL takes an advisory lock, so
//! two nodes starting together apply them once).
//!
//! Repositories, one per aggregate, as methods grouped by module: [`pools`]
//! (pools, app clients, resource servers), [`users`], [`groups`], [`tokens`]
//! (token origins and refresh tokens), [`keys`], [`codes`] (one-time codes and
//! challenge sessions), [`nodes`] (gateway nodes of WebSocket APIs), and [`meta`]. Writes that belong together run in one
//! transaction. No state lives only in this process.

pub mod auth_codes;
mod checkpoint;
pub mod codes;
pub mod groups;
mod held;
mod inline;
pub mod keys;
pub mod links;
pub mod meta;
pub mod nodes;
pub mod pools;
pub mod providers;
pub mod seal;
pub mod tokens;
pub mod users;

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

/// How long a statement may wait for a connection (and, on SQLite, for
/// the write turn).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a pooled connection may sit idle before it is tried again
/// when taken.
pub(crate) const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write; the payload names the rule
    /// (`username`, `email`, `group`, ...).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// A row the write depends on does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The database could not be reached or answered with an error.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A stored value could not be read back (bad JSON, ...).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A sealed secret could not be opened (no key, another key, changed).
    #[error("secret at rest: {0}")]
    Secret(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Unavailable(e)
    }
}

impl StoreError {
    /// Whether the database could not be reached in time (connection lost,
    /// pool exhausted, busy): worth retrying later, unlike a bad query.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_) => true,
                sqlx::Error::Database(db) => {
                    // SQLite: database is locked / busy (5, 6); PostgreSQL: class 08
                    // (connection exception), 57P01-57P03 (shutting down).
                    let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                    matches!(code.as_str(), "5" | "6" | "517")
                        || code.starts_with("08")
                        || code.starts_with("57P0")
                }
                _ => false,
            },
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store: its connection pools and the backend they talk to.
#[derive(Clone)]
pub struct Store {
    /// Reads. A statement that writes goes to `writer`, never here.
    reader: AnyPool,
    /// Writes, taken through [`Store::write`] and [`Store::begin_write`].
    /// On PostgreSQL the same pool as `reader`. On SQLite two connections
    /// and one turn (`write_turn`): this process's writers queue for the
    /// turn in order, as SQLite has one writer at a time and writers that
    /// meet its lock otherwise wait in its busy handler, which sleeps in
    /// steps of up to 100 ms (docs/performance.md: the code exchange's
    /// tail). The second connection lets the next writer start while sqlx
    /// still tries the last one's connection on its way back to the pool.
    writer: AnyPool,
    /// The write turn on SQLite, and the task that checkpoints its log
    /// (checkpoint.rs); None on PostgreSQL.
    write_turn: Option<(
        std::sync::Arc<tokio::sync::Semaphore>,
        std::sync::Arc<checkpoint::Checkpointer>,
    )>,
    backend: Backend,
    /// Counts revocations made through this process, so caches of verified
    /// tokens (the gateway's) can re-check at once instead of waiting for
    /// their periodic re-check, which catches other nodes' revocations.
    revocations: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Seals secrets at rest, when keys are given (seal.rs).
    keyring: Option<std::sync::Arc<seal::Keyring>>,
    /// Pools and clients read recently (pools.rs), shared by clones.
    read_cache: std::sync::Arc<pools::ReadCache>,
    read_cache_ttl: Duration,
    /// The hottest reads on SQLite, on the caller's thread (inline.rs);
    /// None on PostgreSQL.
    inline: Option<std::sync::Arc<inline::InlineReader>>,
    /// The same reads' connections on PostgreSQL, held out of the pool
    /// (held.rs); None on SQLite.
    held: Option<std::sync::Arc<held::Held>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// The same store with reads of pools and clients kept for `ttl`
    /// instead of [`pools::READ_CACHE_TTL`] (zero: never kept).
    pub fn with_read_cache_ttl(mut self, ttl: Duration) -> Store {
        self.read_cache = Default::default();
        self.read_cache_ttl = ttl;
        self
    }

    /// How many revocations this process has made (see the field).
    pub fn revocation_epoch(&self) -> u64 {
        self.revocations.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn note_revocation(&self) {
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Opens (creating if needed) the SQLite database `cognate.db` in `dir`.
    pub async fn open_sqlite(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        let file = dir.join("cognate.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Store::connect(&url).await
    }

    /// Connects to `sqlite://...` or `postgres://...` and applies migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Unavailable(sqlx::Error::Configuration(
                format!("unsupported database URL scheme in '{}'", redact(url)).into(),
            )));
        };
        // sqlx tries a connection when it goes back to the pool and, by
        // default, again when it is taken: one more round trip to
        // PostgreSQL (a hop to SQLite's worker thread) per statement, on a
        // connection that answered a moment ago. Only one idle for a while
        // (the server may have restarted, the network been cut) is tried
        // before it is handed out; a failed try discards it.
        let options = || {
            AnyPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= IDLE_BEFORE_PING {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
        };
        let sqlite = |max: u32| {
            options().max_connections(max).after_connect(|conn, _| {
                Box::pin(async move {
                    let pragmas = format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                         PRAGMA wal_autocheckpoint = {};",
                        checkpoint::WRITER_AUTOCHECKPOINT
                    );
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            })
        };
        let (reader, writer) = match backend {
            Backend::Sqlite => {
                let reader = sqlite(8).connect(url).await?;
                // Another process on the same file still meets the busy
                // handler (5 s); nodes that share a database use PostgreSQL.
                let writer = sqlite(2).connect(url).await?;
                (reader, writer)
            }
            Backend::Postgres => {
                let pool = options().max_connections(16).connect(url).await?;
                (pool.clone(), pool)
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&writer)
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        let write_turn = (backend == Backend::Sqlite).then(|| {
            (
                std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
                std::sync::Arc::new(checkpoint::Checkpointer::start(reader.clone())),
            )
        });
        let held = (backend == Backend::Postgres)
            .then(|| std::sync::Arc::new(held::Held::new(reader.clone())));
        Ok(Store {
            reader,
            writer,
            write_turn,
            backend,
            revocations: Default::default(),
            keyring: None,
            read_cache: Default::default(),
            read_cache_ttl: pools::READ_CACHE_TTL,
            inline: match backend {
                Backend::Sqlite => inline::InlineReader::for_url(url).map(std::sync::Arc::new),
                Backend::Postgres => None,
            },
            held,
        })
    }

    /// Seals the secrets this store writes with `keyring` from now on, and
    /// opens what it sealed (seal.rs).
    pub fn with_keyring(mut self, keyring: seal::Keyring) -> Store {
        self.keyring = Some(std::sync::Arc::new(keyring));
        // What was read without the keys is not this store's to answer.
        self.read_cache = Default::default();
        self
    }

    /// `plain` as stored for the place `aad` names: sealed when a keyring
    /// is set.
    fn seal_value(&self, aad: &str, plain: &str) -> String {
        match &self.keyring {
            Some(k) => k.seal(aad, plain),
            None => plain.to_string(),
        }
    }

    /// A stored secret, opened when sealed.
    fn open_value(&self, aad: &str, stored: String) -> Result<String> {
        match (seal::sealed_with(&stored), &self.keyring) {
            (None, _) => Ok(stored),
            (Some(_), Some(k)) => k.open(aad, &stored),
            (Some(id), None) => Err(StoreError::Secret(format!(
                "a secret is sealed with key {id} and no keys were given (server.secret_key_file or COGNATE_SECRET_KEYS)"
            ))),
        }
    }

    /// `read` on this thread, when the database is a SQLite file and it
    /// answers at once (inline.rs); None sends the caller to its pool.
    pub(crate) fn read_inline<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> std::result::Result<T, inline::Miss>,
    ) -> Option<T> {
        self.inline.as_ref()?.read(read)
    }

    /// All rows of the query `make` builds, for the reads that run inline
    /// on SQLite: on PostgreSQL on a held connection (held.rs), else
    /// through the reader pool.
    pub(crate) async fn fetch_all_hot<'q>(
        &self,
        make: impl Fn() -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        match &self.held {
            Some(held) => held.fetch_all(make).await,
            None => Ok(make().fetch_all(&self.reader).await?),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; pending writes have finished when it returns.
    pub async fn close(&self) {
        if let Some(held) = &self.held {
            held.close().await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Starts a transaction that writes: on SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so a transaction that reads before it writes
    /// waits for the lock instead of failing when it upgrades.
    pub(crate) async fn begin_write(&self) -> Result<Turn<sqlx::Transaction<'static, sqlx::Any>>> {
        let turn = self.take_turn().await?;
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(Turn {
            conn: tx,
            _turn: turn,
        })
    }

    /// A connection for one statement that writes.
    pub(crate) async fn write(&self) -> Result<Turn<sqlx::pool::PoolConnection<sqlx::Any>>> {
        let turn = self.take_turn().await?;
        Ok(Turn {
            conn: self.writer.acquire().await?,
            _turn: turn,
        })
    }

    async fn take_turn(&self) -> Result<Option<checkpoint::Permit>> {
        match &self.write_turn {
            None => Ok(None),
            // As long as taking a pooled connection may wait.
            Some((t, c)) => {
                match tokio::time::timeout(ACQUIRE_TIMEOUT, t.clone().acquire_owned()).await {
                    Ok(Ok(p)) => Ok(Some(checkpoint::Permit::new(p, c))),
                    Ok(Err(_)) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
                    Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
                }
            }
        }
    }
}

/// A writer's connection (or transaction) with its turn: the connection
/// goes back to the pool first, then the turn passes on.
pub(crate) struct Turn<C> {
    conn: C,
    _turn: Option<checkpoint::Permit>,
}

impl<C: std::ops::DerefMut<Target = sqlx::AnyConnection>> std::ops::Deref for Turn<C> {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.conn
    }
}

impl<C: std::ops::DerefMut<Target = sqlx::AnyConnection>> std::ops::DerefMut for Turn<C> {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.conn
    }
}

impl Turn<sqlx::Transaction<'static, sqlx::Any>> {
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.conn.commit().await
    }
}

/// Hides the password of a database URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

/// Maps a unique-constraint failure to [`StoreError::Conflict`].
pub(crate) fn conflict(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what),
        _ => StoreError::Unavailable(e),
    }
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("settings serialize")
}

pub(crate) fn flag<R: inline::Columns>(row: &R, column: &str) -> Result<bool> {
    Ok(row.cell::<i64>(column)? != 0)
}
