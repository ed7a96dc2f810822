//! Finding what takes room: the largest photos and videos, biggest first.

use super::call::{Call, Outcome, bad_argument, result};
use super::photo::Photo;
use super::registry::{Tool, output, photo_schema, schema};
use crate::immich::client::Asset;
use crate::immich::path::ApiPath;
use serde_json::json;

/// The clean-up tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "findLargePhotos",
            "Find the largest photos",
            "The photos and videos taking the most room, biggest first, with their size in bytes: where to start \
                freeing space (deletePhotos moves them to the trash).",
            &["asset.read"],
            |call| Box::pin(find_large_photos(call)),
        )
        .input(schema(
            json!({
                "minSizeMB": { "type": "number", "minimum": 0, "description": "Only files at least this large, in MB (10^6 bytes)." },
                "type": { "type": "string", "enum": ["IMAGE", "VIDEO"] },
                "takenAfter": { "type": "string", "description": "ISO 8601 date or date-time." },
                "takenBefore": { "type": "string", "description": "ISO 8601 date or date-time." },
                "limit": { "type": "integer", "minimum": 1, "maximum": 1000, "description": "How many (default 50)." }
            }),
            &[],
        ))
        .output(output(
            json!({
                "photos": { "type": "array", "items": { "type": "object", "properties": {
                    "bytes": { "type": ["integer", "null"] }, "photo": photo_schema() }, "required": ["photo"] } },
                "count": { "type": "integer" },
                "totalBytes": { "type": "integer", "description": "Of the photos listed." }
            }),
            &["photos", "count", "totalBytes"],
        )),
    ]
}

async fn find_large_photos(call: &Call<'_>) -> Outcome {
    let mut query = vec![("size", call.limit().to_string()), ("withExif", "true".to_string())];
    if let Some(mb) = call.args["minSizeMB"].as_f64() {
        if !mb.is_finite() || mb < 0.0 {
            return Err(bad_argument("`minSizeMB` must be a number of megabytes, 0 or more"));
        }
        query.push(("minFileSize", ((mb * 1e6).round() as u64).to_string()));
    }
    if let Some(kind) = call.str_arg("type") {
        query.push(("type", kind.to_string()));
    }
    for (arg, end) in [("takenAfter", false), ("takenBefore", true)] {
        if let Some(bound) = call.date_bound(arg, end)? {
            query.push((arg, bound));
        }
    }
    let assets: Vec<Asset> =
        call.client().post_query_read(call.key, &ApiPath::fixed("/api/search/large-assets"), &query).await?;
    let photos: Vec<(Option<u64>, Photo)> = assets
        .into_iter()
        .map(|asset| (asset.exif_info.as_ref().and_then(|e| e.file_size_in_byte), call.photo(asset)))
        .collect();
    let total: u64 = photos.iter().filter_map(|(bytes, _)| *bytes).sum();
    let mut text: Vec<String> =
        photos.iter().map(|(bytes, photo)| format!("{} · {}", megabytes(*bytes), photo.render())).collect();
    if text.is_empty() {
        text.push("No photos that large.".into());
    } else {
        text.insert(0, format!("{} photos, {} together:", photos.len(), megabytes(Some(total))));
    }
    let listed: Vec<_> = photos.iter().map(|(bytes, photo)| json!({ "bytes": bytes, "photo": photo })).collect();
    Ok(result(json!({ "photos": listed, "count": photos.len(), "totalBytes": total }), text.join("\n"), Vec::new()))
}

/// `12.3 MB`, or `size unknown`.
pub(super) fn megabytes(bytes: Option<u64>) -> String {
    bytes.map_or("size unknown".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}
