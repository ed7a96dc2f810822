//! MCP (Model Context Protocol) at `/mcp`: JSON-RPC messages ([`jsonrpc`]), self-contained
//! signed sessions ([`session`]), the method dispatcher ([`server`]) over pluggable catalogues
//! ([`catalog`]), the Streamable HTTP transport for both protocol generations ([`http`]) and the
//! conformance-suite fixtures ([`fixtures`], test-only).

pub mod catalog;
pub mod fixtures;
pub mod http;
pub mod jsonrpc;
pub mod server;
pub mod session;
