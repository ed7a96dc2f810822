//! People recognised in the library, and tags (seeded and made through the API).

#![allow(clippy::result_large_err)]

use super::prelude::*;

pub(super) fn list_people(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let size: usize = query.get("size").and_then(|s| s.parse().ok()).unwrap_or(500).clamp(1, 1000);
    let page: usize = query.get("page").and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let known = lib.people();
    let people: Vec<Value> = (0..known).skip((page - 1) * size).take(size).map(person_json).collect();
    json_response(200, &json!({ "people": people, "total": known, "hidden": 0, "hasNextPage": page * size < known }))
}

pub(super) fn find_person(lib: &Library, text: &str) -> Result<usize, Response<Body>> {
    if !library::is_uuid(text) {
        return Err(validation("id", "Invalid UUID"));
    }
    index_of(Kind::Person, text)
        .map(|i| i as usize)
        .filter(|i| *i < lib.people())
        .ok_or_else(|| not_found_access("person.read"))
}

pub(super) fn get_person(lib: &Library, text: &str) -> Response<Body> {
    match find_person(lib, text) {
        Ok(p) => json_response(200, &person_json(p)),
        Err(r) => r,
    }
}

pub(super) fn person_statistics(lib: &Library, text: &str) -> Response<Body> {
    let p = match find_person(lib, text) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let count = (0..lib.len).filter(|i| (hash(Kind::Asset, *i) >> (p * 3 + 5)).is_multiple_of(7)).count();
    json_response(200, &json!({ "assets": count }))
}

pub(super) fn tag_json(index: usize, tag: &library::TagState) -> Value {
    let mut v = json!({
        "id": id(Kind::Tag, index as u64), "name": tag.name, "value": tag.value,
        "createdAt": "2026-11-01T09:00:00.000Z", "updatedAt": "2026-11-01T09:00:00.000Z",
    });
    if let Some(parent) = tag.parent {
        v["parentId"] = json!(id(Kind::Tag, parent));
    }
    v
}

pub(super) fn list_tags(lib: &Library) -> Response<Body> {
    let state = lib.state.lock();
    json_response(200, &Value::Array(state.tags.iter().enumerate().map(|(i, t)| tag_json(i, t)).collect()))
}

pub(super) fn upsert_tags(lib: &Library, body: &Value) -> Response<Body> {
    let Some(list) = body.get("tags").and_then(Value::as_array) else {
        return validation("tags", "Invalid input: expected array");
    };
    let mut state = lib.state.lock();
    let mut out = Vec::new();
    for item in list {
        let Some(path) = item.as_str().map(|s| s.trim_matches('/')).filter(|s| !s.is_empty()) else {
            return validation("tags", "Invalid input: expected non-empty string");
        };
        let mut parent: Option<u64> = None;
        let mut value = String::new();
        for part in path.split('/') {
            if !value.is_empty() {
                value.push('/');
            }
            value.push_str(part);
            let existing = state.tags.iter().position(|t| t.value == value);
            let index = existing.unwrap_or_else(|| {
                state.tags.push(library::TagState {
                    name: part.to_string(),
                    value: value.clone(),
                    parent,
                    seeded: false,
                    added: Default::default(),
                });
                state.tags.len() - 1
            });
            parent = Some(index as u64);
        }
        let leaf = parent.expect("non-empty path") as usize;
        out.push(tag_json(leaf, &state.tags[leaf]));
    }
    json_response(200, &Value::Array(out))
}

pub(super) fn tag_assets(lib: &Library, body: &Value) -> Response<Body> {
    let assets = match asset_ids(body, "assetIds", lib, "asset.read") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let Some(tag_list) = body.get("tagIds").and_then(Value::as_array) else {
        return validation("tagIds", "Invalid input: expected array");
    };
    let mut state = lib.state.lock();
    let mut tags = Vec::new();
    for t in tag_list {
        let Some(s) = t.as_str().filter(|s| library::is_uuid(s)) else {
            return validation("tagIds", "Invalid UUID");
        };
        match index_of(Kind::Tag, s).map(|i| i as usize).filter(|i| *i < state.tags.len()) {
            Some(i) => tags.push(i),
            None => return not_found_access("tag.asset"),
        }
    }
    let mut count = 0;
    for &t in &tags {
        for &a in &assets {
            if !lib.has_tag(&state.tags[t], t, a) {
                state.tags[t].added.insert(a);
                count += 1;
            }
        }
    }
    json_response(200, &json!({ "count": count }))
}
