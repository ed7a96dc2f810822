//! MCP over standard input and output, as desktop clients use it: the official Python SDK's stdio
//! client starts the real binary (`immich-mcp-gateway stdio --demo`), lists, calls, and takes a
//! streamed result; the process writes nothing but MCP to its standard output and ends cleanly
//! when its input does.

mod common;

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_immich-mcp-gateway");

#[test]
fn the_python_sdks_stdio_client_lists_calls_and_streams() {
    let output =
        common::python_with("mcp").arg(common::clients_dir().join("stdio_client.py")).arg(BINARY).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["tools"], common::tool_count(), "{summary}");
    assert_eq!(summary["count"], 2000, "{summary}");
    assert!(summary["streamId"].is_string(), "the result streamed: {summary}");
    assert!(summary["progress"].as_u64().unwrap() >= 2 && summary["monotonic"] == true, "{summary}");
}

#[test]
fn standard_output_carries_only_mcp_and_input_ending_ends_the_process() {
    let mut child = Command::new(BINARY)
        .args(["stdio", "--demo"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let lines = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":-0,"method":"tools/list"}"#,
        r#"{not json"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"getPhoto","arguments":{"id":"../../api-keys"}}}"#,
    ];
    for line in lines {
        writeln!(input, "{line}").unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "a clean exit at the end of input");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let messages: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON-RPC: {l}: {e}"))).collect();
    assert_eq!(messages.len(), 4, "{stdout}");
    assert!(stdout.contains(r#""id":-0"#), "ids come back as written");
    assert!(messages.iter().any(|m| m["error"]["code"] == -32700));
    let refused = messages.iter().find(|m| m["id"] == 3).unwrap();
    assert_eq!(refused["result"]["isError"], true);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MCP client on standard input"),
        "logs go to standard error"
    );
}
