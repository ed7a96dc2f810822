//! Deleting photos and the trash, as Immich v3.1.0's asset and trash services do it: `DELETE
//! /api/assets` moves photos to the trash (or, with `force`, deletes them), the trash is emptied
//! or restored whole or by id, and every answer counts what it touched.

use super::prelude::*;

/// `DELETE /api/assets` (`AssetBulkDeleteDto`): every id must be the caller's, or nothing
/// happens (Immich checks access for all of them first); 204.
pub(super) fn delete_assets(lib: &Library, body: &Value) -> Response<Body> {
    let ids = match asset_ids(body, "ids", lib, "asset.delete") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let force = match body.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return validation("force", "Invalid input: expected boolean"),
    };
    let mut state = lib.state.lock();
    if ids.iter().any(|i| state.assets.get(i).is_some_and(|p| p.purged)) {
        return super::not_found_access("asset.delete");
    }
    let at = now();
    for i in ids {
        let patch = state.assets.entry(i).or_default();
        patch.trashed = Some(at);
        patch.purged |= force;
    }
    lib.pages.clear();
    no_content()
}

/// `POST /api/trash/empty`: every trashed photo deleted for good; `{count}`.
pub(super) fn empty(lib: &Library) -> Response<Body> {
    each_in_trash(lib, |patch| patch.purged = true)
}

/// `POST /api/trash/restore`: every trashed photo back in the library; `{count}`.
pub(super) fn restore_all(lib: &Library) -> Response<Body> {
    each_in_trash(lib, |patch| patch.trashed = None)
}

/// Applies `act` to every photo in the trash; answers `{count}` of them.
fn each_in_trash(lib: &Library, act: impl Fn(&mut library::AssetPatch)) -> Response<Body> {
    let mut state = lib.state.lock();
    let mut count = 0;
    for patch in state.assets.values_mut().filter(|p| p.trashed.is_some() && !p.purged) {
        act(patch);
        count += 1;
    }
    lib.pages.clear();
    json_response(200, &json!({ "count": count }))
}

/// `POST /api/trash/restore/assets` (`BulkIdsDto`): these photos back; `{count}` is how many ids
/// were sent, as Immich answers, whether or not each was in the trash.
pub(super) fn restore_assets(lib: &Library, body: &Value) -> Response<Body> {
    let ids = match asset_ids(body, "ids", lib, "asset.delete") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let mut state = lib.state.lock();
    if ids.iter().any(|i| state.assets.get(i).is_some_and(|p| p.purged)) {
        return super::not_found_access("asset.delete");
    }
    for i in &ids {
        if let Some(patch) = state.assets.get_mut(i) {
            patch.trashed = None;
        }
    }
    lib.pages.clear();
    json_response(200, &json!({ "count": ids.len() }))
}
