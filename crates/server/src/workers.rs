//! The threads HTTP APIs' connections are served on: one single-threaded
//! tokio runtime per core, each connection given whole to one of them in
//! turn (nginx's worker model, inside one process).
//!
//! On the multi-threaded runtime a proxied request's parts (the client's
//! connection, the request, the upstream's connection) are woken on
//! whichever worker is free, and the workers park and wake each other
//! through the kernel; on a machine whose cores are shared with the
//! clients and the upstream that costs more than the request's own work
//! (docs/performance.md, session 15). Here a connection, its requests and
//! the upstream connections they open stay on one thread.
//!
//! The runtimes start on first use and live as long as the process: what
//! a request opens on one (an upstream or database connection, a task) may
//! be used later from any other.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Handle;

pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

/// The process's workers, started on first use: as many as the cores;
/// `COGNATE_CONNECTION_THREADS` sets another number, 0 none (connections
/// are then served on the main runtime).
pub fn workers() -> Option<&'static Workers> {
    static WORKERS: OnceLock<Option<Workers>> = OnceLock::new();
    WORKERS
        .get_or_init(|| {
            let cores = || std::thread::available_parallelism().map_or(2, |n| n.get());
            let n = match std::env::var("COGNATE_CONNECTION_THREADS") {
                Ok(v) => v.trim().parse::<usize>().unwrap_or_else(|_| {
                    tracing::warn!(value = %v, "COGNATE_CONNECTION_THREADS is not a number; one thread per core");
                    cores()
                }),
                Err(_) => cores(),
            };
            (n > 0).then(|| Workers {
                handles: (0..n).map(start).collect(),
                next: AtomicUsize::new(0),
            })
        })
        .as_ref()
}

/// Starts worker `i`'s thread and returns its runtime's handle.
fn start(i: usize) -> Handle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("cognate-conn-{i}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a connection runtime starts");
            let _ = tx.send(runtime.handle().clone());
            // Tasks spawned through the handle run while this waits.
            runtime.block_on(std::future::pending::<()>());
        })
        .expect("a connection thread starts");
    rx.recv().expect("the connection runtime's handle")
}

impl Workers {
    /// Runs `task` on the next worker in turn.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::workers;

    #[test]
    fn tasks_go_to_the_workers_in_turn() {
        let w = workers().expect("workers");
        assert!(!w.handles.is_empty());
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..2 * w.handles.len() {
            let tx = tx.clone();
            w.spawn(async move {
                // Each worker is a thread of its own with a runtime of its
                // own that has a timer.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let _ = tx.send(std::thread::current().name().map(str::to_string));
            });
        }
        drop(tx);
        let mut names: Vec<String> = rx.iter().map(|n| n.expect("named thread")).collect();
        names.sort();
        let mut expected: Vec<String> = (0..w.handles.len())
            .flat_map(|i| [format!("cognate-conn-{i}"), format!("cognate-conn-{i}")])
            .collect();
        expected.sort();
        assert_eq!(names, expected);
    }
}
