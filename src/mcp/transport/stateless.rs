//! The stateless wire (2026-07-28): every POST says its version in a header and in `_meta`, its
//! routing headers (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) must match its body, it needs no
//! session, and closing its stream cancels it. `subscriptions/listen` holds a notification stream.

use super::super::catalog::LogLevel;
use super::super::jsonrpc::{self, Body, Id, METHOD_NOT_FOUND, Message, RpcError};
use super::super::method::Method;
use super::super::server::{ALL_VERSIONS, McpServer, STATELESS_VERSION, Wire};
use super::call::{Call, run};
use super::error::Refusal;
use super::writer;
use super::{Exchange, MCP_METHOD, MCP_NAME, McpState, header};
use pingora::prelude::*;
use pingora_proxy::Session;
use serde_json::{Value, json};

/// `_meta`'s protocol version of a single request or notification.
pub(super) fn meta_version(body: &Body) -> Option<String> {
    match body {
        Body::Single(Message::Request { params, .. } | Message::Notification { params, .. }) => {
            params["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str().map(str::to_string)
        }
        _ => None,
    }
}

/// A stateless POST.
pub(super) async fn serve(
    state: &McpState,
    session: &mut Session,
    exchange: &Exchange,
    body: Body,
    version_header: Option<String>,
    meta_version: Option<String>,
) -> Result<()> {
    let request = match check(session, exchange, body, version_header, meta_version) {
        Ok(request) => request,
        Err(refusal) => return exchange.refuse(session, refusal).await,
    };
    let Some((id, method, params)) = request else {
        // A notification: taken, nothing to answer.
        return exchange.empty(session, 202, &[]).await;
    };
    let meta = &params["_meta"];
    if method == Method::SubscriptionsListen.name() {
        return listen(state, session, exchange, &params).await;
    }
    let caps = meta["io.modelcontextprotocol/clientCapabilities"].clone();
    let log_level = meta["io.modelcontextprotocol/logLevel"].as_str().and_then(LogLevel::parse);
    let call = Call {
        id,
        method,
        params,
        wire: Wire::Stateless,
        version: STATELESS_VERSION.to_string(),
        caps,
        log_level,
        claims: None,
        bulk: false,
    };
    run(state, session, exchange, call).await
}

/// Everything 2026-07-28 asks of a request before it runs: one message, a supported version said
/// the same way in the header and in `_meta`, routing headers that match the body, a method of
/// this wire, and the `_meta` fields every request carries. `Ok(None)` for a notification.
fn check(
    session: &Session,
    exchange: &Exchange,
    body: Body,
    version_header: Option<String>,
    meta_version: Option<String>,
) -> std::result::Result<Option<(Id, String, Value)>, Refusal> {
    let Body::Single(message) = body else {
        return Err(Refusal::invalid(400, "batches are not part of protocol 2026-07-28"));
    };
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (Some(id), method, params),
        Message::Notification { method, params } => (None, method, params),
        Message::Response { id, .. } => {
            let refusal = Refusal::invalid(400, "clients do not send responses in protocol 2026-07-28");
            return Err(refusal.for_id(Some(&id)));
        }
    };
    let refuse = |refusal: Refusal| refusal.for_id(id.as_ref());
    let version = version_header
        .clone()
        .or(meta_version.clone())
        .ok_or_else(|| refuse(Refusal::mismatch("MCP-Protocol-Version header is required")))?;
    if version != STATELESS_VERSION && !(method == Method::ServerDiscover.name() && version_header.is_none()) {
        let supported = json!({ "supported": ALL_VERSIONS, "requested": version });
        let error =
            RpcError::new(jsonrpc::UNSUPPORTED_PROTOCOL_VERSION, format!("unsupported protocol version {version:?}"))
                .with_data(supported);
        return Err(refuse(Refusal::new(400, error)));
    }
    if let (Some(h), Some(m)) = (&version_header, &meta_version)
        && h != m
    {
        let message = format!("MCP-Protocol-Version header {h:?} does not match _meta protocolVersion {m:?}");
        return Err(refuse(Refusal::mismatch(message)));
    }
    let required = version_header.is_some();
    routing_header("Mcp-Method", header(session, MCP_METHOD).map(Some), &method, required, |m| {
        format!("Mcp-Method header {:?} does not match the body's method {method:?}", m.unwrap_or_default())
    })
    .map_err(|problem| refuse(Refusal::mismatch(problem)))?;
    let known = Method::parse(&method);
    if let Some(key) = known.and_then(Method::name_parameter) {
        let expected = params[key].as_str().unwrap_or_default();
        let decoded = header(session, MCP_NAME).map(decode_header_value);
        routing_header("Mcp-Name", decoded.as_ref().map(Option::as_deref), expected, required, |_| {
            format!("Mcp-Name header does not match the body's {key} {expected:?}")
        })
        .map_err(|problem| refuse(Refusal::mismatch(problem)))?;
    }
    if known == Some(Method::ToolsCall) {
        check_param_headers(&exchange.server, session, &params)
            .map_err(|problem| refuse(Refusal::mismatch(problem)))?;
    }
    let Some(id) = id else { return Ok(None) };
    if !known.is_some_and(Method::is_stateless) {
        let error = RpcError::new(METHOD_NOT_FOUND, format!("method {method:?} is not part of protocol 2026-07-28"));
        return Err(Refusal::new(404, error).for_id(Some(&id)));
    }
    let meta = &params["_meta"];
    let missing = if !meta.is_object() {
        Some("_meta")
    } else if !meta["io.modelcontextprotocol/protocolVersion"].is_string() {
        Some("_meta[\"io.modelcontextprotocol/protocolVersion\"]")
    } else if !meta["io.modelcontextprotocol/clientCapabilities"].is_object() {
        Some("_meta[\"io.modelcontextprotocol/clientCapabilities\"]")
    } else {
        None
    };
    if let Some(field) = missing {
        let error = RpcError::invalid_params(format!("{field} is required on every request in protocol 2026-07-28"));
        return Err(Refusal::new(400, error).for_id(Some(&id)));
    }
    // A trace context in `_meta` (this wire's place for it) when no header carried one.
    if let Some(traceparent) = meta["traceparent"].as_str()
        && session.req_header().headers.get("traceparent").is_none()
    {
        crate::telemetry::traces::adopt_parent(&exchange.span, traceparent);
    }
    Ok(Some((id, method, params)))
}

/// A routing header (`Mcp-Method`, `Mcp-Name`) must carry the body's value; only a request
/// without an `MCP-Protocol-Version` header may leave it out. `found` is `Some(None)` for a header
/// that is present but cannot be decoded.
fn routing_header(
    name: &str,
    found: Option<Option<&str>>,
    expected: &str,
    required: bool,
    mismatch: impl FnOnce(Option<&str>) -> String,
) -> std::result::Result<(), String> {
    match found {
        Some(Some(value)) if value == expected => Ok(()),
        Some(value) => Err(mismatch(value)),
        None if required => Err(format!("{name} header is required")),
        None => Ok(()),
    }
}

/// SEP-2243: arguments a tool marks with `x-mcp-header` travel in `Mcp-Param-<Name>` headers too
/// (so proxies can route on them), plain or `=?base64?…?=`-wrapped; the header must be present
/// whenever the argument is, decode cleanly, and equal the argument.
fn check_param_headers(server: &McpServer, session: &Session, params: &Value) -> std::result::Result<(), String> {
    let Some(tool) = params["name"].as_str().and_then(|name| server.tool(name)) else { return Ok(()) };
    let Some(properties) = tool.definition["inputSchema"]["properties"].as_object() else { return Ok(()) };
    for (argument, schema) in properties {
        let Some(suffix) = schema.get("x-mcp-header").and_then(Value::as_str) else { continue };
        let header_name = format!("mcp-param-{}", suffix.to_ascii_lowercase());
        let body_value = match params["arguments"].get(argument) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        match (header(session, &header_name), body_value) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(format!("argument `{argument}` must also be sent in the Mcp-Param-{suffix} header"));
            }
            (Some(_), None) => return Err(format!("Mcp-Param-{suffix} is set but argument `{argument}` is absent")),
            (Some(raw), Some(expected)) => {
                let decoded =
                    decode_header_value(raw).ok_or_else(|| format!("Mcp-Param-{suffix} is not valid Base64"))?;
                if decoded != expected {
                    return Err(format!("Mcp-Param-{suffix} does not match argument `{argument}`"));
                }
            }
        }
    }
    Ok(())
}

/// An `Mcp-Name` or `Mcp-Param-*` value: `=?base64?<standard Base64 with padding>?=` (for values
/// that are not ASCII-safe) is decoded strictly; anything else is literal.
pub fn decode_header_value(raw: &str) -> Option<String> {
    use base64::Engine;
    match raw.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok(),
        None => Some(raw.to_string()),
    }
}

/// `subscriptions/listen` (2026-07-28): a long-lived SSE reply that first acknowledges the
/// notification types the server will send, then carries those notifications, each tagged with
/// the subscription id, until the client leaves. It counts as a stream against the limits.
async fn listen(state: &McpState, session: &mut Session, exchange: &Exchange, params: &Value) -> Result<()> {
    const KINDS: [(&str, &str); 3] = [
        ("toolsListChanged", "notifications/tools/list_changed"),
        ("promptsListChanged", "notifications/prompts/list_changed"),
        ("resourcesListChanged", "notifications/resources/list_changed"),
    ];
    let requested = &params["notifications"];
    let honored: Vec<(&str, &str)> = KINDS.into_iter().filter(|(flag, _)| requested[*flag] == json!(true)).collect();
    let subscription = hex::encode(rand::random::<[u8; 8]>());
    let tag = move |mut message: Value| {
        if let Some(params) = message.as_object_mut().map(|m| m.entry("params").or_insert_with(|| json!({}))) {
            params["_meta"]["io.modelcontextprotocol/subscriptionId"] = json!(subscription);
        }
        message
    };
    let acknowledged = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": { "notifications": honored.iter().map(|(flag, _)| (flag.to_string(), json!(true))).collect::<serde_json::Map<_, _>>() },
    });
    let wanted: Vec<&'static str> = honored.iter().map(|(_, method)| *method).collect();
    let pick = {
        let tag = tag.clone();
        move |message: Value| wanted.iter().any(|m| message["method"] == json!(m)).then(|| tag(message))
    };
    writer::notifications(state, session, exchange, ("subscriptions", false), Some(tag(acknowledged)), pick).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode_strictly() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(decode_header_value("=?base64?w6lsw6g=?=").as_deref(), Some("élè"));
        assert_eq!(decode_header_value("=?base64?not base64?="), None);
        assert_eq!(decode_header_value("=?base64?/w==?="), None, "not UTF-8");
    }

    #[test]
    fn routing_headers_must_match_when_required() {
        let mismatch = |_: Option<&str>| "mismatch".to_string();
        assert!(routing_header("Mcp-Method", Some(Some("tools/call")), "tools/call", true, mismatch).is_ok());
        assert_eq!(
            routing_header("Mcp-Method", Some(Some("x")), "tools/call", true, mismatch).unwrap_err(),
            "mismatch"
        );
        assert!(routing_header("Mcp-Method", None, "tools/call", true, mismatch).unwrap_err().contains("required"));
        assert!(routing_header("Mcp-Method", None, "tools/call", false, mismatch).is_ok());
        assert!(routing_header("Mcp-Name", Some(None), "x", false, mismatch).is_err(), "undecodable");
    }
}
