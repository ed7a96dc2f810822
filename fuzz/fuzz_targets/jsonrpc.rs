#![no_main]
//! `immich_mcp_gateway::fuzzing::jsonrpc` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| immich_mcp_gateway::fuzzing::jsonrpc(data));
