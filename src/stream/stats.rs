//! Streaming health as seed 000 reports it: the Prometheus metrics under its exact names
//! (`streaming_active_connections{transport}`, `streaming_bytes_sent_total{transport}`,
//! `streaming_chunks_sent_total{tool}`, `streaming_backpressure_events_total`,
//! `streaming_stream_duration_seconds`) and the figures behind `GET /health/streaming`.

use crate::telemetry::metrics;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
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
        let mut errors = self.errors.lock().unwrap();
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

/// Why a new stream was not admitted; the caller answers without streaming (or with 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `[streaming] max_concurrent_streams` streams are open already.
    TooManyStreams { max: usize },
    /// The streams hold `[streaming] max_buffer_size` bytes or more between them.
    BufferFull { buffered: i64, max: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooManyStreams { max } => write!(f, "the gateway has {max} streams open, its limit"),
            Refusal::BufferFull { buffered, max } => {
                write!(f, "streams hold {buffered} bytes, at or above the {max}-byte buffer limit")
            }
        }
    }
}

/// One open stream: counts itself active until dropped, and records what it sends.
pub struct StreamGuard {
    transport: &'static str,
    tool: &'static str,
    started: Instant,
    first_sent: bool,
    held: i64,
}

impl StreamGuard {
    /// Admits a stream over `transport` (`sse`, `ndjson`) for `tool` (a tool name, or `api`)
    /// unless `max_concurrent_streams` are open already or the open streams hold
    /// `max_buffer_size` bytes.
    pub fn admit(
        transport: &'static str,
        tool: &'static str,
        limits: &crate::config::StreamingConfig,
    ) -> Result<StreamGuard, Refusal> {
        let (max_streams, max_buffered) = (limits.max_concurrent_streams, limits.max_buffer_size.0);
        let buffered = stats().buffered();
        if buffered as u64 >= max_buffered {
            metrics().streaming_refused.with_label_values(&["buffer_full"]).inc();
            return Err(Refusal::BufferFull { buffered, max: max_buffered });
        }
        // Reserve first, then check, so two racing admissions cannot both take the last slot.
        if stats().active.fetch_add(1, Ordering::AcqRel) >= max_streams as i64 {
            stats().active.fetch_sub(1, Ordering::AcqRel);
            metrics().streaming_refused.with_label_values(&["too_many_streams"]).inc();
            return Err(Refusal::TooManyStreams { max: max_streams });
        }
        metrics().streaming_active.with_label_values(&[transport]).inc();
        Ok(StreamGuard { transport, tool, started: Instant::now(), first_sent: false, held: 0 })
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
        stats().errors.lock().unwrap().push_back(Instant::now());
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.holding(0);
        stats().active.fetch_sub(1, Ordering::AcqRel);
        metrics().streaming_active.with_label_values(&[self.transport]).dec();
        // A slot reserved for a stream that never sent (Immich answered an error) is no stream.
        if self.first_sent {
            metrics().streaming_duration.observe(self.started.elapsed().as_secs_f64());
        }
    }
}

/// A sender had to wait for a slow client: backpressure reached the producer.
pub fn backpressure_event() {
    metrics().streaming_backpressure.inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, so no other test of this process opens streams meanwhile.
    #[test]
    fn admission_caps_streams_and_buffered_bytes() {
        use crate::config::{Size, StreamingConfig};
        let limits = |streams: usize, bytes: u64| StreamingConfig {
            max_concurrent_streams: streams,
            max_buffer_size: Size(bytes),
            ..StreamingConfig::default()
        };
        let first = StreamGuard::admit("sse", "test", &limits(1, u64::MAX)).unwrap();
        assert_eq!(
            StreamGuard::admit("sse", "test", &limits(1, u64::MAX)).err(),
            Some(Refusal::TooManyStreams { max: 1 })
        );
        drop(first);
        let mut holder = StreamGuard::admit("sse", "test", &limits(1, u64::MAX)).unwrap();
        holder.holding(4096);
        assert_eq!(
            StreamGuard::admit("ndjson", "test", &limits(10, 4096)).err(),
            Some(Refusal::BufferFull { buffered: 4096, max: 4096 })
        );
        holder.holding(0);
        assert!(StreamGuard::admit("ndjson", "test", &limits(10, 4096)).is_ok());
        drop(holder);
        assert_eq!(stats().active(), 0);
    }
}
