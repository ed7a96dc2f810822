//! The gateway's configuration: one TOML file parsed into the typed [`Config`], validated, and
//! swapped atomically on reload. Nothing outside this module sees raw TOML.
//!
//! Every key has a default, so an empty file (or no file) is a valid configuration.
//! `conf/gateway.toml` documents every key with its default.

mod audit;
mod env;
mod jwt;
mod load;
mod oauth;
mod rate;
pub mod types;
mod units;

pub use audit::{AuditConfig, AuditSink};
pub use jwt::{JWT_ALGORITHMS, JwtConfig, JwtUser};
pub use load::{ConfigError, ConfigErrors, load_file, load_str};
pub use oauth::{OAuthClient, OAuthConfig, check_redirect_uri};
pub use rate::RateLimitsConfig;
pub use types::{BaseUrl, FaultSpec, KeyHash, LogFilter};
pub use units::{Dur, Size};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listening sockets, worker threads and request limits.
    pub server: ServerConfig,
    /// Where Immich is and how to reach it.
    pub immich: ImmichConfig,
    /// Streaming of large results (the streaming guide's keys).
    pub streaming: StreamingConfig,
    /// The MCP endpoint.
    pub mcp: McpConfig,
    /// Who may call the gateway and which Immich key their calls use.
    pub auth: AuthConfig,
    /// The authorization server of `[auth] mode = "oauth"`.
    pub oauth: OAuthConfig,
    /// The external identity provider of `[auth] mode = "jwt"`.
    pub jwt: JwtConfig,
    /// How often one caller may call.
    pub rate_limits: RateLimitsConfig,
    /// The audit trail of tool calls.
    pub audit: AuditConfig,
    /// Logs and metrics.
    pub telemetry: TelemetryConfig,
    /// The embedded synthetic Immich used by `--demo`.
    pub demo: DemoConfig,
    /// The Immich tools offered over MCP.
    pub tools: ToolsConfig,
}

/// `[server]`: sockets, threads and request limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Addresses to listen on (`host:port`). Changing them needs a restart or upgrade.
    pub listen: Vec<String>,
    /// Addresses to serve HTTPS on (HTTP/1.1 and HTTP/2 by ALPN), beside `listen`; they need
    /// `tls_cert_file` and `tls_key_file`. Changing them needs a restart or upgrade.
    pub tls_listen: Vec<String>,
    /// An address (`host:port`) that serves only `/health`, `/health/streaming`, `/ready` and
    /// `/metrics` (the Kubernetes convention); those paths on the main listeners then go to Immich
    /// like any other. Absent: they are served on the main listeners. Changing it needs a restart.
    pub admin_listen: Option<String>,
    /// Where the gateway's own paths start on the main listeners: empty (`/mcp`, `/exports/…`,
    /// `/health`, …) or a path such as `/gateway` (`/gateway/mcp`, …), for an Immich that uses
    /// one of those paths itself. Everything outside them goes to Immich. RFC 9728 metadata stays
    /// at `/.well-known/oauth-protected-resource`.
    pub path_prefix: String,
    /// The PEM certificate chain served on `tls_listen`, leaf first. Re-read on every reload, and
    /// a change of its content triggers one: a renewed certificate is served without a restart.
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1); re-read like the chain.
    pub tls_key_file: Option<PathBuf>,
    /// Worker threads; absent means one per CPU core. Changing it needs a restart or upgrade.
    pub threads: Option<usize>,
    /// Accept HTTP/2 over cleartext (prior knowledge) beside HTTP/1.1 on the same port.
    pub h2c: bool,
    /// Longest accepted request line (method, target, version); longer gets 431.
    pub max_request_line: Size,
    /// Largest accepted total of request header names and values; larger gets 431.
    pub max_header_bytes: Size,
    /// Largest request body proxied to `/api` (uploads); larger gets 413.
    pub max_body_size: Size,
    /// A request's head (request line and headers) must arrive whole within this long of its first
    /// byte; a slower one (a slowloris) is cut.
    pub request_header_timeout: Dur,
    /// How long an idle connection is kept open for its next request (the streaming guide: 120 s).
    pub keepalive_timeout: Dur,
    /// Longest wait for each read of any request body (an upload on a poor mobile connection
    /// pauses; Immich's reverse-proxy guide gives 600 s).
    pub body_idle_timeout: Dur,
    /// A request body for the gateway's own endpoints (MCP) must arrive whole within this long.
    pub body_timeout: Dur,
    /// A request body proxied to `/api` (an upload) must arrive whole within this long.
    pub upload_timeout: Dur,
    /// A WebSocket whose client sends nothing (not even a pong to the gateway's pings) for this
    /// long is closed; one proxied to Immich also when Immich sends nothing for the shorter of
    /// this and `[immich] read_timeout` (which also bounds the wait for Immich's 101).
    pub websocket_idle_timeout: Dur,
    /// Connections open at once, all clients together; past it the longest-idle keep-alive
    /// connection is closed to make room, or the new one is refused with 503. Held below the
    /// process's file-descriptor limit.
    pub max_connections: usize,
    /// Connections open at once from one client address (0: no limit). Behind a load balancer
    /// every connection comes from its address: raise it or set 0 there.
    pub max_connections_per_client: usize,
    /// How often the config file is checked for changes (also catches ConfigMap symlink swaps).
    pub config_poll_interval: Dur,
    /// On SIGTERM, how long in-flight requests have before the runtimes stop; open streams end at
    /// once with an error event carrying a resume token, and need a moment to send it.
    pub grace_period: Dur,
    /// After the grace period, how long in-flight requests may take before the process exits.
    pub graceful_shutdown_timeout: Dur,
    /// Unix socket used to hand listeners to a new binary on zero-downtime upgrade (`-u`).
    pub upgrade_sock: String,
    /// PID file written in daemon mode (`-d`).
    pub pid_file: String,
}

impl ServerConfig {
    /// Every listen address: plain (`listen`), HTTPS (`tls_listen`) and admin (`admin_listen`).
    pub fn listeners(&self) -> impl Iterator<Item = &String> {
        self.keyed_listeners().map(|(_, addr)| addr)
    }

    /// Every listen address with the key that names it.
    pub fn keyed_listeners(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let listen = self.listen.iter().map(|a| ("server.listen", a));
        let tls = self.tls_listen.iter().map(|a| ("server.tls_listen", a));
        listen.chain(tls).chain(self.admin_listen.iter().map(|a| ("server.admin_listen", a)))
    }

    /// The ports of every listener.
    pub fn ports(&self) -> Vec<u16> {
        self.listeners().filter_map(|addr| port_of(addr)).collect()
    }
}

/// The port of a `host:port` listen address (`0.0.0.0:8080`, `[::]:8443`, `localhost:80`).
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec!["127.0.0.1:8080".into()],
            tls_listen: Vec::new(),
            admin_listen: None,
            path_prefix: String::new(),
            tls_cert_file: None,
            tls_key_file: None,
            threads: None,
            h2c: true,
            max_request_line: Size::kib(8),
            max_header_bytes: Size::kib(64),
            max_body_size: Size::gib(4),
            request_header_timeout: Dur::secs(10),
            keepalive_timeout: Dur::secs(120),
            body_idle_timeout: Dur::secs(600),
            body_timeout: Dur::secs(30),
            upload_timeout: Dur::secs(600),
            websocket_idle_timeout: Dur::secs(120),
            max_connections: 10_000,
            max_connections_per_client: 512,
            config_poll_interval: Dur::secs(2),
            grace_period: Dur::secs(2),
            graceful_shutdown_timeout: Dur::secs(10),
            upgrade_sock: "/tmp/immich-mcp-gateway-upgrade.sock".into(),
            pid_file: "/tmp/immich-mcp-gateway.pid".into(),
        }
    }
}

/// `[immich]`: the upstream Immich server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImmichConfig {
    /// Immich's base URL, without `/api` (e.g. `http://immich-server:2283`).
    pub base_url: BaseUrl,
    /// The Immich API key the gateway uses in `inject` mode. Prefer `api_key_file`.
    pub api_key: Option<String>,
    /// A file holding the Immich API key (e.g. a mounted Kubernetes Secret); re-read on reload.
    pub api_key_file: Option<PathBuf>,
    /// Time allowed to open a TCP (and TLS) connection to Immich.
    pub connect_timeout: Dur,
    /// Longest wait for each read of Immich's answer to a request proxied to it (`/api`, the web
    /// app; Immich's reverse-proxy guide gives 600 s); a stalled answer ends with 504. The
    /// gateway's own calls (tools) are bounded by `request_timeout` instead.
    pub read_timeout: Dur,
    /// Longest wait for each write to Immich (Immich's guide: 600 s).
    pub write_timeout: Dur,
    /// How long an idle pooled connection to Immich is kept. Below Immich's own keep-alive
    /// timeout (Node's default, 5 s), so the gateway drops an idle connection before Immich
    /// closes it rather than sending a request into one Immich is closing.
    pub idle_timeout: Dur,
    /// Idle keep-alive connections kept per upstream. Changing it needs a restart or upgrade.
    pub pool_size: usize,
    /// Verify Immich's TLS certificate when `base_url` is https.
    pub verify_tls: bool,
    /// Longest a single REST call of the gateway's own (a tool's call) may take, retries included.
    pub request_timeout: Dur,
    /// Attempts for idempotent calls (reads) that fail with a timeout, a reset or a 5xx.
    pub retry_attempts: u32,
    /// Wait before the first retry; later waits grow by `retry_multiplier`, with full jitter.
    pub retry_initial_backoff: Dur,
    /// Longest wait between retries.
    pub retry_max_backoff: Dur,
    /// Growth of the wait between retries.
    pub retry_multiplier: f64,
    /// Where people open Immich's web app (e.g. `https://photos.example.com`), for the `webUrl` of
    /// photos and the address of shared links; unset, the gateway's own public address (it serves
    /// the web app too).
    pub public_url: Option<String>,
}

impl Default for ImmichConfig {
    fn default() -> Self {
        ImmichConfig {
            base_url: BaseUrl::parse("http://127.0.0.1:2283").expect("a valid URL"),
            api_key: None,
            api_key_file: None,
            connect_timeout: Dur::secs(5),
            read_timeout: Dur::secs(600),
            write_timeout: Dur::secs(600),
            idle_timeout: Dur::secs(4),
            pool_size: 128,
            verify_tls: true,
            request_timeout: Dur::secs(30),
            retry_attempts: 3,
            public_url: None,
            retry_initial_backoff: Dur::ms(100),
            retry_max_backoff: Dur::secs(2),
            retry_multiplier: 2.0,
        }
    }
}

/// Which transport a stream uses when the client does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Server-Sent Events.
    Sse,
    /// Chunked NDJSON.
    Chunked,
    /// WebSocket.
    Websocket,
}

/// `[streaming]`: the streaming guide's streaming keys, with its defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingConfig {
    /// Stream large results at all.
    pub enabled: bool,
    /// Results with more items than this are streamed instead of paged.
    pub auto_stream_threshold: usize,
    /// Items per streamed chunk.
    pub chunk_size: usize,
    /// A partial chunk is sent after this long even if not full.
    pub flush_interval: Dur,
    /// Longest a stream may run: a `queryPhotos` stream then ends with `success: false`, code
    /// `STREAM_TIMEOUT` and a cursor that continues it; an `/api` re-framing stream with a
    /// `STREAM_TIMEOUT` error event.
    pub stream_timeout: Dur,
    /// A stream with nothing to send for this long ends with a retryable `IDLE_TIMEOUT` error
    /// event: a tool stream whose call sends nothing (keep-alive comments do not count), an `/api`
    /// re-framing stream whose Immich response sends no byte.
    pub idle_timeout: Dur,
    /// Bytes held by all streams (tool streams' queues, `/api` chunks being written) above which
    /// tool-stream producers (and so their Immich reads) pause. `/api` streams are paused by their
    /// own client's writes instead.
    pub high_water_mark: Size,
    /// Bytes queued by all tool streams below which paused producers resume.
    pub low_water_mark: Size,
    /// Bytes held by all streams at which new streams are refused (`/api` answers 503, queryPhotos
    /// pages instead).
    pub max_buffer_size: Size,
    /// Transport used when the client does not choose one.
    pub preferred_transport: Transport,
    /// Compress streams when the client accepts it.
    pub enable_compression: bool,
    /// Streams one client (its gateway key, or its IP address without one) may have open at once;
    /// beyond it `/api` answers 503 with `Retry-After` and large tool results page instead.
    pub max_concurrent_streams: usize,
    /// Streams open at once across the gateway, all clients together.
    pub max_total_streams: usize,
    /// Bytes one tool stream may have queued for its client before its producer waits.
    pub stream_buffer_size: Size,
    /// A tool stream whose client has not taken an event for this long ends with a retryable
    /// `BACKPRESSURE_TIMEOUT` error event carrying a resume token; an `/api` re-framing stream's
    /// connection is closed (its client reads nothing, so no event could reach it).
    pub backpressure_timeout: Dur,
    /// How long a stream's resume token (and its SSE event ids) can resume it, on any replica.
    pub resume_token_ttl: Dur,
    /// `/mcp/stream` sends a `:heartbeat` comment after this long without an event.
    pub heartbeat_interval: Dur,
    /// Bodies smaller than this are not compressed (streams, of unknown size, always are).
    pub compression_min_size: Size,
    /// gzip level (1 fastest … 9 smallest).
    pub gzip_level: i32,
    /// zstd level (1 fastest … 19).
    pub zstd_level: i32,
    /// brotli level (0 fastest … 11).
    pub brotli_level: i32,
    /// `/api` routes whose JSON is re-framed into SSE or NDJSON when the client asks
    /// (`Accept: text/event-stream` / `application/x-ndjson`, or `?stream=sse|ndjson`); `*` ends a
    /// prefix.
    pub rewrite_routes: Vec<String>,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            enabled: true,
            auto_stream_threshold: 500,
            chunk_size: 100,
            flush_interval: Dur::ms(100),
            stream_timeout: Dur::secs(300),
            idle_timeout: Dur::secs(30),
            high_water_mark: Size::mib(10),
            low_water_mark: Size::mib(5),
            max_buffer_size: Size::mib(50),
            preferred_transport: Transport::Sse,
            enable_compression: true,
            max_concurrent_streams: 100,
            max_total_streams: 1000,
            stream_buffer_size: Size::kib(64),
            backpressure_timeout: Dur::secs(30),
            resume_token_ttl: Dur::secs(3600),
            heartbeat_interval: Dur::secs(30),
            compression_min_size: Size::kib(1),
            gzip_level: 1,
            zstd_level: 1,
            brotli_level: 1,
            rewrite_routes: vec![
                "/api/map/markers".into(),
                "/api/search/*".into(),
                "/api/timeline/*".into(),
                "/api/albums".into(),
                "/api/people".into(),
            ],
        }
    }
}

/// How `/mcp` answers a request that may take time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    /// SSE when the call may emit progress, logs or server requests; JSON otherwise.
    Auto,
    /// Always one JSON object (no progress is visible to the client).
    Json,
    /// Always an SSE stream.
    Sse,
}

/// `[mcp]`: the MCP endpoint at `/mcp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Serve MCP at `/mcp`.
    pub enabled: bool,
    /// Refuse the browser welcome page (GET `/mcp` answers 405).
    pub strict: bool,
    /// Keep per-session counters (requests, errors, time: logged when a session ends, and behind
    /// the active-sessions gauge); the transport document's `ANALYTICS_MODE`.
    pub analytics: bool,
    /// Largest JSON-RPC request body.
    pub max_body_size: Size,
    /// Most messages in one JSON-RPC batch (protocol 2025-03-26); more gets -32600.
    pub max_batch_size: usize,
    /// Most bytes of results in one batch's answer; later requests of the batch get a short error
    /// asking for them on their own.
    pub max_batch_response_size: Size,
    /// Lifetime of a session id.
    pub session_ttl: Dur,
    /// Secret (≥ 32 bytes) signing session ids; replicas sharing it serve each other's sessions.
    /// Absent: a random per-process secret (sessions then live on one replica only).
    pub session_secret: Option<String>,
    /// A file holding the session secret (e.g. a Kubernetes Secret); re-read on reload.
    pub session_secret_file: Option<PathBuf>,
    /// Earlier secrets still accepted for verification, for rotation without logging anyone out.
    pub previous_session_secrets: Vec<String>,
    /// `auto`, `json` or `sse`: how tool calls are answered.
    pub response_mode: ResponseMode,
    /// Serve the GET standalone SSE stream (false: GET answers 405).
    pub get_stream: bool,
    /// Comment lines sent on idle SSE streams so proxies keep them open.
    pub sse_keepalive: Dur,
    /// The `retry:` hint (reconnect delay) sent in the SSE priming event.
    pub sse_retry: Dur,
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Allowed `Origin` values (scheme://host[:port]); empty: loopback origins only.
    pub allowed_origins: Vec<String>,
    /// Allowed `Host` names (port ignored); empty: loopback names when bound to loopback,
    /// anything otherwise.
    pub allowed_hosts: Vec<String>,
    /// Origins that may call `/mcp` from a browser (CORS); `"*"` allows any.
    pub cors_origins: Vec<String>,
    /// RFC 9728 metadata: authorization servers that issue tokens for this resource.
    pub authorization_servers: Vec<String>,
    /// RFC 9728 metadata: scopes this resource understands.
    pub scopes_supported: Vec<String>,
    /// The gateway's public base URL, used in `resource_metadata` links; absent: taken from
    /// the request's Host.
    pub public_url: Option<String>,
    /// Test-only: expose the conformance-suite fixtures. Never enable in production.
    pub conformance_fixtures: bool,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            enabled: true,
            strict: false,
            analytics: true,
            max_body_size: Size::mib(4),
            max_batch_size: 50,
            max_batch_response_size: Size::mib(16),
            session_ttl: Dur::secs(24 * 3600),
            session_secret: None,
            session_secret_file: None,
            previous_session_secrets: Vec::new(),
            response_mode: ResponseMode::Auto,
            get_stream: true,
            sse_keepalive: Dur::secs(15),
            sse_retry: Dur::secs(1),
            page_size: 50,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            public_url: None,
            conformance_fixtures: false,
        }
    }
}

/// How client credentials relate to Immich credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The client's `x-api-key` / `Authorization` go to Immich unchanged.
    Passthrough,
    /// Clients present gateway keys; the gateway sends its own Immich key.
    Inject,
    /// Clients present the gateway's OAuth access tokens, got by their person signing in with
    /// their Immich account; each acts with an Immich key made for it at sign-in.
    #[serde(rename = "oauth")]
    OAuth,
    /// Clients present JWTs from an external identity provider (`[jwt]`); a claim names the
    /// person, and `[[jwt.users]]` the Immich key they act with.
    Jwt,
}

/// `[auth]`: client authentication.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `passthrough`, `inject`, `oauth` or `jwt`.
    pub mode: AuthMode,
    /// Gateway keys accepted in `inject` mode.
    pub keys: Vec<GatewayKey>,
    /// In `inject` mode, let Immich's own apps through the front door: a request to `/api` with
    /// no valid gateway key goes to Immich as it came, so the web and mobile apps sign in to
    /// Immich and act as their person (Immich judges their session or key; the gateway's key is
    /// never used for them). A gateway key is still swapped for its Immich key; MCP and export
    /// links still need one. Off: `/api` needs a gateway key too.
    pub immich_apps: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { mode: AuthMode::Passthrough, keys: Vec::new(), immich_apps: false }
    }
}

/// One gateway API key, stored as a hash (`immich-mcp-gateway --hash-key` prints one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayKey {
    /// A label for logs and metrics (never the key itself).
    pub name: String,
    /// `sha256:<64 hex digits>` of the key.
    pub hash: KeyHash,
    /// The Immich key this client's calls use; absent means `[immich].api_key`.
    #[serde(default)]
    pub immich_api_key: Option<String>,
    /// A file holding that Immich key.
    #[serde(default)]
    pub immich_api_key_file: Option<PathBuf>,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[telemetry]`: logs and metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing directive); `RUST_LOG` wins.
    pub log_level: LogFilter,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at `/metrics`.
    pub metrics: bool,
    /// Log one line per request.
    pub access_log: bool,
    /// Export OpenTelemetry traces over OTLP/HTTP (JSON) to this collector (`http://host:4318`;
    /// the gateway posts to `/v1/traces`): one span per request, a child per call to Immich.
    /// Absent: no traces. Changing it needs a restart.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_level: LogFilter::default(),
            log_format: LogFormat::Text,
            metrics: true,
            access_log: true,
            otlp_endpoint: None,
        }
    }
}

/// A group of Immich tools offered together (`[tools] toolsets`), so a model's tool list holds
/// only what it is there for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toolset {
    /// Finding and reading: search, photos, albums, people, tags, timeline, map, memories, text,
    /// statistics, exports.
    Core,
    /// Changing the library without removing photos: albums, tags, photo details.
    Organize,
    /// Partners and shared links (public links to albums and photos).
    Sharing,
    /// Large files, duplicates and the trash (moves photos to the trash; `emptyTrash` deletes).
    Cleanup,
    /// Every tool.
    All,
}

/// `[tools]`: which Immich tools MCP clients see and their limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// The toolsets offered (`core` and `organize` by default: nothing that removes photos or
    /// makes public links unless asked for).
    pub toolsets: Vec<Toolset>,
    /// Offer only tools that read (hides every tool that writes).
    pub read_only: bool,
    /// When non-empty, offer only these tools (whatever their toolset).
    pub enabled: Vec<String>,
    /// Never offer these tools.
    pub disabled: Vec<String>,
    /// Tools the Immich key lacks permissions for: hidden (`true`) or listed with a note that they
    /// are unavailable (`false`).
    pub hide_unavailable: bool,
    /// Results per page when a call gives no `limit`.
    pub default_limit: usize,
    /// Most photos `analyzePhotos` looks at in one call.
    pub analyze_max_photos: usize,
    /// Largest thumbnail or preview fetched for image content.
    pub max_image_bytes: Size,
}

impl ToolsConfig {
    /// Whether `toolset` is offered.
    pub fn offers(&self, toolset: Toolset) -> bool {
        self.toolsets.iter().any(|t| *t == toolset || *t == Toolset::All)
    }

    /// Whether the tool `name` of `toolset` is offered (whatever the Immich key allows):
    /// `enabled` when set, else its toolset; never when `disabled`, nor when it writes and
    /// `read_only` is on.
    pub fn offers_tool(&self, name: &str, toolset: Toolset, writes: bool) -> bool {
        let chosen = match self.enabled.is_empty() {
            true => self.offers(toolset),
            false => self.enabled.iter().any(|n| n == name),
        };
        chosen && !self.disabled.iter().any(|n| n == name) && !(self.read_only && writes)
    }
}

impl Default for ToolsConfig {
    fn default() -> Self {
        ToolsConfig {
            toolsets: vec![Toolset::Core, Toolset::Organize],
            read_only: false,
            enabled: Vec::new(),
            disabled: Vec::new(),
            hide_unavailable: true,
            default_limit: 50,
            analyze_max_photos: 20,
            max_image_bytes: Size::mib(2),
        }
    }
}

/// `[demo]`: the embedded synthetic Immich (`--demo`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Number of synthetic assets (generated lazily: a million costs no more memory).
    pub assets: u64,
    /// Faults injected on every demo response: e.g. `"slow=2s"`, `"status=503"`, `"reset"`,
    /// `"truncate"`. Empty for none. The `x-demo-fault` request header does the same per request.
    pub fault: FaultSpec,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig { assets: 10_000, fault: FaultSpec::default() }
    }
}

impl Config {
    /// Checks what types alone cannot: positive sizes, ordered water marks, parseable URLs.
    /// Each problem is returned with the dotted key it concerns.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                problems.push((key.to_string(), message));
            }
        };
        let s = &self.server;
        check(!s.listen.is_empty(), "server.listen", "at least one listen address is required".into());
        for (key, addr) in s.keyed_listeners() {
            check(port_of(addr).is_some(), key, format!("{addr:?} is not host:port"));
        }
        if let Some(admin) = &s.admin_listen {
            let shared = s.listen.iter().chain(&s.tls_listen).any(|a| a == admin);
            check(
                !shared,
                "server.admin_listen",
                format!("{admin:?} is also a main listener: give the admin port its own"),
            );
        }
        let prefix = &s.path_prefix;
        let prefix_ok = prefix.is_empty()
            || (prefix.starts_with('/')
                && !prefix.ends_with('/')
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
                && !prefix.split('/').any(|segment| segment == "." || segment == "..")
                && prefix != "/api"
                && !prefix.starts_with("/api/"));
        check(
            prefix_ok,
            "server.path_prefix",
            format!("{prefix:?} must be empty or a path like \"/gateway\" (no trailing slash, not under /api)"),
        );
        let tls_files = s.tls_cert_file.is_some() && s.tls_key_file.is_some();
        check(
            s.tls_listen.is_empty() || tls_files,
            "server.tls_listen",
            "HTTPS needs both tls_cert_file and tls_key_file".into(),
        );
        check(
            !s.tls_listen.is_empty() || (s.tls_cert_file.is_none() && s.tls_key_file.is_none()),
            "server.tls_cert_file",
            "tls_cert_file or tls_key_file is set but tls_listen is empty, so nothing would use it".into(),
        );
        check(s.threads != Some(0), "server.threads", "must be at least 1 (omit it for one per core)".into());
        for (key, size) in [
            ("server.max_request_line", s.max_request_line),
            ("server.max_header_bytes", s.max_header_bytes),
            ("server.max_body_size", s.max_body_size),
        ] {
            check(size.0 > 0, key, "must be greater than zero".into());
        }
        check(
            s.max_header_bytes.0 < 1_048_575,
            "server.max_header_bytes",
            "must be below 1MiB (Pingora's own header limit)".into(),
        );
        check(!s.config_poll_interval.0.is_zero(), "server.config_poll_interval", "must be greater than zero".into());
        for (key, d) in [
            ("server.request_header_timeout", s.request_header_timeout),
            ("server.keepalive_timeout", s.keepalive_timeout),
            ("server.body_idle_timeout", s.body_idle_timeout),
            ("server.body_timeout", s.body_timeout),
            ("server.upload_timeout", s.upload_timeout),
            ("server.websocket_idle_timeout", s.websocket_idle_timeout),
        ] {
            check(!d.0.is_zero(), key, "must be greater than zero".into());
        }
        check(s.max_connections >= 16, "server.max_connections", "must be at least 16".into());

        let i = &self.immich;
        for (key, d) in [
            ("immich.connect_timeout", i.connect_timeout),
            ("immich.read_timeout", i.read_timeout),
            ("immich.write_timeout", i.write_timeout),
            ("immich.idle_timeout", i.idle_timeout),
        ] {
            check(!d.0.is_zero(), key, "must be greater than zero".into());
        }
        check(i.pool_size > 0, "immich.pool_size", "must be at least 1".into());
        if let Some(endpoint) = &self.telemetry.otlp_endpoint {
            check(
                endpoint.starts_with("http://") || endpoint.starts_with("https://"),
                "telemetry.otlp_endpoint",
                format!("{endpoint:?} must be an http:// or https:// URL of an OTLP/HTTP collector"),
            );
        }
        check(!i.request_timeout.0.is_zero(), "immich.request_timeout", "must be greater than zero".into());
        check(i.retry_attempts >= 1, "immich.retry_attempts", "must be at least 1 (1 means no retry)".into());
        check(i.retry_multiplier >= 1.0, "immich.retry_multiplier", "must be at least 1.0".into());
        check(
            i.retry_initial_backoff <= i.retry_max_backoff,
            "immich.retry_initial_backoff",
            "must not exceed retry_max_backoff".into(),
        );
        let t = &self.tools;
        check(t.default_limit > 0, "tools.default_limit", "must be at least 1".into());
        check(t.analyze_max_photos > 0, "tools.analyze_max_photos", "must be at least 1".into());
        check(t.max_image_bytes.0 > 0, "tools.max_image_bytes", "must be greater than zero".into());
        check(
            !(i.api_key.is_some() && i.api_key_file.is_some()),
            "immich.api_key",
            "set api_key or api_key_file, not both".into(),
        );

        let st = &self.streaming;
        check(st.auto_stream_threshold > 0, "streaming.auto_stream_threshold", "must be at least 1".into());
        check(st.chunk_size > 0, "streaming.chunk_size", "must be at least 1".into());
        check(st.max_concurrent_streams > 0, "streaming.max_concurrent_streams", "must be at least 1".into());
        check(st.max_total_streams > 0, "streaming.max_total_streams", "must be at least 1".into());
        for (key, d) in [
            ("streaming.flush_interval", st.flush_interval),
            ("streaming.stream_timeout", st.stream_timeout),
            ("streaming.idle_timeout", st.idle_timeout),
            ("streaming.resume_token_ttl", st.resume_token_ttl),
            ("streaming.backpressure_timeout", st.backpressure_timeout),
            ("streaming.heartbeat_interval", st.heartbeat_interval),
        ] {
            check(!d.0.is_zero(), key, "must be greater than zero".into());
        }
        for (key, size) in [
            ("streaming.high_water_mark", st.high_water_mark),
            ("streaming.low_water_mark", st.low_water_mark),
            ("streaming.max_buffer_size", st.max_buffer_size),
            ("streaming.stream_buffer_size", st.stream_buffer_size),
        ] {
            check(size.0 > 0, key, "must be greater than zero".into());
        }
        check(
            st.low_water_mark < st.high_water_mark,
            "streaming.low_water_mark",
            format!("must be below high_water_mark ({})", st.high_water_mark),
        );
        check(
            st.high_water_mark <= st.max_buffer_size,
            "streaming.high_water_mark",
            format!("must not exceed max_buffer_size ({})", st.max_buffer_size),
        );

        check((1..=9).contains(&st.gzip_level), "streaming.gzip_level", "must be 1 to 9".into());
        check((1..=19).contains(&st.zstd_level), "streaming.zstd_level", "must be 1 to 19".into());
        check((0..=11).contains(&st.brotli_level), "streaming.brotli_level", "must be 0 to 11".into());
        check(self.mcp.max_body_size.0 > 0, "mcp.max_body_size", "must be greater than zero".into());
        check(
            !self.mcp.conformance_fixtures || cfg!(feature = "conformance-fixtures"),
            "mcp.conformance_fixtures",
            "this build has no conformance fixtures (built without the `conformance-fixtures` feature)".into(),
        );
        check(self.mcp.page_size > 0, "mcp.page_size", "must be at least 1".into());
        check(self.mcp.max_batch_size > 0, "mcp.max_batch_size", "must be at least 1".into());
        check(
            self.mcp.max_batch_response_size.0 > 0,
            "mcp.max_batch_response_size",
            "must be greater than zero".into(),
        );
        check(!self.mcp.sse_keepalive.0.is_zero(), "mcp.sse_keepalive", "must be greater than zero".into());
        for secret in self.mcp.session_secret.iter().chain(&self.mcp.previous_session_secrets) {
            check(secret.len() >= 32, "mcp.session_secret", "session secrets must be at least 32 bytes".into());
        }
        check(
            !(self.mcp.session_secret.is_some() && self.mcp.session_secret_file.is_some()),
            "mcp.session_secret",
            "set session_secret or session_secret_file, not both".into(),
        );
        check(!self.mcp.session_ttl.0.is_zero(), "mcp.session_ttl", "must be greater than zero".into());

        for (n, key) in self.auth.keys.iter().enumerate() {
            check(!key.name.is_empty(), &format!("auth.keys[{n}].name"), "must not be empty".into());
        }
        check(
            self.auth.mode != AuthMode::Inject || !self.auth.keys.is_empty(),
            "auth.keys",
            "inject mode needs at least one [[auth.keys]] entry, or every request is refused".into(),
        );

        let web = self.immich.public_url.as_deref();
        check(
            web.is_none_or(|u| {
                (u.starts_with("https://") || u.starts_with("http://")) && u.parse::<http::Uri>().is_ok()
            }),
            "immich.public_url",
            "must be an http(s) URL, e.g. \"https://photos.example.com\"".into(),
        );
        let public_url = self.mcp.public_url.as_deref().unwrap_or("");
        check(
            self.auth.mode != AuthMode::OAuth
                || (public_url.starts_with("https://") || public_url.starts_with("http://"))
                    && public_url.parse::<http::Uri>().is_ok(),
            "mcp.public_url",
            "oauth mode needs the gateway's public URL (e.g. \"https://photos.example.com\"): it is the \
             token issuer and audience, the same on every replica"
                .into(),
        );

        check(self.demo.assets > 0, "demo.assets", "must be at least 1".into());
        self.oauth.validate(&mut problems);
        if self.auth.mode == AuthMode::Jwt {
            self.jwt.validate(&self.jwt_issuer(), &self.jwt_audience(), &mut problems);
        }
        self.rate_limits.validate(&mut problems);
        problems
    }

    /// The issuer `jwt` mode checks: `[jwt] issuer`, else the first of `[mcp] authorization_servers`.
    pub fn jwt_issuer(&self) -> String {
        match self.jwt.issuer.as_str() {
            "" => self.mcp.authorization_servers.first().cloned().unwrap_or_default(),
            issuer => issuer.to_string(),
        }
    }

    /// `[mcp] public_url` with the path prefix: the OAuth issuer; empty when no public URL is set.
    pub fn public_base(&self) -> String {
        let base = self.mcp.public_url.as_deref().unwrap_or_default().trim_end_matches('/');
        format!("{base}{}", self.server.path_prefix)
    }

    /// The MCP endpoint at the public URL: the resource (RFC 8707) tokens are for; `None` without
    /// a public URL.
    pub fn public_mcp_url(&self) -> Option<String> {
        self.mcp.public_url.as_ref().map(|_| format!("{}/mcp", self.public_base()))
    }

    /// The audience `jwt` mode checks: `[jwt] audience`, else the gateway's MCP URL.
    pub fn jwt_audience(&self) -> String {
        match self.jwt.audience.as_str() {
            "" => self.public_mcp_url().unwrap_or_default(),
            audience => audience.to_string(),
        }
    }

    /// Every file the configuration names and reads on each load (keys, secrets, certificates):
    /// a change of their content reloads the configuration, as a change of the file itself does.
    pub fn named_files(&self) -> Vec<&std::path::Path> {
        let keys = self.auth.keys.iter().filter_map(|k| k.immich_api_key_file.as_deref());
        let keys = keys.chain(self.jwt.users.iter().filter_map(|u| u.immich_api_key_file.as_deref()));
        [
            self.immich.api_key_file.as_deref(),
            self.mcp.session_secret_file.as_deref(),
            self.server.tls_cert_file.as_deref(),
            self.server.tls_key_file.as_deref(),
        ]
        .into_iter()
        .flatten()
        .chain(keys)
        .collect()
    }

    /// The keys whose change only takes effect after a restart or a zero-downtime upgrade.
    pub fn restart_only_changes(&self, newer: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.server.listen != newer.server.listen {
            changed.push("server.listen");
        }
        if self.server.tls_listen != newer.server.tls_listen {
            changed.push("server.tls_listen");
        }
        if self.server.admin_listen != newer.server.admin_listen {
            changed.push("server.admin_listen");
        }
        if self.server.threads != newer.server.threads {
            changed.push("server.threads");
        }
        if self.server.h2c != newer.server.h2c {
            changed.push("server.h2c");
        }
        if self.server.upgrade_sock != newer.server.upgrade_sock {
            changed.push("server.upgrade_sock");
        }
        if self.server.grace_period != newer.server.grace_period
            || self.server.graceful_shutdown_timeout != newer.server.graceful_shutdown_timeout
        {
            changed.push("server.grace_period / graceful_shutdown_timeout");
        }
        if self.immich.pool_size != newer.immich.pool_size {
            changed.push("immich.pool_size");
        }
        if self.telemetry.otlp_endpoint != newer.telemetry.otlp_endpoint {
            changed.push("telemetry.otlp_endpoint");
        }
        if self.telemetry.log_format != newer.telemetry.log_format {
            changed.push("telemetry.log_format");
        }
        if self.demo != newer.demo {
            changed.push("demo");
        }
        changed
    }
}
