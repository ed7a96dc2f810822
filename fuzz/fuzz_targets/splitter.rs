#![no_main]
//! `immich_mcp_gateway::fuzzing::splitter` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| immich_mcp_gateway::fuzzing::splitter(data));
