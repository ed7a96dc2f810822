//! Where Immich reads credentials from, in the order it prefers them (its `AuthService`): a
//! shared-link key (`x-immich-share-key`, `?key=`), a session token (`x-immich-user-token`,
//! `x-immich-session-token`, `?sessionKey=`, `Authorization: Bearer`, the `immich_access_token`
//! cookie), then an API key (`x-api-key`, `?apiKey=`). Shared-link slugs (`x-immich-share-slug`,
//! `?slug=`) select a link too.

use crate::immich::Credential;
use http::HeaderName;
use percent_encoding::percent_decode_str;
use pingora::http::RequestHeader;

const X_IMMICH_USER_TOKEN: HeaderName = HeaderName::from_static("x-immich-user-token");
const X_IMMICH_SESSION_TOKEN: HeaderName = HeaderName::from_static("x-immich-session-token");
const X_IMMICH_SHARE_KEY: HeaderName = HeaderName::from_static("x-immich-share-key");
const X_IMMICH_SHARE_SLUG: HeaderName = HeaderName::from_static("x-immich-share-slug");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Every header that carries an Immich credential.
const HEADERS: [HeaderName; 7] = [
    X_API_KEY,
    http::header::AUTHORIZATION,
    http::header::COOKIE,
    X_IMMICH_USER_TOKEN,
    X_IMMICH_SESSION_TOKEN,
    X_IMMICH_SHARE_KEY,
    X_IMMICH_SHARE_SLUG,
];

/// Every query parameter that carries an Immich credential.
const PARAMETERS: [&str; 4] = ["apiKey", "key", "sessionKey", "slug"];

/// The session cookie of Immich's web app.
const SESSION_COOKIE: &str = "immich_access_token";

fn header<'a>(req: &'a RequestHeader, name: &HeaderName) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn parameter(req: &RequestHeader, name: &str) -> Option<String> {
    req.uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode_str(value).decode_utf8_lossy().into_owned()).filter(|v| !v.is_empty())
    })
}

fn cookie(req: &RequestHeader, name: &str) -> Option<String> {
    req.headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.trim_matches('"').to_string()).filter(|v| !v.is_empty())
        })
    })
}

/// The bearer token of `Authorization`; `Err` for another scheme.
pub(super) fn bearer(req: &RequestHeader) -> Result<Option<&str>, &'static str> {
    let Some(value) = header(req, &http::header::AUTHORIZATION) else { return Ok(None) };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err("Authorization must be `Bearer <token>`"),
    }
}

/// A gateway key: `X-API-Key`, or `Authorization: Bearer <key>`.
pub(super) fn gateway_key(req: &RequestHeader) -> Option<&str> {
    header(req, &X_API_KEY).or_else(|| bearer(req).ok().flatten())
}

/// The Immich credential a passthrough caller presents, as Immich would pick it; `Ok(None)` when
/// there is none, `Err` when one is there but cannot be used.
pub(super) fn caller_credential(req: &RequestHeader) -> Result<Option<Credential>, &'static str> {
    let unusable = "a credential is not a valid header value";
    let shared = header(req, &X_IMMICH_SHARE_KEY).map(str::to_string).or_else(|| parameter(req, "key"));
    if let Some(key) = shared {
        return Credential::shared_link(&key).map(Some).ok_or(unusable);
    }
    let session = header(req, &X_IMMICH_USER_TOKEN)
        .or_else(|| header(req, &X_IMMICH_SESSION_TOKEN))
        .map(str::to_string)
        .or_else(|| parameter(req, "sessionKey"));
    let session = match session {
        Some(token) => Some(token),
        None => bearer(req)?.map(str::to_string).or_else(|| cookie(req, SESSION_COOKIE)),
    };
    if let Some(token) = session {
        return Credential::session(&token).map(Some).ok_or(unusable);
    }
    let key = header(req, &X_API_KEY).map(str::to_string).or_else(|| parameter(req, "apiKey"));
    key.map(|k| Credential::api_key(&k).ok_or(unusable)).transpose()
}

/// Removes every credential carrier from a request bound for Immich: the headers, and the query
/// parameters (the rest of the query stays as it was).
pub(super) fn strip(req: &mut RequestHeader) -> pingora::Result<()> {
    for name in &HEADERS {
        req.remove_header(name);
    }
    let Some(query) = req.uri.query() else { return Ok(()) };
    let kept: Vec<&str> =
        query.split('&').filter(|pair| !PARAMETERS.contains(&pair.split_once('=').map_or(*pair, |(k, _)| k))).collect();
    if kept.len() == query.split('&').count() {
        return Ok(());
    }
    let path = req.uri.path();
    let target = if kept.is_empty() { path.to_string() } else { format!("{path}?{}", kept.join("&")) };
    use pingora::prelude::OrErr;
    let uri = target.parse::<http::Uri>().or_err(pingora::ErrorType::InvalidHTTPHeader, "stripped query")?;
    req.set_uri(uri);
    Ok(())
}
