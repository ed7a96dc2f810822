//! MCP (Model Context Protocol): JSON-RPC messages ([`jsonrpc`]) and method names ([`method`]),
//! self-contained sealed sessions ([`session`]), the method dispatcher ([`server`]) over pluggable
//! catalogues ([`catalog`]), the Streamable HTTP and WebSocket transport for both protocol
//! generations ([`transport`]) and, with the `conformance-fixtures` feature, the conformance
//! suite's fixtures ([`fixtures`], test-only).

mod audit;
pub mod catalog;
#[cfg(feature = "conformance-fixtures")]
pub mod fixtures;
pub mod jsonrpc;
pub mod method;
pub mod server;
pub mod session;
pub mod transport;
