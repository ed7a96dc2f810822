//! The background service that reloads the configuration on SIGHUP and whenever the file's
//! content (or that of a file it names) changes, and re-resolves Immich's address.

use super::ConfigStore;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

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
