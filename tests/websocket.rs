//! WebSocket at `/mcp/ws` (the streaming guide's `wscat` example) against the real binary on the demo Immich:
//! a bare streamed `tools/call`, several calls at once, ping/pong, cancellation, refusals.

mod common;

use common::{Gateway, streamed_items};
use immich_mcp_gateway::config::KeyHash;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<TcpStream>;

/// An inject-mode gateway whose one client key is the streaming guide's `your-key`, on a demo Immich of
/// `assets` photos.
fn gateway_with(extra: &str, assets: &str) -> Gateway {
    let config = format!(
        "[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"guide\"\nhash = \"{}\"\n{extra}",
        KeyHash::of("your-key")
    );
    Gateway::start(&config, &["--demo", "--demo-assets", assets])
}

fn gateway(extra: &str) -> Gateway {
    gateway_with(extra, "10000")
}

fn connect(gw: &Gateway, key: &str) -> Result<Socket, tungstenite::Error> {
    let url = gw.at("/mcp/ws").replace("http://", "ws://");
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert("x-api-key", key.parse().unwrap());
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (socket, response) = tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
    })?;
    assert_eq!(response.status(), 101);
    Ok(socket)
}

fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).unwrap();
}

/// The next JSON-RPC message (pings are answered by tungstenite while reading).
fn next(socket: &mut Socket) -> Value {
    loop {
        match socket.read().expect("a message within 20 s") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Messages until the response to `id`.
fn until_response(socket: &mut Socket, id: u64) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let message = next(socket);
        let done = message["id"] == id && message.get("method").is_none();
        seen.push(message);
        if done {
            return seen;
        }
    }
}

fn query(id: u64, limit: u64) -> Value {
    json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "queryPhotos", "arguments": {"limit": limit}}, "id": id})
}

/// A gateway on a demo of 200,000 photos (far more than socket buffers hold, so a call is still
/// running when the test acts, however fast the machine), a connection, and on it call `id` asking
/// for a million photos, once its first data notification (returned) has arrived.
fn long_call(id: u64) -> (Gateway, Socket, Value) {
    let gw = gateway_with("", "200000");
    let mut socket = connect(&gw, "your-key").unwrap();
    send(&mut socket, query(id, 1_000_000));
    loop {
        let message = next(&mut socket);
        if message["method"] == "notifications/stream/data" {
            return (gw, socket, message);
        }
    }
}

#[test]
fn seed_wscat_example_streams_a_bare_tools_call() {
    let gw = gateway("");
    let mut socket = connect(&gw, "your-key").unwrap();
    // The streaming guide: wscat -c ws://localhost:8080/mcp/ws -H "X-API-Key: your-key" -x '<this>'
    send(&mut socket, query(1, 1000));
    let messages = until_response(&mut socket, 1);
    let data: Vec<&Value> = messages.iter().filter(|m| m["method"] == "notifications/stream/data").collect();
    assert_eq!(streamed_items(&messages).len(), 1000, "every photo once, in data notifications");
    let sequence: Vec<u64> = data.iter().map(|d| d["params"]["sequenceNumber"].as_u64().unwrap()).collect();
    assert_eq!(sequence, (1..=data.len() as u64).collect::<Vec<_>>());
    let result = &messages.last().unwrap()["result"];
    assert_eq!(result["structuredContent"]["count"], 1000);
    assert_eq!(result["isError"], false);
    socket.close(None).unwrap();
    // The streaming guide's metrics name the transport.
    assert!(websocket_bytes(&gw) > 100_000.0);
}

#[test]
fn seed_wscat_command_works_as_written() {
    let node = common::require_node();
    let gw = gateway("");
    let url = gw.at("/mcp/ws").replace("http://", "ws://");
    // The streaming guide's command, with only the address changed (and a wait long enough for the stream).
    // wscat stops at the end of its standard input, so the test holds it open.
    let mut wscat = std::process::Command::new(node)
        .arg(common::clients_dir().join("node_modules/wscat/bin/wscat"))
        .args(["-c", &url, "-H", "X-API-Key: your-key", "-w", "4"])
        .args(["-x", r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"queryPhotos","arguments":{"limit":1000}},"id":1}"#])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let _stdin = wscat.stdin.take();
    let output = wscat.wait_with_output().unwrap();
    assert!(output.status.success());
    let messages: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(streamed_items(&messages).len(), 1000);
    assert_eq!(messages.last().unwrap()["result"]["structuredContent"]["count"], 1000);
}

#[test]
fn calls_run_side_by_side_and_initialize_and_lists_work() {
    let gw = gateway("");
    let mut socket = connect(&gw, "your-key").unwrap();
    send(
        &mut socket,
        json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let init = next(&mut socket);
    assert_eq!(init["id"], 7);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    send(&mut socket, query(2, 3000));
    send(&mut socket, json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}));
    let mut responses = Vec::new();
    let mut items = 0;
    while responses.len() < 2 {
        let message = next(&mut socket);
        if message["method"] == "notifications/stream/data" {
            items += message["params"]["items"].as_array().unwrap().len();
        } else if message.get("id").is_some() {
            responses.push(message);
        }
    }
    // The list answers while the long call still streams.
    assert_eq!(responses[0]["id"], 3, "{responses:?}");
    assert!(!responses[0]["result"]["tools"].as_array().unwrap().is_empty());
    assert_eq!((responses[1]["id"].clone(), items), (json!(2), 3000));
    send(&mut socket, json!({"jsonrpc": "2.0", "id": 4, "method": "nope", "params": {}}));
    assert_eq!(next(&mut socket)["error"]["code"], -32601);
    socket.send(Message::text("{not json")).unwrap();
    assert_eq!(next(&mut socket)["error"]["code"], -32700);
    // An id a JSON library would rewrite comes back as written.
    socket.send(Message::text(r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#)).unwrap();
    let echoed = loop {
        match socket.read().unwrap() {
            Message::Text(text) => break text.as_str().to_string(),
            _ => continue,
        }
    };
    assert!(echoed.contains(r#""id":-0"#), "{echoed}");
}

#[test]
fn cancelled_call_stops_without_a_response() {
    let (_gw, mut socket, _) = long_call(5);
    send(&mut socket, json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}));
    send(&mut socket, json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}));
    // Data already queued may still arrive; then the ping's answer, and never a response to 5.
    let messages = until_response(&mut socket, 6);
    let answered: Vec<&Value> = messages.iter().filter(|m| m["id"] == 5).collect();
    assert!(answered.is_empty(), "a cancelled request gets no response: {answered:?}");
    socket.get_ref().set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let quiet_since = Instant::now();
    let mut after = 0;
    while let Ok(message) = socket.read() {
        if let Message::Text(text) = message {
            let m: Value = serde_json::from_str(text.as_str()).unwrap();
            assert_ne!(m["id"], 5);
            after += 1;
        }
        assert!(quiet_since.elapsed() < Duration::from_secs(5), "the cancelled stream keeps going");
    }
    assert!(after <= 40, "{after} messages after the cancel");
}

#[test]
fn shutdown_closes_with_going_away_after_resumable_data() {
    let (gw, mut socket, first) = long_call(1);
    let mut last_token = first["params"]["resumeToken"].as_str().map(str::to_string);
    gw.signal("TERM");
    let frame = loop {
        match socket.read().expect("a close frame before the connection ends") {
            Message::Text(text) => {
                let m: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_ne!(m["id"], 1, "the call is cut short, not answered");
                if let Some(token) = m["params"]["resumeToken"].as_str() {
                    last_token = Some(token.to_string());
                }
            }
            Message::Close(frame) => break frame.expect("a close code"),
            _ => {}
        }
    };
    assert_eq!(u16::from(frame.code), 1001);
    assert!(frame.reason.as_str().contains("resumeToken"), "{frame:?}");
    assert!(last_token.is_some(), "data notifications carry resume tokens");
}

/// `streaming_bytes_sent_total{transport="websocket"}`: what the tools produced for WebSocket.
fn websocket_bytes(gw: &Gateway) -> f64 {
    common::metric(&gw.at(""), "streaming_bytes_sent_total{transport=\"websocket\"}").unwrap_or(0.0)
}

#[test]
fn a_client_that_stops_reading_pauses_its_call() {
    // 200,000 photos are ~50 MB of notifications; the client reads the first and then nothing.
    let (gw, mut socket, _) = long_call(1);
    std::thread::sleep(Duration::from_millis(1500));
    let paused = websocket_bytes(&gw);
    std::thread::sleep(Duration::from_millis(1000));
    let later = websocket_bytes(&gw);
    // Produced so far: what the kernel's socket buffers, the connection's channel and the
    // stream's own buffer hold — a few MB, not the result.
    assert!(paused < 16e6, "{paused} bytes produced for a client that does not read");
    assert!(later - paused < 100_000.0, "the call kept producing while its client did not read: {paused} then {later}");
    // Reading again resumes it.
    for _ in 0..200 {
        next(&mut socket);
    }
    assert!(websocket_bytes(&gw) > later);
}

#[test]
fn server_pings_at_the_heartbeat_interval() {
    let gw = gateway("[streaming]\nheartbeat_interval = \"300ms\"");
    let mut socket = connect(&gw, "your-key").unwrap();
    let started = Instant::now();
    let first = socket.read().unwrap();
    assert!(matches!(first, Message::Ping(_)), "{first:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // tungstenite queued the pong; the connection still serves calls.
    send(&mut socket, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(until_response(&mut socket, 1).last().unwrap()["result"], json!({}));
}

#[test]
fn refusals_are_clear() {
    let gw = gateway("");
    // A wrong key never upgrades.
    match connect(&gw, "wrong-key") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    // Binary frames get a JSON-RPC error; a message over 4 MiB closes the connection with 1009.
    let mut socket = connect(&gw, "your-key").unwrap();
    socket.send(Message::binary(b"{}".to_vec())).unwrap();
    assert_eq!(next(&mut socket)["error"]["code"], -32600);
    // Only the header of a 5 MiB text frame: the length alone is enough to refuse it.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(5u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    std::io::Write::write_all(socket.get_mut(), &header).unwrap();
    match socket.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Plain HTTP on the WebSocket path: 426 naming the upgrade.
    let request = "GET /mcp/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: your-key\r\nConnection: close\r\n\r\n";
    let (status, head, body) = common::raw_request(&gw.at(""), request.as_bytes()).unwrap();
    assert_eq!(status, 426);
    assert_eq!(common::header(&head, "upgrade").as_deref(), Some("websocket"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("WebSocket"), "{body}");
    // A key that is not 16 bytes of Base64: 400.
    let request = "GET /mcp/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: your-key\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n";
    let (status, _, body) = common::raw_request(&gw.at(""), request.as_bytes()).unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
}

/// Text that is not UTF-8 closes with 1007 (RFC 6455 §7.4.1), not 1002.
#[test]
fn invalid_utf8_closes_with_1007() {
    let gw = gateway("");
    let mut socket = connect(&gw, "your-key").unwrap();
    // A masked text frame holding 0xff 0xfe (never UTF-8), mask key 0.
    let frame = [0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe];
    std::io::Write::write_all(socket.get_mut(), &frame).unwrap();
    match socket.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1007),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// A client that sends nothing at all — not even a pong to the gateway's pings — is closed after
/// `[server] websocket_idle_timeout`; one that answers pings is not.
#[test]
fn a_silent_client_is_closed_after_the_idle_timeout() {
    let gw = gateway("[server]\nwebsocket_idle_timeout = \"600ms\"\n[streaming]\nheartbeat_interval = \"200ms\"\n");
    let mut socket = connect(&gw, "your-key").unwrap();
    // tungstenite answers the pings while this reads: the connection stays open past the timeout.
    let alive_until = Instant::now() + Duration::from_millis(1500);
    socket.get_mut().set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    while Instant::now() < alive_until {
        match socket.read() {
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a client answering pings stays connected: {other:?}"),
        }
    }
    // A raw socket that never answers: closed with 1001 and a reason.
    let url = gw.at("/mcp/ws").replace("http://", "ws://");
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("x-api-key", "your-key".parse().unwrap());
    let stream = TcpStream::connect(url.trim_start_matches("ws://").split('/').next().unwrap()).unwrap();
    let (silent, _) = tungstenite::client(request, stream).map_err(|_| ()).unwrap();
    let mut raw = silent.into_inner();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut all);
    assert!(started.elapsed() < Duration::from_secs(4), "closed at the idle timeout, not later");
    let close = all.windows(2).position(|w| w == [0x03, 0xe9]);
    assert!(close.is_some(), "a 1001 close frame: {all:?}");
    assert!(String::from_utf8_lossy(&all).contains("websocket_idle_timeout"));
}

/// A WebSocket connection is a stream: past the limits, the upgrade is refused with 503.
#[test]
fn connections_count_against_the_stream_limits() {
    let gw = gateway("[streaming]\nmax_concurrent_streams = 2\n");
    let first = connect(&gw, "your-key").unwrap();
    let second = connect(&gw, "your-key").unwrap();
    match connect(&gw, "your-key") {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    drop((first, second));
    std::thread::sleep(Duration::from_millis(300));
    assert!(connect(&gw, "your-key").is_ok(), "a slot frees when a connection closes");
}

/// RFC 6455 has a client wait for the 101 before sending frames; one that does not still has its
/// first message answered (the bytes behind the handshake are in the gateway's buffer when the
/// connection leaves Pingora).
#[test]
fn a_message_sent_behind_the_handshake_is_answered() {
    let gw = gateway("");
    let address = gw.at("").trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "GET /mcp/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-api-key: your-key\r\n\r\n"
    );
    let payload = br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    // One write: the head, then a masked text frame (mask key 0, so the payload is as sent).
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0]);
    bytes.extend_from_slice(payload);
    std::io::Write::write_all(&mut stream, &bytes).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = |seen: &[u8]| {
        let text = String::from_utf8_lossy(seen);
        text.contains(r#""id":7"#) && text.contains(r#""result":{}"#)
    };
    while !answered(&seen) {
        let n = std::io::Read::read(&mut stream, &mut buf)
            .unwrap_or_else(|e| panic!("the reply within 10 s: {e}; got {}", String::from_utf8_lossy(&seen)));
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&seen));
}

/// A client that takes no frame for `[streaming] backpressure_timeout` is let go, and its call
/// cancelled: it holds neither the connection nor the call's memory.
#[test]
fn a_client_that_takes_nothing_is_let_go_after_the_backpressure_timeout() {
    let gw = gateway_with("[streaming]\nbackpressure_timeout = \"1s\"\n", "200000");
    let mut socket = connect(&gw, "your-key").unwrap();
    send(&mut socket, query(1, 1_000_000));
    let open = |gw: &Gateway| common::metric(&gw.at(""), "gateway_websocket_connections{route=\"mcp\"}");
    assert_eq!(open(&gw), Some(1.0));
    // Reads nothing more: the socket buffers fill, then the gateway waits a second and gives up.
    let deadline = Instant::now() + Duration::from_secs(15);
    while open(&gw) != Some(0.0) {
        assert!(Instant::now() < deadline, "still open 15 s after its client stopped reading");
        std::thread::sleep(Duration::from_millis(200));
    }
}
