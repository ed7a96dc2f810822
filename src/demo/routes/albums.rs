//! Albums: list, read, create, and photos in and out.

#![allow(clippy::result_large_err)]

use super::prelude::*;

pub(super) fn album_json(lib: &Library, state: &Mutations, index: usize) -> Value {
    let album = &state.albums[index];
    let members = (0..lib.len).filter(|i| lib.in_album(album, index, *i));
    let (mut count, mut first, mut last) = (0u64, None, None);
    for i in members {
        count += 1;
        first.get_or_insert(i);
        last = Some(i);
    }
    let mut v = json!({
        "albumName": album.name, "description": album.description,
        "albumThumbnailAssetId": first.map(|i| id(Kind::Asset, i)),
        "createdAt": album.created_at, "updatedAt": album.created_at,
        "id": id(Kind::Album, index as u64),
        "albumUsers": [{ "user": owner_json(), "role": "owner" }],
        "shared": false, "hasSharedLink": false, "assetCount": count,
        "isActivityEnabled": true, "order": "desc",
    });
    if let (Some(newest), Some(oldest)) = (first, last) {
        v["startDate"] = json!(iso(lib.base_time(oldest)));
        v["endDate"] = json!(iso(lib.base_time(newest)));
    }
    v
}

pub(super) fn list_albums(lib: &Library) -> Response<Body> {
    let state = lib.state.lock();
    let albums: Vec<Value> = (0..state.albums.len()).map(|i| album_json(lib, &state, i)).collect();
    json_response(200, &Value::Array(albums))
}

pub(super) fn find_album(state: &Mutations, text: &str) -> Result<usize, Response<Body>> {
    if !library::is_uuid(text) {
        return Err(validation("id", "Invalid UUID"));
    }
    index_of(Kind::Album, text)
        .map(|i| i as usize)
        .filter(|i| *i < state.albums.len())
        .ok_or_else(|| not_found_access("album.read"))
}

pub(super) fn get_album(lib: &Library, text: &str) -> Response<Body> {
    let state = lib.state.lock();
    match find_album(&state, text) {
        Ok(i) => json_response(200, &album_json(lib, &state, i)),
        Err(r) => r,
    }
}

pub(super) fn create_album(lib: &Library, body: &Value) -> Response<Body> {
    let Some(name) = body.get("albumName").and_then(Value::as_str) else {
        return validation("albumName", "Invalid input: expected string");
    };
    let description = body.get("description").and_then(Value::as_str).unwrap_or("").to_string();
    let assets = if body.get("assetIds").is_some() {
        match asset_ids(body, "assetIds", lib, "asset.share") {
            Ok(ids) => ids,
            Err(r) => return r,
        }
    } else {
        Vec::new()
    };
    let mut state = lib.state.lock();
    state.albums.push(library::AlbumState {
        name: name.to_string(),
        description,
        seeded: false,
        added: assets.into_iter().collect(),
        removed: Default::default(),
        created_at: iso(now()),
    });
    let index = state.albums.len() - 1;
    json_response(201, &album_json(lib, &state, index))
}

pub(super) fn album_assets(lib: &Library, text: &str, body: &Value, add: bool) -> Response<Body> {
    let Some(list) = body.get("ids").and_then(Value::as_array) else {
        return validation("ids", "Invalid input: expected array");
    };
    let mut state = lib.state.lock();
    let index = match find_album(&state, text) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut results = Vec::new();
    for item in list {
        let Some(s) = item.as_str().filter(|s| library::is_uuid(s)) else {
            return validation("ids", "Invalid UUID");
        };
        let Some(asset) = index_of(Kind::Asset, s).filter(|i| *i < lib.len) else {
            results.push(json!({ "id": s, "success": false, "error": "not_found" }));
            continue;
        };
        let member = lib.in_album(&state.albums[index], index, asset);
        let album = &mut state.albums[index];
        let outcome = match (add, member) {
            (true, true) => Some("duplicate"),
            (false, false) => Some("not_found"),
            (true, false) => {
                album.removed.remove(&asset);
                album.added.insert(asset);
                None
            }
            (false, true) => {
                album.added.remove(&asset);
                album.removed.insert(asset);
                None
            }
        };
        results.push(match outcome {
            Some(error) => json!({ "id": s, "success": false, "error": error }),
            None => json!({ "id": s, "success": true }),
        });
    }
    json_response(200, &Value::Array(results))
}

/// `GET /api/albums/statistics`.
pub(super) fn statistics(lib: &Library) -> Response<Body> {
    let n = lib.state.lock().albums.len();
    json_response(200, &json!({ "owned": n, "shared": 0, "notShared": n }))
}
