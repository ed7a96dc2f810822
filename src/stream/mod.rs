//! Streaming large results: an incremental JSON array splitter ([`json`]) and the re-framing of
//! JSON bodies into SSE or NDJSON streams ([`reframe`]) as the bytes arrive.

pub mod compress;
pub mod json;
pub mod reframe;
pub mod scan;
pub mod socket;
pub mod stats;
