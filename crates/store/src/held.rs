//! PostgreSQL connections for the hottest reads, held out of sqlx's pool.
//!
//! sqlx tries every connection that goes back to its pool (a `ping` in
//! `return_to_pool`, sqlx-core 0.8): on PostgreSQL one more round trip per
//! statement, paid in CPU by this process and by PostgreSQL on the same
//! cores as the request (docs/performance.md, session 13: 3-5% of a
//! refresh; session 16). The reads on the sign-in, authorize, token and
//! refresh paths (those inline.rs runs on the caller's thread on SQLite)
//! take a connection from this shelf instead and put it back only when
//! their statement has finished: a statement that failed, or was cut
//! short because its future was dropped, drops its connection with it, so
//! what sqlx's try guards against (a connection left mid-protocol) never
//! reaches the shelf. A failed read is read again through the pool, which
//! waits and reports errors as it always did.
//!
//! The shelf fills only from connections idle in the pool (taken without
//! waiting, then detached: the pool may open others in their place) and
//! holds at most [`MAX_HELD`], so the server sees at most that many more
//! connections than the pool's own maximum. One idle for
//! [`IDLE_BEFORE_PING`] or more is tried before it is used, as the pool
//! tries its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Connection};

use crate::{Result, IDLE_BEFORE_PING};

/// Connections held at most (idle or in use).
pub(crate) const MAX_HELD: usize = 8;

/// The shelf of one store's pool.
pub(crate) struct Held {
    pool: AnyPool,
    idle: Mutex<Vec<(AnyConnection, Instant)>>,
    /// Connections held, idle or in use.
    count: AtomicUsize,
}

/// A connection taken from the shelf; it goes back only by
/// [`Taken::give_back`], and is closed when dropped otherwise.
pub(crate) struct Taken<'a> {
    conn: Option<AnyConnection>,
    shelf: &'a Held,
}

impl Taken<'_> {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a taken connection until given back")
    }

    /// Back on the shelf, after a statement that ran to its end.
    pub(crate) fn give_back(mut self) {
        if let Some(conn) = self.conn.take() {
            self.shelf
                .idle
                .lock()
                .expect("held connections lock")
                .push((conn, Instant::now()));
        }
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.shelf.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Held {
    pub(crate) fn new(pool: AnyPool) -> Held {
        Held {
            pool,
            idle: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        }
    }

    /// A connection off the shelf, or one idle in the pool; None when
    /// neither is at hand without waiting (the caller uses the pool).
    pub(crate) async fn take(&self) -> Option<Taken<'_>> {
        loop {
            let popped = self.idle.lock().expect("held connections lock").pop();
            let Some((mut conn, since)) = popped else {
                break;
            };
            if since.elapsed() < IDLE_BEFORE_PING || conn.ping().await.is_ok() {
                return Some(Taken {
                    conn: Some(conn),
                    shelf: self,
                });
            }
            // Dead while it sat: dropped, and the next one tried.
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        let reserved = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_HELD).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            return None;
        }
        match self.pool.try_acquire() {
            Some(pooled) => Some(Taken {
                conn: Some(pooled.detach()),
                shelf: self,
            }),
            None => {
                self.count.fetch_sub(1, Ordering::AcqRel);
                None
            }
        }
    }

    /// All rows of the query `make` builds: on a held connection, else
    /// (none at hand, or the held one failed) through the pool.
    pub(crate) async fn fetch_all<'q>(
        &self,
        make: impl Fn() -> Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<Vec<AnyRow>> {
        if let Some(mut taken) = self.take().await {
            match make().fetch_all(taken.conn()).await {
                Ok(rows) => {
                    taken.give_back();
                    return Ok(rows);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "held PostgreSQL connection failed; reading through the pool");
                }
            }
        }
        Ok(make().fetch_all(&self.pool).await?)
    }

    /// Closes the idle connections (the store is closing).
    pub(crate) async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().expect("held connections lock"));
        for (conn, _) in idle {
            self.count.fetch_sub(1, Ordering::AcqRel);
            let _ = conn.close().await;
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    /// A pool on the test server, or None (said) when skipping PostgreSQL
    /// was asked for; unset without that is a failure, as in the contract
    /// suite.
    async fn pool(max: u32) -> Option<AnyPool> {
        let Ok(url) = std::env::var("COGNATE_TEST_DATABASE_URL") else {
            if std::env::var_os("COGNATE_SKIP_POSTGRES").is_some() {
                eprintln!("skipped: COGNATE_SKIP_POSTGRES is set, PostgreSQL not tested");
                return None;
            }
            panic!("COGNATE_TEST_DATABASE_URL is unset (bash scripts/test sets it)");
        };
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(max)
            .connect(&url)
            .await
            .expect("connect to COGNATE_TEST_DATABASE_URL");
        // Let the pool open its minimum, so idle connections are at hand.
        for _ in 0..50 {
            if pool.num_idle() as u32 >= max {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Some(pool)
    }

    async fn backend_pid(held: &Held) -> i32 {
        let rows = held
            .fetch_all(|| sqlx::query("SELECT pg_backend_pid() AS pid"))
            .await
            .unwrap();
        rows[0].get::<i32, _>("pid")
    }

    #[tokio::test]
    async fn a_read_goes_back_on_the_shelf_and_the_next_read_reuses_it() {
        let Some(pool) = pool(2).await else { return };
        let held = Held::new(pool);
        let first = backend_pid(&held).await;
        assert_eq!(held.held(), 1);
        assert_eq!(backend_pid(&held).await, first);
        assert_eq!(held.held(), 1);
    }

    #[tokio::test]
    async fn a_failed_read_drops_its_connection_and_is_read_again_through_the_pool() {
        let Some(pool) = pool(2).await else { return };
        let admin = pool.clone();
        let held = Held::new(pool);
        let shelved = backend_pid(&held).await;
        // The server ends the shelved connection's session.
        let ended: bool = sqlx::query("SELECT pg_terminate_backend($1) AS ended")
            .bind(shelved)
            .fetch_one(&admin)
            .await
            .unwrap()
            .get("ended");
        assert!(ended);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // The read still answers, from another session.
        let answered = backend_pid(&held).await;
        assert_ne!(answered, shelved);
    }

    #[tokio::test]
    async fn a_read_cut_short_never_puts_its_connection_back() {
        let Some(pool) = pool(2).await else { return };
        let held = Held::new(pool);
        let mut taken = held.take().await.expect("an idle pool connection");
        assert_eq!(held.held(), 1);
        // A statement started and abandoned mid-way.
        let slow = sqlx::query("SELECT pg_sleep(5)").execute(taken.conn());
        let cut = tokio::time::timeout(std::time::Duration::from_millis(50), slow).await;
        assert!(cut.is_err(), "the statement was cut short");
        drop(taken);
        assert_eq!(held.held(), 0);
        assert!(held.idle.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_more_than_max_held_are_taken() {
        let Some(pool) = pool(MAX_HELD as u32 + 2).await else {
            return;
        };
        let held = Held::new(pool.clone());
        let mut taken = Vec::new();
        for _ in 0..MAX_HELD {
            taken.push(held.take().await.expect("under the bound"));
        }
        assert!(held.take().await.is_none(), "past the bound");
        assert_eq!(held.held(), MAX_HELD);
        // Reads still answer, through the pool.
        assert!(backend_pid(&held).await > 0);
        drop(taken);
        assert_eq!(held.held(), 0);
    }

    #[tokio::test]
    async fn nothing_is_taken_from_a_pool_with_no_idle_connection() {
        let Some(pool) = pool(1).await else { return };
        let held = Held::new(pool.clone());
        let _busy = pool.acquire().await.unwrap();
        let started = Instant::now();
        assert!(held.take().await.is_none());
        assert_eq!(held.held(), 0);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "it did not wait"
        );
    }
}
