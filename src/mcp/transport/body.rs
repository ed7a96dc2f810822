//! Reading a JSON-RPC request body: its media type, its size (refused at once when the declared
//! length is over the limit, before any of it is read), its time (a body that trickles in is cut
//! at `[server] body_timeout`), and its shape.

use super::super::jsonrpc::{self, Body};
use super::error::Refusal;
use super::{Exchange, header};
use pingora::prelude::*;
use pingora_proxy::Session;

/// Whether a `Content-Type` is JSON.
pub(super) fn is_json(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a JSON-RPC POST body: 415 for another content type (when `require_type`), 413 past
/// `[mcp] max_body_size` (at once when `Content-Length` says so), 408 past `[server]
/// body_timeout`, 400 for what is not JSON-RPC.
pub(super) async fn read_rpc(
    session: &mut Session,
    exchange: &Exchange,
    require_type: bool,
) -> Result<std::result::Result<Body, Refusal>> {
    if !header(session, http::header::CONTENT_TYPE).map_or(!require_type, is_json) {
        return Ok(Err(Refusal::invalid(415, "Content-Type must be application/json")));
    }
    let limit = exchange.config.mcp.max_body_size;
    let too_large = || Refusal::invalid(413, format!("request body larger than {limit}")).closing();
    let declared = header(session, http::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.0) {
        return Ok(Err(too_large()));
    }
    let timeout = exchange.config.server.body_timeout;
    let bytes = match crate::connection::read_body(session, limit.0, timeout.0).await? {
        Ok(bytes) => bytes,
        Err(crate::connection::Unread::TooLarge) => return Ok(Err(too_large())),
        Err(crate::connection::Unread::TooSlow) => {
            let message = format!("the request body did not arrive within [server] body_timeout ({timeout})");
            return Ok(Err(Refusal::invalid(408, message).closing()));
        }
    };
    Ok(jsonrpc::parse_body(&bytes).map_err(|(id, error)| Refusal::new(400, error).for_id(id.as_ref())))
}
