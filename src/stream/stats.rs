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

/// One open stream: counts itself active until dropped, and records what it sends.
pub struct StreamGuard {
    transport: &'static str,
    tool: &'static str,
    started: Instant,
    first_sent: bool,
    held: i64,
}

impl StreamGuard {
    /// A stream over `transport` (`sse`, `ndjson`) for `tool` (a tool name, or `api`).
    pub fn open(transport: &'static str, tool: &'static str) -> StreamGuard {
        stats().active.fetch_add(1, Ordering::Relaxed);
        metrics().streaming_active.with_label_values(&[transport]).inc();
        StreamGuard { transport, tool, started: Instant::now(), first_sent: false, held: 0 }
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
        stats().active.fetch_sub(1, Ordering::Relaxed);
        metrics().streaming_active.with_label_values(&[self.transport]).dec();
        metrics().streaming_duration.observe(self.started.elapsed().as_secs_f64());
    }
}

/// A sender had to wait for a slow client: backpressure reached the producer.
pub fn backpressure_event() {
    metrics().streaming_backpressure.inc();
}
