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
use crate::stream::stats::StreamGuard;
use bytes::{Buf, Bytes, BytesMut};
use futures::FutureExt;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::protocols::Stream;
use pingora_proxy::Session;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext, frame::coding::CloseCode};

/// The largest message a client may send: JSON-RPC requests are small.
const MAX_CLIENT_MESSAGE: usize = 4 << 20;

/// Serves `GET /mcp/ws`: the upgrade handshake through Pingora, then the connection leaves
/// Pingora ([`crate::connection::detach`]) for a task of its own that speaks JSON-RPC until either
/// side closes: an idle WebSocket then costs a few kilobytes, not Pingora's per-connection state
/// and its 64 KiB upgraded-body buffer (bench/README.md, *Idle streams*).
pub(super) async fn serve(state: &Arc<McpState>, session: &mut Session, exchange: Exchange) -> Result<()> {
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
    let guard = match super::writer::admit_notifications(session, &exchange, "websocket") {
        Ok(guard) => guard,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    if !crate::connection::detachable(session) {
        return exchange.refuse(session, Refusal::invalid(426, "/mcp/ws needs an HTTP/1.1 connection")).await;
    }
    let mut response = ResponseHeader::build(101, Some(4))?;
    response.insert_header(http::header::UPGRADE, "websocket")?;
    response.insert_header(http::header::CONNECTION, "Upgrade")?;
    response.insert_header(http::header::SEC_WEBSOCKET_ACCEPT, tungstenite::handshake::derive_accept_key(&key))?;
    if header(session, http::header::SEC_WEBSOCKET_PROTOCOL).is_some_and(|p| p.split(',').any(|p| p.trim() == "mcp")) {
        response.insert_header(http::header::SEC_WEBSOCKET_PROTOCOL, "mcp")?;
    }
    session.write_response_header(Box::new(response.clone()), false).await?;
    // As on SSE: a slow reader's pace reaches the calls at once, not after megabytes in the kernel.
    crate::stream::socket::cap_unsent(session, exchange.config.streaming.stream_buffer_size.as_usize());
    // RFC 6455 has a client wait for the 101, but bytes sent right behind the handshake are in
    // Pingora's buffer, not the socket's: taken now, before the connection leaves.
    let early = match session.read_request_body().now_or_never() {
        None => Bytes::new(),
        Some(Ok(Some(bytes))) => bytes,
        Some(Ok(None) | Err(_)) => return Ok(()),
    };
    let client = exchange.client_key(session);
    let Some(stream) = crate::connection::detach(session, &response, crate::connection::Phase::Upgraded).await else {
        tracing::warn!(request_id = exchange.request_id, "a WebSocket could not be taken off Pingora; closed");
        return Ok(());
    };
    let write_timeout = exchange.config.streaming.backpressure_timeout.0;
    let connection = Connection { state: state.clone(), exchange, client, stream, write_timeout };
    tokio::spawn(connection.run(guard, early));
    Ok(())
}

/// One MCP WebSocket off Pingora: the connection, and what its calls run with.
struct Connection {
    state: Arc<McpState>,
    exchange: Exchange,
    /// Who is calling, for the per-client limits.
    client: String,
    stream: Stream,
    /// A client that takes no frame for this long is let go (`[streaming] backpressure_timeout`).
    write_timeout: Duration,
}

impl Connection {
    /// Reads frames and writes replies until either side closes, the client is idle for
    /// `[server] websocket_idle_timeout`, or a graceful shutdown begins; every call of the
    /// connection is cancelled when it ends. `early` is what the client sent behind its handshake.
    async fn run(mut self, _guard: StreamGuard, early: Bytes) {
        let _open = crate::telemetry::GaugeHold::new(
            crate::telemetry::metrics().websocket_connections.with_label_values(&["mcp"]),
        );
        let config = self.exchange.config.clone();
        let heartbeat = config.streaming.heartbeat_interval.0;
        let idle_limit = config.server.websocket_idle_timeout.0;
        let idle = tokio::time::sleep(idle_limit);
        tokio::pin!(idle);
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let mut socket = Socket::new();
        socket.pipe.input.extend_from_slice(&early);
        // A slice of Pingora's body buffer: kept, it would keep all of it.
        drop(early);
        // The calls' messages: made with the first call, as most of an idle connection's memory.
        let mut calls = Calls::default();
        // The 101 went out through Pingora's buffer: it reaches the client now.
        let mut open = self.stream.flush().await.is_ok() && self.receive(&mut socket, &mut calls).await;
        while open {
            socket.pipe.input.reserve(READ_CHUNK);
            open = tokio::select! {
                // A graceful shutdown first: data notifications carry resume tokens, so the client
                // resumes on another replica.
                biased;
                () = crate::shutdown::begun() => {
                    socket.close(CloseCode::Away, "the gateway is shutting down; resume with the last resumeToken");
                    self.flush(&mut socket).await;
                    false
                }
                read = self.stream.read_buf(&mut socket.pipe.input) => match read {
                    Ok(0) | Err(_) => false,
                    Ok(_) => {
                        idle.as_mut().reset(tokio::time::Instant::now() + idle_limit);
                        self.receive(&mut socket, &mut calls).await
                    }
                },
                Some(outbound) = calls.next() => {
                    // A data event's bytes count against the stream's and the gateway's buffers
                    // until its frame is written.
                    let (text, _held) = match outbound {
                        Outbound::Message(message) => (message.to_string(), None),
                        Outbound::Data(data) => (data.notification(), Some(data.held)),
                        Outbound::CloseStream => continue,
                    };
                    socket.send(text);
                    self.flush(&mut socket).await
                }
                () = &mut idle => {
                    let reason = format!("nothing received for [server] websocket_idle_timeout ({})", config.server.websocket_idle_timeout);
                    socket.close(CloseCode::Away, &reason);
                    self.flush(&mut socket).await;
                    false
                }
                _ = ping.tick() => {
                    socket.ping();
                    self.flush(&mut socket).await
                }
            };
        }
        calls.cancel_all();
        pingora::protocols::Shutdown::shutdown(&mut *self.stream).await;
    }

    /// Handles every whole message read so far and writes the replies; false once the
    /// connection is closing or the client takes nothing.
    async fn receive(&mut self, socket: &mut Socket, calls: &mut Calls) -> bool {
        loop {
            match socket.read() {
                Read::Text(text) => {
                    if let Some(reply) = calls.receive(self, &text) {
                        socket.send(reply.to_string());
                    }
                }
                Read::Binary => socket.send(
                    RpcError::new(INVALID_REQUEST, "send JSON-RPC messages as text frames").response(None).to_string(),
                ),
                Read::Control => {}
                Read::NeedMore => {
                    socket.pipe.release();
                    return self.flush(socket).await;
                }
                Read::Closed => {
                    self.flush(socket).await;
                    return false;
                }
            }
        }
    }

    /// Writes every queued frame to the client, awaiting the write; false when the client is gone
    /// or took nothing for the write timeout.
    async fn flush(&mut self, socket: &mut Socket) -> bool {
        let Some(frames) = socket.take_output() else { return true };
        let write = async {
            self.stream.write_all(&frames).await?;
            self.stream.flush().await
        };
        matches!(tokio::time::timeout(self.write_timeout, write).await, Ok(Ok(())))
    }
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

/// Bytes tungstenite reads from the pipe at a time, and reserves per connection (a frame's whole
/// payload is reserved once its header is read, so this only sets the pace of small copies).
const READ_BUFFER: usize = 256;

/// Bytes read from the socket at a time, at least.
const READ_CHUNK: usize = 512;

/// A pipe buffer larger than this is let go once it is empty, so one large message does not stay
/// an idle connection's cost.
const KEEP_BUFFER: usize = 16 * 1024;

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

    /// Queues a text frame (written by the next [`Connection::flush`]); dropped once the connection
    /// is closing.
    ///
    /// Framed here, not by `tungstenite`: its write path copies each frame into a buffer that
    /// keeps the largest frame's size for the connection's life (a 1 MB result would stay an idle
    /// connection's cost), and a server's frame is simple — unmasked, one frame per message.
    fn send(&mut self, text: String) {
        if !self.ws.can_write() {
            return;
        }
        // Control frames tungstenite queued (pongs) go first, whole.
        let _ = self.ws.flush(&mut self.pipe);
        let text = crate::mcp::jsonrpc::restore_ids(text.as_bytes());
        text_frame(&mut self.pipe.output, &text);
    }

    fn ping(&mut self) {
        let _ = self.ws.write(&mut self.pipe, tungstenite::Message::Ping(Bytes::new()));
    }

    /// The frames queued since the last call, if any.
    fn take_output(&mut self) -> Option<Bytes> {
        let _ = self.ws.flush(&mut self.pipe);
        if self.pipe.output.is_empty() {
            return None;
        }
        let frames = self.pipe.output.split().freeze();
        if self.pipe.output.capacity() > KEEP_BUFFER {
            self.pipe.output = BytesMut::new();
        }
        Some(frames)
    }
}

/// Appends one unmasked, final text frame holding `payload` (RFC 6455 §5.2) to `out`.
fn text_frame(out: &mut BytesMut, payload: &[u8]) {
    use bytes::BufMut;
    const FIN_TEXT: u8 = 0x81;
    out.reserve(payload.len() + 10);
    out.put_u8(FIN_TEXT);
    match payload.len() {
        len @ 0..=125 => out.put_u8(len as u8),
        len @ 126..=0xffff => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.extend_from_slice(payload);
}

/// Bytes between the client and `tungstenite`: what the client sent and is not parsed yet, and
/// the frames written since the last flush.
#[derive(Default)]
struct Pipe {
    input: BytesMut,
    output: BytesMut,
}

impl Pipe {
    /// Lets go of the input buffer's memory once it is empty and large.
    fn release(&mut self) {
        if self.input.is_empty() && self.input.capacity() > KEEP_BUFFER {
            self.input = BytesMut::new();
        }
    }
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
    /// The calls' messages to the client, made with the first call.
    channel: Option<(mpsc::Sender<Outbound>, mpsc::Receiver<Outbound>)>,
}

impl Calls {
    /// The next message a call sends; pending until there is a call.
    async fn next(&mut self) -> Option<Outbound> {
        match &mut self.channel {
            Some((_, rx)) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Where a new call sends its messages.
    fn sender(&mut self) -> mpsc::Sender<Outbound> {
        self.channel.get_or_insert_with(|| mpsc::channel(STREAM_CHANNEL)).0.clone()
    }

    /// Handles one client message: starts a request's task, or applies a notification. Returns
    /// an immediate reply (an error) when there is one.
    fn receive(&mut self, connection: &Connection, text: &str) -> Option<Value> {
        let (state, exchange) = (&*connection.state, &connection.exchange);
        let limit = exchange.config.streaming.max_concurrent_streams;
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
        if let Err(refusal) = super::call::admit(state, exchange, || connection.client.clone(), &method, &params) {
            return Some(refusal.error.response(Some(&id)));
        }
        let input = match InputRound::from_params(&params, state.sessions.sealer(&exchange.secrets)) {
            Ok(input) => input,
            Err(error) => return Some(error.response(Some(&id))),
        };
        let tx = self.sender();
        let cx = exchange
            .streamed_call_context(connection.client.clone(), tx.clone(), "websocket")
            .with_progress_token(params["_meta"].get("progressToken").cloned())
            .with_capabilities(json!({}))
            .with_input(input)
            .with_announcements(state.broadcast.clone());
        let cancel = cx.cancel.clone();
        let task = spawn(exchange.server.clone(), (id.clone(), method, params), Wire::Session, cx, tx);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of every length class read back whole through `tungstenite`'s own client.
    #[test]
    fn text_frames_read_back_through_tungstenite() {
        for len in [0, 1, 125, 126, 127, 0xffff, 0x10000, 300_000] {
            let text: String = "é".repeat(len / 2) + &"a".repeat(len % 2);
            let mut out = BytesMut::new();
            text_frame(&mut out, text.as_bytes());
            let mut client = WebSocketContext::new(Role::Client, None);
            let mut pipe = Pipe { input: out, output: BytesMut::new() };
            match client.read(&mut pipe) {
                Ok(tungstenite::Message::Text(read)) => assert_eq!(read.as_str(), text, "length {len}"),
                other => panic!("length {len}: {other:?}"),
            }
            assert!(pipe.input.is_empty(), "length {len}: the frame is read to its end");
        }
    }
}
