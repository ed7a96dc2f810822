//! Immich: where it is ([`BaseUrl`], [`Upstream`]) and the typed REST client the gateway uses for
//! its own calls ([`client::ImmichClient`]). The proxy path forwards `/api/*` through Pingora instead.

pub mod client;
pub mod path;
pub mod streamed;

pub use client::{ImmichClient, ImmichError};

use crate::config::ImmichConfig;
use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed Immich base URL: scheme, host, port and an optional path prefix (for an Immich
/// served below a sub-path by another proxy).
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The Immich upstream as the proxy uses it: the base URL and its resolved socket address.
/// Resolution happens off the request path (at load, then on the reload poll).
#[derive(Clone, Debug)]
pub struct Upstream {
    base: BaseUrl,
    addr: Option<SocketAddr>,
    host_header: http::HeaderValue,
}

impl Upstream {
    /// Parses the base URL and resolves it once; an unresolvable host is not an error here
    /// (the gateway starts anyway, `/ready` says why, and resolution is retried).
    pub fn from_config(config: &ImmichConfig) -> Result<Upstream, String> {
        let base = BaseUrl::parse(&config.base_url)?;
        let host_header = http::HeaderValue::from_str(&base.authority())
            .map_err(|_| format!("{:?}: invalid host", config.base_url))?;
        Ok(Upstream { addr: resolve(&base), base, host_header })
    }

    /// The same upstream, resolved again.
    pub fn re_resolved(&self) -> Upstream {
        Upstream {
            base: self.base.clone(),
            addr: resolve(&self.base).or(self.addr),
            host_header: self.host_header.clone(),
        }
    }

    /// The resolved address, if resolution has succeeded.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The parsed base URL.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// The `Host` header Immich expects.
    pub fn host_header(&self) -> &http::HeaderValue {
        &self.host_header
    }

    /// The host name, for logs and TLS SNI.
    pub fn host(&self) -> &str {
        &self.base.host
    }
}

fn resolve(base: &BaseUrl) -> Option<SocketAddr> {
    match (base.host.as_str(), base.port).to_socket_addrs() {
        Ok(mut addrs) => addrs.next(),
        Err(e) => {
            tracing::error!(host = %base.host, error = %e, "cannot resolve Immich's host name; /ready reports 503 until it resolves");
            None
        }
    }
}

pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "Immich did not answer /api/server/ping in time".into()
    } else if e.is_connect() {
        format!("cannot connect to Immich: {}", root_cause(e))
    } else {
        format!("Immich ping failed: {}", root_cause(e))
    }
}

pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse() {
        let b = BaseUrl::parse("http://immich-server:2283").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port, b.prefix.as_str()), (false, "immich-server", 2283, ""));
        assert_eq!(b.url("/api/server/ping"), "http://immich-server:2283/api/server/ping");
        let b = BaseUrl::parse("https://photos.example.com/immich/").unwrap();
        assert_eq!((b.tls, b.port, b.prefix.as_str()), (true, 443, "/immich"));
        assert_eq!(b.authority(), "photos.example.com");
        let b = BaseUrl::parse("http://[::1]:2283").unwrap();
        assert_eq!(b.host, "::1");
        assert_eq!(b.authority(), "[::1]:2283");
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("http://x:99999").is_err());
        assert!(BaseUrl::parse("http://x:2283/api").is_err());
        assert!(BaseUrl::parse("http://").is_err());
    }
}
