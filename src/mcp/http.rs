//! Streamable HTTP at `/mcp`, both protocol generations, inside the Pingora service.
//!
//! Session era (2025-03-26 … 2025-11-25): `initialize` mints a signed `Mcp-Session-Id`; later
//! requests carry it; replies are JSON or SSE; GET opens a standalone SSE stream or resumes a
//! response stream with `Last-Event-ID`; DELETE ends the session.
//! Stateless (2026-07-28): every POST carries its version in a header and in `_meta`, routing
//! headers must match the body, and closing the SSE stream cancels the request.

use super::catalog::{CallContext, Catalog, InputRound, LogLevel, Outbound, PendingClientRequests};
use super::jsonrpc::{
    self, Body, HEADER_MISMATCH, INVALID_REQUEST, Id, METHOD_NOT_FOUND, Message, RpcError, SESSION_NOT_FOUND,
};
use super::server::{self, ALL_VERSIONS, McpServer, SESSION_VERSIONS, STATELESS_VERSION, Wire};
use super::session::{Claims, SessionError, SessionSecrets, Sessions};
use crate::config::reload::Runtime;
use crate::config::{AuthMode, ResponseMode};
use crate::proxy::auth::{self, Principal};
use crate::proxy::local::respond;
use bytes::Bytes;
use http::HeaderName;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod ws;

/// Methods the stateless wire serves; anything else is HTTP 404 + -32601.
const STATELESS_METHODS: &[&str] = &[
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "subscriptions/listen",
];

/// How long a response stream the client dropped (or the server closed early) waits for a
/// `Last-Event-ID` resume before its call is abandoned.
const PARKED_STREAM_TTL: Duration = Duration::from_secs(60);

/// Messages buffered between a running call and its HTTP response.
const STREAM_CHANNEL: usize = 32;

/// The rest of a response stream, waiting for a resume.
struct Parked {
    rx: mpsc::Receiver<Outbound>,
    next_seq: u64,
    /// The request it answers and its tool, when its events can resume it elsewhere.
    call: Option<(Id, String)>,
    /// The latest resume token it sent.
    resume: Option<String>,
}

/// Everything `/mcp` keeps across requests and reloads. Per-request state lives only while its
/// request runs (a running call's cancel token, a parked stream for at most a minute).
pub struct McpState {
    /// Session verification, revocation and counters.
    pub sessions: Sessions,
    pending: Arc<PendingClientRequests>,
    running: Mutex<HashMap<String, CancellationToken>>,
    parked: Arc<Mutex<HashMap<String, Parked>>>,
    log_levels: Mutex<HashMap<String, LogLevel>>,
    server: Mutex<Option<(CatalogKey, Arc<McpServer>)>>,
    catalogs: CatalogFactory,
    /// Server notifications for every open standalone GET stream (list changes).
    broadcast: tokio::sync::broadcast::Sender<Value>,
}

impl McpState {
    /// State serving the catalogues `catalogs` builds for each configuration (the Immich tools)
    /// plus, when configured, the conformance fixtures.
    pub fn new(catalogs: CatalogFactory) -> McpState {
        McpState {
            sessions: Sessions::default(),
            pending: Arc::new(PendingClientRequests::default()),
            running: Mutex::new(HashMap::new()),
            parked: Arc::new(Mutex::new(HashMap::new())),
            log_levels: Mutex::new(HashMap::new()),
            server: Mutex::new(None),
            catalogs,
            broadcast: tokio::sync::broadcast::channel(16).0,
        }
    }

    /// The MCP server for the configuration in force (rebuilt when it changes).
    pub fn server(&self, runtime: &Runtime) -> Arc<McpServer> {
        let mut cached = self.server.lock().unwrap();
        let version = (self.catalogs.version)();
        if let Some((key, server)) = cached.as_ref()
            && *key == (runtime.generation, version)
        {
            return server.clone();
        }
        let mut catalogs = (self.catalogs.build)(runtime);
        if runtime.config.mcp.conformance_fixtures {
            // First, so clients that read one page of tools (the conformance suite) see them.
            catalogs.insert(0, Arc::new(super::fixtures::ConformanceFixtures));
        }
        let server = Arc::new(McpServer::new(catalogs, runtime.config.mcp.page_size));
        let previous = cached.replace(((runtime.generation, version), server.clone()));
        // A reload may change what is listed; tell the clients holding a GET stream.
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
}

impl McpState {
    /// Counts a finished request: the session's own counters and the aggregate metrics.
    fn account(&self, claims: Option<&Claims>, wire: Wire, started: Instant, failed: bool) {
        let seconds = started.elapsed().as_secs_f64();
        if let Some(claims) = claims {
            self.sessions.record(claims, seconds, failed);
        }
        crate::telemetry::metrics().mcp_wire(wire == Wire::Session).record(seconds, failed);
    }
}

/// What a built server depends on: the configuration generation and the catalogue version.
type CatalogKey = (u64, u64);

/// Builds the catalogues for one configuration.
pub type BuildCatalogs = Box<dyn Fn(&Runtime) -> Vec<Arc<dyn Catalog>> + Send + Sync>;

/// Builds the catalogues for a configuration; `version` changes when they would differ for the
/// same configuration (e.g. the Immich key's permissions changed).
pub struct CatalogFactory {
    /// The catalogues for a configuration.
    pub build: BuildCatalogs,
    /// The current version of whatever else the catalogues depend on.
    pub version: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl CatalogFactory {
    /// No catalogues but the configured fixtures.
    pub fn none() -> CatalogFactory {
        CatalogFactory { build: Box::new(|_| Vec::new()), version: Box::new(|| 0) }
    }
}

/// One `/mcp` exchange: the request's configuration, id and response headers.
struct Exchange<'a> {
    runtime: &'a Runtime,
    secrets: &'a SessionSecrets,
    request_id: &'a str,
    cors: Vec<(&'static str, String)>,
    immich_key: Option<Arc<str>>,
    public_base: String,
    /// The client's best accepted encoding for JSON replies, when compression is on.
    codec: Option<crate::stream::compress::Codec>,
    /// The media types the client accepts.
    accept: Accept,
    /// The client takes only `application/x-ndjson`: single replies are one NDJSON line too.
    ndjson_only: bool,
    /// The caller's principal, to name the client for per-client stream caps.
    principal: Option<Principal>,
}

impl Exchange<'_> {
    /// A call's context with what every call of this exchange carries: the Immich key it acts
    /// with and the public address its links are made from.
    fn call_context(&self, tx: mpsc::Sender<Outbound>) -> CallContext {
        CallContext::new(tx).with_immich_key(self.immich_key.clone()).with_public_base(self.public_base.clone())
    }

    /// [`Exchange::call_context`] for a reply streamed over `transport` (`sse`, `ndjson`,
    /// `websocket`), naming the caller for the per-client stream caps.
    fn streamed_call_context(
        &self,
        session: &Session,
        tx: mpsc::Sender<Outbound>,
        transport: &'static str,
    ) -> CallContext {
        let client = auth::client_key(session, self.principal.as_ref(), self.runtime.credentials.mode());
        self.call_context(tx).with_streaming(true).with_transport(transport).with_client(client)
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

    /// Writes a serialized JSON body (one NDJSON line for an NDJSON-only client).
    async fn json_bytes(
        &self,
        session: &mut Session,
        status: u16,
        mut bytes: Vec<u8>,
        extra: &[(&'static str, &str)],
    ) -> Result<()> {
        let content_type = if self.ndjson_only {
            bytes.push(b'\n');
            "application/x-ndjson"
        } else {
            "application/json"
        };
        let bytes = Bytes::from(bytes);
        let streaming = &self.runtime.config.streaming;
        match self.codec {
            Some(codec) if bytes.len() as u64 >= streaming.compression_min_size.0 => {
                let level = crate::stream::compress::level(codec, streaming);
                let packed = crate::stream::compress::compress_all(codec, level, &bytes);
                let mut headers = self.headers(extra);
                headers.extend([("content-encoding", codec.token()), ("vary", "Accept-Encoding")]);
                respond(session, status, content_type, self.request_id, &headers, packed).await
            }
            _ => respond(session, status, content_type, self.request_id, &self.headers(extra), bytes).await,
        }
    }

    async fn error(&self, session: &mut Session, status: u16, id: Option<&Id>, error: RpcError) -> Result<()> {
        self.json(session, status, &error.response(id), &[]).await
    }

    async fn empty(&self, session: &mut Session, status: u16, extra: &[(&'static str, &str)]) -> Result<()> {
        respond(session, status, "text/plain", self.request_id, &self.headers(extra), Bytes::new()).await
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

/// Serves one request to `/mcp` (or the protected-resource metadata).
pub async fn serve(state: &McpState, session: &mut Session, runtime: &Runtime, request_id: &str) -> Result<()> {
    let mcp = &runtime.config.mcp;
    let accept = Accept::of(session);
    let exchange = Exchange {
        runtime,
        secrets: &runtime.session_secrets,
        request_id,
        cors: cors_headers(session, runtime),
        immich_key: None,
        public_base: base_url(session, runtime),
        codec: runtime
            .config
            .streaming
            .enable_compression
            .then(|| header(session, http::header::ACCEPT_ENCODING).and_then(crate::stream::compress::negotiate))
            .flatten(),
        accept,
        ndjson_only: accept.ndjson && !accept.json && !accept.sse,
        principal: None,
    };
    if let Err(reason) = check_origin_and_host(session, runtime) {
        return exchange.error(session, 403, None, RpcError::new(INVALID_REQUEST, reason)).await;
    }
    let method = session.req_header().method.clone();
    let path = session.req_header().uri.path().to_string();
    if path.starts_with("/.well-known/oauth-protected-resource") {
        return exchange
            .json(session, 200, &resource_metadata(session, runtime), &[("cache-control", "max-age=3600")])
            .await;
    }
    if method == http::Method::OPTIONS {
        return exchange
            .empty(
                session,
                204,
                &[
                    ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
                    ("access-control-allow-headers", "content-type, accept, authorization, x-api-key, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name"),
                    ("access-control-max-age", "600"),
                ],
            )
            .await;
    }
    let principal = match authenticate(session, runtime) {
        Ok(p) => p,
        Err(reason) => {
            let challenge = format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                base_url(session, runtime)
            );
            let body = RpcError::new(INVALID_REQUEST, reason).response(None);
            return exchange.json(session, 401, &body, &[("www-authenticate", &challenge)]).await;
        }
    };
    let immich_key =
        principal.as_ref().map(|p| p.immich_key.clone()).or_else(|| runtime.credentials.default_immich_key());
    let exchange = Exchange { immich_key, principal, ..exchange };
    if path == "/mcp/ws" {
        return ws::serve(state, session, &exchange).await;
    }
    let stateless_header = header(session, MCP_PROTOCOL_VERSION) == Some(STATELESS_VERSION);
    if path == "/mcp/stream" && method != http::Method::POST {
        let body =
            RpcError::new(INVALID_REQUEST, "POST one JSON-RPC request (e.g. tools/call) to /mcp/stream").response(None);
        return exchange.json(session, 405, &body, &[("allow", "POST")]).await;
    }
    match method {
        http::Method::POST if path == "/mcp/stream" || is_seed_bulk_request(session, accept) => {
            serve_bulk(state, session, &exchange).await
        }
        http::Method::POST => serve_post(state, session, &exchange).await,
        http::Method::GET if accept.html && !accept.sse => {
            if mcp.strict {
                exchange.empty(session, 405, &[("allow", "POST, DELETE")]).await
            } else {
                welcome_page(state, session, &exchange).await
            }
        }
        http::Method::GET | http::Method::DELETE
            if stateless_header || !mcp.get_stream && method == http::Method::GET =>
        {
            let body = RpcError::new(INVALID_REQUEST, "this endpoint takes POST only for this protocol version")
                .response(None);
            exchange.json(session, 405, &body, &[("allow", "POST")]).await
        }
        http::Method::GET => serve_get(state, session, &exchange).await,
        http::Method::DELETE => {
            let claims = match require_session(state, session, &exchange).await? {
                Some(c) => c,
                None => return Ok(()),
            };
            state.sessions.revoke(&claims);
            crate::telemetry::metrics().mcp_sessions.with_label_values(&["deleted"]).inc();
            state.log_levels.lock().unwrap().remove(&claims.n);
            crate::telemetry::metrics().active_sessions.set(state.sessions.active() as i64);
            exchange.empty(session, 204, &[]).await
        }
        _ => exchange.empty(session, 405, &[("allow", "GET, POST, DELETE, OPTIONS")]).await,
    }
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
        let Some(value) = header(session, http::header::ACCEPT) else {
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

/// In `inject` mode `/mcp` needs a gateway key; in `passthrough` mode a presented key is the
/// caller's Immich key.
fn authenticate(session: &Session, runtime: &Runtime) -> std::result::Result<Option<Principal>, &'static str> {
    let presented = auth::presented_key(session.req_header());
    match runtime.credentials.mode() {
        AuthMode::Inject => {
            let key = presented.ok_or("missing gateway API key (X-API-Key or Authorization: Bearer)")?;
            runtime.credentials.authenticate(key).map(Some).ok_or("invalid gateway API key")
        }
        AuthMode::Passthrough => {
            Ok(presented.map(|k| Principal { name: Arc::from("passthrough"), immich_key: Arc::from(k) }))
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") || host.ends_with(".localhost")
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().map_or(authority, |h| &authority[..h.len() + 2]);
    }
    authority.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h)
}

fn bound_to_loopback(runtime: &Runtime) -> bool {
    runtime.config.server.listen.iter().all(|a| {
        let host = strip_port(a);
        is_loopback_host(host)
            || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// DNS-rebinding protection: `Host` must be an allowed name and `Origin`, when sent, an allowed
/// origin (loopback origins always are).
fn check_origin_and_host(session: &Session, runtime: &Runtime) -> std::result::Result<(), String> {
    let mcp = &runtime.config.mcp;
    let host_header = header(session, http::header::HOST)
        .or_else(|| session.req_header().uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let host = strip_port(host_header).to_ascii_lowercase();
    let host_ok = if mcp.allowed_hosts.is_empty() {
        !bound_to_loopback(runtime) || is_loopback_host(&host)
    } else {
        mcp.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) || is_loopback_host(&host)
    };
    if !host_ok {
        return Err(format!("Host {host_header:?} is not allowed (set [mcp] allowed_hosts)"));
    }
    if let Some(origin) = header(session, http::header::ORIGIN) {
        let origin_host = origin.split_once("://").map(|(_, rest)| strip_port(rest).to_ascii_lowercase());
        let allowed = origin_host.as_deref().is_some_and(is_loopback_host)
            || mcp.allowed_origins.iter().chain(&mcp.cors_origins).any(|o| o == "*" || o.eq_ignore_ascii_case(origin));
        if !allowed {
            return Err(format!("Origin {origin:?} is not allowed (set [mcp] allowed_origins)"));
        }
    }
    Ok(())
}

fn cors_headers(session: &Session, runtime: &Runtime) -> Vec<(&'static str, String)> {
    let Some(origin) = header(session, http::header::ORIGIN) else { return Vec::new() };
    let cors = &runtime.config.mcp.cors_origins;
    if !cors.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin)) {
        return Vec::new();
    }
    vec![
        ("access-control-allow-origin", origin.to_string()),
        ("vary", "Origin".to_string()),
        ("access-control-expose-headers", "mcp-session-id, mcp-protocol-version, www-authenticate".to_string()),
    ]
}

fn base_url(session: &Session, runtime: &Runtime) -> String {
    match &runtime.config.mcp.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{}", header(session, http::header::HOST).unwrap_or("localhost")),
    }
}

/// RFC 9728 Protected Resource Metadata.
fn resource_metadata(session: &Session, runtime: &Runtime) -> Value {
    let mcp = &runtime.config.mcp;
    json!({
        "resource": format!("{}/mcp", base_url(session, runtime)),
        "authorization_servers": mcp.authorization_servers,
        "scopes_supported": mcp.scopes_supported,
        "bearer_methods_supported": ["header"],
        "resource_name": "Immich MCP Gateway",
    })
}

/// Reads the session header: 400 when missing, 404 when unknown, expired or deleted. `None`
/// means the error response was written.
async fn require_session(state: &McpState, session: &mut Session, exchange: &Exchange<'_>) -> Result<Option<Claims>> {
    let Some(id) = header(session, MCP_SESSION_ID).map(str::to_string) else {
        exchange
            .error(
                session,
                400,
                None,
                RpcError::new(INVALID_REQUEST, "Mcp-Session-Id header is required; call initialize first"),
            )
            .await?;
        return Ok(None);
    };
    match state.sessions.verify(exchange.secrets, &id) {
        Ok(claims) => Ok(Some(claims)),
        Err(reason) => {
            let message = match reason {
                SessionError::Expired => "session expired; initialize a new one",
                SessionError::Revoked => "session was deleted; initialize a new one",
                SessionError::Invalid => "unknown session; initialize a new one",
            };
            exchange.error(session, 404, None, RpcError::new(SESSION_NOT_FOUND, message)).await?;
            Ok(None)
        }
    }
}

async fn read_body(session: &mut Session, limit: u64) -> Result<std::result::Result<Vec<u8>, ()>> {
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Ok(Err(()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}

fn is_json(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// A POST to `/mcp` shaped like seed 000's Python streaming client: it accepts only
/// `text/event-stream` and carries no session, protocol version or routing header, so it can be
/// no Streamable HTTP request (those would get 406 or 400); it gets the bulk stream instead.
fn is_seed_bulk_request(session: &Session, accept: Accept) -> bool {
    accept.sse
        && !accept.json
        && !accept.any
        && [&MCP_SESSION_ID, &MCP_PROTOCOL_VERSION, &MCP_METHOD].iter().all(|h| header(session, *h).is_none())
}

/// Reads a JSON-RPC POST body: 415 for another content type (`require_type`), 413 past
/// `[mcp] max_body_size`, 400 for what is not JSON-RPC. `None` means the error was answered.
async fn read_rpc_body(session: &mut Session, exchange: &Exchange<'_>, require_type: bool) -> Result<Option<Body>> {
    if !header(session, http::header::CONTENT_TYPE).map_or(!require_type, is_json) {
        let error = RpcError::new(INVALID_REQUEST, "Content-Type must be application/json");
        exchange.error(session, 415, None, error).await?;
        return Ok(None);
    }
    let limit = exchange.runtime.config.mcp.max_body_size;
    let Ok(bytes) = read_body(session, limit.0).await? else {
        session.set_keepalive(None);
        let error = RpcError::new(INVALID_REQUEST, format!("request body larger than {limit}"));
        exchange.error(session, 413, None, error).await?;
        return Ok(None);
    };
    match jsonrpc::parse_body(&bytes) {
        Ok(body) => Ok(Some(body)),
        Err((id, error)) => {
            exchange.error(session, 400, id.as_ref(), error).await?;
            Ok(None)
        }
    }
}

/// Seed 000's bulk stream for programs (`POST /mcp/stream`): one JSON-RPC request, no session,
/// authenticated like every `/mcp` request, answered with `event: data | progress | message |
/// complete | error` and a `:heartbeat` comment after `[streaming] heartbeat_interval` of quiet.
async fn serve_bulk(state: &McpState, session: &mut Session, exchange: &Exchange<'_>) -> Result<()> {
    let Some(body) = read_rpc_body(session, exchange, false).await? else { return Ok(()) };
    let Body::Single(Message::Request { id, method, params }) = body else {
        let error = RpcError::new(INVALID_REQUEST, "/mcp/stream takes one JSON-RPC request with an id");
        return exchange.error(session, 400, None, error).await;
    };
    let call = Call {
        id,
        method,
        params,
        wire: Wire::Session,
        version: server::DEFAULT_VERSION.to_string(),
        caps: json!({}),
        log_level: None,
        claims: None,
        bulk: true,
    };
    run_call(state, session, exchange, call, &[]).await
}

async fn serve_post(state: &McpState, session: &mut Session, exchange: &Exchange<'_>) -> Result<()> {
    if !header(session, http::header::CONTENT_TYPE).is_some_and(is_json) {
        let error = RpcError::new(INVALID_REQUEST, "Content-Type must be application/json");
        return exchange.error(session, 415, None, error).await;
    }
    let accept = exchange.accept;
    let ndjson = accept.ndjson;
    if !(accept.json && accept.sse || accept.any || ndjson) {
        return exchange
            .error(
                session,
                406,
                None,
                RpcError::new(
                    INVALID_REQUEST,
                    "Accept must list both application/json and text/event-stream (or application/x-ndjson)",
                ),
            )
            .await;
    }
    let Some(body) = read_rpc_body(session, exchange, true).await? else { return Ok(()) };
    let version_header = header(session, MCP_PROTOCOL_VERSION).map(str::to_string);
    let meta_version = match &body {
        Body::Single(Message::Request { params, .. } | Message::Notification { params, .. }) => {
            params["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str().map(str::to_string)
        }
        _ => None,
    };
    let is_discover = matches!(&body, Body::Single(m) if m.method() == Some("server/discover"));
    if version_header.as_deref() == Some(STATELESS_VERSION) || meta_version.is_some() || is_discover {
        serve_stateless(state, session, exchange, body, version_header, meta_version).await
    } else {
        serve_session_post(state, session, exchange, body, version_header).await
    }
}

/// A routing header (`Mcp-Method`, `Mcp-Name`) must carry the body's value; only a request
/// without an `MCP-Protocol-Version` header may leave it out. `found` is `Some(None)` for a header
/// that is present but cannot be decoded. Returns what is wrong, if anything.
fn routing_header_problem(
    name: &str,
    found: Option<Option<&str>>,
    expected: &str,
    required: bool,
    mismatch: impl FnOnce(Option<&str>) -> String,
) -> Option<String> {
    match found {
        Some(Some(value)) if value == expected => None,
        Some(value) => Some(mismatch(value)),
        None if required => Some(format!("{name} header is required")),
        None => None,
    }
}

async fn serve_stateless(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange<'_>,
    body: Body,
    version_header: Option<String>,
    meta_version: Option<String>,
) -> Result<()> {
    let Body::Single(message) = body else {
        return exchange
            .error(session, 400, None, RpcError::new(INVALID_REQUEST, "batches are not part of protocol 2026-07-28"))
            .await;
    };
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (Some(id), method, params),
        Message::Notification { method, params } => (None, method, params),
        Message::Response { id, .. } => {
            let error = RpcError::new(INVALID_REQUEST, "clients do not send responses in protocol 2026-07-28");
            return exchange.error(session, 400, Some(&id), error).await;
        }
    };
    let Some(version) = version_header.clone().or(meta_version.clone()) else {
        let error = RpcError::new(HEADER_MISMATCH, "MCP-Protocol-Version header is required");
        return exchange.error(session, 400, id.as_ref(), error).await;
    };
    if version != STATELESS_VERSION && !(method == "server/discover" && version_header.is_none()) {
        let supported = json!({ "supported": ALL_VERSIONS, "requested": version });
        let error =
            RpcError::new(jsonrpc::UNSUPPORTED_PROTOCOL_VERSION, format!("unsupported protocol version {version:?}"))
                .with_data(supported);
        return exchange.error(session, 400, id.as_ref(), error).await;
    }
    if let (Some(h), Some(m)) = (&version_header, &meta_version)
        && h != m
    {
        let error = RpcError::new(
            HEADER_MISMATCH,
            format!("MCP-Protocol-Version header {h:?} does not match _meta protocolVersion {m:?}"),
        );
        return exchange.error(session, 400, id.as_ref(), error).await;
    }
    let required = version_header.is_some();
    let method_problem =
        routing_header_problem("Mcp-Method", header(session, MCP_METHOD).map(Some), &method, required, |m| {
            format!("Mcp-Method header {:?} does not match the body's method {method:?}", m.unwrap_or_default())
        });
    if let Some(problem) = method_problem {
        return exchange.error(session, 400, id.as_ref(), RpcError::new(HEADER_MISMATCH, problem)).await;
    }
    let name_key = match method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(key) = name_key {
        let expected = params[key].as_str().unwrap_or_default();
        let decoded = header(session, MCP_NAME).map(decode_header_value);
        let found = decoded.as_ref().map(Option::as_deref);
        let name_problem = routing_header_problem("Mcp-Name", found, expected, required, |_| {
            format!("Mcp-Name header does not match the body's {key} {expected:?}")
        });
        if let Some(problem) = name_problem {
            return exchange.error(session, 400, id.as_ref(), RpcError::new(HEADER_MISMATCH, problem)).await;
        }
    }
    if method == "tools/call"
        && let Err(problem) = check_param_headers(state, session, exchange, &params)
    {
        return exchange.error(session, 400, id.as_ref(), RpcError::new(HEADER_MISMATCH, problem)).await;
    }
    let Some(id) = id else {
        return exchange.empty(session, 202, &[]).await;
    };
    if !STATELESS_METHODS.contains(&method.as_str()) {
        let error = RpcError::new(METHOD_NOT_FOUND, format!("method {method:?} is not part of protocol 2026-07-28"));
        return exchange.error(session, 404, Some(&id), error).await;
    }
    let meta = &params["_meta"];
    {
        let missing = if !meta.is_object() {
            Some("_meta")
        } else if !meta["io.modelcontextprotocol/protocolVersion"].is_string() {
            Some("_meta[\"io.modelcontextprotocol/protocolVersion\"]")
        } else if !meta["io.modelcontextprotocol/clientCapabilities"].is_object() {
            Some("_meta[\"io.modelcontextprotocol/clientCapabilities\"]")
        } else {
            None
        };
        if let Some(field) = missing {
            let error =
                RpcError::invalid_params(format!("{field} is required on every request in protocol 2026-07-28"));
            return exchange.error(session, 400, Some(&id), error).await;
        }
    }
    if method == "subscriptions/listen" {
        return listen(state, session, exchange, &id, &params).await;
    }
    let caps = meta["io.modelcontextprotocol/clientCapabilities"].clone();
    let log_level = meta["io.modelcontextprotocol/logLevel"].as_str().and_then(LogLevel::parse);
    let call = Call {
        id,
        method,
        params,
        wire: Wire::Stateless,
        version: STATELESS_VERSION.to_string(),
        caps,
        log_level,
        claims: None,
        bulk: false,
    };
    run_call(state, session, exchange, call, &[]).await
}

async fn serve_session_post(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange<'_>,
    body: Body,
    version_header: Option<String>,
) -> Result<()> {
    if let Some(v) = &version_header
        && !SESSION_VERSIONS.contains(&v.as_str())
    {
        let error = RpcError::new(
            INVALID_REQUEST,
            format!("unsupported MCP-Protocol-Version {v:?}; supported: {}", ALL_VERSIONS.join(", ")),
        )
        .with_data(json!({ "supported": ALL_VERSIONS }));
        return exchange.error(session, 400, None, error).await;
    }
    if let Body::Single(Message::Request { id, method, params }) = &body
        && method == "initialize"
    {
        return initialize(state, session, exchange, id, params).await;
    }
    let Some(claims) = require_session(state, session, exchange).await? else { return Ok(()) };
    let version = version_header.unwrap_or_else(|| {
        if claims.v.as_str() > server::DEFAULT_VERSION { claims.v.clone() } else { server::DEFAULT_VERSION.to_string() }
    });
    let started = Instant::now();
    let messages = match body {
        Body::Single(m) => vec![Ok(m)],
        Body::Batch(_) if version != "2025-03-26" && claims.v != "2025-03-26" => {
            let error = RpcError::new(
                INVALID_REQUEST,
                format!("JSON-RPC batches are only part of protocol 2025-03-26, not {version}"),
            );
            return exchange.error(session, 400, None, error).await;
        }
        Body::Batch(items) => items,
    };
    let is_batch = messages.len() > 1;
    let mut requests = Vec::new();
    let mut errors = Vec::new();
    for message in messages {
        match message {
            Err((id, error)) => errors.push(error.response(id.as_ref())),
            Ok(Message::Notification { method, params }) => notification(state, &claims, &method, &params),
            Ok(Message::Response { id, outcome }) => {
                state.pending.complete(&id, outcome);
            }
            Ok(Message::Request { id, method, params }) => requests.push((id, method, params)),
        }
    }
    if requests.is_empty() && errors.is_empty() {
        state.account(Some(&claims), Wire::Session, started, false);
        return exchange.empty(session, 202, &[]).await;
    }
    if !is_batch && errors.len() == 1 {
        return exchange.json(session, 400, &errors[0], &[]).await;
    }
    let log_level = Some(*state.log_levels.lock().unwrap().get(&claims.n).unwrap_or(&LogLevel::Debug));
    if !is_batch {
        let (id, method, params) = requests.pop().expect("one request");
        if method == "logging/setLevel"
            && let Some(level) = params["level"].as_str().and_then(LogLevel::parse)
        {
            state.log_levels.lock().unwrap().insert(claims.n.clone(), level);
        }
        let call = Call {
            id,
            method,
            params,
            wire: Wire::Session,
            version,
            caps: claims.caps.clone(),
            log_level,
            claims: Some(claims),
            bulk: false,
        };
        return run_call(state, session, exchange, call, &[]).await;
    }
    // A 2025-03-26 batch: every request answered in one JSON array.
    let server = state.server(exchange.runtime);
    let mut responses = errors;
    for (id, method, params) in requests {
        let (tx, _rx) = mpsc::channel(1);
        let cx = exchange.call_context(tx).with_capabilities(claims.caps.clone()).with_log_level(log_level);
        responses.push(match server.handle(&method, &params, &cx, Wire::Session).await {
            Ok(result) => jsonrpc::result(&id, result),
            Err(error) => error.response(Some(&id)),
        });
    }
    state.account(Some(&claims), Wire::Session, started, false);
    exchange.json(session, 200, &Value::Array(responses), &[]).await
}

async fn initialize(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange<'_>,
    id: &Id,
    params: &Value,
) -> Result<()> {
    let server = state.server(exchange.runtime);
    let version = server::negotiate(params["protocolVersion"].as_str());
    let caps = params.get("capabilities").cloned().unwrap_or(json!({}));
    let client = params["clientInfo"]["name"].as_str().unwrap_or("unknown");
    let ttl = exchange.runtime.config.mcp.session_ttl.0.as_secs();
    let (session_id, claims) = state.sessions.mint(exchange.secrets, version, &caps, client, ttl);
    state.sessions.record(&claims, 0.0, false);
    crate::telemetry::metrics().active_sessions.set(state.sessions.active() as i64);
    crate::telemetry::metrics().mcp_sessions.with_label_values(&["created"]).inc();
    tracing::info!(request_id = exchange.request_id, client, version, "MCP session initialized");
    let body = jsonrpc::result(id, server.initialize_result(version));
    exchange.json(session, 200, &body, &[("mcp-session-id", &session_id)]).await
}

fn notification(state: &McpState, claims: &Claims, method: &str, params: &Value) {
    if method == "notifications/cancelled"
        && let Some(request) = params.get("requestId")
        && let Some(token) = state.running.lock().unwrap().get(&running_key(&claims.n, request))
    {
        token.cancel();
    }
}

fn running_key(nonce: &str, id: &Value) -> String {
    format!("{nonce}/{id}")
}

/// One request to run.
struct Call {
    id: Id,
    method: String,
    params: Value,
    wire: Wire,
    version: String,
    caps: Value,
    log_level: Option<LogLevel>,
    claims: Option<Claims>,
    /// Answer with seed 000's bulk stream events (`/mcp/stream`).
    bulk: bool,
}

async fn run_call(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange<'_>,
    call: Call,
    extra: &[(&'static str, &str)],
) -> Result<()> {
    let server = state.server(exchange.runtime);
    let started = Instant::now();
    let progress_token = call.params["_meta"].get("progressToken").cloned();
    let tool_spec = call.params["name"].as_str().filter(|_| call.method == "tools/call").and_then(|n| server.tool(n));
    let notifies = call.method == "tools/call"
        && (progress_token.is_some() || tool_spec.is_some_and(|t| t.notifies_for(&call.params["arguments"])));
    // Large streamed results are compressed when the client accepts it; small replies are not
    // worth an encoder's set-up.
    let compress = tool_spec.is_some_and(|t| t.streams_for(&call.params["arguments"]));
    // Streamed replies are SSE, or NDJSON for a client that takes that and not SSE, or seed
    // 000's bulk events on `/mcp/stream`.
    let accept = exchange.accept;
    let ndjson = accept.ndjson && !accept.sse;
    let framing = match (call.bulk, ndjson) {
        (true, _) => Framing::Bulk,
        (false, true) => Framing::Ndjson,
        (false, false) => Framing::Sse,
    };
    let sse = call.bulk
        || match exchange.runtime.config.mcp.response_mode {
            ResponseMode::Json => false,
            ResponseMode::Sse => call.method == "tools/call",
            ResponseMode::Auto => notifies,
        } && (accept.sse || ndjson);

    let input = match InputRound::from_params(&call.params, state.sessions.sealer(exchange.secrets)) {
        Ok(input) => input,
        Err(error) => {
            state.account(call.claims.as_ref(), call.wire, started, true);
            let status = http_status(call.wire, error.code);
            return exchange.json(session, status, &error.response(Some(&call.id)), extra).await;
        }
    };
    if !sse {
        let (tx, _rx) = mpsc::channel(1);
        let cx = exchange
            .call_context(tx)
            .with_capabilities(call.caps.clone())
            .with_log_level(call.log_level)
            .with_input(input)
            .with_announcements(state.broadcast.clone());
        let outcome = server.handle(&call.method, &call.params, &cx, call.wire).await;
        state.account(call.claims.as_ref(), call.wire, started, outcome.is_err());
        return match outcome {
            Ok(result) => exchange.json_bytes(session, 200, jsonrpc::result_bytes(&call.id, &result), extra).await,
            Err(error) => {
                let status = http_status(call.wire, error.code);
                exchange.json(session, status, &error.response(Some(&call.id)), extra).await
            }
        };
    }

    let (tx, rx) = mpsc::channel(STREAM_CHANNEL);
    let pending = (call.wire == Wire::Session).then(|| state.pending.clone());
    let mut cx = exchange
        .streamed_call_context(session, tx.clone(), framing.transport())
        .with_progress_token(progress_token)
        .with_capabilities(call.caps.clone())
        .with_log_level(call.log_level)
        .with_input(input)
        .with_announcements(state.broadcast.clone());
    if let Some(pending) = pending {
        cx = cx.with_client_requests(pending);
    }
    let cancel = cx.cancel.clone();
    let key = call.claims.as_ref().map(|c| running_key(&c.n, &call.id));
    if let Some(key) = &key {
        state.running.lock().unwrap().insert(key.clone(), cancel.clone());
    }
    let wire = call.wire;
    spawn_call(server, (call.id.clone(), call.method.clone(), call.params.clone()), wire, cx, tx);

    let stream_id = hex::encode(rand::random::<[u8; 8]>());
    let tool = call.params["name"].as_str().unwrap_or_default().to_string();
    let session_sse = framing == Framing::Sse && wire == Wire::Session;
    let spec = StreamSpec {
        stream_id: &stream_id,
        seq: 0,
        prime: session_sse && server::at_least(&call.version, "2025-11-25"),
        framing,
        cancel_on_close: !session_sse,
        extra,
        call: (session_sse && call.method == "tools/call").then_some((&call.id, tool.as_str())),
        resume: None,
        call_stream: true,
        compress,
    };
    let ended = stream_sse(state, session, exchange, rx, spec).await;
    if let Some(key) = &key {
        state.running.lock().unwrap().remove(key);
    }
    state.account(call.claims.as_ref(), wire, started, false);
    match ended {
        StreamEnd::ClientGone if !session_sse => cancel.cancel(),
        StreamEnd::Ended => cancel.cancel(),
        _ => {}
    }
    Ok(())
}

/// Runs a request on its own task; its response goes to `tx` after whatever the call streamed,
/// unless the call is cancelled first: a cancelled request gets no response, not even the error
/// its cut-short Immich read just ended in.
fn spawn_call(
    server: Arc<McpServer>,
    (id, method, params): (Id, String, Value),
    wire: Wire,
    cx: CallContext,
    tx: mpsc::Sender<Outbound>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let outcome = tokio::select! {
            biased;
            () = cx.cancel.cancelled() => None,
            outcome = server.handle(&method, &params, &cx, wire) => Some(outcome),
        };
        if let Some(outcome) = outcome.filter(|_| !cx.cancel.is_cancelled()) {
            let message = match outcome {
                Ok(result) => jsonrpc::result(&id, result),
                Err(error) => error.response(Some(&id)),
            };
            let _ = tx.send(Outbound::Message(message)).await;
        }
    })
}

/// SEP-2243: arguments a tool marks with `x-mcp-header` travel in `Mcp-Param-<Name>` headers too
/// (so proxies can route on them), plain or `=?base64?…?=`-wrapped; the header must be present
/// whenever the argument is, decode cleanly, and equal the argument.
fn check_param_headers(
    state: &McpState,
    session: &Session,
    exchange: &Exchange<'_>,
    params: &Value,
) -> std::result::Result<(), String> {
    let server = state.server(exchange.runtime);
    let Some(tool) = params["name"].as_str().and_then(|name| server.tool(name)) else { return Ok(()) };
    let Some(properties) = tool.definition["inputSchema"]["properties"].as_object() else { return Ok(()) };
    for (argument, schema) in properties {
        let Some(suffix) = schema.get("x-mcp-header").and_then(Value::as_str) else { continue };
        let header_name = format!("mcp-param-{}", suffix.to_ascii_lowercase());
        let body_value = match params["arguments"].get(argument) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        match (header(session, &header_name), body_value) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(format!("argument `{argument}` must also be sent in the Mcp-Param-{suffix} header"));
            }
            (Some(_), None) => return Err(format!("Mcp-Param-{suffix} is set but argument `{argument}` is absent")),
            (Some(raw), Some(expected)) => {
                let decoded =
                    decode_header_value(raw).ok_or_else(|| format!("Mcp-Param-{suffix} is not valid Base64"))?;
                if decoded != expected {
                    return Err(format!("Mcp-Param-{suffix} does not match argument `{argument}`"));
                }
            }
        }
    }
    Ok(())
}

/// An `Mcp-Name` or `Mcp-Param-*` value: `=?base64?<standard Base64 with padding>?=` (for values
/// that are not ASCII-safe) is decoded strictly; anything else is literal.
fn decode_header_value(raw: &str) -> Option<String> {
    use base64::Engine;
    match raw.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok(),
        None => Some(raw.to_string()),
    }
}

/// `subscriptions/listen` (2026-07-28): a long-lived SSE reply that first acknowledges the
/// notification types the server will send, then carries those notifications, each tagged with
/// the subscription id, until the client leaves.
async fn listen(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange<'_>,
    id: &Id,
    params: &Value,
) -> Result<()> {
    const KINDS: [(&str, &str); 3] = [
        ("toolsListChanged", "notifications/tools/list_changed"),
        ("promptsListChanged", "notifications/prompts/list_changed"),
        ("resourcesListChanged", "notifications/resources/list_changed"),
    ];
    let requested = &params["notifications"];
    let honored: Vec<(&str, &str)> = KINDS.into_iter().filter(|(flag, _)| requested[*flag] == json!(true)).collect();
    let subscription = hex::encode(rand::random::<[u8; 8]>());
    let tag = move |mut message: Value| {
        if let Some(params) = message.as_object_mut().map(|m| m.entry("params").or_insert_with(|| json!({}))) {
            params["_meta"]["io.modelcontextprotocol/subscriptionId"] = json!(subscription);
        }
        message
    };
    let acknowledged = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": { "notifications": honored.iter().map(|(flag, _)| (flag.to_string(), json!(true))).collect::<serde_json::Map<_, _>>() },
    });
    let (tx, rx) = mpsc::channel(STREAM_CHANNEL);
    let _ = tx.try_send(Outbound::Message(tag(acknowledged)));
    let mut notifications = state.broadcast.subscribe();
    let wanted: Vec<&'static str> = honored.iter().map(|(_, method)| *method).collect();
    let tag_owned = tag.clone();
    let forward = tokio::spawn(async move {
        while let Ok(message) = notifications.recv().await {
            if wanted.iter().any(|m| message["method"] == json!(m))
                && tx.send(Outbound::Message(tag_owned(message))).await.is_err()
            {
                return;
            }
        }
    });
    let _ = id;
    let stream_id = hex::encode(rand::random::<[u8; 8]>());
    stream_sse(state, session, exchange, rx, StreamSpec::notifications(&stream_id, false)).await;
    forward.abort();
    Ok(())
}

/// The HTTP status of a JSON-RPC error reply. The stateless wire maps request errors onto HTTP
/// (404 for unknown methods, 400 for invalid requests, parameters and missing capabilities);
/// inside a session an error reply is an ordinary 200.
fn http_status(wire: Wire, code: i64) -> u16 {
    match (wire, code) {
        (Wire::Session, _) => 200,
        (Wire::Stateless, METHOD_NOT_FOUND) => 404,
        (
            Wire::Stateless,
            jsonrpc::INVALID_PARAMS | INVALID_REQUEST | jsonrpc::MISSING_CLIENT_CAPABILITY | HEADER_MISMATCH,
        ) => 400,
        (Wire::Stateless, _) => 200,
    }
}

/// How an SSE response ended.
enum StreamEnd {
    /// Every message was sent.
    Complete,
    /// The server ended the response early; the rest is parked for a resume.
    Parked,
    /// The client went away.
    ClientGone,
    /// The gateway ended the stream early with an error event (shutdown, idle or backpressure
    /// timeout); the call stops.
    Ended,
}

/// How a streamed reply frames its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Streamable HTTP's SSE: every JSON-RPC message is an `event: message` with an `id`.
    Sse,
    /// Chunked NDJSON (`Accept: application/x-ndjson`): one JSON-RPC message per line.
    Ndjson,
    /// Seed 000's bulk stream (`/mcp/stream`): `event: data | progress | complete | error`.
    Bulk,
}

impl Framing {
    fn content_type(self) -> &'static str {
        match self {
            Framing::Sse | Framing::Bulk => "text/event-stream",
            Framing::Ndjson => "application/x-ndjson",
        }
    }

    /// Its `transport` label in the streaming metrics.
    fn transport(self) -> &'static str {
        match self {
            Framing::Sse | Framing::Bulk => "sse",
            Framing::Ndjson => "ndjson",
        }
    }
}

/// One streamed reply: where its sequence starts and how it is framed and ended.
struct StreamSpec<'a> {
    stream_id: &'a str,
    /// The sequence number of the first event.
    seq: u64,
    /// Send an SSE priming event (`id`, `retry:`) first (protocol ≥ 2025-11-25).
    prime: bool,
    framing: Framing,
    /// Cancel the call when the client goes away, instead of parking the rest for a resume.
    cancel_on_close: bool,
    extra: &'a [(&'static str, &'a str)],
    /// The request this stream answers and its tool: event ids then carry the latest resume
    /// token, so a `Last-Event-ID` resumes the call on any replica.
    call: Option<(&'a Id, &'a str)>,
    /// The latest resume token already sent (a resumed stream's).
    resume: Option<String>,
    /// It carries a call's reply (not server notifications): idle and shutdown end it early.
    call_stream: bool,
    /// Compress it (flushed at every event) when the client accepts an encoding.
    compress: bool,
}

/// A stream's bytes on their way out: compressed and flushed at every event boundary when the
/// client accepts an encoding, so a compressed stream stays live.
struct Outgoing(Option<crate::stream::compress::Compressor>);

impl Outgoing {
    fn event(&mut self, bytes: Bytes) -> Bytes {
        match &mut self.0 {
            Some(compressor) => compressor.push(&bytes, true),
            None => bytes,
        }
    }

    /// The encoder's trailer, for the end of the body.
    fn last(&mut self) -> Option<Bytes> {
        self.0.as_mut().map(|compressor| compressor.finish())
    }

    /// `event`, then the trailer: the last bytes of the body.
    fn final_event(&mut self, event: Bytes) -> Bytes {
        let mut bytes = self.event(event).to_vec();
        bytes.extend_from_slice(&self.last().unwrap_or_default());
        Bytes::from(bytes)
    }
}

impl<'a> StreamSpec<'a> {
    /// A stream of server notifications (no call behind it): SSE, ended when the client leaves.
    fn notifications(stream_id: &'a str, prime: bool) -> StreamSpec<'a> {
        StreamSpec {
            stream_id,
            seq: 0,
            prime,
            framing: Framing::Sse,
            cancel_on_close: true,
            extra: &[],
            call: None,
            resume: None,
            call_stream: false,
            compress: false,
        }
    }
}

/// The `id:` of an SSE event: `<stream>-<seq>`, then, once the stream has a resume token,
/// `~<base64url(request id)>~<tool>~<token>` (none of the parts can contain `~`).
fn event_id(spec: &StreamSpec<'_>, seq: u64, resume: Option<&str>) -> String {
    use base64::Engine;
    match (spec.call, resume) {
        (Some((id, tool)), Some(token)) => format!(
            "{}-{seq}~{}~{tool}~{token}",
            spec.stream_id,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.to_string())
        ),
        _ => format!("{}-{seq}", spec.stream_id),
    }
}

/// A `Last-Event-ID`, read back: the stream, and what resumes its call elsewhere.
struct LastEventId {
    stream_id: String,
    elsewhere: Option<(Id, String, String)>,
}

impl LastEventId {
    fn parse(value: &str) -> Option<LastEventId> {
        use base64::Engine;
        let mut parts = value.split('~');
        let (stream_id, _seq) = parts.next()?.rsplit_once('-')?;
        let elsewhere = match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(tool), Some(token)) => {
                let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id).ok()?;
                Some((serde_json::from_slice(&id).ok()?, tool.to_string(), token.to_string()))
            }
            _ => None,
        };
        Some(LastEventId { stream_id: stream_id.to_string(), elsewhere })
    }
}

/// Seed 000's bulk stream events, from a call's JSON-RPC messages: data and progress as they
/// come, the final result as `event: message`, then `event: complete` (or `event: error`).
#[derive(Default)]
struct BulkEvents {
    complete: Option<Value>,
    last_resume: Option<String>,
    /// Progress comes from the data events once there are any.
    seen_data: bool,
}

impl BulkEvents {
    /// `event: data` (its `id:` the resume token) and the matching `event: progress`.
    fn frame_data(&mut self, data: &crate::mcp::catalog::StreamData) -> String {
        self.seen_data = true;
        self.last_resume.clone_from(&data.resume_token);
        let id = data.resume_token.as_deref().map(|t| format!("id: {t}\n")).unwrap_or_default();
        let percent = crate::mcp::catalog::percent_complete(data.processed, data.total);
        let progress = json!({ "progress": percent, "message": format!("{} of {} items", data.processed, data.total),
            "processedItems": data.processed, "totalItems": data.total });
        format!("event: data\n{id}data: {}\n\nevent: progress\ndata: {progress}\n\n", data.params)
    }

    fn frame(&mut self, message: &Value, out: &mut String) {
        use std::fmt::Write;
        let mut event = |name: &str, id: Option<&str>, data: &Value| {
            let _ = writeln!(out, "event: {name}");
            if let Some(id) = id {
                let _ = writeln!(out, "id: {id}");
            }
            let _ = write!(out, "data: {data}\n\n");
        };
        let params = &message["params"];
        match message["method"].as_str() {
            Some("notifications/stream/init") => event("init", None, params),
            Some("notifications/stream/complete") => self.complete = Some(params.clone()),
            Some("notifications/stream/error") => event("error", None, params),
            Some("notifications/progress") if !self.seen_data => {
                let (done, total) = (params["progress"].as_f64().unwrap_or(0.0), params["total"].as_f64());
                let percent = total.filter(|t| *t > 0.0).map(|t| (done * 100.0 / t).min(100.0).round());
                let progress = json!({ "progress": percent.unwrap_or(done), "processed": done,
                    "total": total, "message": params["message"] });
                event("progress", None, &progress);
            }
            Some("notifications/progress") => {}
            Some(_) => event("message", None, message),
            None => {
                // The final JSON-RPC response.
                event("message", None, message);
                let failure = message["error"]["message"].as_str().map(str::to_string).or_else(|| {
                    (message["result"]["isError"] == json!(true))
                        .then(|| message["result"]["content"][0]["text"].as_str().unwrap_or("").to_string())
                });
                let complete = self.complete.take();
                match failure {
                    Some(error) => {
                        let code = complete.as_ref().map_or(json!("TOOL_ERROR"), |c| c["error"]["code"].clone());
                        let error = json!({ "streamId": complete.as_ref().map(|c| c["streamId"].clone()),
                            "error": error, "code": code, "retryable": false });
                        event("error", None, &error);
                    }
                    None => {
                        let mut complete = complete.unwrap_or_else(|| json!({ "success": true }));
                        if complete["success"] == json!(false) {
                            complete["resumeToken"] = json!(self.last_resume);
                        }
                        event("complete", None, &complete);
                    }
                }
            }
        }
    }
}

/// Writes a streamed reply from a call's messages until the call ends, the server closes it, or
/// the client goes away (then, on the session wire, the rest is parked for a `Last-Event-ID`
/// resume).
async fn stream_sse(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange<'_>,
    mut rx: mpsc::Receiver<Outbound>,
    spec: StreamSpec<'_>,
) -> StreamEnd {
    let (stream_id, mut seq) = (spec.stream_id, spec.seq);
    let mut resume: Option<String> = spec.resume.clone();
    let mut head = match ResponseHeader::build(200, Some(8)) {
        Ok(h) => h,
        Err(_) => return StreamEnd::ClientGone,
    };
    let mut headers = exchange.headers(spec.extra);
    headers.extend([
        ("content-type", spec.framing.content_type()),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("transfer-encoding", "chunked"),
        ("x-request-id", exchange.request_id),
    ]);
    let codec = exchange.codec.filter(|_| spec.compress);
    if let Some(codec) = codec {
        headers.extend([("content-encoding", codec.token()), ("vary", "Accept-Encoding")]);
    }
    let level = |c| crate::stream::compress::level(c, &exchange.runtime.config.streaming);
    let mut out = Outgoing(codec.map(|c| crate::stream::compress::Compressor::new(c, level(c))));
    for (name, value) in headers {
        let _ = head.insert_header(name, value);
    }
    // The client's pace reaches this stream's writer after stream_buffer_size unsent bytes.
    crate::stream::socket::cap_unsent(session, exchange.runtime.config.streaming.stream_buffer_size.as_usize());
    if session.write_response_header(Box::new(head), false).await.is_err() {
        return park_or_drop(state, rx, &spec, seq, resume);
    }
    if spec.prime {
        let retry = exchange.runtime.config.mcp.sse_retry.0.as_millis();
        let priming = out.event(Bytes::from(format!("id: {stream_id}-{seq}\nretry: {retry}\ndata: \n\n")));
        seq += 1;
        if session.write_response_body(Some(priming), false).await.is_err() {
            return park_or_drop(state, rx, &spec, seq, resume);
        }
    }
    let (keepalive_every, keepalive_comment): (Duration, &'static [u8]) = match spec.framing {
        Framing::Bulk => (exchange.runtime.config.streaming.heartbeat_interval.0, b":heartbeat\n\n"),
        // NDJSON has no comments; a quiet stream stays quiet.
        Framing::Ndjson => (Duration::from_secs(86_400 * 365), b""),
        Framing::Sse => (exchange.runtime.config.mcp.sse_keepalive.0, b": keep-alive\n\n"),
    };
    let mut keepalive = tokio::time::interval(keepalive_every);
    keepalive.tick().await;
    let mut bulk = BulkEvents::default();
    let mut tool_stream: Option<String> = None;
    let streaming = &exchange.runtime.config.streaming;
    // A call's stream ends when the call sends nothing for `idle_timeout`; notification streams
    // are quiet by nature.
    let idle_limit = if spec.call_stream { streaming.idle_timeout.0 } else { Duration::from_secs(86_400 * 365) };
    let idle = tokio::time::sleep(idle_limit);
    tokio::pin!(idle);
    loop {
        let mut held = None;
        let next = tokio::select! {
            message = rx.recv() => Some(message),
            _ = keepalive.tick() => None,
            () = crate::server::shutting_down(), if spec.call_stream => {
                let why = "the gateway is shutting down; resume on another replica with resumeToken";
                let event = ending_event(&spec, seq, &tool_stream, &resume, "SHUTTING_DOWN", why);
                return end_early(session, out.final_event(event)).await;
            }
            () = &mut idle => {
                let why = format!("nothing to send for [streaming] idle_timeout ({})", streaming.idle_timeout);
                let event = ending_event(&spec, seq, &tool_stream, &resume, "IDLE_TIMEOUT", &why);
                return end_early(session, out.final_event(event)).await;
            }
            _ = session.as_downstream_mut().read_body_or_idle(true) => {
                return park_or_drop(state, rx, &spec, seq, resume);
            }
        };
        let bytes = match next {
            None => Bytes::from_static(keepalive_comment),
            Some(None) => {
                let _ = session.write_response_body(out.last(), true).await;
                return StreamEnd::Complete;
            }
            Some(Some(Outbound::CloseStream)) => {
                let _ = session.write_response_body(out.last(), true).await;
                park(state, rx, &spec, seq, resume);
                return StreamEnd::Parked;
            }
            Some(Some(Outbound::Data(data))) => {
                idle.as_mut().reset(tokio::time::Instant::now() + idle_limit);
                if tool_stream.as_deref() != Some(data.stream_id.as_str()) {
                    tool_stream = Some(data.stream_id.clone());
                }
                if data.resume_token.is_some() {
                    resume = data.resume_token.clone();
                }
                let event = match spec.framing {
                    Framing::Sse => {
                        let id = event_id(&spec, seq, resume.as_deref());
                        format!("event: message\nid: {id}\ndata: {}\n\n", data.notification())
                    }
                    Framing::Ndjson => format!("{}\n", data.notification()),
                    Framing::Bulk => bulk.frame_data(&data),
                };
                seq += 1;
                // Its bytes stay counted against the buffers until the write below is done.
                held = Some(data.held);
                Bytes::from(event)
            }
            Some(Some(Outbound::Message(message))) => {
                idle.as_mut().reset(tokio::time::Instant::now() + idle_limit);
                let event = match spec.framing {
                    Framing::Sse => {
                        let id = event_id(&spec, seq, resume.as_deref());
                        let data = serde_json::to_string(&message).expect("a Value always serializes");
                        format!("event: message\nid: {id}\ndata: {data}\n\n")
                    }
                    Framing::Ndjson => {
                        let mut line = serde_json::to_string(&message).expect("a Value always serializes");
                        line.push('\n');
                        line
                    }
                    Framing::Bulk => {
                        let mut events = String::new();
                        bulk.frame(&message, &mut events);
                        events
                    }
                };
                seq += 1;
                Bytes::from(event)
            }
        };
        if bytes.is_empty() {
            continue;
        }
        let bytes = out.event(bytes);
        // A client that takes nothing stalls this write, and through the bounded channel the call
        // and its Immich reads. Past `backpressure_timeout` the stream ends; if the client drains
        // within a short grace it learns why and where to resume.
        let mut write = Box::pin(session.write_response_body(Some(bytes), false));
        match tokio::time::timeout(streaming.backpressure_timeout.0, &mut write).await {
            Ok(Ok(())) => drop(held),
            Ok(Err(_)) => return park_or_drop(state, rx, &spec, seq, resume),
            Err(_) => {
                crate::stream::stats::backpressure_event();
                tracing::info!(stream_id, "stream client took nothing for backpressure_timeout; stream ends");
                let drained = tokio::time::timeout(END_GRACE, &mut write).await;
                drop(write);
                if !matches!(drained, Ok(Ok(()))) {
                    // Half an event may be out: this connection cannot carry anything more.
                    session.set_keepalive(None);
                    return StreamEnd::Ended;
                }
                let why = format!(
                    "the client took no event for [streaming] backpressure_timeout ({})",
                    streaming.backpressure_timeout
                );
                let event = ending_event(&spec, seq, &tool_stream, &resume, "BACKPRESSURE_TIMEOUT", &why);
                return end_early(session, out.final_event(event)).await;
            }
        }
    }
}

/// How long a stream that is ending early waits for its client to take the final error event.
const END_GRACE: Duration = Duration::from_secs(2);

/// Seed 000's stream error, retryable and carrying the latest resume token, framed for `spec`.
fn ending_event(
    spec: &StreamSpec<'_>,
    seq: u64,
    tool_stream: &Option<String>,
    resume: &Option<String>,
    code: &str,
    why: &str,
) -> Bytes {
    let error =
        json!({ "streamId": tool_stream, "error": why, "code": code, "retryable": true, "resumeToken": resume });
    let notification = jsonrpc::notification("notifications/stream/error", error.clone());
    Bytes::from(match spec.framing {
        Framing::Sse => {
            format!("event: message\nid: {}\ndata: {notification}\n\n", event_id(spec, seq, resume.as_deref()))
        }
        Framing::Ndjson => format!("{notification}\n"),
        Framing::Bulk => format!("event: error\ndata: {error}\n\n"),
    })
}

/// Sends `event` and ends the response; the call behind it stops (its channel is dropped).
async fn end_early(session: &mut Session, event: Bytes) -> StreamEnd {
    session.set_keepalive(None);
    let _ = tokio::time::timeout(END_GRACE, session.write_response_body(Some(event), true)).await;
    StreamEnd::Ended
}

fn park_or_drop(
    state: &McpState,
    rx: mpsc::Receiver<Outbound>,
    spec: &StreamSpec<'_>,
    next_seq: u64,
    resume: Option<String>,
) -> StreamEnd {
    if !spec.cancel_on_close {
        park(state, rx, spec, next_seq, resume);
    }
    StreamEnd::ClientGone
}

/// Keeps the rest of a stream for a resume, for at most [`PARKED_STREAM_TTL`].
fn park(state: &McpState, rx: mpsc::Receiver<Outbound>, spec: &StreamSpec<'_>, next_seq: u64, resume: Option<String>) {
    let call = spec.call.map(|(id, tool)| (id.clone(), tool.to_string()));
    state.parked.lock().unwrap().insert(spec.stream_id.to_string(), Parked { rx, next_seq, call, resume });
    let parked = state.parked.clone();
    let stream_id = spec.stream_id.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(PARKED_STREAM_TTL).await;
        parked.lock().unwrap().remove(&stream_id);
    });
}

/// GET: resume a parked response stream (`Last-Event-ID`), or open the standalone stream.
async fn serve_get(state: &McpState, session: &mut Session, exchange: &Exchange<'_>) -> Result<()> {
    if !exchange.accept.sse {
        return exchange
            .error(session, 406, None, RpcError::new(INVALID_REQUEST, "GET /mcp needs Accept: text/event-stream"))
            .await;
    }
    let Some(claims) = require_session(state, session, exchange).await? else { return Ok(()) };
    let last = header(session, LAST_EVENT_ID).and_then(LastEventId::parse);
    let parked = last.as_ref().and_then(|l| state.parked.lock().unwrap().remove(&l.stream_id));
    let prime = server::at_least(&claims.v, "2025-11-25");
    match (last, parked) {
        (Some(last), Some(parked)) => {
            let call = parked.call.as_ref().map(|(id, tool)| (id, tool.as_str()));
            let spec = StreamSpec {
                stream_id: &last.stream_id,
                seq: parked.next_seq,
                prime: false,
                framing: Framing::Sse,
                cancel_on_close: false,
                extra: &[],
                call,
                resume: parked.resume.clone(),
                call_stream: true,
                compress: false,
            };
            stream_sse(state, session, exchange, parked.rx, spec).await;
        }
        (Some(LastEventId { elsewhere: Some((id, tool, token)), .. }), None) => {
            // The stream was served by another replica (or this one forgot it): its event id
            // carries the resume token, so the call continues here, right after that event.
            let params = json!({ "name": tool, "arguments": { "resumeToken": token } });
            let log_level = Some(*state.log_levels.lock().unwrap().get(&claims.n).unwrap_or(&LogLevel::Debug));
            let call = Call {
                id,
                method: "tools/call".into(),
                params,
                wire: Wire::Session,
                version: claims.v.clone(),
                caps: claims.caps.clone(),
                log_level,
                claims: Some(claims),
                bulk: false,
            };
            return run_call(state, session, exchange, call, &[]).await;
        }
        _ => {
            // The standalone stream carries server notifications (list changes), with
            // keep-alives, until the client leaves.
            let (tx, rx) = mpsc::channel(STREAM_CHANNEL);
            let mut notifications = state.broadcast.subscribe();
            let forward = tokio::spawn(async move {
                while let Ok(message) = notifications.recv().await {
                    if tx.send(Outbound::Message(message)).await.is_err() {
                        return;
                    }
                }
            });
            let stream_id = hex::encode(rand::random::<[u8; 8]>());
            stream_sse(state, session, exchange, rx, StreamSpec::notifications(&stream_id, prime)).await;
            forward.abort();
        }
    }
    Ok(())
}

async fn welcome_page(state: &McpState, session: &mut Session, exchange: &Exchange<'_>) -> Result<()> {
    let server = state.server(exchange.runtime);
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let tools: String = server
        .tools()
        .iter()
        .map(|t| {
            format!(
                "<li><code>{}</code> — {}</li>",
                escape(t.name()),
                escape(t.definition["description"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let host = header(session, http::header::HOST).unwrap_or("localhost:8080").to_string();
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Immich MCP Gateway</title></head><body>\
<h1>Immich MCP Gateway</h1><p>Status: running · version {version} · MCP endpoint <code>POST /mcp</code> (Streamable HTTP)</p>\
<p>Protocol versions: {versions}</p><h2>Tools</h2><ul>{tools}</ul><h2>Try it</h2><pre>curl -s http://{host}/mcp \\\n  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n  -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'</pre>\
</body></html>",
        version = env!("CARGO_PKG_VERSION"),
        versions = ALL_VERSIONS.join(", "),
        host = escape(&host),
    );
    respond(session, 200, "text/html; charset=utf-8", exchange.request_id, &exchange.headers(&[]), Bytes::from(html))
        .await
}
