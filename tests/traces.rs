//! Traces for operators, against a local OTLP/HTTP receiver: with `[telemetry] otlp_endpoint` set,
//! a streamed tool call is one span, a child of the client's `traceparent`, with a child span per
//! call to Immich (one per page); a proxied `/api` request is a span with its call to Immich as a
//! child, and Immich receives that call's `traceparent`; the 2026-07-28 wire's `_meta.traceparent`
//! works like the header.

mod common;

use common::{CaptureUpstream, Gateway, header, request_head};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An OTLP/HTTP (JSON) receiver: every span posted to `/v1/traces`, flattened.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let received = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let received = received.clone();
                std::thread::spawn(move || {
                    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut data = Vec::new();
                    let mut buf = [0u8; 65536];
                    loop {
                        if let Some((end, _, length)) = request_head(&data)
                            && data.len() >= end + 4 + length
                        {
                            let export: Value = serde_json::from_slice(&data[end + 4..end + 4 + length]).unwrap();
                            for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                                    received
                                        .lock()
                                        .unwrap()
                                        .extend(scope["spans"].as_array().into_iter().flatten().cloned());
                                }
                            }
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
                            );
                            data.drain(..end + 4 + length);
                        }
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => data.extend_from_slice(&buf[..n]),
                        }
                    }
                });
            }
        });
        Collector { url, spans }
    }

    /// Waits (10 s at most) until a span satisfies `found`; every span received by then.
    fn wait_for(&self, what: &str, found: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if found(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "no {what} among {spans:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn named<'a>(spans: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_call_is_a_span_tree_under_the_clients_trace() {
    let collector = Collector::start();
    let gw = Gateway::start(
        &format!("[telemetry]\notlp_endpoint = \"{}\"\n[streaming]\nchunk_size = 100\n", collector.url),
        &["--demo"],
    );
    // A 2026-07-28 call for 2,500 photos (three Immich pages of 1,000), its trace context in `_meta`.
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}, "traceparent": format!("00-{TRACE}-{CLIENT_SPAN}-01") });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": 2500 }, "_meta": meta } });
    let response = common::client()
        .post(gw.at("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "queryPhotos")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("\"result\""), "{text}");

    let spans = collector.wait_for("request span with its Immich calls", |spans| {
        named(spans, "POST mcp").len() == 1 && named(spans, "immich ").len() >= 3
    });
    let request = named(&spans, "POST mcp")[0];
    assert_eq!(request["traceId"].as_str().unwrap().to_lowercase(), TRACE, "the client's trace: {request}");
    assert_eq!(
        request["parentSpanId"].as_str().unwrap().to_lowercase(),
        CLIENT_SPAN,
        "the client's span is the parent"
    );
    let calls = named(&spans, "immich ");
    for call in &calls {
        assert_eq!(call["traceId"], request["traceId"]);
        assert_eq!(call["parentSpanId"], request["spanId"], "each Immich call is the request's child: {call}");
    }
    assert!(calls.iter().all(|c| c["name"].as_str().unwrap().contains("/api/")), "{calls:#?}");
}

#[test]
fn a_proxied_request_passes_its_trace_context_to_immich() {
    let collector = Collector::start();
    let upstream = CaptureUpstream::start();
    let gw = Gateway::start(
        &format!(
            "[telemetry]\notlp_endpoint = \"{}\"\n[immich]\nbase_url = \"http://{}\"\n",
            collector.url, upstream.addr
        ),
        &[],
    );
    let request = format!(
        "GET /api/albums HTTP/1.1\r\nHost: 127.0.0.1\r\ntraceparent: 00-{TRACE}-{CLIENT_SPAN}-01\r\nConnection: close\r\n\r\n"
    );
    let (status, _, _) = common::raw_request(&gw.url, request.as_bytes()).unwrap();
    assert_eq!(status, 200);
    let forwarded = header(&upstream.last(), "traceparent").expect("Immich gets a traceparent");
    let parts: Vec<&str> = forwarded.split('-').collect();
    assert_eq!(parts[1], TRACE, "the same trace");
    assert_ne!(parts[2], CLIENT_SPAN, "the gateway's own span is Immich's parent");

    let spans = collector.wait_for("the proxied request and its call", |spans| {
        !named(spans, "GET api").is_empty() && !named(spans, "immich GET /api/albums").is_empty()
    });
    let request = named(&spans, "GET api")[0];
    let call = named(&spans, "immich GET /api/albums")[0];
    assert_eq!(request["parentSpanId"].as_str().unwrap().to_lowercase(), CLIENT_SPAN);
    assert_eq!(call["parentSpanId"], request["spanId"]);
    assert_eq!(call["spanId"].as_str().unwrap().to_lowercase(), parts[2], "Immich's parent is the call's span");
}

#[test]
fn check_refuses_an_endpoint_that_is_not_a_url() {
    let (ok, errors) = common::check_config("[telemetry]\notlp_endpoint = \"collector:4318\"\n");
    assert!(!ok && errors.contains("telemetry.otlp_endpoint"), "{errors}");
}
