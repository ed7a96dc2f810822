//! The docs cannot drift: every code block in README.md and docs/ is checked. TOML blocks must be
//! valid configurations, JSON blocks valid JSON, and every shell block either runs — against a
//! demo gateway started here, with `127.0.0.1:8080` pointed at it — or is covered elsewhere, by a
//! test or script this file names and checks exists. A command nobody accounted for fails.

mod common;

use common::Gateway;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One fenced code block.
struct Block {
    place: String,
    lang: String,
    text: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page under docs/ (the generated tool reference has no commands).
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The fenced blocks of a Markdown file (indented fences, as in lists, included).
fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.strip_prefix(root()).unwrap().display().to_string();
    let mut found = Vec::new();
    let mut open: Option<(usize, String, Vec<String>)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(info)) => open = Some((n + 1, info.trim().to_string(), Vec::new())),
            (Some(_), Some(_)) => {
                let (start, lang, lines) = open.take().unwrap();
                found.push(Block { place: format!("{name}:{start}"), lang, text: lines.join("\n") });
            }
            (Some((_, _, lines)), None) => lines.push(trimmed.to_string()),
            (None, None) => {}
        }
    }
    found
}

fn all_blocks() -> Vec<Block> {
    pages().iter().flat_map(|p| blocks(p)).collect()
}

#[test]
fn every_toml_block_is_a_valid_configuration() {
    let mut checked = 0;
    for block in all_blocks().iter().filter(|b| b.lang == "toml") {
        let parsed = immich_mcp_gateway::config::load_str(&block.text, &block.place, Vec::new());
        assert!(parsed.is_ok(), "{}: {}", block.place, parsed.err().map(|e| e.to_string()).unwrap_or_default());
        checked += 1;
    }
    assert!(checked >= 2, "the README's configuration and the HTTPS example at least");
}

#[test]
fn every_json_block_parses() {
    let mut checked = 0;
    for block in all_blocks().iter().filter(|b| b.lang == "json") {
        let parsed = serde_json::from_str::<serde_json::Value>(&block.text);
        assert!(parsed.is_ok(), "{}: {:?}", block.place, parsed.err());
        checked += 1;
    }
    assert!(checked >= 3, "the agents' config blocks at least");
}

/// Programs a shell block may run here.
const RUNS_HERE: &[&str] = &["curl", "until", "immich-mcp-gateway"];

/// Programs run elsewhere, and the test or script that covers each (which must exist).
const COVERED_ELSEWHERE: &[(&str, &str)] = &[
    ("./demo", "tests/docs.rs starts the same demo gateway itself"),
    ("./test", ".ci/run"),
    ("cargo", ".ci/run"),
    ("claude", "tests/agents.rs (Claude Code is not installable here; the same Streamable HTTP as the other agents)"),
    ("npx", "tests/agents.rs"),
    ("kill", "tests/upgrade.rs"),
];

/// The first program of each command in a shell block (continuation lines joined, comments and
/// environment assignments skipped).
fn programs(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().find(|w| !w.contains('=')).map(str::to_string))
        .collect()
}

#[test]
fn every_shell_block_runs_or_is_covered_elsewhere() {
    let gw = Gateway::start("", &["--demo"]);
    let address = gw.url.trim_start_matches("http://").to_string();
    let binary = env!("CARGO_BIN_EXE_immich-mcp-gateway");
    let mut ran = 0;
    for block in all_blocks().iter().filter(|b| matches!(b.lang.as_str(), "sh" | "bash")) {
        let programs = programs(&block.text);
        let elsewhere: Vec<&(&str, &str)> =
            COVERED_ELSEWHERE.iter().filter(|(p, _)| programs.iter().any(|q| q == p)).collect();
        for program in &programs {
            assert!(
                RUNS_HERE.contains(&program.as_str()) || COVERED_ELSEWHERE.iter().any(|(p, _)| p == program),
                "{}: `{program}` is neither run here nor covered elsewhere: add it to tests/docs.rs",
                block.place
            );
        }
        if !elsewhere.is_empty() {
            for (_, by) in elsewhere {
                let file = by.split_whitespace().next().unwrap();
                assert!(root().join(file).exists(), "{}: {file} should cover it", block.place);
            }
            continue;
        }
        let script = block
            .text
            .replace("127.0.0.1:8080", &address)
            .replace("localhost:8080", &address)
            .replace("immich-mcp-gateway ", &format!("{binary} "));
        let output = Command::new("timeout").args(["60", "bash", "-euo", "pipefail", "-c", &script]).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}: {}\n{stdout}", block.place, String::from_utf8_lossy(&output.stderr));
        assert!(!stdout.contains("\"isError\":true"), "{}: a tool call failed: {stdout}", block.place);
        ran += 1;
    }
    assert!(ran >= 1, "the demo walk at least");
}
