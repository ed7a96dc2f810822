//! `/mcp` over HTTP through the real binary: header rules and status codes of both protocol
//! generations, self-contained sessions across processes, security checks.

mod common;

use common::{Gateway, client, raw_request};
use immich_mcp_gateway::config::KeyHash;
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const SECRET: &str = "a-shared-session-secret-of-32-bytes-or-more";
const ACCEPT: &str = "application/json, text/event-stream";

fn fixtures() -> String {
    format!("[mcp]\nconformance_fixtures = true\nsession_secret = \"{SECRET}\"\n")
}

fn post(c: &Client, gw: &Gateway, body: Value) -> RequestBuilder {
    c.post(gw.at("/mcp")).header("content-type", "application/json").header("accept", ACCEPT).body(body.to_string())
}

fn initialize_body(version: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } } })
}

async fn initialize(c: &Client, gw: &Gateway, version: &str) -> String {
    let response = post(c, gw, initialize_body(version)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], version);
    id
}

async fn body(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The JSON-RPC messages of an SSE body.
fn sse_messages(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            event.lines().find_map(|l| l.strip_prefix("data: ")).and_then(|d| serde_json::from_str(d).ok())
        })
        .collect()
}

#[tokio::test]
async fn a_session_minted_on_one_replica_is_served_by_another() {
    let (a, b) = (Gateway::start(&fixtures(), &["--demo"]), Gateway::start(&fixtures(), &["--demo"]));
    let c = client();
    let session = initialize(&c, &a, "2025-11-25").await;
    let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "test_simple_text", "arguments": {} } });
    let (status, reply) = body(
        post(&c, &b, call)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["result"]["content"][0]["text"], "This is a simple text response for testing.");

    // A replica with another secret does not know the session.
    let other = Gateway::start("[mcp]\nsession_secret = \"a-different-secret-that-is-32-bytes-long\"\n", &["--demo"]);
    let ping = json!({ "jsonrpc": "2.0", "id": 3, "method": "ping" });
    let (status, reply) = body(post(&c, &other, ping).header("mcp-session-id", &session).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(reply["error"]["code"], -32001);
}

#[tokio::test]
async fn session_rules_of_the_2025_wire() {
    let gw = Gateway::start(&fixtures(), &["--demo"]);
    let c = client();
    let ping = json!({ "jsonrpc": "2.0", "id": 7, "method": "ping" });

    let (status, reply) = body(post(&c, &gw, ping.clone()).send().await.unwrap()).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32600)), "missing session id: {reply}");
    let (status, reply) =
        body(post(&c, &gw, ping.clone()).header("mcp-session-id", "v1.forged.sig").send().await.unwrap()).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (404, Some(-32001)));

    let session = initialize(&c, &gw, "2025-06-18").await;
    let (status, reply) =
        body(post(&c, &gw, ping.clone()).header("mcp-session-id", &session).send().await.unwrap()).await;
    assert_eq!((status, &reply["result"]), (200, &json!({})));
    let (status, _) = body(
        post(&c, &gw, ping.clone())
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "1999-01-01")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "unsupported version header");

    // Notifications and responses get 202 with no body.
    let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post(&c, &gw, note).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert!(response.text().await.unwrap().is_empty());

    // Accept and Content-Type rules.
    let wrong_accept = c
        .post(gw.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .header("mcp-session-id", &session)
        .body(ping.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_accept.status(), 406);
    let wrong_type = c
        .post(gw.at("/mcp"))
        .header("content-type", "text/plain")
        .header("accept", ACCEPT)
        .body(ping.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);

    // Batches belong to 2025-03-26 only.
    let batch = json!([ping, { "jsonrpc": "2.0", "id": 8, "method": "tools/list" }]);
    let (status, _) = body(post(&c, &gw, batch.clone()).header("mcp-session-id", &session).send().await.unwrap()).await;
    assert_eq!(status, 400, "a 2025-06-18 session refuses batches");
    let old = initialize(&c, &gw, "2025-03-26").await;
    let (status, reply) = body(post(&c, &gw, batch).header("mcp-session-id", &old).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(reply.as_array().unwrap().len(), 2);

    // DELETE ends the session.
    let deleted = c.delete(gw.at("/mcp")).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, _) = body(
        post(&c, &gw, json!({ "jsonrpc": "2.0", "id": 9, "method": "ping" }))
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let health: Value = c.get(gw.at("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["active_sessions"], 1, "two sessions initialized, one deleted");
}

#[tokio::test]
async fn tool_calls_that_notify_stream_sse_with_a_priming_event() {
    let gw = Gateway::start(&fixtures(), &["--demo"]);
    let c = client();
    let session = initialize(&c, &gw, "2025-11-25").await;
    let call = json!({ "jsonrpc": "2.0", "id": "p1", "method": "tools/call",
        "params": { "name": "test_tool_with_progress", "arguments": {}, "_meta": { "progressToken": "tok" } } });
    let response = post(&c, &gw, call)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let first = text.split("\n\n").next().unwrap();
    assert!(
        first.starts_with("id: ") && first.contains("retry: ") && first.ends_with("data: "),
        "priming event first: {first:?}"
    );
    let messages = sse_messages(&text);
    let progress: Vec<f64> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, vec![0.0, 50.0, 100.0]);
    assert_eq!(messages.last().unwrap()["id"], "p1");

    // A cheap tool answers with plain JSON in auto mode.
    let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "test_simple_text" } });
    let response = post(&c, &gw, call).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");

    // Invalid arguments are a tool error, not a protocol error.
    let call = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "test_sampling", "arguments": { "prompt": 5 } } });
    let (_, reply) = body(
        post(&c, &gw, call)
            .header("mcp-session-id", &session)
            .header("accept", "application/json, text/event-stream")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let reply = match reply {
        Value::String(sse) => sse_messages(&sse).pop().unwrap(),
        v => v,
    };
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert!(reply["result"]["content"][0]["text"].as_str().unwrap().contains("`prompt`"));
}

#[tokio::test]
async fn stateless_wire_rules() {
    let gw = Gateway::start(&fixtures(), &["--demo"]);
    let c = client();
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} });
    let stateless = |method: &str, params: Value| {
        post(&c, &gw, json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
    };

    let (status, reply) = body(stateless("server/discover", json!({ "_meta": meta })).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(reply["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert_eq!(reply["result"]["resultType"], "complete");
    assert!(reply["result"]["ttlMs"].is_u64());

    let (status, reply) = body(stateless("tools/list", json!({ "_meta": meta })).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(reply["result"]["cacheScope"], "private");

    let call = json!({ "name": "test_simple_text", "arguments": {}, "_meta": meta });
    let (status, reply) =
        body(stateless("tools/call", call.clone()).header("mcp-name", "test_simple_text").send().await.unwrap()).await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) =
        body(stateless("tools/call", call.clone()).header("mcp-name", "other").send().await.unwrap()).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32020)), "Mcp-Name mismatch");
    let (status, reply) =
        body(stateless("tools/call", call).header("mcp-method", "tools/list").send().await.unwrap()).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32020)), "Mcp-Method mismatch");

    let (status, reply) = body(stateless("ping", json!({ "_meta": meta })).send().await.unwrap()).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (404, Some(-32601)), "ping is gone in 2026-07-28");
    let (status, reply) = body(stateless("tools/list", json!({})).send().await.unwrap()).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32602)), "_meta is required");

    let future = json!({ "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {} });
    let (status, reply) = body(
        post(&c, &gw, json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": { "_meta": future } }))
            .header("mcp-protocol-version", "2099-01-01")
            .header("mcp-method", "tools/list")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32022)));
    assert!(reply["error"]["data"]["supported"].as_array().unwrap().contains(&json!("2026-07-28")));

    let get = c
        .get(gw.at("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn malformed_bodies_get_status_and_code() {
    let gw = Gateway::start("[mcp]\nmax_body_size = \"1KiB\"\n", &["--demo"]);
    let c = client();
    for (raw, status, code) in [
        ("{", 400, -32700),
        ("\u{1}\u{2}", 400, -32700),
        ("[]", 400, -32600),
        ("{\"jsonrpc\":\"2.0\"}", 400, -32600),
        ("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", 400, -32600),
    ] {
        let response = c
            .post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(raw)
            .send()
            .await
            .unwrap();
        let (got, reply) = body(response).await;
        assert_eq!((got, reply["error"]["code"].as_i64()), (status, Some(code)), "{raw:?}: {reply}");
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    let invalid_utf8 = c
        .post(gw.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(vec![b'"', 0xff, b'"'])
        .send()
        .await
        .unwrap();
    assert_eq!(body(invalid_utf8).await.1["error"]["code"], -32700);
    let huge = c
        .post(gw.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(format!("{{\"x\":\"{}\"}}", "a".repeat(4096)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
}

#[tokio::test]
async fn origin_host_auth_cors_and_the_welcome_page() {
    let gw = Gateway::start(&format!("{}cors_origins = [\"https://app.example\"]\n", fixtures()), &["--demo"]);
    let c = client();
    let evil =
        post(&c, &gw, initialize_body("2025-11-25")).header("origin", "http://evil.example").send().await.unwrap();
    assert_eq!(evil.status(), 403);
    let (status, _, _) = raw_request(
        &gw.url,
        b"GET /mcp HTTP/1.1\r\nHost: evil.example\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(status, 403, "DNS rebinding: a foreign Host is refused while bound to loopback");
    let local =
        post(&c, &gw, initialize_body("2025-11-25")).header("origin", "http://localhost:3000").send().await.unwrap();
    assert_eq!(local.status(), 200);

    let preflight = c
        .request(reqwest::Method::OPTIONS, gw.at("/mcp"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://app.example");
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("mcp-session-id"));
    let cors =
        post(&c, &gw, initialize_body("2025-11-25")).header("origin", "https://app.example").send().await.unwrap();
    assert!(cors.headers()["access-control-expose-headers"].to_str().unwrap().contains("mcp-session-id"));

    let page = c.get(gw.at("/mcp")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("test_simple_text") && html.contains("2026-07-28") && html.contains("curl"));

    let strict = Gateway::start("[mcp]\nstrict = true\n", &["--demo"]);
    assert_eq!(c.get(strict.at("/mcp")).header("accept", "text/html").send().await.unwrap().status(), 405);

    let inject = format!(
        "[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"agent\"\nhash = \"{}\"\n[mcp]\nauthorization_servers = [\"https://auth.example\"]\nscopes_supported = [\"photos.read\"]\n",
        KeyHash::of("gw-key")
    );
    let guarded = Gateway::start(&inject, &["--demo"]);
    let denied = post(&c, &guarded, initialize_body("2025-11-25")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let challenge = denied.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.starts_with("Bearer resource_metadata=\"http://")
            && challenge.ends_with("/.well-known/oauth-protected-resource\""),
        "{challenge}"
    );
    let metadata: Value =
        c.get(guarded.at("/.well-known/oauth-protected-resource")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["authorization_servers"], json!(["https://auth.example"]));
    assert!(metadata["resource"].as_str().unwrap().ends_with("/mcp"));
    let allowed = post(&c, &guarded, initialize_body("2025-11-25")).bearer_auth("gw-key").send().await.unwrap();
    assert_eq!(allowed.status(), 200);
}

#[tokio::test]
async fn cancelled_calls_stop_without_a_response() {
    let gw = Gateway::start(&fixtures(), &["--demo"]);
    let c = client();
    let session = initialize(&c, &gw, "2025-11-25").await;
    let call = json!({ "jsonrpc": "2.0", "id": "c1", "method": "tools/call", "params": { "name": "test_tool_with_logging", "arguments": {} } });
    let response = post(&c, &gw, call).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let cancel = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": "c1", "reason": "user gave up" } });
    let accepted = post(&c, &gw, cancel).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(accepted.status(), 202);
    let messages = sse_messages(&response.text().await.unwrap());
    assert!(
        messages.iter().all(|m| m.get("id") != Some(&json!("c1"))),
        "a cancelled request gets no response: {messages:?}"
    );
    assert!(messages.len() < 3, "the call stopped before finishing its three log messages: {messages:?}");
}

/// A session's standalone GET stream.
async fn get_stream(c: &Client, gw: &Gateway, session: &str) -> reqwest::Response {
    c.get(gw.at("/mcp")).header("accept", "text/event-stream").header("mcp-session-id", session).send().await.unwrap()
}

#[tokio::test]
async fn a_reload_announces_list_changes_on_the_get_stream() {
    let gw = Gateway::start(
        &format!("{}page_size = 7\n[server]\nconfig_poll_interval = \"100ms\"\n", fixtures()),
        &["--demo"],
    );
    let c = client();
    let session = initialize(&c, &gw, "2025-11-25").await;
    let mut stream = get_stream(&c, &gw, &session).await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    let config = std::fs::read_to_string(&gw.config_path).unwrap().replace("page_size = 7", "page_size = 8");
    std::fs::write(&gw.config_path, config).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut seen = String::new();
    while !seen.contains("notifications/tools/list_changed") {
        assert!(std::time::Instant::now() < deadline, "no list_changed on the GET stream: {seen:?}");
        // Any request after the reload rebuilds the catalogue and triggers the notification.
        let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
        post(&c, &gw, ping).header("mcp-session-id", &session).send().await.unwrap();
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(std::time::Duration::from_millis(200), stream.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The long-lived notification streams are served off Pingora once their head is out (HTTP/1):
/// `subscriptions/listen` and the standalone GET stream still carry keep-alives and list changes
/// in well-formed chunks, count as streams until the client leaves, and end cleanly — the last
/// chunk, no reset — when a graceful shutdown begins.
#[tokio::test]
async fn detached_notification_streams_deliver_count_and_end_cleanly() {
    let gw = Gateway::start(
        &format!(
            "{}sse_keepalive = \"300ms\"\npage_size = 7\n[server]\nconfig_poll_interval = \"100ms\"\n",
            fixtures()
        ),
        &["--demo"],
    );
    let c = client();
    let active = || async {
        let health: Value = client().get(gw.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
        health["activeStreams"].as_i64().unwrap()
    };
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let listen = json!({ "jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
        "params": { "notifications": { "toolsListChanged": true }, "_meta": meta } });
    let mut stream = post(&c, &gw, listen)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert_eq!(active().await, 1);
    let config = std::fs::read_to_string(&gw.config_path).unwrap().replace("page_size = 7", "page_size = 8");
    std::fs::write(&gw.config_path, config).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut seen = String::new();
    while !(seen.contains("notifications/tools/list_changed") && seen.contains(": keep-alive")) {
        assert!(std::time::Instant::now() < deadline, "no list_changed and keep-alive on the listen stream: {seen:?}");
        let ping = json!({ "jsonrpc": "2.0", "id": 2, "method": "ping", "params": { "_meta": meta } });
        post(&c, &gw, ping)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "ping")
            .send()
            .await
            .unwrap();
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(std::time::Duration::from_millis(200), stream.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while active().await != 0 {
        assert!(std::time::Instant::now() < deadline, "the stream outlived its client");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let session = initialize(&c, &gw, "2025-11-25").await;
    let mut stream = get_stream(&c, &gw, &session).await;
    assert_eq!(active().await, 1);
    gw.signal("TERM");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .expect("the stream ends when a graceful shutdown begins");
    assert_eq!(ended, Ok(()), "the body ends with its last chunk, not a broken connection");
}

#[tokio::test]
async fn an_input_required_round_continues_on_another_replica_and_tampering_is_refused() {
    let (a, b) = (Gateway::start(&fixtures(), &["--demo"]), Gateway::start(&fixtures(), &["--demo"]));
    let c = client();
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": { "elicitation": {} } });
    let call = |gw: &Gateway, params: Value| {
        post(&c, gw, json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params }))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "test_input_required_result_request_state")
    };
    let params = json!({ "name": "test_input_required_result_request_state", "arguments": {}, "_meta": meta });
    let (_, first) = body(call(&a, params.clone()).send().await.unwrap()).await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"].as_str().unwrap().to_string();

    let mut second = params.clone();
    second["inputResponses"] = json!({ "confirm": { "action": "accept", "content": { "ok": true } } });
    second["requestState"] = json!(state);
    let (status, done) = body(call(&b, second.clone()).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(done["result"]["content"][0]["text"].as_str().unwrap().contains("state-ok"), "{done}");

    let mut tampered = second;
    tampered["requestState"] = json!(format!("{}x", &state[..state.len() - 1]));
    let (status, refused) = body(call(&b, tampered).send().await.unwrap()).await;
    assert_eq!((status, refused["error"]["code"].as_i64()), (400, Some(-32602)), "{refused}");
}

#[tokio::test]
async fn custom_parameter_headers_must_match_their_arguments() {
    let gw = Gateway::start(&fixtures(), &["--demo"]);
    let c = client();
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} });
    let call = |region_header: Option<&str>| {
        let mut request = post(
            &c,
            &gw,
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": "test_custom_header", "arguments": { "region": "Hello" }, "_meta": meta } }),
        )
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "test_custom_header");
        if let Some(value) = region_header {
            request = request.header("mcp-param-region", value);
        }
        request
    };
    assert_eq!(call(Some("Hello")).send().await.unwrap().status(), 200);
    assert_eq!(call(Some("=?base64?SGVsbG8=?=")).send().await.unwrap().status(), 200, "valid Base64 decodes");
    for bad in [Some("Goodbye"), Some("=?base64?SGVsbG8?="), Some("=?base64?SGVs!!!bG8=?="), None] {
        let (status, reply) = body(call(bad).send().await.unwrap()).await;
        assert_eq!((status, reply["error"]["code"].as_i64()), (400, Some(-32020)), "{bad:?}: {reply}");
    }
}

/// The transport document's curl examples, as written (only the address changed): `initialize`
/// with `Accept: application/json` only, `tools/list` with the session id and no `Accept`, DELETE.
/// An API client's GET gets its 405.
#[test]
fn the_transport_documents_curl_examples_work() {
    let gw = Gateway::start(&fixtures(), &["--demo"]);
    let url = gw.at("/mcp");
    let curl = |args: &[&str]| {
        let output = std::process::Command::new("curl").args(["-s", "-i"]).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let init = r#"{"jsonrpc": "2.0", "method": "initialize", "params": {"clientInfo": {"name": "test-client", "version": "1.0.0"}}, "id": 1}"#;
    let answer = curl(&[
        "-X",
        "POST",
        &url,
        "-H",
        "Content-Type: application/json",
        "-H",
        "Accept: application/json",
        "-d",
        init,
    ]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"serverInfo\""), "{answer}");
    let session = answer
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("mcp-session-id:").then(|| l[15..].trim().to_string()))
        .expect("a session id");
    let list = r#"{"jsonrpc": "2.0", "method": "tools/list", "id": 2}"#;
    let header = format!("Mcp-Session-Id: {session}");
    let tools = curl(&["-X", "POST", &url, "-H", "Content-Type: application/json", "-H", &header, "-d", list]);
    assert!(tools.starts_with("HTTP/1.1 200") && tools.contains("\"tools\""), "{tools}");
    let deleted = curl(&["-X", "DELETE", &url, "-H", &header]);
    assert!(deleted.starts_with("HTTP/1.1 204"), "{deleted}");
    let get = curl(&[&url, "-H", "Accept: application/json"]);
    assert!(get.starts_with("HTTP/1.1 405"), "{get}");
}

/// The transport document's environment names reach the configuration of the real binary.
#[test]
fn the_transport_documents_environment_names_apply() {
    let gw = Gateway::start_with_env(
        "",
        &["--demo"],
        &[("MCP_STRICT_COMPLIANCE", "true"), ("LOG_LEVEL", "DEBUG"), ("RUST_LOG", "")],
    );
    let (status, _, _) = common::raw_request(
        &gw.url,
        b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(status, 405, "strict compliance: no welcome page");
    assert!(gw.log().contains("DEBUG"), "LOG_LEVEL=DEBUG gives debug lines");
}
