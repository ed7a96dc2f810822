//! Re-framing a JSON response into a stream as its bytes arrive: the array's elements go out in
//! SSE events of `chunk_size` items (`event: data`), or as NDJSON lines, followed by a final
//! `complete` event carrying the counts and the scalars found around the array (e.g.
//! `assets.nextPage`). Invalid or truncated upstream JSON ends the stream with an `error` event.

use super::json::ArraySplitter;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};

/// The stream format a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/event-stream`.
    Sse,
    /// `application/x-ndjson`.
    Ndjson,
}

impl Format {
    /// The response content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Sse => "text/event-stream",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    /// The `transport` label of the streaming metrics.
    pub fn transport(self) -> &'static str {
        match self {
            Format::Sse => "sse",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Largest single element accepted (an Immich asset is about 1–2 KB).
const MAX_ITEM: usize = 1 << 20;

/// Turns a JSON body into a stream, chunk by chunk.
pub struct Reframer {
    splitter: ArraySplitter,
    format: Format,
    chunk_size: usize,
    batch: Vec<Bytes>,
    sequence: u64,
    total: u64,
    failed: bool,
}

impl Reframer {
    /// A re-framer splitting the array at the first of `targets`.
    pub fn new(format: Format, targets: Vec<Vec<String>>, chunk_size: usize) -> Reframer {
        Reframer {
            splitter: ArraySplitter::new(targets, MAX_ITEM),
            format,
            chunk_size: chunk_size.max(1),
            batch: Vec::new(),
            sequence: 0,
            total: 0,
            failed: false,
        }
    }

    /// Items sent so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Chunks (SSE data events) sent so far.
    pub fn chunks(&self) -> u64 {
        self.sequence
    }

    /// Bytes waiting in the current batch.
    pub fn batched_bytes(&self) -> usize {
        self.batch.iter().map(Bytes::len).sum()
    }

    /// Whether the stream ended with an error event.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Feeds upstream bytes; returns what to send now (possibly empty).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        if self.failed {
            return Bytes::new();
        }
        let mut out = BytesMut::new();
        let mut items = Vec::new();
        let result = self.splitter.push(chunk, &mut items);
        for item in items {
            self.add(item, &mut out);
        }
        if let Err(e) = result {
            self.fail(&e.0, &mut out);
        }
        out.freeze()
    }

    /// The upstream body ended: flush the last batch and send `complete` (or `error`).
    pub fn finish(&mut self) -> Bytes {
        if self.failed {
            return Bytes::new();
        }
        let mut out = BytesMut::new();
        self.flush(&mut out);
        match self.splitter.finish() {
            Err(e) => self.fail(&e.0, &mut out),
            Ok(()) if !self.splitter.found() => {
                self.fail("the response has no array to stream; request it without streaming", &mut out)
            }
            Ok(()) => {
                let summary: Map<String, Value> = self
                    .splitter
                    .scalars()
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or(Value::String(v.clone()))))
                    .collect();
                let complete = json!({ "totalItems": self.total, "chunks": self.sequence, "summary": summary });
                self.event("complete", &complete, &mut out);
            }
        }
        out.freeze()
    }

    fn add(&mut self, item: Bytes, out: &mut BytesMut) {
        self.total += 1;
        match self.format {
            Format::Ndjson => {
                out.put_slice(&item);
                out.put_u8(b'\n');
            }
            Format::Sse => {
                self.batch.push(item);
                if self.batch.len() >= self.chunk_size {
                    self.flush(out);
                }
            }
        }
    }

    fn flush(&mut self, out: &mut BytesMut) {
        if self.batch.is_empty() {
            return;
        }
        self.sequence += 1;
        // {"sequence":N,"items":[…]} written without re-parsing the items.
        out.put_slice(
            format!("id: {}\nevent: data\ndata: {{\"sequence\":{},\"items\":[", self.sequence, self.sequence)
                .as_bytes(),
        );
        for (n, item) in self.batch.drain(..).enumerate() {
            if n > 0 {
                out.put_u8(b',');
            }
            out.put_slice(&item);
        }
        out.put_slice(b"]}\n\n");
    }

    fn fail(&mut self, message: &str, out: &mut BytesMut) {
        self.end_with("INVALID_UPSTREAM_JSON", &format!("Immich's response could not be streamed: {message}"), out);
    }

    /// Ends the stream early, from the gateway's side (`STREAM_TIMEOUT`, `SHUTTING_DOWN`): the items
    /// batched so far, then a retryable error event; later upstream bytes are ignored.
    pub fn abort(&mut self, code: &str, message: &str) -> Bytes {
        if self.failed {
            return Bytes::new();
        }
        let mut out = BytesMut::new();
        self.end_with(code, message, &mut out);
        out.freeze()
    }

    fn end_with(&mut self, code: &str, message: &str, out: &mut BytesMut) {
        self.flush(out);
        self.failed = true;
        let error = json!({ "code": code, "message": message, "retryable": true, "processedItems": self.total });
        self.event("error", &error, out);
    }

    fn event(&self, name: &str, data: &Value, out: &mut BytesMut) {
        match self.format {
            Format::Sse => out.put_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes()),
            Format::Ndjson => {
                let mut line = data.clone();
                line["type"] = json!(name);
                out.put_slice(format!("{line}\n").as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(format: Format, body: &str, chunk: usize) -> String {
        let mut r = Reframer::new(format, vec![vec![], vec!["assets".into(), "items".into()]], 2);
        let mut out = Vec::new();
        for piece in body.as_bytes().chunks(chunk) {
            out.extend_from_slice(&r.push(piece));
        }
        out.extend_from_slice(&r.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sse_events_carry_batches_then_complete() {
        let text = run(Format::Sse, r#"{"assets":{"items":[{"a":1},{"a":2},{"a":3}],"nextPage":null}}"#, 5);
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{text}");
        assert!(events[0].starts_with("id: 1\nevent: data\ndata: {\"sequence\":1,\"items\":[{\"a\":1},{\"a\":2}]}"));
        assert!(events[1].contains("\"items\":[{\"a\":3}]"));
        let complete: Value = serde_json::from_str(events[2].strip_prefix("event: complete\ndata: ").unwrap()).unwrap();
        assert_eq!(complete["totalItems"], 3);
        assert!(complete["summary"]["assets.nextPage"].is_null());
    }

    #[test]
    fn ndjson_is_one_item_per_line() {
        let text = run(Format::Ndjson, "[1,[2],{\"x\":3}]", 1);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(&lines[..3], &["1", "[2]", "{\"x\":3}"]);
        assert!(lines[3].contains("\"type\":\"complete\""));
    }

    #[test]
    fn truncated_json_ends_with_an_error_event() {
        let text = run(Format::Sse, r#"[{"a":1},{"a":2},{"a":"#, 4);
        assert!(text.contains("event: data"));
        assert!(
            text.trim_end().ends_with("}") && text.contains("event: error") && text.contains("\"retryable\":true"),
            "{text}"
        );
        assert!(!text.contains("event: complete"));
    }
}
