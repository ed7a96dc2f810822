//! GET `/mcp`: resuming a response stream with `Last-Event-ID` — on this replica from where the
//! stream was parked, or on any replica from the resume token the event id carries — or else the
//! standalone stream of server notifications.

use super::super::catalog::Outbound;
use super::super::jsonrpc::Id;
use super::super::server::{self, Wire};
use super::call::{Call, run};
use super::error::Refusal;
use super::writer::{self, Framing, StreamSpec};
use super::{Exchange, LAST_EVENT_ID, McpState, header, require_session};
use crate::stream::stats::StreamGuard;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::json;
use tokio::sync::mpsc;

/// The rest of a response stream, waiting for a resume (it counts as a stream meanwhile).
pub(super) struct Parked {
    pub rx: mpsc::Receiver<Outbound>,
    pub next_seq: u64,
    /// The request it answers and its tool, when its events can resume it elsewhere.
    pub call: Option<(Id, String)>,
    /// The latest resume token it sent.
    pub resume: Option<String>,
    /// Its call's progress token.
    pub progress: Option<serde_json::Value>,
    pub _guard: StreamGuard,
}

/// A `Last-Event-ID`, read back: the stream, and what resumes its call elsewhere.
#[derive(Debug, PartialEq)]
pub(super) struct LastEventId {
    pub stream_id: String,
    pub elsewhere: Option<Elsewhere>,
}

/// What an event id carries to resume its call without the stream: the request id, the tool, the
/// resume token and the call's progress token.
#[derive(Debug, PartialEq)]
pub(super) struct Elsewhere {
    pub id: Id,
    pub tool: String,
    pub token: String,
    pub progress: Option<serde_json::Value>,
}

impl LastEventId {
    /// Parses `<stream>-<seq>[~<base64url(request id)>~<tool>~<token>[~<base64url(progress token)>]]`.
    pub fn parse(value: &str) -> Option<LastEventId> {
        use base64::Engine;
        let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok();
        let mut parts = value.split('~');
        let (stream_id, _seq) = parts.next()?.rsplit_once('-')?;
        let elsewhere = match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(tool), Some(token)) => {
                let id = crate::mcp::jsonrpc::id_from_text(&decode(id)?)?;
                let progress = match parts.next() {
                    Some(part) => Some(serde_json::from_slice(&decode(part)?).ok()?),
                    None => None,
                };
                Some(Elsewhere { id, tool: tool.to_string(), token: token.to_string(), progress })
            }
            _ => None,
        };
        Some(LastEventId { stream_id: stream_id.to_string(), elsewhere })
    }
}

/// GET: resume a parked response stream (`Last-Event-ID`), or open the standalone stream.
pub(super) async fn serve(state: &McpState, session: &mut Session, exchange: &Exchange) -> Result<()> {
    if !exchange.accept.sse {
        // An API client's GET: the transport document's 405, saying what the endpoint takes.
        let refusal = Refusal::invalid(
            405,
            "GET /mcp opens an event stream (Accept: text/event-stream); send JSON-RPC requests with POST",
        )
        .with_header("allow", "GET, POST, DELETE");
        return exchange.refuse(session, refusal).await;
    }
    let claims = match require_session(state, session, exchange) {
        Ok(claims) => claims,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let last = header(session, LAST_EVENT_ID).and_then(LastEventId::parse);
    let parked = last.as_ref().and_then(|l| state.parked.remove(&l.stream_id));
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
                request: call.map(|(id, _)| id),
                call,
                progress: parked.progress.as_ref(),
                resume: parked.resume.clone(),
                call_stream: true,
                compress: false,
            };
            let Parked { rx, _guard, .. } = parked;
            writer::stream(state, session, exchange, rx, spec).await;
            drop(_guard);
        }
        (Some(LastEventId { elsewhere: Some(Elsewhere { id, tool, token, progress }), .. }), None) => {
            // The stream was served by another replica (or this one let it go): its event id
            // carries the resume token, so the call continues here, right after that event, and
            // reports progress under the same token.
            let mut params = json!({ "name": tool, "arguments": { "resumeToken": token } });
            if let Some(progress) = progress {
                params["_meta"] = json!({ "progressToken": progress });
            }
            let log_level = Some(state.log_level(&claims));
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
            return run(state, session, exchange, call).await;
        }
        _ => {
            // The standalone stream carries server notifications (list changes), with
            // keep-alives, until the client leaves.
            return writer::notifications(state, session, exchange, ("notifications", prime), None, Some).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_ids_carry_the_stream_and_what_resumes_it() {
        assert_eq!(LastEventId::parse("abc123-7"), Some(LastEventId { stream_id: "abc123".into(), elsewhere: None }));
        // `"r1"` in base64url is `InIxIg`.
        let parsed = LastEventId::parse("abc-3~InIxIg~queryPhotos~v1.tok.sig").unwrap();
        let elsewhere =
            |progress| Elsewhere { id: json!("r1"), tool: "queryPhotos".into(), token: "v1.tok.sig".into(), progress };
        assert_eq!(parsed.elsewhere, Some(elsewhere(None)));
        // The progress token `"p7"` is `InA3Ig`; `7` is `Nw`.
        let parsed = LastEventId::parse("abc-3~InIxIg~queryPhotos~v1.tok.sig~InA3Ig").unwrap();
        assert_eq!(parsed.elsewhere, Some(elsewhere(Some(json!("p7")))));
        let parsed = LastEventId::parse("abc-3~InIxIg~queryPhotos~v1.tok.sig~Nw").unwrap();
        assert_eq!(parsed.elsewhere, Some(elsewhere(Some(json!(7)))));
        assert_eq!(LastEventId::parse("abc-3~InIxIg~queryPhotos~v1.tok.sig~%%"), None, "an undecodable progress token");
        assert_eq!(LastEventId::parse("no-dash-but~%%~x~y"), None, "an undecodable id is no resume");
        assert_eq!(LastEventId::parse("nodash"), None);
    }
}
