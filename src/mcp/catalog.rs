//! What the MCP layer serves: catalogues of tools, resources and prompts (the Immich tools and
//! the conformance fixtures are two of them), and the [`CallContext`] a running call uses to talk
//! back to its client.

use super::jsonrpc::{self, RpcError};
use super::session::Sealer;
use crate::bounded::Registry;
use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A tool as listed by `tools/list`, plus how the transport should answer calls to it.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    /// The MCP `Tool` object (name, title, description, inputSchema, outputSchema, annotations).
    pub definition: Value,
    /// The call may send progress, log messages or requests to the client, so it is answered
    /// over SSE in `auto` response mode.
    pub notifies: bool,
    /// Client capabilities the call needs (e.g. `{"sampling": {}}`); a client that did not
    /// declare them gets -32021.
    pub required_capabilities: Option<Value>,
    /// Calls whose argument `.0` (an integer, or a list's length) exceeds `.1` stream their
    /// results, so they are answered over SSE in `auto` response mode.
    pub streams_above: Option<(&'static str, u64)>,
}

impl ToolSpec {
    /// A tool; `notifies` when calls may send progress, logs or client requests.
    pub fn new(definition: Value, notifies: bool) -> ToolSpec {
        ToolSpec { definition, notifies, required_capabilities: None, streams_above: None }
    }

    /// Calls with `argument` above `threshold` stream (and are answered over SSE).
    pub fn streams_above(mut self, argument: &'static str, threshold: u64) -> ToolSpec {
        self.streams_above = Some((argument, threshold));
        self
    }

    /// Whether a call with `arguments` sends notifications before its result. A streaming tool's
    /// call that continues a stream (`resumeToken`) streams too.
    pub fn notifies_for(&self, arguments: &Value) -> bool {
        self.notifies || self.streams_for(arguments)
    }

    /// Whether a call with `arguments` streams a large result (the argument is a count, or a
    /// list whose length counts).
    pub fn streams_for(&self, arguments: &Value) -> bool {
        self.streams_above.is_some_and(|(arg, threshold)| {
            let count = arguments[arg].as_u64().or_else(|| arguments[arg].as_array().map(|a| a.len() as u64));
            count.is_some_and(|n| n > threshold) || arguments["resumeToken"].is_string()
        })
    }

    /// Declares the client capabilities calls need.
    pub fn requires(mut self, capabilities: Value) -> ToolSpec {
        self.required_capabilities = Some(capabilities);
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        self.definition["name"].as_str().unwrap_or_default()
    }

    /// Whether it may change something (its annotations do not say it only reads).
    pub fn writes(&self) -> bool {
        self.definition["annotations"]["readOnlyHint"] != true
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
    /// Which of its tools this caller's own credential may not use (by name), beyond what the
    /// listing already leaves out; `tools/list` hides them for this caller.
    async fn hidden_tools(&self, _cx: &CallContext) -> std::collections::HashSet<String> {
        std::collections::HashSet::new()
    }
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
    async fn get_prompt(&self, _name: &str, _arguments: &Value, _cx: &CallContext) -> Option<Result<Value, RpcError>> {
        None
    }
    /// Completes an argument of a prompt or resource template this catalogue owns, for the caller
    /// of `cx` (whose Immich key reads the names).
    async fn complete(&self, _reference: &Value, _argument: &Value, _cx: &CallContext) -> Option<Value> {
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
    /// A `notifications/stream/data` event, serialized once by the tool.
    Data(StreamData),
    /// End the HTTP response now; the call goes on and later messages wait for a resume.
    CloseStream,
}

/// The streaming guide's `percentComplete`: `processed` of `total`, in whole percent (at most 100).
pub fn percent_complete(processed: u64, total: u64) -> f64 {
    (processed as f64 * 100.0 / total.max(1) as f64).min(100.0).round()
}

/// A streamed result's data event (the streaming guide's lifecycle fields), serialized once where it is made;
/// the transport frames it for SSE, NDJSON or the bulk stream.
#[derive(Debug)]
pub struct StreamData {
    /// The tool's stream id.
    pub stream_id: String,
    /// The notification's params as JSON text.
    pub params: String,
    /// The token that resumes the stream right after this event.
    pub resume_token: Option<String>,
    /// Items sent so far and in all, for progress.
    pub processed: u64,
    /// Items asked for.
    pub total: u64,
    /// Its bytes in the stream's and the gateway's buffers, until it is written.
    pub held: crate::stream::stats::Held,
}

impl StreamData {
    /// The whole JSON-RPC notification.
    pub fn notification(&self) -> String {
        format!(r#"{{"jsonrpc":"2.0","method":"notifications/stream/data","params":{}}}"#, self.params)
    }
}

/// Where a client's answer to one of the server's requests is delivered.
type AnswerSlot = Arc<Mutex<Option<oneshot::Sender<Result<Value, Value>>>>>;

/// At most this many requests to clients wait for an answer at once, across the process.
const MAX_CLIENT_REQUESTS: usize = 10_000;

/// Requests the server has sent to clients and is waiting on, by request id. Each lives exactly
/// as long as the call waiting on it (a [`Registry`] guard), however that call ends.
pub struct PendingClientRequests {
    waiting: Arc<Registry<String, AnswerSlot>>,
    next: AtomicU64,
}

impl Default for PendingClientRequests {
    fn default() -> Self {
        PendingClientRequests { waiting: Registry::new(MAX_CLIENT_REQUESTS), next: AtomicU64::new(0) }
    }
}

impl PendingClientRequests {
    /// Delivers a client's response; `false` when nothing waits for that id.
    pub fn complete(&self, id: &Value, outcome: Result<Value, Value>) -> bool {
        let waiting = self.waiting.get(&id_key(id)).and_then(|slot| slot.lock().take());
        waiting.is_some_and(|tx| tx.send(outcome).is_ok())
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

/// How long an input-required `requestState` stays valid.
const REQUEST_STATE_TTL_SECS: u64 = 600;

/// The input-required round of a request (2026-07-28, SEP-2322): the client's answers to the
/// server's earlier input requests, and the server's own state from that earlier round, sealed so
/// any replica can trust it.
#[derive(Clone, Default)]
pub struct InputRound {
    /// `inputResponses`, keyed like the input requests they answer.
    pub responses: Option<Map<String, Value>>,
    /// The state the server put in the previous round's `requestState`.
    pub state: Option<Value>,
    sealer: Option<Sealer>,
}

impl InputRound {
    /// Reads `inputResponses` and opens `requestState` (tampered, expired or malformed → -32602).
    pub fn from_params(params: &Value, sealer: Sealer) -> Result<InputRound, RpcError> {
        let responses = match params.get("inputResponses") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => {
                return Err(RpcError::invalid_params("inputResponses must be an object keyed by input request name"));
            }
        };
        let state = match params.get("requestState") {
            None | Some(Value::Null) => None,
            Some(Value::String(token)) => {
                let bytes = sealer.open("request-state", token).ok_or_else(|| {
                    RpcError::invalid_params("requestState failed its integrity check; start the request again")
                })?;
                let sealed: Value = serde_json::from_slice(&bytes)
                    .map_err(|_| RpcError::invalid_params("requestState is malformed"))?;
                if sealed["exp"].as_u64().is_none_or(|exp| exp <= super::session::now()) {
                    return Err(RpcError::invalid_params("requestState expired; start the request again"));
                }
                Some(sealed["s"].clone())
            }
            Some(_) => return Err(RpcError::invalid_params("requestState must be the string the server returned")),
        };
        Ok(InputRound { responses, state, sealer: Some(sealer) })
    }

    /// Seals `payload` as `kind` with the gateway's secrets, for tokens any replica can trust
    /// (export links); `None` when the request has no sealer (a 2025-03-26 batch).
    pub fn seal(&self, kind: &str, payload: &[u8]) -> Option<String> {
        self.sealer.as_ref().map(|s| s.seal(kind, payload))
    }

    /// The payload of a token this gateway (or a replica sharing its secrets) sealed as `kind`;
    /// `None` when it fails the integrity check or the request has no sealer.
    pub fn open(&self, kind: &str, token: &str) -> Option<Vec<u8>> {
        self.sealer.as_ref()?.open(kind, token)
    }

    /// The client's answer to the input request named `key`.
    pub fn response(&self, key: &str) -> Option<&Value> {
        self.responses.as_ref()?.get(key)
    }

    /// An `InputRequiredResult` asking for `requests`, carrying `state` sealed for the next round.
    pub fn input_required(&self, requests: Value, state: Option<Value>) -> Value {
        let mut result = json!({ "resultType": "input_required", "inputRequests": requests });
        if let (Some(state), Some(sealer)) = (state, &self.sealer) {
            let sealed = json!({ "s": state, "exp": super::session::now() + REQUEST_STATE_TTL_SECS });
            result["requestState"] = json!(sealer.seal("request-state", sealed.to_string().as_bytes()));
        }
        result
    }
}

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
    /// The input-required round this request continues, if any.
    pub input: InputRound,
    /// What this call's Immich requests authenticate with (the caller's credential, or the key a
    /// gateway key maps to).
    pub immich: Option<crate::immich::Credential>,
    /// Where the gateway's own paths start, as this request reached it: its public base URL and
    /// `[server] path_prefix` (links back to the gateway are made from it).
    pub public_base: Option<String>,
    /// The gateway's public base URL without the path prefix: where Immich's web app is reached
    /// through it (shared links are made from it).
    pub web_base: Option<String>,
    /// The authenticated caller, whose [`CallContext::owner`] owns what this call makes.
    pub principal: Option<crate::auth::Principal>,
    /// The reply is an SSE stream, so the call may send data notifications before its result.
    pub streaming: bool,
    /// The transport a streamed reply goes over (`sse`, `ndjson`, `websocket`), for metrics.
    pub transport: &'static str,
    /// Who is calling, for per-client stream caps (see `stream::stats::client_of`).
    pub client: String,
    sink: mpsc::Sender<Outbound>,
    pending: Option<std::sync::Arc<PendingClientRequests>>,
    announcements: Option<broadcast::Sender<Value>>,
    last_progress: Mutex<Option<f64>>,
    /// The request's trace span: the call runs in it, so its Immich calls are its children.
    pub span: tracing::Span,
    /// The request's id (`X-Request-Id`), for the audit trail.
    pub request_id: Option<String>,
}

impl CallContext {
    /// A context sending into `sink`, with no progress token, capabilities or logging.
    pub fn new(sink: mpsc::Sender<Outbound>) -> CallContext {
        CallContext {
            progress_token: None,
            client_capabilities: json!({}),
            log_level: None,
            cancel: CancellationToken::new(),
            input: InputRound::default(),
            immich: None,
            public_base: None,
            web_base: None,
            principal: None,
            streaming: false,
            transport: "sse",
            client: "unknown".into(),
            sink,
            pending: None,
            announcements: None,
            last_progress: Mutex::new(None),
            span: tracing::Span::none(),
            request_id: None,
        }
    }

    /// Sets the transport a streamed reply goes over (`sse` when not set).
    pub fn with_transport(mut self, transport: &'static str) -> CallContext {
        self.transport = transport;
        self
    }

    /// Sets who is calling.
    pub fn with_client(mut self, client: String) -> CallContext {
        self.client = client;
        self
    }

    /// Sets the request's progress token.
    pub fn with_progress_token(mut self, token: Option<Value>) -> CallContext {
        self.progress_token = token;
        self
    }

    /// Sets the client's capabilities.
    pub fn with_capabilities(mut self, capabilities: Value) -> CallContext {
        self.client_capabilities = capabilities;
        self
    }

    /// Sets the log threshold.
    pub fn with_log_level(mut self, level: Option<LogLevel>) -> CallContext {
        self.log_level = level;
        self
    }

    /// Enables server-to-client requests through `pending`.
    pub fn with_client_requests(mut self, pending: std::sync::Arc<PendingClientRequests>) -> CallContext {
        self.pending = Some(pending);
        self
    }

    /// Sets what the call's Immich requests authenticate with.
    pub fn with_immich(mut self, credential: Option<crate::immich::Credential>) -> CallContext {
        self.immich = credential;
        self
    }

    /// Marks the reply as an SSE stream.
    pub fn with_streaming(mut self, streaming: bool) -> CallContext {
        self.streaming = streaming;
        self
    }

    /// Sends a notification on the call's stream, waiting while the client is slow: this wait
    /// is the flow control that slows the producer down.
    pub async fn notify(&self, method: &str, params: Value) {
        self.send(jsonrpc::notification(method, params)).await;
    }

    /// Sets the authenticated caller.
    pub fn with_principal(mut self, principal: Option<crate::auth::Principal>) -> CallContext {
        self.principal = principal;
        self
    }

    /// Who owns what this call makes (export links are bound to it; see
    /// `auth::Principal::owner`), worked out only when something is made.
    pub fn owner(&self) -> String {
        self.principal.as_ref().map_or_else(|| "anonymous".to_string(), crate::auth::Principal::owner)
    }

    /// Sets the request's id.
    pub fn with_request_id(mut self, id: &str) -> CallContext {
        self.request_id = Some(id.to_string());
        self
    }

    /// Sets the request's trace span.
    pub fn with_span(mut self, span: tracing::Span) -> CallContext {
        self.span = span;
        self
    }

    /// Sets the public base URL for links back to the gateway.
    pub fn with_public_base(mut self, base: String) -> CallContext {
        self.public_base = Some(base);
        self
    }

    /// Sets the public base URL Immich's web app is reached at through the gateway.
    pub fn with_web_base(mut self, base: String) -> CallContext {
        self.web_base = Some(base);
        self
    }

    /// Sets the input-required round.
    pub fn with_input(mut self, input: InputRound) -> CallContext {
        self.input = input;
        self
    }

    /// Lets the call announce list changes to every listening client.
    pub fn with_announcements(mut self, announcements: broadcast::Sender<Value>) -> CallContext {
        self.announcements = Some(announcements);
        self
    }

    /// Tells every listening client that a list changed (`notifications/tools/list_changed`, …).
    pub fn announce(&self, method: &str) {
        if let Some(tx) = &self.announcements {
            let _ = tx.send(jsonrpc::notification(method, json!({})));
        }
    }

    /// Sends `notifications/progress` when the request asked for it. Progress must increase; a
    /// value not above the last one is dropped.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else { return };
        {
            let mut last = self.last_progress.lock();
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
        let _waiting = pending.waiting.enter(id.clone(), Arc::new(Mutex::new(Some(tx)))).ok_or_else(|| {
            RpcError::new(jsonrpc::INTERNAL_ERROR, format!("too many requests wait on clients; {method} not sent"))
        })?;
        self.send(jsonrpc::request(&json!(id), method, params)).await;
        let outcome = tokio::select! {
            answer = rx => answer.map_err(|_| RpcError::new(jsonrpc::INTERNAL_ERROR, "the client request was dropped")),
            () = tokio::time::sleep(CLIENT_REQUEST_TIMEOUT) => Err(RpcError::new(jsonrpc::INTERNAL_ERROR, format!("the client did not answer {method} in time"))),
            () = self.cancel.cancelled() => Err(RpcError::new(jsonrpc::INTERNAL_ERROR, "cancelled")),
        };
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
        self.send_outbound(Outbound::Message(message)).await;
    }

    /// Sends a streamed result's data event.
    pub async fn send_data(&self, data: StreamData) {
        self.send_outbound(Outbound::Data(data)).await;
    }

    async fn send_outbound(&self, outbound: Outbound) {
        // A full channel means the client reads slower than the call produces: count it, then
        // wait — the wait is what slows the producer (and its reads from Immich) down. A closed
        // sink means nobody listens any more (the client left and its parked stream expired):
        // the call is cancelled rather than reading Immich for no one.
        let closed = match self.sink.try_send(outbound) {
            Ok(()) => false,
            Err(mpsc::error::TrySendError::Closed(_)) => true,
            Err(mpsc::error::TrySendError::Full(message)) => {
                crate::stream::stats::backpressure_event();
                self.sink.send(message).await.is_err()
            }
        };
        if closed {
            self.cancel.cancel();
        }
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
        if property["format"] == "uuid" && value.as_str().is_some_and(|s| crate::immich::path::Uuid::parse(s).is_none())
        {
            return Err(format!("`{name}` must be a UUID"));
        }
        if property["items"]["format"] == "uuid"
            && let Some(position) = value.as_array().and_then(|items| {
                items.iter().position(|i| i.as_str().is_none_or(|s| crate::immich::path::Uuid::parse(s).is_none()))
            })
        {
            return Err(format!("`{name}` must hold UUIDs (item {} is not one)", position + 1));
        }
        if let Some(allowed) = property["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("argument `{name}` must be one of {}", Value::Array(allowed.clone())));
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = property["minimum"].as_f64().filter(|min| n < *min) {
                return Err(format!("argument `{name}` must be at least {min}"));
            }
            if let Some(max) = property["maximum"].as_f64().filter(|max| n > *max) {
                return Err(format!("argument `{name}` must be at most {max}"));
            }
        }
    }
    Ok(())
}

/// A tool result carrying an error message for the model (`isError: true`).
pub fn tool_error(message: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": message.into() }], "isError": true })
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
        let bounded =
            json!({ "type": "object", "properties": { "n": { "type": "integer", "minimum": 1, "maximum": 5 } } });
        assert!(validate_arguments(&bounded, &json!({ "n": 0 })).unwrap_err().contains("at least 1"));
        assert!(validate_arguments(&bounded, &json!({ "n": 6 })).unwrap_err().contains("at most 5"));
        let ids = json!({ "type": "object", "properties": { "albumId": { "type": "string", "format": "uuid" },
            "photoIds": { "type": "array", "items": { "type": "string", "format": "uuid" } } } });
        let uuid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        assert!(validate_arguments(&ids, &json!({ "albumId": uuid, "photoIds": [uuid] })).is_ok());
        assert_eq!(validate_arguments(&ids, &json!({ "albumId": ".." })).unwrap_err(), "`albumId` must be a UUID");
        assert!(validate_arguments(&ids, &json!({ "photoIds": [uuid, "../x"] })).unwrap_err().contains("item 2"));
    }

    #[tokio::test]
    async fn a_call_nobody_listens_to_any_more_is_cancelled() {
        let (tx, rx) = mpsc::channel(1);
        let cx = CallContext::new(tx);
        cx.notify("notifications/message", json!({})).await;
        assert!(!cx.cancel.is_cancelled(), "someone still listens");
        // The channel is full: the next send waits for the client, who leaves meanwhile.
        let waiting = tokio::spawn({
            let cx = std::sync::Arc::new(cx);
            async move {
                cx.notify("notifications/message", json!({})).await;
                cx.cancel.is_cancelled()
            }
        });
        tokio::task::yield_now().await;
        drop(rx);
        assert!(waiting.await.unwrap(), "a wait ended by the client leaving cancels the call");

        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let cx = CallContext::new(tx);
        cx.notify("notifications/message", json!({})).await;
        assert!(cx.cancel.is_cancelled(), "sending into a closed stream cancels the call");
    }

    #[test]
    fn log_levels_order_and_parse() {
        assert!(LogLevel::parse("error").unwrap() > LogLevel::Info);
        assert_eq!(LogLevel::parse("warning").unwrap().name(), "warning");
        assert!(LogLevel::parse("loud").is_none());
    }
}
