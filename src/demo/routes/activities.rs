//! Comments and likes on albums, as Immich v3.1.0's activity service answers: listed for an album
//! (optionally one photo, or only likes), added (a second like is the first one again, 200).

use super::prelude::*;
use library::ActivityState;

fn activity_json(index: usize, activity: &ActivityState) -> Value {
    let user = &super::users::USERS[activity.user];
    json!({
        "id": library::id(Kind::Activity, index as u64),
        "assetId": activity.asset.map(|a| library::id(Kind::Asset, a)),
        "comment": activity.comment,
        "createdAt": activity.created_at,
        "type": if activity.comment.is_some() { "comment" } else { "like" },
        "user": { "id": user.id, "name": user.name, "email": user.email, "profileImagePath": "",
                  "avatarColor": "orange", "profileChangedAt": library::CREATED_AT },
    })
}

/// `GET /api/activities?albumId=` (required; `assetId`, `type` narrow it).
pub(super) fn list(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let state = lib.state.lock();
    let Some(album) = query.get("albumId") else { return validation("albumId", "Invalid UUID") };
    let album = match find_album(&state, album) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let asset = query.get("assetId").map(|id| index_of(Kind::Asset, id));
    let likes_only = query.get("type").is_some_and(|t| t == "like");
    let found: Vec<Value> = state
        .activities
        .iter()
        .enumerate()
        .filter(|(_, a)| a.album == album && asset.is_none_or(|want| a.asset == want))
        .filter(|(_, a)| !likes_only || a.comment.is_none())
        .map(|(n, a)| activity_json(n, a))
        .collect();
    json_response(200, &Value::Array(found))
}

/// `POST /api/activities` (`ActivityCreateDto`): 201 with the activity; a like already given is
/// answered 200 with the first.
pub(super) fn create(lib: &Library, user: usize, body: &Value) -> Response<Body> {
    let mut state = lib.state.lock();
    let Some(album) = body.get("albumId").and_then(Value::as_str) else { return validation("albumId", "Invalid UUID") };
    let album = match find_album(&state, album) {
        Ok(a) => a,
        Err(_) => return super::not_found_access("activity.create"),
    };
    let asset = match body.get("assetId").and_then(Value::as_str) {
        None => None,
        Some(id) => match index_of(Kind::Asset, id).filter(|i| *i < lib.len) {
            Some(i) => Some(i),
            None => return super::not_found_access("asset.read"),
        },
    };
    let comment = match body.get("type").and_then(Value::as_str) {
        Some("like") => None,
        Some("comment") => match body.get("comment").and_then(Value::as_str).filter(|c| !c.trim().is_empty()) {
            Some(c) => Some(c.to_string()),
            None => return super::message(400, "comment is required"),
        },
        _ => return validation("type", "Invalid option: expected one of \"comment\"|\"like\""),
    };
    if comment.is_none()
        && let Some(n) = state
            .activities
            .iter()
            .position(|a| a.album == album && a.asset == asset && a.user == user && a.comment.is_none())
    {
        return json_response(200, &activity_json(n, &state.activities[n]));
    }
    let activity = ActivityState { album, asset, user, comment, created_at: iso(now()) };
    let value = activity_json(state.activities.len(), &activity);
    state.activities.push(activity);
    json_response(201, &value)
}
