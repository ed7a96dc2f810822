//! The typed Immich REST client: the one module that knows Immich's paths and DTOs.
//!
//! Idempotent calls (reads, including search POSTs) are retried on timeouts, connection failures
//! and 5xx with exponential backoff and full jitter; writes never are. Immich's error bodies become
//! [`ImmichError`]s that keep Immich's own message. Paged searches are exposed as a stream of pages,
//! fetched one at a time as the consumer asks, never collected. Dropping a call's future cancels
//! its HTTP request.

use super::BaseUrl;
use super::credential::Credential;
use super::path::{ApiPath, Uuid};
use crate::config::ImmichConfig;
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant};

/// A failed Immich call, classified.
#[derive(Clone, Debug, PartialEq)]
pub enum ImmichError {
    /// 401: no key, or an invalid one.
    Unauthorized(String),
    /// 403: the key lacks a permission; Immich's message names it.
    Forbidden(String),
    /// 400 "Not found or no … access", or 404.
    NotFound(String),
    /// 400 validation failure, with Immich's issues.
    Invalid(String),
    /// 5xx.
    Server(u16, String),
    /// No answer in time.
    Timeout,
    /// Immich could not be reached.
    Unreachable(String),
    /// Immich answered something unreadable (e.g. truncated JSON).
    Malformed(String),
}

impl ImmichError {
    /// Whether an idempotent call may be tried again.
    fn retryable(&self) -> bool {
        matches!(self, ImmichError::Server(..) | ImmichError::Timeout | ImmichError::Unreachable(_))
    }

    /// A message for a model: Immich's own words plus what to do about it.
    pub fn for_model(&self) -> String {
        match self {
            ImmichError::Unauthorized(m) => format!("Immich refused the API key: {m}"),
            ImmichError::Forbidden(m) => format!("{m} (the Immich API key in use does not allow this)"),
            ImmichError::NotFound(m) => format!("{m} — check the id"),
            ImmichError::Invalid(m) => format!("Immich rejected the request: {m}"),
            ImmichError::Server(status, m) => format!("Immich failed (HTTP {status}): {m}. Retry in a moment."),
            ImmichError::Timeout => "Immich did not answer in time. Retry in a moment, or ask for less.".into(),
            ImmichError::Unreachable(m) => format!("Immich is unreachable ({m}). Retry in a moment."),
            ImmichError::Malformed(m) => format!("Immich sent an unreadable answer ({m}). Retry in a moment."),
        }
    }
}

impl fmt::Display for ImmichError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.for_model())
    }
}

/// Retry policy for idempotent calls (the streaming guide's RetryConfig).
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Growth per retry.
    pub multiplier: f64,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): full jitter over the exponential bound.
    fn backoff(&self, retry: u32) -> Duration {
        let bound = (self.initial.as_secs_f64() * self.multiplier.powi(retry as i32)).min(self.max.as_secs_f64());
        Duration::from_secs_f64(bound * rand::random::<f64>())
    }
}

/// Short text kept inline (up to 24 bytes: kinds, dates, file names, places, camera names, people's
/// names), so reading a streamed asset allocates for its id and little else; longer text is
/// allocated as a `String` would be.
pub type Text = compact_str::CompactString;

/// `AssetResponseDto`, the fields the tools use. The rest is skipped while parsing: a streamed
/// search parses every asset of a library, and keeping unknown fields cost more than all the rest.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// Asset id.
    pub id: String,
    /// `IMAGE`, `VIDEO`, `AUDIO` or `OTHER`.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Original file name.
    pub original_file_name: Text,
    /// Capture time as Immich records it.
    #[serde(default)]
    pub local_date_time: Option<Text>,
    /// File creation time.
    #[serde(default)]
    pub file_created_at: Option<Text>,
    /// Favourite flag.
    #[serde(default)]
    pub is_favorite: bool,
    /// Pixel width.
    #[serde(default)]
    pub width: Option<u64>,
    /// Pixel height.
    #[serde(default)]
    pub height: Option<u64>,
    /// EXIF, when asked for: only the fields a photo shows, read in place while the twenty-odd
    /// others are skipped (a streamed search reads every asset of a library; a map of all of them
    /// per asset cost more than all the rest together, and keeping the text to read it later cost
    /// a copy and a second parse). `getPhoto` reads the whole EXIF from the asset's JSON itself.
    #[serde(default)]
    pub exif_info: Option<ExifSummary>,
    /// People in the asset.
    #[serde(default)]
    pub people: Vec<Person>,
    /// Tags (on single-asset reads).
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// In the trash.
    #[serde(default)]
    pub is_trashed: bool,
}

/// The fields of `ExifResponseDto` a photo summary shows; the rest is skipped while reading.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExifSummary {
    /// Size of the original in bytes.
    #[serde(default)]
    pub file_size_in_byte: Option<u64>,
    /// Camera maker.
    #[serde(default)]
    pub make: Option<Text>,
    /// Camera model.
    #[serde(default)]
    pub model: Option<Text>,
    /// Reverse-geocoded city.
    #[serde(default)]
    pub city: Option<Text>,
    /// Reverse-geocoded country.
    #[serde(default)]
    pub country: Option<Text>,
}

/// `PersonResponseDto` inside an asset: the name is all a photo shows (each field kept costs an
/// allocation per person per asset on a streamed search).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Name (may be empty).
    #[serde(default)]
    pub name: Text,
}

/// `TagResponseDto`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// Tag id.
    pub id: String,
    /// Last path component.
    pub name: String,
    /// Full path, e.g. `trip/2020`.
    pub value: String,
    /// Parent tag.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// `AlbumResponseDto`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Album {
    /// Album id.
    pub id: String,
    /// Name.
    pub album_name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Number of assets.
    #[serde(default)]
    pub asset_count: u64,
    /// Earliest asset.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Latest asset.
    #[serde(default)]
    pub end_date: Option<String>,
    /// Shared with others.
    #[serde(default)]
    pub shared: bool,
    /// Thumbnail asset.
    #[serde(default)]
    pub album_thumbnail_asset_id: Option<String>,
}

/// One page of `POST /search/metadata` or `/search/smart`.
#[derive(Clone, Debug)]
pub struct Page {
    /// The assets.
    pub items: Vec<Asset>,
    /// The next page number, when there is one.
    pub next_page: Option<u64>,
}

/// Largest single element accepted from an array read element by element.
const MAX_ASSET_BYTES: usize = 1 << 20;

/// A JSON array in an Immich response body, parsed one element at a time as the body arrives
/// (a push splitter, never the whole body): the body is read only when the next element is
/// wanted, and a chunk is parsed only as far as the element asked for, so a slow consumer slows
/// the read from Immich's socket and nothing is parsed ahead of it.
pub struct ArrayReader {
    body: super::streamed::StreamedBody,
    splitter: crate::stream::json::ArraySplitter,
    /// The chunk being parsed, from `offset` on.
    pending: Bytes,
    offset: usize,
    element: crate::stream::json::Elements,
    ended: bool,
}

impl ArrayReader {
    /// The array at `path` (empty: the top level) of `response`'s body.
    fn new(body: super::streamed::StreamedBody, path: &[&str]) -> ArrayReader {
        ArrayReader {
            body,
            splitter: crate::stream::json::ArraySplitter::new(
                vec![path.iter().map(|p| p.to_string()).collect()],
                MAX_ASSET_BYTES,
            ),
            pending: Bytes::new(),
            offset: 0,
            element: crate::stream::json::Elements::one_at_a_time(),
            ended: false,
        }
    }

    /// The next element, parsed as `T`; `None` once the array is over (then
    /// [`ArrayReader::next_page`] is known, for search pages).
    pub async fn next<T: DeserializeOwned>(&mut self) -> Option<Result<T, ImmichError>> {
        loop {
            if let Some(raw) = self.element.done.pop() {
                return Some(parse_element(&raw));
            }
            if self.ended {
                return None;
            }
            let split = if self.offset < self.pending.len() {
                let rest = &self.pending[self.offset..];
                self.splitter.push(rest, &mut self.element).map(|used| self.offset += used)
            } else {
                match self.body.chunk().await {
                    Ok(Some(bytes)) => {
                        (self.pending, self.offset) = (bytes, 0);
                        Ok(())
                    }
                    Ok(None) => {
                        self.ended = true;
                        self.pending = Bytes::new();
                        self.splitter.finish()
                    }
                    Err(e) => return Some(Err(e)),
                }
            };
            if let Err(e) = split {
                self.ended = true;
                return Some(Err(ImmichError::Malformed(format!("invalid array in Immich's response: {}", e.0))));
            }
        }
    }

    /// The next page number Immich announced (after the last asset was read).
    pub fn next_page(&self) -> Option<u64> {
        let (_, raw) = self.splitter.scalars().iter().find(|(path, _)| path == "assets.nextPage")?;
        raw.trim_matches('"').parse().ok()
    }
}

/// One element of an Immich array. UTF-8 is checked once for the whole element: parsed from
/// bytes, a parser checks every key and kept string on its own, which cost ~9% of a streamed
/// search's CPU. `sonic_rs` (SIMD) rather than `serde_json` because a streamed search reads every
/// asset of a library and keeps a tenth of each: skipping the rest was a fifth of its profile
/// (`skip_to_escape`), and the gateway's CPU per streamed photo fell by ~8% with the switch.
fn parse_element<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ImmichError> {
    let malformed = |e: &dyn fmt::Display| ImmichError::Malformed(format!("invalid element in an Immich array: {e}"));
    let text = std::str::from_utf8(raw).map_err(|e| malformed(&e))?;
    sonic_rs::from_str(text).map_err(|e| malformed(&e))
}

#[derive(Deserialize)]
struct SearchResponse {
    assets: SearchAssets,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchAssets {
    items: Vec<Asset>,
    next_page: Option<String>,
}

/// The gateway's REST client for Immich.
#[derive(Clone, Debug)]
pub struct ImmichClient {
    pub(super) http: reqwest::Client,
    /// For bodies read element by element (see [`super::streamed`]).
    streamed: super::streamed::StreamedHttp,
    pub(super) base: BaseUrl,
    retry: RetryPolicy,
    pub(super) timeout: Duration,
}

impl ImmichClient {
    /// A pooled client (TCP_NODELAY on, rustls with ring for https) for `config`.
    pub fn new(config: &ImmichConfig) -> ImmichClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(config.connect_timeout.0)
            .pool_idle_timeout(config.idle_timeout.0)
            .pool_max_idle_per_host(config.pool_size)
            // The same TLS rules as every Immich client of the gateway: never a panic for want
            // of system CA certificates.
            .tls_backend_preconfigured(super::tls::client_config(config.base_url.tls, config.verify_tls))
            .build()
            .expect("a preconfigured TLS client always builds");
        let base = config.base_url.clone();
        let retry = RetryPolicy {
            attempts: config.retry_attempts.max(1),
            initial: config.retry_initial_backoff.0,
            max: config.retry_max_backoff.0,
            multiplier: config.retry_multiplier,
        };
        let streamed = super::streamed::StreamedHttp::new(config, base.tls);
        ImmichClient { http, base, streamed, retry, timeout: config.request_timeout.0 }
    }

    /// The base URL calls go to.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// One call: `idempotent` ones are retried on transient failures until the request timeout.
    async fn send(
        &self,
        key: &Credential,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<reqwest::Response, ImmichError> {
        let deadline = Instant::now() + self.timeout;
        let span = crate::telemetry::traces::immich_span(&tracing::Span::current(), method.as_str(), path.as_str());
        let traceparent = crate::telemetry::traces::traceparent(&span);
        let attempts = self.retrying(deadline, idempotent, path.as_str(), |remaining| {
            let mut request = self
                .http
                .request(method.clone(), self.base.url(path.as_str()))
                .timeout(remaining)
                .header(key.header().0, key.header().1)
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(traceparent) = &traceparent {
                request = request.header("traceparent", traceparent);
            }
            async move {
                match request.send().await {
                    Ok(response) if response.status().is_success() => Ok(response),
                    Ok(response) => Err(error_from(response).await),
                    Err(e) if e.is_timeout() => Err(ImmichError::Timeout),
                    Err(e) => Err(ImmichError::Unreachable(super::root_cause(&e))),
                }
            }
        });
        tracing::Instrument::instrument(attempts, span).await
    }

    /// A read whose body is consumed element by element (an [`ArrayReader`]), over the
    /// bounded-buffer connections; retried like [`ImmichClient::send`] until its head arrives,
    /// and the whole body due by the request timeout.
    async fn send_streamed(
        &self,
        key: &Credential,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<super::streamed::StreamedBody, ImmichError> {
        let deadline = Instant::now() + self.timeout;
        let mut uri = self.base.url(path.as_str());
        for (n, (name, value)) in query.iter().enumerate() {
            let value = percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC);
            uri.push_str(&format!("{}{name}={value}", if n == 0 { '?' } else { '&' }));
        }
        let payload = body.map(|b| Bytes::from(serde_json::to_vec(b).expect("JSON values serialize")));
        let span = crate::telemetry::traces::immich_span(&tracing::Span::current(), method.as_str(), path.as_str());
        let traceparent = crate::telemetry::traces::traceparent(&span);
        let attempts = self.retrying(deadline, true, path.as_str(), |remaining| {
            let mut request =
                http::Request::builder().method(method.clone()).uri(&uri).header(key.header().0, key.header().1);
            if payload.is_some() {
                request = request.header("content-type", "application/json");
            }
            if let Some(traceparent) = &traceparent {
                request = request.header("traceparent", traceparent.as_str());
            }
            let request = request.body(http_body_util::Full::new(payload.clone().unwrap_or_default()));
            async move {
                let request = request.map_err(|e| ImmichError::Invalid(format!("cannot request {path}: {e}")))?;
                let (head, body) = self.streamed.send(request, remaining).await?.into_parts();
                let body = super::streamed::StreamedBody::new(body, tokio::time::Instant::from_std(deadline));
                if head.status.is_success() {
                    Ok(body)
                } else {
                    Err(immich_error(head.status, &body.collect_up_to(MAX_ERROR_BODY).await))
                }
            }
        });
        tracing::Instrument::instrument(attempts, span).await
    }

    /// Runs `attempt` (given the time left) until it succeeds, fails for good, or — for an
    /// `idempotent` call failing transiently — the retries or the deadline run out.
    async fn retrying<T, F, Fut>(
        &self,
        deadline: Instant,
        idempotent: bool,
        path: &str,
        mut attempt: F,
    ) -> Result<T, ImmichError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, ImmichError>>,
    {
        let mut attempts = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ImmichError::Timeout);
            }
            let error = match attempt(remaining).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            attempts += 1;
            if !idempotent || !error.retryable() || attempts >= self.retry.attempts {
                return Err(error);
            }
            let wait = self.retry.backoff(attempts - 1).min(deadline.saturating_duration_since(Instant::now()));
            tracing::debug!(path, attempts, ?wait, error = %error, "retrying an Immich call");
            tokio::time::sleep(wait).await;
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        key: &Credential,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<T, ImmichError> {
        let response = self.send(key, method, path, query, body, idempotent).await?;
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() { ImmichError::Timeout } else { ImmichError::Malformed(super::root_cause(&e)) }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ImmichError::Malformed(format!("invalid JSON from {path}: {e}")))
    }

    /// `GET` returning JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        key: &Credential,
        path: &ApiPath,
        query: &[(&str, String)],
    ) -> Result<T, ImmichError> {
        self.json(key, Method::GET, path, query, None, true).await
    }

    /// A read expressed as `POST` (searches), retried like a `GET`.
    pub async fn post_read<T: DeserializeOwned>(
        &self,
        key: &Credential,
        path: &ApiPath,
        body: &Value,
    ) -> Result<T, ImmichError> {
        self.json(key, Method::POST, path, &[], Some(body), true).await
    }

    /// A read expressed as `POST` whose parameters are all in the query string
    /// (`/api/search/large-assets`), retried like a `GET`.
    pub async fn post_query_read<T: DeserializeOwned>(
        &self,
        key: &Credential,
        path: &ApiPath,
        query: &[(&str, String)],
    ) -> Result<T, ImmichError> {
        self.json(key, Method::POST, path, query, None, true).await
    }

    /// A write (never retried) returning JSON.
    pub async fn write<T: DeserializeOwned>(
        &self,
        key: &Credential,
        method: Method,
        path: &ApiPath,
        body: &Value,
    ) -> Result<T, ImmichError> {
        self.json(key, method, path, &[], Some(body), false).await
    }

    /// A write (never retried) answered with no body (204).
    pub async fn write_empty(
        &self,
        key: &Credential,
        method: Method,
        path: &ApiPath,
        body: &Value,
    ) -> Result<(), ImmichError> {
        self.send(key, method, path, &[], Some(body), false).await.map(drop)
    }

    /// `GET /api/server/ping`.
    pub async fn ping(&self, base: &BaseUrl, timeout: Duration) -> Result<(), String> {
        let response = self
            .http
            .get(base.url("/api/server/ping"))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| super::describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("Immich answered /api/server/ping with HTTP {status}"));
        }
        let body: Value = response.json().await.map_err(|e| {
            if e.is_timeout() {
                "Immich did not finish its /api/server/ping reply in time".to_string()
            } else if e.is_decode() {
                format!("Immich's ping reply is not JSON: {}", super::root_cause(&e))
            } else {
                format!("Immich's ping reply broke off: {}", super::root_cause(&e))
            }
        })?;
        if body.get("res").and_then(|v| v.as_str()) == Some("pong") {
            Ok(())
        } else {
            Err(format!("unexpected ping reply from Immich: {body}"))
        }
    }

    /// `GET /api/server/version` as `(major, minor, patch)`.
    pub async fn version(&self, key: &Credential) -> Result<(u64, u64, u64), ImmichError> {
        let v: Value = self.get(key, &ApiPath::fixed("/api/server/version"), &[]).await?;
        Ok((v["major"].as_u64().unwrap_or(0), v["minor"].as_u64().unwrap_or(0), v["patch"].as_u64().unwrap_or(0)))
    }

    /// The permissions of `key` (`GET /api/api-keys/me`).
    pub async fn permissions(&self, key: &Credential) -> Result<Vec<String>, ImmichError> {
        let me: Value = self.get(key, &ApiPath::fixed("/api/api-keys/me"), &[]).await?;
        Ok(me["permissions"]
            .as_array()
            .map(|p| p.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }

    /// One page of a metadata (or, with `smart`, CLIP) search. `filter` is a `MetadataSearchDto`.
    pub async fn search_page(
        &self,
        key: &Credential,
        smart: bool,
        filter: &Value,
        page: u64,
        size: u64,
    ) -> Result<Page, ImmichError> {
        let mut body = filter.clone();
        body["page"] = page.into();
        body["size"] = size.min(1000).into();
        let response: SearchResponse = self.post_read(key, &search_path(smart), &body).await?;
        Ok(Page { items: response.assets.items, next_page: response.assets.next_page.and_then(|p| p.parse().ok()) })
    }

    /// One page of a search, read as its body arrives: [`ArrayReader::next`] parses one asset at a
    /// time, and the body is read only as fast as the caller asks, so a slow consumer slows the
    /// read from Immich's socket and the page is never held whole.
    pub async fn search_page_streamed(
        &self,
        key: &Credential,
        smart: bool,
        filter: &Value,
        page: u64,
        size: u64,
    ) -> Result<ArrayReader, ImmichError> {
        let mut body = filter.clone();
        body["page"] = page.into();
        body["size"] = size.min(1000).into();
        let body = self.send_streamed(key, Method::POST, &search_path(smart), &[], Some(&body)).await?;
        Ok(ArrayReader::new(body, &["assets", "items"]))
    }

    /// A `GET` whose answer is a JSON array (e.g. `/api/map/markers`), read element by element.
    pub async fn get_array(
        &self,
        key: &Credential,
        path: &ApiPath,
        query: &[(&str, String)],
    ) -> Result<ArrayReader, ImmichError> {
        let body = self.send_streamed(key, Method::GET, path, query, None).await?;
        Ok(ArrayReader::new(body, &[]))
    }

    /// `POST /api/download/archive`: the zip of `ids`, as a response whose body the caller streams.
    pub async fn download_archive(&self, key: &Credential, ids: &[String]) -> Result<reqwest::Response, ImmichError> {
        // Not bounded by the request timeout: an archive takes as long as the client takes to read it.
        let response = self
            .http
            .post(self.base.url("/api/download/archive"))
            .header(key.header().0, key.header().1)
            .json(&serde_json::json!({ "assetIds": ids }))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() { ImmichError::Timeout } else { ImmichError::Unreachable(super::root_cause(&e)) }
            })?;
        if response.status().is_success() { Ok(response) } else { Err(error_from(response).await) }
    }

    /// A thumbnail (`thumbnail`, webp) or preview (`preview`, jpeg), at most `limit` bytes.
    pub async fn thumbnail(
        &self,
        key: &Credential,
        id: &Uuid,
        size: &str,
        limit: usize,
    ) -> Result<(Bytes, String), ImmichError> {
        let path = ApiPath::fixed("/api/assets").id(id).then("thumbnail");
        let response = self.send(key, Method::GET, &path, &[("size", size.to_string())], None, true).await?;
        let mime =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("image/jpeg").to_string();
        if response.content_length().is_some_and(|n| n as usize > limit) {
            return Err(ImmichError::Invalid(format!("the {size} of {id} is larger than {limit} bytes")));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| ImmichError::Malformed(super::root_cause(&e)))? {
            if body.len() + chunk.len() > limit {
                return Err(ImmichError::Invalid(format!("the {size} of {id} is larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(body), mime))
    }
}

/// Where a metadata (or, with `smart`, CLIP) search goes.
fn search_path(smart: bool) -> ApiPath {
    ApiPath::fixed(if smart { "/api/search/smart" } else { "/api/search/metadata" })
}

/// The error an unsuccessful reqwest reply stands for (see [`immich_error`]).
pub(super) async fn error_from(response: reqwest::Response) -> ImmichError {
    let status = response.status();
    immich_error(status, &response.bytes().await.unwrap_or_default())
}

/// How much of an error reply is read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The error an unsuccessful Immich reply stands for, in Immich's own words where its body has
/// them.
fn immich_error(status: StatusCode, body: &[u8]) -> ImmichError {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    match status {
        StatusCode::UNAUTHORIZED => ImmichError::Unauthorized(message),
        StatusCode::FORBIDDEN => ImmichError::Forbidden(message),
        StatusCode::NOT_FOUND => ImmichError::NotFound(message),
        StatusCode::BAD_REQUEST if message.starts_with("Not found") => ImmichError::NotFound(message),
        StatusCode::BAD_REQUEST => {
            let issues: Vec<String> = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let path: Vec<String> = e["path"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| p.to_string().trim_matches('"').to_string())
                        .collect();
                    format!("{}: {}", path.join("."), e["message"].as_str().unwrap_or(""))
                })
                .collect();
            ImmichError::Invalid(if issues.is_empty() { message } else { format!("{message} ({})", issues.join("; ")) })
        }
        s if s.is_server_error() => ImmichError::Server(s.as_u16(), message),
        s => ImmichError::Invalid(format!("HTTP {s}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_parse_once_checked_and_fail_clearly() {
        let asset: Asset = parse_element(
            br#"{"id":"a","type":"IMAGE","originalFileName":"K\u00f6ln.jpg","exifInfo":{"city":"K\u00f6ln","make":"Sony","lensModel":"x"}}"#,
        )
        .expect("valid");
        assert_eq!(asset.original_file_name, "Köln.jpg");
        assert_eq!(asset.exif_info.and_then(|e| e.city).as_deref(), Some("Köln"));

        let not_utf8 = parse_element::<Asset>(b"{\"id\":\"\xff\",\"type\":\"IMAGE\",\"originalFileName\":\"x\"}");
        assert!(matches!(&not_utf8, Err(ImmichError::Malformed(m)) if m.contains("utf-8")), "{not_utf8:?}");
        let not_json = parse_element::<Asset>(br#"{"id":"a","type":"#);
        assert!(matches!(&not_json, Err(ImmichError::Malformed(m)) if m.contains("EOF")), "{not_json:?}");
    }
}
