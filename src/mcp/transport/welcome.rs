//! The page a browser gets at `/mcp` (unless `[mcp] strict`): what the gateway is, whether Immich
//! answers now, both protocol generations, how to connect in this authentication mode, example
//! requests (a follow-up call with the session id among them), and the tools, their descriptions
//! rendered. Served to anyone: it shows nothing a caller could not list.

use super::super::server::{ALL_VERSIONS, STATELESS_VERSION};
use super::Exchange;
use crate::config::AuthMode;
use crate::html::{document, escape, inline_markdown};
use crate::immich::ImmichClient;
use crate::reply::respond;
use bytes::Bytes;
use pingora::prelude::*;
use pingora_proxy::Session;
use std::time::Duration;

/// How long the page waits for Immich's version before saying it does not answer.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves the welcome page.
pub(super) async fn page(session: &mut Session, exchange: &Exchange, immich: &ImmichClient) -> Result<()> {
    let config = &exchange.config;
    let mcp_url = format!("{}{}/mcp", exchange.public_base, config.server.path_prefix);
    let status = match immich.public_version(STATUS_TIMEOUT).await {
        Ok(version) => format!("<span class=\"ok\">reachable</span>, version {}", escape(&version)),
        Err(e) => format!("<span class=\"bad\">not answering</span> — {}", escape(&e.to_string())),
    };
    let session_versions: Vec<&str> = ALL_VERSIONS.iter().copied().filter(|v| *v != STATELESS_VERSION).collect();
    let tools = exchange.server.tools();
    let tool_items: String = tools
        .iter()
        .map(|t| {
            let d = &t.definition;
            let writes = t.writes();
            format!(
                "<li><code>{}</code> {}<br><small>{}</small></li>",
                escape(t.name()),
                if writes { "<small>(changes Immich)</small>" } else { "" },
                inline_markdown(d["description"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let (connect, auth_header) = match config.auth.mode {
        AuthMode::OAuth => (
            "Add this URL to your client (claude.ai or ChatGPT connectors, Claude Code, VS Code, …). It will send \
             you to sign in with your Immich account and ask what it may do."
                .to_string(),
            "-H 'authorization: Bearer ACCESS_TOKEN'",
        ),
        AuthMode::Jwt => (
            format!(
                "Present a token from your identity provider (<code>{}</code>) as \
                 <code>Authorization: Bearer</code>.",
                escape(&config.jwt_issuer())
            ),
            "-H 'authorization: Bearer YOUR_JWT'",
        ),
        AuthMode::Inject => (
            "Present the gateway key you were given, as <code>X-API-Key</code> or \
             <code>Authorization: Bearer</code>."
                .to_string(),
            "-H 'x-api-key: YOUR_GATEWAY_KEY'",
        ),
        AuthMode::Passthrough => (
            "Present your own Immich API key (<code>X-API-Key</code>); the gateway acts with exactly it.".to_string(),
            "-H 'x-api-key: YOUR_IMMICH_API_KEY'",
        ),
    };
    let url = escape(&mcp_url);
    let examples = format!(
        "# 1. initialize (the session wire): the answer's Mcp-Session-Id header names the session\n\
         curl -si {url} {auth_header} \\\n  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n  \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'\n\n\
         # 2. a follow-up call in that session\n\
         curl -s {url} {auth_header} -H 'mcp-session-id: SESSION_ID' -H 'mcp-protocol-version: 2025-11-25' \\\n  \
         -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n  \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{{\"name\":\"queryPhotos\",\"arguments\":{{\"limit\":3}}}}}}'\n\n\
         # 3. the same call on the stateless wire ({STATELESS_VERSION}): no session, routing headers\n\
         curl -s {url} {auth_header} -H 'mcp-protocol-version: {STATELESS_VERSION}' \\\n  \
         -H 'mcp-method: tools/call' -H 'mcp-name: queryPhotos' \\\n  \
         -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n  \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"queryPhotos\",\"arguments\":{{\"limit\":3}},\
         \"_meta\":{{\"io.modelcontextprotocol/protocolVersion\":\"{STATELESS_VERSION}\",\"io.modelcontextprotocol/clientCapabilities\":{{}}}}}}}}'"
    );
    let base = escape(&format!("{}{}", exchange.public_base, config.server.path_prefix));
    let body = format!(
        "<div class=\"wide\"><h1>Immich MCP Gateway {version}</h1>\
         <p>Your Immich photo library for AI agents, over the Model Context Protocol.</p>\
         <dl class=\"status\">\
         <dt>Immich</dt><dd>{status}</dd>\
         <dt>MCP endpoint</dt><dd><code>{url}</code> (Streamable HTTP)</dd>\
         <dt>Protocol</dt><dd>sessions: {sessions}; stateless: {STATELESS_VERSION}</dd>\
         <dt>Capabilities</dt><dd>tools ({count}), resources, prompts, completions, logging, progress, streamed results</dd>\
         <dt>Sign-in</dt><dd>{mode}</dd></dl>\
         <h2>Connect</h2><p>{connect}</p>\
         <h2>Try it</h2><pre><code>{examples}</code></pre>\
         <h2>Tools</h2><ul class=\"tools\">{tool_items}</ul>\
         <nav aria-label=\"More\"><a href=\"{base}/health\">/health</a><a href=\"{base}/mcp/stream\">/mcp/stream</a> \
         <a href=\"{base}/mcp/ws\">/mcp/ws</a><a href=\"/.well-known/oauth-protected-resource{prefix}/mcp\">resource metadata</a>\
         <a href=\"https://modelcontextprotocol.io\">MCP</a></nav></div>",
        version = env!("CARGO_PKG_VERSION"),
        sessions = session_versions.join(", "),
        count = tools.len(),
        mode = match config.auth.mode {
            AuthMode::OAuth => "OAuth 2.1 with your Immich account",
            AuthMode::Jwt => "tokens of an identity provider",
            AuthMode::Inject => "gateway keys",
            AuthMode::Passthrough => "your own Immich credentials",
        },
        prefix = escape(&config.server.path_prefix),
    );
    let html = document("Immich MCP Gateway", &body);
    let extra = [("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")];
    let headers = exchange.headers(&extra);
    respond(session, 200, "text/html; charset=utf-8", &exchange.request_id, &headers, Bytes::from(html)).await
}
