//! The Pingora service: routes each request to the gateway's own endpoints or proxies `/api/*`
//! to Immich. The [`ProxyHttp`] phases below read in the order a request lives through them.

pub mod auth;
pub(crate) mod local;
pub mod path;
pub mod tls;

use crate::config::AuthMode;
use crate::config::reload::{ConfigStore, Runtime};
use crate::telemetry::{RouteClass as Route, metrics};
use async_trait::async_trait;
use auth::Principal;
use bytes::Bytes;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE,
    ETAG, HOST, TRANSFER_ENCODING, VARY,
};
use local::{respond, respond_error, respond_json};
use pingora::ErrorType::*;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Header names parsed once, not on every request.
const X_ACCEL_BUFFERING: http::HeaderName = http::HeaderName::from_static("x-accel-buffering");
const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");
const HTTP: http::HeaderValue = http::HeaderValue::from_static("http");

/// How long `/ready` waits for Immich's ping.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Classifies a request path.
fn route_of(path: &str) -> Route {
    match path {
        "/health" | "/health/streaming" => Route::Health,
        "/ready" => Route::Ready,
        "/metrics" => Route::Metrics,
        "/mcp" | "/mcp/stream" | "/mcp/ws" => Route::Mcp,
        p if p.starts_with("/exports/") => Route::Export,
        p if p.starts_with("/.well-known/oauth-protected-resource") => Route::Mcp,
        p if p == "/api" || p.starts_with("/api/") || p.starts_with("//") || p.starts_with("/api%") => Route::Api,
        _ => Route::Other,
    }
}

/// Per-request state, created when the request arrives.
pub struct RequestCtx {
    runtime: Arc<Runtime>,
    started: Instant,
    request_id: String,
    route: Route,
    principal: Option<Principal>,
    upstream_path: Option<String>,
    upstream_started: Option<Instant>,
    request_body_bytes: u64,
    /// The stream format the client asked for on a re-framable route.
    stream_format: Option<crate::stream::reframe::Format>,
    /// Re-frames the upstream body, once the upstream answered 200 with JSON.
    reframer: Option<crate::stream::reframe::Reframer>,
    /// Counts the re-framed stream in the streaming metrics while it lasts.
    stream_guard: Option<crate::stream::stats::StreamGuard>,
    /// The coding the client accepts best, when compression is on.
    codec: Option<crate::stream::compress::Codec>,
    /// Compresses the body, once the response turned out compressible.
    compressor: Option<crate::stream::compress::Compressor>,
}

/// The gateway: one instance serves every request of the process.
pub struct Gateway {
    store: Arc<ConfigStore>,
    mcp: crate::mcp::http::McpState,
    started: Instant,
}

impl Gateway {
    /// A gateway serving the configuration in `store`, offering the Immich tools as far as
    /// `permissions` allow.
    pub fn new(store: Arc<ConfigStore>, permissions: Arc<crate::tools::KeyPermissions>) -> Gateway {
        let snapshot = permissions.clone();
        let catalogs = crate::mcp::http::CatalogFactory {
            build: Box::new(move |runtime| {
                let (_, known) = snapshot.snapshot();
                let catalog = crate::tools::ImmichCatalog::new(
                    runtime.immich.clone(),
                    &runtime.config.tools,
                    &runtime.config.streaming,
                    known.as_deref(),
                );
                vec![Arc::new(catalog) as Arc<dyn crate::mcp::catalog::Catalog>]
            }),
            version: Box::new(move || permissions.snapshot().0),
        };
        Gateway { store, mcp: crate::mcp::http::McpState::new(catalogs), started: Instant::now() }
    }

    /// `GET /health/streaming`, in seed 000's shape.
    async fn serve_streaming_health(&self, session: &mut Session, ctx: &RequestCtx) -> Result<()> {
        let stats = crate::stream::stats::stats();
        let streaming = &ctx.runtime.config.streaming;
        let utilization = stats.buffered() as f64 / streaming.max_buffer_size.0.max(1) as f64;
        let active = stats.active();
        let status =
            if utilization >= 0.8 || active >= streaming.max_total_streams as i64 { "degraded" } else { "healthy" };
        let body = serde_json::json!({
            "status": status,
            "activeStreams": active,
            "maxStreams": streaming.max_total_streams,
            "bufferUtilization": (utilization * 10_000.0).round() / 10_000.0,
            "averageLatencyMs": (stats.first_event_ms() * 100.0).round() / 100.0,
            "errorsLast5Min": stats.errors_last_5_min(),
            // Diagnostics beyond seed 000: tasks alive on the worker runtime that answered (all of
            // the gateway's request tasks when `threads = 1`), to show streams leave nothing behind.
            "runtimeTasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        });
        respond_json(session, 200, &ctx.request_id, &body).await
    }

    async fn serve_health(&self, session: &mut Session, ctx: &RequestCtx) -> Result<()> {
        if session.req_header().uri.path() == "/health/streaming" {
            return self.serve_streaming_health(session, ctx).await;
        }
        let body = serde_json::json!({
            "status": "healthy",
            "service": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "transport": "streamable_http",
            "active_sessions": self.mcp.sessions.active(),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "config_generation": ctx.runtime.generation,
            "pid": std::process::id(),
        });
        respond_json(session, 200, &ctx.request_id, &body).await
    }

    async fn serve_ready(&self, session: &mut Session, ctx: &RequestCtx) -> Result<()> {
        let upstream = &ctx.runtime.upstream;
        let outcome = match upstream.addr() {
            None => Err(format!("cannot resolve Immich's host {:?}", upstream.host())),
            Some(_) => ctx.runtime.immich.ping(upstream.base(), READY_TIMEOUT).await,
        };
        let (status, body) = match outcome {
            Ok(()) => (200, serde_json::json!({ "status": "ready", "immich": "reachable" })),
            Err(reason) => {
                tracing::warn!(request_id = %ctx.request_id, %reason, "not ready");
                (503, serde_json::json!({ "status": "not ready", "reason": reason, "requestId": ctx.request_id }))
            }
        };
        respond_json(session, status, &ctx.request_id, &body).await
    }

    /// `GET /exports/<token>`: opens the sealed selection, authenticates like `/mcp`, and streams
    /// the archive's zip from Immich.
    async fn serve_export(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        use crate::tools::export;
        let id = ctx.request_id.clone();
        let token = session.req_header().uri.path().trim_start_matches("/exports/").to_string();
        let sealer = self.mcp.sessions.sealer(&ctx.runtime.session_secrets);
        let Some(selection) = sealer
            .open(export::KIND, &token)
            .and_then(|bytes| serde_json::from_slice::<export::Selection>(&bytes).ok())
        else {
            return respond_error(session, 404, &id, "unknown or altered export link; call exportPhotos again", &[])
                .await;
        };
        if selection.expires <= crate::mcp::session::now() {
            return respond_error(session, 410, &id, "this export link has expired; call exportPhotos again", &[])
                .await;
        }
        let presented = auth::presented_key(session.req_header()).map(str::to_string);
        let key = match ctx.runtime.credentials.mode() {
            AuthMode::Inject => match presented.as_deref().and_then(|k| ctx.runtime.credentials.authenticate(k)) {
                Some(principal) => {
                    let key = principal.immich_key.clone();
                    ctx.principal = Some(principal);
                    Some(key)
                }
                None => None,
            },
            AuthMode::Passthrough => presented
                .map(|k| std::sync::Arc::from(k.as_str()))
                .or_else(|| ctx.runtime.credentials.default_immich_key()),
        };
        let Some(key) = key else {
            let challenge = "Bearer realm=\"immich-mcp-gateway\"";
            return respond_error(
                session,
                401,
                &id,
                "export links need the same API key as the MCP call that made them",
                &[("www-authenticate", challenge)],
            )
            .await;
        };
        let client = &ctx.runtime.immich;
        let ids = match selection.asset_ids(client, &key).await {
            Ok(ids) => ids,
            Err(export::Refusal(status, message)) => return respond_error(session, status, &id, &message, &[]).await,
        };
        match export::stream(session, client, &key, &ids, selection.index, &id).await? {
            Ok(bytes) => {
                tracing::info!(request_id = %id, photos = ids.len(), bytes, "export streamed");
                Ok(())
            }
            Err(export::Refusal(status, message)) => respond_error(session, status, &id, &message, &[]).await,
        }
    }

    /// Compresses the response with the client's best codec when it is worth it: a compressible
    /// type, not already encoded, and at least `compression_min_size` (or a stream).
    fn start_compression(&self, response: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
        let Some(codec) = ctx.codec else { return Ok(()) };
        let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let streaming = &ctx.runtime.config.streaming;
        let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
        let worth_it = header("content-encoding").is_none()
            && header("content-type").is_some_and(|t| crate::stream::compress::compressible(&t))
            && (ctx.reframer.is_some() || length.is_none_or(|n| n >= streaming.compression_min_size.0))
            && response.status != 204
            && response.status != 304;
        if !worth_it {
            return Ok(());
        }
        let level = crate::stream::compress::level(codec, streaming);
        ctx.compressor = Some(crate::stream::compress::Compressor::new(codec, level));
        response.remove_header(&CONTENT_LENGTH);
        response.insert_header(CONTENT_ENCODING, codec.token())?;
        response.append_header(VARY, "Accept-Encoding")?;
        response.insert_header(TRANSFER_ENCODING, "chunked")?;
        response.set_version(http::Version::HTTP_11);
        Ok(())
    }

    /// Checks the request line and header sizes against `[server]` limits.
    fn oversized_head(&self, session: &Session, ctx: &RequestCtx) -> Option<&'static str> {
        let req = session.req_header();
        let limits = &ctx.runtime.config.server;
        let target = req.uri.path_and_query().map_or(1, |p| p.as_str().len())
            + req.uri.authority().map_or(0, |a| a.as_str().len() + "http://".len());
        let line = req.method.as_str().len() + target + "  HTTP/1.1".len();
        if line as u64 > limits.max_request_line.0 {
            return Some("request line too long");
        }
        let headers: usize = req.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
        (headers as u64 > limits.max_header_bytes.0).then_some("request headers too large")
    }

    /// Authorises a request for `/api`; in `inject` mode a missing or unknown key gets 401.
    fn authorise(&self, session: &Session, ctx: &mut RequestCtx) -> std::result::Result<(), &'static str> {
        let credentials = &ctx.runtime.credentials;
        if credentials.mode() == AuthMode::Passthrough {
            return Ok(());
        }
        let presented = auth::presented_key(session.req_header())
            .ok_or("missing gateway API key (X-API-Key or Authorization: Bearer)")?;
        ctx.principal = Some(credentials.authenticate(presented).ok_or("invalid gateway API key")?);
        Ok(())
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            runtime: self.store.current(),
            started: Instant::now(),
            request_id: String::new(),
            route: Route::Other,
            principal: None,
            upstream_path: None,
            upstream_started: None,
            request_body_bytes: 0,
            stream_format: None,
            reframer: None,
            stream_guard: None,
            codec: None,
            compressor: None,
        }
    }

    /// Names the request (keeping a sane client `X-Request-Id`), classifies it, answers the
    /// gateway's own endpoints, and admits or refuses `/api` requests.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.request_id = request_id(session);
        ctx.route = route_of(session.req_header().uri.path());
        let id = ctx.request_id.clone();

        if let Some(problem) = self.oversized_head(session, ctx) {
            respond_error(session, 431, &id, problem, &[("connection", "close")]).await?;
            return Ok(true);
        }
        let method = session.req_header().method.clone();
        let is_read = method == http::Method::GET || method == http::Method::HEAD;
        match ctx.route {
            Route::Health | Route::Ready | Route::Metrics | Route::Export if !is_read => {
                respond_error(session, 405, &id, "only GET and HEAD are allowed here", &[("allow", "GET, HEAD")])
                    .await?;
            }
            Route::Health => self.serve_health(session, ctx).await?,
            Route::Ready => self.serve_ready(session, ctx).await?,
            Route::Metrics if ctx.runtime.config.telemetry.metrics => {
                let body = Bytes::from(metrics().render());
                respond(session, 200, "text/plain; version=0.0.4; charset=utf-8", &id, &[], body).await?;
            }
            Route::Export => self.serve_export(session, ctx).await?,
            Route::Mcp if ctx.runtime.config.mcp.enabled => {
                crate::mcp::http::serve(&self.mcp, session, &ctx.runtime, &id).await?;
            }
            Route::Metrics | Route::Mcp | Route::Other => {
                let message = "not found: the gateway serves /api/*, /mcp, /health, /ready and /metrics";
                respond_error(session, 404, &id, message, &[]).await?;
            }
            Route::Api => {
                let raw = session.req_header().uri.path().to_string();
                match path::normalize_api_path(&raw) {
                    Ok(p) => ctx.upstream_path = Some(p),
                    Err(reason) => {
                        respond_error(session, 400, &id, &format!("bad path: {reason}"), &[]).await?;
                        return Ok(true);
                    }
                }
                if let Err(reason) = self.authorise(session, ctx) {
                    let challenge = "Bearer realm=\"immich-mcp-gateway\"";
                    respond_error(session, 401, &id, reason, &[("www-authenticate", challenge)]).await?;
                    return Ok(true);
                }
                ctx.stream_format = stream_format(session, &ctx.runtime.config.streaming);
                if let Some(format) = ctx.stream_format {
                    let mode = ctx.runtime.credentials.mode();
                    let client = auth::client_key(session, ctx.principal.as_ref(), mode);
                    match crate::stream::stats::StreamGuard::admit(
                        format.transport(),
                        "api",
                        &client,
                        &ctx.runtime.config.streaming,
                    ) {
                        Ok(guard) => {
                            ctx.stream_guard = Some(guard);
                            // A client that takes nothing for backpressure_timeout loses the stream:
                            // its connection closes (an error event could not reach it either).
                            session.set_write_timeout(Some(ctx.runtime.config.streaming.backpressure_timeout.0));
                            crate::stream::socket::cap_unsent(
                                session,
                                ctx.runtime.config.streaming.stream_buffer_size.as_usize(),
                            );
                        }
                        Err(refusal) => {
                            let message = format!("no stream now: {refusal}; retry shortly, or ask without streaming");
                            respond_error(session, 503, &id, &message, &[("retry-after", "1")]).await?;
                            return Ok(true);
                        }
                    }
                }
                if ctx.runtime.config.streaming.enable_compression {
                    let accepted =
                        session.req_header().headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
                    ctx.codec = crate::stream::compress::negotiate(accepted);
                }
                let limit = ctx.runtime.config.server.max_body_size.0;
                let declared =
                    session.req_header().headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                if declared.is_some_and(|n| n > limit) {
                    let message =
                        format!("request body larger than the limit of {}", ctx.runtime.config.server.max_body_size);
                    respond_error(session, 413, &id, &message, &[("connection", "close")]).await?;
                    return Ok(true);
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Enforces the body limit on bodies without a Content-Length (chunked uploads).
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _eos: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.request_body_bytes += chunk.len() as u64;
            if ctx.request_body_bytes > ctx.runtime.config.server.max_body_size.0 {
                return Error::e_explain(HTTPStatus(413), "request body larger than the configured limit");
            }
        }
        Ok(())
    }

    /// Picks Immich's resolved address with the configured timeouts.
    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let upstream = &ctx.runtime.upstream;
        let Some(addr) = upstream.addr() else {
            metrics().upstream_errors.with_label_values(&["dns"]).inc();
            return Error::e_explain(ConnectNoRoute, format!("cannot resolve Immich's host {:?}", upstream.host()));
        };
        let immich = &ctx.runtime.config.immich;
        let mut peer = HttpPeer::new(addr, upstream.base().tls, upstream.host().to_string());
        let options = &mut peer.options;
        options.connection_timeout = Some(immich.connect_timeout.0);
        options.total_connection_timeout = Some(immich.connect_timeout.0);
        options.read_timeout = Some(match ctx.stream_format {
            // A stream with nothing to send for `[streaming] idle_timeout` ends (IDLE_TIMEOUT).
            Some(_) => immich.read_timeout.0.min(ctx.runtime.config.streaming.idle_timeout.0),
            None => immich.read_timeout.0,
        });
        options.write_timeout = Some(immich.write_timeout.0);
        options.idle_timeout = Some(immich.idle_timeout.0);
        options.verify_cert = immich.verify_tls;
        options.verify_hostname = immich.verify_tls;
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    /// Sends a request again on another connection when the pooled connection it went out on
    /// turns out to have been closed by Immich (an idle timeout, or a reset after an answer),
    /// provided it can be sent again unchanged: an idempotent method, a body still held in full
    /// and nothing answered to the client yet. Pingora marks a failed response read on a reused
    /// connection for this; a failed write is the same stale connection met one step earlier
    /// (Immich's reset arrived while the connection sat in the pool), and is marked here too.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        _ctx: &mut RequestCtx,
        reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let replayable = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated()
            && session.response_written().is_none();
        if decide_retry(&mut e, reused, replayable) {
            metrics().upstream_retries.inc();
        }
        e
    }

    /// Rewrites the request for Immich: normalised path under the base URL's prefix, Host,
    /// forwarding headers, request id, and in `inject` mode the gateway's Immich key in place of
    /// every client credential.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let upstream_target = &ctx.runtime.upstream;
        let path = ctx.upstream_path.as_deref().unwrap_or("/api");
        let prefix = &upstream_target.base().prefix;
        // `stream=` is the gateway's parameter, not Immich's.
        let query = upstream
            .uri
            .query()
            .map(|q| q.split('&').filter(|p| !p.starts_with("stream=")).collect::<Vec<_>>().join("&"));
        let query_changed = query.as_deref() != upstream.uri.query();
        // Rebuild the target only when normalisation, the prefix or the query changed it.
        if !prefix.is_empty() || path != upstream.uri.path() || query_changed {
            let target = match query.filter(|q| !q.is_empty()) {
                Some(q) => format!("{prefix}{path}?{q}"),
                None => format!("{prefix}{path}"),
            };
            upstream
                .set_uri(target.parse::<http::Uri>().or_err(InvalidHTTPHeader, "normalised path is not a valid URI")?);
        }
        upstream.insert_header(HOST, upstream_target.host_header().clone())?;

        let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string());
        if let Some(ip) = client_ip {
            let forwarded = match upstream.headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(previous) => format!("{previous}, {ip}"),
                None => ip,
            };
            upstream.insert_header(X_FORWARDED_FOR, forwarded)?;
        }
        if !upstream.headers.contains_key(&X_FORWARDED_PROTO) {
            upstream.insert_header(X_FORWARDED_PROTO, HTTP)?;
        }
        upstream.insert_header(local::X_REQUEST_ID, ctx.request_id.as_str())?;
        if ctx.stream_format.is_some() || ctx.codec.is_some() {
            // The splitter reads plain JSON, and the gateway compresses with the client's best codec.
            upstream.remove_header(&ACCEPT_ENCODING);
        }
        if ctx.stream_format.is_some() {
            upstream.insert_header(ACCEPT, "application/json")?;
        }

        if let Some(principal) = &ctx.principal {
            upstream.remove_header(&AUTHORIZATION);
            upstream.remove_header(&COOKIE);
            upstream.insert_header(auth::X_API_KEY, &*principal.immich_key)?;
        }
        Ok(())
    }

    /// Times Immich's answer.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(started) = ctx.upstream_started {
            metrics().route(ctx.route).upstream_duration.observe(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Tags the response with the request id; switches a JSON answer to the stream format the
    /// client asked for (error answers pass through unchanged).
    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        response.insert_header(local::X_REQUEST_ID, ctx.request_id.as_str())?;
        let is_json =
            response.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
        if let Some(format) = ctx.stream_format
            && response.status == 200
            && is_json
        {
            let streaming = &ctx.runtime.config.streaming;
            let targets = vec![vec![], vec!["assets".into(), "items".into()], vec!["people".into()]];
            ctx.reframer = Some(crate::stream::reframe::Reframer::new(format, targets, streaming.chunk_size));
            response.remove_header(&CONTENT_LENGTH);
            response.remove_header(&CONTENT_ENCODING);
            response.remove_header(&ETAG);
            response.insert_header(CONTENT_TYPE, format.content_type())?;
            response.insert_header(TRANSFER_ENCODING, "chunked")?;
            response.insert_header(CACHE_CONTROL, "no-cache")?;
            response.insert_header(X_ACCEL_BUFFERING, "no")?;
            response.set_version(http::Version::HTTP_11);
        } else {
            // Immich's answer passes through as it is: the reserved stream slot is free again.
            ctx.stream_guard = None;
        }
        self.start_compression(response, ctx)?;
        Ok(())
    }

    /// Re-frames the body as it passes, when the client asked for a stream.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if ctx.reframer.as_ref().is_some_and(|r| r.failed()) {
            // The stream's error event went out with an earlier chunk. Pingora's filter cannot end
            // the response early, so the rest of Immich's body is read and dropped.
            *body = None;
        } else if let Some(reframer) = ctx.reframer.as_mut() {
            let chunks_before = reframer.chunks();
            if let Some(chunk) = body.take() {
                reframer.push(&chunk);
            }
            let streaming = &ctx.runtime.config.streaming;
            if end_of_stream {
                reframer.finish();
            } else if crate::server::is_shutting_down() {
                let message = "the gateway is shutting down; ask again (another replica will answer)";
                reframer.abort("SHUTTING_DOWN", message);
            } else if ctx.started.elapsed() > streaming.stream_timeout.0 {
                let message = format!("the stream reached [streaming] stream_timeout ({})", streaming.stream_timeout);
                reframer.abort("STREAM_TIMEOUT", &message);
            }
            let out = reframer.take();
            if let Some(guard) = ctx.stream_guard.as_mut() {
                guard.sent(out.len(), reframer.chunks() - chunks_before);
                // Until the next chunk comes through, this one is being written to the client (Pingora
                // filters a chunk only after the previous write finished): both count as held.
                guard.holding(reframer.held_bytes() + out.len());
                // The stream ended with its error event just now (invalid JSON, a timeout, shutdown).
                if reframer.failed() {
                    guard.failed();
                }
            }
            *body = Some(out);
        }
        if let Some(compressor) = ctx.compressor.as_mut() {
            // Streams flush at every chunk (event boundaries) so they stay live.
            let input = body.take().unwrap_or_default();
            *body = Some(compress_chunk(compressor, &input, ctx.reframer.is_some(), end_of_stream));
        }
        Ok(None)
    }

    /// Answers a failed proxy attempt with a JSON body: 504 when Immich timed out, 502 when it
    /// could not be reached or broke the response, 4xx for client-side faults.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        let (status, message) = classify(e);
        if ctx.request_id.is_empty() {
            ctx.request_id = request_id(session);
        }
        if let Some(kind) = upstream_error_kind(e) {
            metrics().upstream_errors.with_label_values(&[kind]).inc();
        }
        // A stream under way ends with an error event (the client gets the items so far and a
        // reason); any other response already under way cannot be replaced and simply closes.
        if session.response_written().is_some() && status > 0 {
            end_stream_with_error(session, e, ctx).await;
        }
        if status > 0 && session.response_written().is_none() {
            // The connection is not reused after a failed proxy attempt; say so, or a client may
            // send its next request on a socket that is closing.
            let _ = respond_error(session, status, &ctx.request_id, &message, &[("connection", "close")]).await;
        }
        FailToProxy { error_code: status, can_reuse_downstream: false }
    }

    /// Pingora's own error lines carry no request id; [`Gateway::logging`] logs failures instead.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        true
    }

    /// Counts and logs the finished request; every failure is logged with its request id.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        let route = metrics().route(ctx.route);
        route.count(status);
        route.duration.observe(elapsed.as_secs_f64());
        if let Some(e) = e {
            let client_gone = e.esource() == &ErrorSource::Downstream;
            if client_gone {
                tracing::debug!(request_id = %ctx.request_id, error = %e, "client went away");
            } else {
                tracing::warn!(request_id = %ctx.request_id, status, error = %e, "request failed");
            }
        }
        if ctx.runtime.config.telemetry.access_log {
            let req = session.req_header();
            tracing::info!(
                request_id = %ctx.request_id,
                method = %req.method,
                path = %req.uri.path(),
                status,
                route = ctx.route.label(),
                client = ctx.principal.as_ref().map_or("-", |p| &*p.name),
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                error = e.map(|e| e.to_string()),
                "request"
            );
        }
    }
}

/// The stream format requested for this `/api` request, if its route is re-framable.
fn stream_format(
    session: &Session,
    streaming: &crate::config::StreamingConfig,
) -> Option<crate::stream::reframe::Format> {
    use crate::stream::reframe::Format;
    if !streaming.enabled {
        return None;
    }
    let req = session.req_header();
    let path = req.uri.path();
    let routed = streaming.rewrite_routes.iter().any(|r| match r.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == r,
    });
    if !routed {
        return None;
    }
    let asked = req.uri.query().and_then(|q| q.split('&').find_map(|p| p.strip_prefix("stream=")));
    match asked {
        Some("sse") => return Some(Format::Sse),
        Some("ndjson") => return Some(Format::Ndjson),
        _ => {}
    }
    let accept = req.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/event-stream") {
        Some(Format::Sse)
    } else if accept.contains("application/x-ndjson") {
        Some(Format::Ndjson)
    } else {
        None
    }
}

/// Writes the error event that ends a re-framed stream when Immich failed in the middle of it
/// (`IDLE_TIMEOUT` after `[streaming] idle_timeout` without a byte, `UPSTREAM_ERROR` otherwise).
async fn end_stream_with_error(session: &mut Session, e: &Error, ctx: &mut RequestCtx) {
    let Some(reframer) = ctx.reframer.as_mut().filter(|r| !r.failed()) else { return };
    let streaming = &ctx.runtime.config.streaming;
    if e.etype() == &ReadTimedout {
        let message = format!("Immich sent nothing for [streaming] idle_timeout ({})", streaming.idle_timeout);
        reframer.abort("IDLE_TIMEOUT", &message);
    } else {
        reframer.abort("UPSTREAM_ERROR", &format!("Immich's response broke off: {}", short(e)));
    }
    let mut out = reframer.take();
    if let Some(compressor) = ctx.compressor.as_mut() {
        out = compress_chunk(compressor, &out, true, true);
    }
    if let Some(guard) = ctx.stream_guard.as_mut() {
        guard.sent(out.len(), 0);
        guard.failed();
    }
    // Best effort: the client may be gone too.
    let _ = session.write_response_body(Some(out), true).await;
}

/// One body chunk through the response's compressor (`flush`: at an event boundary; `end`: the
/// last chunk, which closes the compressed stream).
fn compress_chunk(compressor: &mut crate::stream::compress::Compressor, input: &[u8], flush: bool, end: bool) -> Bytes {
    let out = compressor.push(input, flush);
    if end { [out, compressor.finish()].concat().into() } else { out }
}

/// The status and message for a proxying error (0 means the client is gone: answer nothing).
fn classify(e: &Error) -> (u16, String) {
    match e.etype() {
        HTTPStatus(413) => (413, "request body larger than the configured limit".into()),
        HTTPStatus(code) => (*code, format!("request failed with status {code}")),
        ConnectTimedout | ReadTimedout | WriteTimedout if e.esource() == &ErrorSource::Upstream => {
            (504, "Immich did not answer in time".into())
        }
        ConnectionClosed | ReadError | WriteError if e.esource() == &ErrorSource::Upstream => {
            (502, format!("Immich closed the connection before answering: {}", short(e)))
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (502, format!("cannot reach Immich: {}", short(e))),
            ErrorSource::Downstream => match e.etype() {
                ReadError | WriteError | ConnectionClosed => (0, String::new()),
                _ => (400, format!("bad request: {}", short(e))),
            },
            ErrorSource::Internal | ErrorSource::Unset => match e.etype() {
                ConnectNoRoute | ConnectRefused | ConnectError => (502, format!("cannot reach Immich: {}", short(e))),
                ConnectTimedout => (504, "Immich did not answer in time".into()),
                _ => (500, "internal gateway error".into()),
            },
        },
    }
}

fn upstream_error_kind(e: &Error) -> Option<&'static str> {
    Some(match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout => "timeout",
        ConnectRefused | ConnectError | TLSHandshakeFailure => "connect",
        ConnectNoRoute => "dns",
        ConnectionClosed if e.esource() == &ErrorSource::Upstream => "reset",
        _ if e.esource() == &ErrorSource::Upstream => "other",
        _ => return None,
    })
}

/// Settles whether a failed attempt goes again (see [`Gateway::error_while_proxy`]): only a
/// `replayable` request, and only after a failure Pingora or a failed write marks as a stale
/// pooled connection, and only when the connection was `reused`.
fn decide_retry(e: &mut Error, reused: bool, replayable: bool) -> bool {
    if !replayable {
        e.set_retry(false);
        return false;
    }
    if e.etype() == &WriteError {
        e.retry = RetryType::ReusedOnly;
    }
    e.retry.decide_reuse(reused);
    e.retry()
}

fn short(e: &Error) -> String {
    match &e.context {
        Some(context) => format!("{} ({context})", e.etype().as_str()),
        None => e.etype().as_str().to_string(),
    }
}

/// A client's `X-Request-Id` if it is short visible ASCII, otherwise a fresh random one.
fn request_id(session: &Session) -> String {
    let supplied = session.req_header().headers.get(local::X_REQUEST_ID).and_then(|v| v.to_str().ok());
    match supplied {
        Some(id) if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_string(),
        _ => {
            let mut id = [0u8; 32];
            hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut id).expect("32 hex digits for 16 bytes");
            String::from_utf8(id.to_vec()).expect("hex digits are ASCII")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_replayable_requests_on_stale_pooled_connections_go_again() {
        let stale_read = || {
            let mut e = Error::explain(ConnectionClosed, "while reading response headers");
            e.retry = RetryType::ReusedOnly;
            e
        };
        let failed_write = || Error::explain(WriteError, "while writing request headers");
        assert!(decide_retry(&mut stale_read(), true, true));
        assert!(decide_retry(&mut failed_write(), true, true), "a reset met at the first write");
        assert!(!decide_retry(&mut stale_read(), false, true), "a fresh connection is not stale");
        assert!(!decide_retry(&mut failed_write(), false, true));
        assert!(!decide_retry(&mut stale_read(), true, false), "a POST, a spent body or an answer under way");
        assert!(!decide_retry(&mut failed_write(), true, false));
        let mut timeout = Error::explain(ReadTimedout, "while reading response headers");
        assert!(!decide_retry(&mut timeout, true, true), "a slow Immich is not asked twice");
        let mut e = failed_write();
        decide_retry(&mut e, true, true);
        assert!(e.retry(), "the decision is left on the error for Pingora");
    }

    #[test]
    fn routes_are_classified() {
        assert_eq!(route_of("/health"), Route::Health);
        assert_eq!(route_of("/api"), Route::Api);
        assert_eq!(route_of("/api/server/ping"), Route::Api);
        assert_eq!(route_of("//api/x"), Route::Api);
        assert_eq!(route_of("/apix"), Route::Other);
        assert_eq!(route_of("/"), Route::Other);
    }

    #[test]
    fn errors_map_to_statuses() {
        let timeout = Error::explain(ReadTimedout, "slow");
        let mut timeout = *timeout;
        timeout.esource = ErrorSource::Upstream;
        assert_eq!(classify(&timeout).0, 504);
        let mut refused = *Error::explain(ConnectRefused, "no");
        refused.esource = ErrorSource::Upstream;
        assert_eq!(classify(&refused).0, 502);
        assert_eq!(classify(&Error::explain(HTTPStatus(413), "big")).0, 413);
    }
}
