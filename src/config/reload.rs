//! The live configuration: an atomically swapped [`Runtime`] and the background service that
//! rebuilds it on SIGHUP or when the file's content changes.
//!
//! Each request loads the current `Arc<Runtime>` once, at its start, and keeps it: requests in
//! flight finish on the configuration they started with. A file that fails to load or validate
//! leaves the running configuration untouched.

use super::{Config, ConfigError, ConfigErrors, load_file, load_str};
use crate::immich::{ImmichClient, Upstream};
use crate::proxy::auth::Credentials;
use crate::telemetry;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::signal::unix::{SignalKind, signal};

/// Everything a request needs from the configuration, derived once per load.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// The validated configuration.
    pub config: Config,
    /// Immich's address, parsed and resolved.
    pub upstream: Upstream,
    /// The REST client for Immich's API with this configuration's timeouts, pool and TLS: one per
    /// load, so every call of the gateway shares its connections.
    pub immich: ImmichClient,
    /// Gateway keys and the Immich keys they map to, with key files read.
    pub credentials: Credentials,
    /// Secrets signing and verifying MCP session ids, with the secret file read.
    pub session_secrets: crate::mcp::session::SessionSecrets,
    /// The certificate served on `[server] tls_listen`, read and checked against its key.
    pub tls: Option<Arc<rustls::sign::CertifiedKey>>,
    /// Increases by one with each applied reload; 0 at start.
    pub generation: u64,
}

impl Runtime {
    /// Derives the runtime state from a validated configuration.
    pub fn build(config: Config, generation: u64) -> Result<Runtime, ConfigErrors> {
        let unusable =
            |key: String, message: String| ConfigErrors(vec![ConfigError::unplaced("config", Some(key), message)]);
        let credentials = Credentials::load(&config).map_err(|(key, message)| unusable(key, message))?;
        let upstream =
            Upstream::from_config(&config.immich).map_err(|message| unusable("immich.base_url".into(), message))?;
        let session_secrets =
            crate::mcp::session::SessionSecrets::load(&config.mcp).map_err(|(key, message)| unusable(key, message))?;
        let tls = crate::proxy::tls::load(&config.server).map_err(|(key, message)| unusable(key, message))?;
        let immich = ImmichClient::new(&config.immich);
        Ok(Runtime { config, upstream, immich, credentials, session_secrets, tls, generation })
    }
}

/// Where the configuration comes from, including command-line overrides that every reload
/// re-applies.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The TOML file, if any (no file means defaults plus environment).
    pub path: Option<PathBuf>,
    /// `--listen` addresses, replacing `[server].listen` when non-empty.
    pub listen: Vec<String>,
    /// The embedded demo's URL, replacing `[immich].base_url` under `--demo`.
    pub demo_base_url: Option<String>,
    /// `--demo-assets`, replacing `[demo].assets`.
    pub demo_assets: Option<u64>,
}

impl Source {
    /// Reads and validates the configuration with the overrides applied.
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        let mut config = match &self.path {
            Some(path) => load_file(path)?,
            None => load_str("", "defaults", std::env::vars())?,
        };
        if !self.listen.is_empty() {
            config.server.listen = self.listen.clone();
        }
        if let Some(url) = &self.demo_base_url {
            config.immich.base_url = url.clone();
            if config.immich.api_key.is_none() && config.immich.api_key_file.is_none() {
                config.immich.api_key = Some(crate::demo::ADMIN_KEY.to_string());
            }
        }
        if let Some(n) = self.demo_assets {
            config.demo.assets = n;
        }
        Ok(config)
    }

    /// A hash of the file's content and of the content of the files `config` names (keys,
    /// secrets, certificates), so that rewriting any of them counts as a change.
    fn fingerprint(&self, config: &Config) -> Option<[u8; 32]> {
        let mut hash = Sha256::new();
        hash.update(std::fs::read(self.path.as_ref()?).ok()?);
        for file in config.named_files() {
            hash.update(file.as_os_str().as_encoded_bytes());
            // An unreadable file hashes as empty: once readable again, that is a change.
            hash.update(std::fs::read(file).unwrap_or_default());
        }
        Some(hash.finalize().into())
    }
}

/// The current [`Runtime`], shared by every request, and how to reload it.
pub struct ConfigStore {
    current: ArcSwap<Runtime>,
    source: Source,
    /// Content hash of the file as last attempted, so a bad file is reported once, not per poll.
    last_seen: Mutex<Option<[u8; 32]>>,
}

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration is live; the listed keys need a restart or upgrade to take effect.
    Applied { restart_only: Vec<&'static str> },
    /// The file was bad; the old configuration stays.
    Rejected(String),
}

impl ConfigStore {
    /// Loads the initial configuration.
    pub fn open(source: Source) -> Result<Arc<ConfigStore>, ConfigErrors> {
        let runtime = Runtime::build(source.load()?, 0)?;
        let fingerprint = source.fingerprint(&runtime.config);
        Ok(Arc::new(ConfigStore {
            current: ArcSwap::from_pointee(runtime),
            source,
            last_seen: Mutex::new(fingerprint),
        }))
    }

    /// The configuration as of now. Hold the `Arc` for the whole request.
    pub fn current(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// Re-reads the file; applies it if valid, otherwise keeps the old one.
    pub fn reload(&self, trigger: &str) -> ReloadOutcome {
        self.reload_seen(trigger, self.source.fingerprint(&self.current().config))
    }

    /// Reloads if the file's content, or that of a file it names, differs from what was last read.
    pub fn reload_if_changed(&self) -> Option<ReloadOutcome> {
        let now = self.source.fingerprint(&self.current().config);
        let changed = now.is_some() && now != *self.last_seen.lock().unwrap();
        changed.then(|| self.reload_seen("file change", now))
    }

    /// [`ConfigStore::reload`] with the files' fingerprint already taken, before reading them, so
    /// that a change made while loading is seen by the next poll. Should the new file name other
    /// key or certificate files, the next poll reloads once more.
    fn reload_seen(&self, trigger: &str, fingerprint: Option<[u8; 32]>) -> ReloadOutcome {
        let old = self.current();
        *self.last_seen.lock().unwrap() = fingerprint;
        let built = self.source.load().and_then(|config| Runtime::build(config, old.generation + 1));
        match built {
            Ok(runtime) => {
                let restart_only = old.config.restart_only_changes(&runtime.config);
                for key in &restart_only {
                    tracing::warn!(
                        key,
                        "changed in the file but only applies after a restart or a zero-downtime upgrade (-u + SIGQUIT)"
                    );
                }
                telemetry::set_log_level(&runtime.config.telemetry.log_level);
                tracing::info!(trigger, generation = runtime.generation, "configuration reloaded");
                self.current.store(Arc::new(runtime));
                telemetry::metrics().config_reloads.with_label_values(&["success"]).inc();
                ReloadOutcome::Applied { restart_only }
            }
            Err(errors) => {
                let text = errors.to_string();
                tracing::error!(trigger, errors = %text, "configuration reload rejected; keeping the running configuration");
                telemetry::metrics().config_reloads.with_label_values(&["error"]).inc();
                ReloadOutcome::Rejected(text)
            }
        }
    }

    /// Re-resolves Immich's host name (DNS can change under a running gateway, e.g. a
    /// rescheduled pod); swaps in a new runtime only when the address changed.
    pub fn refresh_upstream(&self) {
        let current = self.current();
        let fresh = current.upstream.re_resolved();
        if fresh.addr() != current.upstream.addr() {
            tracing::info!(host = %fresh.host(), addr = ?fresh.addr(), "Immich address changed");
            self.current.rcu(|old| Arc::new(Runtime { upstream: fresh.clone(), ..Runtime::clone(old) }));
        }
    }
}

/// Background service: SIGHUP and file polling trigger reloads.
pub struct Reloader {
    /// The store to reload.
    pub store: Arc<ConfigStore>,
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload by file change only");
                None
            }
        };
        let poll = self.store.current().config.server.config_poll_interval.0;
        let mut ticker = tokio::time::interval(poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = async { hangups.as_mut().unwrap().recv().await }, if hangups.is_some() => {
                    let store = self.store.clone();
                    let _ = tokio::task::spawn_blocking(move || store.reload("SIGHUP")).await;
                }
                _ = ticker.tick() => {
                    let store = self.store.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        store.reload_if_changed();
                        store.refresh_upstream();
                    }).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
