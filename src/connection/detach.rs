//! Taking a client connection off Pingora once its answer's head is out.
//!
//! A long-lived stream that only writes (the standalone GET stream, `subscriptions/listen`) would
//! otherwise keep Pingora's whole per-connection state alive for as long as the client listens:
//! 40 KB an idle connection, most of a stream's 63 KB (bench/README.md, *Idle streams*). Detached,
//! the socket moves to a small task of the gateway's own, and Pingora finishes the request
//! against a stand-in that holds the same request head and the answer's head — so its logging
//! phase sees both — and closes nothing real.

use super::{Phase, mark};
use async_trait::async_trait;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v1::server::HttpSession as SessionV1;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use std::io::Cursor;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whether [`detach`] can take the connection out of `session`: an HTTP/1 one (an HTTP/2
/// connection carries other streams).
pub fn detachable(session: &pingora_proxy::Session) -> bool {
    matches!(*session.downstream_session, ServerSession::H1(_))
}

/// Takes the client's connection out of `session` once `head` has been written to it, leaving
/// Pingora a stand-in; `None` (and `session` untouched) when the connection is not HTTP/1 or the
/// stand-in cannot be made. The connection is marked `phase`: [`Phase::Tunnel`] (no read deadline,
/// not evictable, and it reads as ended once a graceful shutdown begins) for a stream that only
/// writes, [`Phase::Upgraded`] for one that says goodbye itself. The stream is not flushed.
pub async fn detach(session: &mut pingora_proxy::Session, head: &ResponseHeader, phase: Phase) -> Option<Stream> {
    if !detachable(session) {
        return None;
    }
    let raw = session.downstream_session.to_h1_raw();
    // The client's address stays known to whatever reads it after the request (the logs).
    let socket = session.downstream_session.stream().and_then(|s| s.get_socket_digest());
    let mut stand_in = SessionV1::new(Box::new(StandIn { head: Cursor::new(raw.to_vec()), socket }));
    stand_in.read_request().await.ok()??;
    stand_in.write_response_header(Box::new(head.clone())).await.ok()?;
    stand_in.set_server_keepalive(None);
    mark(session, phase);
    match std::mem::replace(&mut *session.downstream_session, ServerSession::H1(stand_in)) {
        ServerSession::H1(real) => Some(real.into_inner()),
        _ => unreachable!("checked above"),
    }
}

/// What Pingora holds after a detach: it reads the request head once, then the end; what is
/// written to it goes nowhere.
#[derive(Debug)]
struct StandIn {
    head: Cursor<Vec<u8>>,
    socket: Option<Arc<SocketDigest>>,
}

impl AsyncRead for StandIn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.head).poll_read(cx, buf)
    }
}

impl AsyncWrite for StandIn {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl Shutdown for StandIn {
    async fn shutdown(&mut self) {}
}

impl UniqueID for StandIn {
    fn id(&self) -> UniqueIDType {
        0
    }
}

impl Ssl for StandIn {}

impl GetTimingDigest for StandIn {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        Vec::new()
    }
}

impl GetProxyDigest for StandIn {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        None
    }
}

impl GetSocketDigest for StandIn {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.socket.clone()
    }
}

impl Peek for StandIn {}
