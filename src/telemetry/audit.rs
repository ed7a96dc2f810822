//! The audit trail (`[audit]`): one JSON line per tool call that changes Immich (and per read,
//! when asked), written by a thread of its own so that no request waits on a disk. Lines are
//! queued (at most 10,000); when the writer falls that far behind, further lines are dropped,
//! counted in `gateway_audit_lines_total{outcome="dropped"}` and warned about.

use crate::config::{AuditConfig, AuditSink};
use arc_swap::ArcSwap;
use serde_json::Value;
use std::io::Write;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, LazyLock, OnceLock};

/// How many lines may wait for the writer.
const QUEUE: usize = 10_000;

static CONFIG: LazyLock<ArcSwap<AuditConfig>> = LazyLock::new(|| ArcSwap::from_pointee(AuditConfig::default()));
static WRITER: OnceLock<SyncSender<(AuditSink, String)>> = OnceLock::new();

/// Applies `[audit]` (at start and on each reload).
pub fn configure(config: &AuditConfig) {
    CONFIG.store(Arc::new(config.clone()));
}

/// Whether a call that `writes` (or only reads) is recorded.
pub fn wanted(writes: bool) -> bool {
    let config = CONFIG.load();
    config.sink != AuditSink::Off && (writes || config.reads)
}

/// Records `entry` (an object; `time` is added) if [`wanted`].
pub fn record(writes: bool, mut entry: Value) {
    let config = CONFIG.load();
    if config.sink == AuditSink::Off || !(writes || config.reads) {
        return;
    }
    if let Some(object) = entry.as_object_mut() {
        object.insert("time".into(), Value::String(crate::calendar::rfc3339_now()));
    }
    let line = entry.to_string();
    let lines = &super::metrics().audit_lines;
    match writer().try_send((config.sink.clone(), line)) {
        Ok(()) => lines.with_label_values(&["queued"]).inc(),
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            lines.with_label_values(&["dropped"]).inc();
            tracing::warn!("audit line dropped: the audit writer is {QUEUE} lines behind");
        }
    }
}

fn writer() -> &'static SyncSender<(AuditSink, String)> {
    WRITER.get_or_init(|| {
        let (tx, rx) = sync_channel::<(AuditSink, String)>(QUEUE);
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                let mut open: Option<(std::path::PathBuf, std::fs::File)> = None;
                for (sink, line) in rx {
                    let written = match sink {
                        AuditSink::Off => Ok(()),
                        AuditSink::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
                        AuditSink::File(path) => {
                            if open.as_ref().is_none_or(|(p, _)| *p != path) {
                                open = std::fs::OpenOptions::new()
                                    .create(true)
                                    .append(true)
                                    .open(&path)
                                    .map(|f| (path.clone(), f))
                                    .inspect_err(|e| tracing::error!(path = %path.display(), error = %e, "cannot open the audit file"))
                                    .ok();
                            }
                            match open.as_mut() {
                                Some((_, file)) => writeln!(file, "{line}"),
                                None => Ok(()),
                            }
                        }
                    };
                    if let Err(e) = written {
                        tracing::error!(error = %e, "cannot write an audit line");
                    }
                }
            })
            .expect("the audit thread starts");
        tx
    })
}
