//! Values the configuration holds already parsed: Immich's base URL, gateway key hashes, the log
//! filter and the demo's fault spec. Each is parsed once, by serde, while the file is read (so a
//! bad value is reported at its line and column), and writes back as the text it came from.

use super::units::Dur;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Lets serde read a type from its text (`parse`) and write it back as its `Display` form.
macro_rules! text_form {
    ($($ty:ty),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(text: String) -> Result<$ty, String> {
                <$ty>::parse(&text)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.to_string()
            }
        }
    )*};
}

text_form!(BaseUrl, KeyHash, LogFilter, FaultSpec);

/// A parsed Immich base URL: scheme, host, port and an optional path prefix (for an Immich
/// served below a sub-path by another proxy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BaseUrl {
    /// `true` for https.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (default 80 or 443).
    pub port: u16,
    /// Path prefix without a trailing slash; empty for none.
    pub prefix: String,
}

impl BaseUrl {
    /// Parses `http[s]://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("{url:?} must start with http:// or https://"));
        };
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{url:?} has no host (user info is not supported)"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("{url:?}: unclosed [ in host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b)) {
            return Err(format!("{url:?}: invalid host {host:?}"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| format!("{url:?}: invalid port {p:?}"))?,
            None if tls => 443,
            None => 80,
        };
        let prefix = path.trim_end_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("/{prefix}") };
        if prefix.ends_with("/api") {
            return Err(format!("{url:?}: give Immich's base URL without the trailing /api"));
        }
        if prefix.contains(['?', '#']) {
            return Err(format!("{url:?}: a base URL cannot have a query or fragment"));
        }
        Ok(BaseUrl { tls, host, port, prefix })
    }

    /// `host:port` as written in a Host header (IPv6 bracketed).
    pub fn authority(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == default_port { host } else { format!("{host}:{}", self.port) }
    }

    /// The URL of an Immich API path such as `/api/server/ping`.
    pub fn url(&self, api_path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{scheme}://{host}:{}{}{api_path}", self.port, self.prefix)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.prefix)
    }
}

/// The SHA-256 of a gateway key, written `sha256:<64 hex digits>` in the config.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyHash(pub [u8; 32]);

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

/// A log filter as `[telemetry] log_level` writes it: a level (`info`) or tracing directives
/// (`info,immich_mcp_gateway=debug`), checked when the file is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogFilter(String);

impl LogFilter {
    /// Checks a directive.
    pub fn parse(text: &str) -> Result<LogFilter, String> {
        tracing_subscriber::EnvFilter::try_new(text).map_err(|e| format!("invalid log filter {text:?}: {e}"))?;
        Ok(LogFilter(text.to_string()))
    }

    /// The directives as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The filter, built anew (an `EnvFilter` cannot be cloned).
    pub fn filter(&self) -> tracing_subscriber::EnvFilter {
        tracing_subscriber::EnvFilter::new(&self.0)
    }
}

impl Default for LogFilter {
    fn default() -> Self {
        LogFilter("info".into())
    }
}

impl fmt::Display for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Faults the demo Immich injects into its responses: `"slow=2s,status=503"`, `"reset"`,
/// `"truncate"`, `"stall=5s"`, `"cut"`; empty for none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FaultSpec {
    /// Wait this long before answering.
    pub delay: Option<std::time::Duration>,
    /// Answer with this status and an error body instead.
    pub status: Option<u16>,
    /// Close the connection without answering.
    pub reset: bool,
    /// Send only the first half of the body (invalid JSON for JSON responses).
    pub truncate: bool,
    /// Send the first half of the body, then nothing for this long, then the rest.
    pub stall: Option<std::time::Duration>,
    /// Send the first half of the body, then drop the connection.
    pub cut: bool,
}

impl FaultSpec {
    /// Parses a comma-separated fault list; empty means no fault.
    pub fn parse(text: &str) -> Result<FaultSpec, String> {
        let mut fault = FaultSpec::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("slow", d)) => fault.delay = Some(Dur::parse(d)?.0),
                Some(("status", s)) => {
                    let code: u16 = s.parse().map_err(|_| format!("fault status {s:?} is not a number"))?;
                    if !(400..=599).contains(&code) {
                        return Err(format!("fault status {code} must be 400–599"));
                    }
                    fault.status = Some(code);
                }
                None if part == "reset" => fault.reset = true,
                None if part == "truncate" => fault.truncate = true,
                Some(("stall", d)) => fault.stall = Some(Dur::parse(d)?.0),
                None if part == "cut" => fault.cut = true,
                _ => {
                    return Err(format!(
                        "unknown fault {part:?}; use slow=DURATION, status=CODE, reset, truncate, stall=DURATION or cut"
                    ));
                }
            }
        }
        Ok(fault)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(d) = self.delay {
            parts.push(format!("slow={}", Dur(d)));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={s}"));
        }
        if self.reset {
            parts.push("reset".into());
        }
        if self.truncate {
            parts.push("truncate".into());
        }
        if let Some(d) = self.stall {
            parts.push(format!("stall={}", Dur(d)));
        }
        if self.cut {
            parts.push("cut".into());
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse_and_print() {
        let b = BaseUrl::parse("http://immich-server:2283").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port, b.prefix.as_str()), (false, "immich-server", 2283, ""));
        assert_eq!(b.url("/api/server/ping"), "http://immich-server:2283/api/server/ping");
        assert_eq!(b.to_string(), "http://immich-server:2283");
        let b = BaseUrl::parse("https://photos.example.com/immich/").unwrap();
        assert_eq!((b.tls, b.port, b.prefix.as_str()), (true, 443, "/immich"));
        assert_eq!(b.authority(), "photos.example.com");
        assert_eq!(b.to_string(), "https://photos.example.com/immich");
        let b = BaseUrl::parse("http://[::1]:2283").unwrap();
        assert_eq!(b.host, "::1");
        assert_eq!(b.authority(), "[::1]:2283");
        for bad in ["ftp://x", "http://x:99999", "http://x:2283/api", "http://", "http://a b:1", "http://x/y?z"] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_hashes_parse_strictly() {
        assert!(KeyHash::parse("sha256:00").is_err());
        assert!(KeyHash::parse("md5:abc").is_err());
        let h = KeyHash::of("x");
        assert_eq!(KeyHash::parse(&h.to_string()).unwrap(), h);
        assert_eq!(format!("{h:?}"), "KeyHash(..)");
    }

    #[test]
    fn faults_parse_and_print() {
        let fault = FaultSpec::parse("slow=2s, status=503,cut").unwrap();
        assert_eq!(fault.delay, Some(std::time::Duration::from_secs(2)));
        assert_eq!(fault.status, Some(503));
        assert!(fault.cut);
        assert_eq!(FaultSpec::parse(&fault.to_string()).unwrap(), fault);
        assert_eq!(FaultSpec::parse("").unwrap(), FaultSpec::default());
        assert!(FaultSpec::parse("status=200").is_err());
        assert!(FaultSpec::parse("explode").is_err());
    }

    #[test]
    fn log_filters_are_checked() {
        assert!(LogFilter::parse("info,immich_mcp_gateway=debug").is_ok());
        assert!(LogFilter::parse("info,[").is_err());
    }
}
