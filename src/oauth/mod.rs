//! The gateway as an OAuth 2.1 authorization server (`[auth] mode = "oauth"`): a person signs in
//! with their Immich account on the gateway's own page, approves a client for reading or for
//! reading and writing, and the gateway makes an Immich API key with exactly those permissions.
//! The tokens it then issues carry that key, sealed (`auth::vault`), so any replica serves them
//! and nothing is stored; revoking one deletes the key in Immich.
//!
//! One file per concern: [`metadata`] (RFC 8414), [`clients`] (pre-registered and RFC 7591
//! dynamic clients, redirect-URI matching), [`cimd`] (clients identified by their metadata
//! document's URL), [`authorize`] (the sign-in page's two halves),
//! [`token`] (code and refresh grants, RFC 7009 revocation), [`page`] (the HTML), [`scopes`]
//! (scope → Immich permissions) and [`throttle`] (failed sign-ins). The HTTP plumbing is the
//! gateway's: it hands each request here as a [`Request`] and writes the [`Reply`].

mod authorize;
mod cimd;
mod clients;
mod metadata;
mod page;
mod scopes;
mod throttle;
mod token;

use crate::auth::vault::Vault;
use crate::bounded::ExpiringMap;
use crate::config::Config;
use crate::immich::ImmichClient;
use std::net::IpAddr;
use std::time::Duration;

pub use authorize::CSRF_COOKIE;
pub use metadata::authorization_server_metadata;

/// The authorization server's endpoints, below `[server] path_prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/oauth/authorize`: the sign-in page (GET) and its form (POST).
    Authorize,
    /// `/oauth/token`.
    Token,
    /// `/oauth/register`: RFC 7591.
    Register,
    /// `/oauth/revoke`: RFC 7009.
    Revoke,
}

impl Endpoint {
    /// Every endpoint with its path below the prefix.
    pub const PATHS: [(&'static str, Endpoint); 4] = [
        ("/oauth/authorize", Endpoint::Authorize),
        ("/oauth/token", Endpoint::Token),
        ("/oauth/register", Endpoint::Register),
        ("/oauth/revoke", Endpoint::Revoke),
    ];

    fn path(self) -> &'static str {
        Endpoint::PATHS.iter().find(|(_, e)| *e == self).map(|(p, _)| *p).unwrap_or_default()
    }
}

/// The largest request body an endpoint reads (forms and registrations are small).
pub const MAX_BODY: usize = 16 * 1024;

/// One request to the authorization server.
pub struct Request<'a> {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// `GET` or `POST` (anything else is refused).
    pub method: &'a http::Method,
    /// The query string, undecoded.
    pub query: &'a str,
    /// The body (at most [`MAX_BODY`]).
    pub body: &'a [u8],
    /// The request's `Content-Type`.
    pub content_type: &'a str,
    /// The sign-in form's CSRF cookie, when the browser sent it.
    pub csrf_cookie: Option<&'a str>,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
}

/// What the gateway writes back.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &serde_json::Value) -> Reply {
        let body = serde_json::to_vec(value).expect("a Value always serializes");
        Reply { status, content_type: "application/json", headers: vec![("pragma", "no-cache".into())], body }
    }

    /// An OAuth error (RFC 6749 §5.2): `{"error", "error_description"}`.
    fn error(status: u16, error: &str, description: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "error": error, "error_description": description }))
    }

    fn redirect(location: String) -> Reply {
        Reply { status: 302, content_type: "text/plain", headers: vec![("location", location)], body: Vec::new() }
    }
}

/// What outlives a request, per process: failed sign-ins, and the codes and refresh tokens
/// already used (a second use is refused, and revokes what the first one gave). Both are bounded;
/// per replica (a code replayed on another replica is caught only by its 60-second life).
pub struct State {
    throttle: throttle::Throttle,
    used: ExpiringMap<String, ()>,
}

impl Default for State {
    fn default() -> Self {
        State { throttle: throttle::Throttle::new(), used: ExpiringMap::new(100_000) }
    }
}

impl State {
    /// Records `jti` as used until `expires_in`; whether it had been used before.
    fn first_use(&self, jti: &str, expires_in: Duration) -> bool {
        self.used.insert_new(jti.to_string(), (), expires_in)
    }
}

/// Everything a request to the authorization server needs.
pub struct Server<'a> {
    /// The configuration in force.
    pub config: &'a Config,
    /// Seals and opens codes, tokens and client ids.
    pub vault: &'a Vault,
    /// The person's Immich.
    pub immich: &'a ImmichClient,
    /// The process's memory of used codes and failed sign-ins.
    pub state: &'a State,
}

impl Server<'_> {
    /// The issuer: `[mcp] public_url` and the path prefix.
    fn issuer(&self) -> String {
        self.config.public_base()
    }

    /// The protected resource the tokens are for: the MCP endpoint.
    fn resource(&self) -> String {
        self.config.public_mcp_url().unwrap_or_default()
    }

    fn endpoint_url(&self, endpoint: Endpoint) -> String {
        format!("{}{}", self.issuer(), endpoint.path())
    }

    /// Serves one request.
    pub async fn serve(&self, req: &Request<'_>) -> Reply {
        use http::Method;
        match (req.endpoint, req.method) {
            (Endpoint::Authorize, &Method::GET) => authorize::page(self, req).await,
            (Endpoint::Authorize, &Method::POST) => authorize::submit(self, req).await,
            (Endpoint::Token, &Method::POST) => token::exchange(self, req).await,
            (Endpoint::Register, &Method::POST) => clients::register(self, req),
            (Endpoint::Revoke, &Method::POST) => token::revoke(self, req).await,
            (Endpoint::Authorize, _) => method_not_allowed("GET, POST"),
            _ => method_not_allowed("POST"),
        }
    }
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut reply = Reply::error(405, "invalid_request", &format!("use {allow} here"));
    reply.headers.push(("allow", allow.into()));
    reply
}

/// The `name=value` pairs of a query string or form body, decoded; a name given twice is an
/// error (RFC 6749 §3.1), as is a body that is not a form.
fn form(text: &[u8]) -> Result<std::collections::HashMap<String, String>, String> {
    let mut fields = std::collections::HashMap::new();
    for (name, value) in form_urlencoded::parse(text) {
        if fields.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(format!("the parameter {name} is given more than once"));
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_refuse_repeated_parameters() {
        let fields = form(b"a=1&b=x%20y&c=").unwrap();
        assert_eq!((fields["a"].as_str(), fields["b"].as_str(), fields["c"].as_str()), ("1", "x y", ""));
        assert!(form(b"a=1&a=2").unwrap_err().contains("more than once"));
    }

    #[test]
    fn used_ids_are_refused_the_second_time() {
        let state = State::default();
        assert!(state.first_use("jti-1", Duration::from_secs(60)));
        assert!(!state.first_use("jti-1", Duration::from_secs(60)));
        assert!(state.first_use("jti-2", Duration::from_secs(60)));
    }
}
