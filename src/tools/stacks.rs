//! Stacks: photos Immich shows as one (a burst, a RAW and its JPEG), the first the one shown.

use super::call::{Call, Outcome, bad_argument, result};
use super::registry::{Tool, id, id_list, output, photo_schema, schema};
use crate::config::Toolset;
use crate::immich::client::Asset;
use crate::immich::path::ApiPath;
use serde::Deserialize;
use serde_json::{Value, json};

/// The stack tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listStacks",
            "List stacks",
            "Stacks of photos Immich shows as one (bursts, RAW + JPEG), each with its primary photo (the one shown) \
                first; with photoId, only the stack that photo leads.",
            &["stack.read"],
            |call| Box::pin(list_stacks(call)),
        )
        .input(schema(json!({ "photoId": id() }), &[]))
        .output(output(json!({ "stacks": { "type": "array", "items": stack_schema() } }), &["stacks"])),
        Tool::reads(
            "createStack",
            "Stack photos",
            "Stack two or more photos so Immich shows them as one; the first is the primary (the one shown). A photo \
                that leads a stack brings that stack's photos along.",
            &["stack.create", "asset.update"],
            |call| Box::pin(create_stack(call)),
        )
        .input(schema(
            json!({ "photoIds": id_list("Photos to stack, the primary first (at least 2).") }),
            &["photoIds"],
        ))
        .output(output(json!({ "stack": stack_schema() }), &["stack"]))
        .writes(false)
        .toolset(Toolset::Organize),
        Tool::reads(
            "removeFromStack",
            "Take a photo out of a stack",
            "Take one photo out of its stack (it shows on its own again; nothing is deleted). The primary photo \
                cannot be taken out.",
            &["stack.update"],
            |call| Box::pin(remove_from_stack(call)),
        )
        .input(schema(json!({ "stackId": id(), "photoId": id() }), &["stackId", "photoId"]))
        .output(output(
            json!({ "removed": { "type": "string" }, "stackId": { "type": "string" } }),
            &["removed", "stackId"],
        ))
        .writes(true)
        .toolset(Toolset::Organize),
    ]
}

fn stack_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "primaryPhotoId": { "type": "string" },
        "photos": { "type": "array", "items": photo_schema() } }, "required": ["id", "primaryPhotoId", "photos"] })
}

/// `StackResponseDto`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stack {
    id: String,
    primary_asset_id: String,
    assets: Vec<Asset>,
}

fn compact(call: &Call<'_>, stack: Stack) -> Value {
    let photos: Vec<_> = stack.assets.into_iter().map(|a| call.photo(a)).collect();
    json!({ "id": stack.id, "primaryPhotoId": stack.primary_asset_id, "photos": photos })
}

fn render(stack: &Value) -> String {
    let names: Vec<&str> =
        stack["photos"].as_array().into_iter().flatten().filter_map(|p| p["fileName"].as_str()).collect();
    format!("stack {} · {} photos: {}", stack["id"].as_str().unwrap_or(""), names.len(), names.join(", "))
}

async fn list_stacks(call: &Call<'_>) -> Outcome {
    let mut query = Vec::new();
    if let Some(photo) = call.optional_uuid("photoId")? {
        query.push(("primaryAssetId", photo.as_str().to_string()));
    }
    let stacks: Vec<Stack> = call.client().get(call.key, &ApiPath::fixed("/api/stacks"), &query).await?;
    let stacks: Vec<Value> = stacks.into_iter().map(|s| compact(call, s)).collect();
    let text = if stacks.is_empty() {
        "No stacks.".to_string()
    } else {
        stacks.iter().map(render).collect::<Vec<_>>().join("\n")
    };
    Ok(result(json!({ "stacks": stacks }), text, Vec::new()))
}

async fn create_stack(call: &Call<'_>) -> Outcome {
    let ids = call.uuids("photoIds")?;
    if ids.len() < 2 {
        return Err(bad_argument("a stack needs at least 2 photos in `photoIds`"));
    }
    let stack: Stack = call
        .client()
        .write(call.key, reqwest::Method::POST, &ApiPath::fixed("/api/stacks"), &json!({ "assetIds": ids }))
        .await?;
    let stack = compact(call, stack);
    let text = format!("Stacked: {}", render(&stack));
    Ok(result(json!({ "stack": stack }), text, Vec::new()))
}

async fn remove_from_stack(call: &Call<'_>) -> Outcome {
    let (stack, photo) = (call.uuid("stackId")?, call.uuid("photoId")?);
    let path = ApiPath::fixed("/api/stacks").id(&stack).then("assets").id(&photo);
    call.client().write_empty(call.key, reqwest::Method::DELETE, &path, &json!({})).await?;
    Ok(result(
        json!({ "removed": photo.as_str(), "stackId": stack.as_str() }),
        format!("Took {photo} out of stack {stack}: it shows on its own again."),
        Vec::new(),
    ))
}
