//! `/oauth/authorize`: the authorization request is checked and the sign-in page shown (GET);
//! the page's form signs the person in to Immich, makes the grant's Immich key and sends an
//! authorization code back to the client (POST).
//!
//! The pending request travels in the form, sealed (nothing is stored), bound to a random value
//! also set as a `SameSite=Strict` cookie: a form posted from another site, or a sealed request
//! lifted from one browser into another, is refused (CSRF).

use super::clients::{self, Client};
use super::page::{self, SignIn};
use super::{Reply, Request, Server, scopes};
use crate::auth::oauth::{Grant, SCOPE_READ, SCOPE_WRITE, kind, now, random_id};
use crate::immich::{Credential, ImmichError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The sign-in form's cookie (its value is the pending request's CSRF binding).
pub const CSRF_COOKIE: &str = "gw_oauth_csrf";
/// How long the sign-in page may stay open.
const FORM_TTL: u64 = 600;
/// How long an authorization code lives.
pub(super) const CODE_TTL: u64 = 60;

/// The authorization request, checked, carried by the form.
#[derive(Serialize, Deserialize)]
struct Pending {
    #[serde(rename = "c")]
    client_id: String,
    #[serde(rename = "n")]
    client_name: String,
    #[serde(rename = "r")]
    redirect_uri: String,
    #[serde(rename = "st")]
    state: Option<String>,
    #[serde(rename = "ch")]
    challenge: String,
    #[serde(rename = "s")]
    scopes: Vec<String>,
    exp: u64,
    #[serde(rename = "x")]
    csrf: String,
}

/// An authorization code's content.
#[derive(Serialize, Deserialize)]
pub(super) struct Code {
    #[serde(rename = "g")]
    pub grant: Grant,
    #[serde(rename = "r")]
    pub redirect_uri: String,
    #[serde(rename = "ch")]
    pub challenge: String,
    pub exp: u64,
    pub jti: String,
}

/// Where the person goes back to with the outcome, once the client and its redirect URI are
/// known good (RFC 6749 §4.1.2.1: errors before that are shown, never redirected).
struct Back<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    issuer: String,
}

impl Back<'_> {
    fn with(&self, params: &[(&str, &str)]) -> Reply {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = self.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &self.issuer);
        let separator = if self.redirect_uri.contains('?') { '&' } else { '?' };
        Reply::redirect(format!("{}{separator}{}", self.redirect_uri, query.finish()))
    }

    fn error(&self, error: &str, description: &str) -> Reply {
        self.with(&[("error", error), ("error_description", description)])
    }
}

/// Whether `challenge` can be an S256 code challenge: 43 base64url characters.
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `presented` names this server's resource (RFC 8707), a trailing slash aside.
pub(super) fn is_our_resource(server: &Server<'_>, presented: &str) -> bool {
    presented.trim_end_matches('/') == server.resource()
}

/// GET: checks the request and shows the sign-in page.
pub async fn page(server: &Server<'_>, req: &Request<'_>) -> Reply {
    let unusable = |message: &str| page::problem(400, "This sign-in link does not work", message);
    let params = match super::form(req.query.as_bytes()) {
        Ok(params) => params,
        Err(problem) => return unusable(&problem),
    };
    let get = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let client = match get("client_id") {
        Some(id) => clients::find(server, id).await,
        None => Err("the request names no client_id".into()),
    };
    let client = match client {
        Ok(client) => client,
        Err(why) => return unusable(&format!("The app that sent you here is not known to this gateway: {why}.")),
    };
    let redirect_uri = match (get("redirect_uri"), client.redirect_uris.as_slice()) {
        (Some(uri), _) if clients::redirect_allowed(&client, uri) => uri.to_string(),
        (None, [only]) => only.clone(),
        (Some(_), _) => {
            return unusable("The app's redirect_uri is not one it registered, so you cannot be sent back.");
        }
        (None, _) => return unusable("The app did not say where to send you back (redirect_uri)."),
    };
    let back = Back { redirect_uri: &redirect_uri, state: get("state"), issuer: server.issuer() };
    if get("response_type") != Some("code") {
        return back.error("unsupported_response_type", "only response_type=code is supported");
    }
    let Some(challenge) = get("code_challenge") else {
        return back.error("invalid_request", "code_challenge is required (PKCE with S256)");
    };
    if get("code_challenge_method") != Some("S256") {
        return back.error("invalid_request", "code_challenge_method must be S256");
    }
    if !valid_challenge(challenge) {
        return back.error("invalid_request", "code_challenge must be 43 base64url characters (S256)");
    }
    if let Some(resource) = get("resource")
        && !is_our_resource(server, resource)
    {
        return back.error("invalid_target", &format!("this server issues tokens for {} only", server.resource()));
    }
    let scopes = match scopes::parse(get("scope")) {
        Ok(scopes) => scopes,
        Err(problem) => return back.error("invalid_scope", &problem),
    };
    let pending = Pending {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        redirect_uri: redirect_uri.clone(),
        state: get("state").map(str::to_string),
        challenge: challenge.to_string(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        exp: now() + FORM_TTL,
        csrf: random_id(),
    };
    let mut reply = show(server, &pending, 200, "", None);
    let secure = if server.issuer().starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!(
        "{CSRF_COOKIE}={}; Path={}/oauth/authorize; Max-Age={FORM_TTL}; HttpOnly; SameSite=Strict{secure}",
        pending.csrf, server.config.server.path_prefix
    );
    reply.headers.push(("set-cookie", cookie));
    reply
}

fn show(server: &Server<'_>, pending: &Pending, status: u16, email: &str, problem: Option<&str>) -> Reply {
    let host = pending.redirect_uri.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string));
    let consent = server.vault.seal(kind::CONSENT, pending);
    let action = server.endpoint_url(super::Endpoint::Authorize);
    let page = SignIn {
        client: &pending.client_name,
        redirect_host: host.as_deref().unwrap_or(&pending.redirect_uri),
        consent: &consent,
        offers_write: pending.scopes.iter().any(|s| s == SCOPE_WRITE),
        email,
        problem,
        action: &action,
    };
    page::sign_in(status, &page)
}

/// POST: the form. Signs the person in, makes the key, and sends the code back.
pub async fn submit(server: &Server<'_>, req: &Request<'_>) -> Reply {
    let expired = || {
        page::problem(
            400,
            "This sign-in page has expired",
            "Sign-in pages last 10 minutes and must be used in the browser that opened them (with cookies on). \
             Start again from the app.",
        )
    };
    if !req.content_type.starts_with("application/x-www-form-urlencoded") {
        return page::problem(415, "Not a sign-in form", "The sign-in form must be posted as a web form.");
    }
    let Ok(fields) = super::form(req.body) else { return expired() };
    let field = |name: &str| fields.get(name).map(|v| v.trim()).unwrap_or_default();
    let Some(pending) = server.vault.open::<Pending>(kind::CONSENT, field("consent")) else { return expired() };
    let same_browser = req.csrf_cookie.is_some_and(|c| bool::from(c.as_bytes().ct_eq(pending.csrf.as_bytes())));
    if pending.exp <= now() || !same_browser {
        return expired();
    }
    let back = Back { redirect_uri: &pending.redirect_uri, state: pending.state.as_deref(), issuer: server.issuer() };
    match field("action") {
        "deny" => return back.error("access_denied", "the person did not allow access"),
        "approve" => {}
        _ => return show(server, &pending, 400, field("email"), Some("Choose Allow or Deny.")),
    }
    let scopes: Vec<&str> = match field("access") {
        "write" if pending.scopes.iter().any(|s| s == SCOPE_WRITE) => vec![SCOPE_READ, SCOPE_WRITE],
        "read" | "" => vec![SCOPE_READ],
        _ => return show(server, &pending, 400, field("email"), Some("Choose what the app may do.")),
    };
    let client = Client { id: pending.client_id.clone(), name: pending.client_name.clone(), redirect_uris: vec![] };
    match sign_in_and_grant(server, req, &fields, &client, &scopes).await {
        Ok(grant) => {
            let code = Code {
                grant,
                redirect_uri: pending.redirect_uri.clone(),
                challenge: pending.challenge.clone(),
                exp: now() + CODE_TTL,
                jti: random_id(),
            };
            tracing::info!(client = %client.name, user = %code.grant.user_id, scope = %code.grant.scope, "oauth grant approved");
            back.with(&[("code", &server.vault.seal(kind::CODE, &code))])
        }
        Err((status, problem)) => show(server, &pending, status, field("email"), Some(&problem)),
    }
}

/// Signs the person in (password, or a pasted API key), makes the grant's Immich key with the
/// permissions of `scopes`, and signs the session out again.
async fn sign_in_and_grant(
    server: &Server<'_>,
    req: &Request<'_>,
    fields: &HashMap<String, String>,
    client: &Client,
    scopes: &[&str],
) -> Result<Grant, (u16, String)> {
    let field = |name: &str| fields.get(name).map(|v| v.trim()).unwrap_or_default();
    let (email, password, pasted) = (field("email"), fields.get("password").map_or("", |p| p), field("api_key"));
    let oauth = &server.config.oauth;
    if !server.state.throttle.allows(req.client_ip, email, oauth.login_attempts) {
        return Err((429, "Too many failed sign-ins. Wait a few minutes, then try again.".into()));
    }
    let unreachable = |e: ImmichError| (502, format!("Immich could not be asked: {e}"));
    let (owner, session, user_id) = if !pasted.is_empty() {
        let key = Credential::api_key(pasted).ok_or((400, "That is not an Immich API key.".to_string()))?;
        match server.immich.user(&key).await {
            Ok(user) => (key, false, user.id),
            Err(ImmichError::Unauthorized(_)) => {
                server.state.throttle.failed(req.client_ip, email, oauth.login_window.0);
                return Err((401, "Immich did not accept that API key.".into()));
            }
            Err(ImmichError::Forbidden(_)) => {
                return Err((403, "That API key may not read who it belongs to (user.read); use another.".into()));
            }
            Err(e) => return Err(unreachable(e)),
        }
    } else if email.is_empty() || password.is_empty() {
        return Err((400, "Enter your Immich email and password, or an API key.".into()));
    } else {
        match server.immich.login(email, password).await {
            Ok(login) => {
                let token = Credential::session(&login.access_token)
                    .ok_or((502, "Immich answered the sign-in with an unusable token.".to_string()))?;
                (token, true, login.user_id)
            }
            // Immich's own wording does not say which of the two was wrong; neither does this.
            Err(ImmichError::Unauthorized(_) | ImmichError::Invalid(_)) => {
                server.state.throttle.failed(req.client_ip, email, oauth.login_window.0);
                return Err((401, "Email or password is incorrect.".into()));
            }
            Err(e) => return Err(unreachable(e)),
        }
    };
    let permissions = scopes::permissions(scopes, &server.config.tools);
    let name = format!("{} (MCP, {})", client.name, crate::calendar::date(now() as i64));
    let made = server.immich.create_api_key(&owner, &name, &permissions).await;
    if session && let Err(e) = server.immich.logout(&owner).await {
        tracing::warn!(error = %e, "could not sign the Immich session of an OAuth sign-in out");
    }
    let key = made.map_err(|e| match e {
        ImmichError::Forbidden(m) | ImmichError::Invalid(m) if !session => (
            403,
            format!(
                "That API key cannot make a key for this app ({m}). Use a key with the apiKey.create permission \
                 and every permission you grant, or sign in with your password."
            ),
        ),
        e => (502, format!("Immich did not make the app's key: {e}")),
    })?;
    Ok(Grant {
        key: key.secret,
        key_id: key.id,
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        user_id,
        scope: scopes.join(" "),
        resource: server.resource(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_s256_sized() {
        assert!(valid_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!valid_challenge("short") && !valid_challenge(&"a".repeat(44)));
        assert!(!valid_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"), "base64url only");
    }

    #[test]
    fn outcomes_go_back_with_state_and_issuer() {
        let back = Back { redirect_uri: "http://127.0.0.1:9/cb?x=1", state: Some("s&t"), issuer: "https://gw".into() };
        let reply = back.error("access_denied", "no");
        let location = &reply.headers.iter().find(|(n, _)| *n == "location").unwrap().1;
        assert_eq!(
            location,
            "http://127.0.0.1:9/cb?x=1&error=access_denied&error_description=no&state=s%26t&iss=https%3A%2F%2Fgw"
        );
    }
}
