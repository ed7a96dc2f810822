//! Immich: where it is ([`BaseUrl`], [`Upstream`]) and the typed REST client the gateway uses for
//! its own calls ([`client::ImmichClient`]). The proxy path forwards `/api/*` through Pingora instead.

pub mod account;
pub mod client;
mod credential;
pub mod path;
pub mod streamed;
mod tls;

pub use crate::config::BaseUrl;
pub use client::{ImmichClient, ImmichError};
pub use credential::Credential;

/// The TLS settings for any https peer the gateway fetches from (an identity provider's keys):
/// the same verified roots as for Immich.
pub fn https_client_config() -> rustls::ClientConfig {
    tls::client_config(true, true)
}

use crate::config::ImmichConfig;
use std::net::{SocketAddr, ToSocketAddrs};

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
        let base = config.base_url.clone();
        let host_header = http::HeaderValue::from_str(&base.authority())
            .map_err(|_| format!("{:?}: invalid host", config.base_url.to_string()))?;
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
