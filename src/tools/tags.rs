//! Tags: list them, tag photos (creating missing tags by path).

use super::call::{Call, Outcome, result};
use super::registry::{Tool, any_object, id_list, output, schema};
use crate::config::Toolset;
use crate::immich::client::Tag;
use crate::immich::path::{ApiPath, Uuid};
use serde_json::{Value, json};

/// The tag tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listTags",
            "List tags",
            "All tags, with their full paths (e.g. 'trip/2020').",
            &["tag.read"],
            |call| Box::pin(list_tags(call)),
        )
        .input(schema(json!({}), &[]))
        .output(output(json!({ "tags": { "type": "array", "items": any_object() } }), &["tags"])),
        Tool::reads(
            "tagPhotos",
            "Tag photos",
            "Tag photos. Give tag paths like 'trip/2024' (created when missing) or existing tag ids.",
            &["tag.create", "tag.asset"],
            |call| Box::pin(tag_photos(call)),
        )
        .input(schema(
                json!({ "photoIds": id_list("Photos to tag."), "tags": { "type": "array", "items": { "type": "string" }, "minItems": 1,
                "description": "Tag paths (created when missing) or tag ids." } }),
                &["photoIds", "tags"],
            ))
        .output(output(
                json!({ "tagged": { "type": "integer" }, "tags": { "type": "array", "items": any_object() } }),
                &["tagged"],
            ))
        .writes(false)
        .toolset(Toolset::Organize),
    ]
}

async fn list_tags(call: &Call<'_>) -> Outcome {
    let tags: Vec<Tag> = call.client().get(call.key, &ApiPath::fixed("/api/tags"), &[]).await?;
    let text = if tags.is_empty() {
        "No tags.".to_string()
    } else {
        tags.iter().map(|t| format!("{} ({})", t.value, t.id)).collect::<Vec<_>>().join("\n")
    };
    Ok(result(json!({ "tags": tags }), text, Vec::new()))
}

async fn tag_photos(call: &Call<'_>) -> Outcome {
    let photos = call.uuids("photoIds")?;
    // A tag is an id when it parses as one; anything else is a path (it goes in a body, never a URL).
    let (mut tag_ids, paths): (Vec<Uuid>, Vec<String>) =
        call.strings("tags").into_iter().fold((Vec::new(), Vec::new()), |(mut ids, mut paths), tag| {
            match Uuid::parse(&tag) {
                Some(id) => ids.push(id),
                None => paths.push(tag),
            }
            (ids, paths)
        });
    let mut tags = Vec::new();
    if !paths.is_empty() {
        let created: Vec<Tag> = call
            .client()
            .write(call.key, reqwest::Method::PUT, &ApiPath::fixed("/api/tags"), &json!({ "tags": paths }))
            .await?;
        tag_ids.extend(created.iter().filter_map(|t| Uuid::parse(&t.id)));
        tags.extend(created);
    }
    let outcome: Value = call
        .client()
        .write(
            call.key,
            reqwest::Method::PUT,
            &ApiPath::fixed("/api/tags/assets"),
            &json!({ "tagIds": tag_ids, "assetIds": photos }),
        )
        .await?;
    let count = outcome["count"].as_u64().unwrap_or(0);
    let names: Vec<&str> = tags.iter().map(|t| t.value.as_str()).collect();
    Ok(result(
        json!({ "tagged": count, "tags": tags }),
        format!("Added {count} tag(s) to {} photos {}", photos.len(), names.join(", ")),
        Vec::new(),
    ))
}
