//! A minimal MCP client on the session wire, for tests that drive tools.

use super::{Gateway, client};
use serde_json::{Value, json};

/// A minimal MCP client on the session wire.
pub struct Mcp {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The gateway's `/mcp` URL.
    pub url: String,
    /// The session id.
    pub session: String,
    key: Option<String>,
    output_schemas: std::collections::HashMap<String, Value>,
}

impl Mcp {
    pub async fn connect(gw: &Gateway, key: Option<&str>) -> Mcp {
        let http = client();
        let mut request = http
            .post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "tools-test", "version": "1" } } }).to_string());
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let mut mcp =
            Mcp { http, url: gw.at("/mcp"), session, key: key.map(str::to_string), output_schemas: Default::default() };
        let listed = mcp.rpc("tools/list", json!({})).await;
        for tool in listed["result"]["tools"].as_array().into_iter().flatten() {
            mcp.output_schemas.insert(tool["name"].as_str().unwrap().to_string(), tool["outputSchema"].clone());
        }
        mcp
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string());
        if let Some(key) = &self.key {
            request = request.header("x-api-key", key);
        }
        let text = request.send().await.unwrap().text().await.unwrap();
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => v,
            Err(_) => text
                .split("\n\n")
                .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .find(|m| m.get("id").is_some())
                .unwrap(),
        }
    }

    pub async fn tool_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor.as_ref().map_or(json!({}), |c| json!({ "cursor": c }));
            let page = self.rpc("tools/list", params).await;
            names.extend(
                page["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()),
            );
            match page["result"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return names,
            }
        }
    }

    /// Calls a tool; returns its result (`isError` results included).
    pub async fn call(&self, name: &str, arguments: Value) -> Value {
        let reply = self.rpc("tools/call", json!({ "name": name, "arguments": arguments })).await;
        assert!(reply.get("error").is_none(), "{name}: protocol error {reply}");
        reply["result"].clone()
    }

    pub async fn ok(&self, name: &str, arguments: Value) -> Value {
        let result = self.call(name, arguments).await;
        assert_ne!(result["isError"], true, "{name} failed: {result}");
        assert!(result["content"][0]["text"].as_str().is_some_and(|t| !t.is_empty()), "{name} has a text rendering");
        let schema = &self.output_schemas[name];
        assert!(schema.is_object(), "{name} declares an outputSchema");
        let problems = super::schema::validate(schema, &result["structuredContent"]);
        assert!(problems.is_empty(), "{name}'s structuredContent breaks its outputSchema:\n{}", problems.join("\n"));
        result["structuredContent"].clone()
    }

    pub async fn error(&self, name: &str, arguments: Value) -> String {
        let result = self.call(name, arguments).await;
        assert_eq!(result["isError"], true, "{name} should fail: {result}");
        result["content"][0]["text"].as_str().unwrap().to_string()
    }
}
