//! What the audit trail records of a tool call: who (the caller's safe name, how it was
//! recognised, an OAuth grant's client and person), what (the tool, whether it writes, how many
//! things it names), how it went, and the request id. Never an argument's value, a credential
//! or a token. The line is written by `telemetry::audit`.

use super::catalog::CallContext;
use super::jsonrpc::RpcError;
use serde_json::{Value, json};
use std::time::Duration;

/// How many things a call names: its id lists' lengths (`ids`, `assetIds`, …), else one for a
/// call about one thing (`id`, `albumId`, a new album), else none.
pub fn targets(arguments: &Value) -> usize {
    let Some(object) = arguments.as_object() else { return 0 };
    let listed: usize = object
        .iter()
        .filter(|(key, _)| key.as_str() == "ids" || key.ends_with("Ids"))
        .filter_map(|(_, value)| value.as_array().map(Vec::len))
        .sum();
    if listed > 0 {
        return listed;
    }
    usize::from(object.keys().any(|k| k == "id" || k.ends_with("Id") || k == "name"))
}

/// Records one finished tool call.
pub fn tool_call(
    tool: &str,
    writes: bool,
    targets: usize,
    outcome: &Result<Value, RpcError>,
    cx: &CallContext,
    took: Duration,
) {
    let result = match outcome {
        Ok(result) if result["isError"] == true => "tool_error",
        Ok(_) => "ok",
        Err(_) => "error",
    };
    let principal = cx.principal.as_ref();
    let grant = principal.and_then(|p| p.grant.as_ref());
    let entry = json!({
        "event": "tool_call",
        "tool": tool,
        "writes": writes,
        "targets": targets,
        "outcome": result,
        "principal": principal.map(|p| p.name.to_string()),
        "via": principal.map(|p| p.via.label()),
        "client": grant.map(|g| g.client_name.clone()),
        "user": grant.map(|g| g.user_id.clone()),
        "request_id": cx.request_id,
        "duration_ms": took.as_millis() as u64,
    });
    crate::telemetry::audit::record(writes, entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_count_what_a_call_names() {
        assert_eq!(targets(&json!({ "ids": ["a", "b", "c"], "isFavorite": true })), 3);
        assert_eq!(targets(&json!({ "albumId": "x", "assetIds": ["a", "b"] })), 2);
        assert_eq!(targets(&json!({ "albumId": "x" })), 1);
        assert_eq!(targets(&json!({ "name": "Trip" })), 1);
        assert_eq!(targets(&json!({ "limit": 5 })), 0);
    }
}
