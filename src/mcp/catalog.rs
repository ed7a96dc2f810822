//! What the MCP layer serves: catalogues of tools, resources and prompts (the Immich tools and
//! the conformance fixtures are two of them), and the [`CallContext`] a running call uses to talk
//! back to its client.

use super::jsonrpc::{self, RpcError};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A tool as listed by `tools/list`, plus how the transport should answer calls to it.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    /// The MCP `Tool` object (name, title, description, inputSchema, outputSchema, annotations).
    pub definition: Value,
    /// The call may send progress, log messages or requests to the client, so it is answered
    /// over SSE in `auto` response mode.
    pub notifies: bool,
}

impl ToolSpec {
    /// The tool's name.
    pub fn name(&self) -> &str {
        self.definition["name"].as_str().unwrap_or_default()
    }
}

/// A source of tools, resources and prompts. Each lookup returns `None` for names it does not
/// own, so catalogues compose.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The tools, in listing order.
    fn tools(&self) -> Vec<ToolSpec>;
    /// Runs a tool this catalogue owns. Failures of the tool itself are results with
    /// `isError: true`; `Err` is for protocol errors only.
    async fn call_tool(&self, name: &str, arguments: Value, cx: &CallContext) -> Option<Result<Value, RpcError>>;
    /// Direct resources.
    fn resources(&self) -> Vec<Value> {
        Vec::new()
    }
    /// Resource templates.
    fn resource_templates(&self) -> Vec<Value> {
        Vec::new()
    }
    /// Reads a resource this catalogue owns.
    async fn read_resource(&self, _uri: &str, _cx: &CallContext) -> Option<Result<Value, RpcError>> {
        None
    }
    /// Prompts.
    fn prompts(&self) -> Vec<Value> {
        Vec::new()
    }
    /// Renders a prompt this catalogue owns.
    async fn get_prompt(&self, _name: &str, _arguments: &Value) -> Option<Result<Value, RpcError>> {
        None
    }
    /// Completes an argument of a prompt or resource template this catalogue owns.
    async fn complete(&self, _reference: &Value, _argument: &Value) -> Option<Value> {
        None
    }
}

/// Log severities, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// debug
    Debug,
    /// info
    Info,
    /// notice
    Notice,
    /// warning
    Warning,
    /// error
    Error,
    /// critical
    Critical,
    /// alert
    Alert,
    /// emergency
    Emergency,
}

impl LogLevel {
    const NAMES: [&'static str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

    /// Parses a level name.
    pub fn parse(name: &str) -> Option<LogLevel> {
        use LogLevel::*;
        let all = [Debug, Info, Notice, Warning, Error, Critical, Alert, Emergency];
        Self::NAMES.iter().position(|n| *n == name).map(|i| all[i])
    }

    /// The level's name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a running call sends towards its client's stream.
#[derive(Debug)]
pub enum Outbound {
    /// A JSON-RPC message (notification, server request, or the final response).
    Message(Value),
    /// End the HTTP response now; the call goes on and later messages wait for a resume.
    CloseStream,
}

/// Requests the server has sent to clients and is waiting on, by request id.
#[derive(Default)]
pub struct PendingClientRequests {
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    next: AtomicU64,
}

impl PendingClientRequests {
    /// Delivers a client's response; `false` when nothing waits for that id.
    pub fn complete(&self, id: &Value, outcome: Result<Value, Value>) -> bool {
        let key = id_key(id);
        match self.waiting.lock().unwrap().remove(&key) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }
}

fn id_key(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How long a server-to-client request (sampling, elicitation) may wait for its answer.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The running call's view of its client.
pub struct CallContext {
    /// The `_meta.progressToken` of the request, if any.
    pub progress_token: Option<Value>,
    /// The client's capabilities (from the session, or the request's `_meta`).
    pub client_capabilities: Value,
    /// Log messages below this level are not sent; `None` sends none.
    pub log_level: Option<LogLevel>,
    /// Cancelled by `notifications/cancelled`, or by the stream closing on the stateless wire.
    pub cancel: CancellationToken,
    sink: mpsc::Sender<Outbound>,
    pending: Option<std::sync::Arc<PendingClientRequests>>,
    last_progress: Mutex<Option<f64>>,
}

impl CallContext {
    /// A context sending into `sink`; `pending` enables server-to-client requests.
    pub fn new(
        sink: mpsc::Sender<Outbound>,
        progress_token: Option<Value>,
        client_capabilities: Value,
        log_level: Option<LogLevel>,
        pending: Option<std::sync::Arc<PendingClientRequests>>,
    ) -> CallContext {
        CallContext {
            progress_token,
            client_capabilities,
            log_level,
            cancel: CancellationToken::new(),
            sink,
            pending,
            last_progress: Mutex::new(None),
        }
    }

    /// Sends `notifications/progress` when the request asked for it. Progress must increase; a
    /// value not above the last one is dropped.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else { return };
        {
            let mut last = self.last_progress.lock().unwrap();
            if last.is_some_and(|l| progress <= l) {
                return;
            }
            *last = Some(progress);
        }
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        self.send(jsonrpc::notification("notifications/progress", params)).await;
    }

    /// Sends `notifications/message` if `level` passes the client's threshold.
    pub async fn log(&self, level: LogLevel, logger: &str, data: Value) {
        if self.log_level.is_some_and(|min| level >= min) {
            let params = json!({ "level": level.name(), "logger": logger, "data": data });
            self.send(jsonrpc::notification("notifications/message", params)).await;
        }
    }

    /// Sends a request to the client (e.g. `sampling/createMessage`) and waits for its answer.
    pub async fn request_client(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let pending = self.pending.as_ref().ok_or_else(|| {
            RpcError::new(jsonrpc::INVALID_REQUEST, format!("{method} needs a session-era client connection"))
        })?;
        let id = format!("srv-{}-{}", std::process::id(), pending.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        pending.waiting.lock().unwrap().insert(id.clone(), tx);
        self.send(jsonrpc::request(&json!(id), method, params)).await;
        let outcome = tokio::select! {
            answer = rx => answer.map_err(|_| RpcError::new(jsonrpc::INTERNAL_ERROR, "the client request was dropped")),
            () = tokio::time::sleep(CLIENT_REQUEST_TIMEOUT) => Err(RpcError::new(jsonrpc::INTERNAL_ERROR, format!("the client did not answer {method} in time"))),
            () = self.cancel.cancelled() => Err(RpcError::new(jsonrpc::INTERNAL_ERROR, "cancelled")),
        };
        pending.waiting.lock().unwrap().remove(&id);
        match outcome? {
            Ok(result) => Ok(result),
            Err(error) => Err(RpcError::new(
                error["code"].as_i64().unwrap_or(jsonrpc::INTERNAL_ERROR),
                error["message"].as_str().unwrap_or("the client returned an error").to_string(),
            )),
        }
    }

    /// Ends the HTTP response stream early; the call continues and the client resumes with GET
    /// and `Last-Event-ID`.
    pub async fn close_stream(&self) {
        let _ = self.sink.send(Outbound::CloseStream).await;
    }

    async fn send(&self, message: Value) {
        // A closed sink means nobody listens any more; the call decides on its own to stop.
        let _ = self.sink.send(Outbound::Message(message)).await;
    }
}

/// Checks tool arguments against the top level of an input schema: an object, required keys
/// present, declared properties of the declared JSON type. Returns the offending field.
pub fn validate_arguments(schema: &Value, arguments: &Value) -> Result<(), String> {
    let Some(object) = arguments.as_object() else {
        return Err("arguments must be a JSON object".into());
    };
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !object.contains_key(name) {
            return Err(format!("missing required argument `{name}`"));
        }
    }
    let properties = schema["properties"].as_object();
    for (name, value) in object {
        let Some(property) = properties.and_then(|p| p.get(name)) else {
            if schema["additionalProperties"] == Value::Bool(false) {
                return Err(format!("unknown argument `{name}`"));
            }
            continue;
        };
        let expected = &property["type"];
        let types: Vec<&str> = match expected {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let fits = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => true,
        });
        if !fits {
            return Err(format!("argument `{name}` must be of type {}", types.join(" or ")));
        }
        if let Some(allowed) = property["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("argument `{name}` must be one of {}", Value::Array(allowed.clone())));
        }
    }
    Ok(())
}

/// A tool result carrying an error message for the model (`isError: true`).
pub fn tool_error(message: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": message.into() }], "isError": true })
}

/// A tool result with one text block.
pub fn tool_text(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_field_by_field() {
        let schema = json!({ "type": "object", "properties": { "limit": { "type": "integer" }, "order": { "type": "string", "enum": ["asc", "desc"] } }, "required": ["limit"] });
        assert!(validate_arguments(&schema, &json!({ "limit": 5 })).is_ok());
        assert!(validate_arguments(&schema, &json!({})).unwrap_err().contains("`limit`"));
        assert!(validate_arguments(&schema, &json!({ "limit": "5" })).unwrap_err().contains("integer"));
        assert!(validate_arguments(&schema, &json!({ "limit": 5, "order": "up" })).unwrap_err().contains("`order`"));
        assert!(validate_arguments(&schema, &json!([1])).is_err());
    }

    #[test]
    fn log_levels_order_and_parse() {
        assert!(LogLevel::parse("error").unwrap() > LogLevel::Info);
        assert_eq!(LogLevel::parse("warning").unwrap().name(), "warning");
        assert!(LogLevel::parse("loud").is_none());
    }
}
