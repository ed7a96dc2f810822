//! WebSocket at `/mcp/ws` (the streaming guide's third transport): JSON-RPC both ways, one message per text
//! frame, on an HTTP/1.1 connection upgraded inside the Pingora service.
//!
//! Pingora switches an upgraded session to raw bytes both ways once the 101 is written; RFC 6455
//! (framing, masking, fragments, ping/pong, the close handshake) is `tungstenite`'s, used without
//! I/O: bytes read from the client are fed to its [`WebSocketContext`] and the frames it writes
//! are collected and written to the session, each write awaited, so a slow reader slows every call
//! on the connection the same way an SSE stream does.
//!
//! Requests need no `initialize` (the streaming guide's `wscat` example sends a bare `tools/call`);
//! each runs as its own task on session-era rules and may stream (progress,
//! `notifications/stream/data`), several at once. `notifications/cancelled` stops one; closing the
//! socket stops them all. The connection counts as a stream against the limits, and one whose
//! client sends nothing (not even a pong) for `[server] websocket_idle_timeout` is closed.

use super::call::spawn;
use super::error::Refusal;
use super::{Exchange, McpState, STREAM_CHANNEL, header};
use crate::mcp::catalog::{InputRound, Outbound};
use crate::mcp::jsonrpc::{self, INVALID_REQUEST, Id, Message, RpcError};
use crate::mcp::server::{self, Wire};
use bytes::{Buf, Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext, frame::coding::CloseCode};

/// The largest message a client may send: JSON-RPC requests are small.
const MAX_CLIENT_MESSAGE: usize = 4 << 20;

/// Serves `GET /mcp/ws`: the upgrade handshake, then JSON-RPC until either side closes.
pub(super) async fn serve(state: &McpState, session: &mut Session, exchange: &Exchange<'_>) -> Result<()> {
    let key = match handshake_key(session) {
        Ok(key) => key.to_vec(),
        Err((status, reason)) => {
            let refusal = Refusal::invalid(status, reason);
            let refusal = if status == 426 {
                refusal.with_header("upgrade", "websocket").with_header("sec-websocket-version", "13")
            } else {
                refusal
            };
            return exchange.refuse(session, refusal).await;
        }
    };
    // The connection is a stream: it counts against the limits while it is open.
    let _guard = match super::writer::admit_notifications(session, exchange, "websocket") {
        Ok(guard) => guard,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let mut response = ResponseHeader::build(101, Some(4))?;
    response.insert_header(http::header::UPGRADE, "websocket")?;
    response.insert_header(http::header::CONNECTION, "Upgrade")?;
    response.insert_header(http::header::SEC_WEBSOCKET_ACCEPT, tungstenite::handshake::derive_accept_key(&key))?;
    if header(session, http::header::SEC_WEBSOCKET_PROTOCOL).is_some_and(|p| p.split(',').any(|p| p.trim() == "mcp")) {
        response.insert_header(http::header::SEC_WEBSOCKET_PROTOCOL, "mcp")?;
    }
    session.write_response_header(Box::new(response), false).await?;
    // No more HTTP requests on this connection: its own idle timeout applies, not the keep-alive's.
    crate::connection::mark(session, crate::connection::Phase::Upgraded);
    let _open =
        crate::telemetry::GaugeHold::new(crate::telemetry::metrics().websocket_connections.with_label_values(&["mcp"]));
    // A client may wait quietly for a long call; pings keep the connection alive.
    session.as_downstream_mut().set_read_timeout(None);
    // As on SSE: a slow reader's pace reaches the calls at once, not after megabytes in the kernel.
    crate::stream::socket::cap_unsent(session, exchange.config.streaming.stream_buffer_size.as_usize());

    let heartbeat = exchange.config.streaming.heartbeat_interval.0;
    let idle_limit = exchange.config.server.websocket_idle_timeout.0;
    let idle = tokio::time::sleep(idle_limit);
    tokio::pin!(idle);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let (tx, mut rx) = mpsc::channel::<Outbound>(STREAM_CHANNEL);
    let mut socket = Socket::new();
    let mut calls = Calls::default();
    let limit = exchange.config.streaming.max_concurrent_streams;
    let outcome: Result<()> = async {
        loop {
            tokio::select! {
                read = session.read_request_body() => {
                    let Some(bytes) = read? else { return Ok(()) };
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_limit);
                    socket.pipe.input.extend_from_slice(&bytes);
                    loop {
                        match socket.read() {
                            Read::Text(text) => {
                                if let Some(reply) = calls.receive(state, session, exchange, &tx, &text, limit) {
                                    socket.send(reply.to_string());
                                }
                            }
                            Read::Binary => socket.send(
                                RpcError::new(INVALID_REQUEST, "send JSON-RPC messages as text frames").response(None).to_string(),
                            ),
                            Read::Control => {}
                            Read::NeedMore => break,
                            Read::Closed => {
                                socket.flush_to(session).await?;
                                return Ok(());
                            }
                        }
                    }
                    socket.flush_to(session).await?;
                }
                Some(outbound) = rx.recv() => {
                    // A data event's bytes count against the stream's and the gateway's buffers
                    // until its frame is written.
                    let (text, _held) = match outbound {
                        Outbound::Message(message) => (message.to_string(), None),
                        Outbound::Data(data) => (data.notification(), Some(data.held)),
                        Outbound::CloseStream => continue,
                    };
                    socket.send(text);
                    socket.flush_to(session).await?;
                }
                () = &mut idle => {
                    let reason = format!("nothing received for [server] websocket_idle_timeout ({})", exchange.config.server.websocket_idle_timeout);
                    socket.close(CloseCode::Away, &reason);
                    socket.flush_to(session).await?;
                    return Ok(());
                }
                () = crate::shutdown::begun() => {
                    // Data notifications carry resume tokens: the client resumes on another replica.
                    socket.close(CloseCode::Away, "the gateway is shutting down; resume with the last resumeToken");
                    socket.flush_to(session).await?;
                    return Ok(());
                }
                _ = ping.tick() => {
                    socket.ping();
                    socket.flush_to(session).await?;
                }
            }
        }
    }
    .await;
    calls.cancel_all();
    outcome
}

/// The client's `Sec-WebSocket-Key`, or the HTTP status and reason that refuse the upgrade.
fn handshake_key(session: &Session) -> std::result::Result<&[u8], (u16, &'static str)> {
    use base64::Engine;
    let upgrade = header(session, http::header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let connection = header(session, http::header::CONNECTION)
        .is_some_and(|c| c.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")));
    if session.req_header().method != http::Method::GET || !upgrade || !connection {
        return Err((426, "/mcp/ws is a WebSocket endpoint: send GET with Upgrade: websocket"));
    }
    if header(session, http::header::SEC_WEBSOCKET_VERSION) != Some("13") {
        return Err((426, "Sec-WebSocket-Version must be 13"));
    }
    let key = header(session, http::header::SEC_WEBSOCKET_KEY).ok_or((400, "Sec-WebSocket-Key is required"))?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(key.as_bytes()),
        _ => Err((400, "Sec-WebSocket-Key must be 16 bytes in Base64")),
    }
}

/// Bytes tungstenite reads from the pipe at a time, and reserves per connection.
const READ_BUFFER: usize = 4 * 1024;

/// What one attempt to read a message gave.
enum Read {
    Text(tungstenite::Utf8Bytes),
    Binary,
    /// A ping, pong or frame `tungstenite` answers itself.
    Control,
    /// The bytes so far hold no whole message.
    NeedMore,
    /// The client closed (its close frame is answered), broke the protocol (closed with 1002) or
    /// sent a message over the size limit (1009).
    Closed,
}

/// One WebSocket connection's protocol state over an in-memory pipe.
struct Socket {
    ws: WebSocketContext,
    pipe: Pipe,
}

impl Socket {
    fn new() -> Socket {
        // tungstenite reserves `read_buffer_size` (128 KiB by default) for every connection up
        // front: most of an idle WebSocket's memory. The frames come from `Pipe`, already in
        // memory, so a small buffer costs only a few more copies on large messages.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(MAX_CLIENT_MESSAGE))
            .max_frame_size(Some(MAX_CLIENT_MESSAGE));
        Socket { ws: WebSocketContext::new(Role::Server, Some(config)), pipe: Pipe::default() }
    }

    fn read(&mut self) -> Read {
        use tungstenite::{Error, Message};
        match self.ws.read(&mut self.pipe) {
            Ok(Message::Text(text)) => Read::Text(text),
            Ok(Message::Binary(_)) => Read::Binary,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => Read::Control,
            Ok(Message::Close(_)) => Read::Closed,
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Read::NeedMore,
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => Read::Closed,
            Err(e) => {
                // A message over the size limit is 1009, text that is not UTF-8 1007 (RFC 6455
                // §7.4.1), anything else the client got wrong 1002.
                let code = match e {
                    Error::Capacity(_) => CloseCode::Size,
                    Error::Utf8(_) => CloseCode::Invalid,
                    _ => CloseCode::Protocol,
                };
                self.close(code, &e.to_string());
                Read::Closed
            }
        }
    }

    /// Queues a close frame (RFC 6455 caps its reason at 123 bytes).
    fn close(&mut self, code: CloseCode, reason: &str) {
        let mut end = reason.len().min(120);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let frame = CloseFrame { code, reason: reason[..end].to_owned().into() };
        let _ = self.ws.close(&mut self.pipe, Some(frame));
    }

    /// Queues a text frame (written by the next [`Socket::flush_to`]).
    fn send(&mut self, mut text: String) {
        if let std::borrow::Cow::Owned(restored) = crate::mcp::jsonrpc::restore_ids(text.as_bytes()) {
            text = String::from_utf8(restored).expect("restoring ids keeps UTF-8");
        }
        // Fails only once the connection is closing; the frame is then dropped with it.
        let _ = self.ws.write(&mut self.pipe, tungstenite::Message::text(text));
    }

    fn ping(&mut self) {
        let _ = self.ws.write(&mut self.pipe, tungstenite::Message::Ping(Bytes::new()));
    }

    /// Writes every queued frame to the client, awaiting the write.
    async fn flush_to(&mut self, session: &mut Session) -> Result<()> {
        let _ = self.ws.flush(&mut self.pipe);
        if self.pipe.output.is_empty() {
            return Ok(());
        }
        let frames = self.pipe.output.split().freeze();
        session.write_response_body(Some(frames), false).await
    }
}

/// Bytes between the session and `tungstenite`: what the client sent and is not parsed yet, and
/// the frames written since the last flush.
#[derive(Default)]
struct Pipe {
    input: BytesMut,
    output: BytesMut,
}

impl io::Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.advance(n);
        Ok(n)
    }
}

impl io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The connection's running requests, by id, to cancel one on `notifications/cancelled` and all
/// when the connection ends; an entry goes once its task has finished.
#[derive(Default)]
struct Calls {
    running: HashMap<String, (CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl Calls {
    /// Handles one client message: starts a request's task, or applies a notification. Returns
    /// an immediate reply (an error) when there is one.
    fn receive(
        &mut self,
        state: &McpState,
        session: &Session,
        exchange: &Exchange<'_>,
        tx: &mpsc::Sender<Outbound>,
        text: &str,
        limit: usize,
    ) -> Option<Value> {
        let (id, method, params) = match jsonrpc::parse_body(text.as_bytes()) {
            Ok(jsonrpc::Body::Single(Message::Request { id, method, params })) => (id, method, params),
            Ok(jsonrpc::Body::Single(Message::Notification { method, params })) => {
                if method == "notifications/cancelled"
                    && let Some((cancel, _)) = params.get("requestId").and_then(|id| self.running.get(&id_key(id)))
                {
                    cancel.cancel();
                }
                return None;
            }
            Ok(jsonrpc::Body::Single(Message::Response { .. })) => return None,
            Ok(jsonrpc::Body::Batch(_)) => {
                return Some(RpcError::new(INVALID_REQUEST, "send one JSON-RPC message per frame").response(None));
            }
            Err((id, error)) => return Some(error.response(id.as_ref())),
        };
        self.running.retain(|_, (_, task)| !task.is_finished());
        if self.running.len() >= limit {
            let reason = format!("at most {limit} requests run at once on one WebSocket connection");
            return Some(RpcError::new(INVALID_REQUEST, reason).response(Some(&id)));
        }
        if method == "initialize" {
            let requested = params["protocolVersion"].as_str();
            let result = exchange.server.initialize_result(server::negotiate(requested));
            return Some(jsonrpc::result(&id, result));
        }
        if let Err(refusal) = super::call::admit(state, session, exchange, &method, &params) {
            return Some(refusal.error.response(Some(&id)));
        }
        let input = match InputRound::from_params(&params, state.sessions.sealer(exchange.secrets)) {
            Ok(input) => input,
            Err(error) => return Some(error.response(Some(&id))),
        };
        let cx = exchange
            .streamed_call_context(session, tx.clone(), "websocket")
            .with_progress_token(params["_meta"].get("progressToken").cloned())
            .with_capabilities(json!({}))
            .with_input(input)
            .with_announcements(state.broadcast.clone());
        let cancel = cx.cancel.clone();
        let task = spawn(exchange.server.clone(), (id.clone(), method, params), Wire::Session, cx, tx.clone());
        self.running.insert(id_key(&id), (cancel, task));
        None
    }

    fn cancel_all(&self) {
        self.running.values().for_each(|(cancel, _)| cancel.cancel());
    }
}

/// A request id as `notifications/cancelled` names it (its JSON text: `1` and `"1"` differ).
fn id_key(id: &Id) -> String {
    id.to_string()
}
