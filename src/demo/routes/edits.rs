//! Non-destructive edits (crop, rotate, mirror), as Immich v3.1.0's asset service answers: read,
//! replaced whole, removed; only images, rotations by quarter turns, a crop first.

use super::prelude::*;

/// The asset `text` names, for an edit needing `permission`.
fn editable(lib: &Library, text: &str, permission: &str) -> Result<Asset, Response<Body>> {
    super::assets::find_asset(lib, text, "asset.read").map_err(|_| super::not_found_access(permission))
}

fn edits_json(asset: &Asset, edits: &[Value]) -> Value {
    json!({ "assetId": asset.id, "edits": edits })
}

/// `GET /api/assets/{id}/edits`.
pub(super) fn get(lib: &Library, text: &str) -> Response<Body> {
    let asset = match editable(lib, text, "asset.edit.get") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let state = lib.state.lock();
    json_response(200, &edits_json(&asset, state.edits.get(&asset.index).map_or(&[], Vec::as_slice)))
}

/// `PUT /api/assets/{id}/edits` (`AssetEditsCreateDto`): the asset's edits replaced by these.
pub(super) fn put(lib: &Library, text: &str, body: &Value) -> Response<Body> {
    let asset = match editable(lib, text, "asset.edit.create") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(items) = body.get("edits").and_then(Value::as_array).filter(|e| !e.is_empty()) else {
        return validation("edits", "Too small: expected array to have >=1 items");
    };
    if asset.is_video {
        return super::message(400, "Only images can be edited");
    }
    let mut edits = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let parameters = &item["parameters"];
        match item["action"].as_str() {
            Some("rotate") => {
                if !parameters["angle"].as_f64().is_some_and(|a| [0.0, 90.0, 180.0, 270.0].contains(&a)) {
                    return validation("edits", "Angle must be one of the following values: 0, 90, 180, 270");
                }
            }
            Some("mirror") => {
                if !matches!(parameters["axis"].as_str(), Some("horizontal" | "vertical")) {
                    return validation("edits", "Invalid option: expected one of \"horizontal\"|\"vertical\"");
                }
            }
            Some("crop") if n > 0 => return super::message(400, "Crop action must be the first edit action"),
            Some("crop") => {}
            _ => return validation("edits", "Invalid option: expected one of \"crop\"|\"rotate\"|\"mirror\""),
        }
        let id = library::id(Kind::Edit, asset.index * 16 + n as u64);
        edits.push(json!({ "id": id, "action": item["action"], "parameters": parameters }));
    }
    let mut state = lib.state.lock();
    state.edits.insert(asset.index, edits.clone());
    json_response(200, &edits_json(&asset, &edits))
}

/// `DELETE /api/assets/{id}/edits`: 204.
pub(super) fn remove(lib: &Library, text: &str) -> Response<Body> {
    let asset = match editable(lib, text, "asset.edit.delete") {
        Ok(a) => a,
        Err(r) => return r,
    };
    lib.state.lock().edits.remove(&asset.index);
    no_content()
}
