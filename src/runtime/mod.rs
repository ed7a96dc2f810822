//! The application's live state: everything a request needs, derived once from each loaded
//! configuration ([`Runtime`]), the store that swaps it atomically on reload ([`store`]), the
//! service that reloads it ([`reloader`]), and the certificate served on the HTTPS listeners
//! ([`tls`]).

mod reloader;
mod store;
pub mod tls;

pub use reloader::Reloader;
pub use store::{ConfigStore, Source};

use crate::auth::Credentials;
use crate::config::{Config, ConfigError, ConfigErrors};
use crate::immich::{ImmichClient, Upstream};
use std::sync::Arc;

/// Everything a request needs from the configuration, derived once per load.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Immich's address, parsed and resolved.
    pub upstream: Upstream,
    /// The REST client for Immich's API with this configuration's timeouts, pool and TLS: one per
    /// load, so every call of the gateway shares its connections.
    pub immich: ImmichClient,
    /// Gateway keys and the Immich keys they map to, with key files read.
    pub credentials: Credentials,
    /// Secrets signing and verifying MCP session ids, with the secret file read.
    pub session_secrets: Arc<crate::mcp::session::SessionSecrets>,
    /// The certificate served on `[server] tls_listen`, read and checked against its key.
    pub tls: Option<Arc<rustls::sign::CertifiedKey>>,
    /// Increases by one with each applied reload; 0 at start.
    pub generation: u64,
}

/// A tool named in `[tools] enabled`/`disabled` or `[rate_limits] tools` that does not exist (a
/// typo there would silently do nothing).
fn unknown_tool(config: &Config) -> Option<(String, String)> {
    let tools = crate::tools::registry::all();
    let known = |name: &str| tools.iter().any(|t| t.name == name);
    let listed = config.tools.enabled.iter().map(|n| ("tools.enabled".to_string(), n));
    let listed = listed.chain(config.tools.disabled.iter().map(|n| ("tools.disabled".to_string(), n)));
    let listed = listed.chain(config.rate_limits.tools.keys().map(|n| (format!("rate_limits.tools.{n}"), n)));
    listed.into_iter().find(|(_, name)| !known(name)).map(|(key, name)| {
        let names: Vec<&str> = tools.iter().map(|t| t.name).collect();
        (key, format!("there is no tool {name:?}; the tools are {}", names.join(", ")))
    })
}

impl Runtime {
    /// Derives the runtime state from a validated configuration.
    pub fn build(config: Config, generation: u64) -> Result<Runtime, ConfigErrors> {
        let unusable =
            |key: String, message: String| ConfigErrors(vec![ConfigError::unplaced("config", Some(key), message)]);
        if let Some((key, message)) = unknown_tool(&config) {
            return Err(unusable(key, message));
        }
        let mut credentials = Credentials::load(&config).map_err(|(key, message)| unusable(key, message))?;
        let upstream =
            Upstream::from_config(&config.immich).map_err(|message| unusable("immich.base_url".into(), message))?;
        let session_secrets =
            crate::mcp::session::SessionSecrets::load(&config.mcp).map_err(|(key, message)| unusable(key, message))?;
        if config.auth.mode == crate::config::AuthMode::OAuth {
            // The resource the tokens are for: the MCP endpoint at the public URL.
            let resource = config.public_mcp_url().unwrap_or_default();
            credentials.accept_oauth(Arc::new(session_secrets.vault()), &resource);
        }
        let tls = tls::load(&config.server).map_err(|(key, message)| unusable(key, message))?;
        let immich = ImmichClient::new(&config.immich);
        Ok(Runtime {
            config: Arc::new(config),
            upstream,
            immich,
            credentials,
            session_secrets: Arc::new(session_secrets),
            tls,
            generation,
        })
    }

    /// Every secret this configuration holds (Immich keys, session secrets), for the logger to
    /// blank wherever they would appear.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.credentials.secrets();
        secrets.extend(self.session_secrets.secrets());
        secrets
    }
}
