//! `[rate_limits]`: how often one caller may call, per replica.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[rate_limits]`. A caller is its gateway key, its OAuth grant (client and person), or else its
/// address. Every limit is per replica; 0 turns a limit off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Requests per second to MCP, export links, and `/api` with a gateway key (Immich's own apps
    /// are never limited here).
    pub requests_per_second: f64,
    /// Requests allowed at once above that rate; 0: one second's worth.
    pub burst: u32,
    /// `tools/call` per minute, whatever the tool.
    pub tool_calls_per_minute: u32,
    /// Per-tool calls per minute, e.g. `exportPhotos = 5`, on top of `tool_calls_per_minute`.
    pub tools: BTreeMap<String, u32>,
}

impl RateLimitsConfig {
    /// Problems types alone cannot rule out, with their dotted keys.
    pub(super) fn validate(&self, problems: &mut Vec<(String, String)>) {
        if !(self.requests_per_second.is_finite() && self.requests_per_second >= 0.0) {
            problems.push(("rate_limits.requests_per_second".into(), "must be 0 (off) or a positive number".into()));
        }
        for (tool, per_minute) in &self.tools {
            if *per_minute == 0 {
                problems.push((
                    format!("rate_limits.tools.{tool}"),
                    "must be at least 1 (to stop a tool, list it in [tools] disabled)".into(),
                ));
            }
        }
    }
}
