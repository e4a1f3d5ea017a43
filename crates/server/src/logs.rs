//! Where log lines go: stderr, in batches written by a thread of their own.
//!
//! The access log writes a line per request. Handing each line to a
//! writer thread through a channel (tracing-appender's non-blocking
//! writer) woke that thread and made one write(2) per line: together with
//! the formatting, about a fifth of a proxied request's CPU in the gateway
//! benchmark (docs/performance.md). Here a line is appended to a shared
//! buffer under a lock, and the writer thread wakes on its own every
//! [`FLUSH_EVERY`] (or when the buffer passes [`FLUSH_AT`]) and writes
//! what has gathered in one call. No crate found does this batching for
//! tracing's writers, so it is written here.
//!
//! Not lossy: past [`MAX_HELD`] bytes a request waits for the writer
//! rather than a line being dropped. The [`Flush`] guard writes what is
//! held when the process ends.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long a line may wait before it is written.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FLUSH_AT: usize = 64 * 1024;
/// A buffer this full makes writers wait.
const MAX_HELD: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Held {
    buf: Vec<u8>,
    ended: bool,
}

#[derive(Default)]
struct Shared {
    held: Mutex<Held>,
    /// Wakes the writer thread (a full buffer, the end).
    full: Condvar,
    /// Wakes lines waiting for room.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Held> {
        // A panic while holding the lock leaves whole lines behind it.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer tracing's fmt layer is given.
#[derive(Clone)]
pub struct Batched(Arc<Shared>);

/// Writes what is held when dropped (at the end of `main`).
pub struct Flush {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the writer thread for `out`.
pub fn batched(out: impl Write + Send + 'static) -> (Batched, Flush) {
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("cognate-log".into())
        .spawn(move || write_loop(&s, out))
        .expect("the log writer thread starts");
    (
        Batched(shared.clone()),
        Flush {
            shared,
            thread: Some(thread),
        },
    )
}

fn write_loop(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::new();
    loop {
        let mut held = shared.lock();
        if held.buf.len() < FLUSH_AT && !held.ended {
            held = shared
                .full
                .wait_timeout(held, FLUSH_EVERY)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        std::mem::swap(&mut held.buf, &mut spare);
        let ended = held.ended;
        drop(held);
        shared.drained.notify_all();
        if !spare.is_empty() {
            // Nowhere to report a failed write of the log itself.
            let _ = out.write_all(&spare);
            let _ = out.flush();
            spare.clear();
        }
        if ended {
            return;
        }
    }
}

impl Write for &Batched {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = &self.0;
        let mut held = shared.lock();
        while held.buf.len() >= MAX_HELD && !held.ended {
            shared.full.notify_one();
            held = shared.drained.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.buf.extend_from_slice(line);
        if held.buf.len() >= FLUSH_AT {
            shared.full.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched {
    type Writer = &'a Batched;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// The access log's target.
pub const ACCESS: &str = "cognate::access";

/// An HTTP API's access line: target [`ACCESS`] and a message only (a JSON
/// object the gateway made). WebSocket access lines carry fields and go
/// through tracing's fmt layer like other events.
pub fn is_access_line(m: &tracing::Metadata<'_>) -> bool {
    m.target() == ACCESS && m.fields().len() == 1 && m.fields().field("message").is_some()
}

/// Writes the HTTP APIs' access lines ([`is_access_line`]): their message
/// is JSON, escaped already (the gateway's access.rs), so it goes out as
/// it is, after the time, level and target tracing's fmt layer puts in
/// front of every line.
/// The fmt layer is given every other event: it re-escapes a message
/// character by character, which was most of the access log's remaining
/// cost (docs/performance.md).
pub struct AccessLines(pub Batched);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AccessLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !is_access_line(event.metadata()) {
            return;
        }
        let mut line = String::with_capacity(512);
        push_time(&mut line, std::time::SystemTime::now());
        line.push_str("  INFO ");
        line.push_str(ACCESS);
        line.push_str(": ");
        event.record(&mut Message(&mut line));
        line.push('\n');
        let _ = (&self.0).write_all(line.as_bytes());
    }
}

/// `at` as tracing's fmt layer writes the time (RFC 3339, UTC, in
/// microseconds). The date and second are kept per thread and written out
/// once a second: formatting the whole time through `fmt` for every access
/// line was a visible part of the log's cost.
fn push_time(line: &mut String, at: std::time::SystemTime) {
    use std::cell::RefCell;
    use std::fmt::Write as _;
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            text.clear();
            if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs as i64) {
                let _ = write!(
                    text,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    t.year(),
                    t.month() as u8,
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                );
            }
            *second = secs;
        }
        line.push_str(text);
    });
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    line.push('.');
    line.push_str(std::str::from_utf8(&digits).unwrap_or("000000"));
    line.push('Z');
}

/// Copies an event's message, nothing else.
struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write as _;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.lock().ended = true;
        self.shared.full.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read after the writer is done.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_whole_and_in_order_by_the_end() {
        let sink = Sink::default();
        let (w, flush) = batched(sink.clone());
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        (&w).write_all(format!("t{t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in writers {
            t.join().unwrap();
        }
        drop(flush);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..20_000).collect::<Vec<_>>(), "thread {t}");
        }
        assert_eq!(text.lines().count(), 80_000);
    }

    #[test]
    fn access_lines_are_written_as_given_and_other_events_are_not() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let sink = Sink::default();
        let (w, flush) = batched(sink.clone());
        let subscriber = tracing_subscriber::registry().with(AccessLines(w));
        tracing::subscriber::with_default(subscriber, || {
            let line = r#"{"requestId":"a\"b","status":200}"#;
            tracing::info!(target: "cognate::access", "{line}");
            // WebSocket access lines (fields) and other targets are the
            // fmt layer's.
            tracing::info!(target: "cognate::access", connectionId = "c1", routeKey = "$connect");
            tracing::info!(target: "cognate::serve", "{line}");
        });
        drop(flush);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let (time, rest) = lines[0].split_once("  ").unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        assert_eq!(
            rest,
            r#"INFO cognate::access: {"requestId":"a\"b","status":200}"#
        );
    }

    #[test]
    fn the_time_is_written_as_rfc3339_in_microseconds_utc() {
        use time::format_description::well_known::Rfc3339;
        let cases = [
            (1_764_843_799_714_225_u64, "2025-12-04T10:23:19.714225Z"),
            (1_764_843_799_000_001, "2025-12-04T10:23:19.000001Z"),
            // The next second on the same thread: the kept part moves on.
            (1_764_843_800_999_999, "2025-12-04T10:23:20.999999Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
        ];
        for (micros, want) in cases {
            let at = std::time::UNIX_EPOCH + Duration::from_micros(micros);
            let mut line = String::from("x");
            push_time(&mut line, at);
            assert_eq!(&line[1..], want);
            // The same instant, read back.
            let parsed = time::OffsetDateTime::parse(&line[1..], &Rfc3339).unwrap();
            assert_eq!(parsed.unix_timestamp_nanos(), micros as i128 * 1000);
        }
        // As tracing's own formatter writes it for the fmt layer's lines.
        use tracing_subscriber::fmt::time::FormatTime;
        let mut theirs = String::new();
        let _ = tracing_subscriber::fmt::time::SystemTime.format_time(
            &mut tracing_subscriber::fmt::format::Writer::new(&mut theirs),
        );
        let mut ours = String::new();
        push_time(&mut ours, std::time::SystemTime::now());
        let shape = |t: &str| t.replace(|c: char| c.is_ascii_digit(), "0");
        assert_eq!(shape(&ours), shape(&theirs), "{ours} vs {theirs}");
    }

    #[test]
    fn a_line_is_written_without_waiting_for_the_end() {
        let sink = Sink::default();
        let (w, _flush) = batched(sink.clone());
        (&w).write_all(b"one line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"one line\n");
    }
}
