//! Albums: list, read (paged or streamed), create, add and remove photos.

use super::call::{Call, Outcome, photo_page, prepend_text, result};
use super::cursor::{Cursor, next_cursor};
use super::registry::{Streams, Threshold, Tool, any_object, cursor, id, id_list, output, photo_page_schema, schema};
use crate::config::Toolset;
use crate::immich::client::Album;
use crate::immich::path::ApiPath;
use serde_json::{Map, Value, json};

/// The album tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listAlbums",
            "List albums",
            "All albums with their photo counts and date ranges.",
            &["album.read"],
            |call| Box::pin(list_albums(call)),
        )
        .input(schema(
                json!({ "shared": { "type": "boolean", "description": "Only shared (true) or only not shared (false)." } }),
                &[],
            ))
        .output(output(json!({ "albums": { "type": "array", "items": any_object() } }), &["albums"])),
        Tool::reads(
            "getAlbum",
            "Album and its photos",
            "One album's details and a page of its photos (newest first), with a nextCursor for more.",
            &["album.read", "asset.read"],
            |call| Box::pin(get_album(call)),
        )
        .input(schema(
                json!({ "id": id(), "cursor": cursor(),
                    "limit": { "type": "integer", "minimum": 1, "maximum": 10000000,
                        "description": "Photos to return (default 50). Above [streaming].auto_stream_threshold (500) a big album's photos stream as notifications/stream/data events when the reply is SSE; otherwise pages of 500 come with a cursor." } }),
                &["id"],
            ))
        .output(photo_page_schema(json!({ "album": any_object() })))
        .streams(Streams::Above("limit", Threshold::Page)),
        Tool::reads(
            "createAlbum",
            "Create an album",
            "Create an album, optionally with photos in it.",
            &["album.create"],
            |call| Box::pin(create_album(call)),
        )
        .input(schema(
                json!({ "name": { "type": "string", "minLength": 1 }, "description": { "type": "string" },
                "photoIds": id_list("Photos to put in it.") }),
                &["name"],
            ))
        .output(output(json!({ "album": any_object() }), &["album"]))
        .writes(false)
        .toolset(Toolset::Organize),
        Tool::reads(
            "addToAlbum",
            "Add photos to an album",
            "Add photos to an album. Reports, per photo, whether it was added or already there.",
            &["albumAsset.create"],
            |call| Box::pin(album_assets(call, true)),
        )
        .input(schema(json!({ "albumId": id(), "photoIds": id_list("Photos to add.") }), &["albumId", "photoIds"]))
        .output(output(
                json!({ "added": { "type": "integer" }, "results": { "type": "array", "items": any_object() } }),
                &["added", "results"],
            ))
        .writes(false)
        .toolset(Toolset::Organize),
        Tool::reads(
            "removeFromAlbum",
            "Remove photos from an album",
            "Take photos out of an album (the photos themselves stay in the library).",
            &["albumAsset.delete"],
            |call| Box::pin(album_assets(call, false)),
        )
        .input(schema(
                json!({ "albumId": id(), "photoIds": id_list("Photos to remove.") }),
                &["albumId", "photoIds"],
            ))
        .output(output(
                json!({ "removed": { "type": "integer" }, "results": { "type": "array", "items": any_object() } }),
                &["removed", "results"],
            ))
        .writes(false)
        .toolset(Toolset::Organize)
        .destructive(),
    ]
}

/// An album as tools return it.
pub(crate) fn album_json(album: &Album) -> Value {
    json!({ "id": album.id, "name": album.album_name, "description": album.description, "photoCount": album.asset_count,
            "startDate": album.start_date, "endDate": album.end_date, "shared": album.shared })
}

/// One line per album.
fn render_album(album: &Album) -> String {
    let dates = match (&album.start_date, &album.end_date) {
        (Some(s), Some(e)) => format!(", {} to {}", &s[..10.min(s.len())], &e[..10.min(e.len())]),
        _ => String::new(),
    };
    format!("{} ({} photos{dates}) id {}", album.album_name, album.asset_count, album.id)
}

async fn list_albums(call: &Call<'_>) -> Outcome {
    let mut query = Vec::new();
    if let Some(shared) = call.args["shared"].as_bool() {
        // v3 calls it isShared; the v2 line (v2.7.5's spec) shared.
        let name = if call.catalog.immich_major(call.key).await >= 3 { "isShared" } else { "shared" };
        query.push((name, shared.to_string()));
    }
    let albums: Vec<Album> = call.client().get(call.key, &ApiPath::fixed("/api/albums"), &query).await?;
    let lines: Vec<String> = albums.iter().map(render_album).collect();
    let text = if lines.is_empty() { "No albums.".to_string() } else { lines.join("\n") };
    Ok(result(json!({ "albums": albums.iter().map(album_json).collect::<Vec<_>>() }), text, Vec::new()))
}

async fn get_album(call: &Call<'_>) -> Outcome {
    let id = call.uuid("id")?;
    let (filter, page, size) = match call.str_arg("cursor") {
        Some(cursor) => {
            let cursor = Cursor::decode_arg(cursor)?;
            (cursor.filter, cursor.page, cursor.size)
        }
        None => (json!({ "albumIds": [id], "withExif": true, "withPeople": true }), 1, call.limit() as u64),
    };
    let album: Album = call.client().get(call.key, &ApiPath::fixed("/api/albums").id(&id), &[]).await?;
    // A big album asked for whole streams like a large query (its resume tokens continue it
    // through queryPhotos).
    let wanted = call.args["limit"].as_u64().unwrap_or(size);
    if wanted > call.catalog.page_cap as u64
        && call.str_arg("cursor").is_none()
        && let Some(stream) = call.admit_stream("getAlbum")
    {
        let start = Cursor { smart: false, filter, page: 1, size: 1000u64.min(wanted), skip: 0 };
        let mut value = call.stream_photos(stream, 0, wanted, start).await?;
        value["structuredContent"]["album"] = album_json(&album);
        prepend_text(&mut value, &render_album(&album));
        return Ok(value);
    }
    let _room = if wanted > call.catalog.page_cap as u64 { Some(call.room_for_page(size)?) } else { None };
    let result_page = call.client().search_page(call.key, false, &filter, page, size).await?;
    let next = next_cursor(false, &filter, result_page.next_page, size);
    let mut extra = Map::new();
    extra.insert("album".into(), album_json(&album));
    let photos = result_page.items.into_iter().map(|a| call.photo(a)).collect();
    let mut value = photo_page(photos, next, extra, "photos");
    prepend_text(&mut value, &render_album(&album));
    Ok(value)
}

async fn create_album(call: &Call<'_>) -> Outcome {
    let mut body = json!({ "albumName": call.str_arg("name").unwrap_or_default() });
    if let Some(description) = call.str_arg("description") {
        body["description"] = json!(description);
    }
    let photos = call.uuids("photoIds")?;
    if !photos.is_empty() {
        body["assetIds"] = json!(photos);
    }
    let album: Album =
        call.client().write(call.key, reqwest::Method::POST, &ApiPath::fixed("/api/albums"), &body).await?;
    Ok(result(json!({ "album": album_json(&album) }), format!("Created {}", render_album(&album)), Vec::new()))
}

async fn album_assets(call: &Call<'_>, add: bool) -> Outcome {
    let album = call.uuid("albumId")?;
    let ids = call.uuids("photoIds")?;
    let method = if add { reqwest::Method::PUT } else { reqwest::Method::DELETE };
    let path = ApiPath::fixed("/api/albums").id(&album).then("assets");
    let results: Vec<Value> = call.client().write(call.key, method, &path, &json!({ "ids": ids })).await?;
    let done = results.iter().filter(|r| r["success"] == json!(true)).count();
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["success"] != json!(true))
        .map(|r| format!("{}: {}", r["id"].as_str().unwrap_or("?"), r["error"].as_str().unwrap_or("failed")))
        .collect();
    let verb = if add { "Added" } else { "Removed" };
    let mut text = format!("{verb} {done} of {} photos.", ids.len());
    if !failed.is_empty() {
        text.push_str(&format!(" Not changed: {}", failed.join(", ")));
    }
    let key = if add { "added" } else { "removed" };
    Ok(result(json!({ key: done, "results": results }), text, Vec::new()))
}
