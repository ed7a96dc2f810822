//! Client connections, before and between requests: how many there may be, and how long a client
//! may take to say what it wants.
//!
//! [`Limits`] admits a connection only within `[server] max_connections` (all clients; past it the
//! longest-idle keep-alive connection is closed to make room) and `max_connections_per_client`,
//! so a flood of idle sockets never takes the last file descriptor. Each admitted connection is
//! wrapped in a [`Guarded`] stream that holds its slot until the socket closes and enforces the
//! client's deadlines on its reads: a request head must arrive whole within
//! `request_header_timeout` of its first byte (a slowloris is cut), and an idle connection waits
//! `keepalive_timeout` for its next request. Whoever serves the connection tells it where it
//! stands ([`mark`]); bodies and WebSockets have their own timeouts. The gateway's `Front` admits
//! and wraps each connection before Pingora reads from it.

mod detach;

use crate::telemetry::metrics;
use async_trait::async_trait;
pub use detach::{detach, detachable};
use futures::task::AtomicWaker;
use parking_lot::Mutex;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, TimingDigest, UniqueID,
    UniqueIDType,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection as Pingora hands it over.
pub type Stream = pingora::protocols::Stream;

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Waiting for a request (new, or between keep-alive requests).
    Idle = 0,
    /// A request's head is arriving.
    Head = 1,
    /// A request is being served (its body read, its answer written).
    Busy = 2,
    /// Not HTTP/1 requests any more: MCP's own WebSocket, or an HTTP/2 connection.
    Upgraded = 3,
    /// An upgraded connection (a WebSocket) proxied to Immich: it reads as ended once a graceful
    /// shutdown begins, so both sides are closed and the client reconnects to another process.
    Tunnel = 4,
}

/// What a connection's stream and the gateway's phases share.
#[derive(Debug)]
pub struct ConnState {
    phase: AtomicU8,
    /// Counts phase changes, so a deadline is known to belong to the phase in force.
    epoch: AtomicU32,
    /// When the connection last became idle (ms since the limits were made), for eviction.
    idle_since: AtomicU64,
    /// Set to make an idle connection close itself (its next read ends the connection).
    evict: std::sync::atomic::AtomicBool,
    waker: AtomicWaker,
}

impl ConnState {
    /// Enters `phase` (a new one, even when it is the same kind: each idle wait is its own).
    fn enter(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Head,
            2 => Phase::Busy,
            3 => Phase::Upgraded,
            _ => Phase::Tunnel,
        }
    }
}

/// Why a request body could not be read whole.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// More than the limit.
    TooLarge,
    /// Not all of it within the time given.
    TooSlow,
}

/// The request body, up to `limit` bytes and within `timeout` (for the gateway's own endpoints,
/// whose bodies are small and read whole: MCP's JSON-RPC, the OAuth server's forms).
pub async fn read_body(
    session: &mut pingora_proxy::Session,
    limit: u64,
    timeout: Duration,
) -> pingora::Result<Result<Vec<u8>, Unread>> {
    let mut body = Vec::new();
    let read = async {
        while let Some(chunk) = session.read_request_body().await? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Ok(Err(Unread::TooLarge));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Ok(()))
    };
    match within(timeout, read).await {
        Some(Ok(Ok(()))) => Ok(Ok(body)),
        Some(Ok(Err(unread))) => Ok(Err(unread)),
        Some(Err(e)) => Err(e),
        None => Ok(Err(Unread::TooSlow)),
    }
}

/// The client's address, when it is an IP one.
pub fn client_ip(session: &pingora_proxy::Session) -> Option<IpAddr> {
    session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip())
}

/// Runs `work` with `limit` to finish, `None` past it. The clock starts at the first wait, so work
/// that is ready at once (a body that came with its head) arms no timer.
pub async fn within<F: std::future::Future>(limit: Duration, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit))).as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Tells the connection behind `session` where it stands (HTTP/1 only: an HTTP/2 connection was
/// marked upgraded when admitted).
pub fn mark(session: &pingora_proxy::Session, phase: Phase) {
    let Some(stream) = session.as_downstream().stream() else { return };
    if let Some(guarded) = stream.as_any().downcast_ref::<Guarded>() {
        if phase == Phase::Idle {
            let now = guarded.limits.clock();
            guarded.state.idle_since.store(now, Ordering::Relaxed);
        }
        guarded.state.enter(phase);
    }
}

/// The connections open now: in all, by client address, and each one's state.
#[derive(Debug)]
pub struct Limits {
    epoch: Instant,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    states: HashMap<u64, Weak<ConnState>>,
    next: u64,
}

/// A connection's place in [`Limits`], given back when dropped.
#[derive(Debug)]
struct Slot {
    limits: Arc<Limits>,
    ip: Option<IpAddr>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock();
        open.total -= 1;
        if let Some(ip) = self.ip
            && let Some(n) = open.per_client.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&ip);
            }
        }
        open.states.remove(&self.id);
        metrics().connections_open.set(open.total as i64);
    }
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` are open and none is idle.
    Total(usize),
    /// This client has `max_connections_per_client` open.
    PerClient(usize),
}

impl Limits {
    /// No connections yet.
    pub fn new() -> Arc<Limits> {
        Arc::new(Limits { epoch: Instant::now(), open: Mutex::new(Open::default()) })
    }

    fn clock(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Admits a connection from `ip` within `total` and `per_client` (0: no per-client limit);
    /// at the total, the longest-idle connection is told to close and makes room.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>, total: usize, per_client: usize) -> Result<Admitted, Refused> {
        let mut open = self.open.lock();
        if per_client > 0
            && let Some(ip) = ip
            && open.per_client.get(&ip).copied().unwrap_or(0) >= per_client
        {
            return Err(Refused::PerClient(per_client));
        }
        if open.total >= total {
            let idle = open
                .states
                .values()
                .filter_map(Weak::upgrade)
                .filter(|s| s.phase() == Phase::Idle && !s.evict.load(Ordering::Relaxed))
                .min_by_key(|s| s.idle_since.load(Ordering::Relaxed));
            let Some(idle) = idle else { return Err(Refused::Total(total)) };
            idle.evict.store(true, Ordering::Release);
            idle.waker.wake();
            metrics().connections_closed.with_label_values(&["evicted_idle"]).inc();
        }
        open.total += 1;
        if let Some(ip) = ip {
            *open.per_client.entry(ip).or_default() += 1;
        }
        let id = open.next;
        open.next += 1;
        let state = Arc::new(ConnState {
            phase: AtomicU8::new(Phase::Idle as u8),
            epoch: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.clock()),
            evict: Default::default(),
            waker: AtomicWaker::new(),
        });
        open.states.insert(id, Arc::downgrade(&state));
        metrics().connections_open.set(open.total as i64);
        Ok(Admitted { slot: Slot { limits: self.clone(), ip, id }, state })
    }
}

/// An admitted connection, not yet wrapped.
#[derive(Debug)]
pub struct Admitted {
    slot: Slot,
    state: Arc<ConnState>,
}

impl Admitted {
    /// Marks an HTTP/2 connection: it serves many requests at once, and its idleness is
    /// Pingora's `h2_idle_timeout`, not this guard's.
    pub fn http2(&self) {
        self.state.enter(Phase::Upgraded);
    }

    /// Wraps `inner` with its deadlines: a head within `head_timeout` of its first byte, the next
    /// request within `idle_timeout`.
    pub fn guard(self, inner: Stream, head_timeout: Duration, idle_timeout: Duration) -> Guarded {
        Guarded {
            inner,
            limits: self.slot.limits.clone(),
            state: self.state,
            head_timeout,
            idle_timeout,
            deadline: None,
            timer: None,
            head: HeadLines::default(),
            last_words: None,
            shutdown: None,
            _slot: self.slot,
        }
    }
}

/// A client connection's stream, holding its slot in [`Limits`] and enforcing the client's
/// deadlines on reads (see the module's documentation).
pub struct Guarded {
    inner: Stream,
    state: Arc<ConnState>,
    limits: Arc<Limits>,
    head_timeout: Duration,
    idle_timeout: Duration,
    /// The deadline of the phase it was last read in, and that phase's epoch.
    deadline: Option<(u32, tokio::time::Instant)>,
    /// Armed at or before the deadline: a timer that fires early is moved on, not reset on every
    /// request (a timer reset per keep-alive request was a measurable share of a small request).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    head: HeadLines,
    /// An answer to write before the connection closes (a head with too many header lines, which
    /// Pingora would answer with an empty 400) and how much of it is written.
    last_words: Option<(Vec<u8>, usize)>,
    /// In a tunnel: resolves when a graceful shutdown begins (made at the first wait).
    shutdown: Option<Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>>,
    _slot: Slot,
}

/// Pingora reads at most this many request header lines (its `MAX_HEADERS`); past them it
/// answers an empty 400, so the gateway answers 431 itself first.
const MAX_HEADER_LINES: u32 = 256;

/// Counts the lines of the request head arriving, up to its blank line.
#[derive(Debug, Default)]
struct HeadLines {
    /// Lines ended so far (the request line included).
    lines: u32,
    /// The current line so far: empty, only a `\r`, or more (the blank line that ends the head is
    /// empty or a lone `\r`).
    partial: Partial,
    /// The head has ended: nothing more is counted until the next one begins.
    done: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Partial {
    #[default]
    Empty,
    Cr,
    Text,
}

impl HeadLines {
    /// Takes note of `bytes` of a head; true once it holds more header lines than Pingora reads.
    fn too_many(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', bytes) {
            let line = &bytes[start..newline];
            let blank = matches!((self.partial, line), (Partial::Empty, [] | [b'\r']) | (Partial::Cr, []));
            start = newline + 1;
            self.partial = Partial::Empty;
            // A blank line before the request line is tolerated, as by HTTP parsers.
            if blank && self.lines > 0 {
                self.done = true;
                return false;
            }
            self.lines += 1;
            // The request line, then the header lines.
            if self.lines > MAX_HEADER_LINES + 1 {
                return true;
            }
        }
        self.partial = match (self.partial, &bytes[start..]) {
            (partial, []) => partial,
            (Partial::Empty, [b'\r']) => Partial::Cr,
            _ => Partial::Text,
        };
        false
    }
}

/// The 431 answer to a head with too many header lines.
fn too_many_headers() -> Vec<u8> {
    let body =
        format!("{{\"error\":\"the request has more than {MAX_HEADER_LINES} header lines; send fewer headers\"}}");
    format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").field("inner", &self.inner).field("phase", &self.state.phase()).finish()
    }
}

impl Guarded {
    /// The deadline for reads in `phase`, counted from the first read of the phase that waited.
    fn deadline(&mut self, phase: Phase) -> Option<tokio::time::Instant> {
        let limit = match phase {
            Phase::Idle => self.idle_timeout,
            Phase::Head => self.head_timeout,
            Phase::Busy | Phase::Upgraded | Phase::Tunnel => return None,
        };
        let epoch = self.state.epoch.load(Ordering::Acquire);
        match self.deadline {
            Some((e, at)) if e == epoch => Some(at),
            _ => {
                let at = tokio::time::Instant::now() + limit;
                self.deadline = Some((epoch, at));
                Some(at)
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let phase = self.state.phase();
        if phase == Phase::Idle && self.state.evict.load(Ordering::Acquire) {
            // Closed to make room for a new connection: an idle client sees the end of it.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &read
            && buf.filled().len() > before
        {
            if phase == Phase::Idle {
                // The first byte of a request: its head has `request_header_timeout` from now.
                self.state.enter(Phase::Head);
                self.head = HeadLines::default();
            }
            if matches!(phase, Phase::Idle | Phase::Head) && self.head.too_many(&buf.filled()[before..]) {
                metrics().connections_closed.with_label_values(&["too_many_headers"]).inc();
                self.last_words = Some((too_many_headers(), 0));
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the request head has more header lines than the gateway reads",
                )));
            }
        }
        if read.is_ready() {
            return read;
        }
        if phase == Phase::Tunnel {
            let shutdown = self.shutdown.get_or_insert_with(|| Box::pin(crate::shutdown::watch()));
            return match shutdown.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Ok(())),
                Poll::Pending => read,
            };
        }
        let Some(deadline) = self.deadline(phase) else { return read };
        if phase == Phase::Idle {
            self.state.waker.register(cx.waker());
        }
        let this = &mut *self;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        let mut fired = timer.as_mut().poll(cx);
        if fired.is_ready() && tokio::time::Instant::now() < deadline {
            // Armed for an earlier phase: on to this one's deadline.
            timer.as_mut().reset(deadline);
            fired = timer.as_mut().poll(cx);
        }
        match fired {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) if phase == Phase::Idle => Poll::Ready(Ok(())),
            Poll::Ready(()) => {
                metrics().connections_closed.with_label_values(&["header_timeout"]).inc();
                tracing::debug!("a request head did not arrive within [server] request_header_timeout");
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request head did not arrive within request_header_timeout",
                )))
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while let Some((words, written)) = &mut this.last_words {
            match Pin::new(&mut this.inner).poll_write(cx, &words[*written..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(n)) if n > 0 && *written + n < words.len() => *written += n,
                Poll::Ready(_) => this.last_words = None,
            }
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        if let Some((words, written)) = self.last_words.take() {
            use tokio::io::AsyncWriteExt;
            let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.write_all(&words[written..])).await;
        }
        Shutdown::shutdown(&mut *self.inner).await
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for Guarded {
    /// Pingora peeks for the HTTP/2 preface (24 bytes) straight from the socket beneath, past
    /// `poll_read` and its deadline; the client has begun its request by then (the gateway's own
    /// peek saw its first byte), so the peek is the head's and gets `request_header_timeout`. A
    /// client dribbling a byte a second was held 24 s past it (bench/dribblers.sh).
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        match tokio::time::timeout(self.head_timeout, self.inner.try_peek(buf)).await {
            Ok(peeked) => peeked,
            Err(_) => {
                metrics().connections_closed.with_label_values(&["header_timeout"]).inc();
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request head did not arrive within request_header_timeout",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn within_times_only_work_that_waits() {
        assert_eq!(within(Duration::from_secs(1), async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(5));
        assert_eq!(within(Duration::from_secs(1), slow).await, None);
        let quick = tokio::time::sleep(Duration::from_millis(500));
        assert_eq!(within(Duration::from_secs(1), quick).await, Some(()));
    }

    #[test]
    fn head_lines_are_counted_up_to_the_blank_line() {
        let head = |headers: usize| {
            let mut text = String::from("GET / HTTP/1.1\r\n");
            (0..headers).for_each(|i| text.push_str(&format!("x-{i}: v\r\n")));
            text + "\r\n"
        };
        assert!(!HeadLines::default().too_many(head(256).as_bytes()), "Pingora reads 256 headers");
        assert!(HeadLines::default().too_many(head(257).as_bytes()));
        // In pieces, as a socket delivers it.
        let mut lines = HeadLines::default();
        let text = head(300);
        assert!(text.as_bytes().chunks(7).any(|piece| lines.too_many(piece)));
        // Pipelined requests after a head's end are not counted as its lines.
        let pipelined = head(3).repeat(200);
        assert!(!HeadLines::default().too_many(pipelined.as_bytes()));
    }

    #[test]
    fn admission_holds_both_caps_and_evicts_the_longest_idle() {
        let limits = Limits::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limits.admit(Some(a), 3, 2).unwrap();
        let first_state = first.state.clone();
        let second = limits.admit(Some(a), 3, 2).unwrap();
        let second_state = second.state.clone();
        assert_eq!(limits.admit(Some(a), 3, 2).err(), Some(Refused::PerClient(2)));
        second_state.phase.store(Phase::Busy as u8, Ordering::Release);
        let third = limits.admit(Some(b), 3, 2).unwrap();
        third.state.phase.store(Phase::Busy as u8, Ordering::Release);
        // Full: the idle one (the first) makes room; busy ones are left alone.
        let fourth = limits.admit(Some(b), 3, 2).unwrap();
        assert!(first_state.evict.load(Ordering::Acquire));
        assert!(!second_state.evict.load(Ordering::Acquire));
        drop(first);
        first_state.phase.store(Phase::Busy as u8, Ordering::Release);
        // Nothing idle left to evict: refused.
        let states: Vec<_> = limits.open.lock().states.values().filter_map(Weak::upgrade).collect();
        for state in &states {
            state.phase.store(Phase::Busy as u8, Ordering::Release);
        }
        assert_eq!(limits.admit(Some(b), 3, 0).err(), Some(Refused::Total(3)));
        drop((second, third, fourth));
        assert_eq!(limits.open.lock().total, 0);
        assert!(limits.open.lock().per_client.is_empty() && limits.open.lock().states.is_empty());
    }
}
