//! How big the tool list a model is handed is: the `tools/list` result for each choice of
//! `[tools] toolsets`, in bytes of JSON and in tokens (OpenAI's o200k_base and cl100k_base
//! encodings, from the `tiktoken-rs` crate, as a stand-in for what any model's tokenizer counts).
//!
//!   cargo run --release --example tools-list-size

use immich_mcp_gateway::config::ToolsConfig;

fn main() {
    let o200k = tiktoken_rs::o200k_base().expect("the o200k_base encoding ships with the crate");
    let cl100k = tiktoken_rs::cl100k_base().expect("the cl100k_base encoding ships with the crate");
    println!("| toolsets | tools | bytes | tokens (o200k_base) | tokens (cl100k_base) |");
    println!("|---|---|---|---|---|");
    for toolsets in ["[\"core\"]", "[\"core\", \"organize\"]", "[\"core\", \"organize\", \"sharing\"]", "[\"all\"]"] {
        let config: ToolsConfig = toml::from_str(&format!("toolsets = {toolsets}")).expect("a valid [tools] table");
        let list = immich_mcp_gateway::tools_list(&config);
        let text = serde_json::to_string(&list).expect("JSON");
        let count = list["tools"].as_array().map_or(0, Vec::len);
        let default = if config == ToolsConfig::default() { " (default)" } else { "" };
        println!(
            "| {toolsets}{default} | {count} | {} | {} | {} |",
            text.len(),
            o200k.encode_with_special_tokens(&text).len(),
            cl100k.encode_with_special_tokens(&text).len()
        );
    }
}
