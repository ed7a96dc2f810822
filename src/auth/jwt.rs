//! `jwt` mode: bearer JWTs from an external identity provider (Authelia, Authentik, Keycloak,
//! Entra, …), checked with `jsonwebtoken` against the provider's JWKS: signature by a key the
//! provider publishes, an allowed algorithm (never `none` or HS*), issuer, audience, `exp` and
//! `nbf` with a small leeway. A claim then names the person, and `[[jwt.users]]` the Immich key
//! they act with.
//!
//! The JWKS is fetched before the first token is checked, again every `jwks_refresh`, and at once
//! for a key id it does not hold (at most every 30 seconds, so tokens with made-up key ids cannot
//! make the gateway hammer the provider).

use crate::config::JwtConfig;
use crate::immich::Credential;
use arc_swap::ArcSwap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The least time between two fetches of the JWKS caused by unknown key ids.
const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// The largest JWKS read.
const MAX_JWKS: usize = 1024 * 1024;

/// The provider's keys, by key id, as last fetched.
#[derive(Default)]
struct Keys {
    by_id: HashMap<String, DecodingKey>,
    /// A key published without an id (used for tokens without one).
    unnamed: Option<DecodingKey>,
    fetched: Option<Instant>,
}

/// When the JWKS was last fetched for any reason, and for a key id not held.
#[derive(Default)]
struct Gates {
    attempt: Option<Instant>,
    unknown: Option<Instant>,
}

/// Checks the provider's tokens (see the module documentation).
pub struct JwtVerifier {
    /// One set of checks per accepted algorithm (jsonwebtoken wants every algorithm of a
    /// validation to fit the key), made once.
    validations: Vec<(Algorithm, Validation)>,
    claim: String,
    users: Vec<(String, Credential)>,
    jwks_url: String,
    refresh: Duration,
    keys: ArcSwap<Keys>,
    gates: Mutex<Gates>,
    http: reqwest::Client,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("jwks_url", &self.jwks_url).finish_non_exhaustive()
    }
}

/// Why a JWT was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not a good token (the message says why); the client should get another.
    Invalid(&'static str),
    /// A good token whose person has no Immich key here.
    NoKey,
}

impl JwtVerifier {
    /// A verifier for `config`, whose issuer and audience are already resolved, with each
    /// user's Immich key read.
    pub fn new(config: &JwtConfig, issuer: &str, audience: &str, users: Vec<(String, Credential)>) -> JwtVerifier {
        let validations = config
            .algorithms
            .iter()
            .filter_map(|a| a.parse::<Algorithm>().ok())
            .map(|algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.leeway = config.leeway.0.as_secs();
                validation.validate_nbf = true;
                validation.set_issuer(&[issuer]);
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                (algorithm, validation)
            })
            .collect();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(crate::immich::https_client_config())
            .build()
            .expect("a preconfigured TLS client always builds");
        JwtVerifier {
            validations,
            claim: config.claim.clone(),
            users,
            jwks_url: config.jwks_url.clone(),
            refresh: config.jwks_refresh.0,
            keys: ArcSwap::from_pointee(Keys::default()),
            gates: Mutex::new(Gates::default()),
            http,
        }
    }

    /// Makes sure the keys can judge `token`: fetches the JWKS when none was fetched yet or it is
    /// older than `jwks_refresh` (at most once a second while the provider does not answer), or
    /// when the token names a key id it does not hold (at most every 30 seconds for those). A
    /// failed fetch keeps the keys held.
    pub async fn prepare(&self, token: &str) {
        let keys = self.keys.load();
        let stale = keys.fetched.is_none_or(|at| at.elapsed() >= self.refresh);
        let unknown = jsonwebtoken::decode_header(token)
            .ok()
            .is_some_and(|h| h.kid.as_ref().map_or(keys.unnamed.is_none(), |kid| !keys.by_id.contains_key(kid)));
        {
            let mut gates = self.gates.lock();
            let now = Instant::now();
            let passed = |at: Option<Instant>, gap: Duration| at.is_none_or(|at| now.duration_since(at) >= gap);
            if stale && passed(gates.attempt, Duration::from_secs(1)) {
                gates.attempt = Some(now);
            } else if unknown && passed(gates.unknown, REFETCH_AFTER) {
                gates.attempt = Some(now);
                gates.unknown = Some(now);
            } else {
                return;
            }
        }
        match self.fetch().await {
            Ok(fetched) => self.keys.store(Arc::new(fetched)),
            Err(problem) => tracing::warn!(url = %self.jwks_url, %problem, "cannot fetch the identity provider's JWKS"),
        }
    }

    async fn fetch(&self) -> Result<Keys, String> {
        let response = self.http.get(&self.jwks_url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_JWKS as u64) {
            return Err(format!("the JWKS is larger than {MAX_JWKS} bytes"));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_JWKS {
            return Err(format!("the JWKS is larger than {MAX_JWKS} bytes"));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Keys { fetched: Some(Instant::now()), ..Keys::default() };
        for jwk in &set.keys {
            // Keys of a kind this build cannot use (or an HMAC secret someone published) are skipped.
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            if matches!(jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)) {
                continue;
            }
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_id.insert(kid.clone(), key);
                }
                None => keys.unnamed = Some(key),
            }
        }
        Ok(keys)
    }

    /// The Immich keys it holds (for the logger to blank).
    pub fn keys(&self) -> impl Iterator<Item = &Credential> {
        self.users.iter().map(|(_, key)| key)
    }

    /// The person `token` names and the Immich key they act with.
    pub fn verify(&self, token: &str) -> Result<(String, Credential), JwtError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| JwtError::Invalid("malformed token (or an algorithm such as none that is never accepted)"))?;
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(JwtError::Invalid("token signed with an algorithm not accepted here ([jwt] algorithms)"));
        };
        let keys = self.keys.load();
        let key = match &header.kid {
            Some(kid) => keys.by_id.get(kid),
            None => keys.unnamed.as_ref(),
        }
        .ok_or(JwtError::Invalid("token signed with a key the identity provider does not publish"))?;
        let claims = jsonwebtoken::decode::<Value>(token, key, validation).map_err(|e| {
            JwtError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "expired token",
                ErrorKind::ImmatureSignature => "token not valid yet (nbf)",
                ErrorKind::InvalidAudience => "token for another audience: ask the provider for one for this server",
                ErrorKind::InvalidIssuer => "token from another issuer",
                ErrorKind::InvalidSignature => "bad token signature",
                ErrorKind::InvalidAlgorithm => "token signed with an algorithm not accepted here ([jwt] algorithms)",
                ErrorKind::MissingRequiredClaim(_) => "token without exp, iss or aud",
                _ => "malformed token",
            })
        })?;
        let values: Vec<&str> = match &claims.claims[&self.claim] {
            Value::String(value) => vec![value.as_str()],
            Value::Array(values) => values.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let found = self.users.iter().find(|(matches, _)| values.contains(&matches.as_str()));
        match found {
            Some((matched, key)) => Ok((format!("{}:{matched}", self.claim), key.clone())),
            None => Err(JwtError::NoKey),
        }
    }
}
