//! What the demo answers outside `/api`, as Immich does: `/.well-known/immich`, where the mobile
//! app learns the API's path, and the web app — here one small page, served for every other
//! path, as Immich serves its single-page app's index for any route it does not know.

use super::{Body, json_response};
use hyper::Response;
use serde_json::json;

/// The demo's web app.
const PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Immich (demo)</title></head>\n\
<body><h1>Immich demo</h1><p id=\"status\">The demo Immich's web app, reached through the gateway.</p></body></html>\n";

/// Immich's answer for `path` outside `/api`.
pub fn answer(method: &http::Method, path: &str) -> Response<Body> {
    if method != http::Method::GET && method != http::Method::HEAD {
        return json_response(404, &json!({ "message": format!("Cannot {method} {path}") }));
    }
    if path == "/.well-known/immich" {
        return json_response(200, &json!({ "api": { "endpoint": "/api" } }));
    }
    let mut response = Response::new(super::full(PAGE));
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert("content-length", PAGE.len().into());
    response
}
