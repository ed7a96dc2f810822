//! A push-based splitter for one array inside a JSON document: bytes go in as they arrive, and
//! each array element goes to an [`ElementSink`] as runs of bytes, ending as soon as its last byte
//! is seen. It holds nothing of an element itself (the sink decides what to keep), only a few
//! small scalars from around the array, whatever the document's size.
//!
//! Written by hand because it is the gateway's core: a tokenizing parser would allocate a tree
//! per element, and a whole-body parse would hold the body. Outside elements it tracks nesting,
//! strings and the key path one byte at a time; inside them [`super::scan`] follows only depth and
//! strings, 64 bytes at a time.

use super::scan::ElementScan;
use bytes::Bytes;

/// Receives the elements a splitter finds: each element arrives as one or more runs of bytes
/// between `begin` and `end`, so a consumer can copy them straight to where they go (the
/// re-framer writes them into its output; [`Elements`] collects whole elements).
pub trait ElementSink {
    /// An element starts.
    fn begin(&mut self);
    /// The next bytes of the current element.
    fn bytes(&mut self, run: &[u8]);
    /// The current element is complete.
    fn end(&mut self);
    /// Whether the splitter should stop after the element that just ended (and leave the rest of
    /// the chunk for a later call): a consumer that takes elements one at a time parses no further
    /// ahead than it reads.
    fn satisfied(&self) -> bool {
        false
    }
}

/// Collects whole elements, for consumers that parse each one.
#[derive(Debug, Default)]
pub struct Elements {
    current: Vec<u8>,
    /// The elements completed so far, in order.
    pub done: Vec<Bytes>,
    one_at_a_time: bool,
}

impl Elements {
    /// A collector that stops the splitter after each element until `done` is emptied.
    pub fn one_at_a_time() -> Elements {
        Elements { one_at_a_time: true, ..Elements::default() }
    }
}

impl ElementSink for Elements {
    fn begin(&mut self) {
        self.current.clear();
    }
    fn bytes(&mut self, run: &[u8]) {
        self.current.extend_from_slice(run);
    }
    fn end(&mut self) {
        self.done.push(Bytes::copy_from_slice(&self.current));
    }
    fn satisfied(&self) -> bool {
        self.one_at_a_time && !self.done.is_empty()
    }
}

/// Hands `run` to `sink` with line breaks turned into spaces: outside strings they are mere
/// whitespace (a raw one inside a string is invalid JSON anyway), and an element must fit on one
/// SSE `data:` line or one NDJSON line.
fn emit_one_line(mut run: &[u8], sink: &mut impl ElementSink) {
    while let Some(at) = memchr::memchr2(b'\n', b'\r', run) {
        sink.bytes(&run[..at]);
        sink.bytes(b" ");
        run = &run[at + 1..];
    }
    if !run.is_empty() {
        sink.bytes(run);
    }
}

/// How many scalars from outside the array are kept for the summary, and how long each may be.
const MAX_SCALARS: usize = 32;
const MAX_SCALAR_BYTES: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Container {
    Object,
    Array,
}

#[derive(Debug)]
struct Frame {
    kind: Container,
    /// The key of the member being read, for objects.
    key: Option<String>,
    /// In an object: the next string is a key (after `{` or `,`).
    expect_key: bool,
}

/// Splits the first array found at one of the target paths into its elements.
#[derive(Debug)]
pub struct ArraySplitter {
    targets: Vec<Vec<String>>,
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    key: Option<Vec<u8>>,
    /// Stack depth of the array being split, once found.
    splitting: Option<usize>,
    finished_target: bool,
    in_item: bool,
    /// Inside an element only nesting and strings matter; they are tracked here, not on `stack`.
    item_scan: ElementScan,
    item_len: usize,
    scalar: Option<(String, Vec<u8>)>,
    scalars: Vec<(String, String)>,
    root_seen: bool,
    root_done: bool,
    max_item: usize,
}

/// What went wrong with the document.
#[derive(Debug, PartialEq, Eq)]
pub struct SplitError(pub String);

impl ArraySplitter {
    /// A splitter for the array at the first of `targets` met (each a key path; empty = the root),
    /// refusing elements larger than `max_item` bytes.
    pub fn new(targets: Vec<Vec<String>>, max_item: usize) -> ArraySplitter {
        ArraySplitter {
            targets,
            stack: Vec::new(),
            in_string: false,
            escape: false,
            key: None,
            splitting: None,
            finished_target: false,
            in_item: false,
            item_scan: ElementScan::default(),
            item_len: 0,
            scalar: None,
            scalars: Vec::new(),
            root_seen: false,
            root_done: false,
            max_item,
        }
    }

    /// Whether the target array has been found.
    pub fn found(&self) -> bool {
        self.splitting.is_some() || self.finished_target
    }

    /// Scalars seen outside the array (dotted path → raw JSON), e.g. `assets.nextPage`.
    pub fn scalars(&self) -> &[(String, String)] {
        &self.scalars
    }

    fn path(&self) -> Vec<&str> {
        self.stack.iter().filter_map(|f| f.key.as_deref()).collect()
    }

    fn at_target(&self) -> bool {
        let path = self.path();
        !self.finished_target
            && self.splitting.is_none()
            && self.targets.iter().any(|t| t.iter().map(String::as_str).eq(path.iter().copied()))
    }

    /// Feeds bytes; the elements found go to `sink` as they are read. Returns how many bytes were
    /// consumed: all of them, unless the sink was [satisfied](ElementSink::satisfied) first.
    pub fn push(&mut self, chunk: &[u8], sink: &mut impl ElementSink) -> Result<usize, SplitError> {
        let mut i = 0;
        while i < chunk.len() {
            if self.in_item {
                i = self.scan_item(chunk, i, sink)?;
                if !self.in_item && sink.satisfied() {
                    return Ok(i);
                }
                continue;
            }
            let b = chunk[i];
            let array_level = self.splitting.is_some_and(|d| self.stack.len() == d);
            if array_level && !self.in_string && !b.is_ascii_whitespace() && b != b',' && b != b']' {
                // An element starts here; the block scanner takes it from this byte.
                self.in_item = true;
                self.item_len = 0;
                sink.begin();
                continue;
            }
            self.byte(b)?;
            i += 1;
        }
        Ok(i)
    }

    /// The hot path: hands an element's bytes to the sink in runs, until the element ends (`,` or
    /// the array's `]` at depth 0) or the chunk does. Returns the index of the first byte it did
    /// not consume.
    fn scan_item(&mut self, chunk: &[u8], start: usize, sink: &mut impl ElementSink) -> Result<usize, SplitError> {
        let end = self.item_scan.scan(&chunk[start..])?;
        let stop = end.map_or(chunk.len(), |at| start + at);
        self.item_len += stop - start;
        if self.item_len > self.max_item {
            return Err(SplitError(format!("an element is larger than {} bytes", self.max_item)));
        }
        if self.item_scan.take_line_break() {
            emit_one_line(&chunk[start..stop], sink);
        } else {
            sink.bytes(&chunk[start..stop]);
        }
        match end {
            None => Ok(chunk.len()),
            Some(_) => {
                self.in_item = false;
                sink.end();
                // A `,` is consumed here; the array's `]` is left to the slow path.
                Ok(if chunk[stop] == b',' { stop + 1 } else { stop })
            }
        }
    }

    /// Ends the document: an error if it was cut short.
    pub fn finish(&mut self) -> Result<(), SplitError> {
        if self.in_string || self.in_item || !self.stack.is_empty() || !self.root_seen {
            return Err(SplitError("the JSON ended early (truncated)".into()));
        }
        Ok(())
    }

    /// The slow path, for the bytes outside elements: nesting, keys and scalars.
    fn byte(&mut self, b: u8) -> Result<(), SplitError> {
        if self.root_done && !b.is_ascii_whitespace() {
            return Err(SplitError(format!("unexpected {:?} after the end of the JSON", b as char)));
        }
        if let Some((_, raw)) = &mut self.scalar {
            let ends = !self.in_string && (b == b',' || b == b'}' || b == b']');
            if ends {
                self.end_scalar();
            } else if raw.len() < MAX_SCALAR_BYTES {
                raw.push(b);
            }
        }

        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if let Some(key) = self.key.take() {
                    let key = String::from_utf8(key).map_err(|_| SplitError("a key is not UTF-8".into()))?;
                    if let Some(frame) = self.stack.last_mut() {
                        frame.key = Some(key);
                    }
                }
                return Ok(());
            }
            if let Some(key) = &mut self.key {
                key.push(b);
            }
            return Ok(());
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                self.in_string = true;
                let expecting_key = self.stack.last().is_some_and(|f| f.kind == Container::Object && f.expect_key);
                if expecting_key {
                    self.key = Some(Vec::new());
                    if let Some(frame) = self.stack.last_mut() {
                        frame.expect_key = false;
                    }
                } else {
                    self.value_starts(b);
                }
            }
            b'{' | b'[' => {
                self.value_start_structure()?;
                if b == b'[' && self.at_target() {
                    self.stack.push(Frame { kind: Container::Array, key: None, expect_key: false });
                    self.splitting = Some(self.stack.len());
                    return Ok(());
                }
                let kind = if b == b'{' { Container::Object } else { Container::Array };
                self.stack.push(Frame { kind, key: None, expect_key: kind == Container::Object });
            }
            b'}' | b']' => {
                let want = if b == b'}' { Container::Object } else { Container::Array };
                let frame = self.stack.pop().ok_or_else(|| SplitError(format!("unexpected {:?}", b as char)))?;
                if frame.kind != want {
                    return Err(SplitError(format!("mismatched {:?}", b as char)));
                }
                if self.splitting == Some(self.stack.len() + 1) {
                    self.splitting = None;
                    self.finished_target = true;
                }
                if let Some(parent) = self.stack.last_mut()
                    && parent.kind == Container::Object
                {
                    parent.key = None;
                }
                if self.stack.is_empty() {
                    self.root_done = true;
                }
            }
            b',' => {
                let frame = self.stack.last_mut().ok_or_else(|| SplitError("unexpected ','".into()))?;
                if frame.kind == Container::Object {
                    frame.expect_key = true;
                    frame.key = None;
                }
            }
            b':' => {
                if !self.stack.last().is_some_and(|f| f.kind == Container::Object) {
                    return Err(SplitError("unexpected ':'".into()));
                }
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.value_starts(b),
            b'.' | b'e' | b'E' | b'+' | b'r' | b'u' | b'a' | b'l' | b's' => {}
            other => return Err(SplitError(format!("unexpected byte 0x{other:02x}"))),
        }
        Ok(())
    }

    /// A scalar value begins: remember it when it sits in an object outside the target array.
    fn value_starts(&mut self, first: u8) {
        if !self.root_seen {
            self.root_seen = true;
        }
        let in_object_member = self.stack.last().is_some_and(|f| f.kind == Container::Object && f.key.is_some());
        if self.splitting.is_none() && in_object_member && self.scalar.is_none() && self.scalars.len() < MAX_SCALARS {
            self.scalar = Some((self.path().join("."), vec![first]));
        }
    }

    fn value_start_structure(&mut self) -> Result<(), SplitError> {
        self.root_seen = true;
        if self.stack.last().is_some_and(|f| f.kind == Container::Object && f.key.is_none()) {
            return Err(SplitError("an object member has no key".into()));
        }
        Ok(())
    }

    fn end_scalar(&mut self) {
        if let Some((path, raw)) = self.scalar.take() {
            let text = String::from_utf8_lossy(&raw).trim().to_string();
            self.scalars.push((path, text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Items, scalars and the outcome of splitting a document.
    type Split = (Vec<Value>, Vec<(String, String)>, Result<(), SplitError>);

    fn split(doc: &str, targets: &[&[&str]], chunk: usize) -> Split {
        let targets = targets.iter().map(|t| t.iter().map(|s| s.to_string()).collect()).collect();
        let mut splitter = ArraySplitter::new(targets, 1 << 20);
        let mut items = Elements::default();
        let mut result = Ok(());
        for piece in doc.as_bytes().chunks(chunk.max(1)) {
            if let Err(e) = splitter.push(piece, &mut items) {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            result = splitter.finish();
        }
        let values =
            items.done.iter().map(|b| serde_json::from_slice(b).expect("every element is valid JSON")).collect();
        (values, splitter.scalars().to_vec(), result)
    }

    #[test]
    fn splits_a_root_array_at_every_chunk_boundary() {
        let doc = r#" [ {"id":"a","n":[1,2,{"x":"],}"}]}, 17, "s,]\"", true, null, {"deep":{"k":[[],{}]}} ] "#;
        let expected = vec![
            json!({"id":"a","n":[1,2,{"x":"],}"}]}),
            json!(17),
            json!("s,]\""),
            json!(true),
            Value::Null,
            json!({"deep":{"k":[[],{}]}}),
        ];
        for chunk in 1..doc.len() {
            let (items, _, result) = split(doc, &[&[]], chunk);
            assert_eq!(result, Ok(()), "chunk {chunk}");
            assert_eq!(items, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn finds_assets_items_in_a_search_response_and_keeps_the_scalars() {
        let doc = json!({ "albums": { "total": 0, "count": 0, "items": [], "facets": [] },
            "assets": { "total": 2, "count": 2, "items": [{ "id": "1", "people": [] }, { "id": "2", "tags": ["a"] }], "facets": [], "nextPage": "2" } })
        .to_string();
        for chunk in [1, 3, 7, 64, 4096] {
            let (items, scalars, result) = split(&doc, &[&["assets", "items"]], chunk);
            assert_eq!(result, Ok(()));
            assert_eq!(items, vec![json!({ "id": "1", "people": [] }), json!({ "id": "2", "tags": ["a"] })]);
            assert!(scalars.contains(&("assets.nextPage".to_string(), "\"2\"".to_string())), "{scalars:?}");
            assert!(scalars.contains(&("albums.total".to_string(), "0".to_string())), "{scalars:?}");
        }
    }

    #[test]
    fn line_breaks_in_pretty_printed_elements_become_spaces() {
        // Long enough that the scanner's 64-byte blocks see breaks in some and none in others.
        let doc = format!("[\n  {{\n    \"a\": [1,\r\n 2]\n  }},{},\n  \"x\"\n]", [r#"{"b":"long"}"#; 12].join(","));
        for chunk in [1, 5, 63, 64, 65, doc.len()] {
            let mut splitter = ArraySplitter::new(vec![vec![]], 1 << 20);
            let mut items = Elements::default();
            for piece in doc.as_bytes().chunks(chunk) {
                splitter.push(piece, &mut items).unwrap();
            }
            splitter.finish().unwrap();
            assert_eq!(items.done.len(), 14, "chunk {chunk}");
            for item in &items.done {
                assert!(!item.contains(&b'\n') && !item.contains(&b'\r'), "chunk {chunk}: {item:?}");
            }
            assert_eq!(serde_json::from_slice::<Value>(&items.done[0]).unwrap(), json!({"a": [1, 2]}));
        }
    }

    #[test]
    fn a_satisfied_sink_stops_the_splitter_after_each_element() {
        let doc = br#"{"assets":{"items":[{"id":1},{"id":2},{"id":3}],"nextPage":null}}"#;
        let mut splitter = ArraySplitter::new(vec![vec!["assets".into(), "items".into()]], 1 << 20);
        let mut one = Elements::one_at_a_time();
        let (mut offset, mut seen) = (0, Vec::new());
        while offset < doc.len() {
            offset += splitter.push(&doc[offset..], &mut one).unwrap();
            assert!(one.done.len() <= 1);
            seen.extend(one.done.drain(..).map(|b| serde_json::from_slice::<Value>(&b).unwrap()));
        }
        splitter.finish().unwrap();
        assert_eq!(seen, vec![json!({"id": 1}), json!({"id": 2}), json!({"id": 3})]);
        assert!(splitter.scalars().contains(&("assets.nextPage".to_string(), "null".to_string())));
    }

    #[test]
    fn empty_arrays_and_whitespace() {
        assert_eq!(split("[]", &[&[]], 1).0, Vec::<Value>::new());
        assert_eq!(split(" [ \n ] ", &[&[]], 2).0, Vec::<Value>::new());
        assert_eq!(split("[ 1 , 2 ]", &[&[]], 1).0, vec![json!(1), json!(2)]);
    }

    #[test]
    fn truncated_and_invalid_documents_are_errors() {
        assert!(split(r#"[{"id":1},{"id""#, &[&[]], 5).2.is_err(), "truncated");
        assert!(split(r#"[{"id":1}]]"#, &[&[]], 5).2.is_err(), "extra bracket");
        assert!(split(r#"[{"id":1]"#, &[&[]], 5).2.is_err(), "mismatched");
        assert!(split("", &[&[]], 5).2.is_err(), "empty body");
        assert!(split("[1,2] x", &[&[]], 5).2.is_err(), "trailing garbage");
    }

    #[test]
    fn oversized_elements_are_refused() {
        let mut splitter = ArraySplitter::new(vec![vec![]], 8);
        let mut items = Elements::default();
        assert!(splitter.push(br#"["0123456789"]"#, &mut items).is_err());
    }
}
