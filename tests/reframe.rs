//! `/api` bodies re-framed into SSE and NDJSON streams by the proxy, incrementally.

mod common;

use common::{ADMIN, CaptureUpstream, Gateway, client, header, sse_events};
use serde_json::{Value, json};

#[tokio::test]
async fn map_markers_stream_as_sse_with_every_item_once() {
    let gw = Gateway::start("[streaming]\nchunk_size = 250\n", &["--demo"]);
    let c = client();
    let direct: Vec<Value> =
        c.get(gw.at("/api/map/markers")).header("x-api-key", ADMIN).send().await.unwrap().json().await.unwrap();
    let response = c
        .get(gw.at("/api/map/markers"))
        .header("x-api-key", ADMIN)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-length").is_none());
    let events = sse_events(&response.text().await.unwrap());
    let (last, complete) = events.last().unwrap();
    assert_eq!(last, "complete");
    let items: Vec<Value> =
        events.iter().filter(|(n, _)| n == "data").flat_map(|(_, d)| d["items"].as_array().unwrap().clone()).collect();
    assert_eq!(items, direct, "the same markers, in order");
    assert_eq!(complete["totalItems"].as_u64().unwrap() as usize, direct.len());
    let sizes: Vec<usize> =
        events.iter().filter(|(n, _)| n == "data").map(|(_, d)| d["items"].as_array().unwrap().len()).collect();
    assert!(sizes[..sizes.len() - 1].iter().all(|s| *s == 250), "chunk_size items per event");
    let sequences: Vec<u64> =
        events.iter().filter(|(n, _)| n == "data").map(|(_, d)| d["sequence"].as_u64().unwrap()).collect();
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn search_results_stream_as_ndjson_with_the_page_summary() {
    let gw = Gateway::start("", &["--demo"]);
    let c = client();
    let body = json!({ "size": 120, "withExif": true });
    let direct = common::post_as_admin(&gw, "/api/search/metadata", &body).await;
    let text = c
        .post(gw.at("/api/search/metadata?stream=ndjson"))
        .header("x-api-key", ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (summary, items) = lines.split_last().unwrap();
    assert_eq!(items, direct["assets"]["items"].as_array().unwrap().as_slice());
    assert_eq!(summary["type"], "complete");
    assert_eq!(summary["summary"]["assets.nextPage"], "2");
}

/// `request` with the demo's admin key, asking for `accept`; the body, whole.
async fn admin_text(request: reqwest::RequestBuilder, accept: &str) -> String {
    request.header("x-api-key", ADMIN).header("accept", accept).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn truncated_upstream_json_ends_the_stream_with_an_error_event() {
    let gw = Gateway::start("", &["--demo"]);
    let markers = client().get(gw.at("/api/map/markers")).header("x-demo-fault", "truncate");
    let text = admin_text(markers, "text/event-stream").await;
    let events = sse_events(&text);
    let (name, error) = events.last().unwrap();
    assert_eq!(name, "error", "{text:.300}");
    assert_eq!(error["code"], "INVALID_UPSTREAM_JSON");
    assert_eq!(error["retryable"], true);
    assert!(events.iter().any(|(n, _)| n == "data"), "items before the cut still arrive");
}

#[tokio::test]
async fn errors_pass_through_and_the_stream_parameter_stays_at_the_gateway() {
    let gw = Gateway::start("", &["--demo"]);
    let denied = client().get(gw.at("/api/map/markers")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.json::<Value>().await.unwrap(), json!({ "message": "Authentication required" }));

    let upstream = CaptureUpstream::start();
    let gw = Gateway::start(&format!("[immich]\nbase_url = \"http://{}\"\n", upstream.addr), &[]);
    let reply = client().get(gw.at("/api/albums?stream=sse&shared=true")).send().await.unwrap().text().await.unwrap();
    let head =
        upstream.heads.lock().unwrap().iter().find(|h| h.starts_with("GET /api/albums")).cloned().unwrap_or_default();
    assert!(head.starts_with("GET /api/albums?shared=true HTTP/1.1"), "{head}");
    assert_eq!(header(&head, "accept").as_deref(), Some("application/json"));
    assert_eq!(header(&head, "accept-encoding"), None);
    // The capture upstream's answer is an object with no array: it comes whole, as one item.
    assert!(reply.contains(r#""items":[{"ok":true}]"#) && reply.contains("event: complete"), "{reply}");
}

#[tokio::test]
async fn streams_show_in_seed_metrics_and_health_streaming() {
    let gw = Gateway::start("", &["--demo"]);
    let c = client();
    let health: Value = c.get(gw.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
    for key in ["status", "activeStreams", "maxStreams", "bufferUtilization", "averageLatencyMs", "errorsLast5Min"] {
        assert!(health.get(key).is_some(), "{key} in {health}");
    }
    assert_eq!(
        (health["status"].as_str(), health["activeStreams"].as_i64(), health["maxStreams"].as_u64()),
        (Some("healthy"), Some(0), Some(1000)),
        "maxStreams is the gateway-wide max_total_streams"
    );

    c.get(gw.at("/api/map/markers?stream=sse")).header("x-api-key", ADMIN).send().await.unwrap().text().await.unwrap();
    c.get(gw.at("/api/map/markers?stream=ndjson"))
        .header("x-api-key", ADMIN)
        .header("x-demo-fault", "truncate")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = c.get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit_once(' '))
            .map_or(0.0, |(_, v)| v.parse().unwrap())
    };
    assert!(value("streaming_bytes_sent_total{transport=\"sse\"}") > 1e6, "{metrics}");
    assert!(value("streaming_bytes_sent_total{transport=\"ndjson\"}") > 0.0);
    assert!(value("streaming_chunks_sent_total{tool=\"api\"}") >= 80.0);
    assert_eq!(value("streaming_stream_duration_seconds_count"), 2.0);
    assert_eq!(value("streaming_active_connections{transport=\"sse\"}"), 0.0, "closed streams are not counted");
    assert!(metrics.contains("streaming_backpressure_events_total"));
    let health: Value = c.get(gw.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["errorsLast5Min"], 1, "the truncated stream");
    assert!(health["averageLatencyMs"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn streams_beyond_max_concurrent_streams_get_503_until_a_slot_frees() {
    let gw = Gateway::start("[streaming]\nmax_concurrent_streams = 1\n", &["--demo"]);
    let c = client();
    let sse = |fault: Option<&str>| {
        let mut request =
            c.get(gw.at("/api/map/markers")).header("x-api-key", ADMIN).header("accept", "text/event-stream");
        if let Some(fault) = fault {
            request = request.header("x-demo-fault", fault);
        }
        request.send()
    };
    // The slot is taken from the moment the stream is asked for, while Immich is still slow.
    let holder = tokio::spawn(sse(Some("slow=1500ms")));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let refused = sse(None).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let message = refused.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(message.contains("1 streams open, its limit"), "{message}");
    let plain = c.get(gw.at("/api/map/markers")).header("x-api-key", ADMIN).send().await.unwrap();
    assert_eq!(plain.status(), 200, "plain answers need no stream slot");

    let held = holder.await.unwrap().unwrap();
    assert_eq!(held.status(), 200);
    assert!(sse_events(&held.text().await.unwrap()).iter().any(|(n, _)| n == "complete"));
    let again = sse(None).await.unwrap();
    assert_eq!(again.status(), 200, "the finished stream gave its slot back");
    assert!(sse_events(&again.text().await.unwrap()).iter().any(|(n, _)| n == "complete"));
    let metrics = c.get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("streaming_refused_total{reason=\"too_many_streams\"} 1"), "{metrics}");
}

/// `max_concurrent_streams` is per client (its gateway key in inject mode); `max_total_streams`
/// caps the gateway.
#[tokio::test]
async fn stream_caps_are_per_client_and_per_gateway() {
    use immich_mcp_gateway::config::KeyHash;
    let config = format!(
        "[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"one\"\nhash = \"{}\"\n[[auth.keys]]\nname = \"two\"\nhash = \"{}\"\n\
         [[auth.keys]]\nname = \"three\"\nhash = \"{}\"\n[streaming]\nmax_concurrent_streams = 1\nmax_total_streams = 2\n",
        KeyHash::of("key-one"),
        KeyHash::of("key-two"),
        KeyHash::of("key-three")
    );
    let gw = Gateway::start(&config, &["--demo"]);
    let c = client();
    let sse = |key: &'static str, fault: Option<&'static str>| {
        let mut request =
            c.get(gw.at("/api/map/markers")).header("x-api-key", key).header("accept", "text/event-stream");
        if let Some(fault) = fault {
            request = request.header("x-demo-fault", fault);
        }
        request.send()
    };
    let first = tokio::spawn(sse("key-one", Some("slow=1500ms")));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let same_client = sse("key-one", None).await.unwrap();
    assert_eq!(same_client.status(), 503);
    let message = same_client.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(message.contains("this client has 1 streams open"), "{message}");
    let second = tokio::spawn(sse("key-two", Some("slow=1500ms")));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let third = sse("key-three", None).await.unwrap();
    assert_eq!(third.status(), 503, "two streams fill the gateway");
    let message = third.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string();
    assert!(message.contains("max_total_streams"), "{message}");
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);
}

/// `/api/map/markers` as SSE, with a demo fault.
async fn markers_stream_with_fault(gw: &Gateway, fault: &str) -> reqwest::Response {
    let response = client()
        .get(gw.at("/api/map/markers?stream=sse"))
        .header("x-api-key", ADMIN)
        .header("x-demo-fault", fault)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{fault}");
    response
}

/// Reads a stream to its end (the gateway may close the connection after an error event) and
/// returns its events; every data event must be valid JSON.
async fn events_until_closed(response: reqwest::Response) -> Vec<(String, Value)> {
    let mut body = Vec::new();
    let mut response = response;
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
    }
    sse_events(&String::from_utf8_lossy(&body))
}

/// A re-framed `/api` stream that outlives `stream_timeout` ends with a retryable error event.
#[tokio::test]
async fn api_streams_end_with_an_error_event_at_stream_timeout() {
    let gw = Gateway::start("[streaming]\nstream_timeout = \"300ms\"\n", &["--demo"]);
    // The connection is closed after the error event; what arrived before is the stream.
    let events = events_until_closed(markers_stream_with_fault(&gw, "slow=500ms").await).await;
    let (name, error) = events.last().expect("events");
    assert_eq!(name, "error");
    assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some("STREAM_TIMEOUT"), Some(true)));
    assert!(!events.iter().any(|(n, _)| n == "complete"));
}

#[tokio::test]
async fn api_streams_end_with_an_error_event_when_immich_goes_quiet_or_breaks_off() {
    // Immich's answer must begin within idle_timeout too (nothing from Immich is nothing): 1 s
    // leaves room for a loaded machine (300 ms gave a 504 when other tests ran beside it).
    let gw = Gateway::start("[streaming]\nidle_timeout = \"1s\"\nchunk_size = 10\n", &["--demo"]);
    for (fault, code) in [("stall=6s", "IDLE_TIMEOUT"), ("cut", "UPSTREAM_ERROR")] {
        let started = std::time::Instant::now();
        let events = events_until_closed(markers_stream_with_fault(&gw, fault).await).await;
        let items: usize = events
            .iter()
            .filter(|(name, _)| name == "data")
            .map(|(_, data)| data["items"].as_array().expect("whole data events").len())
            .sum();
        assert!(items > 0, "{fault}: the first half of the markers arrived before the fault");
        let (name, error) = events.last().expect("events");
        assert_eq!(name, "error", "{fault}: {events:?}");
        assert_eq!((error["code"].as_str(), error["retryable"].as_bool()), (Some(code), Some(true)), "{fault}");
        assert_eq!(error["processedItems"].as_u64(), Some(items as u64), "{fault}");
        assert!(started.elapsed() < std::time::Duration::from_secs(4), "{fault}: ended without waiting out the stall");
    }
}

/// Opens `/api/map/markers` as SSE on a raw connection that never reads, then polls
/// `/health/streaming` for `within`; returns whether the stream was seen open, and whether it
/// then closed.
async fn stalled_stream_closes(gw: &Gateway, within: std::time::Duration) -> (bool, bool) {
    let address = gw.at("").trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stalled = std::net::TcpStream::connect(&address).unwrap();
    let request = format!("GET /api/map/markers?stream=sse HTTP/1.1\r\nHost: {address}\r\nx-api-key: {ADMIN}\r\n\r\n");
    std::io::Write::write_all(&mut stalled, request.as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + within;
    let mut seen_active = false;
    while std::time::Instant::now() < deadline {
        let health: Value = client().get(gw.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
        let active = health["activeStreams"].as_i64().unwrap();
        seen_active |= active == 1;
        if seen_active && active == 0 {
            return (true, true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (seen_active, false)
}

#[tokio::test]
async fn an_api_stream_whose_client_stops_reading_ends_after_backpressure_timeout() {
    // 200,000 markers (~30 MB of SSE) cannot all fit in the socket buffers: once they are full
    // the gateway's write waits, and after backpressure_timeout the stream is given up.
    let args = ["--demo", "--demo-assets", "200000"];
    let quick = Gateway::start("[streaming]\nbackpressure_timeout = \"300ms\"\n", &args);
    assert_eq!(stalled_stream_closes(&quick, std::time::Duration::from_secs(20)).await, (true, true));
    // The control: with the default 30 s the same stalled stream stays open.
    let patient = Gateway::start("", &args);
    assert_eq!(stalled_stream_closes(&patient, std::time::Duration::from_millis(2500)).await, (true, false));
}

/// REAL-IMMICH.md defect 7: answers with no array (`POST /api/search/statistics`, a timeline
/// bucket's columns) were a 200 stream holding only a retryable error; they arrive whole, as the
/// one item of one event.
#[tokio::test]
async fn answers_without_an_array_stream_as_one_item() {
    let gw = Gateway::start("", &["--demo"]);
    let statistics = client().post(gw.at("/api/search/statistics")).json(&serde_json::json!({}));
    let statistics = admin_text(statistics, "text/event-stream").await;
    let events = sse_events(&statistics);
    assert_eq!(events.len(), 2, "{statistics}");
    assert_eq!((events[0].0.as_str(), events[1].0.as_str()), ("data", "complete"));
    assert!(events[0].1["items"][0]["total"].as_u64().unwrap() > 0, "{statistics}");
    let bucket = client().get(gw.at("/api/timeline/bucket?timeBucket=2024-09-01"));
    let bucket = admin_text(bucket, "application/x-ndjson").await;
    let first: serde_json::Value = serde_json::from_str(bucket.lines().next().unwrap()).unwrap();
    assert!(first["id"].is_array(), "the bucket's columns, whole: {bucket:.300}");
    assert!(!bucket.contains("INVALID_UPSTREAM_JSON"));
}
