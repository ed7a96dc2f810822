//! The demo's routes: one table of Immich's paths — method, pattern, the permission a caller
//! needs, handler — and the authentication in front of them, as Immich does it (see [`users`]).
//! Handlers live in one file per family.

// Handlers return a finished error response as their `Err`; it is built once on a cold path,
// so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod activities;
mod albums;
mod assets;
mod downloads;
mod duplicates;
mod edits;
mod links;
mod people;
mod search;
mod server;
mod stacks;
mod timeline;
mod trash;
pub mod users;
mod web;

use super::{Body, DemoImmich, full};
use bytes::Bytes;
use http::request::Parts;
use hyper::{Method, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use users::{Access, Caller};

/// What every handler file uses.
mod prelude {
    pub(super) use super::super::library::{
        self, Asset, AssetPatch, CAMERAS, Kind, Library, Mutations, OWNER_ID, PEOPLE, PLACES, hash, id, index_of, iso,
        owner_json, person_json,
    };
    pub(super) use super::super::media::{self, ZipWriter};
    pub(super) use super::super::{Body, DemoImmich, full};
    pub(super) use super::albums::find_album;
    pub(super) use super::assets::asset_ids;
    pub(super) use super::people::tag_json;
    pub(super) use super::search::{Filters, walk};
    pub(super) use super::server::video_count;
    pub(super) use super::{json_response, no_content, not_found_access, now, rendered_json, validation};
    pub(super) use bytes::Bytes;
    pub(super) use futures::StreamExt;
    pub(super) use http_body_util::{BodyExt, StreamBody};
    pub(super) use hyper::body::Frame;
    pub(super) use hyper::{Response, StatusCode};
    pub(super) use serde_json::{Value, json};
    pub(super) use std::collections::BTreeMap;
    pub(super) use std::sync::Arc;
}

/// One request, as a handler sees it.
pub struct Req<'a> {
    demo: &'a Arc<DemoImmich>,
    /// The caller's library.
    lib: &'a super::library::Library,
    caller: &'a Caller,
    /// The path's `:id` segments, in order.
    params: Vec<&'a str>,
    query: BTreeMap<String, String>,
    /// The JSON body of a POST, PUT or DELETE (`{}` when empty); `null` otherwise.
    body: Value,
    range: Option<&'a str>,
    /// `If-None-Match` and `If-Modified-Since`, for the media answers' 304s.
    conditional: assets::Conditional<'a>,
}

impl Req<'_> {
    /// The `n`th `:id` of the path.
    fn param(&self, n: usize) -> &str {
        self.params.get(n).copied().unwrap_or_default()
    }
}

type Handler = fn(&Req<'_>) -> Response<Body>;

/// One of Immich's routes.
struct Route {
    method: Method,
    /// `/api/…`, with `:id` for a path parameter.
    pattern: &'static str,
    access: Access,
    handler: Handler,
}

const fn route(method: Method, pattern: &'static str, access: Access, handler: Handler) -> Route {
    Route { method, pattern, access, handler }
}

use Access::{Authenticated as Auth, Permission as Needs, Public};

/// Every route the demo serves, in matching order (fixed segments before `:id`).
const ROUTES: &[Route] = &[
    route(Method::GET, "/api/server/ping", Public, |_| json_response(200, &json!({ "res": "pong" }))),
    route(Method::GET, "/api/server/version", Public, |r| {
        let (major, minor, patch) = r.demo.version;
        json_response(200, &json!({ "major": major, "minor": minor, "patch": patch, "prerelease": null }))
    }),
    route(Method::GET, "/api/server/features", Public, |_| json_response(200, &server::features())),
    route(Method::GET, "/api/server/about", Needs("server.about"), |_| json_response(200, &server::about())),
    route(Method::GET, "/api/server/statistics", Needs("server.statistics"), |r| {
        json_response(200, &server::server_statistics(r.lib))
    }),
    route(Method::POST, "/api/auth/login", Public, |r| users::login(r.demo, &r.body)),
    route(Method::POST, "/api/auth/logout", Auth, |r| users::logout(r.demo, r.caller)),
    route(Method::GET, "/api/users/me", Needs("user.read"), |r| users::me(r.caller, r.lib)),
    route(Method::GET, "/api/partners", Needs("partner.read"), |r| users::partners(r.caller, &r.query)),
    route(Method::GET, "/api/shared-links", Needs("sharedLink.read"), |r| links::list(r.lib, &r.query)),
    route(Method::GET, "/api/stacks", Needs("stack.read"), |r| stacks::list(r.lib, &r.query)),
    route(Method::GET, "/api/activities", Needs("activity.read"), |r| activities::list(r.lib, &r.query)),
    route(Method::POST, "/api/activities", Needs("activity.create"), |r| {
        activities::create(r.lib, r.caller.user, &r.body)
    }),
    route(Method::POST, "/api/stacks", Needs("stack.create"), |r| stacks::create(r.lib, &r.body)),
    route(Method::DELETE, "/api/stacks/:id/assets/:id", Needs("stack.update"), |r| {
        stacks::remove_asset(r.lib, r.param(0), r.param(1))
    }),
    route(Method::POST, "/api/shared-links", Needs("sharedLink.create"), |r| links::create(r.lib, &r.body)),
    route(Method::DELETE, "/api/shared-links/:id", Needs("sharedLink.delete"), |r| links::remove(r.lib, r.param(0))),
    // Any key may read itself (Immich: `permission: false`).
    route(Method::GET, "/api/api-keys/me", Auth, |r| users::api_key_me(r.caller)),
    route(Method::GET, "/api/api-keys", Needs("apiKey.read"), |r| users::list_api_keys(r.demo, r.caller)),
    route(Method::POST, "/api/api-keys", Needs("apiKey.create"), |r| users::create_api_key(r.demo, r.caller, &r.body)),
    route(Method::DELETE, "/api/api-keys/:id", Needs("apiKey.delete"), |r| {
        users::delete_api_key(r.demo, r.caller, r.param(0))
    }),
    route(Method::POST, "/api/search/metadata", Needs("asset.read"), |r| search::search_metadata(r.lib, &r.body)),
    route(Method::POST, "/api/search/smart", Needs("asset.read"), |r| search::search_smart(r.lib, &r.body)),
    route(Method::POST, "/api/search/random", Needs("asset.read"), |r| search::search_random(r.lib, &r.body)),
    route(Method::POST, "/api/search/large-assets", Needs("asset.read"), |r| search::search_large(r.lib, &r.query)),
    route(Method::POST, "/api/search/statistics", Needs("asset.statistics"), |r| {
        search::search_statistics(r.lib, &r.body)
    }),
    route(Method::GET, "/api/search/places", Needs("asset.read"), |r| search::search_places(&r.query)),
    route(Method::GET, "/api/search/suggestions", Needs("asset.read"), |r| search::search_suggestions(&r.query)),
    route(Method::GET, "/api/search/explore", Needs("asset.read"), |r| search::search_explore(r.lib)),
    route(Method::GET, "/api/search/cities", Needs("asset.read"), |r| search::search_cities(r.lib)),
    route(Method::GET, "/api/assets/statistics", Needs("asset.statistics"), |r| assets::asset_statistics(r.lib)),
    route(Method::GET, "/api/assets/:id", Needs("asset.read"), |r| assets::get_asset(r.lib, r.param(0))),
    route(Method::GET, "/api/assets/:id/ocr", Needs("asset.read"), |r| assets::ocr(r.lib, r.param(0))),
    route(Method::GET, "/api/assets/:id/edits", Needs("asset.edit.get"), |r| edits::get(r.lib, r.param(0))),
    route(Method::PUT, "/api/assets/:id/edits", Needs("asset.edit.create"), |r| edits::put(r.lib, r.param(0), &r.body)),
    route(Method::DELETE, "/api/assets/:id/edits", Needs("asset.edit.delete"), |r| edits::remove(r.lib, r.param(0))),
    route(Method::GET, "/api/assets/:id/thumbnail", Needs("asset.view"), |r| {
        assets::thumbnail(r.lib, r.param(0), &r.query, &r.conditional)
    }),
    route(Method::GET, "/api/assets/:id/original", Needs("asset.download"), |r| {
        assets::original(r.lib, r.param(0), r.range, &r.conditional)
    }),
    route(Method::PUT, "/api/assets", Needs("asset.update"), |r| assets::update_assets(r.lib, &r.body)),
    route(Method::DELETE, "/api/assets", Needs("asset.delete"), |r| trash::delete_assets(r.lib, &r.body)),
    route(Method::GET, "/api/duplicates", Needs("duplicate.read"), |r| duplicates::list(r.lib)),
    route(Method::POST, "/api/duplicates/resolve", Needs("duplicate.delete"), |r| duplicates::resolve(r.lib, &r.body)),
    route(Method::POST, "/api/trash/empty", Needs("asset.delete"), |r| trash::empty(r.lib)),
    route(Method::POST, "/api/trash/restore", Needs("asset.delete"), |r| trash::restore_all(r.lib)),
    route(Method::POST, "/api/trash/restore/assets", Needs("asset.delete"), |r| trash::restore_assets(r.lib, &r.body)),
    route(Method::GET, "/api/albums", Needs("album.read"), |r| albums::list_albums(r.lib)),
    route(Method::GET, "/api/albums/statistics", Needs("album.statistics"), |r| albums::statistics(r.lib)),
    route(Method::POST, "/api/albums", Needs("album.create"), |r| albums::create_album(r.lib, &r.body)),
    route(Method::GET, "/api/albums/:id", Needs("album.read"), |r| albums::get_album(r.lib, r.param(0))),
    route(Method::PUT, "/api/albums/:id/assets", Needs("albumAsset.create"), |r| {
        albums::album_assets(r.lib, r.param(0), &r.body, true)
    }),
    route(Method::DELETE, "/api/albums/:id/assets", Needs("albumAsset.delete"), |r| {
        albums::album_assets(r.lib, r.param(0), &r.body, false)
    }),
    route(Method::GET, "/api/people", Needs("person.read"), |r| people::list_people(r.lib, &r.query)),
    route(Method::GET, "/api/people/:id", Needs("person.read"), |r| people::get_person(r.lib, r.param(0))),
    route(Method::GET, "/api/people/:id/statistics", Needs("person.statistics"), |r| {
        people::person_statistics(r.lib, r.param(0))
    }),
    route(Method::GET, "/api/tags", Needs("tag.read"), |r| people::list_tags(r.lib)),
    route(Method::PUT, "/api/tags", Needs("tag.create"), |r| people::upsert_tags(r.lib, &r.body)),
    route(Method::PUT, "/api/tags/assets", Needs("tag.asset"), |r| people::tag_assets(r.lib, &r.body)),
    route(Method::GET, "/api/timeline/buckets", Needs("asset.read"), |r| timeline::timeline_buckets(r.lib, &r.query)),
    route(Method::GET, "/api/timeline/bucket", Needs("asset.read"), |r| timeline::timeline_bucket(r.lib, &r.query)),
    route(Method::GET, "/api/map/markers", Needs("map.read"), |r| {
        timeline::map_markers(r.demo.clone(), r.caller.user, &r.query)
    }),
    route(Method::GET, "/api/memories", Needs("memory.read"), |r| timeline::memories(r.lib, &r.query)),
    route(Method::POST, "/api/download/info", Needs("asset.download"), |r| downloads::download_info(r.lib, &r.body)),
    route(Method::POST, "/api/download/archive", Needs("asset.download"), |r| {
        downloads::download_archive(r.demo.clone(), r.caller.user, &r.body)
    }),
];

/// The route `method path` matches, and its `:id` segments.
fn find<'p>(method: &Method, path: &'p str) -> Option<(&'static Route, Vec<&'p str>)> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().filter(|r| r.method == *method).find_map(|route| {
        let pattern: Vec<&str> = route.pattern.split('/').collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (want, have) in pattern.iter().zip(&segments) {
            match *want {
                ":id" => params.push(*have),
                fixed if fixed == *have => {}
                _ => return None,
            }
        }
        Some((route, params))
    })
}

/// Dispatches a request, whose body has been read, to its handler.
pub async fn route_request(demo: &Arc<DemoImmich>, req: Parts, body: Bytes) -> Response<Body> {
    let path = req.uri.path();
    if path != "/api" && !path.starts_with("/api/") {
        return web::answer(&req.method, path);
    }
    let Some((route, params)) = find(&req.method, path) else {
        // Immich's answer for a route it does not have.
        return json_response(404, &json!({ "message": format!("Cannot {} {path}", req.method) }));
    };
    let caller = match users::authenticate(demo, &req, route.access) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let body = if [Method::POST, Method::PUT, Method::DELETE].contains(&req.method) {
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
    let request = Req {
        demo,
        lib: demo.library_of(caller.user),
        caller: &caller,
        params,
        query: query_map(&req),
        body,
        range: req.headers.get("range").and_then(|v| v.to_str().ok()),
        conditional: assets::Conditional {
            if_none_match: req.headers.get("if-none-match").and_then(|v| v.to_str().ok()),
            if_modified_since: req.headers.get("if-modified-since").and_then(|v| v.to_str().ok()),
        },
    };
    (route.handler)(&request)
}

/// The largest request body the demo reads; a larger one is answered 413.
pub const MAX_REQUEST_BODY: usize = 1 << 20;

/// A JSON response.
pub(super) fn json_response(status: u16, value: &Value) -> Response<Body> {
    rendered_json(status, Bytes::from(serde_json::to_vec(value).expect("serializable")))
}

/// A response with JSON already rendered.
pub(super) fn rendered_json(status: u16, body: Bytes) -> Response<Body> {
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

pub(super) fn validation(path: &str, text: &str) -> Response<Body> {
    json_response(
        400,
        &json!({ "message": "Validation failed", "errors": [{ "code": "invalid_value", "path": [path], "message": text }] }),
    )
}

pub(super) fn not_found_access(permission: &str) -> Response<Body> {
    message(400, &format!("Not found or no {permission} access"))
}

pub(super) fn no_content() -> Response<Body> {
    Response::builder().status(204).body(full(Bytes::new())).expect("valid response")
}

pub(super) fn query_map(req: &Parts) -> BTreeMap<String, String> {
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

pub(super) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
