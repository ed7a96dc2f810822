//! Self-contained MCP session ids: a signed token carrying the negotiated protocol version, the
//! client's capabilities and name, issue and expiry times and a random nonce. Any gateway
//! holding the same secret can verify it; no session store is shared between replicas.
//!
//! Format: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>` — only visible ASCII, as the
//! transport requires. Secrets rotate: new ids are signed with the current secret, and ids signed
//! with any listed previous secret still verify until they expire.
//!
//! Revocation (DELETE) is recorded in the process that received it, until the id expires. Another
//! replica keeps accepting a deleted id until its expiry; keep `session_ttl` as short as clients
//! tolerate (they re-initialize on 404).

use crate::bounded::ExpiringMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// The claims inside a session id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Negotiated protocol version.
    pub v: String,
    /// The client's capabilities from `initialize`.
    #[serde(default)]
    pub caps: Value,
    /// The client's name from `clientInfo`.
    #[serde(default)]
    pub client: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Random nonce, unique per session.
    pub n: String,
}

/// Why a session id was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionError {
    /// Malformed or signed with an unknown secret.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Deleted.
    Revoked,
}

/// The secrets of the configuration in force: the current one signs, all of them verify.
#[derive(Clone)]
pub struct SessionSecrets {
    current: Option<Vec<u8>>,
    previous: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSecrets")
            .field("configured", &self.current.is_some())
            .field("previous", &self.previous.len())
            .finish()
    }
}

impl SessionSecrets {
    /// Secrets given directly.
    pub fn new(current: Option<Vec<u8>>, previous: Vec<Vec<u8>>) -> SessionSecrets {
        SessionSecrets { current, previous }
    }

    /// The secrets, as text (for the logger to blank).
    pub fn secrets(&self) -> Vec<String> {
        self.current.iter().chain(&self.previous).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    /// The vault sealing OAuth codes and tokens under these secrets (`auth::vault`).
    pub fn vault(&self) -> crate::auth::vault::Vault {
        let previous: Vec<&[u8]> = self.previous.iter().map(Vec::as_slice).collect();
        crate::auth::vault::Vault::new(self.current.as_deref(), &previous)
    }

    /// Reads `[mcp]` secrets (the file, when configured). Errors name the key.
    pub fn load(config: &crate::config::McpConfig) -> Result<SessionSecrets, (String, String)> {
        let current = match (&config.session_secret, &config.session_secret_file) {
            (Some(secret), _) => Some(secret.as_bytes().to_vec()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ("mcp.session_secret_file".to_string(), format!("cannot read {}: {e}", path.display()))
                })?;
                let secret = text.trim();
                if secret.len() < 32 {
                    return Err((
                        "mcp.session_secret_file".into(),
                        format!("{} must hold at least 32 bytes", path.display()),
                    ));
                }
                Some(secret.as_bytes().to_vec())
            }
            (None, None) => None,
        };
        Ok(SessionSecrets {
            current,
            previous: config.previous_session_secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
        })
    }
}

/// Seals small payloads so that any replica holding the secret can trust them later: session ids
/// and the `requestState` of input-required results. `kind` separates the uses, so a value sealed
/// as one kind never opens as another.
#[derive(Clone)]
pub struct Sealer {
    current: Vec<u8>,
    previous: Vec<Vec<u8>>,
}

impl Sealer {
    /// `v1.<base64url(payload)>.<base64url(HMAC-SHA256(kind, payload))>`.
    pub fn seal(&self, kind: &str, payload: &[u8]) -> String {
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let signature = URL_SAFE_NO_PAD.encode(sign(&self.current, kind, payload.as_bytes()));
        format!("v1.{payload}.{signature}")
    }

    /// The payload of a token sealed as `kind` with the current or a previous secret.
    pub fn open(&self, kind: &str, token: &str) -> Option<Vec<u8>> {
        let mut parts = token.split('.');
        let (Some("v1"), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let signed = std::iter::once(&self.current).chain(&self.previous).any(|key| {
            let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(kind.as_bytes());
            mac.update(b".");
            mac.update(payload.as_bytes());
            mac.verify_slice(&signature).is_ok()
        });
        if signed { URL_SAFE_NO_PAD.decode(payload).ok() } else { None }
    }
}

/// Per-session counters (the transport document's per-session analytics): logged when the
/// session ends.
#[derive(Clone, Debug, Default)]
pub struct SessionStats {
    /// Requests seen.
    pub requests: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Total handling time in seconds.
    pub seconds: f64,
    /// Expiry of the session (Unix seconds).
    pub exp: u64,
    /// Last request (Unix seconds).
    pub last_seen: u64,
}

/// Sessions as this process knows them: verification with the configured secrets (or a random
/// per-process one), revocations, and per-session counters. Lives across reloads; both maps are
/// bounded and forget a session when it would have expired anyway.
pub struct Sessions {
    fallback: Vec<u8>,
    revoked: ExpiringMap<String, ()>,
    stats: ExpiringMap<String, SessionStats>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            fallback: rand::random::<[u8; 32]>().to_vec(),
            revoked: ExpiringMap::new(MAX_REVOKED_SESSIONS),
            stats: ExpiringMap::new(MAX_TRACKED_SESSIONS),
        }
    }
}

/// How many sessions' counters are kept; past it, those closest to expiry are dropped.
const MAX_TRACKED_SESSIONS: usize = 10_000;
/// How many deleted sessions are remembered (until they would have expired anyway).
const MAX_REVOKED_SESSIONS: usize = 100_000;
/// A session unseen for this long no longer counts as active.
const ACTIVE_WINDOW_SECS: u64 = 30 * 60;

/// When a session that expires at `exp` (Unix seconds) expires, on the monotonic clock.
pub fn expiry_instant(exp: u64) -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(exp.saturating_sub(now()))
}

impl Sessions {
    /// The sealer for the configured secrets (or this process's random one).
    pub fn sealer(&self, secrets: &SessionSecrets) -> Sealer {
        Sealer {
            current: secrets.current.clone().unwrap_or_else(|| self.fallback.clone()),
            previous: secrets.previous.clone(),
        }
    }

    /// Mints a session id for a freshly initialized client. What it carries is bounded: the
    /// client's name is cut to 64 characters and its capabilities to [`MAX_CAPS_BYTES`] (past it,
    /// only the capabilities MCP defines are kept, without their detail), so an id always fits in
    /// a header.
    pub fn mint(
        &self,
        secrets: &SessionSecrets,
        version: &str,
        caps: &Value,
        client: &str,
        ttl_secs: u64,
    ) -> (String, Claims) {
        let iat = now();
        let claims = Claims {
            v: version.to_string(),
            caps: bounded_capabilities(caps),
            client: client.chars().take(64).collect(),
            iat,
            exp: iat + ttl_secs,
            n: hex::encode(rand::random::<[u8; 16]>()),
        };
        let id = self.sealer(secrets).seal("session", &serde_json::to_vec(&claims).expect("claims serialize"));
        (id, claims)
    }

    /// Verifies a session id: signature (current or previous secret), expiry, revocation.
    pub fn verify(&self, secrets: &SessionSecrets, id: &str) -> Result<Claims, SessionError> {
        if id.len() > MAX_SESSION_ID_BYTES {
            return Err(SessionError::Invalid);
        }
        let payload = self.sealer(secrets).open("session", id).ok_or(SessionError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| SessionError::Invalid)?;
        if claims.exp <= now() {
            return Err(SessionError::Expired);
        }
        if self.revoked.contains(&claims.n) {
            return Err(SessionError::Revoked);
        }
        Ok(claims)
    }

    /// Revokes a session (in this process) until it would have expired anyway; its counters, as
    /// far as this process served it.
    pub fn revoke(&self, claims: &Claims) -> Option<SessionStats> {
        let until = expiry_instant(claims.exp);
        self.revoked.insert(claims.n.clone(), (), until);
        self.stats.remove(&claims.n)
    }

    /// Counts one request of a session.
    pub fn record(&self, claims: &Claims, seconds: f64, failed: bool) {
        let now = now();
        let updated = self.stats.with(&claims.n, |entry| {
            entry.requests += 1;
            entry.errors += u64::from(failed);
            entry.seconds += seconds;
            entry.last_seen = now;
        });
        if updated.is_none() {
            let entry =
                SessionStats { requests: 1, errors: u64::from(failed), seconds, exp: claims.exp, last_seen: now };
            self.stats.insert(claims.n.clone(), entry, expiry_instant(claims.exp));
        }
    }

    /// Sessions seen recently, not expired and not deleted.
    pub fn active(&self) -> usize {
        let now = now();
        let mut active = 0;
        self.stats.for_each(|s| active += usize::from(s.exp > now && now - s.last_seen < ACTIVE_WINDOW_SECS));
        active
    }
}

/// The capabilities a session id carries: all of them while they fit in [`MAX_CAPS_BYTES`],
/// else only those MCP defines, each without its detail.
fn bounded_capabilities(caps: &Value) -> Value {
    const KNOWN: [&str; 5] = ["roots", "sampling", "elicitation", "experimental", "tasks"];
    if serde_json::to_vec(caps).map_or(usize::MAX, |v| v.len()) <= MAX_CAPS_BYTES {
        return caps.clone();
    }
    let known = caps
        .as_object()
        .map(|o| {
            KNOWN
                .iter()
                .filter(|k| o.contains_key(**k))
                .map(|k| (k.to_string(), Value::Object(Default::default())))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(known)
}

/// The longest session id accepted (what [`Sessions::mint`] makes is far below it).
const MAX_SESSION_ID_BYTES: usize = 8192;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Largest capabilities object carried in an id (a header has limited room).
const MAX_CAPS_BYTES: usize = 2048;

fn sign(key: &[u8], kind: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(kind.as_bytes());
    mac.update(b".");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets(secret: &str) -> SessionSecrets {
        SessionSecrets::new(Some(secret.as_bytes().to_vec()), Vec::new())
    }

    #[test]
    fn ids_verify_on_any_holder_of_the_secret() {
        let (a, b) = (Sessions::default(), Sessions::default());
        let shared = secrets("a-secret-of-at-least-thirty-two-bytes");
        let (id, claims) = a.mint(&shared, "2025-11-25", &json!({ "sampling": {} }), "test-client", 60);
        assert!(id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        assert_eq!(b.verify(&shared, &id).unwrap(), claims);
        assert_eq!(claims.caps, json!({ "sampling": {} }));
    }

    #[test]
    fn without_a_secret_ids_are_valid_in_their_own_process_only() {
        let (a, b) = (Sessions::default(), Sessions::default());
        let none = SessionSecrets::new(None, Vec::new());
        let (id, _) = a.mint(&none, "2025-11-25", &json!({}), "c", 60);
        assert!(a.verify(&none, &id).is_ok());
        assert_eq!(b.verify(&none, &id), Err(SessionError::Invalid));
    }

    #[test]
    fn tampering_other_secrets_expiry_and_revocation_are_refused() {
        let a = Sessions::default();
        let shared = secrets("a-secret-of-at-least-thirty-two-bytes");
        let (id, claims) = a.mint(&shared, "2025-11-25", &json!({}), "c", 60);
        let mut tampered = id.clone();
        tampered.replace_range(5..6, if &id[5..6] == "A" { "B" } else { "A" });
        assert_eq!(a.verify(&shared, &tampered), Err(SessionError::Invalid));
        assert_eq!(a.verify(&secrets("another-secret-of-at-least-32-bytes!"), &id), Err(SessionError::Invalid));
        assert_eq!(a.verify(&shared, "garbage"), Err(SessionError::Invalid));
        let (expired, _) = a.mint(&shared, "2025-11-25", &json!({}), "c", 0);
        assert_eq!(a.verify(&shared, &expired), Err(SessionError::Expired));
        a.record(&claims, 0.001, false);
        assert_eq!(a.active(), 1);
        a.revoke(&claims);
        assert_eq!(a.verify(&shared, &id), Err(SessionError::Revoked));
        assert_eq!(a.active(), 0);
    }

    #[test]
    fn ids_stay_small_whatever_the_client_declares() {
        let sessions = Sessions::default();
        let shared = secrets("a-secret-of-at-least-thirty-two-bytes");
        let mut caps = serde_json::Map::new();
        for n in 0..100_000 {
            caps.insert(format!("capability-{n}"), json!({ "detail": n }));
        }
        caps.insert("sampling".into(), json!({ "tools": {} }));
        let (id, claims) = sessions.mint(&shared, "2025-11-25", &Value::Object(caps), &"x".repeat(10_000), 60);
        assert!(id.len() < 1024, "{} bytes", id.len());
        assert_eq!(claims.caps, json!({ "sampling": {} }));
        assert_eq!(claims.client.len(), 64);
        assert_eq!(sessions.verify(&shared, &id).unwrap(), claims);
        assert_eq!(sessions.verify(&shared, &"v1.".repeat(10_000)), Err(SessionError::Invalid));
    }

    #[test]
    fn revocations_are_remembered_until_expiry_and_not_beyond() {
        let sessions = Sessions::default();
        let shared = secrets("a-secret-of-at-least-thirty-two-bytes");
        let started = std::time::Instant::now();
        for _ in 0..20_000 {
            let (_, claims) = sessions.mint(&shared, "2025-11-25", &json!({}), "c", 3600);
            sessions.record(&claims, 0.0, false);
            sessions.revoke(&claims);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "each DELETE is O(log n)");
        assert_eq!(sessions.revoked.len(), 20_000);
        assert_eq!(sessions.active(), 0);
    }

    #[test]
    fn sealed_kinds_do_not_mix() {
        let sessions = Sessions::default();
        let sealer = sessions.sealer(&secrets("a-secret-of-at-least-thirty-two-bytes"));
        let token = sealer.seal("state", b"{}");
        assert_eq!(sealer.open("state", &token).as_deref(), Some(&b"{}"[..]));
        assert_eq!(sealer.open("session", &token), None);
    }

    #[test]
    fn rotation_accepts_previous_secrets() {
        let sessions = Sessions::default();
        let old = secrets("the-old-secret-of-at-least-32-bytes");
        let (id, _) = sessions.mint(&old, "2025-06-18", &json!({}), "c", 60);
        let rotated = SessionSecrets::new(
            Some(b"the-new-secret-of-at-least-32-bytes".to_vec()),
            vec![b"the-old-secret-of-at-least-32-bytes".to_vec()],
        );
        assert!(sessions.verify(&rotated, &id).is_ok());
        let (new_id, _) = sessions.mint(&rotated, "2025-06-18", &json!({}), "c", 60);
        assert_eq!(sessions.verify(&old, &new_id), Err(SessionError::Invalid));
    }
}
