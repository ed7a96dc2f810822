//! What the gateway's OAuth tokens carry, and how the resource server (every MCP request in
//! `oauth` mode) checks one. The authorization server that issues them is the top-level `oauth` module;
//! this half is here so that the one authentication boundary needs nothing above it.

use super::vault::Vault;
use crate::bounded::ExpiringMap;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Duration;

/// The scope that lets a client use the tools that read.
pub const SCOPE_READ: &str = "immich:read";
/// The scope that lets a client use every tool, the ones that change Immich too.
pub const SCOPE_WRITE: &str = "immich:write";
/// Every scope the gateway understands, in the order the sign-in page offers them.
pub const SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];

/// Sealed kinds: each opens only as itself.
pub mod kind {
    /// An access token.
    pub const ACCESS: &str = "oauth-access";
    /// A refresh token.
    pub const REFRESH: &str = "oauth-refresh";
    /// An authorization code.
    pub const CODE: &str = "oauth-code";
    /// A dynamically registered client's id.
    pub const CLIENT: &str = "oauth-client";
    /// The sign-in form's pending authorization request.
    pub const CONSENT: &str = "oauth-consent";
}

/// What a person approved for a client: the Immich key made for it and who and what it is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The secret of the Immich API key made at approval, with exactly the approved permissions.
    #[serde(rename = "k")]
    pub key: String,
    /// That key's id in Immich: revocation deletes it.
    #[serde(rename = "ki")]
    pub key_id: String,
    /// The client's id.
    #[serde(rename = "c")]
    pub client_id: String,
    /// The client's name, for logs and the audit trail.
    #[serde(rename = "cn")]
    pub client_name: String,
    /// The person's Immich user id.
    #[serde(rename = "u")]
    pub user_id: String,
    /// Granted scopes, space-separated.
    #[serde(rename = "s")]
    pub scope: String,
    /// The protected resource (RFC 8707) the tokens are for: the gateway's MCP URL.
    #[serde(rename = "r")]
    pub resource: String,
}

/// An access or refresh token's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// What was granted.
    #[serde(rename = "g")]
    pub grant: Grant,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// A unique id (refresh tokens: the rotation's memory of used ones).
    pub jti: String,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh random id (128 bits, hex).
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Why a bearer token was not accepted, as RFC 6750 words it to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of this gateway's, or tampered with.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Issued for another resource.
    WrongAudience,
    /// Its grant was revoked here.
    Revoked,
}

impl TokenError {
    /// The refusal's message.
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Invalid => "invalid access token: not issued by this gateway, or altered",
            TokenError::Expired => "expired access token: refresh it or sign in again",
            TokenError::WrongAudience => "access token for another resource (RFC 8707): request one for this server",
            TokenError::Revoked => "revoked access token: sign in again",
        }
    }
}

/// Grants revoked on this replica (by their Immich key's id), remembered until their last access
/// token expires. Other replicas learn of it from Immich, whose key is gone: calls then fail with
/// Immich's refusal, and the refresh is refused.
fn revoked() -> &'static ExpiringMap<String, ()> {
    static REVOKED: OnceLock<ExpiringMap<String, ()>> = OnceLock::new();
    REVOKED.get_or_init(|| ExpiringMap::new(100_000))
}

/// Refuses the access tokens of the grant whose key is `key_id` from now on, for `ttl`.
pub fn mark_revoked(key_id: &str, ttl: Duration) {
    revoked().insert_for(key_id.to_string(), (), ttl);
}

/// The access token `text`, checked: sealed by this gateway as an access token, unexpired, for
/// `resource`.
pub fn verify_access(vault: &Vault, resource: &str, text: &str) -> Result<Token, TokenError> {
    let token: Token = vault.open(kind::ACCESS, text).ok_or(TokenError::Invalid)?;
    if token.exp <= now() {
        return Err(TokenError::Expired);
    }
    if token.grant.resource != resource {
        return Err(TokenError::WrongAudience);
    }
    if revoked().contains(&token.grant.key_id) {
        return Err(TokenError::Revoked);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn grant() -> Grant {
        Grant {
            key: "minted-immich-key".into(),
            key_id: "key-id".into(),
            client_id: "client".into(),
            client_name: "Claude".into(),
            user_id: "user".into(),
            scope: SCOPE_READ.into(),
            resource: "https://photos.example/mcp".into(),
        }
    }

    #[test]
    fn access_tokens_are_checked_for_kind_expiry_and_audience() {
        let vault = Vault::new(Some(b"secret"), &[]);
        let resource = "https://photos.example/mcp";
        let token = Token { grant: grant(), exp: now() + 60, jti: random_id() };
        let access = vault.seal(kind::ACCESS, &token);
        assert_eq!(verify_access(&vault, resource, &access), Ok(token.clone()));
        assert_eq!(verify_access(&vault, "https://other.example/mcp", &access), Err(TokenError::WrongAudience));
        let refresh = vault.seal(kind::REFRESH, &token);
        assert_eq!(verify_access(&vault, resource, &refresh), Err(TokenError::Invalid), "a refresh token is no access");
        let expired = vault.seal(kind::ACCESS, &Token { exp: now() - 1, ..token });
        assert_eq!(verify_access(&vault, resource, &expired), Err(TokenError::Expired));
        assert_eq!(verify_access(&Vault::new(Some(b"other"), &[]), resource, &access), Err(TokenError::Invalid));
        let revoked = Token { grant: Grant { key_id: random_id(), ..grant() }, exp: now() + 60, jti: random_id() };
        mark_revoked(&revoked.grant.key_id, Duration::from_secs(60));
        assert_eq!(verify_access(&vault, resource, &vault.seal(kind::ACCESS, &revoked)), Err(TokenError::Revoked));
    }
}
