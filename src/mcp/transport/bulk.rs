//! The streaming guide's bulk stream for programs (`POST /mcp/stream`): one JSON-RPC request, no
//! session, authenticated like every `/mcp` request, answered with `event: data | progress |
//! message | complete | error` and a `:heartbeat` comment after `[streaming] heartbeat_interval`
//! of quiet.

use super::super::jsonrpc::{Body, Message};
use super::super::server::{self, Wire};
use super::call::{Call, run};
use super::error::Refusal;
use super::{Accept, Exchange, MCP_METHOD, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, McpState, body, header};
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::{Value, json};

/// A POST to `/mcp` shaped like the streaming guide's Python streaming client: it accepts only
/// `text/event-stream` and carries no session, protocol version or routing header, so it can be
/// no Streamable HTTP request (those would get 406 or 400); it gets the bulk stream instead.
pub(super) fn is_seed_request(session: &Session, accept: Accept) -> bool {
    accept.sse
        && !accept.json
        && !accept.any
        && [&MCP_SESSION_ID, &MCP_PROTOCOL_VERSION, &MCP_METHOD].iter().all(|h| header(session, *h).is_none())
}

/// Serves one request as a bulk stream.
pub(super) async fn serve(state: &McpState, session: &mut Session, exchange: &Exchange) -> Result<()> {
    let body = match body::read_rpc(session, exchange, false).await? {
        Ok(body) => body,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let Body::Single(Message::Request { id, method, params }) = body else {
        let refusal = Refusal::invalid(400, "/mcp/stream takes one JSON-RPC request with an id");
        return exchange.refuse(session, refusal).await;
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
    run(state, session, exchange, call).await
}

/// The streaming guide's bulk stream events, from a call's JSON-RPC messages: data and progress as they
/// come, the final result as `event: message`, then `event: complete` (or `event: error`).
#[derive(Default)]
pub(super) struct BulkEvents {
    complete: Option<Value>,
    last_resume: Option<String>,
    /// Progress comes from the data events once there are any.
    seen_data: bool,
}

impl BulkEvents {
    /// `event: data` (its `id:` the resume token) and the matching `event: progress`.
    pub(super) fn frame_data(&mut self, data: &crate::mcp::catalog::StreamData) -> String {
        self.seen_data = true;
        self.last_resume.clone_from(&data.resume_token);
        let id = data.resume_token.as_deref().map(|t| format!("id: {t}\n")).unwrap_or_default();
        let percent = crate::mcp::catalog::percent_complete(data.processed, data.total);
        let progress = json!({ "progress": percent, "message": format!("{} of {} items", data.processed, data.total),
            "processedItems": data.processed, "totalItems": data.total });
        format!("event: data\n{id}data: {}\n\nevent: progress\ndata: {progress}\n\n", data.params)
    }

    pub(super) fn frame(&mut self, message: &Value, out: &mut String) {
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
