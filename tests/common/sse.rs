//! Reading MCP answers streamed over SSE, step by step, as the resume tests need: read some
//! events, cut or kill something, read on.

use serde_json::{Value, json};
use std::time::Duration;

/// A stateless-wire (2026-07-28) `tools/call` of `tool` with `arguments` to `mcp_url`, with its
/// routing headers, ready to send (add credentials).
pub fn stateless_call(
    client: &reqwest::Client,
    mcp_url: &str,
    tool: &str,
    arguments: Value,
) -> reqwest::RequestBuilder {
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {} });
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments, "_meta": meta } });
    client
        .post(mcp_url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
}

/// A stateless-wire `queryPhotos` call with `arguments` to `mcp_url`, answered over SSE; asserts
/// the 200.
pub async fn stateless_query(mcp_url: &str, arguments: Value) -> reqwest::Response {
    let response = stateless_call(&super::client(), mcp_url, "queryPhotos", arguments).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// An SSE response read in steps: each `read` goes on where the previous one stopped.
pub struct SseReader {
    response: reqwest::Response,
    pending: Vec<u8>,
}

impl SseReader {
    /// Reads `response`'s body as SSE.
    pub fn new(response: reqwest::Response) -> SseReader {
        SseReader { response, pending: Vec::new() }
    }

    /// Messages and their event ids until `stop` says so or the stream ends (or breaks); events
    /// without JSON data (priming, keep-alive comments) carry no message. Each wait for the next
    /// chunk is bounded by 20 s.
    pub async fn read(&mut self, mut stop: impl FnMut(&Value) -> bool) -> Vec<(Option<String>, Value)> {
        let mut messages = Vec::new();
        loop {
            while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.pending.drain(..end + 2).collect();
                let text = String::from_utf8(event).unwrap();
                let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")).filter(|d| !d.is_empty()) else {
                    continue;
                };
                let id = text.lines().find_map(|l| l.strip_prefix("id: ")).map(str::to_string);
                let message: Value = serde_json::from_str(data).unwrap();
                let done = stop(&message);
                messages.push((id, message));
                if done {
                    return messages;
                }
            }
            let next = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("a chunk within 20 s");
            match next {
                Ok(Some(chunk)) => self.pending.extend_from_slice(&chunk),
                Ok(None) | Err(_) => return messages,
            }
        }
    }

    /// Messages until `count` data events have arrived.
    pub async fn read_data_events(&mut self, count: usize) -> Vec<(Option<String>, Value)> {
        let mut seen = 0;
        self.read(|m| {
            seen += usize::from(m["method"] == "notifications/stream/data");
            seen == count
        })
        .await
    }
}

/// Reads SSE messages off `response` until `stop` says so or the stream ends.
pub async fn read_messages(response: reqwest::Response, stop: impl FnMut(&Value) -> bool) -> Vec<Value> {
    SseReader::new(response).read(stop).await.into_iter().map(|(_, message)| message).collect()
}

/// The `params` of every `notifications/stream/data` message.
pub fn data_events(messages: &[Value]) -> Vec<&Value> {
    messages.iter().filter(|m| m["method"] == "notifications/stream/data").map(|m| &m["params"]).collect()
}

/// The ids of the photos streamed in `messages`, in order.
pub fn photo_ids(messages: &[Value]) -> Vec<String> {
    super::streamed_items(messages).iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}
