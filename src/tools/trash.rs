//! Deleting photos and the trash: list what is in it, move photos there, bring them back, empty
//! it. Immich's trash keeps a deleted photo until it is emptied (or for its configured days), so
//! `deletePhotos` only ever moves photos there — nothing here deletes a photo for good except
//! `emptyTrash`, which says how many it will delete and needs `confirm: true`.

use super::call::{Call, Outcome, bad_argument, result};
use super::cursor::Cursor;
use super::photo::Photo;
use super::photos::photo_search_page;
use super::registry::{Tool, cursor, id_list, limit, output, photo_page_schema, photo_schema, schema};
use crate::immich::client::{Asset, ImmichError};
use crate::immich::path::{ApiPath, Uuid};
use futures::StreamExt;
use serde_json::{Value, json};

/// Since the epoch: Immich's search takes a `trashedAfter` as "trashed at all".
const EVER: &str = "1970-01-01T00:00:00.000Z";

/// Photos a dry run of `deletePhotos` reads at once.
const DRY_RUN_READS: usize = 8;

/// The trash tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listTrash",
            "List the trash",
            "Photos in the trash, most recently taken first: deleted with deletePhotos or in Immich, kept until the \
                trash is emptied. restorePhotos brings them back.",
            &["asset.read"],
            |call| Box::pin(list_trash(call)),
        )
        .input(schema(json!({ "limit": limit(), "cursor": cursor() }), &[]))
        .output(photo_page_schema(json!({}))),
        Tool::reads(
            "deletePhotos",
            "Move photos to the trash",
            "Move photos to Immich's trash (they stay there until the trash is emptied, and restorePhotos brings \
                them back). dryRun is true unless set to false: a dry run reads each photo and says what would \
                happen, and changes nothing.",
            &["asset.delete"],
            |call| Box::pin(delete_photos(call)),
        )
        .input(schema(
            json!({
                "ids": id_list("Photos to move to the trash."),
                "dryRun": { "type": "boolean", "description": "Only say what would happen (default true)." }
            }),
            &["ids"],
        ))
        .output(output(
            json!({
                "trashed": { "type": "integer", "description": "Photos moved to the trash (0 on a dry run)." },
                "dryRun": { "type": "boolean" },
                "photos": { "type": "array", "items": photo_schema(), "description": "On a dry run: the photos found." },
                "alreadyTrashed": { "type": "array", "items": { "type": "string" } },
                "notFound": { "type": "array", "items": { "type": "string" }, "description": "On a dry run: ids that are not photos this key can delete." }
            }),
            &["trashed", "dryRun"],
        ))
        .writes(true)
        .destructive(),
        Tool::reads(
            "restorePhotos",
            "Restore photos from the trash",
            "Bring photos back from the trash into the library: the ids given, or every photo in the trash with \
                all: true.",
            &["asset.delete"],
            |call| Box::pin(restore_photos(call)),
        )
        .input(schema(
            json!({
                "ids": id_list("Photos to restore."),
                "all": { "type": "boolean", "description": "Restore everything in the trash (instead of ids)." }
            }),
            &[],
        ))
        .output(output(json!({ "restored": { "type": "integer" } }), &["restored"]))
        .writes(true),
        Tool::reads(
            "emptyTrash",
            "Empty the trash",
            "Delete every photo in the trash for good: they cannot be restored afterwards. Without confirm: true \
                nothing is deleted and the answer says how many photos would be.",
            &["asset.delete"],
            |call| Box::pin(empty_trash(call)),
        )
        .input(schema(
            json!({ "confirm": { "type": "boolean", "description": "Must be true: the photos are deleted for good." } }),
            &[],
        ))
        .output(output(json!({ "deleted": { "type": "integer" } }), &["deleted"]))
        .writes(true)
        .destructive(),
    ]
}

async fn list_trash(call: &Call<'_>) -> Outcome {
    let (filter, page, size, skip) = match call.str_arg("cursor") {
        Some(cursor) => {
            let c = Cursor::decode_arg(cursor)?;
            if c.filter.get("trashedAfter").is_none() {
                return Err(bad_argument("cursor is not one listTrash returned; start without it"));
            }
            (c.filter, c.page, c.size, c.skip)
        }
        None => (json!({ "withExif": true, "withPeople": true, "trashedAfter": EVER }), 1, call.limit() as u64, 0),
    };
    let mut outcome = photo_search_page(call, false, &filter, page, size, skip).await?;
    if outcome["structuredContent"]["count"] == 0 && page == 1 {
        outcome["content"][0]["text"] = json!("The trash is empty.");
    }
    Ok(outcome)
}

async fn delete_photos(call: &Call<'_>) -> Outcome {
    let ids = call.uuids("ids")?;
    if ids.is_empty() {
        return Err(bad_argument("give at least one id in `ids`"));
    }
    if call.args["dryRun"].as_bool().unwrap_or(true) {
        return dry_run_delete(call, &ids).await;
    }
    let body = json!({ "ids": ids, "force": false });
    call.client().write_empty(call.key, reqwest::Method::DELETE, &ApiPath::fixed("/api/assets"), &body).await?;
    Ok(result(
        json!({ "trashed": ids.len(), "dryRun": false }),
        format!(
            "Moved {} photos to the trash. restorePhotos brings them back; emptyTrash deletes them for good.",
            ids.len()
        ),
        Vec::new(),
    ))
}

/// Reads each photo (a few at a time) and says what deleting them would do; changes nothing.
async fn dry_run_delete(call: &Call<'_>, ids: &[Uuid]) -> Outcome {
    // A key that may not delete is told so now, as the real call would be.
    call.may("asset.delete").await?;
    let reads = futures::stream::iter(ids.iter().cloned().map(|id| read_asset(call, id)))
        .buffered(DRY_RUN_READS)
        .collect::<Vec<_>>()
        .await;
    let (mut photos, mut already, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for (id, asset) in reads {
        match asset {
            Ok(asset) if asset.is_trashed => already.push(asset.id.clone()),
            Ok(asset) => photos.push(call.photo(asset)),
            // Immich answers 400 "Not found or no asset.read access" for both.
            Err(ImmichError::NotFound(_)) => missing.push(id.to_string()),
            Err(other) => return Err(other.into()),
        }
    }
    let mut text = vec![format!(
        "Dry run: would move {} photos to the trash (nothing changed; call again with dryRun: false to do it).",
        photos.len()
    )];
    text.extend(photos.iter().map(Photo::render));
    if !already.is_empty() {
        text.push(format!("Already in the trash: {}", already.join(", ")));
    }
    if !missing.is_empty() {
        text.push(format!(
            "Not found (or not this key's to delete) — the real call would fail for all: {}",
            missing.join(", ")
        ));
    }
    Ok(result(
        json!({ "trashed": 0, "dryRun": true, "photos": photos, "alreadyTrashed": already, "notFound": missing }),
        text.join("\n"),
        Vec::new(),
    ))
}

/// One photo, by id.
async fn read_asset(call: &Call<'_>, id: Uuid) -> (Uuid, Result<Asset, ImmichError>) {
    let asset = call.client().get(call.key, &ApiPath::fixed("/api/assets").id(&id), &[]).await;
    (id, asset)
}

async fn restore_photos(call: &Call<'_>) -> Outcome {
    let ids = call.uuids("ids")?;
    let all = call.args["all"].as_bool() == Some(true);
    let (path, body) = match (ids.is_empty(), all) {
        (true, true) => (ApiPath::fixed("/api/trash/restore"), json!({})),
        (false, false) => (ApiPath::fixed("/api/trash/restore/assets"), json!({ "ids": ids })),
        _ => return Err(bad_argument("give either `ids` or `all: true`")),
    };
    let answer: Value = call.client().write(call.key, reqwest::Method::POST, &path, &body).await?;
    let count = answer["count"].as_u64().unwrap_or(0);
    Ok(result(json!({ "restored": count }), format!("Restored {count} photos from the trash."), Vec::new()))
}

async fn empty_trash(call: &Call<'_>) -> Outcome {
    if call.args["confirm"].as_bool() != Some(true) {
        // How many would go, when the key may count them; the refusal stands either way.
        let held: Option<Value> = call
            .client()
            .post_read(call.key, &ApiPath::fixed("/api/search/statistics"), &json!({ "trashedAfter": EVER }))
            .await
            .ok();
        let held = held.and_then(|s| s["total"].as_u64());
        let what = held.map_or("every photo in the trash".to_string(), |n| format!("the {n} photos in the trash"));
        return Err(bad_argument(format!(
            "emptyTrash deletes {what} for good; nothing was deleted. Call it again with confirm: true to go ahead"
        )));
    }
    let answer: Value =
        call.client().write(call.key, reqwest::Method::POST, &ApiPath::fixed("/api/trash/empty"), &json!({})).await?;
    let count = answer["count"].as_u64().unwrap_or(0);
    Ok(result(json!({ "deleted": count }), format!("Emptied the trash: {count} photos deleted for good."), Vec::new()))
}
