//! SQLite reads on the caller's thread.
//!
//! sqlx runs every SQLite connection on a thread of its own: a read is a
//! message to that thread, its wake-up, the rows sent back one at a time,
//! and a second round trip when the connection goes back to its pool
//! (sqlx pings every connection it takes back). On two cores that cost
//! about 90 µs of CPU per read, where SQLite's own work is about 10 µs
//! (docs/performance.md, session 13). The reads on the sign-in, authorize
//! and token paths (a user by a key, a user with groups, a refresh token
//! with its user) run here instead, on rusqlite connections this store
//! keeps, on the task's own thread.
//!
//! A read in WAL mode does not wait for the writer, and these connections
//! do not wait at all (`busy_timeout` 0): when SQLite cannot answer at
//! once (another process is recovering the file, say), or answers with any
//! error, the read is a miss and the caller asks its pool as before, which
//! waits and reports errors as it always did. A miss never answers in
//! place of the database.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use sqlx::any::AnyRow;

use crate::{Result, StoreError};

/// Connections kept idle; more are opened while more tasks read at once,
/// and closed when they come back to a full shelf.
const MAX_IDLE: usize = 8;

/// Why an inline read did not answer: the caller's pool is asked instead.
#[derive(Debug)]
pub(crate) enum Miss {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Sqlite(e) => write!(f, "SQLite: {e}"),
            Miss::Store(e) => write!(f, "{e}"),
        }
    }
}

impl From<rusqlite::Error> for Miss {
    fn from(e: rusqlite::Error) -> Self {
        Miss::Sqlite(e)
    }
}

impl From<StoreError> for Miss {
    fn from(e: StoreError) -> Self {
        Miss::Store(e)
    }
}

/// The database file's read connections of this kind, and one writer.
pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    writer: Mutex<Option<Connection>>,
}

impl InlineReader {
    /// Reads of the SQLite database at `url` (`sqlite://PATH?...`); None
    /// for a database that is not a file (`:memory:`), which other
    /// connections could not see.
    pub(crate) fn for_url(url: &str) -> Option<InlineReader> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
            return None;
        }
        Some(InlineReader {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
        })
    }

    /// Runs `read` on an idle connection (a new one when none is idle).
    /// None when it missed; the connection of a miss is closed, so a
    /// statement left half-read never reaches another caller.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> std::result::Result<T, Miss>,
    ) -> Option<T> {
        let taken = self.idle.lock().expect("inline reader lock").pop();
        let conn = taken_or_opened(taken, || self.open(), "reader", "reading")?;
        match read(&conn) {
            Ok(v) => {
                let mut idle = self.idle.lock().expect("inline reader lock");
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                Some(v)
            }
            Err(miss) => {
                tracing::debug!(%miss, "inline SQLite read missed; reading through the pool");
                None
            }
        }
    }

    /// Runs `command` with `values` for its `$1`, `$2`, ... on the writer
    /// connection; the number of rows its statements returned, or None
    /// when it missed (rolled back, its connection closed: the caller
    /// runs it through its pool). The caller holds the write turn.
    pub(crate) fn command(&self, command: &Command, values: &[Value]) -> Option<usize> {
        let mut shelf = self.writer.lock().expect("inline writer lock");
        let conn = taken_or_opened(shelf.take(), || self.open_writer(), "writer", "writing")?;
        match run_command(&conn, command, values) {
            Ok(returned) => {
                *shelf = Some(conn);
                Some(returned)
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                tracing::debug!(error = %e, "inline SQLite command missed; writing through the pool");
                None
            }
        }
    }

    fn open_writer(&self) -> rusqlite::Result<Connection> {
        // As the pool's writers (lib.rs): rusqlite's defaults would sync
        // every commit and checkpoint every 1,000 pages.
        self.open_with(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {};",
            crate::checkpoint::WRITER_AUTOCHECKPOINT
        ))
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Never write (this connection only reads; the file's writer is
        // sqlx's, or this reader's writer connection).
        self.open_with("PRAGMA query_only = ON;")
    }

    /// A connection to the file that never waits for a lock (a wait would
    /// hold the async worker's thread), with `pragmas` run.
    fn open_with(&self, pragmas: &str) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.execute_batch(pragmas)?;
        Ok(conn)
    }
}

/// `taken`, else a connection `open` makes; None (the caller goes to its
/// pool) when it cannot be opened.
fn taken_or_opened(
    taken: Option<Connection>,
    open: impl FnOnce() -> rusqlite::Result<Connection>,
    kind: &str,
    doing: &str,
) -> Option<Connection> {
    match taken {
        Some(c) => Some(c),
        None => open()
            .map_err(|e| {
                tracing::debug!(error = %e, "inline SQLite {kind} not opened; {doing} through the pool");
            })
            .ok(),
    }
}

/// A SQLite command: statements run in order on one connection (with
/// their own BEGIN and COMMIT), kept apart so that each is prepared once
/// per connection, and as one text for sqlx, which runs it in one call.
pub(crate) struct Command {
    statements: Vec<String>,
    pub(crate) text: String,
}

impl Command {
    pub(crate) fn new(statements: Vec<String>) -> Command {
        let text = statements.join("; ");
        Command { statements, text }
    }
}

/// Runs each statement of `command` with its `$N` parameters bound from
/// `values`, counting the rows the statements return.
fn run_command(conn: &Connection, command: &Command, values: &[Value]) -> rusqlite::Result<usize> {
    let mut returned = 0;
    for sql in &command.statements {
        let mut statement = conn.prepare_cached(sql)?;
        for i in 1..=statement.parameter_count() {
            let name = statement.parameter_name(i).unwrap_or_default().to_string();
            let value = name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| values.get(n.checked_sub(1)?))
                .ok_or(rusqlite::Error::InvalidParameterName(name))?;
            statement.raw_bind_parameter(i, value)?;
        }
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {
            returned += 1;
        }
    }
    Ok(returned)
}

/// A value a column holds, as both drivers read it.
pub(crate) trait Cell:
    Sized + for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Cell for T where
    T: Sized
        + for<'r> sqlx::Decode<'r, sqlx::Any>
        + sqlx::Type<sqlx::Any>
        + rusqlite::types::FromSql
{
}

/// A row read by name, from either driver: the functions that turn rows
/// into the store's types take any.
pub(crate) trait Columns {
    fn cell<T: Cell>(&self, column: &str) -> Result<T>;
}

impl Columns for AnyRow {
    fn cell<T: Cell>(&self, column: &str) -> Result<T> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn cell<T: Cell>(&self, column: &str) -> Result<T> {
        self.get(column)
            .map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &tempfile::TempDir, journal: &str) -> (InlineReader, Connection) {
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = {journal}; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER);"
            ))
            .unwrap();
        let reader =
            InlineReader::for_url(&format!("sqlite://{}?mode=rwc", path.display())).unwrap();
        (reader, writer)
    }

    fn value(reader: &InlineReader, k: &str) -> Option<Option<i64>> {
        reader.read(|c| {
            let mut s = c.prepare_cached("SELECT v FROM t WHERE k = $1")?;
            let mut rows = s.query(rusqlite::named_params! {"$1": k})?;
            Ok(match rows.next()? {
                Some(r) => Some(r.cell::<i64>("v")?),
                None => None,
            })
        })
    }

    #[test]
    fn only_database_files_are_read_inline() {
        assert_eq!(
            InlineReader::for_url("sqlite:///var/lib/cognate/cognate.db?mode=rwc")
                .unwrap()
                .path,
            PathBuf::from("/var/lib/cognate/cognate.db")
        );
        assert!(InlineReader::for_url("sqlite:relative.db").is_some());
        assert!(InlineReader::for_url("sqlite::memory:").is_none());
        assert!(InlineReader::for_url("sqlite://:memory:").is_none());
        assert!(InlineReader::for_url("postgres://localhost/db").is_none());
    }

    #[test]
    fn a_read_sees_every_write_committed_before_it_and_reuses_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (reader, writer) = database(&dir, "WAL");
        assert_eq!(value(&reader, "a"), Some(None));
        writer.execute("INSERT INTO t VALUES ('a', 1)", []).unwrap();
        assert_eq!(value(&reader, "a"), Some(Some(1)));
        writer
            .execute("UPDATE t SET v = 2 WHERE k = 'a'", [])
            .unwrap();
        assert_eq!(value(&reader, "a"), Some(Some(2)));
        assert_eq!(reader.idle.lock().unwrap().len(), 1);
        // Its connections only read.
        let wrote = reader.read(|c| Ok(c.execute("INSERT INTO t VALUES ('b', 3)", [])?));
        assert_eq!(wrote, None);
        assert_eq!(value(&reader, "b"), Some(None));
    }

    #[test]
    fn a_locked_database_is_a_miss_at_once_and_its_connection_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        // A rollback journal: a writer's exclusive lock keeps readers out.
        let (reader, writer) = database(&dir, "DELETE");
        writer.execute("INSERT INTO t VALUES ('a', 1)", []).unwrap();
        assert_eq!(value(&reader, "a"), Some(Some(1)));
        writer
            .execute_batch("BEGIN EXCLUSIVE; UPDATE t SET v = 2;")
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(value(&reader, "a"), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(reader.idle.lock().unwrap().is_empty());
        writer.execute_batch("COMMIT;").unwrap();
        assert_eq!(value(&reader, "a"), Some(Some(2)));
    }

    #[test]
    fn a_value_of_another_type_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let (reader, writer) = database(&dir, "WAL");
        writer
            .execute("INSERT INTO t VALUES ('a', 'text')", [])
            .unwrap();
        assert_eq!(value(&reader, "a"), None);
    }
}

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn a_command_binds_its_values_by_number_and_counts_returned_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER);",
            )
            .unwrap();
        let inline = InlineReader::for_url(&format!("sqlite://{}", path.display())).unwrap();
        let sql = &Command::new(vec![
            "BEGIN IMMEDIATE".into(),
            "INSERT INTO t VALUES ($2, $1) ON CONFLICT (k) DO NOTHING".into(),
            "INSERT INTO t SELECT $3, $1 WHERE changes() = 1 RETURNING k".into(),
            "COMMIT".into(),
        ]);
        let values = |a: &str, b: &str| {
            vec![
                Value::Integer(7),
                Value::Text(a.into()),
                Value::Text(b.into()),
            ]
        };
        assert_eq!(inline.command(sql, &values("a", "b")), Some(1));
        // The first insert finds its key taken: nothing returned.
        assert_eq!(inline.command(sql, &values("a", "c")), Some(0));
        // A failing statement (b is taken) rolls the whole command back.
        assert_eq!(inline.command(sql, &values("d", "b")), None);
        let keys: Vec<String> = setup
            .prepare("SELECT k FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(keys, ["a", "b"]);
        // A value missing for a parameter is a miss, not a NULL.
        assert_eq!(inline.command(sql, &values("e", "f")[..2]), None);
        assert_eq!(inline.command(sql, &values("e", "f")), Some(1));
    }
}
