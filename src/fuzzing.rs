//! Entry points for the coverage-guided fuzzers (`fuzz/`, cargo-fuzz) and for the replay of their
//! corpora in the test suite (`tests/fuzz_corpus.rs`): every parser a stranger's bytes reach.
//! Each takes raw bytes, must never panic, and checks what must hold of its answer (an `assert!`
//! failing is a crash the fuzzer reports). Built only with the `fuzzing` feature.

use crate::stream::json::{ArraySplitter, ElementSink};
use crate::stream::scan::ElementScan;

/// One fuzz target: raw bytes in, a panic for a crash.
pub type Target = fn(&[u8]);

/// Every target, by name (the corpus directories and the `fuzz/fuzz_targets` files are named so).
pub const TARGETS: &[(&str, Target)] = &[
    ("jsonrpc", jsonrpc),
    ("header_value", header_value),
    ("sealed", sealed),
    ("scanner", scanner),
    ("splitter", splitter),
    ("config", config),
    ("api_path", api_path),
    ("last_event_id", last_event_id),
];

/// JSON-RPC bodies: parsed (single or batch), each message's method classified, each id echoed.
pub fn jsonrpc(data: &[u8]) {
    use crate::mcp::jsonrpc::{Body, Message, parse_body};
    let messages = match parse_body(data) {
        Ok(Body::Single(message)) => vec![message],
        Ok(Body::Batch(messages)) => messages.into_iter().filter_map(Result::ok).collect(),
        Err(_) => return,
    };
    for message in messages {
        match message {
            Message::Request { id, method, .. } => {
                let _ = crate::mcp::method::Method::parse(&method);
                // An id is echoed as written: it must come back as valid JSON.
                let echoed = crate::mcp::jsonrpc::result_bytes(&id, &serde_json::json!({}));
                assert!(serde_json::from_slice::<serde_json::Value>(&echoed).is_ok(), "an echoed id broke the JSON");
            }
            Message::Notification { method, .. } => {
                let _ = crate::mcp::method::Method::parse(&method);
            }
            Message::Response { .. } => {}
        }
    }
}

/// `Mcp-Name` / `Mcp-Param-*` values: the `=?base64?…?=` sentinel decoded strictly, anything else
/// literal.
pub fn header_value(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let decoded = crate::mcp::transport::decode_header_value(text);
    let wrapped = text.starts_with("=?base64?") && text.ends_with("?=") && text.len() >= 11;
    if !wrapped {
        assert_eq!(decoded.as_deref(), Some(text), "a plain value is taken literally");
    }
}

/// Sealed values a client sends back: session ids, resume tokens, export links, `requestState`,
/// cursors, and the OAuth vault's codes, tokens and client ids. Bytes that were never sealed must
/// never open.
pub fn sealed(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let secrets = crate::mcp::session::SessionSecrets::new(Some(b"fuzzing-secret-fuzzing-secret-32".to_vec()), vec![]);
    let sessions = crate::mcp::session::Sessions::default();
    assert!(sessions.verify(&secrets, text).is_err(), "a session id opened that was never sealed");
    let sealer = sessions.sealer(&secrets);
    for kind in ["session", "request-state", "resume", crate::tools::export::KIND] {
        assert!(sealer.open(kind, text).is_none(), "a {kind} opened that was never sealed");
    }
    let params = serde_json::json!({ "requestState": text });
    assert!(crate::mcp::catalog::InputRound::from_params(&params, sealer).is_err());
    let _ = crate::tools::cursor_decode(text);
    let vault = crate::auth::vault::Vault::new(Some(b"fuzzing-secret"), &[]);
    for kind in ["oauth-access", "oauth-refresh", "oauth-code", "oauth-client", "oauth-consent"] {
        assert!(vault.open::<serde_json::Value>(kind, text).is_none(), "a {kind} opened that was never sealed");
    }
    let _ = crate::auth::oauth::verify_access(&vault, "https://gw.example/mcp", text);
}

/// The block scanner, differential: every instruction-set variant this CPU has, fed the input in
/// pieces of every size up to 64 (the first byte picks the size), agrees with the others on every
/// input, and with the byte-at-a-time reference wherever the element is valid JSON (the block
/// scanner resolves backslashes the way simdjson does, string or not, which only a document that
/// is not JSON can tell apart).
pub fn scanner(data: &[u8]) {
    let Some((&first, doc)) = data.split_first() else { return };
    let piece = usize::from(first % 64) + 1;
    let mut answers = Vec::new();
    for (name, variant) in crate::stream::scan::variants() {
        let mut scan = ElementScan::default();
        let mut base = 0;
        let mut found = Ok(None);
        for part in doc.chunks(piece) {
            match variant(&mut scan, part) {
                Ok(Some(at)) => found = Ok(Some(base + at)),
                Ok(None) => {}
                // A bracket closing what was never opened: the document is not JSON.
                Err(e) => found = Err(e.0),
            }
            if !matches!(found, Ok(None)) {
                break;
            }
            base += part.len();
        }
        answers.push((name, found));
    }
    let (first_name, first_answer) = answers[0].clone();
    for (name, answer) in &answers {
        assert_eq!(*answer, first_answer, "{name} disagrees with {first_name}, pieces of {piece}");
    }
    let expected = crate::stream::scan::reference_end(doc);
    let valid = |end: usize| serde_json::from_slice::<serde::de::IgnoredAny>(&doc[..end]).is_ok();
    if let Some(end) = expected.filter(|&end| valid(end)) {
        assert_eq!(first_answer, Ok(Some(end)), "the block scanner disagrees with the reference on valid JSON");
    }
}

/// Counts what the splitter hands out.
#[derive(Default)]
struct Count {
    elements: usize,
    open: bool,
}

impl ElementSink for Count {
    fn begin(&mut self) {
        assert!(!self.open, "an element began inside another");
        self.open = true;
    }
    fn bytes(&mut self, _run: &[u8]) {
        assert!(self.open, "bytes outside an element");
    }
    fn end(&mut self) {
        assert!(self.open, "an element ended that never began");
        self.open = false;
        self.elements += 1;
    }
}

/// The streaming array splitter: fed in pieces (the first byte picks the size), it never panics,
/// and for a document that is a JSON array it hands out as many elements as the array has.
pub fn splitter(data: &[u8]) {
    let Some((&first, doc)) = data.split_first() else { return };
    let piece = usize::from(first % 32) + 1;
    let mut splitter = ArraySplitter::new(vec![Vec::new()], 1 << 20);
    let mut count = Count::default();
    let mut ok = true;
    for part in doc.chunks(piece) {
        if splitter.push(part, &mut count).is_err() {
            ok = false;
            break;
        }
    }
    let ok = ok && splitter.finish().is_ok();
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(doc)
        && ok
    {
        assert_eq!(count.elements, items.len(), "the splitter and serde_json disagree on the array");
    }
}

/// The configuration file: parsed and checked, never a panic, every error located.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(errors) = crate::config::load_str(text, "fuzz.toml", Vec::new()) {
        assert!(!errors.to_string().is_empty());
    }
}

/// `/api` path normalisation: what comes out starts with `/api`, has no dot segments and no empty
/// segment, and normalising it again changes nothing.
pub fn api_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(path) = crate::gateway::path::normalize_api_path(text) {
        assert!(path == "/api" || path.starts_with("/api/"), "{text:?} left /api: {path:?}");
        let mut segments = path[1..].split('/');
        assert!(segments.all(|s| s != "." && s != ".."), "{text:?} kept a dot segment: {path:?}");
        assert_eq!(crate::gateway::path::normalize_api_path(&path).as_deref(), Ok(path.as_str()), "{text:?}");
    }
}

/// `Last-Event-ID` values, with what resumes a call elsewhere.
pub fn last_event_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crate::mcp::transport::parse_last_event_id(text);
}
