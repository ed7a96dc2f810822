//! Who calls the demo, as Immich decides it: two users (the admin, who owns the synthetic library,
//! and a friend with a library of their own, empty), API keys with permissions, and login
//! sessions whose token comes back as a bearer token, a cookie or a header. Credentials are read
//! in Immich's order — a shared-link key, then a session token, then an API key — and a caller is
//! refused with Immich's own messages.

use super::super::library::{self, Kind, Library};
use super::super::{ADMIN_KEY, Body, DemoImmich, FRIEND_KEY, READONLY_KEY, READONLY_PERMISSIONS};
use super::{json_response, message};
use http::request::Parts;
use hyper::Response;
use serde_json::{Value, json};

/// What a route asks of its caller.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    /// Nothing: no credentials are read.
    Public,
    /// Any valid credentials.
    Authenticated,
    /// Credentials allowed this permission.
    Permission(&'static str),
}

/// A demo user.
pub struct DemoUser {
    /// User id.
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
    /// Login email.
    pub email: &'static str,
    /// Login password.
    pub password: &'static str,
    /// An administrator.
    pub is_admin: bool,
}

/// The demo's users: the admin (index 0, the synthetic library) and a friend (index 1, an empty
/// library of their own).
pub const USERS: [DemoUser; 2] = [
    DemoUser {
        id: library::OWNER_ID,
        name: "Demo Admin",
        email: "admin@demo.immich.test",
        password: "demo-admin-password",
        is_admin: true,
    },
    DemoUser {
        id: "8b7b3d4e-2b7f-4f3e-9c1a-2f1e5d6c7b8a",
        name: "Demo Friend",
        email: "friend@demo.immich.test",
        password: "demo-friend-password",
        is_admin: false,
    },
];

/// An API key of the demo: its secret, whose it is, its name and what it may do.
struct KeyDef {
    secret: &'static str,
    user: usize,
    name: &'static str,
    permissions: &'static [&'static str],
}

const KEYS: [KeyDef; 3] = [
    KeyDef { secret: ADMIN_KEY, user: 0, name: "demo admin", permissions: &["all"] },
    KeyDef { secret: READONLY_KEY, user: 0, name: "demo read-only", permissions: READONLY_PERMISSIONS },
    KeyDef { secret: FRIEND_KEY, user: 1, name: "demo friend", permissions: &["all"] },
];

/// How a caller authenticated.
pub enum Via {
    /// Not at all (a public route).
    Nothing,
    /// With one of the demo's API keys (its index).
    ApiKey(usize),
    /// With a login session's token.
    Session(String),
}

/// An authenticated caller.
pub struct Caller {
    /// Index into [`USERS`].
    pub user: usize,
    /// How.
    pub via: Via,
}

/// The most login sessions kept; a new one past it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

fn header<'a>(req: &'a Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn parameter(req: &Parts, name: &str) -> Option<String> {
    req.uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

fn session_token(req: &Parts) -> Option<String> {
    let cookie = || {
        req.headers.get_all("cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
            cookies.split(';').find_map(|pair| pair.trim().strip_prefix("immich_access_token=").map(str::to_string))
        })
    };
    let bearer = header(req, "authorization").and_then(|a| {
        let (scheme, token) = a.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    });
    header(req, "x-immich-user-token")
        .or_else(|| header(req, "x-immich-session-token"))
        .map(str::to_string)
        .or_else(|| parameter(req, "sessionKey"))
        .or(bearer)
        .or_else(cookie)
}

/// The caller of a request to a route with `access`, or Immich's refusal.
pub fn authenticate(demo: &DemoImmich, req: &Parts, access: Access) -> Result<Caller, Response<Body>> {
    let (Access::Permission(_) | Access::Authenticated) = access else {
        return Ok(Caller { user: 0, via: Via::Nothing });
    };
    let caller = if header(req, "x-immich-share-key").is_some() || parameter(req, "key").is_some() {
        return Err(message(401, "Invalid share key"));
    } else if let Some(token) = session_token(req) {
        let user = demo.sessions.lock().get(&token).copied().ok_or_else(|| message(401, "Invalid user token"))?;
        Caller { user, via: Via::Session(token) }
    } else if let Some(key) = header(req, "x-api-key").map(str::to_string).or_else(|| parameter(req, "apiKey")) {
        let index = KEYS.iter().position(|k| k.secret == key).ok_or_else(|| message(401, "Invalid API key"))?;
        Caller { user: KEYS[index].user, via: Via::ApiKey(index) }
    } else {
        return Err(message(401, "Authentication required"));
    };
    if let (Access::Permission(permission), Via::ApiKey(index)) = (access, &caller.via) {
        let allowed = KEYS[*index].permissions;
        if !(allowed.contains(&"all") || allowed.contains(&permission)) {
            return Err(message(403, &format!("Missing required permission: {permission}")));
        }
    }
    Ok(caller)
}

/// `POST /api/auth/login`: a session for the right email and password.
pub fn login(demo: &DemoImmich, body: &Value) -> Response<Body> {
    let (email, password) = (body["email"].as_str().unwrap_or(""), body["password"].as_str().unwrap_or(""));
    let Some(index) = USERS.iter().position(|u| u.email.eq_ignore_ascii_case(email) && u.password == password) else {
        return message(401, "Incorrect email or password");
    };
    let token = hex::encode(rand::random::<[u8; 24]>());
    {
        let mut sessions = demo.sessions.lock();
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.keys().next().cloned()
        {
            sessions.remove(&oldest);
        }
        sessions.insert(token.clone(), index);
    }
    let user = &USERS[index];
    let body = json!({
        "accessToken": token, "userId": user.id, "userEmail": user.email, "name": user.name,
        "isAdmin": user.is_admin, "profileImagePath": "", "shouldChangePassword": false, "isOnboarded": true,
    });
    let mut response = json_response(201, &body);
    for cookie in [
        format!("immich_access_token={token}; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax"),
        "immich_auth_type=password; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax".to_string(),
        "immich_is_authenticated=true; Path=/; Max-Age=34560000; SameSite=Lax".to_string(),
    ] {
        response.headers_mut().append("set-cookie", cookie.parse().expect("a valid cookie"));
    }
    response
}

/// `POST /api/auth/logout`: ends the session.
pub fn logout(demo: &DemoImmich, caller: &Caller) -> Response<Body> {
    if let Via::Session(token) = &caller.via {
        demo.sessions.lock().remove(token);
    }
    json_response(200, &json!({ "successful": true, "redirectUri": "/auth/login?autoLaunch=0" }))
}

/// `GET /api/users/me`.
pub fn me(caller: &Caller, lib: &Library) -> Response<Body> {
    let user = &USERS[caller.user];
    let mut body = library::owner_admin_json(super::server::usage(lib).0);
    body["id"] = json!(user.id);
    body["name"] = json!(user.name);
    body["email"] = json!(user.email);
    body["isAdmin"] = json!(user.is_admin);
    json_response(200, &body)
}

/// `GET /api/api-keys/me`: the key the caller used (a session is no key).
pub fn api_key_me(caller: &Caller) -> Response<Body> {
    let Via::ApiKey(index) = caller.via else {
        return message(403, "Not authenticated with an API key");
    };
    let key = &KEYS[index];
    json_response(
        200,
        &json!({
            "id": library::id(Kind::ApiKey, index as u64), "name": key.name, "permissions": key.permissions,
            "createdAt": "2026-11-01T09:00:00.000Z", "updatedAt": "2026-11-01T09:00:00.000Z"
        }),
    )
}
