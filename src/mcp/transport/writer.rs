//! Writing a streamed reply: each message of a call (or each server notification) framed as SSE,
//! NDJSON or the bulk stream's events, every write awaited so a slow client slows the call behind
//! it, and the early endings (shutdown, idle, backpressure) told to the client with where to
//! resume — as a stream error event and, for a call, as its JSON-RPC response.

use super::super::catalog::Outbound;
use super::super::jsonrpc::{self, Id};
use super::bulk::BulkEvents;
use super::error::Refusal;
use super::get::Parked;
use super::{Exchange, McpState};
use crate::stream::stats::StreamGuard;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora_proxy::Session;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a response stream the client dropped (or the server closed early) waits for a
/// `Last-Event-ID` resume before its call is abandoned.
const PARKED_STREAM_TTL: Duration = Duration::from_secs(60);

/// How long the priming event waits for the call's first message (see `stream`).
const PRIME_WAIT: Duration = Duration::from_millis(50);

/// How long a stream that is ending early waits for its client to take the final error event.
const END_GRACE: Duration = Duration::from_secs(2);

/// How a streamed response ended.
pub(super) enum StreamEnd {
    /// Every message was sent.
    Complete,
    /// The server ended the response early; the rest is parked for a resume.
    Parked,
    /// The client went away.
    ClientGone,
    /// The client went away from a stream whose event ids carry a resume token: nothing is kept
    /// (a `Last-Event-ID` resumes it from the token, here or on any replica) and the call stops.
    Released,
    /// The gateway ended the stream early with an error event (shutdown, idle or backpressure
    /// timeout); the call stops.
    Ended,
}

/// How a streamed reply frames its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// Streamable HTTP's SSE: every JSON-RPC message is an `event: message` with an `id`.
    Sse,
    /// Chunked NDJSON (`Accept: application/x-ndjson`): one JSON-RPC message per line.
    Ndjson,
    /// The streaming guide's bulk stream (`/mcp/stream`): `event: data | progress | complete | error`.
    Bulk,
}

impl Framing {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Framing::Sse | Framing::Bulk => "text/event-stream",
            Framing::Ndjson => "application/x-ndjson",
        }
    }

    /// Its `transport` label in the streaming metrics.
    pub(super) fn transport(self) -> &'static str {
        match self {
            Framing::Sse | Framing::Bulk => "sse",
            Framing::Ndjson => "ndjson",
        }
    }
}

/// One streamed reply: where its sequence starts and how it is framed and ended.
pub(super) struct StreamSpec<'a> {
    pub stream_id: &'a str,
    /// The sequence number of the first event.
    pub seq: u64,
    /// Send an SSE priming event (`id`, `retry:`) first (protocol ≥ 2025-11-25).
    pub prime: bool,
    pub framing: Framing,
    /// Cancel the call when the client goes away, instead of parking the rest for a resume.
    pub cancel_on_close: bool,
    /// The request this stream answers, if any: an early ending answers it.
    pub request: Option<&'a Id>,
    /// The request this stream answers and its tool, when its events can resume it elsewhere:
    /// event ids then carry the latest resume token, so a `Last-Event-ID` resumes the call on any
    /// replica.
    pub call: Option<(&'a Id, &'a str)>,
    /// The call's progress token, carried in the event ids with the resume token so that a
    /// resumed call goes on reporting progress.
    pub progress: Option<&'a Value>,
    /// The latest resume token already sent (a resumed stream's).
    pub resume: Option<String>,
    /// It carries a call's reply (not server notifications): idle and shutdown end it early.
    pub call_stream: bool,
    /// Compress it (flushed at every event) when the client accepts an encoding.
    pub compress: bool,
}

impl<'a> StreamSpec<'a> {
    /// A stream of server notifications (no call behind it): SSE, ended when the client leaves.
    pub(super) fn notifications(stream_id: &'a str, prime: bool) -> StreamSpec<'a> {
        StreamSpec {
            stream_id,
            seq: 0,
            prime,
            framing: Framing::Sse,
            cancel_on_close: true,
            request: None,
            call: None,
            progress: None,
            resume: None,
            call_stream: false,
            compress: false,
        }
    }
}

/// Admits a long-lived notification stream (standalone GET, `subscriptions/listen`) against the
/// stream limits like any other stream, or says why not.
pub(super) fn admit_notifications(
    session: &Session,
    exchange: &Exchange,
    kind: &'static str,
) -> Result<StreamGuard, Refusal> {
    StreamGuard::admit("sse", kind, &exchange.client_key(session), &exchange.config.streaming)
        .map_err(|refusal| Refusal::busy(format!("no stream now: {refusal}; retry shortly")).closing())
}

/// A long-lived stream of server notifications (the standalone GET stream, `subscriptions/listen`):
/// admitted against the stream limits, then `first` and every broadcast notification `pick` lets
/// through (and as it changes it), with keep-alives, until the client leaves.
pub(super) async fn notifications(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    (kind, prime): (&'static str, bool),
    first: Option<Value>,
    pick: impl Fn(Value) -> Option<Value> + Send + 'static,
) -> pingora::Result<()> {
    let _guard = match admit_notifications(session, exchange, kind) {
        Ok(guard) => guard,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    if crate::connection::detachable(session) {
        super::detached::notifications(state, session, exchange, _guard, prime, first, pick).await;
        return Ok(());
    }
    let (tx, rx) = mpsc::channel(super::STREAM_CHANNEL);
    if let Some(first) = first {
        let _ = tx.try_send(Outbound::Message(first));
    }
    let mut broadcast = state.broadcast.subscribe();
    let forward = tokio::spawn(async move {
        while let Ok(message) = broadcast.recv().await {
            if let Some(message) = pick(message)
                && tx.send(Outbound::Message(message)).await.is_err()
            {
                return;
            }
        }
    });
    let stream_id = hex::encode(rand::random::<[u8; 8]>());
    stream(state, session, exchange, rx, StreamSpec::notifications(&stream_id, prime)).await;
    forward.abort();
    Ok(())
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

/// The head of a streamed reply, `content_type`, with the exchange's CORS headers and request id,
/// never cached or buffered by a proxy, chunked, and `codec`'s encoding when it compresses; the
/// connection's unsent bytes are capped at `stream_buffer_size` meanwhile, so the client's pace
/// reaches the writer. `None` when the head cannot be built.
pub(super) fn stream_head(
    session: &Session,
    exchange: &Exchange,
    content_type: &'static str,
    codec: Option<crate::stream::compress::Codec>,
) -> Option<ResponseHeader> {
    let mut head = ResponseHeader::build(200, Some(8)).ok()?;
    let mut headers = exchange.headers(&[]);
    headers.extend([
        ("content-type", content_type),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("transfer-encoding", "chunked"),
        ("x-request-id", &exchange.request_id),
    ]);
    if let Some(codec) = codec {
        headers.extend([("content-encoding", codec.token()), ("vary", "Accept-Encoding")]);
    }
    for (name, value) in headers {
        let _ = head.insert_header(name, value);
    }
    crate::stream::socket::cap_unsent(session, exchange.config.streaming.stream_buffer_size.as_usize());
    Some(head)
}

/// The SSE priming event (protocol ≥ 2025-11-25): an id and `[mcp] sse_retry`, no data.
pub(super) fn priming_event(id: &str, exchange: &Exchange) -> Bytes {
    Bytes::from(format!("id: {id}\nretry: {}\ndata: \n\n", exchange.config.mcp.sse_retry.0.as_millis()))
}

/// One JSON-RPC message as an SSE event.
pub(super) fn sse_message(id: &str, data: &str) -> String {
    format!("event: message\nid: {id}\ndata: {data}\n\n")
}

/// The `id:` of an SSE event: `<stream>-<seq>`, then, once the stream has a resume token,
/// `~<base64url(request id)>~<tool>~<token>`, and `~<base64url(progress token)>` when the call
/// reports progress (none of the parts can contain `~`).
fn event_id(spec: &StreamSpec<'_>, seq: u64, resume: Option<&str>) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    match (spec.call, resume) {
        (Some((id, tool)), Some(token)) => {
            let mut event_id =
                format!("{}-{seq}~{}~{tool}~{token}", spec.stream_id, b64(crate::mcp::jsonrpc::id_text(id).as_bytes()));
            if let Some(progress) = spec.progress {
                event_id.push('~');
                event_id.push_str(&b64(progress.to_string().as_bytes()));
            }
            event_id
        }
        _ => format!("{}-{seq}", spec.stream_id),
    }
}

/// What a stream has learned of the tool stream it carries: its id and the latest resume token.
#[derive(Default)]
struct ToolStream {
    id: Option<String>,
    resume: Option<String>,
}

impl ToolStream {
    /// Takes note of a message of the call (the init event names the stream and its start).
    fn note(&mut self, message: &Value) {
        if message["method"] == "notifications/stream/init" {
            let params = &message["params"];
            self.id = params["streamId"].as_str().map(str::to_string);
            if let Some(token) = params["resumeToken"].as_str() {
                self.resume = Some(token.to_string());
            }
        }
    }
}

/// Writes a streamed reply from a call's messages until the call ends, the server closes it, or
/// the client goes away (then, on the session wire, the rest is parked for a `Last-Event-ID`
/// resume).
pub(super) async fn stream(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    mut rx: mpsc::Receiver<Outbound>,
    spec: StreamSpec<'_>,
) -> StreamEnd {
    let (stream_id, mut seq) = (spec.stream_id, spec.seq);
    let mut tool = ToolStream { id: None, resume: spec.resume.clone() };
    let codec = exchange.codec.filter(|_| spec.compress);
    let Some(head) = stream_head(session, exchange, spec.framing.content_type(), codec) else {
        return StreamEnd::ClientGone;
    };
    let level = |c| crate::stream::compress::level(c, &exchange.config.streaming);
    let mut out = Outgoing(codec.map(|c| crate::stream::compress::Compressor::new(c, level(c))));
    if session.write_response_header(Box::new(head), false).await.is_err() {
        return client_gone(state, session, exchange, &spec, Rest { rx, next_seq: seq, resume: tool.resume });
    }
    // A call's first message usually follows at once, and a photo stream's (its init) carries the
    // token for where it starts: waiting a moment for it lets the priming event's id carry that
    // token, so a client that leaves after the priming event can resume from the token alone and
    // nothing is kept here for it (see `client_gone`).
    let mut pending = None;
    if spec.prime
        && spec.call.is_some()
        && tool.resume.is_none()
        && let Ok(first) = tokio::time::timeout(PRIME_WAIT, rx.recv()).await
    {
        if let Some(Outbound::Message(message)) = &first {
            tool.note(message);
        }
        pending = Some(first);
    }
    if spec.prime {
        let priming = out.event(priming_event(&event_id(&spec, seq, tool.resume.as_deref()), exchange));
        seq += 1;
        if session.write_response_body(Some(priming), false).await.is_err() {
            return client_gone(state, session, exchange, &spec, Rest { rx, next_seq: seq, resume: tool.resume });
        }
    }
    let (keepalive_every, keepalive_comment): (Duration, &'static [u8]) = match spec.framing {
        Framing::Bulk => (exchange.config.streaming.heartbeat_interval.0, b":heartbeat\n\n"),
        // NDJSON has no comments; a quiet stream stays quiet.
        Framing::Ndjson => (Duration::from_secs(86_400 * 365), b""),
        Framing::Sse => (exchange.config.mcp.sse_keepalive.0, b": keep-alive\n\n"),
    };
    let mut keepalive = tokio::time::interval(keepalive_every);
    keepalive.tick().await;
    let mut bulk = BulkEvents::default();
    let streaming = &exchange.config.streaming;
    // A call's stream ends when the call sends nothing for `idle_timeout`; notification streams
    // are quiet by nature.
    let idle_limit = if spec.call_stream { streaming.idle_timeout.0 } else { Duration::from_secs(86_400 * 365) };
    let idle = tokio::time::sleep(idle_limit);
    tokio::pin!(idle);
    loop {
        let mut held = None;
        let mut reply_held = None;
        let next = if let Some(first) = pending.take() {
            Some(first)
        } else {
            tokio::select! {
                message = rx.recv() => Some(message),
                _ = keepalive.tick() => None,
                () = crate::shutdown::begun(), if spec.call_stream => {
                    let why = "the gateway is shutting down; resume on another replica with resumeToken";
                    return end_early(session, &mut out, &spec, seq, &tool, "SHUTTING_DOWN", why).await;
                }
                () = &mut idle => {
                    let why = format!("nothing to send for [streaming] idle_timeout ({})", streaming.idle_timeout);
                    return end_early(session, &mut out, &spec, seq, &tool, "IDLE_TIMEOUT", &why).await;
                }
                _ = session.as_downstream_mut().read_body_or_idle(true) => {
                    return client_gone(state, session, exchange, &spec, Rest { rx, next_seq: seq, resume: tool.resume });
                }
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
                park(state, session, exchange, &spec, Rest { rx, next_seq: seq, resume: tool.resume });
                return StreamEnd::Parked;
            }
            Some(Some(Outbound::Data(data))) => {
                idle.as_mut().reset(tokio::time::Instant::now() + idle_limit);
                if tool.id.as_deref() != Some(data.stream_id.as_str()) {
                    tool.id = Some(data.stream_id.clone());
                }
                if data.resume_token.is_some() {
                    tool.resume = data.resume_token.clone();
                }
                let event = match spec.framing {
                    Framing::Sse => {
                        let id = event_id(&spec, seq, tool.resume.as_deref());
                        sse_message(&id, &data.notification())
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
                tool.note(&message);
                let event = match spec.framing {
                    Framing::Sse => {
                        let id = event_id(&spec, seq, tool.resume.as_deref());
                        let data = serde_json::to_string(&message).expect("a Value always serializes");
                        sse_message(&id, &data)
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
                // A message (a call's result above all) weighs on the gateway until it is written,
                // like a data event: a client that reads nothing holds it.
                let event = match jsonrpc::restore_ids(event.as_bytes()) {
                    std::borrow::Cow::Owned(restored) => {
                        String::from_utf8(restored).expect("restoring ids keeps UTF-8")
                    }
                    std::borrow::Cow::Borrowed(_) => event,
                };
                reply_held = Some(crate::stream::stats::hold_reply(event.len()));
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
            Ok(Ok(())) => drop((held, reply_held)),
            Ok(Err(_)) => {
                drop(write);
                return client_gone(state, session, exchange, &spec, Rest { rx, next_seq: seq, resume: tool.resume });
            }
            Err(_) => {
                crate::stream::stats::backpressure_event();
                tracing::info!(stream_id, "stream client took nothing for backpressure_timeout; stream ends");
                let drained = tokio::time::timeout(END_GRACE, &mut write).await;
                drop(write);
                if !matches!(drained, Ok(Ok(()))) {
                    // Half an event may be out: this connection cannot carry anything more, and
                    // nothing is flushed to a client that reads nothing.
                    abandon(session);
                    return StreamEnd::Ended;
                }
                let why = format!(
                    "the client took no event for [streaming] backpressure_timeout ({})",
                    streaming.backpressure_timeout
                );
                return end_early(session, &mut out, &spec, seq, &tool, "BACKPRESSURE_TIMEOUT", &why).await;
            }
        }
    }
}

/// The streaming guide's stream error, retryable and carrying the latest resume token, framed for
/// `spec`; on a call's SSE or NDJSON stream it is followed by the call's JSON-RPC response, an
/// error saying the same, so the request is answered.
fn ending_events(spec: &StreamSpec<'_>, seq: u64, tool: &ToolStream, code: &str, why: &str) -> Bytes {
    let error =
        json!({ "streamId": tool.id, "error": why, "code": code, "retryable": true, "resumeToken": tool.resume });
    let notification = jsonrpc::notification("notifications/stream/error", error.clone());
    let response = spec.request.map(|id| {
        jsonrpc::RpcError::new(jsonrpc::SERVER_ERROR, why.to_string()).with_data(error.clone()).response(Some(id))
    });
    let events = match spec.framing {
        Framing::Sse => {
            let mut events = sse_message(&event_id(spec, seq, tool.resume.as_deref()), &notification.to_string());
            if let Some(response) = response {
                let id = event_id(spec, seq + 1, tool.resume.as_deref());
                events.push_str(&sse_message(&id, &response.to_string()));
            }
            events
        }
        Framing::Ndjson => match response {
            Some(response) => format!("{notification}\n{response}\n"),
            None => format!("{notification}\n"),
        },
        Framing::Bulk => format!("event: error\ndata: {error}\n\n"),
    };
    Bytes::from(jsonrpc::restore_ids(events.as_bytes()).into_owned())
}

/// Sends the ending events and ends the response; the call behind it stops (its channel is
/// dropped).
async fn end_early(
    session: &mut Session,
    out: &mut Outgoing,
    spec: &StreamSpec<'_>,
    seq: u64,
    tool: &ToolStream,
    code: &str,
    why: &str,
) -> StreamEnd {
    let events = out.final_event(ending_events(spec, seq, tool, code, why));
    session.set_keepalive(None);
    let delivered = tokio::time::timeout(END_GRACE, session.write_response_body(Some(events), true)).await;
    if !matches!(delivered, Ok(Ok(()))) {
        abandon(session);
    }
    StreamEnd::Ended
}

/// Gives up on a connection whose client reads nothing: no keep-alive, and no further write may
/// wait on it (Pingora would otherwise try to finish the body for as long as its own timeouts
/// allow), so its slot and socket are freed now.
fn abandon(session: &mut Session) {
    session.set_keepalive(None);
    session.set_write_timeout(Some(Duration::from_millis(1)));
}

/// The client went away: the rest of a session-era stream is parked for a resume, any other
/// stream's call stops.
fn client_gone(
    state: &McpState,
    session: &Session,
    exchange: &Exchange,
    spec: &StreamSpec<'_>,
    rest: Rest,
) -> StreamEnd {
    if spec.cancel_on_close {
        return StreamEnd::ClientGone;
    }
    // Its event ids carry the resume token: keeping the rest here (its call running into a full
    // channel, 130-190 KB a stream) would buy nothing a `Last-Event-ID` cannot do from the token.
    if spec.call.is_some() && rest.resume.is_some() {
        return StreamEnd::Released;
    }
    park(state, session, exchange, spec, rest);
    StreamEnd::ClientGone
}

/// What is left of a stream that stops being written: its messages to come, the sequence number
/// of the next one, and the latest resume token sent.
struct Rest {
    rx: mpsc::Receiver<Outbound>,
    next_seq: u64,
    resume: Option<String>,
}

/// Keeps the rest of a stream for a resume, for at most [`PARKED_STREAM_TTL`]. A parked stream
/// counts against the stream limits like an open one; when there is no room, it is dropped and
/// its call stops.
fn park(state: &McpState, session: &Session, exchange: &Exchange, spec: &StreamSpec<'_>, rest: Rest) {
    let guard = match StreamGuard::admit("sse", "parked", &exchange.client_key(session), &exchange.config.streaming) {
        Ok(guard) => guard,
        Err(refusal) => {
            tracing::info!(%refusal, stream_id = spec.stream_id, "not keeping a dropped stream for a resume");
            return;
        }
    };
    let call = spec.call.map(|(id, tool)| (id.clone(), tool.to_string()));
    let Rest { rx, next_seq, resume } = rest;
    let parked = Parked { rx, next_seq, call, resume, progress: spec.progress.cloned(), _guard: guard };
    state.parked.insert_for(spec.stream_id.to_string(), parked, PARKED_STREAM_TTL);
    // Its call waits on a full channel, holding its stream slot and Immich connection, until the
    // entry goes: make it go on time.
    let all = state.parked.clone();
    tokio::spawn(async move {
        tokio::time::sleep(PARKED_STREAM_TTL + Duration::from_millis(10)).await;
        all.purge_expired();
    });
}
