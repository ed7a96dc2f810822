//! The streaming guide's streaming load test: `CLIENTS` concurrent clients each make `REQUESTS` streamed
//! `queryPhotos` calls of `ITEMS` photos (stateless wire, SSE) one after another. Every call must
//! deliver exactly `ITEMS` photos in its data events and end with its result; anything else counts
//! as an error. Prints a JSON summary (requests/s, latency percentiles, errors).
//!
//! ```sh
//! cargo run --release --example load -- http://127.0.0.1:8080 100 10 1000 [API_KEY]
//! ```

use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Args {
    url: String,
    clients: usize,
    requests: usize,
    items: u64,
    key: Option<String>,
}

fn args() -> Args {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| a.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    Args {
        url: a.first().cloned().unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        clients: number(1, 100) as usize,
        requests: number(2, 10) as usize,
        items: number(3, 1000),
        key: a.get(4).cloned(),
    }
}

/// One streamed call: the photos its data events carried, or what went wrong.
async fn streamed_query(client: &reqwest::Client, args: &Args) -> Result<u64, String> {
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": args.items }, "_meta": meta } });
    let mut request = client
        .post(format!("{}/mcp", args.url))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "queryPhotos")
        .json(&body);
    if let Some(key) = &args.key {
        request = request.header("x-api-key", key);
    }
    let mut response = request.send().await.map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("HTTP {}", response.status()));
    }
    let (mut pending, mut photos, mut finished) = (Vec::new(), 0u64, false);
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")).filter(|d| !d.is_empty()) else {
                continue;
            };
            let message: Value = serde_json::from_str(data).map_err(|e| format!("bad event: {e}"))?;
            if message["method"] == "notifications/stream/data" {
                photos += message["params"]["items"].as_array().map_or(0, |i| i.len() as u64);
            } else if message.get("id").is_some() {
                if message["result"]["isError"] == json!(true) || message.get("error").is_some() {
                    return Err(format!("call failed: {message}"));
                }
                finished = true;
            }
        }
    }
    match (finished, photos == args.items) {
        (true, true) => Ok(photos),
        (false, _) => Err("stream ended without a result".into()),
        (true, false) => Err(format!("{photos} photos instead of {}", args.items)),
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = std::sync::Arc::new(args());
    let client = reqwest::Client::builder().tcp_nodelay(true).timeout(Duration::from_secs(120)).build().unwrap();
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            let (client, args) = (client.clone(), args.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for _ in 0..args.requests {
                    let began = Instant::now();
                    let outcome = streamed_query(&client, &args).await;
                    outcomes.push((began.elapsed(), outcome));
                }
                outcomes
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut photos, mut errors) = (0u64, Vec::new());
    for c in clients {
        for (latency, outcome) in c.await.unwrap() {
            latencies.push(latency.as_secs_f64() * 1000.0);
            match outcome {
                Ok(n) => photos += n,
                Err(e) => errors.push(e),
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    errors.dedup();
    println!(
        "{}",
        json!({
            "clients": args.clients, "requestsPerClient": args.requests, "itemsPerRequest": args.items,
            "requests": latencies.len(), "errors": errors.len(), "firstErrors": errors.iter().take(3).collect::<Vec<_>>(),
            "seconds": (seconds * 100.0).round() / 100.0,
            "requestsPerSecond": (latencies.len() as f64 / seconds * 10.0).round() / 10.0,
            "photosPerSecond": (photos as f64 / seconds).round(),
            "latencyMs": { "p50": pick(0.5).round(), "p90": pick(0.9).round(), "p99": pick(0.99).round(), "max": pick(1.0).round() },
        })
    );
}
