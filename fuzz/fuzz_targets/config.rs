#![no_main]
//! `immich_mcp_gateway::fuzzing::config` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| immich_mcp_gateway::fuzzing::config(data));
