//! The fault matrix (issue 20 point 4): every way Immich can fail, against every surface the
//! gateway serves, with the outcome a client sees — and after each, the gateway back to its
//! baseline of tasks and file descriptors, its RSS bounded.
//!
//! The expected outcomes are the table in `docs/faults.md`: this test reads it, so the table is
//! what the gateway does. Rows are faults (the demo Immich's injected faults, plus a refused
//! connection, a server that accepts and never answers, and a name that does not resolve);
//! columns are surfaces.

mod common;

use common::{ADMIN, Gateway, client, sse::SseReader};
use immich_mcp_gateway::demo::{self, Fault};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The surfaces, in the order of the table's columns.
const SURFACES: [&str; 9] = [
    "/api passthrough",
    "/api re-framed",
    "tool call",
    "streamed tool call",
    "export download",
    "resources/read",
    "bulk stream",
    "MCP WebSocket",
    "/api WebSocket upgrade",
];

/// The session secret every gateway here shares, so an export link minted by the healthy one is
/// served by a faulty one (as any replica serves it).
const SECRET: &str = "fault-matrix-secret-0123456789abcdef";

/// The gateway's upstream limits for the matrix: short, so a silent Immich costs seconds.
const LIMITS: &str = "connect_timeout = \"1s\"\nread_timeout = \"2s\"\nrequest_timeout = \"2s\"\n\
    retry_attempts = 2\nretry_initial_backoff = \"10ms\"\nidle_timeout = \"200ms\"\n";

fn gateway_for(base_url: &str) -> Gateway {
    Gateway::start(
        &format!(
            "[server]\nthreads = 1\n[immich]\nbase_url = \"{base_url}\"\napi_key = \"{ADMIN}\"\n{LIMITS}\
             [mcp]\nsession_secret = \"{SECRET}\"\n[streaming]\nstream_timeout = \"20s\"\n"
        ),
        &[],
    )
}

/// What the healthy side hands the faulty gateways: an export link's path, a photo id and the
/// demo library they share (every demo of 1,000 photos has the same ids).
struct Minted {
    export_path: String,
    photo_id: String,
}

async fn mint(healthy: &Gateway) -> Minted {
    let mcp = common::mcp::Mcp::connect(healthy, None).await;
    let found = mcp.ok("queryPhotos", json!({ "limit": 3 })).await;
    let ids: Vec<&str> = found["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    let export = mcp.ok("exportPhotos", json!({ "ids": ids })).await;
    let url = export["archives"][0]["url"].as_str().unwrap();
    Minted { export_path: url.trim_start_matches(&healthy.url).to_string(), photo_id: ids[0].to_string() }
}

/// A server that accepts connections and never reads or answers them.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// The rows: a fault's name in the table and Immich's base URL with it.
fn faults() -> Vec<(&'static str, String)> {
    let demo_with = |spec: &str| format!("http://{}", demo::spawn(1_000, Fault::parse(spec).unwrap()));
    vec![
        ("none", demo_with("")),
        ("slow (300 ms)", demo_with("slow=300ms")),
        ("stall (5 s mid-body)", demo_with("stall=5s")),
        ("reset", demo_with("reset")),
        ("truncate", demo_with("truncate")),
        ("cut", demo_with("cut")),
        ("503", demo_with("status=503")),
        ("refused", format!("http://127.0.0.1:{}", common::closed_port())),
        ("silent", format!("http://{}", silent_server())),
        ("unresolvable", "http://immich.invalid:2283".to_string()),
    ]
}

/// An HTTP answer: its status, and whether its body ended short.
async fn http_outcome(response: reqwest::Result<reqwest::Response>) -> String {
    match response {
        Err(_) => "no answer".into(),
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => status.to_string(),
                Err(_) => format!("{status}, body cut"),
            }
        }
    }
}

/// An SSE answer: its status, and the last event that is not data or progress.
async fn sse_ending(response: reqwest::Result<reqwest::Response>) -> String {
    match response {
        Err(_) => "no answer".into(),
        Ok(r) if r.status() != 200 => http_outcome(Ok(r)).await,
        Ok(r) => match r.text().await {
            Err(_) => "200, body cut".into(),
            Ok(text) => {
                let events = common::sse_events(&text);
                let ending = events.iter().rev().map(|(n, _)| n.as_str()).find(|n| *n != "progress" && *n != "data");
                format!("200, ends `{}`", ending.unwrap_or("nothing"))
            }
        },
    }
}

/// What an error message says, in one word of the table's legend.
fn cause(message: &str) -> &'static str {
    if message.contains("did not answer in time") {
        "timeout"
    } else if message.contains("unreachable") {
        "unreachable"
    } else if message.contains("unreadable") {
        "unreadable"
    } else if message.contains("HTTP 503") {
        "Immich's 503"
    } else {
        "other"
    }
}

/// A JSON-RPC answer as one phrase: `result`, `isError (<cause>)` or `<code> (<cause>)`.
fn tool_outcome(message: &Value) -> String {
    if let Some(error) = message.get("error") {
        return format!("{} ({})", error["code"], cause(error["message"].as_str().unwrap_or("")));
    }
    let result = &message["result"];
    match result["isError"] == true {
        true => format!("isError ({})", cause(result["content"][0]["text"].as_str().unwrap_or(""))),
        false => "result".into(),
    }
}

/// How many of the 600 photos asked for a stream delivered.
fn share(photos: usize) -> &'static str {
    match photos {
        0 => "no photos",
        600 => "600 photos",
        _ => "some photos",
    }
}

/// The outcome of `surface` on `gw`.
async fn run(surface: &str, gw: &Gateway, minted: &Minted) -> String {
    let c = client();
    match surface {
        "/api passthrough" => http_outcome(c.get(gw.at("/api/albums")).header("x-api-key", ADMIN).send().await).await,
        "/api re-framed" => {
            let response = c
                .get(gw.at("/api/map/markers"))
                .header("x-api-key", ADMIN)
                .header("accept", "text/event-stream")
                .send();
            sse_ending(response.await).await
        }
        "tool call" => {
            let response = common::sse::stateless_call(&c, &gw.at("/mcp"), "queryPhotos", json!({ "limit": 5 }));
            match response.send().await {
                Err(_) => "no answer".into(),
                Ok(r) => match r.json::<Value>().await {
                    Ok(message) => tool_outcome(&message),
                    Err(_) => "unreadable answer".into(),
                },
            }
        }
        "streamed tool call" => {
            let call = common::sse::stateless_call(&c, &gw.at("/mcp"), "queryPhotos", json!({ "limit": 600 }));
            let response = match call.header("accept", "text/event-stream").send().await {
                Err(_) => return "no answer".into(),
                Ok(r) if r.status() != 200 => return http_outcome(Ok(r)).await,
                Ok(r) => r,
            };
            let messages = SseReader::new(response).read(|m| m.get("id").is_some()).await;
            let messages: Vec<Value> = messages.into_iter().map(|(_, m)| m).collect();
            let photos = common::streamed_items(&messages).len();
            match messages.last().filter(|m| m.get("id").is_some()) {
                Some(last) => format!("{}, {}", share(photos), tool_outcome(last)),
                None => format!("{}, then the stream ends", share(photos)),
            }
        }
        "export download" => http_outcome(c.get(gw.at(&minted.export_path)).send().await).await,
        "resources/read" => {
            let mcp = common::mcp::Mcp::connect(gw, None).await;
            let reply =
                mcp.rpc("resources/read", json!({ "uri": format!("immich://asset/{}", minted.photo_id) })).await;
            match reply["result"]["contents"].is_array() {
                true => "contents".into(),
                false => tool_outcome(&reply),
            }
        }
        "bulk stream" => {
            let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": "queryPhotos", "arguments": { "limit": 600 } } });
            let response = c.post(gw.at("/mcp/stream")).header("accept", "text/event-stream").json(&body).send().await;
            sse_ending(response).await
        }
        "MCP WebSocket" => {
            let url = gw.at("/mcp/ws").replace("http://", "ws://");
            tokio::task::spawn_blocking(move || websocket_call(&url)).await.unwrap()
        }
        "/api WebSocket upgrade" => {
            let addr = gw.url.trim_start_matches("http://").to_string();
            tokio::task::spawn_blocking(move || upgrade_status(&addr)).await.unwrap()
        }
        other => panic!("unknown surface {other}"),
    }
}

/// One `queryPhotos` over the MCP WebSocket.
fn websocket_call(url: &str) -> String {
    use tungstenite::client::IntoClientRequest;
    let request = url.into_client_request().unwrap();
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let Ok((mut socket, _)) = tungstenite::client(request, stream) else { return "handshake refused".into() };
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": 5 } } });
    socket.send(tungstenite::Message::text(call.to_string())).unwrap();
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                if message["id"] == 1 {
                    let _ = socket.close(None);
                    return tool_outcome(&message);
                }
            }
            Ok(_) => continue,
            Err(_) => return "connection closed".into(),
        }
    }
}

/// The status line of a socket.io WebSocket upgrade through the gateway to Immich.
fn upgrade_status(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = "GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-api-key: demo-admin-key\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return "connection closed".into(),
        }
    }
    String::from_utf8_lossy(&head).split_whitespace().nth(1).unwrap_or("?").to_string()
}

/// The gateway's live tasks (one worker thread: all its request tasks) and open descriptors.
fn footprint(gw: &Gateway) -> (u64, usize) {
    let (_, _, body) = common::raw_get(&gw.url, "/health/streaming").unwrap();
    let health: Value = serde_json::from_slice(&body).unwrap();
    let fds = std::fs::read_dir(format!("/proc/{}/fd", gw.pid())).unwrap().count();
    (health["runtimeTasks"].as_u64().unwrap(), fds)
}

/// Waits (10 s at most) until the gateway is back to `baseline` (or below it: a connection open
/// at the baseline, such as a pooled one to Immich, may have closed since); the footprint it
/// settled at.
async fn settle(gw: &Gateway, baseline: (u64, usize)) -> (u64, usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = footprint(gw);
        if (now.0 <= baseline.0 && now.1 <= baseline.1) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One row: every surface against the gateway in front of `base_url`.
async fn row(name: &str, base_url: &str, minted: &Minted) -> (Vec<String>, Vec<String>) {
    let gw = gateway_for(base_url);
    // Warm up what every request touches once (allocator arenas, lazy statics).
    let _ = client().get(gw.at("/health")).send().await;
    // The smallest footprint over half a second: nothing transient (a connection of the start-up)
    // counts in the baseline.
    let mut baseline = footprint(&gw);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = footprint(&gw);
        baseline = (baseline.0.min(now.0), baseline.1.min(now.1));
    }
    let rss_before = common::rss_kib(gw.pid());
    let mut outcomes = Vec::new();
    let mut leaks = Vec::new();
    for surface in SURFACES {
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(30), run(surface, &gw, minted))
            .await
            .unwrap_or_else(|_| "no outcome in 30 s".into());
        eprintln!("{name} × {surface}: {outcome} ({:.1} s)", started.elapsed().as_secs_f64());
        outcomes.push(outcome);
        let after = settle(&gw, baseline).await;
        if after.0 > baseline.0 || after.1 > baseline.1 {
            leaks.push(format!("{name} × {surface}: tasks, fds {after:?}, baseline {baseline:?}"));
        }
    }
    let grown = common::rss_kib(gw.pid()).saturating_sub(rss_before);
    if grown > 16 * 1024 {
        leaks.push(format!("{name}: RSS grew {grown} KB over the row"));
    }
    (outcomes, leaks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_against_every_surface() {
    let healthy_demo = format!("http://{}", demo::spawn(1_000, Fault::default()));
    let healthy = gateway_for(&healthy_demo);
    let minted = mint(&healthy).await;
    let rows = faults();
    let results = futures::future::join_all(rows.iter().map(|(name, url)| row(name, url, &minted))).await;
    let mut table = String::new();
    let mut leaks = Vec::new();
    for ((name, _), (outcomes, row_leaks)) in rows.iter().zip(results) {
        table.push_str(&format!("| {name} | {} |\n", outcomes.join(" | ")));
        leaks.extend(row_leaks);
    }
    let documented = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/faults.md")).unwrap();
    let differing: Vec<&str> = table.lines().filter(|line| !documented.lines().any(|d| d == *line)).collect();
    assert!(
        differing.is_empty(),
        "docs/faults.md does not say what the gateway does; these rows differ:\n{}\nthe whole table:\n{table}",
        differing.join("\n")
    );
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
