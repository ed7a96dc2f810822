//! Client ID Metadata Documents: a client whose `client_id` is an https URL is described by the
//! JSON document at that URL, which the gateway fetches — the way MCP clients such as claude.ai
//! identify themselves without registering. Fetching a URL a stranger names is a request forgery
//! risk, so: https only; the host's addresses are resolved first and the fetch goes to a checked
//! one (no loopback, private, link-local, shared, multicast or unspecified address unless
//! `[oauth] client_metadata_allow_private`); no redirects; 5 seconds; 64 KiB; the document must
//! name itself as `client_id`. Documents are cached for 5 minutes (at most 1,000).

use super::clients::Client;
use crate::bounded::ExpiringMap;
use crate::config::check_redirect_uri;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

/// The largest document read.
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a document is trusted before it is fetched again.
const CACHE_FOR: Duration = Duration::from_secs(300);

fn cache() -> &'static ExpiringMap<String, Client> {
    static CACHE: OnceLock<ExpiringMap<String, Client>> = OnceLock::new();
    CACHE.get_or_init(|| ExpiringMap::new(1000))
}

/// Whether `id` is a client id of this kind: an https URL with a path.
pub fn is_document_url(id: &str) -> bool {
    id.starts_with("https://")
        && id.parse::<http::Uri>().is_ok_and(|u| u.host().is_some() && u.path().len() > 1 && u.query().is_none())
}

/// Whether an address is one a stranger's URL must not reach.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// The client the document at `url` describes: from the cache, or fetched.
pub async fn client(url: &str, allow_private: bool) -> Result<Client, String> {
    if let Some(client) = cache().with(&url.to_string(), |c| c.clone()) {
        return Ok(client);
    }
    let client = fetch(url, allow_private).await?;
    cache().insert_for(url.to_string(), client.clone(), CACHE_FOR);
    Ok(client)
}

async fn fetch(url: &str, allow_private: bool) -> Result<Client, String> {
    let uri: http::Uri = url.parse().map_err(|_| "the client id is not a URL".to_string())?;
    let host = uri.host().ok_or("the client id has no host")?.trim_matches(|c| c == '[' || c == ']').to_string();
    let port = uri.port_u16().unwrap_or(443);
    let resolve = tokio::net::lookup_host((host.as_str(), port));
    let addresses: Vec<SocketAddr> = tokio::time::timeout(FETCH_TIMEOUT, resolve)
        .await
        .map_err(|_| format!("{host} did not resolve in time"))?
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    let address = addresses
        .iter()
        .copied()
        .find(|a| allow_private || !is_internal(a.ip()))
        .ok_or_else(|| format!("{host} resolves only to internal addresses, which client ids may not name"))?;
    // The fetch goes to the address just checked, never to a second lookup's answer.
    let http = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, address)
        .tls_backend_preconfigured(crate::immich::https_client_config())
        .build()
        .map_err(|e| e.to_string())?;
    let mut response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("cannot fetch the client's metadata document: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the client's metadata document answered HTTP {}", response.status()));
    }
    if response.content_length().is_some_and(|n| n > MAX_DOCUMENT as u64) {
        return Err(format!("the client's metadata document is larger than {MAX_DOCUMENT} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("the document broke off: {e}"))? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("the client's metadata document is larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    parse(url, &body)
}

/// The client a document describes, checked.
fn parse(url: &str, body: &[u8]) -> Result<Client, String> {
    let document: Value = serde_json::from_slice(body).map_err(|_| "the client's metadata document is not JSON")?;
    if document["client_id"].as_str() != Some(url) {
        return Err("the metadata document's client_id is not its own URL".into());
    }
    let uris = document["redirect_uris"].as_array().filter(|u| !u.is_empty() && u.len() <= 10);
    let uris = uris.ok_or("the metadata document must list 1 to 10 redirect_uris")?;
    let mut redirect_uris = Vec::new();
    for uri in uris {
        let uri = uri.as_str().filter(|u| u.len() <= 2000).ok_or("a redirect URI is not a short string")?;
        check_redirect_uri(uri).map_err(|problem| format!("redirect URI {uri:?}: {problem}"))?;
        redirect_uris.push(uri.to_string());
    }
    let host = url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
    let name = match document["client_name"].as_str().map(str::trim) {
        Some(name) if !name.is_empty() && name.chars().count() <= 200 => format!("{name} ({host})"),
        _ => host,
    };
    Ok(Client { id: url.to_string(), name, redirect_uris })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn documents_must_name_themselves_and_list_good_redirects() {
        let url = "https://app.example/client.json";
        let ok = parse(url, br#"{"client_id":"https://app.example/client.json","client_name":"App","redirect_uris":["https://app.example/cb"]}"#);
        assert_eq!(ok.unwrap().name, "App (app.example)", "the host is shown beside the name a document claims");
        assert!(
            parse(url, br#"{"client_id":"https://other.example/c.json","redirect_uris":["https://a.example/cb"]}"#)
                .is_err()
        );
        assert!(
            parse(
                url,
                br#"{"client_id":"https://app.example/client.json","redirect_uris":["http://evil.example/cb"]}"#
            )
            .is_err()
        );
        assert!(parse(url, b"not json").is_err());
        assert!(
            is_document_url(url) && !is_document_url("https://app.example/") && !is_document_url("http://a.example/c")
        );
    }
}
