//! Responses the gateway writes itself, whole, with an explicit length: its own endpoints, the MCP
//! transport's replies, and its JSON errors.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;

/// The request id every answer carries.
pub const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Writes a complete response with an explicit `Content-Length` (so HTTP/1.1 keep-alive holds).
pub async fn respond(
    session: &mut Session,
    status: u16,
    content_type: &str,
    request_id: &str,
    extra_headers: &[(&'static str, &str)],
    body: Bytes,
) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(4 + extra_headers.len()))?;
    // Typed names: every local answer (each MCP call) writes these, so no name is parsed here.
    header.insert_header(http::header::CONTENT_TYPE, content_type)?;
    header.insert_header(http::header::CONTENT_LENGTH, itoa::Buffer::new().format(body.len()))?;
    header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    header.insert_header(X_REQUEST_ID, request_id)?;
    for (name, value) in extra_headers {
        if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            // Pingora writes `Connection` from its keep-alive state, so change the state.
            session.set_keepalive(None);
            continue;
        }
        header.insert_header(*name, *value)?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session.write_response_header(Box::new(header), head_only || body.is_empty()).await?;
    if !head_only && !body.is_empty() {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Writes a JSON value.
pub async fn respond_json(
    session: &mut Session,
    status: u16,
    request_id: &str,
    value: &serde_json::Value,
) -> Result<()> {
    let body = serde_json::to_vec(value).expect("a Value always serializes");
    respond(session, status, "application/json", request_id, &[], Bytes::from(body)).await
}

/// The gateway's error body: `{"error": "...", "requestId": "..."}`.
pub fn error_body(message: &str, request_id: &str) -> serde_json::Value {
    serde_json::json!({ "error": message, "requestId": request_id })
}

/// Writes the gateway's JSON error.
pub async fn respond_error(
    session: &mut Session,
    status: u16,
    request_id: &str,
    message: &str,
    extra_headers: &[(&'static str, &str)],
) -> Result<()> {
    let body = serde_json::to_vec(&error_body(message, request_id)).expect("a Value always serializes");
    respond(session, status, "application/json", request_id, extra_headers, Bytes::from(body)).await
}
