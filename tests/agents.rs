//! The agent set-ups README.md gives, run for real where the client runs here: Claude Desktop's
//! config block (the official Python SDK's stdio client starting the pinned `mcp-remote` bridge
//! exactly as the block says) and the MCP Inspector's command line. Both against the real binary
//! on the demo Immich.

mod common;

use common::{Gateway, clients_dir, require_node};
use serde_json::Value;
use std::process::Command;

/// The JSON document `output` printed (from its first line that opens one), after checking it
/// succeeded.
fn json_line(output: std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let start = if stdout.starts_with('{') { 0 } else { stdout.find("\n{").expect("a JSON document") + 1 };
    let mut documents = serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<Value>();
    documents.next().expect("a JSON document").unwrap()
}

#[test]
fn claude_desktops_config_block_works_through_mcp_remote() {
    let node = require_node();
    let gw = Gateway::start("", &["--demo"]);
    let bridge = clients_dir().join("node_modules/mcp-remote/dist/proxy.js");
    let output = common::python_with("mcp")
        .arg(clients_dir().join("desktop_bridge_client.py"))
        .args([node.as_os_str(), bridge.as_os_str()])
        .arg(gw.at("/mcp"))
        .arg(common::ADMIN)
        .output()
        .unwrap();
    let summary = json_line(output);
    assert_eq!(summary["tools"], common::tool_count(), "{summary}");
    assert_eq!(summary["photos"], 3, "{summary}");
    assert_eq!(summary["content"], serde_json::json!(["image", "text"]), "images reach the desktop client");
}

#[test]
fn the_inspectors_command_line_lists_and_calls_tools() {
    let node = require_node();
    let gw = Gateway::start("", &["--demo"]);
    let home = tempfile::tempdir().unwrap();
    let inspector = clients_dir().join("node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    let run = |args: &[&str]| {
        let mut command = Command::new(&node);
        command.arg(&inspector).args(["--cli", &gw.at("/mcp"), "--transport", "http"]);
        command.args(["--header", &format!("X-API-Key: {}", common::ADMIN)]).args(args);
        json_line(command.env("HOME", home.path()).output().unwrap())
    };
    let listed = run(&["--method", "tools/list"]);
    assert_eq!(listed["tools"].as_array().map(Vec::len), Some(common::tool_count()), "{listed}");
    let called = run(&["--method", "tools/call", "--tool-name", "queryPhotos", "--tool-arg", "limit=2"]);
    assert_eq!(called["structuredContent"]["count"], 2, "{called}");
}
