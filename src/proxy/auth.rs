//! Client authentication: gateway keys (stored as SHA-256 hashes, compared in constant time) and
//! the Immich key each one maps to.

use crate::config::{AuthMode, Config};
use pingora::http::RequestHeader;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The SHA-256 of a gateway key, written `sha256:<64 hex digits>` in the config.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Parses `sha256:<hex>`.
    pub fn parse(text: &str) -> Result<KeyHash, String> {
        let hex_digits = text
            .strip_prefix("sha256:")
            .ok_or_else(|| "must look like sha256:<64 hex digits> (print one with --hash-key KEY)".to_string())?;
        let bytes = hex::decode(hex_digits).map_err(|_| "the part after sha256: must be hex".to_string())?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(KeyHash)
            .map_err(|_| "a SHA-256 hash has exactly 64 hex digits".to_string())
    }

    /// The hash of a key.
    pub fn of(key: &str) -> KeyHash {
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// A caller the gateway has authenticated.
#[derive(Clone)]
pub struct Principal {
    /// The key's name from the config (safe to log).
    pub name: Arc<str>,
    /// The Immich key this caller's requests carry upstream.
    pub immich_key: Arc<str>,
}

#[derive(Clone)]
struct ClientKey {
    name: Arc<str>,
    hash: KeyHash,
    immich_key: Arc<str>,
}

/// The credentials in force: the mode and, in `inject` mode, the accepted gateway keys.
#[derive(Clone)]
pub struct Credentials {
    mode: AuthMode,
    clients: Vec<ClientKey>,
    default_immich_key: Option<Arc<str>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.clients.iter().map(|c| &*c.name).collect();
        f.debug_struct("Credentials").field("mode", &self.mode).field("clients", &names).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads key files and pairs each gateway key with its Immich key. Errors name the key.
    pub fn load(config: &Config) -> Result<Credentials, (String, String)> {
        let default_key = read_secret(config.immich.api_key.as_deref(), config.immich.api_key_file.as_deref())
            .map_err(|e| ("immich.api_key_file".to_string(), e))?;
        let mut clients = Vec::with_capacity(config.auth.keys.len());
        for (n, key) in config.auth.keys.iter().enumerate() {
            let own = read_secret(key.immich_api_key.as_deref(), key.immich_api_key_file.as_deref())
                .map_err(|e| (format!("auth.keys[{n}].immich_api_key_file"), e))?;
            let immich_key = match own.or_else(|| default_key.clone()) {
                Some(k) => k,
                None if config.auth.mode == AuthMode::Inject => {
                    return Err((
                        format!("auth.keys[{n}]"),
                        "inject mode needs an Immich key: set [immich].api_key(_file) or this key's immich_api_key(_file)".into(),
                    ));
                }
                None => Arc::from(""),
            };
            let hash = KeyHash::parse(&key.hash).map_err(|e| (format!("auth.keys[{n}].hash"), e))?;
            clients.push(ClientKey { name: Arc::from(key.name.as_str()), hash, immich_key });
        }
        Ok(Credentials { mode: config.auth.mode, clients, default_immich_key: default_key })
    }

    /// The gateway's own Immich key (`[immich].api_key` or its file), if configured.
    pub fn default_immich_key(&self) -> Option<Arc<str>> {
        self.default_immich_key.clone()
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Finds the gateway key matching `presented`. Every stored hash is compared, in constant
    /// time, whatever matches, so timing says nothing about which keys exist.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let candidate = KeyHash::of(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, client) in self.clients.iter().enumerate() {
            let matches = client.hash.0.ct_eq(&candidate.0);
            index = u32::conditional_select(&index, &(i as u32), matches);
            found |= matches;
        }
        bool::from(found).then(|| {
            let client = &self.clients[index as usize];
            Principal { name: client.name.clone(), immich_key: client.immich_key.clone() }
        })
    }
}

fn read_secret(inline: Option<&str>, file: Option<&std::path::Path>) -> Result<Option<Arc<str>>, String> {
    if let Some(key) = inline {
        return Ok(Some(Arc::from(key.trim())));
    }
    let Some(path) = file else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Some(Arc::from(key)))
}

/// Immich's key header, parsed once.
pub const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// The key a client presents: `X-API-Key`, or `Authorization: Bearer <key>`.
pub fn presented_key(req: &RequestHeader) -> Option<&str> {
    if let Some(v) = req.headers.get(&X_API_KEY).and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = req.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Who a request comes from, for per-client stream caps: the gateway key's name in inject mode
/// (a passthrough "principal" is only the Immich key the caller brought), else the peer's address.
pub fn client_key(session: &pingora_proxy::Session, principal: Option<&Principal>, mode: AuthMode) -> String {
    let key_name = principal.filter(|_| mode == AuthMode::Inject).map(|p| &*p.name);
    let ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
    crate::stream::stats::client_of(key_name, ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayKey;

    fn inject_config() -> Config {
        let mut config = Config::default();
        config.auth.mode = AuthMode::Inject;
        config.immich.api_key = Some("immich-admin".into());
        config.auth.keys = vec![
            GatewayKey {
                name: "agent".into(),
                hash: KeyHash::of("gw-agent").to_string(),
                immich_api_key: None,
                immich_api_key_file: None,
            },
            GatewayKey {
                name: "reader".into(),
                hash: KeyHash::of("gw-reader").to_string(),
                immich_api_key: Some("immich-readonly".into()),
                immich_api_key_file: None,
            },
        ];
        config
    }

    #[test]
    fn keys_map_to_their_immich_key() {
        let creds = Credentials::load(&inject_config()).unwrap();
        let agent = creds.authenticate("gw-agent").unwrap();
        assert_eq!((&*agent.name, &*agent.immich_key), ("agent", "immich-admin"));
        let reader = creds.authenticate("gw-reader").unwrap();
        assert_eq!((&*reader.name, &*reader.immich_key), ("reader", "immich-readonly"));
        assert!(creds.authenticate("gw-agent ").is_none());
        assert!(creds.authenticate("").is_none());
    }

    #[test]
    fn hashes_parse_strictly() {
        assert!(KeyHash::parse("sha256:00").is_err());
        assert!(KeyHash::parse("md5:abc").is_err());
        let h = KeyHash::of("x");
        assert_eq!(KeyHash::parse(&h.to_string()).unwrap(), h);
    }

    #[test]
    fn debug_never_prints_secrets() {
        let creds = Credentials::load(&inject_config()).unwrap();
        let text = format!("{creds:?}");
        assert!(!text.contains("immich-admin") && !text.contains(&KeyHash::of("gw-agent").to_string()), "{text}");
    }

    #[test]
    fn bearer_and_header_keys_are_read() {
        let mut req = RequestHeader::build("GET", b"/api/x", None).unwrap();
        req.insert_header("authorization", "Bearer abc").unwrap();
        assert_eq!(presented_key(&req), Some("abc"));
        req.insert_header("x-api-key", "def").unwrap();
        assert_eq!(presented_key(&req), Some("def"));
    }
}
