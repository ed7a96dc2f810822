//! Property test: 20,000 random and mutated bodies through JSON-RPC parsing and the method
//! dispatcher (every catalogue method, both wires) never panic, and every rejection carries a
//! code and a message. A further 1,000 go through the real HTTP endpoint.

mod common;

use immich_mcp_gateway::protocol::{Body, CallContext, ConformanceFixtures, McpServer, Message, Wire, parse_body};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::Arc;

fn seeds() -> Vec<Value> {
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} });
    vec![
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "f", "version": "1" } } }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": { "cursor": "dG9vbHM6NA" } }),
        json!({ "jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": { "name": "test_simple_text", "arguments": {} } }),
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "test_tool_with_progress", "arguments": {}, "_meta": { "progressToken": 9 } } }),
        json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": { "name": "json_schema_2020_12_tool", "arguments": { "name": "n", "address": { "city": "c" } } } }),
        json!({ "jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": { "uri": "test://template/7/data" } }),
        json!({ "jsonrpc": "2.0", "id": 6, "method": "prompts/get", "params": { "name": "test_prompt_with_arguments", "arguments": { "arg1": "a", "arg2": "b" } } }),
        json!({ "jsonrpc": "2.0", "id": 7, "method": "completion/complete", "params": { "ref": { "type": "ref/prompt", "name": "test_prompt_with_arguments" }, "argument": { "name": "arg1", "value": "pa" } } }),
        json!({ "jsonrpc": "2.0", "id": 8, "method": "logging/setLevel", "params": { "level": "warning" } }),
        json!({ "jsonrpc": "2.0", "id": 9, "method": "server/discover", "params": { "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 3, "reason": "r" } }),
        json!({ "jsonrpc": "2.0", "id": "srv-1", "result": { "action": "accept" } }),
        json!([{ "jsonrpc": "2.0", "id": 1, "method": "ping" }, { "jsonrpc": "2.0", "method": "x" }]),
    ]
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 3 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e9),
        4 => json!((0..rng.random_range(0..12)).map(|_| rng.random::<char>()).collect::<String>()),
        5 => Value::Array((0..rng.random_range(0..4)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => Value::Object(
            (0..rng.random_range(0..4)).map(|i| (format!("k{i}"), random_value(rng, depth + 1))).collect(),
        ),
    }
}

/// Replaces a random node of `value` with a random value.
fn mutate_tree(rng: &mut StdRng, value: &mut Value) {
    match value {
        Value::Object(map) if !map.is_empty() && rng.random_bool(0.7) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.random_range(0..keys.len())];
            if rng.random_bool(0.2) {
                map.remove(key);
            } else {
                mutate_tree(rng, map.get_mut(key).unwrap());
            }
        }
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.7) => {
            let i = rng.random_range(0..items.len());
            mutate_tree(rng, &mut items[i]);
        }
        other => *other = random_value(rng, 0),
    }
}

fn mutate_bytes(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..4) {
        if bytes.is_empty() {
            bytes.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..5) {
            0 => bytes[at] = rng.random(),
            1 => bytes.truncate(at),
            2 => bytes.insert(at, rng.random()),
            3 => {
                let end = (at + rng.random_range(1..16)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes.drain(at..(at + rng.random_range(1..8)).min(bytes.len())).for_each(drop),
        }
    }
    bytes
}

fn body(rng: &mut StdRng, seeds: &[Value]) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
        1 => {
            let depth = rng.random_range(1..5_000);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        2..=5 => {
            let mut tree = seeds[rng.random_range(0..seeds.len())].clone();
            for _ in 0..rng.random_range(1..4) {
                // Mostly inside params, so that well-formed envelopes reach the dispatcher.
                match tree.get_mut("params") {
                    Some(params) if rng.random_bool(0.7) => mutate_tree(rng, params),
                    _ => mutate_tree(rng, &mut tree),
                }
            }
            serde_json::to_vec(&tree).unwrap()
        }
        _ => {
            let seed = serde_json::to_vec(&seeds[rng.random_range(0..seeds.len())]).unwrap();
            mutate_bytes(rng, seed)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn twenty_thousand_random_bodies_never_panic_the_jsonrpc_layer() {
    let server = McpServer::new(vec![Arc::new(ConformanceFixtures)], 4);
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(0x1a2b_3c4d);
    let (mut parsed, mut dispatched, mut rejected) = (0, 0, 0);
    for _ in 0..20_000 {
        let bytes = body(&mut rng, &seeds);
        let messages = match parse_body(&bytes) {
            Ok(Body::Single(m)) => vec![Ok(m)],
            Ok(Body::Batch(items)) => items,
            Err((_, error)) => {
                assert!(error.code < 0 && !error.message.is_empty());
                rejected += 1;
                continue;
            }
        };
        parsed += 1;
        for message in messages {
            let Ok(Message::Request { method, params, .. }) = message else { continue };
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let cx = CallContext::new(tx).with_progress_token(params["_meta"].get("progressToken").cloned());
            let wire = if rng.random_bool(0.5) { Wire::Session } else { Wire::Stateless };
            if let Err(error) = server.handle(&method, &params, &cx, wire).await {
                assert!(!error.message.is_empty());
            }
            while rx.try_recv().is_ok() {}
            dispatched += 1;
        }
    }
    eprintln!("20000 bodies: {parsed} parsed, {rejected} rejected, {dispatched} requests dispatched");
    assert!(parsed > 3_000 && rejected > 10_000 && dispatched > 2_500, "the generator covers both paths");
}

#[tokio::test]
async fn a_thousand_random_bodies_over_http_get_json_rpc_errors_not_crashes() {
    let gw = common::Gateway::start("[mcp]\nconformance_fixtures = true\n", &["--demo"]);
    let c = common::client();
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..1_000 {
        let response = c
            .post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body(&mut rng, &seeds))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(matches!(status, 200 | 202 | 400 | 404 | 413), "unexpected status {status}");
        if status == 400 {
            let reply: Value = response.json().await.unwrap();
            assert!(reply["error"]["code"].as_i64().is_some() && reply["error"]["message"].is_string(), "{reply}");
        }
    }
    assert_eq!(c.get(gw.at("/health")).send().await.unwrap().status(), 200);
}
