//! Traces for operators: OpenTelemetry spans exported over OTLP/HTTP (JSON) when
//! `[telemetry] otlp_endpoint` is set — one span per request, a child per call to Immich (so one
//! per page of a streamed result). A client's W3C `traceparent` (the HTTP header, or `_meta` on the
//! 2026-07-28 wire) makes the request span its child, and each Immich call carries its own span's
//! `traceparent` on to Immich. Off (the default), every function here costs a flag check.
//!
//! The SDK's kept crates do the work (`opentelemetry`, `opentelemetry-otlp`, and
//! `tracing-opentelemetry`, which turns this crate's `tracing` spans into OpenTelemetry ones);
//! spans leave in batches from the SDK's own thread, never from the request path.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans are exported (set once, at start).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The exporting provider, flushed at exit.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The `tracing` layer that exports spans to `endpoint` (`http://collector:4318`), or why not.
pub fn layer<S>(endpoint: &str) -> Result<impl tracing_subscriber::Layer<S>, String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot export traces to {endpoint}: {e}"))?;
    // Half a second between batches: traces show up promptly and cost one request per batch.
    let batches = BatchConfigBuilder::default().with_scheduled_delay(Duration::from_millis(500)).build();
    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("immich-mcp-gateway").build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    let tracer = provider.tracer("immich-mcp-gateway");
    let _ = PROVIDER.set(provider);
    ENABLED.store(true, Ordering::Release);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Whether spans are being exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Sends what is still batched (at exit).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// The span of one request (`method route`), a child of the client's `traceparent` when it sent
/// one; a disabled span when traces are off.
pub fn request_span(method: &str, route: &str, path: &str, request_id: &str, traceparent: Option<&str>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        url.path = path,
        request_id = request_id,
        http.response.status_code = tracing::field::Empty,
    );
    if let Some(traceparent) = traceparent {
        adopt_parent(&span, traceparent);
    }
    span
}

/// Makes `span` a child of the client's `traceparent` (a malformed one is ignored).
pub fn adopt_parent(span: &Span, traceparent: &str) {
    if span.is_disabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Traceparent(Some(traceparent)));
    use opentelemetry::trace::TraceContextExt;
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The span of one call to Immich (`immich GET /api/...`), a child of `parent`.
pub fn immich_span(parent: &Span, method: &str, path: &str) -> Span {
    if !enabled() || parent.is_disabled() {
        return Span::none();
    }
    tracing::info_span!(parent: parent, "immich", otel.name = format!("immich {method} {path}"), otel.kind = "client")
}

/// The `traceparent` that continues `span` (for Immich), when traces are on.
pub fn traceparent(span: &Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let mut headers = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    headers.remove("traceparent")
}

/// A carrier holding one `traceparent`.
struct Traceparent<'a>(Option<&'a str>);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}
