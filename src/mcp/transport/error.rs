//! The one place a refused MCP request becomes an HTTP status and a JSON-RPC error: every check
//! of the transport returns a [`Refusal`], and [`super::Exchange::refuse`] writes it.

use super::super::jsonrpc::{self, HEADER_MISMATCH, INVALID_REQUEST, Id, METHOD_NOT_FOUND, RATE_LIMITED, RpcError};
use super::super::server::Wire;
use crate::auth::AuthError;
use crate::config::AuthMode;

/// A request the transport answers with an error (boxed: it travels in `Result`s on every path
/// of a request, and most of them succeed).
#[derive(Debug)]
pub(super) struct Refusal(Box<Details>);

/// What a [`Refusal`] answers.
#[derive(Debug)]
pub(super) struct Details {
    /// The HTTP status.
    pub status: u16,
    /// The JSON-RPC error.
    pub error: RpcError,
    /// The request it answers, when its id could be read.
    pub id: Option<Id>,
    /// Extra response headers (`Allow`, `WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// The connection cannot carry another request (a body left unread).
    pub close: bool,
}

impl std::ops::Deref for Refusal {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for Refusal {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl Refusal {
    /// A refusal with `status` and `error`.
    pub fn new(status: u16, error: RpcError) -> Refusal {
        Refusal(Box::new(Details { status, error, id: None, headers: Vec::new(), close: false }))
    }

    /// `status` with -32600 Invalid Request.
    pub fn invalid(status: u16, message: impl Into<String>) -> Refusal {
        Refusal::new(status, RpcError::new(INVALID_REQUEST, message))
    }

    /// 400 with -32020: a routing header disagrees with the body (2026-07-28).
    pub fn mismatch(message: impl Into<String>) -> Refusal {
        Refusal::new(400, RpcError::new(HEADER_MISMATCH, message))
    }

    /// 403 for a request from a host or origin the gateway does not serve.
    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal::invalid(403, message)
    }

    /// 401 with the challenge that points at the protected-resource metadata.
    pub fn unauthorized(reason: AuthError, public_base: &str, mode: AuthMode) -> Refusal {
        let challenge = crate::auth::challenge(public_base, mode, &reason);
        Refusal::invalid(401, reason.to_string()).with_header("www-authenticate", challenge)
    }

    /// 503 with `Retry-After`: no room for another stream now.
    pub fn busy(message: impl Into<String>) -> Refusal {
        Refusal::invalid(503, message).with_header("retry-after", "1")
    }

    /// Answers the request with this id.
    pub fn for_id(mut self, id: Option<&Id>) -> Refusal {
        self.id = id.cloned();
        self
    }

    /// 403 for a tool that changes Immich, called with an OAuth token granted reading only: the
    /// challenge names the scope to ask for (RFC 6750 `insufficient_scope`; MCP clients step up).
    pub fn insufficient_scope(tool: &str, public_base: &str) -> Refusal {
        let scope = crate::auth::oauth::SCOPE_WRITE;
        let message = format!("{tool} changes Immich, and this access token was granted reading only: ask for {scope}");
        Refusal::invalid(403, message)
            .with_header("www-authenticate", crate::auth::insufficient_scope(public_base, scope))
    }

    /// 429 for a caller over a `[rate_limits]` limit: `Retry-After`, the `RateLimit-*` headers, and
    /// -32029 with the wait in `data.retryAfterSeconds`.
    pub fn rate_limited(limited: &crate::ratelimit::Limited) -> Refusal {
        let data = serde_json::json!({ "retryAfterSeconds": limited.retry_after_secs(), "limit": limited.kind });
        let mut refusal = Refusal::new(429, RpcError::new(RATE_LIMITED, limited.message()).with_data(data));
        refusal.headers.extend(limited.headers());
        refusal
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Refusal {
        self.headers.push((name, value.into()));
        self
    }

    /// Closes the connection after the answer.
    pub fn closing(mut self) -> Refusal {
        self.close = true;
        self
    }
}

/// The HTTP status of a JSON-RPC error reply. The stateless wire maps request errors onto HTTP
/// (404 for unknown methods, 400 for invalid requests, parameters and missing capabilities);
/// inside a session an error reply is an ordinary 200.
pub fn http_status(wire: Wire, code: i64) -> u16 {
    match (wire, code) {
        (Wire::Session, _) => 200,
        (Wire::Stateless, METHOD_NOT_FOUND) => 404,
        (
            Wire::Stateless,
            jsonrpc::INVALID_PARAMS | INVALID_REQUEST | jsonrpc::MISSING_CLIENT_CAPABILITY | HEADER_MISMATCH,
        ) => 400,
        (Wire::Stateless, _) => 200,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_wire() {
        assert_eq!(http_status(Wire::Session, METHOD_NOT_FOUND), 200);
        assert_eq!(http_status(Wire::Stateless, METHOD_NOT_FOUND), 404);
        assert_eq!(http_status(Wire::Stateless, HEADER_MISMATCH), 400);
        assert_eq!(http_status(Wire::Stateless, jsonrpc::INTERNAL_ERROR), 200);
        let refusal = Refusal::unauthorized(AuthError::new("no key"), "http://gw", AuthMode::Inject);
        assert_eq!((refusal.status, refusal.error.code), (401, INVALID_REQUEST));
        assert!(refusal.headers[0].1.starts_with("Bearer resource_metadata=\"http://gw/"));
    }
}
