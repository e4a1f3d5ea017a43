//! Strict HTTP/1.1 message framing (RFC 9112) in front of hyper, on every
//! listener.
//!
//! hyper parses requests safely but leniently where the RFC lets a server
//! choose: a request with both Content-Length and Transfer-Encoding is
//! framed by the latter (the former is dropped before the service could
//! see it), and Host is not looked at. A front end for other people's apps
//! refuses such requests, as Envoy and nginx do, so that no request can be
//! read two ways by cognate and by something in front of or behind it.
//!
//! [`Framed`] wraps a connection's byte stream. It holds each request head
//! back until the head is complete, judges it with httparse (the parser
//! hyper uses, with hyper's default settings), then lets it through, and
//! follows the body's framing (a length, or chunks, by the grammar hyper's
//! decoder accepts) to find where the next head starts. A refused head
//! never reaches hyper: hyper reads a stand-in request in its place that
//! carries the refusal, marked with this process's secret, and then the
//! end of the stream, so the refusal is answered in order after any
//! pipelined requests before it and the connection closes. Whatever this
//! reader does not understand (a head httparse rejects, an upgrade, a
//! malformed chunk) it passes through unchanged from then on, leaving the
//! answer to hyper's own checks, which refuse all of those.
//!
//! Written here because no crate offers a strict pre-parser for hyper's
//! server; the parsing itself is httparse's.

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::limits::ConnGuard;

/// The header of the stand-in request that carries a refusal:
/// `<secret> <status>`.
pub const REFUSAL_HEADER: &str = "x-cognate-framing-refusal";

/// hyper's default limit on request header lines.
const MAX_HEADERS: usize = 100;
/// A head longer than this is let through for hyper to refuse (431); hyper's
/// own buffer limit is about 400 KiB.
const MAX_HELD: usize = 512 * 1024;
/// The first read of a connection, and the least room made for later ones.
const READ_CHUNK: usize = 8 * 1024;

/// This process's secret for stand-in requests: random, never sent out.
pub fn secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// The status a stand-in request asks for, when its header carries this
/// process's secret.
pub fn refusal_of(value: &[u8]) -> Option<StatusCode> {
    let text = std::str::from_utf8(value).ok()?;
    let (given, status) = text.split_once(' ')?;
    // A constant-time compare, though a stand-in's header never leaves the
    // process: it costs nothing here.
    if aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), secret().as_bytes())
        .is_err()
    {
        return None;
    }
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
}

/// How a head's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// What a complete head gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Let it through; its body is framed so.
    Pass(Framing),
    /// Refuse it with this status; the connection ends.
    Refuse(StatusCode),
    /// Let it and everything after it through unread (upgrades).
    Through,
}

/// Judges a parsed request head by RFC 9112's framing rules.
fn judge(req: &httparse::Request<'_, '_>) -> Verdict {
    let http11 = req.version == Some(1);
    let mut hosts = 0;
    let mut host_ok = true;
    let mut length: Option<u64> = None;
    let mut lengths_ok = true;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut upgrade = req.method == Some("CONNECT");
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host_ok &= valid_host(h.value);
        } else if name.eq_ignore_ascii_case("content-length") {
            match digits(h.value) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => lengths_ok = false,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(
                h.value
                    .split(|b| *b == b',')
                    .map(trim_ows)
                    .filter(|c| !c.is_empty()),
            );
            // An empty Transfer-Encoding value names no coding at all.
            if trim_ows(h.value).is_empty() {
                codings.push(b"");
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= http11;
        }
    }
    // RFC 9112 §3.2: one Host in an HTTP/1.1 request, never two, and a
    // valid one.
    if hosts > 1 || !host_ok || (http11 && hosts == 0) {
        return Verdict::Refuse(StatusCode::BAD_REQUEST);
    }
    if !lengths_ok {
        return Verdict::Refuse(StatusCode::BAD_REQUEST);
    }
    if !codings.is_empty() {
        // §6.1: Transfer-Encoding needs HTTP/1.1; with Content-Length too the
        // message could be read two ways; chunked must be the last coding
        // and appear once.
        if !http11 || length.is_some() {
            return Verdict::Refuse(StatusCode::BAD_REQUEST);
        }
        let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
        let (last, before) = codings.split_last().expect("not empty");
        if !chunked(last) || before.iter().any(chunked) {
            return Verdict::Refuse(StatusCode::BAD_REQUEST);
        }
        // §6.1: a coding the server does not understand is 501. cognate
        // decodes none but chunked.
        if !before.is_empty() {
            return Verdict::Refuse(StatusCode::NOT_IMPLEMENTED);
        }
    }
    if upgrade {
        return Verdict::Through;
    }
    Verdict::Pass(if !codings.is_empty() {
        Framing::Chunked
    } else {
        match length {
            Some(n) if n > 0 => Framing::Length(n),
            _ => Framing::None,
        }
    })
}

/// `1*DIGIT`, as a u64 (RFC 9110 §8.6; no sign, spaces or lists).
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

/// `uri-host [ ":" port ]`, or empty (RFC 9112 §3.2); no user info.
fn valid_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    if value.contains(&b'@') {
        return false;
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<axum::http::uri::Authority>().ok())
        .is_some()
}

/// Where the reader is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests, or in a head.
    Head,
    /// In a body of this many bytes still to come.
    Length(u64),
    /// In a chunked body.
    Chunk(Chunk),
    /// Passing everything through unread.
    Through,
}

/// The chunked grammar hyper's decoder accepts (RFC 9112 §7.1 with CRLF
/// line ends, spaces or tabs after the size, extensions up to CR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Start,
    Size(u64),
    SizeSpace(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

/// The next chunk state after `b`, or `None` where hyper would fail.
fn chunk_step(state: Chunk, b: u8) -> Option<Chunk> {
    let hex = |b: u8| (b as char).to_digit(16).map(u64::from);
    let grow = |n: u64, d: u64| n.checked_mul(16)?.checked_add(d);
    Some(match (state, b) {
        (Chunk::Start, b) => Chunk::Size(hex(b)?),
        (Chunk::Size(n), b) if hex(b).is_some() => Chunk::Size(grow(n, hex(b)?)?),
        (Chunk::Size(n) | Chunk::SizeSpace(n), b' ' | b'\t') => Chunk::SizeSpace(n),
        (Chunk::Size(n) | Chunk::SizeSpace(n) | Chunk::Extension(n), b'\r') => Chunk::SizeLf(n),
        (Chunk::Size(n) | Chunk::SizeSpace(n), b';') => Chunk::Extension(n),
        (Chunk::Extension(_), b'\n') => return None,
        (Chunk::Extension(n), _) => Chunk::Extension(n),
        (Chunk::SizeLf(0), b'\n') => Chunk::EndCr,
        (Chunk::SizeLf(n), b'\n') => Chunk::Data(n),
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::Start,
        (Chunk::EndCr, b'\r') => Chunk::EndLf,
        (Chunk::Trailer, b'\r') => Chunk::TrailerLf,
        (Chunk::EndCr | Chunk::Trailer, _) => Chunk::Trailer,
        (Chunk::TrailerLf, b'\n') => Chunk::EndCr,
        _ => return None,
    })
}

/// A connection's byte stream with request framing checked (module docs).
pub struct Framed<IO> {
    io: IO,
    /// Bytes read: `[start..ready)` may go to hyper, `[ready..)` are held.
    buf: Vec<u8>,
    start: usize,
    ready: usize,
    state: State,
    /// No more bytes after `buf`: the peer's end.
    ended: bool,
    /// No more bytes after `buf`, and no end either: a refusal's stand-in
    /// is the last request, and hyper closes the connection after its
    /// answer. (An end of stream here would make hyper drop the request
    /// unanswered, as a client gone.)
    refused: bool,
    guard: ConnGuard,
}

impl<IO> Framed<IO> {
    pub fn new(io: IO, guard: ConnGuard) -> Self {
        Framed {
            io,
            buf: Vec::new(),
            start: 0,
            ready: 0,
            state: State::Head,
            ended: false,
            refused: false,
            guard,
        }
    }

    /// Moves bytes from held to ready as far as the framing allows;
    /// false when more bytes are needed first.
    fn advance(&mut self) -> bool {
        if self.ready == self.buf.len() {
            return false;
        }
        match self.state {
            State::Head => self.advance_head(),
            _ => {
                let n = scan_body(&mut self.state, &self.buf[self.ready..]);
                self.ready += n;
                n > 0 || self.state == State::Head
            }
        }
    }

    fn advance_head(&mut self) -> bool {
        let held = &self.buf[self.ready..];
        // Left uninitialised for httparse to fill (as hyper does): 100
        // empty headers were 3 KiB written before every parse.
        let mut headers =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let verdict = match req.parse_with_uninit_headers(held, &mut headers) {
            // In the middle of a head: counted against the address's
            // pending connections until it is whole (a head that arrives
            // whole never is: two updates of a shared counter fewer per
            // request).
            Ok(httparse::Status::Partial) if held.len() <= MAX_HELD => {
                self.guard.set_pending(true);
                return false;
            }
            Ok(httparse::Status::Complete(n)) => (n, judge(&req)),
            // Too long, too many headers, or malformed: hyper answers.
            _ => (held.len(), Verdict::Through),
        };
        self.guard.set_pending(false);
        match verdict {
            (n, Verdict::Pass(framing)) => {
                self.ready += n;
                self.state = match framing {
                    Framing::None => State::Head,
                    Framing::Length(l) => State::Length(l),
                    Framing::Chunked => State::Chunk(Chunk::Start),
                };
            }
            (_, Verdict::Through) => {
                self.ready = self.buf.len();
                self.state = State::Through;
            }
            (_, Verdict::Refuse(status)) => {
                tracing::debug!(%status, "request refused for its framing");
                self.buf.truncate(self.ready);
                self.buf.extend_from_slice(
                    format!(
                        "GET / HTTP/1.1\r\nhost: cognate\r\n{REFUSAL_HEADER}: {} {}\r\nconnection: close\r\n\r\n",
                        secret(),
                        status.as_u16()
                    )
                    .as_bytes(),
                );
                self.ready = self.buf.len();
                self.state = State::Through;
                self.refused = true;
            }
        }
        true
    }
}

/// How many of `bytes` belong to the body `state` is in, moving `state` on
/// (to `Head` when the body ends there, to `Through` where hyper would
/// refuse the chunk grammar).
fn scan_body(state: &mut State, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        match *state {
            State::Head => return i,
            State::Through => return bytes.len(),
            State::Length(n) => {
                let take = n.min((bytes.len() - i) as u64);
                i += take as usize;
                *state = if n == take {
                    State::Head
                } else {
                    State::Length(n - take)
                };
            }
            State::Chunk(Chunk::Data(n)) => {
                let take = n.min((bytes.len() - i) as u64);
                i += take as usize;
                *state = State::Chunk(if n == take {
                    Chunk::DataCr
                } else {
                    Chunk::Data(n - take)
                });
            }
            State::Chunk(Chunk::EndLf) => {
                if bytes[i] != b'\n' {
                    *state = State::Through;
                    return bytes.len();
                }
                i += 1;
                *state = State::Head;
            }
            State::Chunk(c) => match chunk_step(c, bytes[i]) {
                Some(next) => {
                    i += 1;
                    *state = State::Chunk(next);
                }
                None => {
                    *state = State::Through;
                    return bytes.len();
                }
            },
        }
    }
    i
}

impl<IO: AsyncRead + Unpin> AsyncRead for Framed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.start < this.ready {
                let n = (this.ready - this.start).min(out.remaining());
                out.put_slice(&this.buf[this.start..this.start + n]);
                this.start += n;
                if this.start == this.buf.len() {
                    this.buf.clear();
                    this.start = 0;
                    this.ready = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            if this.refused {
                return Poll::Pending;
            }
            if this.advance() {
                continue;
            }
            // Nothing held: a body (or passed-through stream) is read
            // straight into hyper's buffer and scanned there.
            if this.buf.is_empty() && this.state != State::Head {
                let before = out.filled().len();
                std::task::ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
                let got = &out.filled()[before..];
                if got.is_empty() {
                    this.ended = true;
                    return Poll::Ready(Ok(()));
                }
                let body = scan_body(&mut this.state, got);
                if body < got.len() {
                    // A next head begins here: hold it back.
                    this.buf.extend_from_slice(&got[body..]);
                    out.set_filled(before + body);
                }
                if body > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            if this.start > 0 {
                this.buf.drain(..this.start);
                this.ready -= this.start;
                this.start = 0;
            }
            // Read into the buffer's spare room: nothing is zeroed first
            // (a keep-alive connection polls here after every answer).
            this.buf.reserve(READ_CHUNK);
            let got = std::task::ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.io),
                cx,
                &mut this.buf
            ))?;
            if got == 0 {
                // The peer's end: what is held goes to hyper as it is.
                this.ended = true;
                this.ready = this.buf.len();
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Framed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn verdict(head: &str) -> Verdict {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head.as_bytes()) {
            Ok(httparse::Status::Complete(_)) => judge(&req),
            other => panic!("not a complete head: {other:?}"),
        }
    }

    const BAD: Verdict = Verdict::Refuse(StatusCode::BAD_REQUEST);

    #[test]
    fn host_must_be_there_once_and_valid() {
        assert_eq!(
            verdict("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Verdict::Pass(Framing::None)
        );
        assert_eq!(verdict("GET / HTTP/1.1\r\n\r\n"), BAD);
        assert_eq!(verdict("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), BAD);
        assert_eq!(verdict("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), BAD);
        assert_eq!(verdict("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), BAD);
        assert_eq!(verdict("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), BAD);
        assert_eq!(
            verdict("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            Verdict::Pass(Framing::None)
        );
        assert_eq!(
            verdict("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            Verdict::Pass(Framing::None)
        );
        // HTTP/1.0 need not send one.
        assert_eq!(
            verdict("GET / HTTP/1.0\r\n\r\n"),
            Verdict::Pass(Framing::None)
        );
    }

    #[test]
    fn content_length_is_one_decimal_number() {
        let with = |cl: &str| verdict(&format!("POST / HTTP/1.1\r\nHost: a\r\n{cl}\r\n\r\n"));
        assert_eq!(
            with("Content-Length: 12"),
            Verdict::Pass(Framing::Length(12))
        );
        assert_eq!(with("Content-Length: 0"), Verdict::Pass(Framing::None));
        assert_eq!(
            with("Content-Length: 5\r\nContent-Length: 5"),
            Verdict::Pass(Framing::Length(5))
        );
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: +5",
            "Content-Length: 5, 5",
            "Content-Length: 0x5",
            "Content-Length: 99999999999999999999999",
            "Content-Length:",
        ] {
            assert_eq!(with(bad), BAD, "{bad}");
        }
    }

    #[test]
    fn transfer_codings_are_chunked_last_once_and_alone() {
        let with = |h: &str| verdict(&format!("POST / HTTP/1.1\r\nHost: a\r\n{h}\r\n\r\n"));
        assert_eq!(
            with("Transfer-Encoding: chunked"),
            Verdict::Pass(Framing::Chunked)
        );
        assert_eq!(
            with("Transfer-Encoding: Chunked"),
            Verdict::Pass(Framing::Chunked)
        );
        assert_eq!(with("Transfer-Encoding: chunked\r\nContent-Length: 3"), BAD);
        assert_eq!(with("Content-Length: 3\r\nTransfer-Encoding: chunked"), BAD);
        assert_eq!(with("Transfer-Encoding: chunked, chunked"), BAD);
        assert_eq!(
            with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
            BAD
        );
        assert_eq!(with("Transfer-Encoding: gzip"), BAD);
        assert_eq!(with("Transfer-Encoding: xchunked"), BAD);
        assert_eq!(with("Transfer-Encoding:"), BAD);
        assert_eq!(
            with("Transfer-Encoding: gzip, chunked"),
            Verdict::Refuse(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"),
            Verdict::Refuse(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            verdict("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            BAD
        );
    }

    #[test]
    fn upgrades_are_passed_through() {
        assert_eq!(
            verdict(
                "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
            ),
            Verdict::Through
        );
    }

    /// Reads a whole stream through `Framed`, fed in pieces of `step` bytes.
    async fn through(input: &[u8], step: usize) -> Vec<u8> {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let limits = crate::limits::ConnLimits::new(8, 8);
        let guard = limits
            .admit("127.0.0.1".parse().unwrap())
            .expect("admitted");
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in input.chunks(step) {
                client.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            client.shutdown().await.unwrap();
            client
        });
        let mut framed = Framed::new(server, guard);
        let mut out = Vec::new();
        // To the end, or to the stand-in's last byte (after which reads
        // wait forever: hyper closes the connection).
        while !(framed.refused && framed.start == framed.ready) {
            if framed.read_buf(&mut out).await.unwrap() == 0 {
                break;
            }
        }
        drop(writer.await.unwrap());
        out
    }

    fn stand_in(status: u16) -> String {
        format!(
            "GET / HTTP/1.1\r\nhost: cognate\r\n{REFUSAL_HEADER}: {} {status}\r\nconnection: close\r\n\r\n",
            secret()
        )
    }

    #[tokio::test]
    async fn good_pipelines_pass_unchanged_in_any_pieces() {
        let input = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\n\
GET /c HTTP/1.1\r\nHost: a\r\n\r\n";
        for step in [1, 2, 3, 7, 64, input.len()] {
            assert_eq!(
                through(input, step).await,
                input.to_vec(),
                "pieces of {step}"
            );
        }
    }

    #[tokio::test]
    async fn a_refused_head_after_good_ones_becomes_the_stand_in_and_the_end() {
        let good = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        // The smuggling shape: the second request's body would hide a third.
        let bad = "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n";
        for step in [1, 5, 1000] {
            let out = through(format!("{good}{bad}").as_bytes(), step).await;
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{good}{}", stand_in(400))
            );
        }
        let out = through(b"GET / HTTP/1.1\r\n\r\n", 4).await;
        assert_eq!(String::from_utf8(out).unwrap(), stand_in(400));
        let out = through(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n0\r\n\r\n",
            9,
        )
        .await;
        assert_eq!(String::from_utf8(out).unwrap(), stand_in(501));
    }

    #[tokio::test]
    async fn what_hyper_refuses_itself_is_passed_through_unchanged() {
        // Obsolete line folding (httparse refuses it), a bad chunk line, a
        // head cut by the peer's end: all reach hyper as sent.
        for input in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Half",
        ] {
            assert_eq!(through(input, 3).await, input.to_vec());
        }
    }

    #[test]
    fn only_this_process_secret_makes_a_refusal() {
        let good = format!("{} 400", secret());
        assert_eq!(refusal_of(good.as_bytes()), Some(StatusCode::BAD_REQUEST));
        assert_eq!(refusal_of(b"00000000000000000000000000000000 400"), None);
        assert_eq!(refusal_of(b"400"), None);
    }
}
