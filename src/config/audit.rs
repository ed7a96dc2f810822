//! `[audit]`: the audit trail of tool calls.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where audit lines go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AuditSink {
    /// Nowhere.
    Off,
    /// Standard error, one JSON line each, beside the log.
    Stderr,
    /// A file, appended to (created when missing).
    File(PathBuf),
}

impl TryFrom<String> for AuditSink {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "off" => Ok(AuditSink::Off),
            "stderr" => Ok(AuditSink::Stderr),
            path if path.starts_with('/') => Ok(AuditSink::File(PathBuf::from(path))),
            other => Err(format!("{other:?}: use \"off\", \"stderr\" or an absolute file path")),
        }
    }
}

impl From<AuditSink> for String {
    fn from(sink: AuditSink) -> String {
        match sink {
            AuditSink::Off => "off".into(),
            AuditSink::Stderr => "stderr".into(),
            AuditSink::File(path) => path.display().to_string(),
        }
    }
}

/// `[audit]`: every tool call that changes Immich writes one JSON line (time, caller, client,
/// tool, number of targets, outcome, request id; never a secret); reads too when asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Where the lines go.
    pub sink: AuditSink,
    /// Also record the tool calls that only read.
    pub reads: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { sink: AuditSink::Stderr, reads: false }
    }
}
