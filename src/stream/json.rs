//! A push-based splitter for one array inside a JSON document: bytes go in as they arrive, each
//! array element comes out as soon as its last byte is seen. It never holds more than the element
//! being read (plus a few small scalars from around the array), whatever the document's size.
//!
//! Written by hand because it is the gateway's core: a tokenizing parser would allocate a tree
//! per element, and a whole-body parse would hold the body. This one only tracks nesting, string
//! and escape state, and the key path, one byte at a time.

use bytes::Bytes;

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
    item: Vec<u8>,
    in_item: bool,
    /// Inside an element only nesting and strings matter; they are tracked here, not on `stack`.
    item_depth: u32,
    item_in_string: bool,
    item_escape: bool,
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
            item: Vec::new(),
            in_item: false,
            item_depth: 0,
            item_in_string: false,
            item_escape: false,
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

    /// Feeds bytes; completed elements are appended to `items`.
    pub fn push(&mut self, chunk: &[u8], items: &mut Vec<Bytes>) -> Result<(), SplitError> {
        let mut i = 0;
        while i < chunk.len() {
            if self.in_item {
                i = self.scan_item(chunk, i, items)?;
                continue;
            }
            let b = chunk[i];
            let array_level = self.splitting.is_some_and(|d| self.stack.len() == d);
            if array_level && !self.in_string && !b.is_ascii_whitespace() && b != b',' && b != b']' {
                // An element starts here; the fast scanner takes it from this byte.
                self.in_item = true;
                self.item.clear();
                self.item_depth = 0;
                self.item_in_string = false;
                self.item_escape = false;
                continue;
            }
            self.byte(b)?;
            i += 1;
        }
        Ok(())
    }

    /// The hot loop: copies an element's bytes in bulk, tracking only nesting and strings, until
    /// the element ends (`,` or the array's `]` at depth 0) or the chunk does. Returns the index
    /// of the first byte it did not consume.
    fn scan_item(&mut self, chunk: &[u8], start: usize, items: &mut Vec<Bytes>) -> Result<usize, SplitError> {
        let mut j = start;
        while j < chunk.len() {
            if self.item_in_string {
                if self.item_escape {
                    self.item_escape = false;
                    j += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &chunk[j..]) {
                    None => j = chunk.len(),
                    Some(offset) => {
                        j += offset;
                        if chunk[j] == b'\\' {
                            self.item_escape = true;
                        } else {
                            self.item_in_string = false;
                        }
                        j += 1;
                    }
                }
                continue;
            }
            match chunk[j] {
                b'"' => self.item_in_string = true,
                b'{' | b'[' => self.item_depth += 1,
                b'}' | b']' if self.item_depth > 0 => self.item_depth -= 1,
                b']' => {
                    // The array's own closing bracket: the slow path consumes it.
                    self.item.extend_from_slice(&chunk[start..j]);
                    self.end_item(items)?;
                    return Ok(j);
                }
                b'}' => return Err(SplitError("mismatched '}'".into())),
                b',' if self.item_depth == 0 => {
                    self.item.extend_from_slice(&chunk[start..j]);
                    self.end_item(items)?;
                    return Ok(j + 1);
                }
                _ => {}
            }
            j += 1;
        }
        self.item.extend_from_slice(&chunk[start..j]);
        if self.item.len() > self.max_item {
            return Err(SplitError(format!("an element is larger than {} bytes", self.max_item)));
        }
        Ok(j)
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

    fn end_item(&mut self, items: &mut Vec<Bytes>) -> Result<(), SplitError> {
        if self.item_in_string || self.item_depth > 0 {
            return Err(SplitError("an element ended inside a string or structure".into()));
        }
        while self.item.last().is_some_and(u8::is_ascii_whitespace) {
            self.item.pop();
        }
        if self.item.len() > self.max_item {
            return Err(SplitError(format!("an element is larger than {} bytes", self.max_item)));
        }
        self.in_item = false;
        items.push(Bytes::copy_from_slice(&self.item));
        self.item.clear();
        Ok(())
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
        let mut items = Vec::new();
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
        let values = items.iter().map(|b| serde_json::from_slice(b).expect("every element is valid JSON")).collect();
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
        let mut items = Vec::new();
        assert!(splitter.push(br#"["0123456789"]"#, &mut items).is_err());
    }
}
