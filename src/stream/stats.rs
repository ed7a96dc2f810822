//! Streaming health as the streaming guide reports it: the Prometheus metrics under its exact names
//! (`streaming_active_connections{transport}`, `streaming_bytes_sent_total{transport}`,
//! `streaming_chunks_sent_total{tool}`, `streaming_backpressure_events_total`,
//! `streaming_stream_duration_seconds`) and the figures behind `GET /health/streaming`.

use crate::telemetry::metrics;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Process-wide streaming figures.
#[derive(Default)]
pub struct StreamStats {
    active: AtomicI64,
    buffered: AtomicI64,
    /// Exponentially weighted mean time to first event, in microseconds.
    first_event_us: AtomicU64,
    errors: Mutex<VecDeque<Instant>>,
}

static STATS: LazyLock<StreamStats> = LazyLock::new(StreamStats::default);

/// The process's streaming figures.
pub fn stats() -> &'static StreamStats {
    &STATS
}

impl StreamStats {
    /// Streams open now.
    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Bytes held in stream batches now.
    pub fn buffered(&self) -> i64 {
        self.buffered.load(Ordering::Relaxed).max(0)
    }

    /// Mean time to first event, in milliseconds.
    pub fn first_event_ms(&self) -> f64 {
        self.first_event_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Stream errors in the last five minutes.
    pub fn errors_last_5_min(&self) -> usize {
        let mut errors = self.errors.lock();
        let horizon = Instant::now().checked_sub(Duration::from_secs(300));
        while errors.front().is_some_and(|t| horizon.is_some_and(|h| *t < h)) {
            errors.pop_front();
        }
        errors.len()
    }

    fn record_first_event(&self, after: Duration) {
        let sample = after.as_micros() as u64;
        let old = self.first_event_us.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { (old * 7 + sample) / 8 };
        self.first_event_us.store(new, Ordering::Relaxed);
    }
}

/// Streams open now, by client.
static PER_CLIENT: LazyLock<Mutex<std::collections::HashMap<String, usize>>> = LazyLock::new(Default::default);

/// Who a stream belongs to, for the per-client cap: the gateway key's name when the client
/// presented one, else its IP address.
pub fn client_of(principal: Option<&str>, ip: Option<std::net::IpAddr>) -> String {
    match (principal, ip) {
        (Some(name), _) => format!("key:{name}"),
        (None, Some(ip)) => format!("ip:{ip}"),
        (None, None) => "unknown".into(),
    }
}

/// Why a new stream was not admitted; the caller answers without streaming (or with 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This client has `[streaming] max_concurrent_streams` streams open already.
    TooManyStreams { max: usize },
    /// `[streaming] max_total_streams` streams are open across the gateway.
    GatewayFull { max: usize },
    /// The streams hold `[streaming] max_buffer_size` bytes or more between them.
    BufferFull { buffered: i64, max: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooManyStreams { max } => {
                write!(f, "this client has {max} streams open, its limit (max_concurrent_streams)")
            }
            Refusal::GatewayFull { max } => {
                write!(f, "the gateway has {max} streams open, its limit (max_total_streams)")
            }
            Refusal::BufferFull { buffered, max } => {
                write!(f, "streams hold {buffered} bytes, at or above the {max}-byte buffer limit")
            }
        }
    }
}

/// One open stream: counts itself active until dropped, and records what it sends.
pub struct StreamGuard {
    client: String,
    transport: &'static str,
    tool: &'static str,
    started: Instant,
    first_sent: bool,
    held: i64,
}

impl StreamGuard {
    /// Admits a stream over `transport` (`sse`, `ndjson`) for `tool` (a tool name, or `api`) and
    /// `client` (see [`client_of`]) unless that client has `max_concurrent_streams` open, the
    /// gateway `max_total_streams`, or the open streams hold `max_buffer_size` bytes.
    pub fn admit(
        transport: &'static str,
        tool: &'static str,
        client: &str,
        limits: &crate::config::StreamingConfig,
    ) -> Result<StreamGuard, Refusal> {
        let (per_client, total, max_buffered) =
            (limits.max_concurrent_streams, limits.max_total_streams, limits.max_buffer_size.0);
        let buffered = stats().buffered();
        if buffered as u64 >= max_buffered {
            metrics().streaming_refused.with_label_values(&["buffer_full"]).inc();
            return Err(Refusal::BufferFull { buffered, max: max_buffered });
        }
        {
            let mut open = PER_CLIENT.lock();
            let mine = open.entry(client.to_string()).or_default();
            if *mine >= per_client {
                metrics().streaming_refused.with_label_values(&["too_many_streams"]).inc();
                return Err(Refusal::TooManyStreams { max: per_client });
            }
            // Reserve first, then check, so two racing admissions cannot both take the last slot.
            if stats().active.fetch_add(1, Ordering::AcqRel) >= total as i64 {
                stats().active.fetch_sub(1, Ordering::AcqRel);
                metrics().streaming_refused.with_label_values(&["gateway_full"]).inc();
                return Err(Refusal::GatewayFull { max: total });
            }
            *mine += 1;
        }
        metrics().streaming_active.with_label_values(&[transport]).inc();
        Ok(StreamGuard {
            client: client.to_string(),
            transport,
            tool,
            started: Instant::now(),
            first_sent: false,
            held: 0,
        })
    }

    /// `bytes` went out as one chunk (`chunks` counts whole item batches).
    pub fn sent(&mut self, bytes: usize, chunks: u64) {
        if bytes == 0 {
            return;
        }
        if !self.first_sent {
            self.first_sent = true;
            stats().record_first_event(self.started.elapsed());
        }
        metrics().streaming_bytes.with_label_values(&[self.transport]).inc_by(bytes as u64);
        if chunks > 0 {
            metrics().streaming_chunks.with_label_values(&[self.tool]).inc_by(chunks);
        }
    }

    /// The stream now holds `bytes` in its batch (replacing the previous figure).
    pub fn holding(&mut self, bytes: usize) {
        let bytes = bytes as i64;
        stats().buffered.fetch_add(bytes - self.held, Ordering::Relaxed);
        self.held = bytes;
    }

    /// The stream ended with an error.
    pub fn failed(&self) {
        stats().errors.lock().push_back(Instant::now());
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.holding(0);
        stats().active.fetch_sub(1, Ordering::AcqRel);
        let mut open = PER_CLIENT.lock();
        if let Some(mine) = open.get_mut(&self.client) {
            *mine -= 1;
            if *mine == 0 {
                open.remove(&self.client);
            }
        }
        drop(open);
        metrics().streaming_active.with_label_values(&[self.transport]).dec();
        // A slot reserved for a stream that never sent (Immich answered an error) is no stream.
        if self.first_sent {
            metrics().streaming_duration.observe(self.started.elapsed().as_secs_f64());
        }
    }
}

/// Bytes a stream has queued for its client and not yet written. They count against the stream's
/// own `stream_buffer_size` and the gateway-wide budget until this is dropped (written, or thrown
/// away with a stream whose client left).
#[derive(Debug)]
pub struct Held {
    _permit: tokio::sync::OwnedSemaphorePermit,
    bytes: i64,
}

impl Drop for Held {
    fn drop(&mut self) {
        stats().buffered.fetch_sub(self.bytes, Ordering::Relaxed);
        BUDGET_FREED.notify_waiters();
    }
}

/// Counts a whole reply's `bytes` (a JSON answer, a batch element) against the streams' buffer
/// budget until dropped: a reply a client does not read weighs on the gateway like a stream's
/// queue, and new streams are refused when all of them together reach `max_buffer_size`.
pub fn hold_reply(bytes: usize) -> ReplyHeld {
    stats().buffered.fetch_add(bytes as i64, Ordering::Relaxed);
    ReplyHeld(bytes as i64)
}

/// Bytes of a reply being written; see [`hold_reply`].
#[derive(Debug)]
pub struct ReplyHeld(i64);

impl ReplyHeld {
    /// The reply grew by `bytes` (an answer built up item by item).
    pub fn grow(&mut self, bytes: usize) {
        stats().buffered.fetch_add(bytes as i64, Ordering::Relaxed);
        self.0 += bytes as i64;
    }
}

impl Drop for ReplyHeld {
    fn drop(&mut self) {
        stats().buffered.fetch_sub(self.0, Ordering::Relaxed);
        BUDGET_FREED.notify_waiters();
    }
}

/// Whether the streams and replies together hold `max_buffer_size` bytes or more.
pub fn budget_exhausted(limits: &crate::config::StreamingConfig) -> bool {
    stats().buffered() as u64 >= limits.max_buffer_size.0
}

/// Woken whenever queued stream bytes are released.
static BUDGET_FREED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// One stream's queue bound: at most `stream_buffer_size` bytes written by the producer and not
/// yet by the consumer; a producer past it waits, which is what slows its reads from Immich.
pub struct StreamBuffer {
    room: std::sync::Arc<tokio::sync::Semaphore>,
    capacity: usize,
}

impl StreamBuffer {
    /// A buffer of `capacity` bytes.
    pub fn new(capacity: usize) -> StreamBuffer {
        let capacity = capacity.clamp(1, tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        StreamBuffer { room: std::sync::Arc::new(tokio::sync::Semaphore::new(capacity)), capacity }
    }

    /// Whether the consumer keeps up: at most half the buffer is waiting for it.
    pub fn keeps_up(&self) -> bool {
        self.room.available_permits() * 2 >= self.capacity
    }

    /// Waits for room for `bytes` (one event larger than the whole buffer waits for it to be empty),
    /// counting a backpressure event when it has to wait.
    pub async fn hold(&self, bytes: usize) -> Held {
        let want = bytes.clamp(1, self.capacity) as u32;
        let permit = match self.room.clone().try_acquire_many_owned(want) {
            Ok(permit) => permit,
            Err(_) => {
                backpressure_event();
                self.room.clone().acquire_many_owned(want).await.expect("the semaphore is never closed")
            }
        };
        stats().buffered.fetch_add(bytes as i64, Ordering::Relaxed);
        Held { _permit: permit, bytes: bytes as i64 }
    }
}

/// The streaming guide's global budget: while the gateway's streams hold more than `high_water_mark` bytes,
/// producers pause here until they hold less than `low_water_mark`.
pub async fn wait_for_budget(limits: &crate::config::StreamingConfig) {
    if (stats().buffered() as u64) <= limits.high_water_mark.0 {
        return;
    }
    backpressure_event();
    metrics().streaming_paused.inc();
    while stats().buffered() as u64 >= limits.low_water_mark.0 {
        // A release between the check and the wait is caught by the short timeout.
        let _ = tokio::time::timeout(Duration::from_millis(50), BUDGET_FREED.notified()).await;
    }
}

/// A sender had to wait for a slow client: backpressure reached the producer.
pub fn backpressure_event() {
    metrics().streaming_backpressure.inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_keeps_up_while_at_most_half_of_it_waits() {
        // Permits taken directly: `hold` also counts in the global budget, which the admission
        // test below checks.
        let buffer = StreamBuffer::new(1000);
        assert!(buffer.keeps_up());
        let half = buffer.room.try_acquire_many(500).expect("room");
        assert!(buffer.keeps_up());
        let more = buffer.room.try_acquire_many(1).expect("room");
        assert!(!buffer.keeps_up());
        drop((half, more));
        assert!(buffer.keeps_up());
    }

    // One test, so no other test of this process opens streams meanwhile.
    #[test]
    fn admission_caps_streams_and_buffered_bytes() {
        use crate::config::{Size, StreamingConfig};
        use futures::FutureExt;
        let limits = |streams: usize, bytes: u64| StreamingConfig {
            max_concurrent_streams: streams,
            max_total_streams: 3,
            max_buffer_size: Size(bytes),
            ..StreamingConfig::default()
        };
        let first = StreamGuard::admit("sse", "test", "a", &limits(1, u64::MAX)).unwrap();
        assert_eq!(
            StreamGuard::admit("sse", "test", "a", &limits(1, u64::MAX)).err(),
            Some(Refusal::TooManyStreams { max: 1 })
        );
        // Another client has its own allowance, up to the gateway's total.
        let second = StreamGuard::admit("sse", "test", "b", &limits(1, u64::MAX)).unwrap();
        let third = StreamGuard::admit("sse", "test", "c", &limits(1, u64::MAX)).unwrap();
        assert_eq!(
            StreamGuard::admit("sse", "test", "d", &limits(1, u64::MAX)).err(),
            Some(Refusal::GatewayFull { max: 3 })
        );
        drop((first, second, third));
        let mut holder = StreamGuard::admit("sse", "test", "a", &limits(1, u64::MAX)).unwrap();
        holder.holding(4096);
        assert_eq!(
            StreamGuard::admit("ndjson", "test", "a", &limits(10, 4096)).err(),
            Some(Refusal::BufferFull { buffered: 4096, max: 4096 })
        );
        holder.holding(0);
        assert!(StreamGuard::admit("ndjson", "test", "a", &limits(10, 4096)).is_ok());
        drop(holder);
        assert_eq!(stats().active(), 0);

        // A stream's queue holds at most its buffer; the gateway pauses producers above the high
        // water mark until the streams hold less than the low one.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let buffer = StreamBuffer::new(100);
            let first = buffer.hold(60).await;
            assert_eq!(stats().buffered(), 60);
            let mut second = Box::pin(buffer.hold(60));
            assert!(futures::poll!(second.as_mut()).is_pending(), "no room for 60 more bytes in 100");
            drop(first);
            let second = second.await;
            assert_eq!(stats().buffered(), 60);

            let marks =
                StreamingConfig { high_water_mark: Size(100), low_water_mark: Size(50), ..StreamingConfig::default() };
            wait_for_budget(&marks).now_or_never().expect("60 bytes are below the high water mark");
            let big = StreamBuffer::new(1000);
            let more = big.hold(60).await;
            let mut paused = Box::pin(wait_for_budget(&marks));
            assert!(futures::poll!(paused.as_mut()).is_pending(), "120 bytes are above the high water mark");
            drop(second);
            // 60 bytes: below high, not yet below low.
            tokio::time::sleep(Duration::from_millis(120)).await;
            assert!(futures::poll!(paused.as_mut()).is_pending(), "paused until below the low water mark");
            drop(more);
            tokio::time::timeout(Duration::from_secs(1), paused).await.expect("resumes below the low water mark");
            assert_eq!(stats().buffered(), 0);
        });
    }
}
