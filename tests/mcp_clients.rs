//! Real MCP clients against the real binary: the official conformance suites (0.1.16 with
//! `--suite all`; 0.2.0-alpha.12 for spec 2025-11-25 and 2026-07-28), the TypeScript SDK and the
//! Python SDK. `.ci/run` installs them (`npm ci --prefix tests/clients`, `pip install mcp`); on a
//! machine without them these tests fail in CI and say how to install them elsewhere.

mod common;

use common::{Gateway, clients_dir, require_node};
use std::process::Command;

/// The gateway with the fixtures; `page_size` small enough to make clients page through tools.
fn fixtures_gateway(page_size: usize) -> Gateway {
    Gateway::start(&format!("[mcp]\nconformance_fixtures = true\npage_size = {page_size}\n"), &["--demo"])
}

/// Conformance clients read only the first page of tools.
const ONE_PAGE: usize = 50;
/// SDK tests page through the tools.
const SMALL_PAGES: usize = 4;

/// Runs a conformance suite and returns its summary; panics with the output on any failure.
fn conformance(package: &str, args: &[&str]) {
    let node = require_node();
    let gw = fixtures_gateway(ONE_PAGE);
    // The suite's DNS-rebinding scenario needs a localhost URL.
    let url = gw.at("/mcp").replace("127.0.0.1", "localhost");
    let cli = clients_dir().join(format!("node_modules/{package}/dist/index.js"));
    let output = Command::new("timeout")
        .arg("600")
        .arg(&node)
        .arg(&cli)
        .args(["server", "--url", &url])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.split("=== SUMMARY ===").nth(1).unwrap_or(&stdout).to_string();
    let total = summary.lines().find(|l| l.starts_with("Total:")).unwrap_or("no total line").to_string();
    eprintln!("{package} {args:?}: {total}");
    assert!(
        output.status.success() && total.contains(" 0 failed"),
        "conformance {package} {args:?} failed:\n{summary}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn conformance_0_1_16_suite_all() {
    conformance("conformance-0.1.16", &["--suite", "all"]);
}

#[test]
fn conformance_0_2_0_alpha_spec_2025_11_25_suite_all() {
    conformance("conformance-0.2.0-alpha.12", &["--spec-version", "2025-11-25", "--suite", "all"]);
}

#[test]
fn conformance_0_2_0_alpha_spec_2026_07_28_suite_all() {
    conformance("conformance-0.2.0-alpha.12", &["--spec-version", "2026-07-28", "--suite", "all"]);
}

/// Runs an SDK client script to its end; the JSON summary it prints.
fn run_client(command: &mut Command) -> serde_json::Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn typescript_sdk_client() {
    let node = require_node();
    let gw = fixtures_gateway(SMALL_PAGES);
    let summary = run_client(Command::new(node).arg(clients_dir().join("node_client.mjs")).arg(gw.at("/mcp")));
    assert_eq!(summary["progress"], serde_json::json!([0, 50, 100]));
    assert!(summary["pages"].as_u64().unwrap() >= 2);
}

#[test]
fn python_sdk_client() {
    let mut python = common::python_with("mcp");
    let gw = fixtures_gateway(SMALL_PAGES);
    let summary = run_client(python.arg(clients_dir().join("python_client.py")).arg(gw.at("/mcp")));
    assert_eq!(summary["ok"], true);
    assert!(summary["pages"].as_u64().unwrap() >= 2);
}
