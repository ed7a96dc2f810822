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
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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

/// An API key of the demo: its id, secret, whose it is, its name and what it may do.
#[derive(Debug)]
pub struct DemoKey {
    id: String,
    secret: String,
    user: usize,
    name: String,
    permissions: Vec<String>,
    created: String,
}

impl DemoKey {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "permissions": self.permissions,
            "createdAt": self.created, "updatedAt": self.created
        })
    }

    fn allows(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == "all" || p == permission)
    }
}

/// The keys every demo starts with.
const KEYS: [(&str, usize, &str, &[&str]); 3] = [
    (ADMIN_KEY, 0, "demo admin", &["all"]),
    (READONLY_KEY, 0, "demo read-only", READONLY_PERMISSIONS),
    (FRIEND_KEY, 1, "demo friend", &["all"]),
];

/// The most API keys kept; creating one past it is refused.
const MAX_KEYS: usize = 10_000;

/// The demo's API keys by secret: the standing ones, and those made with `POST /api/api-keys`.
pub fn initial_keys() -> HashMap<String, Arc<DemoKey>> {
    KEYS.iter()
        .enumerate()
        .map(|(n, (secret, user, name, permissions))| {
            let key = DemoKey {
                id: library::id(Kind::ApiKey, n as u64),
                secret: secret.to_string(),
                user: *user,
                name: name.to_string(),
                permissions: permissions.iter().map(|p| p.to_string()).collect(),
                created: "2026-11-01T09:00:00.000Z".into(),
            };
            (key.secret.clone(), Arc::new(key))
        })
        .collect()
}

/// How a caller authenticated.
pub enum Via {
    /// Not at all (a public route).
    Nothing,
    /// With an API key.
    ApiKey(Arc<DemoKey>),
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
        let key = demo.api_keys.lock().get(&key).cloned().ok_or_else(|| message(401, "Invalid API key"))?;
        Caller { user: key.user, via: Via::ApiKey(key) }
    } else {
        return Err(message(401, "Authentication required"));
    };
    if let (Access::Permission(permission), Via::ApiKey(key)) = (access, &caller.via)
        && !key.allows(permission)
    {
        return Err(message(403, &format!("Missing required permission: {permission}")));
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
    match &caller.via {
        Via::ApiKey(key) => json_response(200, &key.json()),
        _ => message(403, "Not authenticated with an API key"),
    }
}

/// `GET /api/api-keys`: the caller's keys.
pub fn list_api_keys(demo: &DemoImmich, caller: &Caller) -> Response<Body> {
    let keys = demo.api_keys.lock();
    let mut mine: Vec<&Arc<DemoKey>> = keys.values().filter(|k| k.user == caller.user).collect();
    mine.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
    json_response(200, &Value::Array(mine.iter().map(|k| k.json()).collect()))
}

/// `POST /api/api-keys`: a new key for the caller, with no permission its creator lacks (a
/// session has them all).
pub fn create_api_key(demo: &DemoImmich, caller: &Caller, body: &Value) -> Response<Body> {
    let requested: Option<Vec<String>> = body["permissions"]
        .as_array()
        .filter(|p| !p.is_empty())
        .and_then(|p| p.iter().map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string)).collect());
    let Some(permissions) = requested else {
        return super::validation("permissions", "permissions must contain at least 1 elements");
    };
    if let Via::ApiKey(creator) = &caller.via
        && !permissions
            .iter()
            .all(|p| creator.allows(p) && (p != "all" || creator.permissions.iter().any(|c| c == "all")))
    {
        return message(400, "Cannot grant permissions you do not have");
    }
    let mut keys = demo.api_keys.lock();
    if keys.len() >= MAX_KEYS {
        return message(400, "Too many API keys");
    }
    let key = DemoKey {
        id: uuid_v4(),
        secret: base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, rand::random::<[u8; 32]>()),
        user: caller.user,
        name: body["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("API Key").to_string(),
        permissions,
        created: library::iso(super::now()),
    };
    let reply = json!({ "apiKey": key.json(), "secret": key.secret });
    keys.insert(key.secret.clone(), Arc::new(key));
    json_response(201, &reply)
}

/// `DELETE /api/api-keys/:id`: removes one of the caller's keys.
pub fn delete_api_key(demo: &DemoImmich, caller: &Caller, id: &str) -> Response<Body> {
    let mut keys = demo.api_keys.lock();
    let found = keys.iter().find(|(_, k)| k.id == id && k.user == caller.user).map(|(secret, _)| secret.clone());
    match found {
        Some(secret) => {
            keys.remove(&secret);
            super::no_content()
        }
        None => message(400, "API Key not found"),
    }
}

/// A random version-4 UUID, as Immich gives new rows.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// `GET /api/partners?direction=`: the admin shares their library with the friend. As Immich's
/// partner service reads it, `shared-by` lists those the caller shares with (the admin's: the
/// friend) and `shared-with` those who share with the caller (the friend's: the admin).
pub fn partners(caller: &Caller, query: &BTreeMap<String, String>) -> Response<Body> {
    let other = match (query.get("direction").map(String::as_str), caller.user) {
        (Some("shared-by"), 0) => Some(1),
        (Some("shared-with"), 1) => Some(0),
        (Some("shared-with" | "shared-by"), _) => None,
        _ => return super::validation("direction", "Invalid option: expected one of \"shared-by\"|\"shared-with\""),
    };
    let listed: Vec<Value> = other
        .map(|n| {
            let user = &USERS[n];
            json!({ "id": user.id, "name": user.name, "email": user.email, "profileImagePath": "",
                    "avatarColor": if n == 0 { "orange" } else { "green" }, "profileChangedAt": library::CREATED_AT,
                    "inTimeline": true })
        })
        .into_iter()
        .collect();
    json_response(200, &Value::Array(listed))
}
