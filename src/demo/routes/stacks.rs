//! Stacks, as Immich v3.1.0's stack service answers: photos shown as one (a burst, RAW and JPEG),
//! the first the primary; making a stack of photos whose stacks are led by one of them merges
//! those stacks into it; the primary cannot be taken out.

use super::prelude::*;

/// `StackResponseDto` of stack `index` (its members, primary first).
fn stack_json(lib: &Library, state: &library::Mutations, index: usize, members: &[u64]) -> Value {
    let assets: Vec<Value> =
        members.iter().filter_map(|i| lib.asset(*i, &state.assets)).map(|a| a.to_json(true, false, None)).collect();
    json!({ "id": library::id(Kind::Stack, index as u64), "primaryAssetId": library::id(Kind::Asset, members[0]), "assets": assets })
}

/// The stack asset `index` is in: `AssetStackResponseDto`, or null.
pub(super) fn of_asset(state: &library::Mutations, index: u64) -> Value {
    state
        .stacks
        .iter()
        .enumerate()
        .find_map(|(n, s)| s.as_ref().filter(|m| m.contains(&index)).map(|m| (n, m)))
        .map_or(Value::Null, |(n, members)| {
            json!({ "id": library::id(Kind::Stack, n as u64), "primaryAssetId": library::id(Kind::Asset, members[0]), "assetCount": members.len() })
        })
}

/// `GET /api/stacks` (optionally `?primaryAssetId=`).
pub(super) fn list(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let state = lib.state.lock();
    let primary = query.get("primaryAssetId").map(|id| index_of(Kind::Asset, id));
    let stacks: Vec<Value> = state
        .stacks
        .iter()
        .enumerate()
        .filter_map(|(n, s)| s.as_ref().map(|m| (n, m)))
        .filter(|(_, members)| primary.is_none_or(|p| p == Some(members[0])))
        .map(|(n, members)| stack_json(lib, &state, n, members))
        .collect();
    json_response(200, &Value::Array(stacks))
}

/// `POST /api/stacks` (`StackCreateDto`): 201 with the new stack.
pub(super) fn create(lib: &Library, body: &Value) -> Response<Body> {
    if body.get("assetIds").and_then(Value::as_array).is_none_or(|ids| ids.len() < 2) {
        return validation("assetIds", "Too small: expected array to have >=2 items");
    }
    let ids = match asset_ids(body, "assetIds", lib, "asset.update") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let mut state = lib.state.lock();
    let mut members: Vec<u64> = Vec::new();
    for id in &ids {
        if !members.contains(id) {
            members.push(*id);
        }
    }
    for stack in state.stacks.iter_mut() {
        let Some(old) = stack else { continue };
        if ids.contains(&old[0]) {
            // A stack led by one of the photos joins the new one.
            for member in old.iter() {
                if !members.contains(member) {
                    members.push(*member);
                }
            }
            *stack = None;
        } else {
            old.retain(|m| !ids.contains(m));
        }
    }
    let index = state.stacks.len();
    state.stacks.push(Some(members.clone()));
    json_response(201, &stack_json(lib, &state, index, &members))
}

/// `DELETE /api/stacks/{id}/assets/{assetId}`: 204, or Immich's 400 and its reason.
pub(super) fn remove_asset(lib: &Library, stack: &str, asset: &str) -> Response<Body> {
    if !library::is_uuid(stack) || !library::is_uuid(asset) {
        return validation("id", "Invalid UUID");
    }
    let mut state = lib.state.lock();
    let index = index_of(Kind::Stack, stack).map(|i| i as usize);
    let Some(members) = index.and_then(|i| state.stacks.get_mut(i)).and_then(Option::as_mut) else {
        return super::not_found_access("stack.update");
    };
    let Some(at) = index_of(Kind::Asset, asset).and_then(|a| members.iter().position(|m| *m == a)) else {
        return super::message(400, "Asset not in stack");
    };
    if at == 0 {
        return super::message(400, "Cannot remove stack's primary asset");
    }
    members.remove(at);
    no_content()
}
