//! Assets: one asset's JSON, its thumbnail, preview and original (with `Range`), and bulk edits.

#![allow(clippy::result_large_err)]

use super::prelude::*;

pub(super) fn asset_statistics(lib: &Library) -> Response<Body> {
    let videos = video_count(lib.len);
    json_response(200, &json!({ "images": lib.len - videos, "videos": videos, "total": lib.len }))
}

/// Looks an asset id up the way Immich does: malformed → validation error, unknown → 400.
pub(super) fn find_asset(lib: &Library, text: &str, permission: &str) -> Result<Asset, Response<Body>> {
    if !library::is_uuid(text) {
        return Err(validation("id", "Invalid UUID"));
    }
    let state = lib.state.lock();
    index_of(Kind::Asset, text)
        .and_then(|i| lib.asset(i, &state.assets))
        .filter(|a| !a.purged)
        .ok_or_else(|| not_found_access(permission))
}

pub(super) fn tags_of(lib: &Library, state: &Mutations, index: u64) -> Vec<Value> {
    state.tags.iter().enumerate().filter(|(i, t)| lib.has_tag(t, *i, index)).map(|(i, t)| tag_json(i, t)).collect()
}

pub(super) fn get_asset(lib: &Library, text: &str) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.read") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let state = lib.state.lock();
    let mut v = asset.to_json(true, true, Some(tags_of(lib, &state, asset.index)));
    v["owner"] = owner_json();
    v["stack"] = super::stacks::of_asset(&state, asset.index);
    json_response(200, &v)
}

/// `GET /api/assets/{id}/ocr`: `AssetOcrResponseDto` for each line of text in the photo.
pub(super) fn ocr(lib: &Library, text: &str) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.read") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let lines: Vec<Value> = asset
        .ocr()
        .into_iter()
        .enumerate()
        .map(|(n, (line, [x1, y1, x2, y2]))| {
            json!({
                "id": library::id(Kind::Asset, asset.index * 8 + n as u64 + 1_000_000_000),
                "assetId": asset.id, "text": line, "boxScore": 0.93, "textScore": 0.97,
                "x1": x1, "y1": y1, "x2": x2, "y2": y1, "x3": x2, "y3": y2, "x4": x1, "y4": y2,
            })
        })
        .collect();
    json_response(200, &Value::Array(lines))
}

pub(super) fn binary(status: u16, mime: &str, disposition: &str, bytes: Vec<u8>) -> hyper::http::response::Builder {
    let _ = bytes;
    Response::builder()
        .status(status)
        .header("content-type", mime)
        .header(
            "cache-control",
            "private, max-age=86400, no-transform, stale-while-revalidate=2592000, stale-if-error=2592000",
        )
        .header("content-disposition", format!("inline; filename*=UTF-8''{disposition}"))
        .header("accept-ranges", "bytes")
}

/// A request's validators, as Immich's file answers (Express `sendFile`) honour them.
pub(super) struct Conditional<'a> {
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
}

impl Conditional<'_> {
    /// Whether the client's copy (`etag`, modified at `modified`) is current: `If-None-Match`
    /// decides when sent, else `If-Modified-Since`.
    fn is_current(&self, etag: &str, modified: i64) -> bool {
        match (self.if_none_match, self.if_modified_since) {
            (Some(tags), _) => tags.split(',').map(str::trim).any(|t| t == etag || t == "*"),
            (None, Some(since)) => crate::demo::library::parse_http_date(since).is_some_and(|since| modified <= since),
            (None, None) => false,
        }
    }
}

/// A file answer's validators, as `sendFile` makes them: a weak ETag of the size and modification
/// time, and `Last-Modified`. A demo file changes when its asset does not: the capture time is it.
fn validators(asset: &crate::demo::library::Asset, len: u64) -> (String, i64) {
    (format!("W/\"{len:x}-{:x}\"", asset.taken * 1000), asset.taken)
}

/// `304 Not Modified` with the validators, when the client's copy is current.
fn not_modified(cond: &Conditional, etag: &str, modified: i64) -> Option<Response<Body>> {
    cond.is_current(etag, modified).then(|| {
        Response::builder()
            .status(304)
            .header("etag", etag)
            .header("last-modified", crate::demo::library::http_date(modified))
            .body(full(Bytes::new()))
            .expect("valid response")
    })
}

pub(super) fn thumbnail(
    lib: &Library,
    text: &str,
    query: &BTreeMap<String, String>,
    cond: &Conditional,
) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.view") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let stem = asset.file_name().rsplit_once('.').map_or(asset.file_name(), |(s, _)| s.to_string());
    match query.get("size").map(String::as_str) {
        None | Some("thumbnail") => {
            let bytes = media::thumbnail_webp(&asset);
            let (etag, modified) = validators(&asset, bytes.len() as u64);
            if let Some(response) = not_modified(cond, &etag, modified) {
                return response;
            }
            binary(200, "image/webp", &format!("{stem}_thumbnail.webp"), Vec::new())
                .header("etag", etag)
                .header("last-modified", crate::demo::library::http_date(modified))
                .header("content-length", bytes.len())
                .body(full(bytes))
                .expect("valid response")
        }
        Some("preview") => {
            let bytes = media::jpeg(&asset, 512);
            let (etag, modified) = validators(&asset, bytes.len() as u64);
            if let Some(response) = not_modified(cond, &etag, modified) {
                return response;
            }
            binary(200, "image/jpeg", &format!("{stem}_preview.jpeg"), Vec::new())
                .header("etag", etag)
                .header("last-modified", crate::demo::library::http_date(modified))
                .header("content-length", bytes.len())
                .body(full(bytes))
                .expect("valid response")
        }
        Some("fullsize") => Response::builder()
            .status(302)
            .header("location", "original")
            .body(full(Bytes::new()))
            .expect("valid response"),
        Some(_) => validation("size", "Invalid option: expected one of \"fullsize\"|\"preview\"|\"thumbnail\""),
    }
}

/// Parses a single `bytes=` range against `len`: `Ok(None)` for no header, `Err(())` when
/// unsatisfiable.
pub(super) fn parse_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (s, "") => (s.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (s, e) => (s.parse().map_err(|_| ())?, e.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))),
    };
    if range.0 >= len || range.0 > range.1 { Err(()) } else { Ok(Some(range)) }
}

pub(super) fn original(lib: &Library, text: &str, range: Option<&str>, cond: &Conditional) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.download") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let bytes = media::original(&asset);
    let len = bytes.len() as u64;
    let (etag, modified) = validators(&asset, len);
    if let Some(response) = not_modified(cond, &etag, modified) {
        return response;
    }
    let last_modified = crate::demo::library::http_date(modified);
    match parse_range(range, len) {
        Ok(None) => binary(200, asset.mime(), &asset.file_name(), Vec::new())
            .header("etag", &etag)
            .header("last-modified", &last_modified)
            .header("content-length", len)
            .body(full(bytes))
            .expect("valid response"),
        Ok(Some((start, end))) => {
            let part = bytes[start as usize..=end as usize].to_vec();
            binary(206, asset.mime(), &asset.file_name(), Vec::new())
                .header("etag", &etag)
                .header("last-modified", &last_modified)
                .header("content-range", format!("bytes {start}-{end}/{len}"))
                .header("content-length", part.len())
                .body(full(part))
                .expect("valid response")
        }
        Err(()) => Response::builder()
            .status(416)
            .header("content-range", format!("bytes */{len}"))
            .body(full(Bytes::new()))
            .expect("valid response"),
    }
}

pub(super) fn asset_ids(body: &Value, key: &str, lib: &Library, permission: &str) -> Result<Vec<u64>, Response<Body>> {
    let list =
        body.get(key).and_then(Value::as_array).ok_or_else(|| validation(key, "Invalid input: expected array"))?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let s = item.as_str().filter(|s| library::is_uuid(s)).ok_or_else(|| validation(key, "Invalid UUID"))?;
        out.push(index_of(Kind::Asset, s).filter(|i| *i < lib.len).ok_or_else(|| not_found_access(permission))?);
    }
    Ok(out)
}

pub(super) fn update_assets(lib: &Library, body: &Value) -> Response<Body> {
    let ids = match asset_ids(body, "ids", lib, "asset.update") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let mut patch = AssetPatch::default();
    if let Some(v) = body.get("isFavorite").filter(|v| !v.is_null()) {
        patch.is_favorite = Some(match v.as_bool() {
            Some(b) => b,
            None => return validation("isFavorite", "Invalid input: expected boolean"),
        });
    }
    // Immich v3.1.0: 1 to 5 stars, -1 (rejected) or null (unrated); 0 is refused.
    match body.get("rating") {
        None => {}
        Some(Value::Null) => patch.rating = Some(0),
        Some(v) => match v.as_i64() {
            Some(r) if r == -1 || (1..=5).contains(&r) => patch.rating = Some(r.max(0)),
            _ => return validation("rating", "Invalid input: expected 1 to 5, -1 (rejected) or null (unrated)"),
        },
    }
    if let Some(v) = body.get("description").filter(|v| !v.is_null()) {
        patch.description = Some(match v.as_str() {
            Some(s) => s.to_string(),
            None => return validation("description", "Invalid input: expected string"),
        });
    }
    if let Some(v) = body.get("visibility").filter(|v| !v.is_null()) {
        match v.as_str() {
            Some(s) if ["archive", "timeline", "hidden", "locked"].contains(&s) => {
                patch.visibility = Some(s.to_string())
            }
            _ => return validation("visibility", "Invalid option"),
        }
    }
    if let Some(v) = body.get("dateTimeOriginal").filter(|v| !v.is_null()) {
        match v.as_str().and_then(library::parse_iso) {
            Some(t) => patch.taken = Some(t),
            None => return validation("dateTimeOriginal", "Invalid ISO datetime"),
        }
    }
    match (body.get("latitude").and_then(Value::as_f64), body.get("longitude").and_then(Value::as_f64)) {
        (Some(lat), Some(lon)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {
            patch.position = Some((lat, lon))
        }
        (None, None) => {}
        _ => {
            return validation("latitude", "latitude and longitude go together, within ±90 and ±180");
        }
    }
    let mut state = lib.state.lock();
    for i in ids {
        let entry = state.assets.entry(i).or_default();
        let p = patch.clone();
        entry.is_favorite = p.is_favorite.or(entry.is_favorite);
        entry.rating = p.rating.or(entry.rating);
        entry.description = p.description.or(entry.description.take());
        entry.visibility = p.visibility.or(entry.visibility.take());
        entry.taken = p.taken.or(entry.taken);
        entry.position = p.position.or(entry.position);
    }
    no_content()
}
