//! The gateway's Pingora app: each connection is admitted within the connection limits and
//! wrapped with the client's deadlines ([`crate::connection`]) before the proxy reads from it;
//! one that cannot be admitted gets a 503 and is closed, so the accept loop keeps serving.

use crate::connection::{Limits, Refused, Stream};
use crate::runtime::ConfigStore;
use crate::telemetry::metrics;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{ALPN, Shutdown};
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The gateway's app: admits each connection, then hands it, guarded, to the proxy.
pub struct Front<A> {
    /// The proxy (Pingora's HTTP app around the gateway).
    pub proxy: Arc<A>,
    /// The configuration, for the limits and timeouts in force.
    pub store: Arc<ConfigStore>,
    /// The connections open now.
    pub limits: Arc<Limits>,
}

/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Front<A> {
    async fn process_new(self: &Arc<Self>, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let runtime = self.store.current();
        let server = &runtime.config.server;
        let ip = stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let admitted = match self.limits.admit(ip, server.max_connections, server.max_connections_per_client) {
            Ok(admitted) => admitted,
            Err(refused) => {
                refuse(&mut stream, &refused).await;
                return None;
            }
        };
        // HTTP/2 (by ALPN, or cleartext with its preface) serves many requests at once on one
        // connection: its idleness is Pingora's `h2_idle_timeout`, not this guard's.
        let h2 = match stream.selected_alpn_proto() {
            Some(ALPN::H2) => true,
            Some(_) => false,
            None if server.h2c && stream.get_ssl_digest().is_none() => {
                // The first byte may take the keep-alive timeout; once it came, the rest of the
                // preface is the request head's, under `request_header_timeout`. Waiting for all 24
                // bytes under the keep-alive timeout let a client dribbling a byte a second hold
                // its connection 24 s longer than the head timeout (bench/dribblers.sh).
                let mut first = [0u8; 1];
                match tokio::time::timeout(server.keepalive_timeout.0, stream.try_peek(&mut first)).await {
                    Ok(Ok(true)) if first[0] == H2_PREFACE[0] => {
                        let mut preface = [0u8; H2_PREFACE.len()];
                        let rest = stream.try_peek(&mut preface);
                        match tokio::time::timeout(server.request_header_timeout.0, rest).await {
                            Ok(Ok(peeked)) => peeked && preface == H2_PREFACE,
                            Ok(Err(_)) | Err(_) => return None,
                        }
                    }
                    // Not an HTTP/2 preface (no HTTP/1 method starts with its first byte but
                    // POST, PUT and PATCH, which the full peek above tells apart).
                    Ok(Ok(_)) => false,
                    // Nothing said within the keep-alive timeout, or the client left.
                    Ok(Err(_)) | Err(_) => return None,
                }
            }
            None => false,
        };
        if h2 {
            admitted.http2();
        }
        let guarded = admitted.guard(stream, server.request_header_timeout.0, server.keepalive_timeout.0);
        self.proxy.process_new(Box::new(guarded), shutdown).await
    }

    /// At a graceful shutdown Pingora closes every keep-alive connection waiting for its next
    /// request at once; a client that sent one just then (a busy client always has) loses it.
    /// Instead they stay open for most of `[server] grace_period`, so each next request is
    /// answered, with `Connection: close`, and the client reconnects to the process that took
    /// over; only connections idle all that time are closed.
    async fn cleanup(&self) {
        let grace = self.store.current().config.server.grace_period.0;
        tokio::time::sleep(grace.saturating_sub(Duration::from_millis(500))).await;
        self.proxy.cleanup().await;
        // The spans of the last requests leave before the process does.
        let _ = tokio::task::spawn_blocking(crate::telemetry::traces::flush).await;
    }
}

/// Answers a connection that cannot be admitted, and closes it.
async fn refuse(stream: &mut Stream, refused: &Refused) {
    let (reason, message) = match refused {
        Refused::Total(n) => ("total", format!("the gateway has {n} connections open, its limit (max_connections)")),
        Refused::PerClient(n) => {
            ("per_client", format!("this client has {n} connections open, its limit (max_connections_per_client)"))
        }
    };
    metrics().connections_refused.with_label_values(&[reason]).inc();
    let body = serde_json::json!({ "error": format!("{message}; retry shortly") }).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), Shutdown::shutdown(&mut **stream)).await;
    // A lingering close: closing a socket with the client's request still unread sends a reset,
    // which makes the client's kernel drop the 503 before the client reads it (bench/attack.sh
    // lost 999 of 1,000 so). What the client sent is read and discarded until it closes, for a
    // second and 64 KiB at most.
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// How long a refused connection is read (and what it sends discarded) before it is closed.
const LINGER: Duration = Duration::from_secs(1);
