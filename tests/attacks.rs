//! What an attacker tried, kept as tests: each attack against the real binary on loopback, and
//! what the gateway must (not) do. The heavy ones (20,000 idle connections, 10,000 streams) are in
//! `bench/attack.sh`.

mod common;

use common::mcp::Mcp;
use common::{CaptureUpstream, Gateway};
use serde_json::{Value, json};

/// A valid value for an argument, from its schema (for the arguments an attack leaves alone).
fn filler(schema: &Value) -> Value {
    const ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("string") if schema["format"] == "uuid" => json!(ID),
        Some("string") => json!("x"),
        Some("integer") => schema["minimum"].as_i64().map_or(json!(1), |m| json!(m.max(1))),
        Some("number") => json!(0.5),
        Some("boolean") => json!(false),
        Some("array") if schema["items"]["format"] == "uuid" => json!([ID]),
        Some("array") => json!(["x"]),
        _ => json!({}),
    }
}

/// Ids an attacker puts where a tool expects one: dot segments (plain and encoded), slashes, a
/// query and a fragment, and the paths of other Immich endpoints.
const HOSTILE_IDS: &[&str] = &[
    "..",
    "%2e%2e",
    "a/b",
    "x?y=1",
    "x#frag",
    "../../api-keys",
    "../admin/users",
    "../../users/me?x=",
    "../../assets",
];

/// Arguments that may hold names or paths as well as ids: they must still never become a path.
const NAMES_OR_IDS: &[&str] = &["people", "tags"];

/// Every tool, with every id argument (alone, or as an item of a list) set to each hostile id:
/// the gateway refuses the call itself with "must be a UUID" and sends Immich nothing; names and
/// paths go only in request bodies. Immich (here a recorder that answers `{"ok":true}`) must never
/// see a path outside the tools' own endpoints.
#[tokio::test]
async fn no_tool_argument_reaches_an_immich_path() {
    let upstream = CaptureUpstream::start();
    let config = format!("[immich]\nbase_url = \"http://{}\"\n[tools]\nhide_unavailable = false\n", upstream.addr);
    let gw = Gateway::start(&config, &[]);
    // Passthrough: the caller's key is used, so no permission read hides any tool.
    let mcp = Mcp::connect(&gw, Some("any-immich-key")).await;
    let listed = mcp.rpc("tools/list", json!({})).await;
    let tools = listed["result"]["tools"].as_array().expect("tools").clone();
    assert!(tools.len() >= 21, "every tool is listed: {}", tools.len());
    let mut attacked = 0;
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        let properties = tool["inputSchema"]["properties"].as_object().unwrap();
        let required: Vec<&str> =
            tool["inputSchema"]["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        for (argument, schema) in properties {
            let is_id = schema["format"] == "uuid";
            let is_id_list = schema["items"]["format"] == "uuid";
            if !is_id && !is_id_list && !NAMES_OR_IDS.contains(&argument.as_str()) {
                continue;
            }
            for hostile in HOSTILE_IDS {
                let mut arguments = serde_json::Map::new();
                for r in &required {
                    arguments.insert(r.to_string(), filler(&properties[*r]));
                }
                let value = if schema["type"] == "array" { json!([hostile]) } else { json!(hostile) };
                arguments.insert(argument.clone(), value);
                let before = upstream.heads.lock().unwrap().len();
                let result = mcp.call(name, Value::Object(arguments)).await;
                let sent = upstream.heads.lock().unwrap()[before..].to_vec();
                if is_id || is_id_list {
                    assert_eq!(result["isError"], true, "{name}.{argument} = {hostile:?}: {result}");
                    let text = result["content"][0]["text"].as_str().unwrap_or_default();
                    assert!(text.contains("must be a UUID") || text.contains("must hold UUIDs"), "{name}: {text}");
                    assert!(sent.is_empty(), "{name}.{argument} = {hostile:?} reached Immich: {sent:?}");
                }
                attacked += 1;
            }
        }
    }
    assert!(attacked >= 20 * HOSTILE_IDS.len(), "attacked {attacked} arguments");
    let heads = upstream.heads.lock().unwrap().clone();
    for head in &heads {
        let line = head.lines().next().unwrap_or_default();
        let (method, target) = line.split_once(' ').unwrap_or_default();
        let path = target.split(' ').next().unwrap_or_default();
        let path_only = path.split('?').next().unwrap_or_default();
        assert!(path_only.starts_with("/api/"), "{line}");
        for bad in ["..", "%2e", "%2E", "#", "api-keys", "/admin", "/users/me"] {
            assert!(!path_only.contains(bad), "a hostile argument shaped this path: {line}");
        }
        assert!(!(method == "DELETE" && path_only == "/api/assets"), "a bulk delete went out: {line}");
    }
}

/// `immich://` resource URIs are ids in paths too.
#[tokio::test]
async fn resource_uris_cannot_reach_other_endpoints() {
    let upstream = CaptureUpstream::start();
    let gw = Gateway::start(&format!("[immich]\nbase_url = \"http://{}\"\n", upstream.addr), &[]);
    let mcp = Mcp::connect(&gw, Some("any-immich-key")).await;
    for uri in [
        "immich://asset/..",
        "immich://asset/../../api-keys",
        "immich://album/%2e%2e",
        "immich://asset/x?y=1/thumbnail",
        "immich://album/..#",
    ] {
        let reply = mcp.rpc("resources/read", json!({ "uri": uri })).await;
        assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("not found")), "{uri}: {reply}");
    }
    let heads = upstream.heads.lock().unwrap().clone();
    // The start-up probe pings Immich, and listing the tools reads the caller's key's permissions;
    // nothing else may reach it.
    let expected = |h: &String| h.starts_with("GET /api/server/ping ") || h.starts_with("GET /api/api-keys/me ");
    assert!(heads.iter().all(expected), "{heads:?}");
}

/// A request `method` on the stateless wire (2026-07-28), `params` given their `_meta`.
fn stateless(gw: &Gateway, method: &str, name: Option<&str>, mut params: Value) -> reqwest::RequestBuilder {
    params["_meta"] = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let request = common::client()
        .post(gw.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }));
    match name {
        Some(name) => request.header("mcp-name", name),
        None => request,
    }
}

/// A `tools/call` on the stateless wire with `headers` as the caller's credentials; its result.
async fn call_as(gw: &Gateway, headers: &[(&str, &str)], tool: &str, arguments: Value) -> Value {
    let mut request = stateless(gw, "tools/call", Some(tool), json!({ "name": tool, "arguments": arguments }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply: Value = request.send().await.unwrap().json().await.unwrap();
    reply["result"].clone()
}

/// Logs a demo user in through the gateway's `/api` and returns the session token.
async fn login(gw: &Gateway, email: &str, password: &str) -> String {
    let response = common::client()
        .post(gw.at("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["accessToken"].as_str().unwrap().to_string()
}

/// In passthrough mode a caller's own Immich credentials decide what its tools see — an API key,
/// a session token as a bearer token, the web app's cookie — and a caller who presented any is
/// never given the gateway's key (here the admin's, which the demo configures).
#[tokio::test]
async fn passthrough_callers_act_as_themselves() {
    let gw = Gateway::start("", &["--demo"]);
    let count = |result: &Value| result["structuredContent"]["count"].as_u64();
    let friend = login(&gw, "friend@demo.immich.test", "demo-friend-password").await;
    let admin = login(&gw, "admin@demo.immich.test", "demo-admin-password").await;
    let bearer = format!("Bearer {friend}");
    let as_friend = call_as(&gw, &[("authorization", &bearer)], "queryPhotos", json!({ "limit": 5 })).await;
    assert_eq!(count(&as_friend), Some(0), "the friend's own (empty) library: {as_friend}");
    let cookie = format!("theme=dark; immich_access_token={friend}");
    let by_cookie = call_as(&gw, &[("cookie", &cookie)], "queryPhotos", json!({ "limit": 5 })).await;
    assert_eq!(count(&by_cookie), Some(0), "the cookie is the friend's too: {by_cookie}");
    let admin_bearer = format!("Bearer {admin}");
    let as_admin = call_as(&gw, &[("authorization", &admin_bearer)], "queryPhotos", json!({ "limit": 5 })).await;
    assert_eq!(count(&as_admin), Some(5), "{as_admin}");
    let friend_key = call_as(&gw, &[("x-api-key", "demo-friend-key")], "listAlbums", json!({})).await;
    assert_eq!(friend_key["structuredContent"]["albums"], json!([]), "{friend_key}");
    // A credential Immich refuses is refused: no fallback to the gateway's key.
    let forged = call_as(&gw, &[("authorization", "Bearer not-a-session")], "queryPhotos", json!({})).await;
    assert_eq!(forged["isError"], true, "{forged}");
    assert!(forged["content"][0]["text"].as_str().unwrap().contains("Invalid user token"), "{forged}");
    // Without any credential, the gateway's configured key acts (a loopback sidecar's case).
    let anonymous = call_as(&gw, &[], "queryPhotos", json!({ "limit": 5 })).await;
    assert_eq!(count(&anonymous), Some(5), "{anonymous}");
}

/// In inject mode every credential carrier Immich reads is taken off a proxied request — headers,
/// the cookie, query parameters — and only the mapped key goes on.
#[tokio::test]
async fn inject_mode_forwards_no_credential_of_the_callers() {
    let upstream = CaptureUpstream::start();
    let config = format!(
        "[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"agent\"\nhash = \"{}\"\n[immich]\nbase_url = \"http://{}\"\napi_key = \"immich-secret\"\n",
        immich_mcp_gateway::config::KeyHash::of("gw-agent"),
        upstream.addr
    );
    let gw = Gateway::start(&config, &[]);
    let response = common::client()
        .get(gw.at("/api/assets/x/original?apiKey=a&key=share&sessionKey=s&slug=l&size=preview"))
        .header("x-api-key", "gw-agent")
        .header("authorization", "Bearer other-session")
        .header("cookie", "immich_access_token=other-cookie")
        .header("x-immich-user-token", "u")
        .header("x-immich-session-token", "s")
        .header("x-immich-share-key", "k")
        .header("x-immich-share-slug", "sl")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let heads = upstream.heads.lock().unwrap().clone();
    let head = heads.iter().find(|h| h.contains("/original")).expect("forwarded");
    assert!(head.starts_with("GET /api/assets/x/original?size=preview HTTP/1.1"), "{head}");
    assert_eq!(common::header(head, "x-api-key").as_deref(), Some("immich-secret"));
    for carrier in [
        "authorization",
        "cookie",
        "x-immich-user-token",
        "x-immich-session-token",
        "x-immich-share-key",
        "x-immich-share-slug",
    ] {
        assert_eq!(common::header(head, carrier), None, "{carrier} reached Immich: {head}");
    }
}

/// An export link downloads only for the caller that made it.
#[tokio::test]
async fn export_links_belong_to_their_maker() {
    let gw = Gateway::start("", &["--demo"]);
    let reader = Mcp::connect(&gw, Some(common::READONLY)).await;
    let ids: Vec<Value> = reader.ok("queryPhotos", json!({ "limit": 2 })).await["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    let export = reader.ok("exportPhotos", json!({ "ids": ids })).await;
    let url = export["archives"][0]["url"].as_str().unwrap().to_string();
    let c = common::client();
    let own = c.get(&url).header("x-api-key", common::READONLY).send().await.unwrap();
    assert_eq!(own.status(), 200, "the maker downloads it");
    let other = c.get(&url).header("x-api-key", common::ADMIN).send().await.unwrap();
    assert_eq!(other.status(), 403, "another key does not");
    let anonymous = c.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 403, "nor a caller with no credentials (who would act as the gateway)");
}

/// A session of protocol `version`; its id.
async fn session(gw: &Gateway, version: &str) -> String {
    let body = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "attacker", "version": "1" } } });
    let response = common::client()
        .post(gw.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    response.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

/// A 2025-03-26 batch holds at most `[mcp] max_batch_size` messages; a batch within it is
/// answered as one array, element by element.
#[tokio::test]
async fn batches_are_capped() {
    let gw = Gateway::start("[mcp]\nmax_batch_size = 10\n", &["--demo"]);
    let id = session(&gw, "2025-03-26").await;
    let batch =
        |n: usize| Value::Array((0..n).map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "tools/list" })).collect());
    let post = |body: Value| {
        common::client()
            .post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &id)
            .json(&body)
            .send()
    };
    // The attack: 8,000 tools/list in one body took RSS to 1.95 GB before there was a cap.
    let refused = post(batch(8000)).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600);
    assert!(body["error"]["message"].as_str().unwrap().contains("max_batch_size"), "{body}");
    let answered = post(batch(10)).await.unwrap();
    assert_eq!(answered.status(), 200);
    let replies: Vec<Value> = answered.json().await.unwrap();
    assert_eq!(replies.len(), 10);
    assert!(replies.iter().enumerate().all(|(i, r)| r["id"] == i && r["result"]["tools"].is_array()));
}

/// The answers of a batch stop at `[mcp] max_batch_response_size`: later requests get a short
/// error asking for them on their own, and the array stays valid JSON.
#[tokio::test]
async fn a_batchs_answer_is_bounded() {
    let gw = Gateway::start("[mcp]\nmax_batch_response_size = \"1KiB\"\n", &["--demo"]);
    let id = session(&gw, "2025-03-26").await;
    let batch: Vec<Value> = (0..5).map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "tools/list" })).collect();
    let replies: Vec<Value> = common::client()
        .post(gw.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &id)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(replies[0]["result"]["tools"].is_array(), "the first answer goes out whole");
    assert!(replies[1..].iter().all(|r| r["error"]["message"].as_str().is_some_and(|m| m.contains("on its own"))));
}

/// Long-lived streams count against the stream limits: standalone GET streams and
/// `subscriptions/listen` are refused with 503 past `max_concurrent_streams`.
#[tokio::test]
async fn notification_streams_count_against_the_limits() {
    let gw = Gateway::start("[streaming]\nmax_concurrent_streams = 2\n", &["--demo"]);
    let id = session(&gw, "2025-11-25").await;
    let get = || {
        common::client()
            .get(gw.at("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
    };
    let first = get().await.unwrap();
    let second = get().await.unwrap();
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = get().await.unwrap();
    assert_eq!(third.status(), 503);
    assert!(third.headers().contains_key("retry-after"));
    let notifications = json!({ "notifications": { "toolsListChanged": true } });
    let listen = stateless(&gw, "subscriptions/listen", None, notifications).send().await.unwrap();
    assert_eq!(listen.status(), 503, "subscriptions/listen is a stream too");
    drop((first, second));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(get().await.unwrap().status(), 200, "slots free when streams close");
}

/// HTTP edge cases: a body declared too large for `/mcp` is refused at once, before it is sent;
/// `Content-Length: 5, 5` reaches Immich as one header; lengths that disagree are refused; a
/// head with more headers than the gateway reads gets 431.
#[tokio::test]
async fn http_edge_cases_are_answered_clearly() {
    let gw = Gateway::start("", &["--demo"]);
    let huge = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 5000000000\r\n\r\n";
    let started = std::time::Instant::now();
    let (status, head, body) = common::raw_request(&gw.url, huge.as_bytes()).unwrap();
    assert_eq!(status, 413, "{head}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "answered without waiting for the body");
    assert!(String::from_utf8_lossy(&body).contains("larger than"));

    let upstream = CaptureUpstream::start();
    let proxy = Gateway::start(&format!("[immich]\nbase_url = \"http://{}\"\n", upstream.addr), &[]);
    let doubled = "POST /api/albums HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2, 2\r\n\r\n{}";
    let (status, _, _) = common::raw_request(&proxy.url, doubled.as_bytes()).unwrap();
    assert_eq!(status, 200);
    let heads = upstream.heads.lock().unwrap().clone();
    let head = heads.iter().find(|h| h.starts_with("POST /api/albums")).expect("forwarded");
    let lengths: Vec<&str> = head.lines().filter(|l| l.to_ascii_lowercase().starts_with("content-length:")).collect();
    assert_eq!(lengths.len(), 1, "{head}");
    assert_eq!(common::header(head, "content-length").as_deref(), Some("2"));
    let conflicting =
        "POST /api/albums HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    let (status, _, _) = common::raw_request(&proxy.url, conflicting.as_bytes()).unwrap();
    assert_eq!(status, 400);

    // More headers than the gateway reads: 431 with a message, not an empty 400.
    let mut crowded = String::from("GET /api/server/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    (0..300).for_each(|i| crowded.push_str(&format!("x-h{i}: v\r\n")));
    crowded.push_str("\r\n");
    let (status, head, body) = common::raw_request(&gw.url, crowded.as_bytes()).unwrap();
    assert_eq!(status, 431, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("header lines"));
    let (status, _, _) = common::raw_get(&gw.url, "/health").unwrap();
    assert_eq!(status, 200, "and the gateway goes on serving");
}

/// Reads from `stream` until the gateway closes it (or `limit` passes); what arrived, and when.
fn read_until_closed(stream: &mut std::net::TcpStream, limit: std::time::Duration) -> (Vec<u8>, std::time::Duration) {
    use std::io::Read;
    let started = std::time::Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return (all, started.elapsed()),
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn connect(gw: &Gateway) -> std::net::TcpStream {
    std::net::TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap()
}

/// A client that dribbles its request head (a slowloris) is cut at `request_header_timeout`;
/// one that says nothing, or nothing more after an answer, at `keepalive_timeout`.
#[test]
fn slow_and_idle_clients_are_cut_at_their_timeouts() {
    use std::io::Write;
    use std::time::Duration;
    let gw = Gateway::start("[server]\nrequest_header_timeout = \"1s\"\nkeepalive_timeout = \"2s\"\n", &["--demo"]);
    let mut slow = connect(&gw);
    let dribble = std::thread::spawn(move || {
        let head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        let started = std::time::Instant::now();
        for byte in head.iter().chain(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter()) {
            if slow.write_all(&[*byte]).is_err() {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Duration::MAX
    });
    let cut_after = dribble.join().unwrap();
    assert!(cut_after < Duration::from_millis(2500), "the slowloris was cut after {cut_after:?}");

    let mut silent = connect(&gw);
    let (_, closed_after) = read_until_closed(&mut silent, Duration::from_secs(10));
    assert!(closed_after >= Duration::from_millis(1500) && closed_after < Duration::from_secs(4), "{closed_after:?}");

    let mut idle = connect(&gw);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let (answer, closed_after) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed_after < Duration::from_secs(4), "an idle keep-alive connection closed after {closed_after:?}");

    // A connection in use is never cut: each wait for the next request has its own timeout (an
    // early build counted them all from the first).
    let mut busy = connect(&gw);
    busy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(5000) {
        busy.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut busy, &mut buf).unwrap();
        assert!(n > 0 && buf.starts_with(b"HTTP/1.1 200"), "closed after {:?} of steady use", started.elapsed());
        std::thread::sleep(Duration::from_millis(700));
    }
    let metrics = common::client();
    let text = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { metrics.get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap() });
    assert!(text.contains("gateway_connections_closed_total{reason=\"header_timeout\"} 1"), "{text}");
}

/// Connections are capped per client address and in all; an idle connection makes room for a new
/// one, and a client past its own cap gets a clean 503 while the gateway keeps serving others.
#[test]
fn connections_are_capped_and_idle_ones_make_room() {
    use std::io::Write;
    use std::time::Duration;
    let gw = Gateway::start("[server]\nmax_connections = 16\nmax_connections_per_client = 4\n", &["--demo"]);
    // Give the harness's own probe connection a moment to close.
    std::thread::sleep(Duration::from_millis(200));
    let held: Vec<_> = (0..4).map(|_| connect(&gw)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = connect(&gw);
    let (refusal, _) = read_until_closed(&mut fifth, Duration::from_secs(5));
    let refusal = String::from_utf8_lossy(&refusal);
    assert!(refusal.starts_with("HTTP/1.1 503") && refusal.contains("max_connections_per_client"), "{refusal}");
    assert!(refusal.contains("retry-after: 1"));
    // A refused client that had already sent its request, body and all, still reads the 503: the
    // gateway reads and discards what it sent before closing, so no reset overtakes the answer.
    let mut uploader = connect(&gw);
    let body = vec![b'x'; 32 * 1024];
    let head = format!("POST /api/assets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n", body.len());
    uploader.write_all(head.as_bytes()).unwrap();
    uploader.write_all(&body).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (refusal, _) = read_until_closed(&mut uploader, Duration::from_secs(5));
    let refusal = String::from_utf8_lossy(&refusal);
    assert!(refusal.starts_with("HTTP/1.1 503"), "the refusal was lost: {refusal:?}");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));

    // Over IPv4 and IPv6 loopback... one address here: raise the per-client cap to test the total.
    let gw = Gateway::start("[server]\nmax_connections = 16\nmax_connections_per_client = 0\n", &["--demo"]);
    std::thread::sleep(Duration::from_millis(200));
    let mut idle: Vec<_> = (0..16).map(|_| connect(&gw)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // The 17th gets in: the longest-idle connection closes to make room.
    let mut newcomer = connect(&gw);
    newcomer.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut newcomer, Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    let (evicted, _) = read_until_closed(&mut idle[0], Duration::from_secs(5));
    assert!(evicted.is_empty(), "the oldest idle connection was closed without a word");
}

/// A body that trickles in is cut: an MCP body at `body_timeout` (408), an `/api` upload at
/// `upload_timeout`.
#[test]
fn slow_bodies_are_cut() {
    use std::io::Write;
    use std::time::Duration;
    let gw = Gateway::start("[server]\nbody_timeout = \"1s\"\nupload_timeout = \"1s\"\n", &["--demo"]);
    let mut mcp = connect(&gw);
    mcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"").unwrap();
    let (answer, after) = read_until_closed(&mut mcp, Duration::from_secs(10));
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("body_timeout"), "{answer}");
    assert!(after < Duration::from_secs(3), "{after:?}");

    let mut upload = connect(&gw);
    upload
        .write_all(b"POST /api/assets HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: demo-admin-key\r\nContent-Length: 1000000\r\n\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut cut = false;
    for _ in 0..100 {
        if upload.write_all(&[b'x'; 100]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (answer, _) = read_until_closed(&mut upload, Duration::from_secs(10));
    let answer = String::from_utf8_lossy(&answer);
    assert!(cut || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(8), "the upload was cut at upload_timeout");
}

/// Two requests pipelined on one connection are both answered, in order (RFC 9112 §9.3.2).
#[test]
fn pipelined_requests_are_all_answered() {
    use std::io::Write;
    let gw = Gateway::start("", &["--demo"]);
    let mut stream = connect(&gw);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answers, _) = read_until_closed(&mut stream, std::time::Duration::from_secs(5));
    let answers = String::from_utf8_lossy(&answers);
    assert_eq!(answers.matches("HTTP/1.1 200").count(), 2, "{answers}");
    assert!(answers.contains("\"status\":\"healthy\"") && answers.contains("\"status\":\"ready\""), "{answers}");
}

/// At `trace`, where Pingora prints whole request heads, a full run leaves no secret in the log:
/// gateway keys, Immich keys, the session secret, bearer tokens, cookies, `x-immich-*` tokens and
/// credential query parameters.
#[tokio::test]
async fn no_secret_reaches_the_log_at_any_level() {
    const GATEWAY_KEY: &str = "gw-key-secret-0123456789";
    const SESSION_SECRET: &str = "session-secret-of-at-least-thirty-two-bytes";
    let config = format!(
        "[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"agent\"\nhash = \"{}\"\n[[auth.keys]]\nname = \"reader\"\nhash = \"{}\"\nimmich_api_key = \"{}\"\n[mcp]\nsession_secret = \"{SESSION_SECRET}\"\n",
        immich_mcp_gateway::config::KeyHash::of(GATEWAY_KEY),
        immich_mcp_gateway::config::KeyHash::of("gw-reader-secret-999"),
        common::READONLY,
    );
    let trace = [("RUST_LOG", "trace")];
    let inject = Gateway::start_with_env(&config, &["--demo"], &trace);
    let c = common::client();
    let carried = [
        ("cookie", "immich_access_token=cookie-secret-1234; theme=dark"),
        ("x-immich-user-token", "user-token-secret-5678"),
        ("x-immich-session-token", "session-token-secret-9012"),
        ("x-immich-share-key", "share-key-secret-3456"),
    ];
    let mut request = c
        .get(inject.at("/api/users/me?apiKey=query-key-secret-1&key=query-share-secret-2&sessionKey=query-session-secret-3&access_token=query-token-secret-4"))
        .header("x-api-key", GATEWAY_KEY);
    for (name, value) in carried {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    let reader = c.get(inject.at("/api/api-keys/me")).bearer_auth("gw-reader-secret-999").send().await.unwrap();
    assert_eq!(reader.status(), 200);
    let mcp = Mcp::connect(&inject, Some(GATEWAY_KEY)).await;
    let photos = mcp.ok("queryPhotos", json!({ "limit": 2 })).await;
    let ids: Vec<Value> = photos["photos"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
    let export = mcp.ok("exportPhotos", json!({ "ids": ids })).await;
    let link = export["archives"][0]["url"].as_str().unwrap();
    assert_eq!(c.get(link).header("x-api-key", GATEWAY_KEY).send().await.unwrap().status(), 200);

    let passthrough = Gateway::start_with_env("", &["--demo"], &trace);
    let token = login(&passthrough, "friend@demo.immich.test", "demo-friend-password").await;
    let bearer = format!("Bearer {token}");
    call_as(&passthrough, &[("authorization", &bearer)], "listAlbums", json!({})).await;
    let cookie = format!("immich_access_token={token}");
    call_as(&passthrough, &[("cookie", &cookie)], "listAlbums", json!({})).await;
    call_as(&passthrough, &[("x-api-key", "demo-friend-key")], "listAlbums", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let logs = [inject.log(), passthrough.log()];
    assert!(logs.iter().all(|l| l.contains("TRACE") && l.len() > 10_000), "trace logs were written");
    for secret in [
        GATEWAY_KEY,
        "gw-reader-secret-999",
        SESSION_SECRET,
        common::ADMIN,
        common::READONLY,
        "demo-friend-key",
        token.as_str(),
        "cookie-secret-1234",
        "user-token-secret-5678",
        "session-token-secret-9012",
        "share-key-secret-3456",
        "query-key-secret-1",
        "query-share-secret-2",
        "query-session-secret-3",
        "query-token-secret-4",
    ] {
        for log in &logs {
            let at = log.find(secret).map(|i| &log[i.saturating_sub(300)..(i + 100).min(log.len())]);
            assert!(at.is_none(), "{secret} is in the log: …{}…", at.unwrap_or_default());
        }
    }
}

/// Clients that ask for large streamed results and never read: past the stream caps their
/// answers (pages instead of streams) count against `max_buffer_size` like the streams, and once
/// it is full new ones are refused with a short error — memory stays bounded (the attack took RSS
/// from 74 to 793 MB with 1,000 such clients). Immich runs in this test's process, so the
/// gateway's memory is its own.
#[test]
fn answers_nobody_reads_stay_within_the_buffer_budget() {
    use std::io::Write;
    let immich = immich_mcp_gateway::demo::spawn(10_000, Default::default());
    let gw = Gateway::start(
        &format!(
            "[immich]\nbase_url = \"http://{immich}\"\napi_key = \"{}\"\n[streaming]\nmax_concurrent_streams = 2\nmax_total_streams = 2\nmax_buffer_size = \"4MiB\"\nhigh_water_mark = \"2MiB\"\nlow_water_mark = \"1MiB\"\n[server]\nmax_connections_per_client = 0\n",
            common::ADMIN
        ),
        &[],
    );
    let before = common::rss_kib(gw.pid());
    let clients: Vec<_> = (0..1000)
        .map(|_| {
            let mut stream = connect(&gw);
            stream.write_all(&common::streamed_query_request(10_000)).unwrap();
            stream
        })
        .collect();
    // Every call has been answered (or refused) by now; the answers wait on clients that never read.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let grown = common::rss_kib(gw.pid()).saturating_sub(before);
    let metrics = common::raw_get(&gw.url, "/metrics").unwrap();
    let metrics = String::from_utf8_lossy(&metrics.2);
    let refused: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("streaming_refused_total{reason=\"buffer_full\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    drop(clients);
    eprintln!("1000 clients that never read: RSS grew {grown} KiB; {refused} answers refused for the buffer budget");
    assert!(refused > 500.0, "past the budget, answers are refused: {refused}");
    assert!(grown < 192 * 1024, "RSS grew {grown} KiB");
}

/// A request's id comes back exactly as the client wrote it, even a number a JSON library would
/// rewrite (`-0`, past 64 bits, `1.0`), on a JSON answer, a batch and an SSE stream; a string that
/// looks like the gateway's own marking stays a string.
#[tokio::test]
async fn ids_are_echoed_exactly() {
    let gw = Gateway::start("", &["--demo"]);
    let id = session(&gw, "2025-03-26").await;
    let post = |body: String, accept: &'static str| {
        common::client()
            .post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", &id)
            .header("x-api-key", common::ADMIN)
            .body(body)
            .send()
    };
    for written in ["-0", "99999999999999999999999999", "1.0", "7", "\"\u{F8FF}raw-id-x:5\""] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{written},"method":"ping"}}"#);
        let text = post(body, "application/json, text/event-stream").await.unwrap().text().await.unwrap();
        assert!(text.contains(&format!(r#""id":{written}"#)), "{written}: {text}");

        let batch = format!(
            r#"[{{"jsonrpc":"2.0","id":{written},"method":"ping"}},{{"jsonrpc":"2.0","id":2,"method":"ping"}}]"#
        );
        let text = post(batch, "application/json, text/event-stream").await.unwrap().text().await.unwrap();
        assert!(text.contains(&format!(r#""id":{written}"#)), "batch {written}: {text}");

        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{written},"method":"tools/call","params":{{"name":"queryPhotos","arguments":{{"limit":3,"stream":true}}}}}}"#
        );
        let text = post(call, "text/event-stream, application/json").await.unwrap().text().await.unwrap();
        assert!(text.contains(&format!(r#""id":{written},"result""#)), "stream {written}: {text}");
    }
}

/// Cursors and resume tokens the gateway itself refuses are reported as bad arguments that say
/// what to do, never as something Immich rejected.
#[tokio::test]
async fn refused_cursors_are_the_gateways_own_errors() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    for (tool, arguments) in [
        ("queryPhotos", json!({ "cursor": "not-a-cursor" })),
        ("queryPhotos", json!({ "resumeToken": "not-a-token" })),
        ("getAlbum", json!({ "id": "00000000-0000-4000-8000-000000000001", "cursor": "eyJ4IjoxfQ" })),
        ("listPeople", json!({ "cursor": "people:zero" })),
    ] {
        let message = mcp.error(tool, arguments.clone()).await;
        assert!(message.starts_with("Invalid arguments"), "{tool} {arguments}: {message}");
        assert!(!message.contains("Immich"), "{tool} {arguments}: {message}");
    }
}

/// Found by bench/dribblers.sh: the HTTP/2-preface peek (24 bytes, straight from the socket)
/// escaped the head deadline, so a client dribbling a byte every 250 ms held its connection 6 s
/// past a 1 s `request_header_timeout` (24 s past 10 s at a byte a second) — GET and POST alike.
#[test]
fn a_head_dribbled_through_the_preface_peek_is_cut_at_the_head_timeout() {
    use std::io::Write;
    use std::time::Duration;
    let gw = Gateway::start("[server]\nrequest_header_timeout = \"1s\"\nkeepalive_timeout = \"30s\"\n", &["--demo"]);
    for head in [
        &b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaa"[..],
        &b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaa"[..],
    ] {
        let mut slow = connect(&gw);
        let started = std::time::Instant::now();
        let mut cut = None;
        for byte in head {
            if slow.write_all(&[*byte]).is_err() {
                cut = Some(started.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let cut = cut.unwrap_or_else(|| read_until_closed(&mut slow, Duration::from_secs(30)).1);
        assert!(cut < Duration::from_millis(2500), "{} was cut after {cut:?}", String::from_utf8_lossy(&head[..4]));
    }
}
