//! gzip, zstd and br on proxied bodies and streams, decoded with real decoders.

mod common;

use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
use common::{ADMIN, Gateway, client};
use serde_json::Value;
use tokio::io::AsyncReadExt;

/// A whole compressed body, decoded.
async fn decode(coding: &str, bytes: &[u8]) -> Vec<u8> {
    let (out, outcome) = decode_partial(coding, bytes).await;
    outcome.unwrap();
    out
}

/// What a decoder makes of a compressed stream cut short: everything up to the last flush.
async fn decode_prefix(coding: &str, bytes: &[u8]) -> Vec<u8> {
    decode_partial(coding, bytes).await.0
}

async fn decode_partial(coding: &str, bytes: &[u8]) -> (Vec<u8>, std::io::Result<usize>) {
    let mut out = Vec::new();
    let outcome = match coding {
        "gzip" => GzipDecoder::new(bytes).read_to_end(&mut out).await,
        "zstd" => ZstdDecoder::new(bytes).read_to_end(&mut out).await,
        "br" => BrotliDecoder::new(bytes).read_to_end(&mut out).await,
        other => panic!("unexpected coding {other}"),
    };
    (out, outcome)
}

#[tokio::test]
async fn every_codec_round_trips_on_bodies_and_streams() {
    let gw = Gateway::start("", &["--demo"]);
    let c = client();
    let plain =
        c.get(gw.at("/api/map/markers")).header("x-api-key", ADMIN).send().await.unwrap().bytes().await.unwrap();
    let plain_stream = c
        .get(gw.at("/api/map/markers?stream=sse"))
        .header("x-api-key", ADMIN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    for coding in ["gzip", "zstd", "br"] {
        let response = c
            .get(gw.at("/api/map/markers"))
            .header("x-api-key", ADMIN)
            .header("accept-encoding", coding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], coding);
        assert!(response.headers()["vary"].to_str().unwrap().contains("Accept-Encoding"));
        let wire = response.bytes().await.unwrap();
        assert!(wire.len() * 2 < plain.len(), "{coding} compresses");
        assert_eq!(decode(coding, &wire).await, plain.to_vec(), "{coding} body");

        let stream = c
            .get(gw.at("/api/map/markers?stream=sse"))
            .header("x-api-key", ADMIN)
            .header("accept-encoding", coding)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        assert_eq!(stream.headers()["content-encoding"], coding);
        let decoded = decode(coding, &stream.bytes().await.unwrap()).await;
        assert_eq!(decoded, plain_stream.to_vec(), "{coding} stream");
    }
    // q-values pick the codec; small bodies and refusals stay plain.
    let picked = c
        .get(gw.at("/api/albums"))
        .header("x-api-key", ADMIN)
        .header("accept-encoding", "gzip;q=0.5, br;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(picked.headers()["content-encoding"], "br");
    let small = c.get(gw.at("/api/server/ping")).header("accept-encoding", "gzip").send().await.unwrap();
    assert!(small.headers().get("content-encoding").is_none());
    assert_eq!(small.json::<Value>().await.unwrap()["res"], "pong");
    let identity = c
        .get(gw.at("/api/map/markers"))
        .header("x-api-key", ADMIN)
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap();
    assert!(identity.headers().get("content-encoding").is_none());
    let wildcard = c.get(gw.at("/api/server/ping")).header("accept-encoding", "*").send().await.unwrap();
    assert!(wildcard.headers().get("content-encoding").is_none(), "below the minimum size");
}

#[tokio::test]
async fn mcp_json_replies_compress_above_the_minimum_size() {
    let gw = Gateway::start("[mcp]\nresponse_mode = \"json\"\n", &["--demo"]);
    let c = client();
    let post = |body: Value, coding: &'static str| {
        c.post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", body["method"].as_str().unwrap().to_string())
            .header("accept-encoding", coding)
            .body(body.to_string())
            .send()
    };
    let meta = serde_json::json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let list = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": { "_meta": meta } });
    let plain: Value = post(list.clone(), "identity").await.unwrap().json().await.unwrap();
    assert!(plain["result"]["tools"].as_array().is_some_and(|t| !t.is_empty()), "{plain}");
    for coding in ["gzip", "zstd", "br"] {
        let response = post(list.clone(), coding).await.unwrap();
        assert_eq!(response.headers()["content-encoding"], coding);
        assert_eq!(response.headers()["vary"], "Accept-Encoding");
        let packed = response.bytes().await.unwrap();
        let unpacked: Value = serde_json::from_slice(&decode(coding, &packed).await).unwrap();
        assert_eq!(unpacked, plain, "{coding} round-trips the tool list");
        assert!(packed.len() * 3 < serde_json::to_vec(&plain).unwrap().len(), "{coding} pays off");
    }
    // A reply under compression_min_size (1 KiB) goes as it is.
    let ping = serde_json::json!({ "jsonrpc": "2.0", "id": 2, "method": "ping", "params": { "_meta": meta } });
    let small = post(ping, "gzip").await.unwrap();
    assert!(small.headers().get("content-encoding").is_none());
    assert_eq!(small.json::<Value>().await.unwrap()["id"], 2);
}

/// A streamed `queryPhotos` is compressed when the client accepts it, and flushed at every event:
/// the first photos decode from the bytes received while Immich is still being read.
#[tokio::test]
async fn mcp_photo_streams_compress_and_stay_live() {
    // Each demo page takes 150 ms, so the stream lasts well over a second.
    let gw = Gateway::start("[demo]\nfault = \"slow=150ms\"\n", &["--demo"]);
    let meta = serde_json::json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    for coding in ["gzip", "zstd", "br"] {
        let mut response = client()
            .post(gw.at("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("accept-encoding", coding)
            .header("x-api-key", ADMIN)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "queryPhotos")
            .json(&serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": "queryPhotos", "arguments": { "limit": 1500 }, "_meta": meta } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], coding);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut wire = Vec::new();
        loop {
            let chunk = response.chunk().await.unwrap().expect("the stream is still open");
            wire.extend_from_slice(&chunk);
            if String::from_utf8_lossy(&decode_prefix(coding, &wire).await).contains("notifications/stream/data") {
                break;
            }
        }
        assert!(!String::from_utf8_lossy(&decode_prefix(coding, &wire).await).contains("\"result\""));
        while let Some(chunk) = response.chunk().await.unwrap() {
            wire.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(decode(coding, &wire).await).unwrap();
        let items = text.matches("\"fileName\"").count();
        // 1,500 streamed photos, plus the first 20 repeated in the final result.
        assert_eq!(items, 1520, "{coding}");
        assert!(text.contains("\"result\""));
    }
}
