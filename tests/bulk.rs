//! Streams for programs: the streaming guide's bulk endpoint `/mcp/stream` (its curl and Python examples,
//! heartbeats, errors) and the chunked NDJSON transport on `/mcp`.

mod common;

use common::{Gateway, client, sse_comments, sse_events, streamed_items};
use immich_mcp_gateway::config::KeyHash;
use serde_json::{Value, json};
use std::process::Command;

/// An inject-mode gateway whose one client key is the streaming guide's `your-key`.
fn gateway_for_seed_examples(extra: &str) -> Gateway {
    let config = format!(
        "[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"guide\"\nhash = \"{}\"\n{extra}",
        KeyHash::of("your-key")
    );
    Gateway::start(&config, &["--demo"])
}

#[test]
fn seed_curl_example_streams_data_progress_and_complete() {
    let gw = gateway_for_seed_examples("");
    // The streaming guide's "Manual Testing with curl", with only the address changed.
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-N", "-H", "Accept: text/event-stream"])
        .args(["-H", "X-API-Key: your-key", "-H", "Content-Type: application/json"])
        .args(["-d", r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"queryPhotos","arguments":{"query":"sunset","limit":1000}},"id":1}"#])
        .arg(gw.at("/mcp/stream"))
        .output()
        .expect("curl is installed by .ci/run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let events = sse_events(&String::from_utf8(output.stdout).unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let data: Vec<&Value> = events.iter().filter(|(n, _)| n == "data").map(|(_, d)| d).collect();
    // Chunks of chunk_size (100) photos, or fewer when Immich is slower than flush_interval.
    let sizes: Vec<usize> = data.iter().map(|d| d["items"].as_array().unwrap().len()).collect();
    assert!(sizes.iter().all(|n| *n <= 100) && sizes.iter().sum::<usize>() == 1000, "{sizes:?}");
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["sequenceNumber"], i as u64 + 1);
        assert!(d["resumeToken"].is_string() && d["streamId"].is_string());
    }
    let percents: Vec<f64> =
        events.iter().filter(|(n, _)| n == "progress").map(|(_, p)| p["progress"].as_f64().unwrap()).collect();
    assert_eq!(percents.len(), data.len());
    assert!(percents.windows(2).all(|w| w[0] < w[1]) && percents.last() == Some(&100.0), "{percents:?}");
    assert_eq!(&names[names.len() - 2..], ["message", "complete"]);
    let (_, complete) = events.last().unwrap();
    assert_eq!((complete["success"].clone(), complete["totalProcessed"].clone()), (json!(true), json!(1000)));
    let (_, message) = &events[events.len() - 2];
    assert_eq!(message["id"], 1);
    assert_eq!(message["result"]["structuredContent"]["count"], 1000);
}

#[test]
fn seed_python_example_receives_every_batch() {
    let mut python = common::python_with("aiohttp_sse_client");
    let gw = gateway_for_seed_examples("");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/guide_stream_client.py");
    let output = python.arg(script).arg(&gw.url).arg("your-key").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((summary["photos"].as_u64(), summary["distinct"].as_u64()), (Some(1000), Some(1000)), "{summary}");
    let batches = summary["batches"].as_array().unwrap();
    assert!(batches.iter().all(|b| b.as_u64().is_some_and(|n| (1..=100).contains(&n))), "{summary}");
}

#[tokio::test]
async fn quiet_bulk_streams_carry_heartbeats_and_failures_end_with_an_error_event() {
    // Every demo answer takes 400 ms, so the stream is quiet long enough for heartbeats.
    let gw = gateway_for_seed_examples("[streaming]\nheartbeat_interval = \"100ms\"\n[demo]\nfault = \"slow=400ms\"\n");
    let call = |arguments: Value| {
        client()
            .post(gw.at("/mcp/stream"))
            .header("x-api-key", "your-key")
            .json(&json!({ "jsonrpc": "2.0", "id": "a", "method": "tools/call",
                "params": { "name": "queryPhotos", "arguments": arguments } }))
            .send()
    };
    let response = call(json!({ "limit": 600 })).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let (events, comments) = (sse_events(&body), sse_comments(&body));
    assert!(comments.iter().any(|c| c == "heartbeat"), "{comments:?}");
    assert_eq!(events.last().unwrap().0, "complete");

    let failed = call(json!({ "cursor": "not-a-cursor" })).await.unwrap().text().await.unwrap();
    let events = sse_events(&failed);
    let (name, error) = events.last().unwrap();
    assert_eq!(name, "error");
    assert!(error["error"].as_str().unwrap().contains("cursor"), "{error}");
    assert_eq!(error["retryable"], false);

    // Wrong use: a GET, a batch, a body that is not JSON, a missing key.
    let get = client().get(gw.at("/mcp/stream")).header("x-api-key", "your-key").send().await.unwrap();
    assert_eq!(get.status(), 405);
    let post =
        |body: &'static str| client().post(gw.at("/mcp/stream")).header("x-api-key", "your-key").body(body).send();
    assert_eq!(post(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await.unwrap().status(), 400);
    let garbage = post("{not json").await.unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.json::<Value>().await.unwrap()["error"]["code"], -32700);
    let anonymous = client().post(gw.at("/mcp/stream")).body("{}").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn ndjson_clients_get_one_json_rpc_message_per_line() {
    let gw = Gateway::start("", &["--demo"]);
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let call = |name: &'static str, arguments: Value| {
        client()
            .post(gw.at("/mcp"))
            .header("accept", "application/x-ndjson")
            .header("x-api-key", "demo-admin-key")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .json(&json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": { "name": name, "arguments": arguments, "_meta": meta } }))
            .send()
    };
    let response = call("queryPhotos", json!({ "limit": 600 })).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let chunked = response.headers().get("content-length").is_none();
    let body = response.text().await.unwrap();
    assert!(chunked, "chunked, not buffered: {}", &body[..body.len().min(400)]);
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect();
    assert_eq!(streamed_items(&lines).len(), 600);
    let last = lines.last().unwrap();
    assert_eq!((last["id"].clone(), last["result"]["structuredContent"]["count"].clone()), (json!(3), json!(600)));

    // A reply that does not stream is one NDJSON line as well.
    let single = call("getLibraryStatistics", json!({})).await.unwrap();
    assert_eq!(single.headers()["content-type"], "application/x-ndjson");
    let text = single.text().await.unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
}
