//! The Pingora service: each request is routed to one of the gateway's own endpoints (health,
//! metrics, MCP, export links) or proxied to Immich. The [`ProxyHttp`] phases below read in the
//! order a request lives through them; what is particular to each route is in its own file
//! ([`api`], [`endpoints`], [`exports`]), failures are judged in [`errors`].

mod api;
mod endpoints;
mod errors;
mod exports;
mod front;
mod oauth;
pub mod path;
pub mod routes;

pub use front::Front;

use crate::auth::Principal;
use crate::mcp::server::McpServer;
use crate::mcp::transport::{self, McpState};
use crate::reply::{X_REQUEST_ID, respond_error};
use crate::runtime::{ConfigStore, Runtime};
use crate::telemetry::metrics;
use crate::tools::{ImmichCatalog, KeyPermissions};
use async_trait::async_trait;
use bytes::Bytes;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_LENGTH, HOST};
use pingora::ErrorType::*;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use routes::{Listener, Own, Route, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Header names parsed once, not on every request.
const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: http::HeaderName = http::HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: http::HeaderName = http::HeaderName::from_static("x-real-ip");
const HTTP: http::HeaderValue = http::HeaderValue::from_static("http");

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
    /// Counts a WebSocket proxied to Immich while it is open (from its 101).
    websocket: Option<crate::telemetry::GaugeHold>,
    /// The request's trace span (disabled when traces are off), and its proxied call's.
    span: tracing::Span,
    upstream_span: tracing::Span,
}

/// The gateway: one instance serves every request of its listeners (the main ones, or the admin
/// listener, which shares the rest with them).
#[derive(Clone)]
pub struct Gateway {
    store: Arc<ConfigStore>,
    permissions: Arc<KeyPermissions>,
    mcp: Arc<McpState>,
    /// The OAuth server's memory of used codes and failed sign-ins (process-wide, across reloads).
    oauth: Arc<crate::oauth::State>,
    started: Instant,
    listener: Listener,
}

impl Gateway {
    /// A gateway serving the configuration in `store`, offering the Immich tools as far as
    /// `permissions` allow.
    pub fn new(store: Arc<ConfigStore>, permissions: Arc<KeyPermissions>) -> Gateway {
        let mcp = Arc::new(McpState::default());
        let oauth = Arc::new(crate::oauth::State::default());
        Gateway { store, permissions, mcp, oauth, started: Instant::now(), listener: Listener::Main }
    }

    /// The same gateway for `[server] admin_listen`: health, readiness and metrics only.
    pub fn for_admin_listener(&self) -> Gateway {
        Gateway { listener: Listener::Admin, ..self.clone() }
    }

    /// The MCP server for `runtime`: its catalogues (the Immich tools, as far as the key's known
    /// permissions allow, and with the `conformance-fixtures` feature the suite's fixtures), built
    /// again when the configuration or the permissions change.
    fn mcp_server(&self, runtime: &Runtime) -> Arc<McpServer> {
        let (version, known) = self.permissions.snapshot();
        self.mcp.server((runtime.generation, version), || {
            let tools = ImmichCatalog::new(
                runtime.immich.clone(),
                &runtime.config.tools,
                &runtime.config.streaming,
                known.as_deref(),
            );
            #[allow(unused_mut)]
            let mut catalogs: Vec<Arc<dyn crate::mcp::catalog::Catalog>> = vec![Arc::new(tools)];
            #[cfg(feature = "conformance-fixtures")]
            if runtime.config.mcp.conformance_fixtures {
                // First, so clients that read one page of tools (the conformance suite) see them.
                catalogs.insert(0, Arc::new(crate::mcp::fixtures::ConformanceFixtures));
            }
            McpServer::new(catalogs, runtime.config.mcp.page_size)
        })
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
            websocket: None,
            span: tracing::Span::none(),
            upstream_span: tracing::Span::none(),
        }
    }

    /// HTTP/1.1 pipelining: a client that sends its next request before reading this answer gets
    /// both answered in order (RFC 9112 §9.3.2), not the second dropped behind a keep-alive.
    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut RequestCtx) -> Result<()> {
        session.as_downstream_mut().set_pipelining_enabled(true);
        Ok(())
    }

    /// Names the request (keeping a sane client `X-Request-Id`), classifies it, answers the
    /// gateway's own endpoints, and admits or refuses `/api` requests.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.request_id = request_id(session);
        let target = routes::target(session.req_header().uri.path(), &ctx.runtime.config.server, self.listener);
        ctx.route = target.route();
        if crate::telemetry::traces::enabled() {
            let req = session.req_header();
            let traceparent = req.headers.get("traceparent").and_then(|v| v.to_str().ok());
            let (method, path) = (req.method.as_str(), req.uri.path());
            ctx.span =
                crate::telemetry::traces::request_span(method, ctx.route.label(), path, &ctx.request_id, traceparent);
        }
        let id = ctx.request_id.clone();
        // The head is in: the connection's head deadline no longer applies.
        crate::connection::mark(session, crate::connection::Phase::Busy);
        // Between requests the connection guard enforces `keepalive_timeout`; Pingora keeps its
        // own choice (the client's `Connection` header), with no second timer per request.

        if let Some(problem) = self.oversized_head(session, ctx) {
            respond_error(session, 431, &id, problem, &[("connection", "close")]).await?;
            return Ok(true);
        }
        let own = match target {
            Target::Api => return api::admit(session, ctx, &self.mcp.limiter).await,
            // Immich's other paths (the web app, `/.well-known/immich`) go unchanged: no
            // authentication of the gateway's (the apps sign in to Immich), no re-framing.
            Target::Web => return api::admit_body(session, ctx).await,
            Target::NotFound => {
                let message = "not found: this listener serves /health, /health/streaming, /ready and /metrics";
                respond_error(session, 404, &id, message, &[]).await?;
                return Ok(true);
            }
            Target::Own(own) => own,
        };
        let method = session.req_header().method.clone();
        let is_read = method == http::Method::GET || method == http::Method::HEAD;
        let runtime = ctx.runtime.clone();
        match own {
            Own::Health | Own::HealthStreaming | Own::Ready | Own::Metrics | Own::Export | Own::AuthServerMetadata
                if !is_read =>
            {
                respond_error(session, 405, &id, "only GET and HEAD are allowed here", &[("allow", "GET, HEAD")])
                    .await?;
            }
            Own::HealthStreaming => endpoints::streaming_health(session, &runtime, &id).await?,
            Own::Health => {
                endpoints::health(session, &runtime, &id, self.started, self.mcp.sessions.active()).await?;
            }
            Own::Ready => endpoints::ready(session, &runtime, &id).await?,
            Own::Metrics if runtime.config.telemetry.metrics => endpoints::prometheus(session, &id).await?,
            Own::Metrics => {
                respond_error(session, 404, &id, "metrics are turned off ([telemetry] metrics = false)", &[]).await?;
            }
            Own::Export => {
                let sealer = self.mcp.sessions.sealer(&runtime.session_secrets);
                let base = transport::guard::base_url(session, &runtime.config);
                ctx.principal = exports::serve(session, &runtime, &sealer, &id, &base, &self.mcp.limiter).await?;
            }
            Own::Mcp(endpoint) if runtime.config.mcp.enabled => {
                let cx = transport::Context {
                    endpoint,
                    span: ctx.span.clone(),
                    config: &runtime.config,
                    secrets: &runtime.session_secrets,
                    credentials: &runtime.credentials,
                    server: self.mcp_server(&runtime),
                    immich: &runtime.immich,
                    request_id: &id,
                };
                transport::serve(&self.mcp, session, cx).await?;
            }
            Own::Mcp(_) => {
                respond_error(session, 404, &id, "MCP is turned off ([mcp] enabled = false)", &[]).await?;
            }
            Own::AuthServerMetadata => oauth::metadata(session, &runtime, &self.oauth, &id).await?,
            Own::OAuth(endpoint) => oauth::serve(session, &runtime, &self.oauth, endpoint, &id).await?,
        }
        Ok(true)
    }

    /// Enforces the body limit on bodies without a Content-Length (chunked uploads), and the time
    /// a whole upload may take.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _eos: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let server = &ctx.runtime.config.server;
        if let Some(chunk) = body {
            ctx.request_body_bytes += chunk.len() as u64;
            if ctx.request_body_bytes > server.max_body_size.0 {
                return Error::e_explain(HTTPStatus(413), "request body larger than the configured limit");
            }
        }
        if ctx.started.elapsed() > server.upload_timeout.0 {
            return Error::e_explain(HTTPStatus(408), "the request body took longer than [server] upload_timeout");
        }
        Ok(())
    }

    /// Picks Immich's resolved address with the configured timeouts.
    async fn upstream_peer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
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
            // A WebSocket (socket.io pings every 25 s) closes after its idle timeout; Immich's
            // answer to the upgrade is a read like any other, so a silent Immich gets its 504 within
            // `read_timeout` when that is the shorter (tests/faults.rs).
            None if session.is_upgrade_req() => {
                immich.read_timeout.0.min(ctx.runtime.config.server.websocket_idle_timeout.0)
            }
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
        if errors::decide_retry(&mut e, reused, replayable) {
            metrics().upstream_retries.inc();
        }
        e
    }

    /// Rewrites the request for Immich: normalised path under the base URL's prefix, Host,
    /// forwarding headers, request id, one `Content-Length`, and the caller's credentials as
    /// [`crate::auth`] decides (in `inject` mode the mapped Immich key in place of every client
    /// credential).
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let upstream_target = &ctx.runtime.upstream;
        // `/api` paths as normalised; Immich's other paths as sent.
        let path = ctx.upstream_path.as_deref().unwrap_or(upstream.uri.path());
        let prefix = &upstream_target.base().prefix;
        // `stream=` is the gateway's parameter on `/api`, not Immich's.
        let query: Option<std::borrow::Cow<str>> = match upstream.uri.query() {
            Some(q) if ctx.route == Route::Api && q.contains("stream=") => {
                Some(q.split('&').filter(|p| !p.starts_with("stream=")).collect::<Vec<_>>().join("&").into())
            }
            q => q.map(Into::into),
        };
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

        // What Immich's reverse-proxy guide has a proxy set: the client's address, scheme and
        // host (Immich's own `Host` is the one its base URL names).
        let client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string());
        if let Some(ip) = client_ip {
            let forwarded = match upstream.headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(previous) => format!("{previous}, {ip}"),
                None => ip.clone(),
            };
            upstream.insert_header(X_FORWARDED_FOR, forwarded)?;
            upstream.insert_header(X_REAL_IP, ip)?;
        }
        if !upstream.headers.contains_key(&X_FORWARDED_PROTO) {
            upstream.insert_header(X_FORWARDED_PROTO, HTTP)?;
        }
        if !upstream.headers.contains_key(&X_FORWARDED_HOST)
            && let Some(host) = session.req_header().headers.get(HOST).cloned()
        {
            upstream.insert_header(X_FORWARDED_HOST, host)?;
        }
        upstream.insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
        if !ctx.span.is_disabled() {
            // The call to Immich is the request's child span; Immich gets its trace context.
            let method = upstream.method.as_str().to_string();
            ctx.upstream_span = crate::telemetry::traces::immich_span(&ctx.span, &method, upstream.uri.path());
            if let Some(traceparent) = crate::telemetry::traces::traceparent(&ctx.upstream_span) {
                upstream.insert_header("traceparent", traceparent)?;
            }
        }
        // `Content-Length: 5, 5` (or the header twice) frames the body as 5 bytes; Immich gets it
        // once, as framed (admission refused lengths that disagree).
        let repeated = upstream.headers.get_all(CONTENT_LENGTH).iter().count() > 1
            || upstream.headers.get(CONTENT_LENGTH).is_some_and(|v| v.as_bytes().contains(&b','));
        if repeated && let Ok(Some(length)) = api::content_length(upstream) {
            upstream.insert_header(CONTENT_LENGTH, length)?;
        }
        if ctx.stream_format.is_some() || ctx.codec.is_some() {
            // The splitter reads plain JSON, and the gateway compresses with the client's best codec.
            upstream.remove_header(&ACCEPT_ENCODING);
        }
        if ctx.stream_format.is_some() {
            upstream.insert_header(ACCEPT, "application/json")?;
        }
        if let Some(principal) = &ctx.principal {
            crate::auth::prepare_upstream(principal, upstream)?;
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

    /// Tags the response with the request id; re-frames and compresses it as the client asked.
    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        response.insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
        if response.status == 101 {
            // A WebSocket to Immich: counted while open, and closed when a graceful shutdown begins.
            let gauge = metrics().websocket_connections.with_label_values(&[ctx.route.label()]);
            ctx.websocket = Some(crate::telemetry::GaugeHold::new(gauge));
            crate::connection::mark(session, crate::connection::Phase::Tunnel);
            return Ok(());
        }
        api::response_head(response, ctx)
    }

    /// Re-frames (and compresses) the body as it passes.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        api::response_chunk(body, end_of_stream, ctx);
        Ok(None)
    }

    /// Answers a failed proxy attempt with a JSON body: 504 when Immich timed out, 502 when it
    /// could not be reached or broke the response, 4xx for client-side faults.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        let (status, message) = errors::classify(e);
        if ctx.request_id.is_empty() {
            ctx.request_id = request_id(session);
        }
        if let Some(kind) = errors::upstream_error_kind(e) {
            metrics().upstream_errors.with_label_values(&[kind]).inc();
        }
        // A stream under way ends with an error event (the client gets the items so far and a
        // reason); any other response already under way cannot be replaced and simply closes.
        if session.response_written().is_some() && status > 0 {
            api::end_stream_with_error(session, e, ctx).await;
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
        // Answered: the connection waits for its next request (or closes).
        crate::connection::mark(session, crate::connection::Phase::Idle);
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        let route = metrics().route(ctx.route);
        route.count(status);
        ctx.span.record("http.response.status_code", status);
        // Both spans end here (dropped with the context): the call to Immich first.
        ctx.upstream_span = tracing::Span::none();
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

/// A client's `X-Request-Id` if it is short visible ASCII, otherwise a fresh random one.
fn request_id(session: &Session) -> String {
    let supplied = session.req_header().headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok());
    match supplied {
        Some(id) if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_string(),
        _ => {
            let mut id = [0u8; 32];
            hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut id).expect("32 hex digits for 16 bytes");
            String::from_utf8(id.to_vec()).expect("hex digits are ASCII")
        }
    }
}
