//! Resumable streams without an event store: a photo stream cut in the middle continues on a
//! second gateway process from its last event's resume token, and every photo arrives exactly once.

mod common;

use common::sse::{SseReader, data_events, photo_ids, read_messages, stateless_query};
use common::{Gateway, client};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";

fn replica(extra: &str) -> Gateway {
    Gateway::start(&format!("[mcp]\nsession_secret = \"{SECRET}\"\n{extra}"), &["--demo", "--demo-assets", "4000"])
}

/// A stateless-wire `queryPhotos` call with `arguments`, answered over SSE.
async fn query(gw: &Gateway, arguments: Value) -> reqwest::Response {
    stateless_query(&gw.at("/mcp"), arguments).await
}

/// A 2025-11-25 session opened on `gw`; its id.
async fn session_on(c: &reqwest::Client, gw: &Gateway) -> String {
    let initialize = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "resume-test", "version": "1" } } });
    let init = c.post(gw.at("/mcp")).header("accept", "application/json, text/event-stream").json(&initialize);
    init.send().await.unwrap().headers()["mcp-session-id"].to_str().unwrap().to_string()
}

/// `GET /mcp` on `gw` with `Last-Event-ID: last_id`: the messages until the request's answer.
async fn resume_with(c: &reqwest::Client, gw: &Gateway, session: &str, last_id: &str) -> Vec<Value> {
    let resumed = c
        .get(gw.at("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("last-event-id", last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    read_messages(resumed, |m| m.get("id").is_some()).await
}

fn final_result(messages: &[Value]) -> &Value {
    &messages.iter().find(|m| m.get("id").is_some()).expect("a final result")["result"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_midway_resumes_on_another_replica_with_every_photo_once() {
    let (a, b) = (replica(""), replica(""));
    let everything = read_messages(query(&b, json!({ "limit": 3000 })).await, |_| false).await;
    let expected = photo_ids(&everything);
    assert_eq!(expected.len(), 3000);

    // Cut the stream on A after its fifth data event (the connection is dropped).
    let mut seen = 0;
    let before = read_messages(query(&a, json!({ "limit": 3000 })).await, |m| {
        seen += usize::from(m["method"] == "notifications/stream/data");
        seen == 5
    })
    .await;
    let last = *data_events(&before).last().unwrap();
    assert_eq!(last["hasMore"], true);
    let token = last["resumeToken"].as_str().expect("every data event carries a resume token");

    // Resume on B: the sequence numbers continue and the photos pick up right after the cut.
    let after = read_messages(query(&b, json!({ "resumeToken": token })).await, |_| false).await;
    let resumed = data_events(&after);
    assert_eq!(resumed[0]["sequenceNumber"], last["sequenceNumber"].as_u64().unwrap() + 1);
    assert_eq!(resumed[0]["streamId"], last["streamId"]);
    assert_eq!(resumed.last().unwrap()["processedItems"], 3000);
    assert_eq!(resumed.last().unwrap()["hasMore"], false);
    let mut ids = photo_ids(&before);
    ids.extend(photo_ids(&after));
    assert_eq!(ids, expected, "every photo exactly once, in order");
    assert_ne!(final_result(&after)["isError"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_foreign_and_expired_resume_tokens_are_refused_clearly() {
    let short_lived = replica("[streaming]\nresume_token_ttl = \"1s\"\n");
    let b = replica("");
    let foreign = Gateway::start(
        "[mcp]\nsession_secret = \"another-secret-also-at-least-32-bytes\"\n",
        &["--demo", "--demo-assets", "4000"],
    );
    let mut seen = 0;
    let take_one = |m: &Value| {
        seen += usize::from(m["method"] == "notifications/stream/data");
        seen == 1
    };
    let messages = read_messages(query(&short_lived, json!({ "limit": 2000 })).await, take_one).await;
    let token = data_events(&messages)[0]["resumeToken"].as_str().unwrap().to_string();

    let refusal = |messages: Vec<Value>| {
        let result = final_result(&messages).clone();
        assert_eq!(result["isError"], true, "{result}");
        result["content"][0]["text"].as_str().unwrap().to_string()
    };
    let mut altered = token.clone();
    let middle = altered.len() / 2;
    let flipped = if &altered[middle..=middle] == "A" { "B" } else { "A" };
    altered.replace_range(middle..=middle, flipped);
    let text = refusal(read_messages(query(&b, json!({ "resumeToken": altered })).await, |_| false).await);
    assert!(text.contains("integrity check"), "{text}");
    let text = refusal(read_messages(query(&foreign, json!({ "resumeToken": token })).await, |_| false).await);
    assert!(text.contains("integrity check"), "{text}");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let text = refusal(read_messages(query(&b, json!({ "resumeToken": token })).await, |_| false).await);
    assert!(text.contains("expired"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_a_session_stream_on_another_replica() {
    let (a, b) = (replica(""), replica(""));
    let c = client();
    let initialize = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "resume-test", "version": "1" } } });
    let post = |gw: &Gateway, body: Value| {
        c.post(gw.at("/mcp")).header("accept", "application/json, text/event-stream").json(&body)
    };
    let init = post(&a, initialize).send().await.unwrap();
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let call = json!({ "jsonrpc": "2.0", "id": "q1", "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": 3000 } } });
    let expected = photo_ids(
        &read_messages(post(&b, call.clone()).header("mcp-session-id", &session).send().await.unwrap(), |_| false)
            .await,
    );
    assert_eq!(expected.len(), 3000);

    let mut seen = 0;
    let response = post(&a, call).header("mcp-session-id", &session).send().await.unwrap();
    let before = SseReader::new(response)
        .read(|m| {
            seen += usize::from(m["method"] == "notifications/stream/data");
            seen == 4
        })
        .await;
    let last_id = before.last().unwrap().0.clone().expect("events carry ids");
    let before: Vec<Value> = before.into_iter().map(|(_, m)| m).collect();

    // B never saw this stream: the event id alone carries what continues it.
    let after = resume_with(&c, &b, &session, &last_id).await;
    let mut ids = photo_ids(&before);
    ids.extend(photo_ids(&after));
    assert_eq!(ids, expected, "every photo exactly once, in order");
    assert_eq!(final_result(&after)["structuredContent"]["streamId"], data_events(&before)[0]["streamId"]);
    assert_eq!(after.last().unwrap()["id"], "q1", "the resumed stream answers the original request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_a_stream_with_a_token_another_replica_resumes() {
    // Immich answers each page in 100 ms on A, so the stream is still running at SIGTERM.
    let (a, b) = (replica("[demo]\nfault = \"slow=100ms\"\n"), replica(""));
    let expected = photo_ids(&read_messages(query(&b, json!({ "limit": 3000 })).await, |_| false).await);
    let mut stream = SseReader::new(query(&a, json!({ "limit": 3000 })).await);
    // Read three data events, then ask A to shut down and read on to the end of the stream.
    let mut seen = 0;
    let mut before = stream
        .read(|m| {
            seen += usize::from(m["method"] == "notifications/stream/data");
            seen == 3
        })
        .await;
    a.signal("TERM");
    before.extend(stream.read(|_| false).await);
    let before: Vec<Value> = before.into_iter().map(|(_, m)| m).collect();
    // The stream error event, then the request's own answer: an error saying the same.
    let [.., last, answer] = before.as_slice() else { panic!("too few messages: {before:?}") };
    assert_eq!(last["method"], "notifications/stream/error", "the stream ended with {}", last["method"]);
    assert_eq!(last["params"]["code"], "SHUTTING_DOWN");
    assert_eq!(last["params"]["retryable"], true);
    assert_eq!(answer["error"]["data"]["code"], "SHUTTING_DOWN", "the request is answered: {answer}");
    assert_eq!(answer["error"]["data"]["resumeToken"], last["params"]["resumeToken"]);
    assert!(answer["id"].is_number() || answer["id"].is_string(), "{answer}");
    let token = last["params"]["resumeToken"].as_str().unwrap();

    let after = read_messages(query(&b, json!({ "resumeToken": token })).await, |_| false).await;
    let mut ids = photo_ids(&before);
    ids.extend(photo_ids(&after));
    assert_eq!(ids, expected, "every photo exactly once, in order");
}

/// A client that leaves a session stream mid-way leaves nothing behind on the gateway (its event
/// ids carry the resume token), and its `Last-Event-ID` resumes the call — on the same replica or
/// another — with every photo once and progress still reported under the client's progress token
/// (issue 19 point 2: progress stopped after a resume).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_stream_keeps_reporting_progress_and_nothing_is_parked() {
    let (a, b) = (replica(""), replica(""));
    let c = client();
    let post = |gw: &Gateway, body: Value| {
        c.post(gw.at("/mcp")).header("accept", "application/json, text/event-stream").json(&body)
    };
    let session = session_on(&c, &a).await;
    let call = json!({ "jsonrpc": "2.0", "id": "q2", "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": 3000 }, "_meta": { "progressToken": "p-9" } } });
    let expected = photo_ids(
        &read_messages(post(&b, call.clone()).header("mcp-session-id", &session).send().await.unwrap(), |_| false)
            .await,
    );
    assert_eq!(expected.len(), 3000);
    let progress_after = |messages: &[Value]| {
        messages
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .map(|m| m["params"]["progressToken"].clone())
            .collect::<Vec<_>>()
    };

    for resume_on in [&a, &b] {
        let mut seen = 0;
        let response = post(&a, call.clone()).header("mcp-session-id", &session).send().await.unwrap();
        let before = SseReader::new(response)
            .read(|m| {
                seen += usize::from(m["method"] == "notifications/stream/data");
                seen == 3
            })
            .await;
        let last_id = before.last().unwrap().0.clone().expect("events carry ids");
        let before: Vec<Value> = before.into_iter().map(|(_, m)| m).collect();
        // The client is gone: A keeps nothing of the stream.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let health: Value = c.get(a.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
            if health["activeStreams"] == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "a stream was kept after its client left: {health}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = resume_with(&c, resume_on, &session, &last_id).await;
        let mut ids = photo_ids(&before);
        ids.extend(photo_ids(&after));
        assert_eq!(ids, expected, "every photo exactly once, in order");
        let progress = progress_after(&after);
        assert!(!progress.is_empty() && progress.iter().all(|t| t == "p-9"), "progress after the resume: {progress:?}");
        assert_eq!(after.last().unwrap()["id"], "q2");
    }
}
