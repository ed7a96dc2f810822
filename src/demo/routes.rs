//! The demo's routes: Immich's paths, permissions, response shapes and error bodies.

// Handlers return a finished error response as their `Err`; it is built once on a cold path,
// so boxing it would only add noise.
#![allow(clippy::result_large_err)]

use super::library::{
    self, Asset, AssetPatch, CAMERAS, Kind, Library, Mutations, OWNER_ID, PEOPLE, PLACES, hash, id, index_of, iso,
    owner_json, person_json,
};
use super::media::{self, ZipWriter};
use super::{ADMIN_KEY, Body, DemoImmich, READONLY_KEY, READONLY_PERMISSIONS, full};
use bytes::Bytes;
use futures::StreamExt;
use http::request::Parts;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The largest request body the demo reads; a larger one is answered 413.
pub const MAX_REQUEST_BODY: usize = 1 << 20;

/// A JSON response.
fn json_response(status: u16, value: &Value) -> Response<Body> {
    rendered_json(status, Bytes::from(serde_json::to_vec(value).expect("serializable")))
}

/// A response with JSON already rendered.
fn rendered_json(status: u16, body: Bytes) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(full(body))
        .expect("valid response")
}

/// Immich's error body: `{"message": ...}`.
pub fn message(status: u16, text: &str) -> Response<Body> {
    json_response(status, &json!({ "message": text }))
}

fn validation(path: &str, text: &str) -> Response<Body> {
    json_response(
        400,
        &json!({ "message": "Validation failed", "errors": [{ "code": "invalid_value", "path": [path], "message": text }] }),
    )
}

fn not_found_access(permission: &str) -> Response<Body> {
    message(400, &format!("Not found or no {permission} access"))
}

fn no_content() -> Response<Body> {
    Response::builder().status(204).body(full(Bytes::new())).expect("valid response")
}

/// Which key called, and whether it may do `permission`.
fn authorize(req: &Parts, permission: Option<&str>) -> Result<bool, Response<Body>> {
    let Some(permission) = permission else {
        return Ok(false);
    };
    let key = req.headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let is_admin = match key {
        None => return Err(message(401, "Authentication required")),
        Some(ADMIN_KEY) => true,
        Some(READONLY_KEY) => false,
        Some(_) => return Err(message(401, "Invalid API key")),
    };
    if is_admin || READONLY_PERMISSIONS.contains(&permission) {
        Ok(is_admin)
    } else {
        Err(message(403, &format!("Missing required permission: {permission}")))
    }
}

fn query_map(req: &Parts) -> BTreeMap<String, String> {
    req.uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

/// Dispatches a request, whose body has been read, to its handler.
pub async fn route(demo: &Arc<DemoImmich>, req: Parts, body: Bytes) -> Response<Body> {
    let path = req.uri.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method.clone();
    let Some(("api", rest)) = segments.split_first().map(|(a, r)| (*a, r)) else {
        return json_response(
            404,
            &json!({ "message": format!("Cannot {method} {path}"), "error": "Not Found", "statusCode": 404 }),
        );
    };
    let permission: Option<&str> = match (&method, rest) {
        (&Method::GET, ["server", "ping" | "version" | "features"]) => None,
        (&Method::GET, ["server", "about"]) => Some("server.about"),
        (&Method::GET, ["server", "statistics"]) => Some("server.statistics"),
        (&Method::GET, ["users", "me"]) => Some("user.read"),
        (&Method::GET, ["api-keys", "me"]) => Some("apiKey.read"),
        (&Method::POST, ["search", "statistics"]) => Some("asset.statistics"),
        (&Method::POST, ["search", "metadata" | "smart" | "random"]) => Some("asset.read"),
        (&Method::GET, ["search", "places" | "suggestions" | "explore" | "cities"]) => Some("asset.read"),
        (&Method::GET, ["assets", "statistics"]) => Some("asset.statistics"),
        (&Method::GET, ["assets", _]) => Some("asset.read"),
        (&Method::GET, ["assets", _, "thumbnail"]) => Some("asset.view"),
        (&Method::GET, ["assets", _, "original"]) => Some("asset.download"),
        (&Method::PUT, ["assets"]) => Some("asset.update"),
        (&Method::GET, ["albums"]) => Some("album.read"),
        (&Method::GET, ["albums", "statistics"]) => Some("album.statistics"),
        (&Method::POST, ["albums"]) => Some("album.create"),
        (&Method::GET, ["albums", _]) => Some("album.read"),
        (&Method::PUT, ["albums", _, "assets"]) => Some("albumAsset.create"),
        (&Method::DELETE, ["albums", _, "assets"]) => Some("albumAsset.delete"),
        (&Method::GET, ["people"] | ["people", _]) => Some("person.read"),
        (&Method::GET, ["people", _, "statistics"]) => Some("person.statistics"),
        (&Method::GET, ["tags"]) => Some("tag.read"),
        (&Method::PUT, ["tags"]) => Some("tag.create"),
        (&Method::PUT, ["tags", "assets"]) => Some("tag.asset"),
        (&Method::GET, ["timeline", "buckets" | "bucket"]) => Some("asset.read"),
        (&Method::GET, ["map", "markers"]) => Some("map.read"),
        (&Method::GET, ["memories"]) => Some("memory.read"),
        (&Method::POST, ["download", "info" | "archive"]) => Some("asset.download"),
        _ => {
            return json_response(
                404,
                &json!({ "message": format!("Cannot {method} {path}"), "error": "Not Found", "statusCode": 404 }),
            );
        }
    };
    let is_admin = match authorize(&req, permission) {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let query = query_map(&req);
    let range = req.headers.get("range").and_then(|v| v.to_str().ok());
    let body = if method == Method::POST || method == Method::PUT || method == Method::DELETE {
        if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(v) if v.is_object() => v,
                _ => return validation("body", "Invalid input: expected a JSON object"),
            }
        }
    } else {
        Value::Null
    };
    let lib = &demo.library;
    match (&method, rest) {
        (&Method::GET, ["server", "ping"]) => json_response(200, &json!({ "res": "pong" })),
        (&Method::GET, ["server", "version"]) => {
            json_response(200, &json!({ "major": 3, "minor": 1, "patch": 0, "prerelease": null }))
        }
        (&Method::GET, ["server", "features"]) => json_response(200, &features()),
        (&Method::GET, ["server", "about"]) => json_response(200, &about()),
        (&Method::GET, ["server", "statistics"]) => json_response(200, &server_statistics(lib)),
        (&Method::GET, ["users", "me"]) => json_response(200, &library::owner_admin_json(usage(lib).0)),
        (&Method::GET, ["api-keys", "me"]) => json_response(200, &api_key(is_admin)),
        (&Method::POST, ["search", "metadata"]) => search_metadata(lib, &body),
        (&Method::POST, ["search", "smart"]) => search_smart(lib, &body),
        (&Method::POST, ["search", "random"]) => search_random(lib, &body),
        (&Method::POST, ["search", "statistics"]) => search_statistics(lib, &body),
        (&Method::GET, ["search", "places"]) => search_places(&query),
        (&Method::GET, ["search", "suggestions"]) => search_suggestions(&query),
        (&Method::GET, ["search", "explore"]) => search_explore(lib),
        (&Method::GET, ["search", "cities"]) => search_cities(lib),
        (&Method::GET, ["assets", "statistics"]) => asset_statistics(lib),
        (&Method::GET, ["assets", id]) => get_asset(lib, id),
        (&Method::GET, ["assets", id, "thumbnail"]) => thumbnail(lib, id, &query),
        (&Method::GET, ["assets", id, "original"]) => original(lib, id, range),
        (&Method::PUT, ["assets"]) => update_assets(lib, &body),
        (&Method::GET, ["albums"]) => list_albums(lib),
        (&Method::GET, ["albums", "statistics"]) => {
            let n = lib.state.lock().unwrap().albums.len();
            json_response(200, &json!({ "owned": n, "shared": 0, "notShared": n }))
        }
        (&Method::POST, ["albums"]) => create_album(lib, &body),
        (&Method::GET, ["albums", id]) => get_album(lib, id),
        (&Method::PUT, ["albums", id, "assets"]) => album_assets(lib, id, &body, true),
        (&Method::DELETE, ["albums", id, "assets"]) => album_assets(lib, id, &body, false),
        (&Method::GET, ["people"]) => list_people(&query),
        (&Method::GET, ["people", id]) => get_person(id),
        (&Method::GET, ["people", id, "statistics"]) => person_statistics(lib, id),
        (&Method::GET, ["tags"]) => list_tags(lib),
        (&Method::PUT, ["tags"]) => upsert_tags(lib, &body),
        (&Method::PUT, ["tags", "assets"]) => tag_assets(lib, &body),
        (&Method::GET, ["timeline", "buckets"]) => timeline_buckets(lib, &query),
        (&Method::GET, ["timeline", "bucket"]) => timeline_bucket(lib, &query),
        (&Method::GET, ["map", "markers"]) => map_markers(demo.clone(), &query),
        (&Method::GET, ["memories"]) => memories(lib, &query),
        (&Method::POST, ["download", "info"]) => download_info(lib, &body),
        (&Method::POST, ["download", "archive"]) => download_archive(demo.clone(), &body),
        _ => message(404, "Not Found"),
    }
}

fn features() -> Value {
    json!({
        "smartSearch": true, "facialRecognition": true, "duplicateDetection": false, "map": true,
        "reverseGeocoding": true, "importFaces": false, "sidecar": true, "search": true, "trash": true,
        "oauth": false, "oauthAutoLaunch": false, "ocr": false, "passwordLogin": true, "configFile": false,
        "email": false, "realtimeTranscoding": false
    })
}

fn about() -> Value {
    json!({
        "version": "v3.1.0",
        "versionUrl": "https://github.com/immich-app/immich/releases/tag/v3.1.0",
        "licensed": false,
        "nodejs": "v24.15.0",
        "exiftool": "13.59",
        "ffmpeg": "",
        "libvips": "8.17.3",
        "imagemagick": ""
    })
}

fn video_count(len: u64) -> u64 {
    len / 25 + u64::from(len % 25 > 7)
}

/// (total bytes, photo bytes, video bytes); estimated from the mean file size.
fn usage(lib: &Library) -> (u64, u64, u64) {
    let mean = 120_000;
    let videos = video_count(lib.len);
    ((lib.len) * mean, (lib.len - videos) * mean, videos * mean)
}

fn server_statistics(lib: &Library) -> Value {
    let videos = video_count(lib.len);
    let (total, photos_bytes, video_bytes) = usage(lib);
    json!({
        "photos": lib.len - videos, "videos": videos, "usage": total, "usagePhotos": photos_bytes, "usageVideos": video_bytes,
        "usageByUser": [{
            "userId": OWNER_ID, "userName": "Demo Admin", "photos": lib.len - videos, "videos": videos,
            "usage": total, "usagePhotos": photos_bytes, "usageVideos": video_bytes, "quotaSizeInBytes": null
        }]
    })
}

fn api_key(is_admin: bool) -> Value {
    let (index, name, permissions): (u64, &str, Vec<&str>) =
        if is_admin { (0, "demo admin", vec!["all"]) } else { (1, "demo read-only", READONLY_PERMISSIONS.to_vec()) };
    json!({
        "id": id(Kind::ApiKey, index), "name": name, "permissions": permissions,
        "createdAt": "2026-11-01T09:00:00.000Z", "updatedAt": "2026-11-01T09:00:00.000Z"
    })
}

/// Metadata search filters, as `MetadataSearchDto` names them.
#[derive(Default)]
struct Filters {
    taken_after: Option<i64>,
    taken_before: Option<i64>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    make: Option<String>,
    model: Option<String>,
    album_ids: Vec<usize>,
    person_ids: Vec<usize>,
    tag_ids: Vec<usize>,
    is_video: Option<bool>,
    is_favorite: Option<bool>,
    visibility: Option<String>,
    rating: Option<i64>,
    file_name: Option<String>,
    description: Option<String>,
    id: Option<u64>,
    /// Any id that matched nothing known: the result is empty.
    impossible: bool,
}

impl Filters {
    fn from_json(body: &Value, state: &Mutations) -> Result<Filters, Response<Body>> {
        let mut f = Filters::default();
        let text = |key: &str| -> Result<Option<String>, Response<Body>> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(validation(key, "Invalid input: expected string")),
            }
        };
        let date = |key: &str| -> Result<Option<i64>, Response<Body>> {
            match text(key)? {
                None => Ok(None),
                // Immich validates these as full date-times (a bare date is refused).
                Some(s) if s.len() >= 19 => {
                    library::parse_iso(&s).map(Some).ok_or_else(|| validation(key, "Invalid ISO datetime"))
                }
                Some(_) => Err(validation(key, "Invalid ISO datetime")),
            }
        };
        let flag = |key: &str| -> Result<Option<bool>, Response<Body>> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(validation(key, "Invalid input: expected boolean")),
            }
        };
        let ids = |key: &str, kind: Kind, known: usize, impossible: &mut bool| -> Result<Vec<usize>, Response<Body>> {
            let Some(value) = body.get(key).filter(|v| !v.is_null()) else {
                return Ok(Vec::new());
            };
            let list = value.as_array().ok_or_else(|| validation(key, "Invalid input: expected array"))?;
            let mut out = Vec::new();
            for item in list {
                let s = item.as_str().filter(|s| library::is_uuid(s)).ok_or_else(|| validation(key, "Invalid UUID"))?;
                match index_of(kind, s).filter(|i| (*i as usize) < known) {
                    Some(i) => out.push(i as usize),
                    None => *impossible = true,
                }
            }
            Ok(out)
        };
        f.taken_after = date("takenAfter")?;
        f.taken_before = date("takenBefore")?;
        f.city = text("city")?;
        f.state = text("state")?;
        f.country = text("country")?;
        f.make = text("make")?;
        f.model = text("model")?;
        let mut impossible = false;
        f.album_ids = ids("albumIds", Kind::Album, state.albums.len(), &mut impossible)?;
        f.person_ids = ids("personIds", Kind::Person, PEOPLE.len(), &mut impossible)?;
        f.tag_ids = ids("tagIds", Kind::Tag, state.tags.len(), &mut impossible)?;
        f.impossible = impossible;
        f.is_video = match text("type")?.as_deref() {
            None => None,
            Some("IMAGE") => Some(false),
            Some("VIDEO") => Some(true),
            Some("AUDIO" | "OTHER") => {
                f.impossible = true;
                None
            }
            Some(_) => {
                return Err(validation(
                    "type",
                    "Invalid option: expected one of \"IMAGE\"|\"VIDEO\"|\"AUDIO\"|\"OTHER\"",
                ));
            }
        };
        f.is_favorite = flag("isFavorite")?;
        f.visibility = text("visibility")?;
        if let Some(v) = &f.visibility
            && !["archive", "timeline", "hidden", "locked"].contains(&v.as_str())
        {
            return Err(validation("visibility", "Invalid option"));
        }
        f.rating = match body.get("rating") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(r) if (-1..=5).contains(&r) => Some(r),
                _ => return Err(validation("rating", "Too big: expected number to be <=5")),
            },
        };
        f.file_name = text("originalFileName")?.map(|s| s.to_lowercase());
        f.description = text("description")?.map(|s| s.to_lowercase());
        if let Some(s) = text("id")? {
            match index_of(Kind::Asset, &s) {
                Some(i) => f.id = Some(i),
                None => f.impossible = true,
            }
        }
        Ok(f)
    }

    fn is_trivial(&self) -> bool {
        self.taken_after.is_none()
            && self.taken_before.is_none()
            && self.city.is_none()
            && self.state.is_none()
            && self.country.is_none()
            && self.make.is_none()
            && self.model.is_none()
            && self.album_ids.is_empty()
            && self.person_ids.is_empty()
            && self.tag_ids.is_empty()
            && self.is_video.is_none()
            && self.is_favorite.is_none()
            && self.visibility.is_none()
            && self.rating.is_none()
            && self.file_name.is_none()
            && self.description.is_none()
            && self.id.is_none()
            && !self.impossible
    }

    fn matches(&self, lib: &Library, state: &Mutations, a: &Asset) -> bool {
        let place = a.place.map(|p| PLACES[p]);
        let (make, model, _) = CAMERAS[a.camera];
        let eq = |want: &Option<String>, have: Option<&str>| want.as_ref().is_none_or(|w| have == Some(w.as_str()));
        !self.impossible
            && self.taken_after.is_none_or(|t| a.taken >= t)
            && self.taken_before.is_none_or(|t| a.taken <= t)
            && eq(&self.city, place.map(|p| p.0))
            && eq(&self.state, place.map(|p| p.1))
            && eq(&self.country, place.map(|p| p.2))
            && eq(&self.make, Some(make))
            && eq(&self.model, Some(model))
            && self.album_ids.iter().all(|&i| lib.in_album(&state.albums[i], i, a.index))
            && self.person_ids.iter().all(|p| a.people.contains(p))
            && self.tag_ids.iter().all(|&i| lib.has_tag(&state.tags[i], i, a.index))
            && self.is_video.is_none_or(|v| a.is_video == v)
            && self.is_favorite.is_none_or(|f| a.is_favorite == f)
            && self.visibility.as_ref().is_none_or(|v| &a.visibility == v)
            && self.rating.is_none_or(|r| a.rating.unwrap_or(0) == r.max(0))
            && self.file_name.as_ref().is_none_or(|n| a.file_name().to_lowercase().contains(n))
            && self.description.as_ref().is_none_or(|d| a.description.to_lowercase().contains(d))
            && self.id.is_none_or(|i| a.index == i)
    }
}

/// `page` and `size` as Immich validates them.
fn paging(body: &Value, default_size: u64) -> Result<(u64, u64), Response<Body>> {
    let size = match body.get("size") {
        None | Some(Value::Null) => default_size,
        Some(v) => match v.as_i64() {
            Some(n) if n > 1000 => {
                return Err(json_response(
                    400,
                    &json!({ "message": "Validation failed", "errors": [{ "origin": "number", "code": "too_big", "maximum": 1000, "inclusive": true, "path": ["size"], "message": "Too big: expected number to be <=1000" }] }),
                ));
            }
            Some(n) if n >= 1 => n as u64,
            _ => return Err(validation("size", "Too small: expected number to be >=1")),
        },
    };
    let page = match body.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => n as u64,
            _ => return Err(validation("page", "Too small: expected number to be >=1")),
        },
    };
    Ok((page, size))
}

/// Walks the library in `order`, starting at `start` (a rotation, for smart search), yielding
/// matching assets lazily.
fn walk<'a>(
    lib: &'a Library,
    state: &'a Mutations,
    filters: &'a Filters,
    ascending: bool,
    start: u64,
) -> impl Iterator<Item = Asset> + 'a {
    (0..lib.len)
        .map(move |k| {
            let k = (k + start) % lib.len;
            if ascending { lib.len - 1 - k } else { k }
        })
        .filter_map(move |i| lib.asset(i, &state.assets))
        .filter(move |a| filters.matches(lib, state, a))
}

fn search_page(lib: &Library, body: &Value, default_size: u64, rotation: u64) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    let filters = match Filters::from_json(body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (page, size) = match paging(body, default_size) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ascending = match body.get("order").and_then(Value::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return validation("order", "Invalid option: expected one of \"asc\"|\"desc\""),
    };
    let with_exif = body.get("withExif").and_then(Value::as_bool).unwrap_or(false);
    let with_people = body.get("withPeople").and_then(Value::as_bool).unwrap_or(false);
    let offset = (page - 1).saturating_mul(size);
    let cacheable = filters.is_trivial() && rotation == 0 && state.assets.is_empty();
    let key = (offset, size, ascending, with_exif, with_people);
    if cacheable && let Some(page) = lib.pages.get(&key) {
        return rendered_json(200, page);
    }
    if !cacheable {
        lib.pages.clear();
    }
    let mut items: Vec<Asset> = if filters.is_trivial() && rotation == 0 {
        (offset..offset.saturating_add(size + 1).min(lib.len))
            .filter_map(|k| lib.asset(if ascending { lib.len - 1 - k } else { k }, &state.assets))
            .collect()
    } else {
        walk(lib, &state, &filters, ascending, rotation).skip(offset as usize).take(size as usize + 1).collect()
    };
    // JSON is made without the lock, so concurrent searches (100 streams) run in parallel.
    drop(state);
    let has_more = items.len() as u64 > size;
    items.truncate(size as usize);
    let rendered = Bytes::from(render_search_page(&items, has_more.then_some(page + 1), |a| {
        a.to_json(with_exif, with_people, None)
    }));
    if cacheable {
        lib.pages.put(key, rendered.clone());
    }
    rendered_json(200, rendered)
}

/// Immich's search page, in Immich's key order, rendered one asset at a time: a page of a thousand
/// assets as one `Value` tree costs tens of megabytes, as bytes about two.
fn render_search_page(items: &[Asset], next_page: Option<u64>, to_json: impl Fn(&Asset) -> Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + items.len() * 1024);
    let count = items.len();
    out.extend_from_slice(
        format!(
            r#"{{"albums":{{"total":0,"count":0,"items":[],"facets":[]}},"assets":{{"total":{count},"count":{count},"items":["#
        )
        .as_bytes(),
    );
    for (i, asset) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &to_json(asset)).expect("serializable");
    }
    let next_page = next_page.map_or_else(|| "null".to_string(), |p| format!(r#""{p}""#));
    out.extend_from_slice(format!(r#"],"facets":[],"nextPage":{next_page}}}}}"#).as_bytes());
    out
}

fn search_metadata(lib: &Library, body: &Value) -> Response<Body> {
    search_page(lib, body, 250, 0)
}

/// CLIP search, faked deterministically: words naming a known city, country, camera make or
/// person narrow the results; the ranking is a rotation of the library chosen by the query.
fn search_smart(lib: &Library, body: &Value) -> Response<Body> {
    let query = match (body.get("query").and_then(Value::as_str), body.get("queryAssetId").and_then(Value::as_str)) {
        (Some(q), _) if !q.trim().is_empty() => q.to_lowercase(),
        (_, Some(id)) => id.to_string(),
        _ => return validation("query", "Either query or queryAssetId is required"),
    };
    let mut narrowed = body.clone();
    for word in query.split_whitespace() {
        if let Some(p) = PLACES.iter().find(|p| p.0.to_lowercase() == word) {
            narrowed["city"] = json!(p.0);
        } else if let Some(p) = PLACES.iter().find(|p| p.2.to_lowercase() == word) {
            narrowed["country"] = json!(p.2);
        } else if let Some(c) = CAMERAS.iter().find(|c| c.0.to_lowercase() == word) {
            narrowed["make"] = json!(c.0);
        } else if let Some(p) = PEOPLE.iter().position(|p| p.to_lowercase() == word) {
            narrowed["personIds"] = json!([id(Kind::Person, p as u64)]);
        }
    }
    let rotation = query.bytes().fold(0u64, |h, b| library::hash(Kind::Asset, h ^ u64::from(b))) % lib.len.max(1);
    search_page(lib, &narrowed, 100, rotation.max(1))
}

fn search_random(lib: &Library, body: &Value) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    let filters = match Filters::from_json(body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let size = match paging(body, 250) {
        Ok((_, s)) => s,
        Err(r) => return r,
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for _ in 0..size * 20 {
        if out.len() as u64 >= size || lib.len == 0 {
            break;
        }
        let i = rand::random::<u64>() % lib.len;
        if seen.insert(i)
            && let Some(a) = lib.asset(i, &state.assets).filter(|a| filters.matches(lib, &state, a))
        {
            out.push(a.to_json(false, false, None));
        }
    }
    json_response(200, &Value::Array(out))
}

fn search_statistics(lib: &Library, body: &Value) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    let filters = match Filters::from_json(body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let total = if filters.is_trivial() { lib.len as usize } else { walk(lib, &state, &filters, false, 0).count() };
    json_response(200, &json!({ "total": total }))
}

fn search_places(query: &BTreeMap<String, String>) -> Response<Body> {
    let Some(name) = query.get("name").filter(|n| !n.is_empty()) else {
        return validation("name", "Invalid input: expected string");
    };
    let name = name.to_lowercase();
    let places: Vec<Value> = PLACES
        .iter()
        .filter(|p| p.0.to_lowercase().starts_with(&name))
        .map(|p| json!({ "name": p.0, "latitude": p.3, "longitude": p.4, "admin1name": p.1, "admin2name": p.2 }))
        .collect();
    json_response(200, &Value::Array(places))
}

fn search_suggestions(query: &BTreeMap<String, String>) -> Response<Body> {
    let country = query.get("country");
    let make = query.get("make");
    let mut values: Vec<&str> = match query.get("type").map(String::as_str) {
        Some("country") => PLACES.iter().map(|p| p.2).collect(),
        Some("state") => PLACES.iter().filter(|p| country.is_none_or(|c| c == p.2)).map(|p| p.1).collect(),
        Some("city") => PLACES.iter().filter(|p| country.is_none_or(|c| c == p.2)).map(|p| p.0).collect(),
        Some("camera-make") => CAMERAS.iter().map(|c| c.0).collect(),
        Some("camera-model") => CAMERAS.iter().filter(|c| make.is_none_or(|m| m == c.0)).map(|c| c.1).collect(),
        Some("camera-lens-model") => {
            CAMERAS.iter().filter(|c| make.is_none_or(|m| m == c.0)).filter_map(|c| c.2).collect()
        }
        _ => {
            return validation(
                "type",
                "Invalid option: expected one of \"country\"|\"state\"|\"city\"|\"camera-make\"|\"camera-model\"|\"camera-lens-model\"",
            );
        }
    };
    values.sort_unstable();
    values.dedup();
    json_response(200, &json!(values))
}

/// The first asset taken in each city.
fn first_per_city(lib: &Library, state: &Mutations) -> Vec<Asset> {
    let mut found: Vec<Option<Asset>> = vec![None; PLACES.len()];
    for i in 0..lib.len {
        let Some(a) = lib.asset(i, &state.assets) else {
            break;
        };
        if let Some(p) = a.place
            && found[p].is_none()
        {
            found[p] = Some(a);
            if found.iter().all(Option::is_some) {
                break;
            }
        }
    }
    found.into_iter().flatten().collect()
}

fn search_explore(lib: &Library) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    let items: Vec<Value> = first_per_city(lib, &state)
        .iter()
        .map(|a| json!({ "value": PLACES[a.place.unwrap()].0, "data": a.to_json(true, false, Some(Vec::new())) }))
        .collect();
    json_response(200, &json!([{ "fieldName": "exifInfo.city", "items": items }]))
}

fn search_cities(lib: &Library) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    let items: Vec<Value> = first_per_city(lib, &state).iter().map(|a| a.to_json(true, false, None)).collect();
    json_response(200, &Value::Array(items))
}

fn asset_statistics(lib: &Library) -> Response<Body> {
    let videos = video_count(lib.len);
    json_response(200, &json!({ "images": lib.len - videos, "videos": videos, "total": lib.len }))
}

/// Looks an asset id up the way Immich does: malformed → validation error, unknown → 400.
fn find_asset(lib: &Library, text: &str, permission: &str) -> Result<Asset, Response<Body>> {
    if !library::is_uuid(text) {
        return Err(validation("id", "Invalid UUID"));
    }
    let state = lib.state.lock().unwrap();
    index_of(Kind::Asset, text).and_then(|i| lib.asset(i, &state.assets)).ok_or_else(|| not_found_access(permission))
}

fn tags_of(lib: &Library, state: &Mutations, index: u64) -> Vec<Value> {
    state.tags.iter().enumerate().filter(|(i, t)| lib.has_tag(t, *i, index)).map(|(i, t)| tag_json(i, t)).collect()
}

fn get_asset(lib: &Library, text: &str) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.read") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let state = lib.state.lock().unwrap();
    let mut v = asset.to_json(true, true, Some(tags_of(lib, &state, asset.index)));
    v["owner"] = owner_json();
    v["stack"] = Value::Null;
    json_response(200, &v)
}

fn binary(status: u16, mime: &str, disposition: &str, bytes: Vec<u8>) -> hyper::http::response::Builder {
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

fn thumbnail(lib: &Library, text: &str, query: &BTreeMap<String, String>) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.view") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let stem = asset.file_name().rsplit_once('.').map_or(asset.file_name(), |(s, _)| s.to_string());
    match query.get("size").map(String::as_str) {
        None | Some("thumbnail") => {
            let bytes = media::thumbnail_webp(&asset);
            binary(200, "image/webp", &format!("{stem}_thumbnail.webp"), Vec::new())
                .header("content-length", bytes.len())
                .body(full(bytes))
                .expect("valid response")
        }
        Some("preview") => {
            let bytes = media::jpeg(&asset, 512);
            binary(200, "image/jpeg", &format!("{stem}_preview.jpeg"), Vec::new())
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
fn parse_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
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

fn original(lib: &Library, text: &str, range: Option<&str>) -> Response<Body> {
    let asset = match find_asset(lib, text, "asset.download") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let bytes = media::original(&asset);
    let len = bytes.len() as u64;
    match parse_range(range, len) {
        Ok(None) => binary(200, asset.mime(), &asset.file_name(), Vec::new())
            .header("content-length", len)
            .body(full(bytes))
            .expect("valid response"),
        Ok(Some((start, end))) => {
            let part = bytes[start as usize..=end as usize].to_vec();
            binary(206, asset.mime(), &asset.file_name(), Vec::new())
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

fn asset_ids(body: &Value, key: &str, lib: &Library, permission: &str) -> Result<Vec<u64>, Response<Body>> {
    let list =
        body.get(key).and_then(Value::as_array).ok_or_else(|| validation(key, "Invalid input: expected array"))?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let s = item.as_str().filter(|s| library::is_uuid(s)).ok_or_else(|| validation(key, "Invalid UUID"))?;
        out.push(index_of(Kind::Asset, s).filter(|i| *i < lib.len).ok_or_else(|| not_found_access(permission))?);
    }
    Ok(out)
}

fn update_assets(lib: &Library, body: &Value) -> Response<Body> {
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
    if let Some(v) = body.get("rating").filter(|v| !v.is_null()) {
        match v.as_i64() {
            Some(r) if (-1..=5).contains(&r) => patch.rating = Some(r.max(0)),
            _ => return validation("rating", "Invalid input: expected a number from -1 to 5"),
        }
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
    let mut state = lib.state.lock().unwrap();
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

fn album_json(lib: &Library, state: &Mutations, index: usize) -> Value {
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

fn list_albums(lib: &Library) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    let albums: Vec<Value> = (0..state.albums.len()).map(|i| album_json(lib, &state, i)).collect();
    json_response(200, &Value::Array(albums))
}

fn find_album(state: &Mutations, text: &str) -> Result<usize, Response<Body>> {
    if !library::is_uuid(text) {
        return Err(validation("id", "Invalid UUID"));
    }
    index_of(Kind::Album, text)
        .map(|i| i as usize)
        .filter(|i| *i < state.albums.len())
        .ok_or_else(|| not_found_access("album.read"))
}

fn get_album(lib: &Library, text: &str) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    match find_album(&state, text) {
        Ok(i) => json_response(200, &album_json(lib, &state, i)),
        Err(r) => r,
    }
}

fn create_album(lib: &Library, body: &Value) -> Response<Body> {
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
    let mut state = lib.state.lock().unwrap();
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

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn album_assets(lib: &Library, text: &str, body: &Value, add: bool) -> Response<Body> {
    let Some(list) = body.get("ids").and_then(Value::as_array) else {
        return validation("ids", "Invalid input: expected array");
    };
    let mut state = lib.state.lock().unwrap();
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

fn list_people(query: &BTreeMap<String, String>) -> Response<Body> {
    let size: usize = query.get("size").and_then(|s| s.parse().ok()).unwrap_or(500).clamp(1, 1000);
    let page: usize = query.get("page").and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let people: Vec<Value> = (0..PEOPLE.len()).skip((page - 1) * size).take(size).map(person_json).collect();
    json_response(
        200,
        &json!({ "people": people, "total": PEOPLE.len(), "hidden": 0, "hasNextPage": page * size < PEOPLE.len() }),
    )
}

fn find_person(text: &str) -> Result<usize, Response<Body>> {
    if !library::is_uuid(text) {
        return Err(validation("id", "Invalid UUID"));
    }
    index_of(Kind::Person, text)
        .map(|i| i as usize)
        .filter(|i| *i < PEOPLE.len())
        .ok_or_else(|| not_found_access("person.read"))
}

fn get_person(text: &str) -> Response<Body> {
    match find_person(text) {
        Ok(p) => json_response(200, &person_json(p)),
        Err(r) => r,
    }
}

fn person_statistics(lib: &Library, text: &str) -> Response<Body> {
    let p = match find_person(text) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let count = (0..lib.len).filter(|i| (hash(Kind::Asset, *i) >> (p * 3 + 5)).is_multiple_of(7)).count();
    json_response(200, &json!({ "assets": count }))
}

fn tag_json(index: usize, tag: &library::TagState) -> Value {
    let mut v = json!({
        "id": id(Kind::Tag, index as u64), "name": tag.name, "value": tag.value,
        "createdAt": "2026-11-01T09:00:00.000Z", "updatedAt": "2026-11-01T09:00:00.000Z",
    });
    if let Some(parent) = tag.parent {
        v["parentId"] = json!(id(Kind::Tag, parent));
    }
    v
}

fn list_tags(lib: &Library) -> Response<Body> {
    let state = lib.state.lock().unwrap();
    json_response(200, &Value::Array(state.tags.iter().enumerate().map(|(i, t)| tag_json(i, t)).collect()))
}

fn upsert_tags(lib: &Library, body: &Value) -> Response<Body> {
    let Some(list) = body.get("tags").and_then(Value::as_array) else {
        return validation("tags", "Invalid input: expected array");
    };
    let mut state = lib.state.lock().unwrap();
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

fn tag_assets(lib: &Library, body: &Value) -> Response<Body> {
    let assets = match asset_ids(body, "assetIds", lib, "asset.read") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let Some(tag_list) = body.get("tagIds").and_then(Value::as_array) else {
        return validation("tagIds", "Invalid input: expected array");
    };
    let mut state = lib.state.lock().unwrap();
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

/// Timeline filters: `albumId`, `personId`, `tagId`, `isFavorite`, `visibility`.
fn timeline_filters(query: &BTreeMap<String, String>, state: &Mutations) -> Result<Filters, Response<Body>> {
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

fn timeline_buckets(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let state = lib.state.lock().unwrap();
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

fn timeline_bucket(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let Some(start) = query.get("timeBucket").and_then(|t| library::parse_iso(t)) else {
        return validation("timeBucket", "Invalid input: expected a date such as 2024-09-01");
    };
    let (y, m, ..) = library::civil(start);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let (from, to) = (library::epoch(y, m, 1), library::epoch(ny, nm, 1));
    let state = lib.state.lock().unwrap();
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
fn map_markers(demo: Arc<DemoImmich>, query: &BTreeMap<String, String>) -> Response<Body> {
    let favorite = query.get("isFavorite").map(|v| v == "true");
    let after = query.get("fileCreatedAfter").and_then(|t| library::parse_iso(t));
    let before = query.get("fileCreatedBefore").and_then(|t| library::parse_iso(t));
    const SLICE: u64 = 2_000;
    let stream = futures::stream::unfold((0u64, true), move |(start, first)| {
        let demo = demo.clone();
        async move {
            let lib = &demo.library;
            if start > lib.len {
                return None;
            }
            let mut out = Vec::with_capacity(SLICE as usize * 150);
            if start == 0 {
                out.push(b'[');
            }
            let mut first = first;
            {
                let state = lib.state.lock().unwrap();
                for i in start..(start + SLICE).min(lib.len) {
                    let Some(a) = lib.asset(i, &state.assets) else {
                        break;
                    };
                    let (Some((lat, lon)), true) = (
                        a.position,
                        favorite.is_none_or(|f| a.is_favorite == f)
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

fn memories(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let day = query.get("for").and_then(|t| library::parse_iso(t)).unwrap_or_else(now);
    let (year, month, date, ..) = library::civil(day);
    let state = lib.state.lock().unwrap();
    let mut out = Vec::new();
    for back in 1..=10 {
        let y = year - back;
        let from = library::epoch(y, month, date);
        let assets: Vec<Value> = lib
            .index_range(from, from + 86_400)
            .take(20)
            .filter_map(|i| lib.asset(i, &state.assets))
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

/// The assets a download request selects: `assetIds`, `albumId` or `userId`.
fn download_selection(lib: &Library, body: &Value) -> Result<Vec<u64>, Response<Body>> {
    if body.get("assetIds").is_some() {
        return asset_ids(body, "assetIds", lib, "asset.download");
    }
    if let Some(album) = body.get("albumId").and_then(Value::as_str) {
        let state = lib.state.lock().unwrap();
        let index = find_album(&state, album)?;
        return Ok((0..lib.len).filter(|i| lib.in_album(&state.albums[index], index, *i)).collect());
    }
    if body.get("userId").and_then(Value::as_str) == Some(OWNER_ID) {
        return Ok((0..lib.len).collect());
    }
    Err(validation("assetIds", "assetIds, albumId or userId is required"))
}

fn download_info(lib: &Library, body: &Value) -> Response<Body> {
    let selection = match download_selection(lib, body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit = body.get("archiveSize").and_then(Value::as_u64).unwrap_or(4 << 30).max(1);
    let state = lib.state.lock().unwrap();
    let mut archives: Vec<(u64, Vec<String>)> = Vec::new();
    let mut total = 0;
    for i in selection {
        let size = lib.asset(i, &state.assets).map_or(0, |a| a.file_size);
        total += size;
        match archives.last_mut() {
            Some((used, ids)) if *used + size <= limit => {
                *used += size;
                ids.push(id(Kind::Asset, i));
            }
            _ => archives.push((size, vec![id(Kind::Asset, i)])),
        }
    }
    let archives: Vec<Value> =
        archives.into_iter().map(|(size, ids)| json!({ "size": size, "assetIds": ids })).collect();
    json_response(201, &json!({ "totalSize": total, "archives": archives }))
}

/// A ZIP of the originals, written one entry at a time as the client reads.
fn download_archive(demo: Arc<DemoImmich>, body: &Value) -> Response<Body> {
    let ids = match asset_ids(body, "assetIds", &demo.library, "asset.download") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let stream = futures::stream::unfold((ids.into_iter(), Some(ZipWriter::default())), move |(mut ids, zip)| {
        let demo = demo.clone();
        async move {
            let mut zip = zip?;
            match ids.next() {
                Some(i) => {
                    let asset = {
                        let state = demo.library.state.lock().unwrap();
                        demo.library.asset(i, &state.assets)
                    }?;
                    let entry = zip.entry(&asset.file_name(), &media::original(&asset));
                    Some((Ok::<_, std::io::Error>(Frame::data(entry)), (ids, Some(zip))))
                }
                None => Some((Ok(Frame::data(zip.finish())), (ids, None))),
            }
        }
    })
    .boxed();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header("content-disposition", "attachment; filename=\"immich-download.zip\"")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
        .expect("valid response")
}
