//! The session era (2025-03-26 … 2025-11-25): `initialize` mints a sealed session id, later POSTs
//! carry it, notifications and client responses are taken in, 2025-03-26 batches are answered as a
//! streamed JSON array, and DELETE ends the session.

use super::super::catalog::LogLevel;
use super::super::jsonrpc::{self, Body, Id, Message, RpcError};
use super::super::server::{self, ALL_VERSIONS, SESSION_VERSIONS, Wire};
use super::super::session::{Claims, expiry_instant};
use super::call::{Call, run};
use super::error::Refusal;
use super::{Exchange, McpState, require_session};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::{Value, json};
use std::time::Instant;
use tokio::sync::mpsc;

/// A session-era POST: `initialize`, or anything else within a session.
pub(super) async fn serve_post(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    body: Body,
    version_header: Option<String>,
) -> Result<()> {
    if let Some(v) = &version_header
        && !SESSION_VERSIONS.contains(&v.as_str())
    {
        let message = format!("unsupported MCP-Protocol-Version {v:?}; supported: {}", ALL_VERSIONS.join(", "));
        let refusal = Refusal::new(
            400,
            RpcError::new(jsonrpc::INVALID_REQUEST, message).with_data(json!({ "supported": ALL_VERSIONS })),
        );
        return exchange.refuse(session, refusal).await;
    }
    if let Body::Single(Message::Request { id, method, params }) = &body
        && method == "initialize"
    {
        return initialize(state, session, exchange, id, params).await;
    }
    let claims = match require_session(state, session, exchange) {
        Ok(claims) => claims,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let version = version_header.unwrap_or_else(|| {
        if claims.v.as_str() > server::DEFAULT_VERSION { claims.v.clone() } else { server::DEFAULT_VERSION.to_string() }
    });
    let message = match body {
        Body::Single(message) => message,
        Body::Batch(_) if version != "2025-03-26" && claims.v != "2025-03-26" => {
            let message = format!("JSON-RPC batches are only part of protocol 2025-03-26, not {version}");
            return exchange.refuse(session, Refusal::invalid(400, message)).await;
        }
        Body::Batch(items) => return batch(state, session, exchange, claims, items).await,
    };
    let started = Instant::now();
    match message {
        Message::Notification { method, params } => {
            notification(state, &claims, &method, &params);
            state.account(Some(&claims), Wire::Session, started, false);
            exchange.empty(session, 202, &[]).await
        }
        Message::Response { id, outcome } => {
            state.pending.complete(&id, outcome);
            state.account(Some(&claims), Wire::Session, started, false);
            exchange.empty(session, 202, &[]).await
        }
        Message::Request { id, method, params } => {
            if method == "logging/setLevel"
                && let Some(level) = params["level"].as_str().and_then(LogLevel::parse)
            {
                state.log_levels.insert(claims.n.clone(), level, expiry_instant(claims.exp));
            }
            let log_level = Some(state.log_level(&claims));
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
            run(state, session, exchange, call).await
        }
    }
}

/// `initialize`: negotiates the version and mints the session id.
async fn initialize(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    id: &Id,
    params: &Value,
) -> Result<()> {
    let version = server::negotiate(params["protocolVersion"].as_str());
    let caps = params.get("capabilities").cloned().unwrap_or(json!({}));
    let client = params["clientInfo"]["name"].as_str().unwrap_or("unknown");
    let ttl = exchange.config.mcp.session_ttl.0.as_secs();
    let (session_id, claims) = state.sessions.mint(&exchange.secrets, version, &caps, client, ttl);
    state.sessions.record(&claims, 0.0, false);
    crate::telemetry::metrics().active_sessions.set(state.sessions.active() as i64);
    crate::telemetry::metrics().mcp_sessions.with_label_values(&["created"]).inc();
    tracing::info!(request_id = &exchange.request_id, client = %claims.client, version, "MCP session initialized");
    let body = jsonrpc::result(id, exchange.server.initialize_result(version));
    exchange.json(session, 200, &body, &[("mcp-session-id", &session_id)]).await
}

/// A client notification: `notifications/cancelled` stops the call it names.
fn notification(state: &McpState, claims: &Claims, method: &str, params: &Value) {
    if method == "notifications/cancelled"
        && let Some(request) = params.get("requestId")
        && let Some(token) = state.running.get(&running_key(&claims.n, request))
    {
        token.cancel();
    }
}

/// The key of a running call: its session and its request id.
pub(super) fn running_key(nonce: &str, id: &Value) -> String {
    format!("{nonce}/{id}")
}

/// DELETE: ends the session (in this process; see `mcp::session`).
pub(super) async fn delete(state: &McpState, session: &mut Session, exchange: &Exchange) -> Result<()> {
    let claims = match require_session(state, session, exchange) {
        Ok(claims) => claims,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let stats = state.sessions.revoke(&claims).unwrap_or_default();
    tracing::info!(
        requests = stats.requests,
        errors = stats.errors,
        seconds = format!("{:.3}", stats.seconds),
        "MCP session ended by the client (counts from this replica)"
    );
    state.log_levels.remove(&claims.n);
    crate::telemetry::metrics().mcp_sessions.with_label_values(&["deleted"]).inc();
    crate::telemetry::metrics().active_sessions.set(state.sessions.active() as i64);
    exchange.empty(session, 204, &[]).await
}

/// A 2025-03-26 batch: at most `[mcp] max_batch_size` messages, answered as one JSON array that is
/// written element by element as each request finishes (so nothing but the element at hand is
/// held), never more than `[mcp] max_batch_response_size` bytes of results (later requests get a
/// short error asking for them on their own), and abandoned as soon as the client goes away.
async fn batch(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    claims: Claims,
    items: Vec<std::result::Result<Message, (Option<Id>, RpcError)>>,
) -> Result<()> {
    let mcp = &exchange.config.mcp;
    if items.len() > mcp.max_batch_size {
        let message = format!(
            "a batch holds at most {} messages ([mcp] max_batch_size); send the rest in another",
            mcp.max_batch_size
        );
        return exchange.refuse(session, Refusal::invalid(400, message)).await;
    }
    let started = Instant::now();
    let mut requests = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
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
    let mut head = ResponseHeader::build(200, Some(8))?;
    for (name, value) in exchange.headers(&[]) {
        head.insert_header(name, value)?;
    }
    head.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    head.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    head.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    head.insert_header(crate::reply::X_REQUEST_ID, &exchange.request_id)?;
    session.write_response_header(Box::new(head), false).await?;
    let limit = mcp.max_batch_response_size.0;
    let mut written = 0u64;
    let mut first = true;
    let element = |value: &[u8], first: &mut bool| {
        let value = jsonrpc::restore_ids(value);
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.push(if std::mem::take(first) { b'[' } else { b',' });
        bytes.extend_from_slice(&value);
        Bytes::from(bytes)
    };
    for error in &errors {
        let bytes = element(&serde_json::to_vec(error).expect("a Value always serializes"), &mut first);
        session.write_response_body(Some(bytes), false).await?;
    }
    let log_level = Some(state.log_level(&claims));
    for (id, method, params) in requests {
        let reply = if written > limit {
            let message = format!(
                "the batch's answer reached [mcp] max_batch_response_size ({}); send this request on its own",
                mcp.max_batch_response_size
            );
            serde_json::to_vec(&RpcError::new(jsonrpc::INVALID_REQUEST, message).response(Some(&id)))
                .expect("a Value always serializes")
        } else {
            let (tx, _rx) = mpsc::channel(1);
            let cx = exchange.call_context(tx).with_capabilities(claims.caps.clone()).with_log_level(log_level);
            let outcome = tokio::select! {
                outcome = exchange.server.handle(&method, &params, &cx, Wire::Session) => outcome,
                // The client left: the rest of the batch is of no use to anyone.
                _ = session.as_downstream_mut().read_body_or_idle(true) => {
                    cx.cancel.cancel();
                    state.account(Some(&claims), Wire::Session, started, true);
                    return Ok(());
                }
            };
            let bytes = match outcome {
                Ok(result) => jsonrpc::result_bytes(&id, &result),
                Err(error) => serde_json::to_vec(&error.response(Some(&id))).expect("a Value always serializes"),
            };
            written += bytes.len() as u64;
            bytes
        };
        let _held = crate::stream::stats::hold_reply(reply.len());
        session.write_response_body(Some(element(&reply, &mut first)), false).await?;
    }
    session.write_response_body(Some(Bytes::from_static(b"]")), true).await?;
    state.account(Some(&claims), Wire::Session, started, false);
    Ok(())
}
