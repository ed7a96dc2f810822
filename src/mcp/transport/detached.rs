//! The long-lived notification streams (the standalone GET stream, `subscriptions/listen`) served
//! off Pingora: once the head (and the priming event) is out through Pingora, the connection is
//! detached ([`crate::connection::detach`]) and a small task writes the events, keep-alives and
//! the end, chunk by chunk, until the client leaves or a graceful shutdown begins. Pingora's
//! per-connection state is freed meanwhile, which is most of what an idle stream costs
//! (bench/README.md, *Idle streams*). HTTP/1 only; HTTP/2 streams stay with Pingora.

use super::super::jsonrpc;
use super::{Exchange, McpState, writer};
use crate::stream::stats::StreamGuard;
use pingora::protocols::Stream;
use pingora_proxy::Session;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;

/// Serves a notification stream on a connection [`crate::connection::detachable`] says can leave
/// Pingora: `first`, then every broadcast notification `pick` lets through,
/// with a keep-alive comment every `[mcp] sse_keepalive`. The stream counts against the limits
/// (`guard`) until its task ends.
pub(super) async fn notifications(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    guard: StreamGuard,
    prime: bool,
    first: Option<Value>,
    pick: impl Fn(Value) -> Option<Value> + Send + 'static,
) {
    let Some(head) = writer::stream_head(session, exchange, writer::Framing::Sse.content_type(), None) else { return };
    // Subscribed before the head goes out, so nothing broadcast after the client sees it is missed.
    let broadcast = state.broadcast.subscribe();
    if session.write_response_header(Box::new(head.clone()), false).await.is_err() {
        return;
    }
    let stream_id = hex::encode(rand::random::<[u8; 8]>());
    let mut seq = 0;
    if prime {
        let priming = writer::priming_event(&format!("{stream_id}-{seq}"), exchange);
        seq += 1;
        if session.write_response_body(Some(priming), false).await.is_err() {
            return;
        }
    }
    let Some(stream) = crate::connection::detach(session, &head, crate::connection::Phase::Tunnel).await else {
        return;
    };
    let writer = Writer {
        stream,
        stream_id,
        seq,
        keepalive: exchange.config.mcp.sse_keepalive.0,
        write_timeout: exchange.config.streaming.backpressure_timeout.0,
    };
    tokio::spawn(writer.run(guard, broadcast, first, pick));
}

/// A detached stream's writer.
struct Writer {
    stream: Stream,
    stream_id: String,
    seq: u64,
    keepalive: Duration,
    /// A client that takes nothing for this long is let go.
    write_timeout: Duration,
}

impl Writer {
    async fn run(
        mut self,
        _guard: StreamGuard,
        mut broadcast: tokio::sync::broadcast::Receiver<Value>,
        first: Option<Value>,
        pick: impl Fn(Value) -> Option<Value>,
    ) {
        // The head went out through Pingora's buffer: it reaches the client now.
        if self.stream.flush().await.is_err() {
            return;
        }
        if let Some(first) = first
            && !self.message(&first).await
        {
            return;
        }
        let mut keepalive = tokio::time::interval(self.keepalive);
        keepalive.tick().await;
        // Read only to notice the client leaving (or a graceful shutdown, which reads as an end).
        let mut scratch = [0u8; 64];
        loop {
            let written = tokio::select! {
                received = broadcast.recv() => match received {
                    Ok(message) => match pick(message) {
                        Some(message) => self.message(&message).await,
                        None => true,
                    },
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => break,
                },
                _ = keepalive.tick() => self.chunk(b": keep-alive\n\n").await,
                read = self.stream.read(&mut scratch) => match read {
                    Ok(0) | Err(_) => break,
                    // A client has nothing to say on this connection; what it says is ignored.
                    Ok(_) => true,
                },
            };
            if !written {
                return;
            }
        }
        // The end of the chunked body, for a client still there (a graceful shutdown).
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            self.stream.write_all(b"0\r\n\r\n").await?;
            self.stream.flush().await
        })
        .await;
        pingora::protocols::Shutdown::shutdown(&mut *self.stream).await;
    }

    /// Writes `message` as an SSE event; false when the client is gone or takes nothing.
    async fn message(&mut self, message: &Value) -> bool {
        let data = serde_json::to_string(message).expect("a Value always serializes");
        let event = writer::sse_message(&format!("{}-{}", self.stream_id, self.seq), &data);
        self.seq += 1;
        let event = jsonrpc::restore_ids(event.as_bytes()).into_owned();
        self.chunk(&event).await
    }

    /// Writes `bytes` as one chunk of the body and flushes it.
    async fn chunk(&mut self, bytes: &[u8]) -> bool {
        let mut framed = Vec::with_capacity(bytes.len() + 12);
        framed.extend_from_slice(format!("{:x}\r\n", bytes.len()).as_bytes());
        framed.extend_from_slice(bytes);
        framed.extend_from_slice(b"\r\n");
        let write = async {
            self.stream.write_all(&framed).await?;
            self.stream.flush().await
        };
        matches!(tokio::time::timeout(self.write_timeout, write).await, Ok(Ok(())))
    }
}
