//! WebSockets to Immich through the gateway, with the real components: a socket.io server (the
//! library Immich's live updates use) as the upstream, and the real `socket.io-client` as the web
//! app connects, and headless Chromium loading a page through the gateway that goes live. Events
//! pass both ways, the connection is counted, a graceful shutdown closes it and the client
//! reconnects to the next process; a quiet upgrade is timed out and a refused one gets Immich's
//! answer.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A Node process whose stdout is one JSON object per line.
struct NodeScript {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
}

impl NodeScript {
    fn start(script: &str, args: &[&str]) -> NodeScript {
        let mut child = Command::new(common::require_node())
            .arg(common::clients_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line)
                    && tx.send(value).is_err()
                {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        NodeScript { child, stdin, lines }
    }

    /// The next line with `"event": event` (or, for the server, any line), within 15 s.
    fn expect(&self, event: Option<&str>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no {event:?} within 15 s"));
            if event.is_none_or(|e| line["event"] == e) {
                return line;
            }
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{command}").unwrap();
    }
}

impl Drop for NodeScript {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The socket.io stand-in for Immich, and its port.
fn immich() -> (NodeScript, u16) {
    let server = NodeScript::start("socketio_server.mjs", &[]);
    let port = server.expect(None)["port"].as_u64().unwrap() as u16;
    (server, port)
}

/// A gateway on `port` in front of the socket.io server at `immich`.
fn gateway(dir: &std::path::Path, port: u16, immich: u16, extra: &str) -> Child {
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nupgrade_sock = \"{}\"\ngrace_period = \"1s\"\ngraceful_shutdown_timeout = \"2s\"\n{extra}\
             [immich]\nbase_url = \"http://127.0.0.1:{immich}\"\n",
            dir.join("upgrade.sock").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_gateway(&format!("http://127.0.0.1:{port}"), "/health");
    child
}

/// `gateway_websocket_connections{route="api"}` now.
fn open_websockets(base: &str) -> String {
    common::metric(base, "gateway_websocket_connections{route=\"api\"}").map(|v| v.to_string()).unwrap_or_default()
}

#[test]
fn socket_io_live_updates_pass_through_and_reconnect_after_a_restart() {
    let (_immich, immich_port) = immich();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = gateway(dir.path(), port, immich_port, "");

    let mut client = NodeScript::start("socketio_client.mjs", &[&base]);
    client.expect(Some("connected"));
    assert_eq!(client.expect(Some("server_version"))["version"]["connection"], 1, "Immich's event reached the client");
    client.send("echo hello through the gateway");
    assert_eq!(client.expect(Some("echo"))["payload"], "hello through the gateway");
    assert_eq!(open_websockets(&base), "1");

    // A graceful shutdown closes the WebSocket; the client reconnects to the next process.
    let stopping = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap().success());
    client.expect(Some("disconnected"));
    let closed_after = stopping.elapsed();
    let _ = first.wait();
    let mut second = gateway(dir.path(), port, immich_port, "");
    client.expect(Some("connected"));
    assert_eq!(client.expect(Some("server_version"))["version"]["connection"], 2);
    client.send("echo again");
    assert_eq!(client.expect(Some("echo"))["payload"], "again");
    assert!(closed_after < Duration::from_secs(4), "closed {closed_after:?} after SIGTERM");

    client.send("quit");
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_websockets(&base) != "0" {
        assert!(Instant::now() < deadline, "the closed WebSocket is still counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = second.kill();
    let _ = second.wait();
}

/// Opens a WebSocket upgrade to socket.io through the gateway; the raw stream and the head.
fn upgrade(base: &str, query: &str) -> (std::net::TcpStream, String) {
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "GET /api/socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the connection closed inside the head");
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

#[test]
fn a_quiet_websocket_is_closed_after_the_idle_timeout_and_a_refused_upgrade_gets_immichs_answer() {
    let (_immich, immich_port) = immich();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut gw = gateway(dir.path(), port, immich_port, "websocket_idle_timeout = \"1s\"\n");

    let (mut stream, head) = upgrade(&base, "EIO=4&transport=websocket");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // socket.io's open packet arrives; then nobody speaks (its next ping is 25 s away).
    let opened = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let quiet_for = opened.elapsed();
    assert!(String::from_utf8_lossy(&rest).contains("pingInterval"), "the open packet came through");
    assert!(
        quiet_for >= Duration::from_millis(900) && quiet_for < Duration::from_secs(5),
        "closed after {quiet_for:?}"
    );

    // An upgrade socket.io refuses (a transport it does not know) gets its answer.
    let (mut refused, head) = upgrade(&base, "EIO=4&transport=carrier-pigeon");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let mut body = Vec::new();
    let _ = refused.read_to_end(&mut body);
    assert!(String::from_utf8_lossy(&body).contains("Transport unknown"), "{}", String::from_utf8_lossy(&body));
    let _ = gw.kill();
    let _ = gw.wait();
}

/// Headless Chromium, run on `url` with `args`; its standard output.
fn chromium(args: &[&str], url: &str) -> String {
    let output = Command::new("chromium")
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"])
        .args(args)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium (Debian: chromium; ./test installs it)");
    assert!(output.status.success(), "chromium failed on {url}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_browser_page_goes_live_through_the_gateway() {
    // The stand-in's page (as Immich's web app does) loads the socket.io client and connects over
    // a WebSocket; what arrives is written into the page.
    let (_immich, immich_port) = immich();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut gw = gateway(dir.path(), port, immich_port, "");
    // Chromium dumps the page once its virtual time budget is spent, which a busy machine can
    // reach before the echo's round trip is back: a page caught half-way is loaded again.
    let live = |dom: &str| {
        dom.contains("<p id=\"status\">live: Immich 3.1.0</p>")
            && dom.contains("<p id=\"echo\">echo: from the browser</p>")
    };
    let mut dom = String::new();
    for _ in 0..3 {
        dom = chromium(&["--dump-dom"], &format!("{base}/"));
        if live(&dom) {
            break;
        }
    }
    assert!(live(&dom), "the page never went live: {dom}");
    // The screenshot is kept as an artifact of the test run.
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("front-door-live-updates.png");
    chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=800,300"], &format!("{base}/"));
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "no screenshot at {}", shot.display());
    let _ = gw.kill();
    let _ = gw.wait();
}
