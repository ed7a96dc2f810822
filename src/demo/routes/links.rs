//! Shared links, as Immich v3.1.0's shared-link service answers: a link to an album or to chosen
//! photos, with an optional expiry, password and description, listed, made and removed.

use super::prelude::*;
use library::SharedLinkState;

/// `SharedLinkResponseDto` of link `index`.
fn link_json(lib: &Library, state: &library::Mutations, index: usize) -> Value {
    let link = &state.links[index];
    let assets: Vec<Value> = link
        .assets
        .iter()
        .filter_map(|i| lib.asset(*i, &state.assets))
        .filter(Asset::present)
        .map(|a| a.to_json(false, false, None))
        .collect();
    let mut value = json!({
        "id": library::id(Kind::SharedLink, index as u64),
        "key": link.key,
        "type": if link.album.is_some() { "ALBUM" } else { "INDIVIDUAL" },
        "userId": library::OWNER_ID,
        "createdAt": link.created_at,
        "description": link.description,
        "expiresAt": link.expires_at,
        "password": link.password,
        "slug": null,
        "allowDownload": link.allow_download,
        "allowUpload": false,
        "showMetadata": link.show_metadata,
        "assets": assets,
    });
    if let Some(album) = link.album {
        value["album"] = super::albums::album_json(lib, state, album);
    }
    value
}

/// `GET /api/shared-links` (optionally `?albumId=`): the caller's links, newest first.
pub(super) fn list(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let state = lib.state.lock();
    let album = match query.get("albumId") {
        None => None,
        Some(text) => match find_album(&state, text) {
            Ok(album) => Some(album),
            Err(r) => return r,
        },
    };
    let links: Vec<Value> = (0..state.links.len())
        .rev()
        .filter(|i| !state.links[*i].deleted && album.is_none_or(|a| state.links[*i].album == Some(a)))
        .map(|i| link_json(lib, &state, i))
        .collect();
    json_response(200, &Value::Array(links))
}

/// `POST /api/shared-links` (`SharedLinkCreateDto`): 201 with the new link.
pub(super) fn create(lib: &Library, body: &Value) -> Response<Body> {
    let mut state = lib.state.lock();
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    let flag = |key: &str, default: bool| body.get(key).and_then(Value::as_bool).unwrap_or(default);
    let (album, assets) = match body.get("type").and_then(Value::as_str) {
        Some("ALBUM") => match text("albumId") {
            None => return super::message(400, "Invalid albumId"),
            Some(id) => match find_album(&state, &id) {
                Ok(album) => (Some(album), Vec::new()),
                Err(_) => return super::not_found_access("album.share"),
            },
        },
        Some("INDIVIDUAL") => {
            if body.get("assetIds").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                return super::message(400, "Invalid assetIds");
            }
            drop(state);
            let ids = match asset_ids(body, "assetIds", lib, "asset.share") {
                Ok(ids) => ids,
                Err(r) => return r,
            };
            state = lib.state.lock();
            (None, ids)
        }
        _ => return validation("type", "Invalid option: expected one of \"ALBUM\"|\"INDIVIDUAL\""),
    };
    let expires_at = match body.get("expiresAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if library::parse_iso(s).is_some() => Some(s.clone()),
        Some(_) => return validation("expiresAt", "Invalid ISO datetime"),
    };
    let index = state.links.len();
    state.links.push(SharedLinkState {
        album,
        assets,
        description: text("description"),
        expires_at,
        password: text("password").filter(|p| !p.is_empty()),
        allow_download: flag("allowDownload", true),
        show_metadata: flag("showMetadata", true),
        key: library::link_key(index as u64),
        created_at: iso(now()),
        deleted: false,
    });
    json_response(201, &link_json(lib, &state, index))
}

/// `DELETE /api/shared-links/{id}`: 204, or Immich's 400 for a link that is not the caller's.
pub(super) fn remove(lib: &Library, text: &str) -> Response<Body> {
    if !library::is_uuid(text) {
        return validation("id", "Invalid UUID");
    }
    let mut state = lib.state.lock();
    let found = library::index_of(Kind::SharedLink, text).map(|i| i as usize).filter(|i| *i < state.links.len());
    match found {
        Some(i) if !state.links[i].deleted => {
            state.links[i].deleted = true;
            no_content()
        }
        _ => super::not_found_access("sharedLink.delete"),
    }
}
