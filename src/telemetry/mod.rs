//! Logs (tracing, text or JSON, level reloadable, secrets blanked: [`redact`]) and Prometheus
//! metrics.

pub mod audit;
pub mod redact;
pub mod traces;

use crate::config::{LogFilter, LogFormat, TelemetryConfig};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::{LazyLock, OnceLock};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::reload;

/// What kind of request this is: the gateway routes on it and labels metrics with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteClass {
    /// `GET /health`.
    Health,
    /// `GET /ready`.
    Ready,
    /// `GET /metrics`.
    Metrics,
    /// `/api/*`, proxied to Immich.
    Api,
    /// `/mcp` and its protected-resource metadata.
    Mcp,
    /// `/exports/<token>`: zip downloads made by `exportPhotos`.
    Export,
    /// Everything else of Immich's, proxied unchanged: the web app, `/.well-known/immich`.
    Web,
    /// The OAuth authorization server: `/oauth/*` and its metadata.
    OAuth,
    /// Answered 404 by the gateway (an unknown path on the admin listener, a turned-off endpoint).
    Other,
}

impl RouteClass {
    /// Every class, in declaration order (metrics are indexed by the discriminant; a unit test
    /// keeps the two in step).
    const ALL: [RouteClass; 9] = [
        RouteClass::Health,
        RouteClass::Ready,
        RouteClass::Metrics,
        RouteClass::Api,
        RouteClass::Mcp,
        RouteClass::Export,
        RouteClass::Web,
        RouteClass::OAuth,
        RouteClass::Other,
    ];

    /// The `route` label.
    pub fn label(self) -> &'static str {
        match self {
            RouteClass::Health => "health",
            RouteClass::Ready => "ready",
            RouteClass::Metrics => "metrics",
            RouteClass::Api => "api",
            RouteClass::Mcp => "mcp",
            RouteClass::Export => "export",
            RouteClass::Web => "web",
            RouteClass::OAuth => "oauth",
            RouteClass::Other => "other",
        }
    }
}

/// The `status` label values: the common exact codes, then classes.
const STATUS_LABELS: [&str; 8] = ["200", "404", "0", "1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_index(status: u16) -> usize {
    match status {
        200 => 0,
        404 => 1,
        _ => 2 + usize::from(status / 100).min(5),
    }
}

/// One route class's metrics, resolved once so the request path never hashes labels or locks.
pub struct RouteMetrics {
    by_status: Vec<IntCounter>,
    /// Its `gateway_http_request_duration_seconds` child.
    pub duration: Histogram,
    /// Its `gateway_upstream_request_duration_seconds` child.
    pub upstream_duration: Histogram,
}

impl RouteMetrics {
    /// Counts one answered request.
    pub fn count(&self, status: u16) {
        self.by_status[status_index(status)].inc();
    }
}

/// One MCP wire's metrics, resolved once.
pub struct WireMetrics {
    ok: IntCounter,
    error: IntCounter,
    duration: Histogram,
}

impl WireMetrics {
    /// Counts one answered MCP request.
    pub fn record(&self, seconds: f64, failed: bool) {
        if failed { &self.error } else { &self.ok }.inc();
        self.duration.observe(seconds);
    }
}

/// Every metric the gateway exports, in one registry.
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    wires: [WireMetrics; 2],
    registry: Registry,
    /// `gateway_upstream_errors_total{kind}`: connect, timeout, reset, dns and other.
    pub upstream_errors: IntCounterVec,
    /// `gateway_upstream_retries_total`: requests sent to Immich again on another connection
    /// because the pooled one they were sent on had been closed by Immich.
    pub upstream_retries: IntCounter,
    /// `gateway_config_reloads_total{result}`: success or error.
    pub config_reloads: IntCounterVec,
    /// `gateway_active_sessions`: MCP sessions seen recently and not deleted.
    pub active_sessions: IntGauge,
    /// `gateway_mcp_sessions_total{event}`: sessions created and deleted.
    pub mcp_sessions: IntCounterVec,
    /// `streaming_active_connections{transport}` (the streaming guide's name).
    pub streaming_active: IntGaugeVec,
    /// `streaming_bytes_sent_total{transport}`.
    pub streaming_bytes: IntCounterVec,
    /// `streaming_chunks_sent_total{tool}`.
    pub streaming_chunks: IntCounterVec,
    /// `streaming_backpressure_events_total`.
    pub streaming_backpressure: IntCounter,
    /// `streaming_stream_duration_seconds`.
    pub streaming_duration: Histogram,
    /// `streaming_refused_total{reason}`: streams not admitted (`too_many_streams`, `gateway_full`,
    /// `buffer_full`).
    pub streaming_refused: IntCounterVec,
    /// `streaming_paused_total`: producers paused at `high_water_mark` until `low_water_mark`.
    pub streaming_paused: IntCounter,
    /// `gateway_connections_open`: client connections open now.
    pub connections_open: IntGauge,
    /// `gateway_connections_refused_total{reason}`: connections refused at the door (`total`,
    /// `per_client`).
    pub connections_refused: IntCounterVec,
    /// `gateway_connections_closed_total{reason}`: connections the gateway closed on a client
    /// (`evicted_idle` to make room, `header_timeout` for a head that took too long,
    /// `too_many_headers` for a head answered 431).
    pub connections_closed: IntCounterVec,
    /// `gateway_websocket_connections{route}`: WebSockets open now (`api`, `web`: proxied to
    /// Immich; `mcp`: MCP's own).
    pub websocket_connections: IntGaugeVec,
    /// `gateway_audit_lines_total{outcome}`: audit lines `queued` for the writer, or `dropped`
    /// because it was too far behind.
    pub audit_lines: IntCounterVec,
    /// `gateway_rate_limit_decisions_total{kind, outcome}`: `[rate_limits]` decisions (`request`
    /// or `tool`; `allowed` or `limited`), counted only while a limit is on.
    pub rate_limit_decisions: IntCounterVec,
}

/// One up on a gauge while it lives (a WebSocket open, for instance).
pub struct GaugeHold(IntGauge);

impl GaugeHold {
    /// Raises `gauge` by one until the hold is dropped.
    pub fn new(gauge: IntGauge) -> GaugeHold {
        gauge.inc();
        GaugeHold(gauge)
    }
}

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("gateway_http_requests_total", "HTTP requests answered, by route class and status code."),
            &["route", "status"],
        )
        .unwrap();
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "gateway_http_request_duration_seconds",
                "Time from request start to the last byte of the response, by route class.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .unwrap();
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "gateway_upstream_request_duration_seconds",
                "Time from connecting to Immich until its response header, by route class.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .unwrap();
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "gateway_upstream_errors_total",
                "Failed requests to Immich, by kind (connect, timeout, reset, dns, other).",
            ),
            &["kind"],
        )
        .unwrap();
        let upstream_retries = IntCounter::new(
            "gateway_upstream_retries_total",
            "Requests sent to Immich again on another connection because their pooled one had been closed.",
        )
        .unwrap();
        let config_reloads = IntCounterVec::new(
            Opts::new("gateway_config_reloads_total", "Configuration reloads, by result (success or error)."),
            &["result"],
        )
        .unwrap();
        let active_sessions = IntGauge::new("gateway_active_sessions", "MCP sessions currently open.").unwrap();
        let mcp_requests = IntCounterVec::new(
            Opts::new(
                "gateway_mcp_requests_total",
                "MCP requests, by wire (session or stateless) and outcome (ok or error).",
            ),
            &["wire", "outcome"],
        )
        .unwrap();
        let mcp_duration = HistogramVec::new(
            HistogramOpts::new("gateway_mcp_request_duration_seconds", "Time to answer an MCP request, by wire.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["wire"],
        )
        .unwrap();
        let websocket_connections = IntGaugeVec::new(
            Opts::new("gateway_websocket_connections", "WebSockets open now, by route class."),
            &["route"],
        )
        .unwrap();
        let streaming_active = IntGaugeVec::new(
            Opts::new("streaming_active_connections", "Streams open now, by transport."),
            &["transport"],
        )
        .unwrap();
        let streaming_bytes = IntCounterVec::new(
            Opts::new("streaming_bytes_sent_total", "Bytes sent on streams, by transport."),
            &["transport"],
        )
        .unwrap();
        let streaming_chunks = IntCounterVec::new(
            Opts::new("streaming_chunks_sent_total", "Item chunks sent on streams, by tool (api for /api re-framing)."),
            &["tool"],
        )
        .unwrap();
        let streaming_backpressure = IntCounter::new(
            "streaming_backpressure_events_total",
            "Times a stream's producer waited for a slow client.",
        )
        .unwrap();
        let streaming_duration = Histogram::with_opts(
            HistogramOpts::new("streaming_stream_duration_seconds", "How long streams lasted.")
                .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0]),
        )
        .unwrap();
        let streaming_refused = IntCounterVec::new(
            Opts::new(
                "streaming_refused_total",
                "Streams not admitted, by reason (too_many_streams, gateway_full, buffer_full).",
            ),
            &["reason"],
        )
        .unwrap();
        let streaming_paused = IntCounter::new(
            "streaming_paused_total",
            "Times a stream's producer paused because all streams held more than high_water_mark bytes.",
        )
        .unwrap();
        let connections_open = IntGauge::new("gateway_connections_open", "Client connections open now.").unwrap();
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "gateway_connections_refused_total",
                "Client connections refused at the door, by reason (total, per_client).",
            ),
            &["reason"],
        )
        .unwrap();
        let connections_closed = IntCounterVec::new(
            Opts::new(
                "gateway_connections_closed_total",
                "Client connections the gateway closed, by reason (evicted_idle, header_timeout, too_many_headers).",
            ),
            &["reason"],
        )
        .unwrap();
        let audit_lines = IntCounterVec::new(
            Opts::new("gateway_audit_lines_total", "Audit lines, by outcome (queued, dropped)."),
            &["outcome"],
        )
        .unwrap();
        let rate_limit_decisions = IntCounterVec::new(
            Opts::new(
                "gateway_rate_limit_decisions_total",
                "Rate-limit decisions, by kind (request, tool) and outcome (allowed, limited).",
            ),
            &["kind", "outcome"],
        )
        .unwrap();
        let mcp_sessions = IntCounterVec::new(
            Opts::new("gateway_mcp_sessions_total", "MCP sessions, by event (created or deleted)."),
            &["event"],
        )
        .unwrap();
        let build_info = IntGaugeVec::new(
            Opts::new("gateway_build_info", "Build information; the value is always 1."),
            &["version"],
        )
        .unwrap();
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(upstream_errors.clone()),
            Box::new(upstream_retries.clone()),
            Box::new(config_reloads.clone()),
            Box::new(active_sessions.clone()),
            Box::new(mcp_requests.clone()),
            Box::new(mcp_duration.clone()),
            Box::new(mcp_sessions.clone()),
            Box::new(streaming_active.clone()),
            Box::new(streaming_bytes.clone()),
            Box::new(streaming_chunks.clone()),
            Box::new(streaming_backpressure.clone()),
            Box::new(streaming_duration.clone()),
            Box::new(streaming_refused.clone()),
            Box::new(streaming_paused.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections_refused.clone()),
            Box::new(connections_closed.clone()),
            Box::new(websocket_connections.clone()),
            Box::new(rate_limit_decisions.clone()),
            Box::new(audit_lines.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(c).unwrap();
        }
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let routes = RouteClass::ALL
            .iter()
            .map(|route| RouteMetrics {
                by_status: STATUS_LABELS
                    .iter()
                    .map(|status| requests.with_label_values(&[route.label(), status]))
                    .collect(),
                duration: request_duration.with_label_values(&[route.label()]),
                upstream_duration: upstream_duration.with_label_values(&[route.label()]),
            })
            .collect();
        for reason in ["too_many_streams", "gateway_full", "buffer_full"] {
            streaming_refused.with_label_values(&[reason]).inc_by(0);
        }
        for reason in ["total", "per_client"] {
            connections_refused.with_label_values(&[reason]).inc_by(0);
        }
        for reason in ["evicted_idle", "header_timeout", "too_many_headers"] {
            connections_closed.with_label_values(&[reason]).inc_by(0);
        }
        for result in ["success", "error"] {
            config_reloads.with_label_values(&[result]).inc_by(0);
        }
        for outcome in ["queued", "dropped"] {
            audit_lines.with_label_values(&[outcome]).inc_by(0);
        }
        for kind in ["request", "tool"] {
            for outcome in ["allowed", "limited"] {
                rate_limit_decisions.with_label_values(&[kind, outcome]).inc_by(0);
            }
        }
        for route in ["api", "web", "mcp"] {
            websocket_connections.with_label_values(&[route]).set(0);
        }
        let wire = |name: &str| WireMetrics {
            ok: mcp_requests.with_label_values(&[name, "ok"]),
            error: mcp_requests.with_label_values(&[name, "error"]),
            duration: mcp_duration.with_label_values(&[name]),
        };
        let wires = [wire("session"), wire("stateless")];
        Metrics {
            routes,
            wires,
            registry,
            upstream_errors,
            upstream_retries,
            config_reloads,
            active_sessions,
            mcp_sessions,
            streaming_active,
            streaming_bytes,
            streaming_chunks,
            streaming_backpressure,
            streaming_duration,
            streaming_refused,
            streaming_paused,
            connections_open,
            connections_refused,
            connections_closed,
            websocket_connections,
            rate_limit_decisions,
            audit_lines,
        }
    }

    /// The metrics of one route class.
    pub fn route(&self, route: RouteClass) -> &RouteMetrics {
        &self.routes[route as usize]
    }

    /// The metrics of the session wire (`true`) or the stateless wire.
    pub fn mcp_wire(&self, session: bool) -> &WireMetrics {
        &self.wires[usize::from(!session)]
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        out
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;
static FILTER: OnceLock<FilterHandle> = OnceLock::new();

/// Installs the global logger. `RUST_LOG`, when set (and not empty), wins over the configured level.
pub fn init_logging(config: &TelemetryConfig) {
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(&v).ok().map(|_| quiet_libraries(EnvFilter::new(&v), &v)))
        .unwrap_or_else(|| with_quiet_libraries(&config.log_level));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let writer = redact::RedactingStderr;
    // The log level filters the log lines only; spans go to the trace exporter whatever it is.
    let log = match config.log_format {
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).with_target(false).boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(writer).with_target(false).boxed(),
    };
    let traces = config.otlp_endpoint.as_deref().and_then(|endpoint| match traces::layer(endpoint) {
        Ok(layer) => Some(layer.with_filter(tracing::level_filters::LevelFilter::INFO)),
        Err(e) => {
            eprintln!("traces are off: {e}");
            None
        }
    });
    let installed = tracing_subscriber::registry().with(log.with_filter(filter)).with(traces).try_init();
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Applies a reloaded `[telemetry].log_level` (ignored while `RUST_LOG` is set).
pub fn set_log_level(level: &LogFilter) {
    if std::env::var("RUST_LOG").is_ok_and(|v| !v.trim().is_empty()) {
        return;
    }
    if let Some(handle) = FILTER.get() {
        let _ = handle.reload(with_quiet_libraries(level));
    }
}

/// The configured filter, with the libraries' known noise kept below `debug`.
fn with_quiet_libraries(level: &LogFilter) -> EnvFilter {
    quiet_libraries(level.filter(), level.as_str())
}

/// Below `debug`, two sources of error lines that are no fault of the gateway's are left out
/// unless `directives` name them: Pingora's proxy reports every client that breaks off a request
/// (a closed socket, a timed-out head; the gateway counts these in its own metrics), and its
/// connection pool reports a race it recovers from itself ("failed to acquire reusable stream",
/// hundreds a second under load).
fn quiet_libraries(filter: EnvFilter, directives: &str) -> EnvFilter {
    let verbose = filter.max_level_hint().is_none_or(|l| l >= tracing::level_filters::LevelFilter::DEBUG);
    if verbose || directives.contains("pingora") {
        return filter;
    }
    ["pingora_proxy=off", "pingora_core::connectors=off"]
        .into_iter()
        .fold(filter, |filter, d| filter.add_directive(d.parse().expect("a valid directive")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_class_has_its_metrics() {
        assert_eq!(RouteClass::ALL.len(), RouteClass::Other as usize + 1);
        for (i, class) in RouteClass::ALL.iter().enumerate() {
            assert_eq!(*class as usize, i, "{class:?} is out of place in ALL");
            metrics().route(*class).count(200);
        }
    }
}
