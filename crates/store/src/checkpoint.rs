//! SQLite's checkpoints, taken off the write path.
//!
//! In WAL mode a commit appends pages to the log, and SQLite copies the log
//! back into the database file (a checkpoint) when a commit finds it past
//! `wal_autocheckpoint` pages: in the committing connection, which then
//! syncs the log and the database file to disk while it still holds the
//! write lock, so every other writer waits for two `fsync`s
//! (docs/performance.md: the code exchange on disk against tmpfs).
//!
//! Here a task of the store checkpoints every [`EVERY`] when something was
//! written since its last checkpoint, in PASSIVE mode: it takes no writer's
//! lock, writers go on appending while it copies and syncs. Writers still
//! checkpoint themselves past [`WRITER_AUTOCHECKPOINT`] pages, should the
//! task fall behind (a reader holding an old snapshot, a stalled disk), so
//! the log stays bounded as before. Durability is unchanged: with
//! `synchronous = NORMAL` a commit never waited for the disk, a checkpoint
//! always did, and still does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

/// How often the task looks for something to checkpoint.
pub(crate) const EVERY: Duration = Duration::from_millis(250);

/// Log pages past which a writer checkpoints in its own commit
/// (SQLite's default is 1,000; 16,000 pages are 64 MiB at 4 KiB).
pub(crate) const WRITER_AUTOCHECKPOINT: u32 = 16_000;

/// The running task; it stops when the last clone of its store goes.
pub(crate) struct Checkpointer {
    writes: Arc<AtomicU64>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database of `pool` (any of its
    /// connections will do: a checkpoint needs no write lock).
    pub(crate) fn start(pool: AnyPool) -> Checkpointer {
        let writes = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let seen_writes = writes.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut checkpointed, mut failing) = (0, false);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                if pool.is_closed() {
                    break;
                }
                let written = seen_writes.load(Ordering::Acquire);
                if written == checkpointed {
                    continue;
                }
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    Ok(_) => {
                        checkpointed = written;
                        failing = false;
                    }
                    // Said once per run of failures, not every round.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
        Checkpointer {
            writes,
            _stop: stop,
        }
    }
}

/// A writer's turn on SQLite: when it passes on, the write it was taken
/// for is over (committed or not), and the next round checkpoints.
pub(crate) struct Permit {
    _turn: tokio::sync::OwnedSemaphorePermit,
    writes: Arc<AtomicU64>,
}

impl Permit {
    pub(crate) fn new(turn: tokio::sync::OwnedSemaphorePermit, of: &Checkpointer) -> Permit {
        Permit {
            _turn: turn,
            writes: of.writes.clone(),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.writes.fetch_add(1, Ordering::Release);
    }
}
