//! The credentials in force: the mode, the gateway keys (stored as SHA-256 hashes, compared in
//! constant time) and the Immich key each one maps to, with key files read.

use super::jwt::JwtVerifier;
use super::vault::Vault;
use crate::config::{AuthMode, Config, KeyHash};
use crate::immich::Credential;
use std::fmt;
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};

#[derive(Clone)]
struct ClientKey {
    name: Arc<str>,
    hash: KeyHash,
    immich: Credential,
}

/// The credentials in force: the mode and, in `inject` mode, the accepted gateway keys.
#[derive(Clone)]
pub struct Credentials {
    mode: AuthMode,
    clients: Vec<ClientKey>,
    default_immich: Option<Credential>,
    immich_apps: bool,
    /// In `oauth` mode: the vault that opens access tokens, and the resource they must be for.
    oauth: Option<(Arc<Vault>, Arc<str>)>,
    /// In `jwt` mode: what checks the provider's tokens.
    jwt: Option<Arc<JwtVerifier>>,
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
        let as_credential = |key: Arc<str>, at: String| {
            Credential::api_key(&key).ok_or((at, "an Immich API key must be visible ASCII".to_string()))
        };
        let default_immich = default_key.map(|k| as_credential(k, "immich.api_key".into())).transpose()?;
        let mut clients = Vec::with_capacity(config.auth.keys.len());
        for (n, key) in config.auth.keys.iter().enumerate() {
            let own = read_secret(key.immich_api_key.as_deref(), key.immich_api_key_file.as_deref())
                .map_err(|e| (format!("auth.keys[{n}].immich_api_key_file"), e))?;
            let immich = match own {
                Some(k) => as_credential(k, format!("auth.keys[{n}].immich_api_key"))?,
                None => match &default_immich {
                    Some(k) => k.clone(),
                    // Passthrough mode keeps the keys for nothing; inject mode cannot work without one.
                    None if config.auth.mode == AuthMode::Passthrough => continue,
                    None => {
                        return Err((
                            format!("auth.keys[{n}]"),
                            "inject mode needs an Immich key: set [immich].api_key(_file) or this key's immich_api_key(_file)".into(),
                        ));
                    }
                },
            };
            clients.push(ClientKey { name: Arc::from(key.name.as_str()), hash: key.hash, immich });
        }
        let jwt = match config.auth.mode {
            AuthMode::Jwt => Some(Arc::new(jwt_verifier(config)?)),
            _ => None,
        };
        Ok(Credentials {
            mode: config.auth.mode,
            clients,
            default_immich,
            immich_apps: config.auth.immich_apps,
            oauth: None,
            jwt,
        })
    }

    /// The gateway's own Immich key (`[immich].api_key` or its file), if configured.
    pub fn default_immich(&self) -> Option<&Credential> {
        self.default_immich.as_ref()
    }

    /// The Immich keys this holds, as text (for the logger to blank).
    pub fn secrets(&self) -> Vec<String> {
        let jwt_keys = self.jwt.iter().flat_map(|v| v.keys());
        self.clients
            .iter()
            .map(|c| &c.immich)
            .chain(&self.default_immich)
            .chain(jwt_keys)
            .map(|c| String::from_utf8_lossy(c.header().1.as_bytes()).into_owned())
            .collect()
    }

    /// `[auth] immich_apps`: in inject mode, `/api` requests without a gateway key go to Immich
    /// as they came.
    pub fn immich_apps(&self) -> bool {
        self.immich_apps
    }

    /// Accepts the access tokens `vault` opens, for `resource` (the gateway's MCP URL).
    pub fn accept_oauth(&mut self, vault: Arc<Vault>, resource: &str) {
        self.oauth = Some((vault, Arc::from(resource)));
    }

    /// What checks access tokens, in `oauth` mode.
    pub fn oauth(&self) -> Option<(&Vault, &str)> {
        self.oauth.as_ref().map(|(vault, resource)| (&**vault, &**resource))
    }

    /// What checks the identity provider's tokens, in `jwt` mode.
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_deref()
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Finds the gateway key matching `presented`: its name and its Immich key. Every stored hash
    /// is compared, in constant time, whatever matches, so timing says nothing about which keys
    /// exist.
    pub fn gateway_key(&self, presented: &str) -> Option<(Arc<str>, Credential)> {
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
            (client.name.clone(), client.immich.clone())
        })
    }
}

/// `jwt` mode's verifier, with each person's Immich key read.
fn jwt_verifier(config: &Config) -> Result<JwtVerifier, (String, String)> {
    let mut users = Vec::with_capacity(config.jwt.users.len());
    for (n, user) in config.jwt.users.iter().enumerate() {
        let at = format!("jwt.users[{n}]");
        let key = read_secret(user.immich_api_key.as_deref(), user.immich_api_key_file.as_deref())
            .map_err(|e| (at.clone(), e))?
            .ok_or((at.clone(), "set immich_api_key or immich_api_key_file".to_string()))?;
        let key = Credential::api_key(&key).ok_or((at, "an Immich API key must be visible ASCII".to_string()))?;
        users.push((user.matches.clone(), key));
    }
    Ok(JwtVerifier::new(&config.jwt, &config.jwt_issuer(), &config.jwt_audience(), users))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayKey;

    pub(crate) fn inject_config() -> Config {
        let mut config = Config::default();
        config.auth.mode = AuthMode::Inject;
        config.immich.api_key = Some("immich-admin".into());
        config.auth.keys = vec![
            GatewayKey {
                name: "agent".into(),
                hash: KeyHash::of("gw-agent"),
                immich_api_key: None,
                immich_api_key_file: None,
            },
            GatewayKey {
                name: "reader".into(),
                hash: KeyHash::of("gw-reader"),
                immich_api_key: Some("immich-readonly".into()),
                immich_api_key_file: None,
            },
        ];
        config
    }

    #[test]
    fn keys_map_to_their_immich_key() {
        let creds = Credentials::load(&inject_config()).unwrap();
        let (name, immich) = creds.gateway_key("gw-agent").unwrap();
        assert_eq!((&*name, immich), ("agent", Credential::api_key("immich-admin").unwrap()));
        let (name, immich) = creds.gateway_key("gw-reader").unwrap();
        assert_eq!((&*name, immich), ("reader", Credential::api_key("immich-readonly").unwrap()));
        assert!(creds.gateway_key("gw-agent ").is_none());
        assert!(creds.gateway_key("").is_none());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let creds = Credentials::load(&inject_config()).unwrap();
        let text = format!("{creds:?}");
        assert!(!text.contains("immich-admin") && !text.contains(&KeyHash::of("gw-agent").to_string()), "{text}");
    }
}
