//! The gateway's own small endpoints: liveness (`/health`), streaming health (`/health/streaming`,
//! in the streaming guide's shape), readiness (`/ready`: Immich answers) and Prometheus metrics.

use crate::reply::{respond, respond_json};
use crate::runtime::Runtime;
use crate::telemetry::metrics;
use bytes::Bytes;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long `/ready` waits for Immich's ping.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`: the process answers; with what it serves.
pub(super) async fn health(
    session: &mut Session,
    runtime: &Runtime,
    request_id: &str,
    started: Instant,
    active_sessions: usize,
) -> Result<()> {
    let body = json!({
        "status": "healthy",
        "service": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "transport": "streamable_http",
        "active_sessions": active_sessions,
        "uptime_seconds": started.elapsed().as_secs(),
        "config_generation": runtime.generation,
        "pid": std::process::id(),
    });
    respond_json(session, 200, request_id, &body).await
}

/// `GET /health/streaming`, in the streaming guide's shape.
pub(super) async fn streaming_health(session: &mut Session, runtime: &Runtime, request_id: &str) -> Result<()> {
    let stats = crate::stream::stats::stats();
    let streaming = &runtime.config.streaming;
    let utilization = stats.buffered() as f64 / streaming.max_buffer_size.0.max(1) as f64;
    let active = stats.active();
    let status =
        if utilization >= 0.8 || active >= streaming.max_total_streams as i64 { "degraded" } else { "healthy" };
    let body = json!({
        "status": status,
        "activeStreams": active,
        "maxStreams": streaming.max_total_streams,
        "bufferUtilization": (utilization * 10_000.0).round() / 10_000.0,
        "averageLatencyMs": (stats.first_event_ms() * 100.0).round() / 100.0,
        "errorsLast5Min": stats.errors_last_5_min(),
        // Diagnostics beyond the streaming guide: tasks alive on the worker runtime that answered
        // (all of the gateway's request tasks when `threads = 1`), to show streams leave nothing
        // behind, and the connections open now.
        "runtimeTasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        "openConnections": metrics().connections_open.get(),
    });
    respond_json(session, 200, request_id, &body).await
}

/// `GET /ready`: 200 when Immich answers its ping, else 503 with the reason.
pub(super) async fn ready(session: &mut Session, runtime: &Runtime, request_id: &str) -> Result<()> {
    let upstream = &runtime.upstream;
    let outcome = match upstream.addr() {
        None => Err(format!("cannot resolve Immich's host {:?}", upstream.host())),
        Some(_) => runtime.immich.ping(upstream.base(), READY_TIMEOUT).await,
    };
    let (status, body) = match outcome {
        Ok(()) => (200, json!({ "status": "ready", "immich": "reachable" })),
        Err(reason) => {
            tracing::warn!(request_id, %reason, "not ready");
            (503, json!({ "status": "not ready", "reason": reason, "requestId": request_id }))
        }
    };
    respond_json(session, status, request_id, &body).await
}

/// `GET /metrics`: the Prometheus text format.
pub(super) async fn prometheus(session: &mut Session, request_id: &str) -> Result<()> {
    let body = Bytes::from(metrics().render());
    respond(session, 200, "text/plain; version=0.0.4; charset=utf-8", request_id, &[], body).await
}
