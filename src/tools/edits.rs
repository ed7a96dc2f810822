//! Immich's non-destructive edits (crop, rotate, mirror): read them, rotate photos, take the edits
//! off again. The original file is never changed.

use super::call::{Call, Outcome, bad_argument, result};
use super::registry::{Tool, id, id_list, output, schema};
use crate::config::Toolset;
use crate::immich::path::{ApiPath, Uuid};
use serde_json::{Value, json};

/// Photos edited in one call, at most (each is its own request to Immich).
const MAX_PHOTOS: usize = 100;

/// The edit tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "getPhotoEdits",
            "A photo's edits",
            "The edits Immich applies to a photo when showing it (crop, rotate, mirror, in order); the original file is \
                untouched.",
            &["asset.edit.get"],
            |call| Box::pin(get_photo_edits(call)),
        )
        .input(schema(json!({ "id": id() }), &["id"]))
        .output(output(
            json!({ "id": { "type": "string" }, "edits": { "type": "array", "items": { "type": "object" } } }),
            &["id", "edits"],
        )),
        Tool::reads(
            "rotatePhotos",
            "Rotate photos",
            "Turn photos clockwise by 90, 180 or 270 degrees, on top of any rotation they have (a non-destructive \
                edit: revertPhotoEdits undoes it). Only images; each photo succeeds or fails on its own.",
            &["asset.edit.get", "asset.edit.create"],
            |call| Box::pin(rotate_photos(call)),
        )
        .input(schema(
            json!({ "ids": id_list("Photos to rotate (at most 100)."),
                    "degrees": { "type": "integer", "enum": [90, 180, 270], "description": "Clockwise." } }),
            &["ids", "degrees"],
        ))
        .output(outcomes_schema())
        .writes(false)
        .toolset(Toolset::Organize),
        Tool::reads(
            "revertPhotoEdits",
            "Undo photo edits",
            "Take every edit (crop, rotate, mirror) off photos, so they show as their original files again. Each photo \
                succeeds or fails on its own.",
            &["asset.edit.delete"],
            |call| Box::pin(revert_photo_edits(call)),
        )
        .input(schema(json!({ "ids": id_list("Photos to restore to their originals (at most 100).") }), &["ids"]))
        .output(outcomes_schema())
        .writes(true)
        .destructive()
        .toolset(Toolset::Organize),
    ]
}

fn outcomes_schema() -> Value {
    output(
        json!({ "done": { "type": "array", "items": { "type": "string" } },
                "failed": { "type": "array", "items": { "type": "object", "properties": {
                    "id": { "type": "string" }, "error": { "type": "string" } }, "required": ["id", "error"] } } }),
        &["done", "failed"],
    )
}

fn edits_path(id: &Uuid) -> ApiPath {
    ApiPath::fixed("/api/assets").id(id).then("edits")
}

async fn get_photo_edits(call: &Call<'_>) -> Outcome {
    let id = call.uuid("id")?;
    let found: Value = call.client().get(call.key, &edits_path(&id), &[]).await?;
    let edits: Vec<Value> = found["edits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| json!({ "action": e["action"], "parameters": e["parameters"] }))
        .collect();
    let text = if edits.is_empty() {
        format!("{id} has no edits: it shows as its original.")
    } else {
        let steps: Vec<String> =
            edits.iter().map(|e| format!("{} {}", e["action"].as_str().unwrap_or(""), e["parameters"])).collect();
        format!("{id}: {}", steps.join(", then "))
    };
    Ok(result(json!({ "id": id.as_str(), "edits": edits }), text, Vec::new()))
}

/// The ids of a call, 1 to [`MAX_PHOTOS`].
fn photo_ids(call: &Call<'_>) -> Result<Vec<Uuid>, super::call::ToolError> {
    let ids = call.uuids("ids")?;
    if ids.is_empty() || ids.len() > MAX_PHOTOS {
        return Err(bad_argument(format!("give 1 to {MAX_PHOTOS} ids")));
    }
    Ok(ids)
}

/// The call's outcome: which photos were done, which failed and why (Immich's words).
fn outcomes(done: Vec<String>, failed: Vec<Value>, what: &str) -> Outcome {
    let mut lines = vec![format!("{what} {} photos.", done.len())];
    lines.extend(
        failed
            .iter()
            .map(|f| format!("Not {id}: {}", f["error"].as_str().unwrap_or(""), id = f["id"].as_str().unwrap_or(""))),
    );
    let mut answer = result(json!({ "done": done, "failed": failed }), lines.join("\n"), Vec::new());
    if done.is_empty() {
        answer["isError"] = json!(true);
    }
    Ok(answer)
}

async fn rotate_photos(call: &Call<'_>) -> Outcome {
    let ids = photo_ids(call)?;
    let degrees = match call.args["degrees"].as_u64() {
        Some(d @ (90 | 180 | 270)) => d,
        _ => return Err(bad_argument("`degrees` must be 90, 180 or 270")),
    };
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for id in &ids {
        // Immich replaces a photo's edits whole: the new rotation goes on top of the old, the
        // other edits (a crop first) kept in their order.
        let outcome = async {
            let current: Value = call.client().get(call.key, &edits_path(id), &[]).await?;
            let mut edits: Vec<Value> = current["edits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| json!({ "action": e["action"], "parameters": e["parameters"] }))
                .collect();
            match edits.iter_mut().find(|e| e["action"] == "rotate") {
                Some(rotate) => {
                    let angle = (rotate["parameters"]["angle"].as_f64().unwrap_or(0.0) as u64 + degrees) % 360;
                    rotate["parameters"]["angle"] = json!(angle);
                }
                None => edits.push(json!({ "action": "rotate", "parameters": { "angle": degrees } })),
            }
            call.client()
                .write::<Value>(call.key, reqwest::Method::PUT, &edits_path(id), &json!({ "edits": edits }))
                .await
        }
        .await;
        match outcome {
            Ok(_) => done.push(id.to_string()),
            Err(e) => failed.push(json!({ "id": id.as_str(), "error": e.for_model() })),
        }
    }
    outcomes(done, failed, &format!("Rotated by {degrees}°:"))
}

async fn revert_photo_edits(call: &Call<'_>) -> Outcome {
    let ids = photo_ids(call)?;
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for id in &ids {
        match call.client().write_empty(call.key, reqwest::Method::DELETE, &edits_path(id), &json!({})).await {
            Ok(()) => done.push(id.to_string()),
            Err(e) => failed.push(json!({ "id": id.as_str(), "error": e.for_model() })),
        }
    }
    outcomes(done, failed, "Restored to their originals:")
}
