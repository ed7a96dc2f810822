//! Streamable HTTP at `/mcp`, both protocol generations, inside the Pingora service; one file per
//! concern.
//!
//! - [`guard`]: DNS-rebinding checks (`Host`, `Origin`), CORS, the RFC 9728 metadata;
//! - [`session`]: the session era (2025-03-26 … 2025-11-25): `initialize` mints a sealed
//!   `Mcp-Session-Id`, later POSTs carry it, 2025-03-26 batches, DELETE;
//! - [`stateless`]: 2026-07-28: every POST carries its version in a header and in `_meta`, routing
//!   headers must match the body, `subscriptions/listen`;
//! - [`call`]: running one request on its own task, answered as JSON or as a stream;
//! - [`writer`]: the SSE / NDJSON stream writer, its flow control and early endings;
//! - [`get`]: GET — the standalone stream, and resuming a response stream with `Last-Event-ID`;
//! - [`bulk`]: the streaming guide's bulk stream (`/mcp/stream`);
//! - [`ws`]: WebSocket at `/mcp/ws`;
//! - [`error`]: the one mapping from a refusal to an HTTP status and a JSON-RPC error.

mod body;
mod bulk;
mod call;
mod detached;
mod error;
mod get;
pub mod guard;
mod session;
mod stateless;

#[cfg(feature = "fuzzing")]
pub(crate) use stateless::decode_header_value;

/// Whether `value` parses as a `Last-Event-ID` (for the fuzzers).
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_last_event_id(value: &str) -> bool {
    get::LastEventId::parse(value).is_some()
}
mod welcome;
mod writer;
mod ws;

use super::catalog::{CallContext, LogLevel, Outbound, PendingClientRequests};
use super::jsonrpc::{RpcError, SESSION_NOT_FOUND};
use super::server::{McpServer, Wire};
use super::session::{Claims, SessionError, SessionSecrets, Sessions};
use crate::auth::{self, Credentials, Principal, Surface};
use crate::bounded::{ExpiringMap, Registry};
use crate::config::Config;
use crate::reply::respond;
use bytes::Bytes;
use error::Refusal;
use http::HeaderName;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages buffered between a running call and its HTTP response.
const STREAM_CHANNEL: usize = 32;

/// Calls whose stream can be cancelled by `notifications/cancelled`, at most.
const MAX_RUNNING_CALLS: usize = 10_000;
/// Sessions whose `logging/setLevel` is remembered, at most.
const MAX_LOG_LEVELS: usize = 10_000;
/// Response streams waiting for a `Last-Event-ID` resume, at most.
const MAX_PARKED_STREAMS: usize = 1_000;

/// Everything `/mcp` keeps across requests and reloads, each map bounded and emptied by expiry or
/// by the end of the work it tracks.
pub struct McpState {
    /// Session verification, revocation and counters.
    pub sessions: Sessions,
    pending: Arc<PendingClientRequests>,
    /// Running calls' cancel tokens, by session and request id, while they run.
    running: Arc<Registry<String, CancellationToken>>,
    /// The rest of response streams a client dropped, for a minute.
    parked: Arc<ExpiringMap<String, get::Parked>>,
    /// `logging/setLevel` by session, until the session expires.
    log_levels: ExpiringMap<String, LogLevel>,
    server: parking_lot::Mutex<Option<(CatalogKey, Arc<McpServer>)>>,
    /// Server notifications for every open standalone GET stream (list changes).
    broadcast: tokio::sync::broadcast::Sender<Value>,
    /// `[mcp] analytics` as of the latest request: per-session counters are kept.
    analytics: std::sync::atomic::AtomicBool,
    /// `[rate_limits]`'s buckets, for every surface of the gateway (kept across reloads).
    pub limiter: crate::ratelimit::Limiter,
}

/// What a built server depends on: the configuration generation and the catalogue version.
pub type CatalogKey = (u64, u64);

impl Default for McpState {
    fn default() -> Self {
        McpState {
            sessions: Sessions::default(),
            pending: Arc::new(PendingClientRequests::default()),
            running: Registry::new(MAX_RUNNING_CALLS),
            parked: Arc::new(ExpiringMap::new(MAX_PARKED_STREAMS)),
            log_levels: ExpiringMap::new(MAX_LOG_LEVELS),
            server: parking_lot::Mutex::new(None),
            broadcast: tokio::sync::broadcast::channel(16).0,
            analytics: std::sync::atomic::AtomicBool::new(true),
            limiter: crate::ratelimit::Limiter::default(),
        }
    }
}

impl McpState {
    /// The MCP server for `key`, built by `build` when the key changed (a reload, or the Immich
    /// key's permissions); clients holding a notification stream are told their lists changed.
    pub fn server(&self, key: CatalogKey, build: impl FnOnce() -> McpServer) -> Arc<McpServer> {
        let mut cached = self.server.lock();
        if let Some((built_for, server)) = cached.as_ref()
            && *built_for == key
        {
            return server.clone();
        }
        let server = Arc::new(build());
        let previous = cached.replace((key, server.clone()));
        drop(cached);
        if previous.is_some() {
            for method in [
                "notifications/tools/list_changed",
                "notifications/resources/list_changed",
                "notifications/prompts/list_changed",
            ] {
                let _ = self.broadcast.send(json!({ "jsonrpc": "2.0", "method": method }));
            }
        }
        server
    }

    /// Counts a finished request: the session's own counters and the aggregate metrics.
    fn account(&self, claims: Option<&Claims>, wire: Wire, started: Instant, failed: bool) {
        let seconds = started.elapsed().as_secs_f64();
        if let Some(claims) = claims.filter(|_| self.analytics.load(std::sync::atomic::Ordering::Relaxed)) {
            self.sessions.record(claims, seconds, failed);
        }
        crate::telemetry::metrics().mcp_wire(wire == Wire::Session).record(seconds, failed);
    }

    /// The log level a session set, debug by default.
    fn log_level(&self, claims: &Claims) -> LogLevel {
        self.log_levels.with(&claims.n, |level| *level).unwrap_or(LogLevel::Debug)
    }
}

/// What the gateway hands the transport for one request.
pub struct Context<'a> {
    /// Which MCP path the request is for.
    pub endpoint: Endpoint,
    /// The request's trace span (disabled when traces are off).
    pub span: tracing::Span,
    /// The configuration in force.
    pub config: &'a Arc<Config>,
    /// Secrets sealing session ids, resume tokens and links.
    pub secrets: &'a Arc<SessionSecrets>,
    /// Who may call, and with which Immich credentials.
    pub credentials: &'a Credentials,
    /// The MCP server for this configuration.
    pub server: Arc<McpServer>,
    /// Immich, for the welcome page's live status.
    pub immich: &'a crate::immich::ImmichClient,
    /// The request's id.
    pub request_id: &'a str,
}

/// Which of the MCP paths a request is for (the gateway's router decides, from the path and
/// `[server] path_prefix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/mcp`: Streamable HTTP, both protocol generations.
    Mcp,
    /// `/mcp/stream`: the streaming guide's bulk stream.
    Stream,
    /// `/mcp/ws`: MCP over a WebSocket.
    Ws,
    /// `/.well-known/oauth-protected-resource…`: the RFC 9728 metadata.
    ResourceMetadata,
}

/// One `/mcp` exchange: the request's configuration, id and response headers. It owns what it
/// holds (the configuration and secrets shared, not copied), so a connection that outlives its
/// request on a task of its own (the WebSocket) takes it along.
struct Exchange {
    config: Arc<Config>,
    secrets: Arc<SessionSecrets>,
    server: Arc<McpServer>,
    request_id: String,
    cors: Vec<(&'static str, String)>,
    public_base: String,
    /// The client's best accepted encoding for JSON replies, when compression is on.
    codec: Option<crate::stream::compress::Codec>,
    /// The media types the client accepts.
    accept: Accept,
    /// The client takes only `application/x-ndjson`: single replies are one NDJSON line too.
    ndjson_only: bool,
    /// The caller, once authenticated.
    principal: Option<Principal>,
    /// The request's trace span.
    span: tracing::Span,
}

impl Exchange {
    /// A call's context with what every call of this exchange carries: the Immich credential it
    /// acts with and the public address its links are made from.
    fn call_context(&self, tx: mpsc::Sender<Outbound>) -> CallContext {
        let immich = self.principal.as_ref().and_then(|p| p.immich.clone());
        CallContext::new(tx)
            .with_immich(immich)
            .with_principal(self.principal.clone())
            .with_public_base(format!("{}{}", self.public_base, self.config.server.path_prefix))
            .with_web_base(match &self.config.immich.public_url {
                Some(web) => web.trim_end_matches('/').to_string(),
                None => self.public_base.clone(),
            })
            .with_span(self.span.clone())
            .with_request_id(&self.request_id)
    }

    /// [`Exchange::call_context`] for a reply streamed over `transport` (`sse`, `ndjson`,
    /// `websocket`), naming the caller (its [`Exchange::client_key`]) for the per-client stream caps.
    fn streamed_call_context(
        &self,
        client: String,
        tx: mpsc::Sender<Outbound>,
        transport: &'static str,
    ) -> CallContext {
        self.call_context(tx).with_streaming(true).with_transport(transport).with_client(client)
    }

    /// Who is calling, for per-client caps.
    fn client_key(&self, session: &Session) -> String {
        let ip = crate::connection::client_ip(session);
        match &self.principal {
            Some(principal) => principal.client_key(ip),
            None => crate::stream::stats::client_of(None, ip),
        }
    }

    fn headers<'h>(&'h self, extra: &[(&'static str, &'h str)]) -> Vec<(&'static str, &'h str)> {
        let mut all: Vec<(&'static str, &str)> = self.cors.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(extra);
        all
    }

    async fn json(
        &self,
        session: &mut Session,
        status: u16,
        body: &Value,
        extra: &[(&'static str, &str)],
    ) -> Result<()> {
        let bytes = serde_json::to_vec(body).expect("a Value always serializes");
        self.json_bytes(session, status, bytes, extra).await
    }

    /// Writes a serialized JSON body (one NDJSON line for an NDJSON-only client). Its bytes count
    /// against the streams' buffer budget until they are written, like a stream's.
    async fn json_bytes(
        &self,
        session: &mut Session,
        status: u16,
        mut bytes: Vec<u8>,
        extra: &[(&'static str, &str)],
    ) -> Result<()> {
        if let std::borrow::Cow::Owned(restored) = crate::mcp::jsonrpc::restore_ids(&bytes) {
            bytes = restored;
        }
        let content_type = if self.ndjson_only {
            bytes.push(b'\n');
            "application/x-ndjson"
        } else {
            "application/json"
        };
        let _held = crate::stream::stats::hold_reply(bytes.len());
        let bytes = Bytes::from(bytes);
        let streaming = &self.config.streaming;
        match self.codec {
            Some(codec) if bytes.len() as u64 >= streaming.compression_min_size.0 => {
                let level = crate::stream::compress::level(codec, streaming);
                let packed = crate::stream::compress::compress_all(codec, level, &bytes);
                let mut headers = self.headers(extra);
                headers.extend([("content-encoding", codec.token()), ("vary", "Accept-Encoding")]);
                respond(session, status, content_type, &self.request_id, &headers, packed).await
            }
            _ => respond(session, status, content_type, &self.request_id, &self.headers(extra), bytes).await,
        }
    }

    /// Answers a refused request: its status, its JSON-RPC error and its extra headers.
    async fn refuse(&self, session: &mut Session, refusal: Refusal) -> Result<()> {
        if refusal.close {
            session.set_keepalive(None);
        }
        let extra: Vec<(&'static str, &str)> = refusal.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.json(session, refusal.status, &refusal.error.response(refusal.id.as_ref()), &extra).await
    }

    async fn empty(&self, session: &mut Session, status: u16, extra: &[(&'static str, &str)]) -> Result<()> {
        respond(session, status, "text/plain", &self.request_id, &self.headers(extra), Bytes::new()).await
    }
}

/// The MCP transport's own request headers.
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// A request header's value, without the optional whitespace around it (RFC 9110 §5.5).
fn header(session: &Session, name: impl http::header::AsHeaderName) -> Option<&str> {
    session.req_header().headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Serves one request to `/mcp`, `/mcp/stream`, `/mcp/ws` (or the protected-resource metadata).
pub async fn serve(state: &Arc<McpState>, session: &mut Session, cx: Context<'_>) -> Result<()> {
    let accept = Accept::of(session);
    let config = &**cx.config;
    state.analytics.store(config.mcp.analytics, std::sync::atomic::Ordering::Relaxed);
    let exchange = Exchange {
        config: cx.config.clone(),
        secrets: cx.secrets.clone(),
        server: cx.server,
        request_id: cx.request_id.to_owned(),
        cors: guard::cors_headers(session, config),
        public_base: guard::base_url(session, config),
        codec: config
            .streaming
            .enable_compression
            .then(|| header(session, http::header::ACCEPT_ENCODING).and_then(crate::stream::compress::negotiate))
            .flatten(),
        accept,
        ndjson_only: accept.ndjson && !accept.json && !accept.sse,
        principal: None,
        span: cx.span,
    };
    if let Err(reason) = guard::check_origin_and_host(session, config) {
        return exchange.refuse(session, Refusal::forbidden(reason)).await;
    }
    let method = session.req_header().method.clone();
    let endpoint = cx.endpoint;
    if endpoint == Endpoint::ResourceMetadata {
        let metadata = guard::resource_metadata(session, config);
        return exchange.json(session, 200, &metadata, &[("cache-control", "max-age=3600")]).await;
    }
    if method == http::Method::OPTIONS {
        return exchange.empty(session, 204, &guard::PREFLIGHT).await;
    }
    // A browser on /mcp: the welcome page, for anyone (it says how to connect; nothing private).
    if method == http::Method::GET && endpoint == Endpoint::Mcp && accept.html && !accept.sse {
        return if config.mcp.strict {
            exchange.empty(session, 405, &[("allow", "POST, DELETE")]).await
        } else {
            welcome::page(session, &exchange, cx.immich).await
        };
    }
    auth::prepare(session.req_header(), cx.credentials).await;
    let principal = match auth::authenticate(session.req_header(), cx.credentials, Surface::Mcp) {
        Ok(principal) => principal,
        Err(reason) if reason.forbidden => return exchange.refuse(session, Refusal::forbidden(reason.message)).await,
        Err(reason) => {
            let refusal = Refusal::unauthorized(reason, &exchange.public_base, config.auth.mode);
            return exchange.refuse(session, refusal).await;
        }
    };
    let exchange = Exchange { principal: Some(principal), ..exchange };
    if let Err(limited) = state.limiter.request(&config.rate_limits, || exchange.client_key(session)) {
        return exchange.refuse(session, Refusal::rate_limited(&limited)).await;
    }
    if endpoint == Endpoint::Ws {
        return ws::serve(state, session, exchange).await;
    }
    let stateless_header = header(session, MCP_PROTOCOL_VERSION) == Some(super::server::STATELESS_VERSION);
    if endpoint == Endpoint::Stream && method != http::Method::POST {
        let refusal = Refusal::invalid(405, "POST one JSON-RPC request (e.g. tools/call) to /mcp/stream")
            .with_header("allow", "POST");
        return exchange.refuse(session, refusal).await;
    }
    match method {
        http::Method::POST if endpoint == Endpoint::Stream || bulk::is_seed_request(session, accept) => {
            bulk::serve(state, session, &exchange).await
        }
        http::Method::POST => serve_post(state, session, &exchange).await,
        http::Method::GET | http::Method::DELETE
            if stateless_header || !config.mcp.get_stream && method == http::Method::GET =>
        {
            let refusal = Refusal::invalid(405, "this endpoint takes POST only for this protocol version")
                .with_header("allow", "POST");
            exchange.refuse(session, refusal).await
        }
        http::Method::GET => get::serve(state, session, &exchange).await,
        http::Method::DELETE => session::delete(state, session, &exchange).await,
        _ => exchange.empty(session, 405, &[("allow", "GET, POST, DELETE, OPTIONS")]).await,
    }
}

/// A POST to `/mcp`: the stateless wire when it says so (its version header, `_meta`, or
/// `server/discover`), the session era otherwise.
async fn serve_post(state: &McpState, session: &mut Session, exchange: &Exchange) -> Result<()> {
    if !header(session, http::header::CONTENT_TYPE).is_some_and(body::is_json) {
        return exchange.refuse(session, Refusal::invalid(415, "Content-Type must be application/json")).await;
    }
    // A client that takes only JSON (the transport document's curl examples) gets JSON replies;
    // one that takes neither JSON nor a stream format is refused.
    let accept = exchange.accept;
    if !(accept.json || accept.any || accept.ndjson) {
        let refusal =
            Refusal::invalid(406, "Accept must list application/json (and text/event-stream for streamed replies)");
        return exchange.refuse(session, refusal).await;
    }
    let body = match body::read_rpc(session, exchange, true).await? {
        Ok(body) => body,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let version_header = header(session, MCP_PROTOCOL_VERSION).map(str::to_string);
    let meta_version = stateless::meta_version(&body);
    let is_discover = matches!(&body, super::jsonrpc::Body::Single(m) if m.method() == Some("server/discover"));
    if version_header.as_deref() == Some(super::server::STATELESS_VERSION) || meta_version.is_some() || is_discover {
        stateless::serve(state, session, exchange, body, version_header, meta_version).await
    } else {
        session::serve_post(state, session, exchange, body, version_header).await
    }
}

/// Reads the session header: 400 when missing, 404 when unknown, expired or deleted.
fn require_session(state: &McpState, session: &Session, exchange: &Exchange) -> std::result::Result<Claims, Refusal> {
    let id = header(session, MCP_SESSION_ID)
        .ok_or_else(|| Refusal::invalid(400, "Mcp-Session-Id header is required; call initialize first"))?;
    state.sessions.verify(&exchange.secrets, id).map_err(|reason| {
        let message = match reason {
            SessionError::Expired => "session expired; initialize a new one",
            SessionError::Revoked => "session was deleted; initialize a new one",
            SessionError::Invalid => "unknown session; initialize a new one",
        };
        Refusal::new(404, RpcError::new(SESSION_NOT_FOUND, message))
    })
}

/// The media types a request's `Accept` header names, read once per request.
#[derive(Clone, Copy, Debug, Default)]
struct Accept {
    json: bool,
    sse: bool,
    ndjson: bool,
    html: bool,
    /// `*/*`, or no `Accept` header at all.
    any: bool,
}

impl Accept {
    fn of(session: &Session) -> Accept {
        Accept::parse(header(session, http::header::ACCEPT))
    }

    fn parse(value: Option<&str>) -> Accept {
        let Some(value) = value else {
            return Accept { any: true, ..Accept::default() };
        };
        let mut accept = Accept::default();
        for part in value.split(',') {
            let part = part.trim();
            match part.split(';').next().unwrap_or("").trim_end() {
                "application/json" => accept.json = true,
                "text/event-stream" => accept.sse = true,
                "application/x-ndjson" => accept.ndjson = true,
                "text/html" => accept.html = true,
                _ => {}
            }
            accept.any |= part.starts_with("*/*");
        }
        accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_are_read_by_media_type() {
        let a = Accept::parse(Some("application/json, text/event-stream;q=0.9"));
        assert!(a.json && a.sse && !a.any && !a.html);
        assert!(Accept::parse(None).any);
        assert!(Accept::parse(Some("*/*;q=0.1")).any);
        let ndjson = Accept::parse(Some("application/x-ndjson"));
        assert!(ndjson.ndjson && !ndjson.json);
        assert!(Accept::parse(Some("text/html,application/xhtml+xml")).html);
    }
}
