//! JSON-RPC 2.0 messages as MCP uses them: parsing with a precise error for every malformed
//! shape, and the error codes of MCP's error table.
//!
//! Hand-written rather than taken from rmcp: the gateway must classify *invalid* input (wrong
//! `jsonrpc`, ids of the wrong type, batches, responses sent by clients) into the right HTTP
//! status and JSON-RPC code for two protocol generations, and must never allocate a typed tree for
//! a tool's arguments it only forwards. `params` stay `serde_json::Value`.

use serde_json::{Map, Value, json};

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
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let message =
            if e.is_syntax() || e.is_eof() { format!("invalid JSON: {e}") } else { format!("unreadable JSON: {e}") };
        (None, RpcError::new(PARSE_ERROR, message))
    })?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err((None, RpcError::new(INVALID_REQUEST, "an empty batch is not a valid request")))
        }
        Value::Array(items) => Ok(Body::Batch(items.into_iter().map(parse_message).collect())),
        other => parse_message(other).map(Body::Single),
    }
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

/// `params` as an object (absent params read as empty).
pub fn params_object(params: &Value) -> Map<String, Value> {
    params.as_object().cloned().unwrap_or_default()
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
    fn error_responses_keep_the_id_when_known() {
        let (id, error) = single(r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#).unwrap_err();
        assert_eq!(error.response(id.as_ref())["id"], 7);
    }
}
