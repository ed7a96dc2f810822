//! What an attacker tried, kept as tests: each attack against the real binary on loopback, and
//! what the gateway must (not) do. The heavy ones (20,000 idle connections, 10,000 streams) are in
//! `bench/attack.sh`.

mod common;

use common::mcp::Mcp;
use common::{CaptureUpstream, Gateway};
use serde_json::{Value, json};

/// A valid value for an argument, from its schema (for the arguments an attack leaves alone).
fn filler(schema: &Value) -> Value {
    const ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("string") if schema["format"] == "uuid" => json!(ID),
        Some("string") => json!("x"),
        Some("integer") => schema["minimum"].as_i64().map_or(json!(1), |m| json!(m.max(1))),
        Some("number") => json!(0.5),
        Some("boolean") => json!(false),
        Some("array") if schema["items"]["format"] == "uuid" => json!([ID]),
        Some("array") => json!(["x"]),
        _ => json!({}),
    }
}

/// Ids an attacker puts where a tool expects one: dot segments (plain and encoded), slashes, a
/// query and a fragment, and the paths of other Immich endpoints.
const HOSTILE_IDS: &[&str] = &[
    "..",
    "%2e%2e",
    "a/b",
    "x?y=1",
    "x#frag",
    "../../api-keys",
    "../admin/users",
    "../../users/me?x=",
    "../../assets",
];

/// Arguments that may hold names or paths as well as ids: they must still never become a path.
const NAMES_OR_IDS: &[&str] = &["people", "tags"];

/// Every tool, with every id argument (alone, or as an item of a list) set to each hostile id:
/// the gateway refuses the call itself with "must be a UUID" and sends Immich nothing; names and
/// paths go only in request bodies. Immich (here a recorder that answers `{"ok":true}`) must never
/// see a path outside the tools' own endpoints.
#[tokio::test]
async fn no_tool_argument_reaches_an_immich_path() {
    let upstream = CaptureUpstream::start();
    let config = format!("[immich]\nbase_url = \"http://{}\"\n[tools]\nhide_unavailable = false\n", upstream.addr);
    let gw = Gateway::start(&config, &[]);
    // Passthrough: the caller's key is used, so no permission read hides any tool.
    let mcp = Mcp::connect(&gw, Some("any-immich-key")).await;
    let listed = mcp.rpc("tools/list", json!({})).await;
    let tools = listed["result"]["tools"].as_array().expect("tools").clone();
    assert!(tools.len() >= 21, "every tool is listed: {}", tools.len());
    let mut attacked = 0;
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        let properties = tool["inputSchema"]["properties"].as_object().unwrap();
        let required: Vec<&str> =
            tool["inputSchema"]["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        for (argument, schema) in properties {
            let is_id = schema["format"] == "uuid";
            let is_id_list = schema["items"]["format"] == "uuid";
            if !is_id && !is_id_list && !NAMES_OR_IDS.contains(&argument.as_str()) {
                continue;
            }
            for hostile in HOSTILE_IDS {
                let mut arguments = serde_json::Map::new();
                for r in &required {
                    arguments.insert(r.to_string(), filler(&properties[*r]));
                }
                let value = if schema["type"] == "array" { json!([hostile]) } else { json!(hostile) };
                arguments.insert(argument.clone(), value);
                let before = upstream.heads.lock().unwrap().len();
                let result = mcp.call(name, Value::Object(arguments)).await;
                let sent = upstream.heads.lock().unwrap()[before..].to_vec();
                if is_id || is_id_list {
                    assert_eq!(result["isError"], true, "{name}.{argument} = {hostile:?}: {result}");
                    let text = result["content"][0]["text"].as_str().unwrap_or_default();
                    assert!(text.contains("must be a UUID") || text.contains("must hold UUIDs"), "{name}: {text}");
                    assert!(sent.is_empty(), "{name}.{argument} = {hostile:?} reached Immich: {sent:?}");
                }
                attacked += 1;
            }
        }
    }
    assert!(attacked >= 20 * HOSTILE_IDS.len(), "attacked {attacked} arguments");
    let heads = upstream.heads.lock().unwrap().clone();
    for head in &heads {
        let line = head.lines().next().unwrap_or_default();
        let (method, target) = line.split_once(' ').unwrap_or_default();
        let path = target.split(' ').next().unwrap_or_default();
        let path_only = path.split('?').next().unwrap_or_default();
        assert!(path_only.starts_with("/api/"), "{line}");
        for bad in ["..", "%2e", "%2E", "#", "api-keys", "/admin", "/users/me"] {
            assert!(!path_only.contains(bad), "a hostile argument shaped this path: {line}");
        }
        assert!(!(method == "DELETE" && path_only == "/api/assets"), "a bulk delete went out: {line}");
    }
}

/// `immich://` resource URIs are ids in paths too.
#[tokio::test]
async fn resource_uris_cannot_reach_other_endpoints() {
    let upstream = CaptureUpstream::start();
    let gw = Gateway::start(&format!("[immich]\nbase_url = \"http://{}\"\n", upstream.addr), &[]);
    let mcp = Mcp::connect(&gw, Some("any-immich-key")).await;
    for uri in [
        "immich://asset/..",
        "immich://asset/../../api-keys",
        "immich://album/%2e%2e",
        "immich://asset/x?y=1/thumbnail",
        "immich://album/..#",
    ] {
        let reply = mcp.rpc("resources/read", json!({ "uri": uri })).await;
        assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("not found")), "{uri}: {reply}");
    }
    let heads = upstream.heads.lock().unwrap().clone();
    // The start-up probe pings Immich; nothing else may reach it.
    assert!(heads.iter().all(|h| h.starts_with("GET /api/server/ping ")), "{heads:?}");
}
