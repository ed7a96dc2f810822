//! What guards `/mcp` before anyone is authenticated: DNS-rebinding protection (`Host` and
//! `Origin` must be ones the gateway serves), CORS for browser clients, and the RFC 9728
//! protected-resource metadata that tells clients where to get a token.

use super::header;
use crate::config::Config;
use pingora_proxy::Session;
use serde_json::{Value, json};

/// The CORS preflight answer's headers.
pub(super) const PREFLIGHT: [(&str, &str); 3] = [
    ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
    (
        "access-control-allow-headers",
        "content-type, accept, authorization, x-api-key, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name",
    ),
    ("access-control-max-age", "600"),
];

/// Whether `host` (no port) names this machine.
pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") || host.ends_with(".localhost")
}

/// `authority` without its port (`[::1]:80` → `[::1]`, `example.com:8080` → `example.com`).
pub fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().map_or(authority, |h| &authority[..h.len() + 2]);
    }
    authority.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h)
}

/// Whether every listener is bound to a loopback address.
fn bound_to_loopback(config: &Config) -> bool {
    config.server.listen.iter().all(|a| {
        let host = strip_port(a);
        is_loopback_host(host)
            || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// DNS-rebinding protection on a request's `Host` and `Origin` headers.
pub(super) fn check_origin_and_host(session: &Session, config: &Config) -> Result<(), String> {
    let host = header(session, http::header::HOST)
        .or_else(|| session.req_header().uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    check_host_and_origin(host, header(session, http::header::ORIGIN), config)
}

/// `Host` must be an allowed name and `Origin`, when sent, an allowed origin (loopback origins
/// always are).
pub fn check_host_and_origin(host_header: &str, origin: Option<&str>, config: &Config) -> Result<(), String> {
    let mcp = &config.mcp;
    let host = strip_port(host_header).to_ascii_lowercase();
    let host_ok = if mcp.allowed_hosts.is_empty() {
        !bound_to_loopback(config) || is_loopback_host(&host)
    } else {
        mcp.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) || is_loopback_host(&host)
    };
    if !host_ok {
        return Err(format!("Host {host_header:?} is not allowed (set [mcp] allowed_hosts)"));
    }
    if let Some(origin) = origin {
        let origin_host = origin.split_once("://").map(|(_, rest)| strip_port(rest).to_ascii_lowercase());
        let allowed = origin_host.as_deref().is_some_and(is_loopback_host)
            || mcp.allowed_origins.iter().chain(&mcp.cors_origins).any(|o| o == "*" || o.eq_ignore_ascii_case(origin));
        if !allowed {
            return Err(format!("Origin {origin:?} is not allowed (set [mcp] allowed_origins)"));
        }
    }
    Ok(())
}

/// CORS response headers for an allowed browser origin.
pub(super) fn cors_headers(session: &Session, config: &Config) -> Vec<(&'static str, String)> {
    let Some(origin) = header(session, http::header::ORIGIN) else { return Vec::new() };
    if !config.mcp.cors_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin)) {
        return Vec::new();
    }
    vec![
        ("access-control-allow-origin", origin.to_string()),
        ("vary", "Origin".to_string()),
        ("access-control-expose-headers", "mcp-session-id, mcp-protocol-version, www-authenticate".to_string()),
    ]
}

/// The gateway's public base URL: `[mcp] public_url`, else what the request's `Host` names.
pub fn base_url(session: &Session, config: &Config) -> String {
    match &config.mcp.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{}", header(session, http::header::HOST).unwrap_or("localhost")),
    }
}

/// RFC 9728 Protected Resource Metadata.
/// In `oauth` mode the gateway is the authorization server: its issuer and its scopes.
pub(super) fn resource_metadata(session: &Session, config: &Config) -> Value {
    let mcp = &config.mcp;
    let issuer = format!("{}{}", base_url(session, config), config.server.path_prefix);
    let (servers, scopes) = match config.auth.mode {
        crate::config::AuthMode::OAuth => {
            (vec![issuer.clone()], crate::auth::oauth::SCOPES.iter().map(|s| s.to_string()).collect())
        }
        crate::config::AuthMode::Jwt => (vec![config.jwt_issuer()], mcp.scopes_supported.clone()),
        _ => (mcp.authorization_servers.clone(), mcp.scopes_supported.clone()),
    };
    json!({
        "resource": format!("{issuer}/mcp"),
        "authorization_servers": servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "Immich MCP Gateway",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_off_hosts_of_every_shape() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("127.0.0.1:1"), "127.0.0.1");
        assert!(is_loopback_host("localhost") && is_loopback_host("app.localhost") && !is_loopback_host("evil.com"));
    }

    #[test]
    fn rebinding_is_refused_on_loopback_and_allowed_names_pass() {
        let loopback = Config::default();
        assert!(check_host_and_origin("127.0.0.1:8080", None, &loopback).is_ok());
        assert!(check_host_and_origin("localhost", Some("http://localhost:3000"), &loopback).is_ok());
        let rebound = check_host_and_origin("attacker.example:8080", None, &loopback).unwrap_err();
        assert!(rebound.contains("allowed_hosts"), "{rebound}");
        let origin = check_host_and_origin("localhost", Some("https://attacker.example"), &loopback).unwrap_err();
        assert!(origin.contains("allowed_origins"), "{origin}");

        let mut exposed = Config::default();
        exposed.server.listen = vec!["0.0.0.0:8080".into()];
        assert!(check_host_and_origin("photos.example.com", None, &exposed).is_ok(), "any host when exposed");
        exposed.mcp.allowed_hosts = vec!["photos.example.com".into()];
        assert!(check_host_and_origin("photos.example.com:443", None, &exposed).is_ok());
        assert!(check_host_and_origin("other.example.com", None, &exposed).is_err());
        exposed.mcp.allowed_origins = vec!["https://claude.ai".into()];
        assert!(check_host_and_origin("photos.example.com", Some("https://claude.ai"), &exposed).is_ok());
        assert!(check_host_and_origin("photos.example.com", Some("https://claude.ai.evil"), &exposed).is_err());
    }
}
