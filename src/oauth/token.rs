//! `/oauth/token` (the authorization-code grant with PKCE, and rotating refresh tokens) and
//! `/oauth/revoke` (RFC 7009: deletes the grant's Immich key, which ends every token of it).

use super::authorize::{CODE_TTL, Code, is_our_resource};
use super::{Reply, Request, Server, clients};
use crate::auth::oauth::{Grant, Token, kind, now, random_id};
use crate::immich::{Credential, ImmichError};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

type Fields = HashMap<String, String>;

fn invalid_grant(description: &str) -> Reply {
    Reply::error(400, "invalid_grant", description)
}

/// Whether `verifier` hashes to `challenge` (RFC 7636 S256), compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(hashed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// The form of a token-endpoint request, or the error to answer.
fn fields(req: &Request<'_>) -> Result<Fields, Reply> {
    if !req.content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(Reply::error(400, "invalid_request", "the body must be application/x-www-form-urlencoded"));
    }
    super::form(req.body).map_err(|problem| Reply::error(400, "invalid_request", &problem))
}

/// `POST /oauth/token`.
pub async fn exchange(server: &Server<'_>, req: &Request<'_>) -> Reply {
    let fields = match fields(req) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let get = |name: &str| fields.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let client = match get("client_id") {
        Some(id) => clients::find(server, id).await,
        None => Err("client_id is required".into()),
    };
    let client = match client {
        Ok(client) => client,
        Err(why) => return Reply::error(401, "invalid_client", &why),
    };
    if let Some(resource) = get("resource")
        && !is_our_resource(server, resource)
    {
        return Reply::error(
            400,
            "invalid_target",
            &format!("this server issues tokens for {} only", server.resource()),
        );
    }
    match get("grant_type") {
        Some("authorization_code") => code_grant(server, &client, &get).await,
        Some("refresh_token") => refresh_grant(server, &client, &get).await,
        Some(other) => Reply::error(400, "unsupported_grant_type", &format!("{other} is not supported")),
        None => Reply::error(400, "invalid_request", "grant_type is required"),
    }
}

async fn code_grant<'f>(
    server: &Server<'_>,
    client: &clients::Client,
    get: &impl Fn(&str) -> Option<&'f str>,
) -> Reply {
    let Some(code) = get("code").and_then(|c| server.vault.open::<Code>(kind::CODE, c)) else {
        return invalid_grant("the authorization code is not valid");
    };
    if code.exp <= now() {
        return invalid_grant("the authorization code has expired: sign in again");
    }
    if code.grant.client_id != client.id {
        return invalid_grant("the authorization code was issued to another client");
    }
    if get("redirect_uri") != Some(code.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri does not match the one of the authorization request");
    }
    if !get("code_verifier").is_some_and(|v| pkce_matches(v, &code.challenge)) {
        return invalid_grant("code_verifier does not match the code_challenge (PKCE)");
    }
    if !server.state.first_use(&code.jti, Duration::from_secs(CODE_TTL + 5)) {
        // RFC 6749 §4.1.2: a code used twice revokes what the first use gave.
        let _ = revoke_grant(server, &code.grant).await; // a failure is logged there
        return invalid_grant("the authorization code was already used; its tokens are revoked");
    }
    tokens(server, code.grant)
}

async fn refresh_grant<'f>(
    server: &Server<'_>,
    client: &clients::Client,
    get: &impl Fn(&str) -> Option<&'f str>,
) -> Reply {
    let Some(token) = get("refresh_token").and_then(|t| server.vault.open::<Token>(kind::REFRESH, t)) else {
        return invalid_grant("the refresh token is not valid");
    };
    if token.exp <= now() {
        return invalid_grant("the refresh token has expired: sign in again");
    }
    if token.grant.client_id != client.id {
        return invalid_grant("the refresh token was issued to another client");
    }
    let mut grant = token.grant;
    if let Some(requested) = get("scope") {
        let granted: Vec<&str> = grant.scope.split(' ').collect();
        if !requested.split(' ').filter(|s| !s.is_empty()).all(|s| granted.contains(&s)) {
            return Reply::error(400, "invalid_scope", "a refresh may narrow the scope, never widen it");
        }
        // The key keeps its permissions; the narrower scope is what the gateway lets through.
        grant.scope = requested.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    }
    let remaining = Duration::from_secs(token.exp.saturating_sub(now()));
    if !server.state.first_use(&token.jti, remaining) {
        // A rotated-out refresh token used again: somebody holds a copy. End the grant.
        let _ = revoke_grant(server, &grant).await; // a failure is logged there
        return invalid_grant("the refresh token was already used; the grant is revoked, sign in again");
    }
    // The person may have deleted the key in Immich: then there is nothing to refresh.
    match Credential::api_key(&grant.key) {
        Some(key) => match server.immich.permissions(&key).await {
            Ok(_) => {}
            Err(ImmichError::Unauthorized(_)) => {
                return invalid_grant("the grant's Immich key was deleted in Immich: sign in again");
            }
            Err(e) => return Reply::error(503, "temporarily_unavailable", &format!("cannot check with Immich: {e}")),
        },
        None => return invalid_grant("the refresh token is not valid"),
    }
    tokens(server, grant)
}

/// An access token and a fresh refresh token for `grant`.
fn tokens(server: &Server<'_>, grant: Grant) -> Reply {
    let oauth = &server.config.oauth;
    let (access_ttl, refresh_ttl) = (oauth.access_token_ttl.0.as_secs(), oauth.refresh_token_ttl.0.as_secs());
    let scope = grant.scope.clone();
    let access = Token { grant: grant.clone(), exp: now() + access_ttl, jti: random_id() };
    let refresh = Token { grant, exp: now() + refresh_ttl, jti: random_id() };
    Reply::json(
        200,
        &serde_json::json!({
            "access_token": server.vault.seal(kind::ACCESS, &access),
            "token_type": "Bearer",
            "expires_in": access_ttl,
            "refresh_token": server.vault.seal(kind::REFRESH, &refresh),
            "scope": scope,
        }),
    )
}

/// Deletes the grant's Immich key (with the key itself): every token of the grant stops working.
async fn revoke_grant(server: &Server<'_>, grant: &Grant) -> Result<(), ImmichError> {
    crate::auth::oauth::mark_revoked(&grant.key_id, server.config.oauth.access_token_ttl.0);
    let Some(key) = Credential::api_key(&grant.key) else { return Ok(()) };
    match server.immich.delete_api_key(&key, &grant.key_id).await {
        // Already gone (deleted in Immich, or revoked before): revoked all the same.
        Ok(()) | Err(ImmichError::Unauthorized(_) | ImmichError::NotFound(_)) => {
            tracing::info!(client = %grant.client_name, user = %grant.user_id, "oauth grant revoked");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, client = %grant.client_name, "could not delete a revoked grant's Immich key");
            Err(e)
        }
    }
}

/// `POST /oauth/revoke` (RFC 7009): an access or refresh token's grant ends. Unknown tokens are
/// answered 200 as well, as the RFC asks.
pub async fn revoke(server: &Server<'_>, req: &Request<'_>) -> Reply {
    let fields = match fields(req) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let Some(text) = fields.get("token").filter(|t| !t.is_empty()) else {
        return Reply::error(400, "invalid_request", "token is required");
    };
    let hint = fields.get("token_type_hint").map(String::as_str);
    let kinds =
        if hint == Some("refresh_token") { [kind::REFRESH, kind::ACCESS] } else { [kind::ACCESS, kind::REFRESH] };
    let Some(token) = kinds.iter().find_map(|k| server.vault.open::<Token>(k, text)) else {
        return Reply::json(200, &serde_json::json!({}));
    };
    if let Some(client_id) = fields.get("client_id")
        && *client_id != token.grant.client_id
    {
        return Reply::error(400, "invalid_grant", "the token was issued to another client");
    }
    match revoke_grant(server, &token.grant).await {
        Ok(()) => Reply::json(200, &serde_json::json!({})),
        Err(e) => Reply::error(503, "temporarily_unavailable", &format!("Immich could not delete the key: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_follows_rfc_7636() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}
