//! Sharing: who shares their library with whom (Immich's partners).

use super::call::{Call, Outcome, result};
use super::registry::{Tool, any_object, output, schema};
use crate::immich::path::ApiPath;
use serde_json::{Value, json};

/// The sharing tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listPartners",
            "List partners",
            "Immich partner sharing: the people whose whole library the user can see (sharedWithMe), and the \
                people the user shares their library with (sharedByMe).",
            &["partner.read"],
            |call| Box::pin(list_partners(call)),
        )
        .input(schema(json!({}), &[]))
        .output(output(
            json!({
                "sharedWithMe": { "type": "array", "items": any_object() },
                "sharedByMe": { "type": "array", "items": any_object() }
            }),
            &["sharedWithMe", "sharedByMe"],
        )),
    ]
}

async fn list_partners(call: &Call<'_>) -> Outcome {
    let path = ApiPath::fixed("/api/partners");
    // `shared-with`: partners who share with the caller; `shared-by`: those the caller shares with.
    let with_me: Vec<Value> = call.client().get(call.key, &path, &[("direction", "shared-with".into())]).await?;
    let by_me: Vec<Value> = call.client().get(call.key, &path, &[("direction", "shared-by".into())]).await?;
    let compact = |partners: &[Value]| -> Vec<Value> {
        partners
            .iter()
            .map(|p| json!({ "id": p["id"], "name": p["name"], "email": p["email"], "inTimeline": p["inTimeline"] }))
            .collect()
    };
    let names = |partners: &[Value]| -> String {
        let listed: Vec<String> = partners
            .iter()
            .map(|p| format!("{} <{}>", p["name"].as_str().unwrap_or(""), p["email"].as_str().unwrap_or("")))
            .collect();
        if listed.is_empty() { "nobody".into() } else { listed.join(", ") }
    };
    let text =
        format!("Sharing their library with you: {}.\nYou share yours with: {}.", names(&with_me), names(&by_me));
    Ok(result(json!({ "sharedWithMe": compact(&with_me), "sharedByMe": compact(&by_me) }), text, Vec::new()))
}
