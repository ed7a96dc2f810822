//! immich-mcp-gateway: an MCP gateway and streaming reverse proxy for Immich, built on Pingora.
//!
//! The tree follows the architecture, lowest layer first; no module imports one above it (a test,
//! `architecture::layers`, keeps it so):
//!
//! 1. [`config`]: the file, parsed once into typed values; [`calendar`] (dates from Unix time);
//! 2. [`telemetry`] (logs, metrics), [`shutdown`], [`bounded`] (state a client cannot grow);
//! 3. [`immich`] (where Immich is, its credentials, the typed client), [`auth`] (who is calling,
//!    for every surface), [`stream`] (re-framing, flow control, stream limits), [`connection`]
//!    (connection limits and the client's deadlines), [`reply`] (answers the gateway writes
//!    itself), [`html`] (the look of the gateway's own pages), [`ratelimit`] (requests and tool calls per caller), [`demo`] (the embedded synthetic
//!    Immich);
//! 4. [`mcp`]: the protocol and its Streamable HTTP / WebSocket transport;
//! 5. [`tools`]: the Immich tools, one file per family;
//! 6. [`runtime`]: the live state built from each configuration, swapped on reload; [`oauth`]: the
//!    authorization server of `oauth` mode (the sign-in page, codes and tokens);
//! 7. [`gateway`]: the Pingora service — routing, the gateway's own endpoints, the `/api` proxy;
//! 8. [`server`] and [`cli`]: the process; `fuzzing` (feature `fuzzing`): the fuzz targets' entry
//!    points.
//!
//! `docs/ARCHITECTURE.md` follows a request through them.

pub(crate) mod auth;
pub(crate) mod bounded;
pub(crate) mod calendar;
pub mod cli;
pub mod config;
pub(crate) mod connection;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub(crate) mod gateway;
pub(crate) mod html;
pub(crate) mod immich;
pub(crate) mod mcp;
pub(crate) mod oauth;
pub(crate) mod ratelimit;
pub(crate) mod reply;
pub(crate) mod runtime;
pub(crate) mod server;
pub(crate) mod shutdown;
pub mod stdio;
pub(crate) mod stream;
pub(crate) mod telemetry;
pub(crate) mod tools;

#[cfg(test)]
mod architecture;

// What the binary, the examples, the benchmarks and the black-box tests use; nothing else is
// public, so the compiler sees dead code.
pub use cli::Cli;
pub use runtime::{Runtime, Source};
pub use server::run;
pub use tools::registry::reference_markdown as tool_reference;

/// The `tools` array of `tools/list` for a key that may do everything, as `[tools]` offers it
/// (for measuring what a model is handed: `examples/tools-list-size.rs`).
pub fn tools_list(config: &config::ToolsConfig) -> serde_json::Value {
    let tools: Vec<_> = tools::registry::all()
        .iter()
        .filter(|t| config.offers_tool(t.name, t.toolset, t.writes))
        .map(|t| t.definition())
        .collect();
    serde_json::json!({ "tools": tools })
}

/// How many Immich tools `[tools]` offers a key that may do everything.
pub fn tool_count(config: &config::ToolsConfig) -> usize {
    tools_list(config)["tools"].as_array().map_or(0, Vec::len)
}

/// The MCP protocol engine without its transport, for driving it in-process (the fuzz test).
pub mod protocol {
    pub use crate::mcp::catalog::CallContext;
    #[cfg(feature = "conformance-fixtures")]
    pub use crate::mcp::fixtures::ConformanceFixtures;
    pub use crate::mcp::jsonrpc::{Body, Message, parse_body};
    pub use crate::mcp::server::{McpServer, Wire};
}

/// The stream re-framing and compression engines, for their benchmarks.
pub mod reframing {
    pub use crate::stream::compress::{Codec, Compressor};
    pub use crate::stream::reframe::{Format, Reframer};
}
