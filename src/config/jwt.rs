//! `[jwt]`: bearer tokens from an external identity provider (`[auth] mode = "jwt"`).

use super::units::Dur;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Algorithms a provider's tokens may be signed with. Symmetric ones (HS*) are never accepted —
/// their key would have to be shared, and a published public key used as an HMAC secret is the
/// classic forgery — and neither is `none`.
pub const JWT_ALGORITHMS: [&str; 9] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// `[jwt]`: where the provider's keys are, what a token must say, and which Immich key each
/// person acts with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The provider's issuer (`iss`); empty: the first of `[mcp] authorization_servers`
    /// (`OAUTH_ISSUER_URL`).
    pub issuer: String,
    /// The provider's JWKS (its public keys): https, or http on a loopback address.
    pub jwks_url: String,
    /// The audience (`aud`) tokens must name; empty: the gateway's MCP URL (`[mcp] public_url`
    /// and `/mcp`).
    pub audience: String,
    /// Signature algorithms accepted (of [`JWT_ALGORITHMS`]).
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Dur,
    /// The claim that names the person: `sub`, `email`, `preferred_username`, or a list claim such
    /// as `groups` (then any of its values may match).
    pub claim: String,
    /// How often the JWKS is fetched again (besides on a key id it does not hold).
    pub jwks_refresh: Dur,
    /// The claim's values and the Immich key each acts with; the first match wins.
    pub users: Vec<JwtUser>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            issuer: String::new(),
            jwks_url: String::new(),
            audience: String::new(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            leeway: Dur::secs(30),
            claim: "sub".into(),
            jwks_refresh: Dur::secs(600),
            users: Vec::new(),
        }
    }
}

/// One person (or group) and their Immich key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtUser {
    /// The claim's value (`alice`, `alice@example.com`, a group's name).
    #[serde(rename = "match")]
    pub matches: String,
    /// Their Immich API key.
    #[serde(default)]
    pub immich_api_key: Option<String>,
    /// A file holding it.
    #[serde(default)]
    pub immich_api_key_file: Option<PathBuf>,
}

/// Whether `url` may be fetched for keys: https, or http to a loopback address.
fn fetchable(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else { return false };
    match uri.scheme_str() {
        Some("https") => uri.host().is_some(),
        Some("http") => matches!(uri.host(), Some("127.0.0.1" | "[::1]" | "localhost")),
        _ => false,
    }
}

impl JwtConfig {
    /// Problems of a `jwt`-mode configuration, with their dotted keys.
    pub(super) fn validate(&self, issuer: &str, audience: &str, problems: &mut Vec<(String, String)>) {
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                problems.push((key.to_string(), message));
            }
        };
        check(!issuer.is_empty(), "jwt.issuer", "jwt mode needs the provider's issuer (or OAUTH_ISSUER_URL)".into());
        check(
            fetchable(&self.jwks_url),
            "jwt.jwks_url",
            format!("{:?} must be the provider's JWKS URL: https, or http on a loopback address", self.jwks_url),
        );
        check(
            !audience.is_empty(),
            "jwt.audience",
            "set the audience tokens must name, or [mcp] public_url (the audience is then its /mcp)".into(),
        );
        check(!self.algorithms.is_empty(), "jwt.algorithms", "needs at least one algorithm".into());
        for algorithm in &self.algorithms {
            check(
                JWT_ALGORITHMS.contains(&algorithm.as_str()),
                "jwt.algorithms",
                format!(
                    "{algorithm:?} is not accepted (never none or HS*, whose key would be shared); use {}",
                    JWT_ALGORITHMS.join(", ")
                ),
            );
        }
        check(!self.claim.trim().is_empty(), "jwt.claim", "must name a claim".into());
        check(!self.jwks_refresh.0.is_zero(), "jwt.jwks_refresh", "must be greater than zero".into());
        check(
            !self.users.is_empty(),
            "jwt.users",
            "jwt mode needs [[jwt.users]] entries: each person's claim value and Immich key".into(),
        );
        for (n, user) in self.users.iter().enumerate() {
            check(
                user.immich_api_key.is_some() != user.immich_api_key_file.is_some(),
                &format!("jwt.users[{n}]"),
                "set one of immich_api_key or immich_api_key_file".into(),
            );
        }
    }
}
