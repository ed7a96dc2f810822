//! Running one request: answered as one JSON reply when it sends nothing before its result, else
//! on its own task with its messages streamed (SSE, NDJSON, or the bulk stream's events).

use super::super::catalog::{CallContext, InputRound, LogLevel, Outbound, ToolSpec};
use super::super::jsonrpc::{self, Id};
use super::super::server::{self, McpServer, Wire};
use super::super::session::Claims;
use super::error::{Refusal, http_status};
use super::session::running_key;
use super::writer::{self, Framing, StreamEnd, StreamSpec};
use super::{Exchange, McpState, STREAM_CHANNEL};
use crate::config::ResponseMode;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// One request to run.
pub(super) struct Call {
    pub id: Id,
    pub method: String,
    pub params: Value,
    pub wire: Wire,
    pub version: String,
    pub caps: Value,
    pub log_level: Option<LogLevel>,
    pub claims: Option<Claims>,
    /// Answer with the streaming guide's bulk stream events (`/mcp/stream`).
    pub bulk: bool,
}

/// Whether this caller may make this call now, on any transport: a tool that writes needs a grant
/// that allows writing (403 `insufficient_scope` otherwise), and every tool call counts against
/// `[rate_limits]` (429).
/// `caller` names who is calling, asked only when a limit needs it.
pub(super) fn admit(
    state: &McpState,
    exchange: &Exchange,
    caller: impl FnOnce() -> String,
    method: &str,
    params: &Value,
) -> std::result::Result<(), Refusal> {
    let Some(name) = params["name"].as_str().filter(|_| method == "tools/call") else { return Ok(()) };
    let writes = exchange.server.tool(name).is_some_and(ToolSpec::writes);
    if writes && exchange.principal.as_ref().is_some_and(|p| !p.may_write()) {
        return Err(Refusal::insufficient_scope(name, &exchange.public_base));
    }
    state.limiter.tool_call(&exchange.config.rate_limits, caller, name).map_err(|l| Refusal::rate_limited(&l))
}

/// Runs `call` and answers it.
pub(super) async fn run(state: &McpState, session: &mut Session, exchange: &Exchange, call: Call) -> Result<()> {
    let server = exchange.server.clone();
    let started = Instant::now();
    let progress_token = call.params["_meta"].get("progressToken").cloned();
    let tool_spec = call.params["name"].as_str().filter(|_| call.method == "tools/call").and_then(|n| server.tool(n));
    if let Err(refusal) = admit(state, exchange, || exchange.client_key(session), &call.method, &call.params) {
        state.account(call.claims.as_ref(), call.wire, started, true);
        return exchange.refuse(session, refusal.for_id(Some(&call.id))).await;
    }
    let notifies = call.method == "tools/call"
        && (progress_token.is_some() || tool_spec.is_some_and(|t| t.notifies_for(&call.params["arguments"])));
    // Large streamed results are compressed when the client accepts it; small replies are not
    // worth an encoder's set-up.
    let compress = tool_spec.is_some_and(|t| t.streams_for(&call.params["arguments"]));
    // Streamed replies are SSE, or NDJSON for a client that takes that and not SSE, or the
    // streaming guide's bulk events on `/mcp/stream`.
    let accept = exchange.accept;
    let ndjson = accept.ndjson && !accept.sse;
    let framing = match (call.bulk, ndjson) {
        (true, _) => Framing::Bulk,
        (false, true) => Framing::Ndjson,
        (false, false) => Framing::Sse,
    };
    let streamed = call.bulk
        || match exchange.config.mcp.response_mode {
            ResponseMode::Json => false,
            ResponseMode::Sse => call.method == "tools/call",
            ResponseMode::Auto => notifies,
        } && (accept.sse || ndjson);

    let input = match InputRound::from_params(&call.params, state.sessions.sealer(&exchange.secrets)) {
        Ok(input) => input,
        Err(error) => {
            state.account(call.claims.as_ref(), call.wire, started, true);
            let status = http_status(call.wire, error.code);
            return exchange.json(session, status, &error.response(Some(&call.id)), &[]).await;
        }
    };
    if !streamed {
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
            Ok(result) => exchange.json_bytes(session, 200, jsonrpc::result_bytes(&call.id, &result), &[]).await,
            Err(error) => {
                let status = http_status(call.wire, error.code);
                exchange.json(session, status, &error.response(Some(&call.id)), &[]).await
            }
        };
    }

    let (tx, rx) = mpsc::channel(STREAM_CHANNEL);
    let pending = (call.wire == Wire::Session).then(|| state.pending.clone());
    let mut cx = exchange
        .streamed_call_context(exchange.client_key(session), tx.clone(), framing.transport())
        .with_progress_token(progress_token.clone())
        .with_capabilities(call.caps.clone())
        .with_log_level(call.log_level)
        .with_input(input)
        .with_announcements(state.broadcast.clone());
    if let Some(pending) = pending {
        cx = cx.with_client_requests(pending);
    }
    let cancel = cx.cancel.clone();
    // While it runs, `notifications/cancelled` can find it; the entry goes when this returns.
    let _running = call.claims.as_ref().and_then(|c| state.running.enter(running_key(&c.n, &call.id), cancel.clone()));
    let wire = call.wire;
    spawn(server, (call.id.clone(), call.method.clone(), call.params.clone()), wire, cx, tx);

    let stream_id = hex::encode(rand::random::<[u8; 8]>());
    let tool = call.params["name"].as_str().unwrap_or_default().to_string();
    let session_sse = framing == Framing::Sse && wire == Wire::Session;
    let spec = StreamSpec {
        stream_id: &stream_id,
        seq: 0,
        prime: session_sse && server::at_least(&call.version, "2025-11-25"),
        framing,
        cancel_on_close: !session_sse,
        request: Some(&call.id),
        call: (session_sse && call.method == "tools/call").then_some((&call.id, tool.as_str())),
        progress: progress_token.as_ref(),
        resume: None,
        call_stream: true,
        compress,
    };
    let ended = writer::stream(state, session, exchange, rx, spec).await;
    state.account(call.claims.as_ref(), wire, started, false);
    match ended {
        StreamEnd::ClientGone if !session_sse => cancel.cancel(),
        StreamEnd::Ended | StreamEnd::Released => cancel.cancel(),
        _ => {}
    }
    Ok(())
}

/// Runs a request on its own task; its response goes to `tx` after whatever the call streamed,
/// unless the call is cancelled first: a cancelled request gets no response, not even the error
/// its cut-short Immich read just ended in.
pub(super) fn spawn(
    server: Arc<McpServer>,
    (id, method, params): (Id, String, Value),
    wire: Wire,
    cx: CallContext,
    tx: mpsc::Sender<Outbound>,
) -> tokio::task::JoinHandle<()> {
    let span = cx.span.clone();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
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
        },
        span,
    ))
}
