//! Duplicates, as Immich v3.1.0's duplicate service answers: the groups its duplicate detection
//! found (here: a burst shot twice every 50 photos), Immich's suggestion of which copy to keep
//! (the larger file), and resolving a group — every asset named kept or trashed, or the group
//! fails on its own with a reason, the others going on.

use super::prelude::*;
use library::{DUPLICATE_AT, DUPLICATE_EVERY};

/// The assets of group `g` still in it: present (not trashed) and unresolved; a group needs two.
fn members(lib: &Library, state: &library::Mutations, g: u64) -> Vec<Asset> {
    let first = g * DUPLICATE_EVERY + DUPLICATE_AT;
    let found: Vec<Asset> = [first, first + 1]
        .into_iter()
        .filter_map(|i| lib.asset(i, &state.assets))
        .filter(|a| a.present() && a.duplicate)
        .collect();
    if found.len() >= 2 { found } else { Vec::new() }
}

/// Immich's suggestion: keep the largest file.
fn suggested(assets: &[Asset]) -> Vec<String> {
    assets.iter().max_by_key(|a| (a.file_size, std::cmp::Reverse(a.index))).map(|a| a.id.clone()).into_iter().collect()
}

/// `GET /api/duplicates`: every group with two or more assets, oldest group first.
pub(super) fn list(lib: &Library) -> Response<Body> {
    let state = lib.state.lock();
    let groups: Vec<Value> = (0..lib.len.div_ceil(DUPLICATE_EVERY))
        .filter_map(|g| {
            let assets = members(lib, &state, g);
            (!assets.is_empty()).then(|| {
                json!({
                    "duplicateId": library::id(Kind::Duplicate, g),
                    "assets": assets.iter().map(|a| a.to_json(true, false, None)).collect::<Vec<_>>(),
                    "suggestedKeepAssetIds": suggested(&assets),
                })
            })
        })
        .collect();
    json_response(200, &Value::Array(groups))
}

/// `POST /api/duplicates/resolve` (`DuplicateResolveDto`): per group, `BulkIdResponseDto`.
pub(super) fn resolve(lib: &Library, body: &Value) -> Response<Body> {
    let Some(groups) = body.get("groups").and_then(Value::as_array).filter(|g| !g.is_empty()) else {
        return validation("groups", "Too small: expected array to have >=1 items");
    };
    let mut state = lib.state.lock();
    // Immich checks access to every group first: one that is not the caller's fails the request.
    let mut wanted = Vec::new();
    for group in groups {
        let ids = |key: &str| -> Vec<String> {
            group[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
        };
        let Some(text) = group["duplicateId"].as_str().filter(|s| library::is_uuid(s)) else {
            return validation("groups.duplicateId", "Invalid UUID");
        };
        match index_of(Kind::Duplicate, text).filter(|g| *g < lib.len.div_ceil(DUPLICATE_EVERY)) {
            Some(g) => wanted.push((text.to_string(), g, ids("keepAssetIds"), ids("trashAssetIds"))),
            None => return super::not_found_access("duplicate.delete"),
        }
    }
    let at = now();
    let results: Vec<Value> = wanted
        .into_iter()
        .map(|(id, g, keep, trash)| {
            let assets = members(lib, &state, g);
            if assets.is_empty() {
                return json!({ "id": id, "success": false, "error": "not_found" });
            }
            let failure =
                |message: &str| json!({ "id": id, "success": false, "error": "validation", "errorMessage": message });
            for a in &assets {
                match (keep.contains(&a.id), trash.contains(&a.id)) {
                    (true, true) => return failure("An asset cannot be in both keepAssetIds and trashAssetIds"),
                    (false, false) => return failure("Every asset must be in either keepAssetIds or trashAssetIds"),
                    _ => {}
                }
            }
            for a in &assets {
                let patch = state.assets.entry(a.index).or_default();
                patch.resolved = true;
                if trash.contains(&a.id) {
                    patch.trashed = Some(at);
                }
            }
            json!({ "id": id, "success": true })
        })
        .collect();
    lib.pages.clear();
    json_response(200, &Value::Array(results))
}
