//! MCP methods, independent of the HTTP transport: one dispatcher for both protocol generations.

use super::catalog::{CallContext, Catalog, ToolSpec, tool_error, validate_arguments};
use super::jsonrpc::{self, METHOD_NOT_FOUND, RpcError};
use super::method::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{
    CacheScope, DiscoverResult, Implementation, InitializeResult, PromptsCapability, ProtocolVersion,
    ResourcesCapability, ServerCapabilities, ToolsCapability,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Instant;

/// Session-era protocol versions, oldest first.
pub const SESSION_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];
/// The stateless protocol version.
pub const STATELESS_VERSION: &str = "2026-07-28";
/// Every supported version.
pub const ALL_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];
/// Assumed when a session-era request carries no version header.
pub const DEFAULT_VERSION: &str = "2025-03-26";

/// How long list results may be cached by 2026-07-28 clients.
const LIST_TTL_MS: u64 = 60_000;
/// How long a read resource may be cached (assets change less often than this matters).
const READ_TTL_MS: u64 = 30_000;

/// Which wire a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// 2025-03-26 … 2025-11-25, with sessions.
    Session,
    /// 2026-07-28, stateless.
    Stateless,
}

/// The MCP server: catalogues and the methods over them.
pub struct McpServer {
    catalogs: Vec<Arc<dyn Catalog>>,
    /// Every catalogue's tools, listed once per configuration (a call looks its tool up here).
    tools: Vec<ToolSpec>,
    by_name: std::collections::HashMap<String, usize>,
    page_size: usize,
}

/// The server's `Implementation` object.
pub fn implementation() -> Implementation {
    Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).with_title("Immich MCP Gateway")
}

/// The server's `Implementation` object, as JSON (built once: every 2026-07-28 result carries it).
pub fn server_info() -> Value {
    static SERVER_INFO: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| serde_json::to_value(implementation()).expect("rmcp's model types serialize"));
    SERVER_INFO.clone()
}

/// A negotiated protocol version (rmcp's type takes any version string on deserialization).
fn protocol_version(version: &str) -> ProtocolVersion {
    serde_json::from_value(json!(version)).expect("any string is a protocol version")
}

/// Instructions for models using the server.
pub const INSTRUCTIONS: &str = "Tools for an Immich photo library: search photos by text, date, place, camera or person; \
look at photos (thumbnails come back as images); browse albums, people, tags, the timeline, the map and memories; \
export selections as zip downloads. Results are paged: pass the returned cursor to get more.";

impl McpServer {
    /// A server over `catalogs`, listing `page_size` tools per page.
    pub fn new(catalogs: Vec<Arc<dyn Catalog>>, page_size: usize) -> McpServer {
        let tools: Vec<ToolSpec> = catalogs.iter().flat_map(|c| c.tools()).collect();
        let mut by_name = std::collections::HashMap::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            by_name.entry(tool.name().to_string()).or_insert(i);
        }
        McpServer { catalogs, tools, by_name, page_size: page_size.max(1) }
    }

    /// Every tool of every catalogue.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// The capabilities the server declares (logging only on the session wire: 2026-07-28 carries
    /// the log level in each request's `_meta`).
    pub fn capabilities(&self, wire: Wire) -> ServerCapabilities {
        // rmcp's capability types are non-exhaustive (no struct literals); its builder needs
        // features the gateway leaves off.
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(true);
        let mut resources = ResourcesCapability::default();
        (resources.subscribe, resources.list_changed) = (Some(true), Some(true));
        let mut prompts = PromptsCapability::default();
        prompts.list_changed = Some(true);
        let mut caps = ServerCapabilities::default();
        caps.tools = Some(tools);
        caps.resources = Some(resources);
        caps.prompts = Some(prompts);
        caps.completions = Some(Default::default());
        if wire == Wire::Session {
            caps.logging = Some(Default::default());
        }
        caps
    }

    /// The `initialize` result for a negotiated version.
    pub fn initialize_result(&self, version: &str) -> Value {
        let result = InitializeResult::new(self.capabilities(Wire::Session))
            .with_protocol_version(protocol_version(version))
            .with_server_info(implementation())
            .with_instructions(INSTRUCTIONS);
        serde_json::to_value(result).expect("rmcp's model types serialize")
    }

    /// The `server/discover` result (2026-07-28).
    fn discover_result(&self) -> Value {
        let versions = ALL_VERSIONS.iter().map(|v| protocol_version(v)).collect();
        let mut result =
            DiscoverResult::new(versions, self.capabilities(Wire::Stateless)).with_server_info(implementation());
        result.instructions = Some(INSTRUCTIONS.to_string());
        result.ttl_ms = LIST_TTL_MS;
        result.cache_scope = CacheScope::Public;
        serde_json::to_value(result).expect("rmcp's model types serialize")
    }

    /// Runs one request method (everything but `initialize`, which the transport owns because it
    /// mints the session).
    pub async fn handle(&self, method: &str, params: &Value, cx: &CallContext, wire: Wire) -> Result<Value, RpcError> {
        let known = Method::parse(method).filter(|m| match wire {
            Wire::Session => m.is_session(),
            Wire::Stateless => m.is_stateless(),
        });
        let mut result = match known {
            Some(Method::Ping) => Ok(json!({})),
            Some(Method::ServerDiscover) => Ok(self.discover_result()),
            Some(Method::ToolsList) => {
                // An OAuth client granted reading only is shown the tools that read, and a caller
                // whose own Immich key lacks a tool's permissions is not shown that tool.
                let reads_only = cx.principal.as_ref().is_some_and(|p| !p.may_write());
                let mut hidden = std::collections::HashSet::new();
                for catalog in &self.catalogs {
                    hidden.extend(catalog.hidden_tools(cx).await);
                }
                self.list_tools(params, reads_only, &hidden)
            }
            Some(Method::ToolsCall) => self.call_tool(params, cx).await,
            Some(Method::ResourcesList) => {
                Ok(json!({ "resources": self.catalogs.iter().flat_map(|c| c.resources()).collect::<Vec<_>>() }))
            }
            Some(Method::ResourcesTemplatesList) => Ok(
                json!({ "resourceTemplates": self.catalogs.iter().flat_map(|c| c.resource_templates()).collect::<Vec<_>>() }),
            ),
            Some(Method::ResourcesRead) => self.read_resource(params, cx).await,
            Some(Method::ResourcesSubscribe | Method::ResourcesUnsubscribe) => {
                required_str(params, "uri").map(|_| json!({}))
            }
            Some(Method::PromptsList) => {
                Ok(json!({ "prompts": self.catalogs.iter().flat_map(|c| c.prompts()).collect::<Vec<_>>() }))
            }
            Some(Method::PromptsGet) => self.get_prompt(params, cx).await,
            Some(Method::CompletionComplete) => self.complete(params, cx).await,
            Some(Method::LoggingSetLevel) => {
                let level = required_str(params, "level")?;
                super::catalog::LogLevel::parse(level)
                    .map(|_| json!({}))
                    .ok_or_else(|| RpcError::invalid_params(format!("unknown log level {level:?}; use debug, info, notice, warning, error, critical, alert or emergency")))
            }
            // `initialize` and `subscriptions/listen` belong to the transport; the rest is unknown.
            Some(Method::Initialize | Method::SubscriptionsListen | Method::Cancelled) | None => {
                Err(RpcError::new(METHOD_NOT_FOUND, format!("method {method:?} is not supported")))
            }
        }?;
        if wire == Wire::Stateless
            && let Some(object) = result.as_object_mut()
        {
            object.entry("resultType").or_insert_with(|| json!("complete"));
            let cached = matches!(
                known,
                Some(
                    Method::ToolsList
                        | Method::ResourcesList
                        | Method::ResourcesTemplatesList
                        | Method::PromptsList
                        | Method::ServerDiscover
                        | Method::ResourcesRead
                )
            );
            if cached {
                let ttl = if known == Some(Method::ResourcesRead) { READ_TTL_MS } else { LIST_TTL_MS };
                object.insert("ttlMs".into(), json!(ttl));
                let scope = if known == Some(Method::ServerDiscover) { "public" } else { "private" };
                object.insert("cacheScope".into(), json!(scope));
            }
            let meta = object.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("io.modelcontextprotocol/serverInfo".into(), server_info());
            }
        }
        Ok(result)
    }

    fn list_tools(
        &self,
        params: &Value,
        reads_only: bool,
        hidden: &std::collections::HashSet<String>,
    ) -> Result<Value, RpcError> {
        let tools: Vec<&ToolSpec> =
            self.tools.iter().filter(|t| !(reads_only && t.writes())).filter(|t| !hidden.contains(t.name())).collect();
        let start = match params.get("cursor") {
            None | Some(Value::Null) => 0,
            Some(Value::String(c)) if c.is_empty() => 0,
            Some(Value::String(cursor)) => decode_cursor(cursor).filter(|o| *o <= tools.len()).ok_or_else(|| {
                RpcError::invalid_params("invalid cursor: pass back the nextCursor of a previous tools/list")
            })?,
            Some(_) => return Err(RpcError::invalid_params("cursor must be a string")),
        };
        let end = (start + self.page_size).min(tools.len());
        let page: Vec<Value> = tools[start..end].iter().map(|t| t.definition.clone()).collect();
        let mut result = json!({ "tools": page });
        if end < tools.len() {
            result["nextCursor"] = json!(encode_cursor(end));
        }
        Ok(result)
    }

    async fn call_tool(&self, params: &Value, cx: &CallContext) -> Result<Value, RpcError> {
        let name = required_str(params, "name")?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a) => a.clone(),
        };
        let tool = self.tool(name).ok_or_else(|| {
            RpcError::invalid_params(format!("unknown tool {name:?}; tools/list shows the available tools"))
        })?;
        if let Some(required) = &tool.required_capabilities
            && let Some(missing) =
                required.as_object().and_then(|r| r.keys().find(|k| cx.client_capabilities.get(k.as_str()).is_none()))
        {
            return Err(RpcError::new(
                jsonrpc::MISSING_CLIENT_CAPABILITY,
                format!("{name} needs the client capability `{missing}`, which this request did not declare"),
            )
            .with_data(json!({ "requiredCapabilities": required })));
        }
        if let Err(problem) = validate_arguments(&tool.definition["inputSchema"], &arguments) {
            return Ok(tool_error(format!("invalid arguments for {name}: {problem}")));
        }
        let writes = tool.writes();
        let audited =
            crate::telemetry::audit::wanted(writes).then(|| (Instant::now(), super::audit::targets(&arguments)));
        for catalog in &self.catalogs {
            if let Some(outcome) = catalog.call_tool(name, arguments.clone(), cx).await {
                if let Some((started, targets)) = audited {
                    super::audit::tool_call(name, writes, targets, &outcome, cx, started.elapsed());
                }
                return outcome;
            }
        }
        Err(RpcError::invalid_params(format!("unknown tool {name:?}")))
    }

    async fn read_resource(&self, params: &Value, cx: &CallContext) -> Result<Value, RpcError> {
        let uri = required_str(params, "uri")?;
        for catalog in &self.catalogs {
            if let Some(outcome) = catalog.read_resource(uri, cx).await {
                return outcome;
            }
        }
        // SEP-2164: an unknown URI is invalid params, naming the URI (never an empty `contents`).
        Err(RpcError::invalid_params(format!("resource not found: {uri}")).with_data(json!({ "uri": uri })))
    }

    async fn get_prompt(&self, params: &Value, cx: &CallContext) -> Result<Value, RpcError> {
        let name = required_str(params, "name")?;
        let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
        for catalog in &self.catalogs {
            if let Some(outcome) = catalog.get_prompt(name, &arguments, cx).await {
                return outcome;
            }
        }
        Err(RpcError::invalid_params(format!("unknown prompt {name:?}")))
    }

    async fn complete(&self, params: &Value, cx: &CallContext) -> Result<Value, RpcError> {
        let reference =
            params.get("ref").filter(|r| r.is_object()).ok_or_else(|| RpcError::invalid_params("`ref` is required"))?;
        let argument = params
            .get("argument")
            .filter(|a| a.is_object())
            .ok_or_else(|| RpcError::invalid_params("`argument` is required"))?;
        for catalog in &self.catalogs {
            if let Some(result) = catalog.complete(reference, argument, cx).await {
                return Ok(result);
            }
        }
        Ok(json!({ "completion": { "values": [], "total": 0, "hasMore": false } }))
    }
}

fn required_str<'a>(params: &'a Value, key: &str) -> Result<&'a str, RpcError> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("`{key}` (a string) is required")))
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("tools:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix("tools:")?.parse().ok()
}

/// Negotiates a session-era version: the client's when supported, else the newest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    SESSION_VERSIONS
        .iter()
        .find(|v| Some(**v) == requested)
        .copied()
        .unwrap_or(SESSION_VERSIONS[SESSION_VERSIONS.len() - 1])
}

/// `a >= b` for protocol version dates.
pub fn at_least(version: &str, minimum: &str) -> bool {
    version >= minimum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_negotiate() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2024-11-05")), "2025-11-25");
        assert_eq!(negotiate(Some("2026-07-28")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(50)), Some(50));
        assert_eq!(decode_cursor("nonsense"), None);
    }
}
