//! The library as a whole: memories, statistics, and the values its photos have.

use super::call::{Call, Outcome, result};
use super::photo::Photo;
use super::registry::{Tool, any_object, output, schema};
use crate::immich::client::Asset;
use crate::immich::path::ApiPath;
use serde_json::{Value, json};

/// The library tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listMemories",
            "Memories",
            "Immich's 'on this day' memories: photos from the same date in earlier years.",
            &["memory.read"],
            |call| Box::pin(list_memories(call)),
        )
        .input(schema(json!({ "date": { "type": "string", "description": "ISO date; today by default." } }), &[]))
        .output(output(json!({ "memories": { "type": "array", "items": any_object() } }), &["memories"])),
        Tool::reads(
            "getLibraryStatistics",
            "Library statistics",
            "How many photos, videos and albums the library has.",
            &["asset.statistics", "album.statistics"],
            |call| Box::pin(get_statistics(call)),
        )
        .input(schema(json!({}), &[]))
        .output(output(
                json!({ "images": { "type": "integer" }, "videos": { "type": "integer" }, "total": { "type": "integer" },
                    "albums": any_object() }),
                &["images", "videos", "total"],
            )),
        Tool::reads(
            "getSuggestions",
            "Known values",
            "The values that exist in the library for a field — countries, states, cities, camera makes, models or \
                lenses — to spell filters of queryPhotos exactly.",
            &["asset.read"],
            |call| Box::pin(get_suggestions(call)),
        )
        .input(schema(
                json!({ "field": { "type": "string", "enum": ["country", "state", "city", "camera-make", "camera-model", "camera-lens-model"] },
                "country": { "type": "string" }, "make": { "type": "string" } }),
                &["field"],
            ))
        .output(output(json!({ "values": { "type": "array", "items": { "type": "string" } } }), &["values"])),
    ]
}

async fn list_memories(call: &Call<'_>) -> Outcome {
    let mut query = Vec::new();
    // Immich refuses anything but a date here ("yesterday" is a 400 from Immich v3.1.0).
    if let Some(date) = call.date_arg("date")? {
        query.push(("for", date.to_string()));
    }
    let memories: Vec<Value> = call.client().get(call.key, &ApiPath::fixed("/api/memories"), &query).await?;
    let compacted: Vec<Value> = memories
        .iter()
        .map(|m| {
            let assets: Vec<Photo> = m["assets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| <Asset as serde::Deserialize>::deserialize(a).ok())
                .map(|a| call.photo(a))
                .collect();
            json!({ "id": m["id"], "type": m["type"], "year": m["data"]["year"], "photoCount": assets.len(), "photos": assets })
        })
        .collect();
    let text = if compacted.is_empty() {
        "No memories for that day.".to_string()
    } else {
        compacted.iter().map(|m| format!("{}: {} photos", m["year"], m["photoCount"])).collect::<Vec<_>>().join("\n")
    };
    Ok(result(json!({ "memories": compacted }), text, Vec::new()))
}

async fn get_statistics(call: &Call<'_>) -> Outcome {
    let assets: Value = call.client().get(call.key, &ApiPath::fixed("/api/assets/statistics"), &[]).await?;
    let albums: Value = call.client().get(call.key, &ApiPath::fixed("/api/albums/statistics"), &[]).await?;
    let text = format!(
        "{} photos, {} videos ({} in all); {} albums",
        assets["images"], assets["videos"], assets["total"], albums["owned"]
    );
    Ok(result(
        json!({ "images": assets["images"], "videos": assets["videos"], "total": assets["total"], "albums": albums }),
        text,
        Vec::new(),
    ))
}

async fn get_suggestions(call: &Call<'_>) -> Outcome {
    let mut query = vec![("type", call.str_arg("field").unwrap_or("city").to_string())];
    for arg in ["country", "make"] {
        if let Some(v) = call.str_arg(arg) {
            query.push((arg, v.to_string()));
        }
    }
    let values: Vec<String> = call.client().get(call.key, &ApiPath::fixed("/api/search/suggestions"), &query).await?;
    let text = if values.is_empty() { "No values.".to_string() } else { values.join(", ") };
    Ok(result(json!({ "values": values }), text, Vec::new()))
}
