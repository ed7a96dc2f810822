//! immich-mcp-gateway: an MCP gateway and streaming reverse proxy for Immich, built on Pingora.
//!
//! The tree follows the architecture: [`config`] (file → typed config → atomic swap),
//! [`proxy`] (the Pingora service and `/api` reverse proxy), [`immich`] (where Immich is and how
//! the gateway calls it), [`telemetry`] (logs and metrics), [`demo`] (the embedded synthetic
//! Immich) and [`server`] (assembling the Pingora server from the CLI and config).

pub mod cli;
pub mod config;
pub mod demo;
pub mod immich;
pub mod mcp;
pub mod proxy;
pub mod server;
pub mod stream;
pub mod telemetry;
pub mod tools;
