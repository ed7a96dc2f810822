//! JSON-RPC 2.0 messages as MCP uses them: parsing with a precise error for every malformed
//! shape, and the error codes of MCP's error table.
//!
//! Hand-written rather than taken from rmcp: the gateway must classify *invalid* input (wrong
//! `jsonrpc`, ids of the wrong type, batches, responses sent by clients) into the right HTTP
//! status and JSON-RPC code for two protocol generations, and must never allocate a typed tree for
//! a tool's arguments it only forwards. `params` stay `serde_json::Value`.

use serde_json::{Value, json};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a valid JSON-RPC request.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// The session is unknown, expired or deleted.
pub const SESSION_NOT_FOUND: i64 = -32001;
/// A server-side failure outside the request's control.
pub const SERVER_ERROR: i64 = -32002;
/// The caller is over a `[rate_limits]` limit; `data.retryAfterSeconds` says when to try again.
pub const RATE_LIMITED: i64 = -32029;
/// 2026-07-28: a routing header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the protocol version is not supported.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// 2026-07-28: the request needs a client capability the client did not declare.
pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;

/// A JSON-RPC id: a string or an integer (never null for requests).
pub type Id = Value;

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// A message a person can act on.
    pub message: String,
    /// Structured detail.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into(), data: None }
    }

    /// Adds structured detail.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    /// `-32602` with a message.
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// The error object as JSON.
    pub fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }

    /// A complete error response for `id` (null when the request's id is unknown).
    pub fn response(&self, id: Option<&Id>) -> Value {
        json!({ "jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": self.to_json() })
    }
}

/// One incoming JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A request expecting a response.
    Request {
        /// Its id.
        id: Id,
        /// The method.
        method: String,
        /// Parameters (an object, or null when absent).
        params: Value,
    },
    /// A notification: no id, no response.
    Notification {
        /// The method.
        method: String,
        /// Parameters.
        params: Value,
    },
    /// A response to a request the server sent (sampling, elicitation, …).
    Response {
        /// The id of the server's request.
        id: Id,
        /// `Ok(result)` or `Err(error object)`.
        outcome: Result<Value, Value>,
    },
}

impl Message {
    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response { .. } => None,
        }
    }
}

/// A parsed POST body: one message or a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A single message.
    Single(Message),
    /// A JSON-RPC batch (only allowed by protocol 2025-03-26); each entry parsed on its own.
    Batch(Vec<Result<Message, (Option<Id>, RpcError)>>),
}

/// Parses a POST body. A body that is not JSON yields `-32700`; JSON that is not a JSON-RPC
/// message yields `-32600` with the id when one could be read.
pub fn parse_body(bytes: &[u8]) -> Result<Body, (Option<Id>, RpcError)> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let message =
            if e.is_syntax() || e.is_eof() { format!("invalid JSON: {e}") } else { format!("unreadable JSON: {e}") };
        (None, RpcError::new(PARSE_ERROR, message))
    })?;
    keep_id_text(bytes, &mut value);
    match value {
        Value::Array(items) if items.is_empty() => {
            Err((None, RpcError::new(INVALID_REQUEST, "an empty batch is not a valid request")))
        }
        Value::Array(items) => Ok(Body::Batch(items.into_iter().map(parse_message).collect())),
        other => parse_message(other).map(Body::Single),
    }
}

/// Marks an id whose text a `Value` cannot keep (`-0`, an integer past 64 bits, `1.0`): such an
/// id travels through the gateway as this prefix and its text, and [`restore_ids`] writes the
/// text back in every answer, so the client gets its id exactly as it sent it. (A private-use
/// character and a per-process nonce: no client can forge one.)
static RAW_ID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("\u{F8FF}raw-id-{}:", hex::encode(rand::random::<[u8; 6]>())));

/// Replaces the numeric ids of `value` (a message or a batch parsed from `bytes`) that a number
/// `Value` would print differently with their text, marked with [`RAW_ID`].
fn keep_id_text(bytes: &[u8], value: &mut Value) {
    let lossy = |v: &Value| v.get("id").is_some_and(|id| id.as_number().is_some_and(serde_json::Number::is_f64));
    let needed = match &*value {
        Value::Array(items) => items.iter().any(lossy),
        single => lossy(single),
    };
    if !needed {
        return;
    }
    #[derive(serde::Deserialize)]
    struct RawId<'a> {
        #[serde(borrow, default)]
        id: Option<&'a serde_json::value::RawValue>,
    }
    let raw: Vec<Option<&str>> = match &*value {
        Value::Array(_) => {
            serde_json::from_slice::<Vec<RawId>>(bytes).map(|ids| ids.iter().map(|r| r.id.map(|i| i.get())).collect())
        }
        _ => serde_json::from_slice::<RawId>(bytes).map(|r| vec![r.id.map(|i| i.get())]),
    }
    .unwrap_or_default();
    let messages: Vec<&mut Value> = match value {
        Value::Array(items) => items.iter_mut().collect(),
        single => vec![single],
    };
    for (message, raw) in messages.into_iter().zip(raw) {
        let whole = |n: &Value| n["id"].as_f64().is_some_and(|f| f.fract() == 0.0);
        if lossy(message)
            && whole(message)
            && let Some(text) = raw
        {
            message["id"] = Value::String(format!("{}{}", *RAW_ID, text.trim()));
        }
    }
}

/// Writes the ids [`keep_id_text`] marked back as the numbers the client sent, in an answer's
/// serialized JSON (a borrow when there is none, the common case).
pub fn restore_ids(json: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    // Built once: building a searcher per answer was a visible share of a small call.
    static MARKER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(format!("\"{}", *RAW_ID).as_bytes()).into_owned());
    let marker = &*MARKER;
    let Some(_) = marker.find(json) else { return std::borrow::Cow::Borrowed(json) };
    let mut out = Vec::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = marker.find(rest) {
        out.extend_from_slice(&rest[..at]);
        let text_start = at + marker.needle().len();
        let end = rest[text_start..].iter().position(|b| *b == b'"').map_or(rest.len(), |p| text_start + p);
        let text = &rest[text_start..end];
        // Only a JSON number is written bare; anything else stays a string as it was.
        if !text.is_empty() && text.iter().all(|b| b.is_ascii_digit() || b"+-.eE".contains(b)) {
            out.extend_from_slice(text);
        } else {
            out.extend_from_slice(&rest[at..=end.min(rest.len() - 1)]);
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out.extend_from_slice(rest);
    std::borrow::Cow::Owned(out)
}

/// An id as the client wrote it, for carrying it elsewhere (an SSE event id another replica
/// reads back with [`id_from_text`]).
pub fn id_text(id: &Id) -> String {
    let text = id.to_string();
    match restore_ids(text.as_bytes()) {
        std::borrow::Cow::Owned(restored) => String::from_utf8(restored).expect("restoring ids keeps UTF-8"),
        std::borrow::Cow::Borrowed(_) => text,
    }
}

/// Reads an id written by [`id_text`], keeping the text of a number a `Value` would change.
pub fn id_from_text(text: &[u8]) -> Option<Id> {
    let mut message = serde_json::json!({ "id": serde_json::from_slice::<Value>(text).ok()? });
    let wrapped = [b"{\"id\":".as_slice(), text, b"}"].concat();
    keep_id_text(&wrapped, &mut message);
    message.get_mut("id").map(Value::take)
}

/// Interprets one JSON value as a JSON-RPC message.
pub fn parse_message(value: Value) -> Result<Message, (Option<Id>, RpcError)> {
    let Value::Object(mut object) = value else {
        return Err((None, RpcError::new(INVALID_REQUEST, "a JSON-RPC message must be a JSON object")));
    };
    let id = object.remove("id");
    let valid_id = match &id {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_))) if v.as_f64().is_none_or(|f| f.fract() == 0.0) => {
            Some(v.clone())
        }
        Some(_) => return Err((None, RpcError::new(INVALID_REQUEST, "\"id\" must be a string or an integer"))),
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((valid_id, RpcError::new(INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"")));
    }
    if let Some(method) = object.remove("method") {
        let Value::String(method) = method else {
            return Err((valid_id, RpcError::new(INVALID_REQUEST, "\"method\" must be a string")));
        };
        let params = match object.remove("params") {
            None | Some(Value::Null) => Value::Null,
            Some(p @ Value::Object(_)) => p,
            Some(_) => return Err((valid_id, RpcError::new(INVALID_PARAMS, "\"params\" must be an object"))),
        };
        return Ok(match valid_id {
            Some(id) => Message::Request { id, method, params },
            None => Message::Notification { method, params },
        });
    }
    let Some(id) = valid_id else {
        return Err((
            None,
            RpcError::new(INVALID_REQUEST, "a message needs \"method\", or \"id\" with \"result\" or \"error\""),
        ));
    };
    match (object.remove("result"), object.remove("error")) {
        (Some(result), None) => Ok(Message::Response { id, outcome: Ok(result) }),
        (None, Some(error)) if error.is_object() => Ok(Message::Response { id, outcome: Err(error) }),
        _ => Err((Some(id), RpcError::new(INVALID_REQUEST, "a response needs exactly one of \"result\" or \"error\""))),
    }
}

/// A successful response.
pub fn result(id: &Id, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// A successful response, serialized straight to bytes (the hot path of every JSON reply: no
/// map is built around the result).
pub fn result_bytes(id: &Id, result: &Value) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Reply<'a> {
        jsonrpc: &'static str,
        id: &'a Id,
        result: &'a Value,
    }
    serde_json::to_vec(&Reply { jsonrpc: "2.0", id, result }).expect("a Value always serializes")
}

/// A notification.
pub fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

/// A request from the server to the client.
pub fn request(id: &Id, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Result<Message, (Option<Id>, RpcError)> {
        match parse_body(text.as_bytes())? {
            Body::Single(m) => Ok(m),
            Body::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn result_bytes_is_the_result_response() {
        let id = json!(7);
        let result = json!({"content": [{"type": "text", "text": "hi"}]});
        let bytes = result_bytes(&id, &result);
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), super::result(&id, result));
    }

    #[test]
    fn messages_are_classified() {
        assert!(matches!(single(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), Ok(Message::Request { .. })));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(single(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#), Ok(Message::Response { .. })));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"x"}}"#),
            Ok(Message::Response { .. })
        ));
    }

    #[test]
    fn malformed_messages_get_precise_codes() {
        let code = |text: &str| single(text).unwrap_err().1.code;
        assert_eq!(code("{"), PARSE_ERROR);
        assert_eq!(code("\u{0}"), PARSE_ERROR);
        assert_eq!(code("42"), INVALID_REQUEST);
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#), INVALID_PARAMS);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert_eq!(parse_body(b"[]").unwrap_err().1.code, INVALID_REQUEST);
        let deep = "[".repeat(100_000);
        assert_eq!(
            parse_body(deep.as_bytes()).unwrap_err().1.code,
            PARSE_ERROR,
            "deep nesting is refused, not a stack overflow"
        );
    }

    #[test]
    fn ids_are_echoed_as_they_were_written() {
        for text in ["-0", "99999999999999999999999999", "1.0", "7"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{text},"method":"ping"}}"#);
            let Ok(Body::Single(Message::Request { id, .. })) = parse_body(body.as_bytes()) else { panic!("{body}") };
            let answer = serde_json::to_vec(&super::result(&id, json!({}))).unwrap();
            let answer = restore_ids(&answer);
            assert_eq!(
                std::str::from_utf8(&answer).unwrap(),
                format!(r#"{{"id":{text},"jsonrpc":"2.0","result":{{}}}}"#),
                "{text}"
            );
        }
        let batch = br#"[{"jsonrpc":"2.0","id":-0,"method":"ping"},{"jsonrpc":"2.0","id":"s","method":"ping"}]"#;
        let Ok(Body::Batch(items)) = parse_body(batch) else { panic!() };
        assert!(matches!(&items[1], Ok(Message::Request { id, .. }) if id == "s"));
        // A client's string that looks like a marker stays the string it was.
        let forged = r#"{"jsonrpc":"2.0","id":"\uf8ffraw-id:1,\"x\":2","method":"ping"}"#;
        let Ok(Body::Single(Message::Request { id, .. })) = parse_body(forged.as_bytes()) else { panic!() };
        let answer = serde_json::to_vec(&super::result(&id, json!({}))).unwrap();
        assert_eq!(restore_ids(&answer), answer.as_slice());
        assert_eq!(parse_body(br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#).unwrap_err().1.code, INVALID_REQUEST);
    }

    #[test]
    fn error_responses_keep_the_id_when_known() {
        let (id, error) = single(r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#).unwrap_err();
        assert_eq!(error.response(id.as_ref())["id"], 7);
    }
}
