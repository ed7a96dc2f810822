//! immich-mcp-gateway: an MCP gateway and streaming reverse proxy for Immich, built on Pingora.
//!
//! The tree follows the architecture, lowest layer first; no module imports one above it (a test,
//! `architecture::layers`, keeps it so):
//!
//! 1. [`config`]: the file, parsed once into typed values;
//! 2. [`telemetry`] (logs, metrics), [`shutdown`], [`bounded`] (state a client cannot grow);
//! 3. [`immich`] (where Immich is, its credentials, the typed client), [`auth`] (who is calling,
//!    for every surface), [`stream`] (re-framing, flow control, stream limits), [`connection`]
//!    (connection limits and the client's deadlines), [`reply`] (answers the gateway writes
//!    itself), [`demo`] (the embedded synthetic Immich);
//! 4. [`mcp`]: the protocol and its Streamable HTTP / WebSocket transport;
//! 5. [`tools`]: the Immich tools, one file per family;
//! 6. [`runtime`]: the live state built from each configuration, swapped on reload;
//! 7. [`gateway`]: the Pingora service — routing, the gateway's own endpoints, the `/api` proxy;
//! 8. [`server`] and [`cli`]: the process.
//!
//! `docs/ARCHITECTURE.md` follows a request through them.

pub mod auth;
pub mod bounded;
pub mod cli;
pub mod config;
pub mod connection;
#[cfg(feature = "demo")]
pub mod demo;
pub mod gateway;
pub mod immich;
pub mod mcp;
pub mod reply;
pub mod runtime;
pub mod server;
pub mod shutdown;
pub mod stream;
pub mod telemetry;
pub mod tools;

#[cfg(test)]
mod architecture;
