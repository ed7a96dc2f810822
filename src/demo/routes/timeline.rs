//! The timeline (buckets and one month's columns), the map's markers (streamed) and memories.

#![allow(clippy::result_large_err)]

use super::prelude::*;

/// Timeline filters: `albumId`, `personId`, `tagId`, `isFavorite`, `visibility`.
pub(super) fn timeline_filters(query: &BTreeMap<String, String>, state: &Mutations) -> Result<Filters, Response<Body>> {
    let mut body = json!({});
    if let Some(v) = query.get("albumId") {
        body["albumIds"] = json!([v]);
    }
    if let Some(v) = query.get("personId") {
        body["personIds"] = json!([v]);
    }
    if let Some(v) = query.get("tagId") {
        body["tagIds"] = json!([v]);
    }
    if let Some(v) = query.get("isFavorite") {
        body["isFavorite"] = json!(v == "true");
    }
    if let Some(v) = query.get("visibility") {
        body["visibility"] = json!(v);
    }
    Filters::from_json(&body, state)
}

pub(super) fn timeline_buckets(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let state = lib.state.lock();
    let filters = match timeline_filters(query, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut buckets: BTreeMap<(i64, u32), u64> = BTreeMap::new();
    for a in walk(lib, &state, &filters, false, 0) {
        let (y, m, ..) = library::civil(a.taken);
        *buckets.entry((y, m)).or_default() += 1;
    }
    let ascending = query.get("order").is_some_and(|o| o == "asc");
    let mut list: Vec<Value> =
        buckets.iter().map(|((y, m), c)| json!({ "timeBucket": format!("{y:04}-{m:02}-01"), "count": c })).collect();
    if !ascending {
        list.reverse();
    }
    json_response(200, &Value::Array(list))
}

pub(super) fn timeline_bucket(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    // Immich v3.1.0 answers a malformed bucket (`2019-13`, `2024`) with a 500, not a 400.
    let Some(start) = query.get("timeBucket").and_then(|t| library::parse_iso(t)) else {
        return super::message(500, "Internal server error");
    };
    let (y, m, ..) = library::civil(start);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let (from, to) = (library::epoch(y, m, 1), library::epoch(ny, nm, 1));
    let state = lib.state.lock();
    let filters = match timeline_filters(query, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let assets: Vec<Asset> = lib
        .index_range(from, to)
        .filter_map(|i| lib.asset(i, &state.assets))
        .filter(|a| (from..to).contains(&a.taken) && filters.matches(lib, &state, a))
        .collect();
    let column = |f: &dyn Fn(&Asset) -> Value| Value::Array(assets.iter().map(f).collect());
    let body = json!({
        "id": column(&|a| json!(a.id)),
        "ownerId": column(&|_| json!(OWNER_ID)),
        "ratio": column(&|a| json!((f64::from(a.width) / f64::from(a.height) * 1000.0).round() / 1000.0)),
        "isFavorite": column(&|a| json!(a.is_favorite)),
        "isImage": column(&|a| json!(!a.is_video)),
        "isTrashed": column(&|_| json!(false)),
        "visibility": column(&|a| json!(a.visibility)),
        "fileCreatedAt": column(&|a| json!(iso(a.taken).trim_end_matches(".000Z"))),
        "createdAt": column(&|_| json!("2026-11-01T09:00:00")),
        "localOffsetHours": column(&|_| json!(0)),
        "duration": column(&|a| if a.is_video { json!(5_000 + hash(Kind::Asset, a.index) % 55_000) } else { Value::Null }),
        "thumbhash": column(&|_| json!("INkGFZZXV2d/dnaDiBiYhVd/hArI")),
        "livePhotoVideoId": column(&|_| Value::Null),
        "projectionType": column(&|_| Value::Null),
        "status": column(&|_| json!("active")),
        "city": column(&|a| a.place.map_or(Value::Null, |p| json!(PLACES[p].0))),
        "country": column(&|a| a.place.map_or(Value::Null, |p| json!(PLACES[p].2))),
    });
    json_response(200, &body)
}

/// Every geotagged asset, streamed in slices so a million markers never sit in memory at once.
pub(super) fn map_markers(demo: Arc<DemoImmich>, user: usize, query: &BTreeMap<String, String>) -> Response<Body> {
    let favorite = query.get("isFavorite").map(|v| v == "true");
    let after = query.get("fileCreatedAfter").and_then(|t| library::parse_iso(t));
    let before = query.get("fileCreatedBefore").and_then(|t| library::parse_iso(t));
    const SLICE: u64 = 2_000;
    let stream = futures::stream::unfold((0u64, true), move |(start, first)| {
        let demo = demo.clone();
        async move {
            let lib = demo.library_of(user);
            if start > lib.len {
                return None;
            }
            let mut out = Vec::with_capacity(SLICE as usize * 150);
            if start == 0 {
                out.push(b'[');
            }
            let mut first = first;
            {
                let state = lib.state.lock();
                for i in start..(start + SLICE).min(lib.len) {
                    let Some(a) = lib.asset(i, &state.assets) else {
                        break;
                    };
                    let (Some((lat, lon)), true) = (
                        a.position,
                        a.present()
                            && favorite.is_none_or(|f| a.is_favorite == f)
                            && after.is_none_or(|t| a.taken >= t)
                            && before.is_none_or(|t| a.taken <= t),
                    ) else {
                        continue;
                    };
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let place = a.place.map(|p| PLACES[p]);
                    let marker = json!({ "id": a.id, "lat": lat, "lon": lon, "city": place.map(|p| p.0), "state": place.map(|p| p.1), "country": place.map(|p| p.2) });
                    serde_json::to_writer(&mut out, &marker).expect("write to Vec");
                }
            }
            if start + SLICE >= lib.len {
                out.push(b']');
            }
            Some((
                Ok::<_, std::io::Error>(Frame::data(Bytes::from(out))),
                (start + SLICE + u64::from(start + SLICE == lib.len), first),
            ))
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json; charset=utf-8")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
        .expect("valid response")
}

pub(super) fn memories(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    // Immich v3.1.0 refuses a `for` that is not a date (`yesterday`) with a 400.
    let day = match query.get("for") {
        Some(text) => match library::parse_iso(text) {
            Some(day) => day,
            None => return validation("for", "Invalid input: expected an ISO 8601 date"),
        },
        None => now(),
    };
    let (year, month, date, ..) = library::civil(day);
    let state = lib.state.lock();
    let mut out = Vec::new();
    for back in 1..=10 {
        let y = year - back;
        let from = library::epoch(y, month, date);
        let assets: Vec<Value> = lib
            .index_range(from, from + 86_400)
            .take(20)
            .filter_map(|i| lib.asset(i, &state.assets).filter(Asset::present))
            .map(|a| a.to_json(false, false, None))
            .collect();
        if assets.is_empty() {
            continue;
        }
        out.push(json!({
            "id": id(Kind::Memory, y as u64), "createdAt": iso(from), "updatedAt": iso(from), "memoryAt": iso(from),
            "ownerId": OWNER_ID, "type": "on_this_day", "data": { "year": y }, "isSaved": false, "assets": assets,
        }));
    }
    json_response(200, &Value::Array(out))
}
