//! `[rate_limits]` and `[audit]` end to end: callers over their limits get 429 with `Retry-After`
//! and `RateLimit-*` headers (and on MCP a JSON-RPC error carrying the wait), Immich's own apps are
//! never limited, decisions are counted in metrics; every tool call that changes Immich leaves one
//! audit line naming who, what, how many and how it went, and never a secret.

mod common;

use common::Gateway;
use common::sse::stateless_call;
use immich_mcp_gateway::config::KeyHash;
use serde_json::{Value, json};

const AGENT: &str = "gw-agent-key-0123456789";
const BATCH: &str = "gw-batch-key-0123456789";

fn config(audit: &std::path::Path) -> String {
    format!(
        r#"
[immich]
api_key = "demo-admin-key"
[auth]
mode = "inject"
immich_apps = true
[[auth.keys]]
name = "agent"
hash = "{}"
[[auth.keys]]
name = "batch"
hash = "{}"
[rate_limits]
requests_per_second = 2
tool_calls_per_minute = 100
tools = {{ createAlbum = 1 }}
[audit]
sink = "{}"
"#,
        KeyHash::of(AGENT),
        KeyHash::of(BATCH),
        audit.display()
    )
}

#[tokio::test]
async fn callers_over_their_limits_wait_and_every_change_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let gw = Gateway::start(&config(&audit), &["--demo"]);
    let http = common::client();
    let mcp = gw.at("/mcp");

    // MCP: the first album is made; a second one within the minute is refused with the wait.
    let made = stateless_call(&http, &mcp, "createAlbum", json!({ "name": "Trip" }))
        .header("x-api-key", AGENT)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let request_id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = made.text().await.unwrap();
    assert!(body.contains("Trip") && !body.contains("\"isError\":true"), "{body}");
    let again = stateless_call(&http, &mcp, "createAlbum", json!({ "name": "Again" }))
        .header("x-api-key", AGENT)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 429);
    assert!(again.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 59);
    assert_eq!(again.headers()["ratelimit-limit"], "1");
    let error: Value = again.json().await.unwrap();
    assert_eq!((error["id"].as_i64(), error["error"]["code"].as_i64()), (Some(7), Some(-32029)), "{error}");
    assert!(error["error"]["data"]["retryAfterSeconds"].as_u64().unwrap() >= 59);
    assert!(error["error"]["message"].as_str().unwrap().contains("at most 1 tool calls per minute"));

    // /api with a gateway key: two a second, the third waits.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = http.get(gw.at("/api/server/about")).header("x-api-key", BATCH).send().await.unwrap();
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 {
            assert_eq!(answer.headers()["retry-after"], "1");
            assert_eq!(answer.headers()["ratelimit-remaining"], "0");
            let body: Value = answer.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains("at most 2 requests per second"), "{body}");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    // Immich's own apps (no gateway key) are Immich's business, never limited here.
    for _ in 0..10 {
        let app = http.get(gw.at("/api/server/ping")).send().await.unwrap();
        assert_eq!(app.status(), 200);
    }
    // A second later the key may call again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = http.get(gw.at("/api/server/about")).header("x-api-key", BATCH).send().await.unwrap();
    assert_eq!(later.status(), 200);

    // A read is not audited by default.
    let read = stateless_call(&http, &mcp, "queryPhotos", json!({ "limit": 1 })).header("x-api-key", BATCH);
    assert_eq!(read.send().await.unwrap().status(), 200);

    let metrics = http.get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "gateway_rate_limit_decisions_total{kind=\"tool\",outcome=\"limited\"} 1",
        "gateway_rate_limit_decisions_total{kind=\"request\",outcome=\"limited\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }

    // One line for the album made (the refused call never ran), none for the read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut text = String::new();
    while std::time::Instant::now() < deadline {
        text = std::fs::read_to_string(&audit).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["event"], "tool_call");
    assert_eq!((line["tool"].as_str(), line["writes"].as_bool()), (Some("createAlbum"), Some(true)));
    assert_eq!((line["principal"].as_str(), line["via"].as_str()), (Some("agent"), Some("gateway_key")));
    assert_eq!((line["targets"].as_u64(), line["outcome"].as_str()), (Some(1), Some("ok")));
    assert_eq!(line["request_id"], request_id.as_str());
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    for secret in [AGENT, BATCH, "demo-admin-key", "Trip"] {
        assert!(!text.contains(secret), "the audit line carries {secret:?}: {text}");
    }
}

#[test]
fn limits_and_sinks_are_checked_at_load() {
    for (toml, expected) in [
        ("[rate_limits]\ntools = { createAlbun = 5 }\n", "there is no tool \"createAlbun\""),
        ("[rate_limits]\ntools = { createAlbum = 0 }\n", "must be at least 1"),
        ("[rate_limits]\nrequests_per_second = -1\n", "positive number"),
        ("[audit]\nsink = \"audit.log\"\n", "absolute file path"),
        ("[tools]\ndisabled = [\"exportPhoto\"]\n", "there is no tool \"exportPhoto\""),
    ] {
        let (ok, output) = common::check_config(toml);
        assert!(!ok && output.contains(expected), "{toml}: {output}");
    }
}
