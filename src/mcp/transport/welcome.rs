//! The page a browser gets at `/mcp` (unless `[mcp] strict`): what the gateway is, its tools, and
//! how to connect.

use super::super::server::ALL_VERSIONS;
use super::{Exchange, header};
use crate::reply::respond;
use bytes::Bytes;
use pingora::prelude::*;
use pingora_proxy::Session;

/// Serves the welcome page.
pub(super) async fn page(session: &mut Session, exchange: &Exchange<'_>) -> Result<()> {
    let server = &exchange.server;
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let tools: String = server
        .tools()
        .iter()
        .map(|t| {
            format!(
                "<li><code>{}</code> — {}</li>",
                escape(t.name()),
                escape(t.definition["description"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let host = header(session, http::header::HOST).unwrap_or("localhost:8080").to_string();
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Immich MCP Gateway</title></head><body>\
<h1>Immich MCP Gateway</h1><p>Status: running · version {version} · MCP endpoint <code>POST {prefix}/mcp</code> (Streamable HTTP)</p>\
<p>Protocol versions: {versions}</p><h2>Tools</h2><ul>{tools}</ul><h2>Try it</h2><pre>curl -s http://{host}{prefix}/mcp \\\n  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\\n  -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'</pre>\
</body></html>",
        version = env!("CARGO_PKG_VERSION"),
        versions = ALL_VERSIONS.join(", "),
        host = escape(&host),
        prefix = exchange.config.server.path_prefix,
    );
    respond(session, 200, "text/html; charset=utf-8", exchange.request_id, &exchange.headers(&[]), Bytes::from(html))
        .await
}
