//! `/api/*` on its way to Immich: admitted (path normalised, caller authenticated, stream slot and
//! body size checked), and its answer re-framed into SSE or NDJSON and compressed when the client
//! asked for it.

use super::RequestCtx;
use super::path;
use crate::auth::{self, Surface};
use crate::ratelimit::{Limited, Limiter};
use crate::reply::respond_error;
use crate::stream::compress::Compressor;
use crate::stream::reframe::{Format, Reframer};
use crate::stream::stats::StreamGuard;
use bytes::Bytes;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, TRANSFER_ENCODING,
    VARY,
};
use pingora::ErrorType::*;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;

const X_ACCEL_BUFFERING: http::HeaderName = http::HeaderName::from_static("x-accel-buffering");

/// Admits an `/api` request, or answers it with the reason it goes no further. `Ok(true)` when
/// answered.
/// Answers 429 for a caller over `[rate_limits]`.
pub(super) async fn respond_limited(session: &mut Session, request_id: &str, limited: &Limited) -> Result<()> {
    let headers = limited.headers();
    let headers: Vec<(&'static str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    respond_error(session, 429, request_id, &limited.message(), &headers).await
}

pub(super) async fn admit(session: &mut Session, ctx: &mut RequestCtx, limiter: &Limiter) -> Result<bool> {
    let id = ctx.request_id.clone();
    let runtime = ctx.runtime.clone();
    let raw = session.req_header().uri.path().to_string();
    match path::normalize_api_path(&raw) {
        Ok(p) => ctx.upstream_path = Some(p),
        Err(reason) => {
            respond_error(session, 400, &id, &format!("bad path: {reason}"), &[]).await?;
            return Ok(true);
        }
    }
    match auth::authenticate(session.req_header(), &runtime.credentials, Surface::Api) {
        // An agent's gateway key counts against `[rate_limits]`; Immich's own apps never do.
        Ok(principal) if principal.via == auth::Via::GatewayKey => {
            if let Err(limited) = limiter.request(&runtime.config.rate_limits, || principal.client_key(None)) {
                respond_limited(session, &id, &limited).await?;
                return Ok(true);
            }
            ctx.principal = Some(principal);
        }
        Ok(principal) => ctx.principal = Some(principal),
        Err(reason) => {
            let base = crate::mcp::transport::guard::base_url(session, &runtime.config);
            let challenge = auth::challenge(&base, runtime.config.auth.mode, &reason);
            respond_error(session, 401, &id, reason.message, &[("www-authenticate", &challenge)]).await?;
            return Ok(true);
        }
    }
    if admit_body(session, ctx).await? {
        return Ok(true);
    }
    let streaming = &runtime.config.streaming;
    ctx.stream_format = stream_format(session, streaming);
    if let Some(format) = ctx.stream_format {
        let ip = crate::connection::client_ip(session);
        let client = ctx.principal.as_ref().map_or_else(|| "unknown".into(), |p| p.client_key(ip));
        match StreamGuard::admit(format.transport(), "api", &client, streaming) {
            Ok(guard) => {
                ctx.stream_guard = Some(guard);
                // A client that takes nothing for backpressure_timeout loses the stream: its
                // connection closes (an error event could not reach it either).
                session.set_write_timeout(Some(streaming.backpressure_timeout.0));
                crate::stream::socket::cap_unsent(session, streaming.stream_buffer_size.as_usize());
            }
            Err(refusal) => {
                let message = format!("no stream now: {refusal}; retry shortly, or ask without streaming");
                respond_error(session, 503, &id, &message, &[("retry-after", "1")]).await?;
                return Ok(true);
            }
        }
    }
    if streaming.enable_compression {
        let accepted = session.req_header().headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
        ctx.codec = crate::stream::compress::negotiate(accepted);
    }
    Ok(false)
}

/// For every request proxied to Immich (`/api` and its other paths): refuses a body framed two
/// ways (400) or declared larger than `[server] max_body_size` (413, before a byte of it reaches
/// Immich), and bounds each read of the rest. `Ok(true)` when answered.
pub(super) async fn admit_body(session: &mut Session, ctx: &RequestCtx) -> Result<bool> {
    let server = &ctx.runtime.config.server;
    let refusal = match content_length(session.req_header()) {
        Err(()) => Some((400, "conflicting Content-Length headers".to_string())),
        Ok(Some(n)) if n > server.max_body_size.0 => {
            Some((413, format!("request body larger than the limit of {}", server.max_body_size)))
        }
        Ok(_) => None,
    };
    if let Some((status, message)) = refusal {
        respond_error(session, status, &ctx.request_id, &message, &[("connection", "close")]).await?;
        return Ok(true);
    }
    // Each read of an upload may wait this long; the whole body has `upload_timeout` (see
    // `Gateway::request_body_filter`). A WebSocket's client may be quiet for its idle timeout.
    let wait = if session.is_upgrade_req() { server.websocket_idle_timeout.0 } else { server.body_idle_timeout.0 };
    session.set_read_timeout(Some(wait));
    Ok(false)
}

/// The request's `Content-Length`, read the way the body is framed: every value (repeated
/// headers, comma-separated lists) must be the same number; `Err` when they disagree or one is
/// not a number (RFC 9112 §6.3).
pub(super) fn content_length(req: &pingora::http::RequestHeader) -> std::result::Result<Option<u64>, ()> {
    let mut length = None;
    for value in req.headers.get_all(CONTENT_LENGTH) {
        for part in value.to_str().map_err(drop)?.split(',') {
            let n: u64 = part.trim().parse().map_err(drop)?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// The stream format requested for this `/api` request, if its route is re-framable.
fn stream_format(session: &Session, streaming: &crate::config::StreamingConfig) -> Option<Format> {
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

/// Switches a JSON answer to the stream format the client asked for (error answers pass through
/// unchanged), then compresses it when worth it.
pub(super) fn response_head(response: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    let is_json = response.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
    if let Some(format) = ctx.stream_format
        && response.status == 200
        && is_json
    {
        let streaming = &ctx.runtime.config.streaming;
        let targets = vec![vec![], vec!["assets".into(), "items".into()], vec!["people".into()]];
        ctx.reframer = Some(Reframer::new(format, targets, streaming.chunk_size));
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
    start_compression(response, ctx)
}

/// Compresses the response with the client's best codec when it is worth it: a compressible
/// type, not already encoded, a whole body (not a range), and at least `compression_min_size`
/// (or a stream).
fn start_compression(response: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    let Some(codec) = ctx.codec else { return Ok(()) };
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let streaming = &ctx.runtime.config.streaming;
    let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let worth_it = header("content-encoding").is_none()
        && header("content-type").is_some_and(|t| crate::stream::compress::compressible(&t))
        && (ctx.reframer.is_some() || length.is_none_or(|n| n >= streaming.compression_min_size.0))
        && response.status != 204
        && response.status != 304
        // A part of a file: its Content-Range counts the file's own bytes.
        && response.status != 206
        && header("content-range").is_none();
    if !worth_it {
        return Ok(());
    }
    let level = crate::stream::compress::level(codec, streaming);
    ctx.compressor = Some(Compressor::new(codec, level));
    response.remove_header(&CONTENT_LENGTH);
    response.insert_header(CONTENT_ENCODING, codec.token())?;
    response.append_header(VARY, "Accept-Encoding")?;
    response.insert_header(TRANSFER_ENCODING, "chunked")?;
    response.set_version(http::Version::HTTP_11);
    Ok(())
}

/// Re-frames (and compresses) one chunk of Immich's body as it passes.
pub(super) fn response_chunk(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut RequestCtx) {
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
        } else if crate::shutdown::has_begun() {
            let message = "the gateway is shutting down; ask again (another replica will answer)";
            reframer.abort("SHUTTING_DOWN", message);
        } else if ctx.started.elapsed() > streaming.stream_timeout.0 {
            let message = format!("the stream reached [streaming] stream_timeout ({})", streaming.stream_timeout);
            reframer.abort("STREAM_TIMEOUT", &message);
        }
        let out = reframer.take();
        if let Some(guard) = ctx.stream_guard.as_mut() {
            guard.sent(out.len(), reframer.chunks() - chunks_before);
            // Until the next chunk comes through, this one is being written to the client
            // (Pingora filters a chunk only after the previous write finished): both count as
            // held.
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
}

/// Writes the error event that ends a re-framed stream when Immich failed in the middle of it
/// (`IDLE_TIMEOUT` after `[streaming] idle_timeout` without a byte, `UPSTREAM_ERROR` otherwise).
pub(super) async fn end_stream_with_error(session: &mut Session, e: &Error, ctx: &mut RequestCtx) {
    let Some(reframer) = ctx.reframer.as_mut().filter(|r| !r.failed()) else { return };
    let streaming = &ctx.runtime.config.streaming;
    if e.etype() == &ReadTimedout {
        let message = format!("Immich sent nothing for [streaming] idle_timeout ({})", streaming.idle_timeout);
        reframer.abort("IDLE_TIMEOUT", &message);
    } else {
        reframer.abort("UPSTREAM_ERROR", &format!("Immich's response broke off: {}", super::errors::short(e)));
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
fn compress_chunk(compressor: &mut Compressor, input: &[u8], flush: bool, end: bool) -> Bytes {
    let out = compressor.push(input, flush);
    if end { [out, compressor.finish()].concat().into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_lengths_must_agree() {
        let with = |values: &[&str]| {
            let mut req = pingora::http::RequestHeader::build("POST", b"/api/assets", None).unwrap();
            for v in values {
                req.append_header("content-length", *v).unwrap();
            }
            content_length(&req)
        };
        assert_eq!(with(&[]), Ok(None));
        assert_eq!(with(&["5"]), Ok(Some(5)));
        assert_eq!(with(&["5, 5"]), Ok(Some(5)));
        assert_eq!(with(&["5", "5"]), Ok(Some(5)));
        assert_eq!(with(&["5", "6"]), Err(()));
        assert_eq!(with(&["5, x"]), Err(()));
    }
}
