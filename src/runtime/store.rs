//! Where the configuration comes from and the store that holds the one in force: the current
//! [`Runtime`] is swapped atomically on reload.
//!
//! Each request loads the current `Arc<Runtime>` once, at its start, and keeps it: requests in
//! flight finish on the configuration they started with. A file that fails to load or validate
//! leaves the running configuration untouched, and so does a file that disappears (both logged and
//! counted as failed reloads).

use super::Runtime;
use crate::config::{BaseUrl, Config, ConfigErrors, load_file, load_str};
use crate::telemetry;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the configuration comes from, including command-line overrides that every reload
/// re-applies.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The TOML file, if any (no file means defaults plus environment).
    pub path: Option<PathBuf>,
    /// `--listen` addresses, replacing `[server].listen` when non-empty.
    pub listen: Vec<String>,
    /// The embedded demo's URL, replacing `[immich].base_url` under `--demo`.
    pub demo_base_url: Option<BaseUrl>,
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
                config.immich.api_key = Some(DEMO_ADMIN_KEY.to_string());
            }
        }
        if let Some(n) = self.demo_assets {
            config.demo.assets = n;
        }
        Ok(config)
    }

    /// A hash of the file's content and of the content of the files `config` names (keys,
    /// secrets, certificates), so that rewriting any of them counts as a change.
    fn fingerprint(&self, config: &Config) -> Fingerprint {
        let Some(path) = &self.path else { return Fingerprint::NoFile };
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) => return Fingerprint::Unreadable(format!("cannot read {}: {e}", path.display())),
        };
        let mut hash = Sha256::new();
        hash.update(text);
        for file in config.named_files() {
            hash.update(file.as_os_str().as_encoded_bytes());
            // An unreadable file hashes as empty: once readable again, that is a change.
            hash.update(std::fs::read(file).unwrap_or_default());
        }
        Fingerprint::Content(hash.finalize().into())
    }
}

/// How long a changed file must stay unchanged before it is loaded.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// The demo's admin key (see `demo::ADMIN_KEY`), used under `--demo` when no key is configured.
const DEMO_ADMIN_KEY: &str = "demo-admin-key";

/// What the configuration file held when last looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fingerprint {
    /// No file: defaults and the environment.
    NoFile,
    /// The hash of its content and of the files it names.
    Content([u8; 32]),
    /// It could not be read (gone, or a `..data` link to nothing): the running configuration
    /// stays, and this is reported once.
    Unreadable(String),
}

/// The current [`Runtime`], shared by every request, and how to reload it.
pub struct ConfigStore {
    current: ArcSwap<Runtime>,
    source: Source,
    /// The file as last attempted, so a bad or missing file is reported once, not per poll.
    last_seen: Mutex<Fingerprint>,
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
        telemetry::redact::set_secrets(runtime.secrets());
        telemetry::audit::configure(&runtime.config.audit);
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

    /// Reloads if the file's content, or that of a file it names, differs from what was last read;
    /// a file that became unreadable is reported once (logged, and counted as a failed reload).
    pub fn reload_if_changed(&self) -> Option<ReloadOutcome> {
        let now = self.source.fingerprint(&self.current().config);
        if now == *self.last_seen.lock() {
            return None;
        }
        // A file written in place (not swapped whole, as a ConfigMap is) can be seen half
        // written: load it only once it has stayed the same for a moment.
        std::thread::sleep(SETTLE);
        if self.source.fingerprint(&self.current().config) != now {
            return None;
        }
        if let Fingerprint::Unreadable(reason) = &now {
            *self.last_seen.lock() = now.clone();
            tracing::error!(%reason, "configuration file unreadable; keeping the running configuration");
            telemetry::metrics().config_reloads.with_label_values(&["error"]).inc();
            return Some(ReloadOutcome::Rejected(reason.clone()));
        }
        Some(self.reload_seen("file change", now))
    }

    /// [`ConfigStore::reload`] with the files' fingerprint already taken, before reading them, so
    /// that a change made while loading is seen by the next poll. Should the new file name other
    /// key or certificate files, the next poll reloads once more.
    fn reload_seen(&self, trigger: &str, fingerprint: Fingerprint) -> ReloadOutcome {
        let old = self.current();
        *self.last_seen.lock() = fingerprint;
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
                telemetry::redact::set_secrets(runtime.secrets());
                telemetry::audit::configure(&runtime.config.audit);
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
