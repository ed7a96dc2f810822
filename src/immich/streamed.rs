//! The HTTP client for Immich bodies read element by element (search pages, map markers).
//!
//! hyper's HTTP/1 read buffer grows to about 400 KB on a fast connection, and a body chunk
//! shares that allocation for as long as its reader holds it; with one chunk held by the reader,
//! one waiting in hyper's body channel and a fresh read buffer, a stream whose client reads slowly
//! pinned about 2 MB. A hundred slow streams then weighed 200 MB, four times the gateway's whole
//! buffer budget. reqwest, which makes the gateway's other Immich calls, has no setting for that
//! buffer, so streamed reads use hyper's pooled client directly with the buffer capped at
//! [`READ_BUFFER`]; TLS and the connection settings are the same as reqwest's.

use super::client::ImmichError;
use crate::config::ImmichConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;
use tokio::time::Instant;

/// The size of a read from Immich's socket, and so of the body chunks a stream holds (hyper reads
/// into whatever room its buffer has, so a chunk can reach twice this when the buffer was just
/// reallocated): small enough that a stalled stream pins little, large enough that a fast one
/// makes few reads (a 1,000-asset page of about 1.6 MB takes about a hundred).
pub const READ_BUFFER: usize = 16 * 1024;

/// Pooled HTTP/1 connections to Immich with a bounded read buffer.
#[derive(Clone, Debug)]
pub struct StreamedHttp {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl StreamedHttp {
    /// A client with `config`'s connect timeout, pool and TLS verification, for an Immich
    /// reached over `https` or not (loading the platform's roots takes milliseconds, and a
    /// plain-HTTP Immich, the sidecar case, never needs them).
    pub fn new(config: &ImmichConfig, https: bool) -> StreamedHttp {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout.0));
        let tls = HttpsConnectorBuilder::new().with_tls_config(super::tls::client_config(https, config.verify_tls));
        let connector = tls.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_timeout.0)
            .pool_max_idle_per_host(config.pool_size)
            .http1_max_buf_size(READ_BUFFER)
            .build(connector);
        StreamedHttp { client }
    }

    /// Sends `request`; the response's head must arrive within `timeout`.
    pub async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, ImmichError> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(ImmichError::Timeout),
            Ok(Err(e)) => Err(ImmichError::Unreachable(super::root_cause(&e))),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// A streamed response body, read chunk by chunk until a deadline.
pub struct StreamedBody {
    body: Incoming,
    deadline: Instant,
}

impl StreamedBody {
    /// `body`, to be read completely by `deadline`.
    pub fn new(body: Incoming, deadline: Instant) -> StreamedBody {
        StreamedBody { body, deadline }
    }

    /// The next chunk, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ImmichError> {
        loop {
            match tokio::time::timeout_at(self.deadline, self.body.frame()).await {
                Err(_) => return Err(ImmichError::Timeout),
                Ok(None) => return Ok(None),
                Ok(Some(Err(e))) => return Err(ImmichError::Malformed(super::root_cause(&e))),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The whole body up to `limit` bytes (an error reply's), or what arrived of it.
    pub async fn collect_up_to(self, limit: usize) -> Bytes {
        let limited = http_body_util::Limited::new(self.body, limit);
        match tokio::time::timeout_at(self.deadline, limited.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            _ => Bytes::new(),
        }
    }
}

#[cfg(all(test, feature = "demo"))]
mod tests {
    use super::*;
    use crate::demo::{self, Fault};

    #[tokio::test]
    async fn bodies_arrive_whole_in_chunks_bounded_by_the_read_buffer() {
        let immich = demo::spawn(3_000, Fault::default());
        let http = StreamedHttp::new(&ImmichConfig::default(), false);
        let body = serde_json::json!({ "page": 1, "size": 1000, "withExif": true, "withPeople": true });
        let request = http::Request::post(format!("http://{immich}/api/search/metadata"))
            .header("x-api-key", "demo-admin-key")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = http.send(request, Duration::from_secs(10)).await.unwrap();
        assert!(response.status().is_success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut body = StreamedBody::new(response.into_body(), deadline);
        let (mut whole, mut largest) = (Vec::new(), 0);
        while let Some(chunk) = body.chunk().await.unwrap() {
            largest = largest.max(chunk.len());
            whole.extend_from_slice(&chunk);
        }
        let page: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        assert_eq!(page["assets"]["items"].as_array().unwrap().len(), 1000);
        assert!(whole.len() > 10 * READ_BUFFER, "a page of {} bytes", whole.len());
        assert!(largest <= 2 * READ_BUFFER, "a chunk of {largest} bytes");
    }
}
