//! `[oauth]`: the gateway as an OAuth 2.1 authorization server (`[auth] mode = "oauth"`).

use super::units::Dur;
use serde::{Deserialize, Serialize};

/// `[oauth]`: token lifetimes, clients and the sign-in page's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// How long an access token is good for.
    pub access_token_ttl: Dur,
    /// How long a refresh token is good for; each use gives a new one (rotation).
    pub refresh_token_ttl: Dur,
    /// Accept RFC 7591 dynamic client registration (`POST /oauth/register`). The client id is
    /// sealed: nothing is stored.
    pub dynamic_registration: bool,
    /// Clients registered here, beside dynamic ones.
    pub clients: Vec<OAuthClient>,
    /// Accept Client ID Metadata Documents: a `client_id` that is an https URL is described by
    /// the JSON document there, which the gateway fetches (5 s, 64 KiB, cached 5 minutes).
    pub client_metadata_documents: bool,
    /// Let such URLs name loopback, private or link-local addresses (off: refused, so a client id
    /// cannot make the gateway reach inside its network).
    pub client_metadata_allow_private: bool,
    /// Failed sign-ins allowed per client address, and per email, within `login_window`; past
    /// it the sign-in page asks to wait.
    pub login_attempts: u32,
    /// The window `login_attempts` counts in.
    pub login_window: Dur,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            access_token_ttl: Dur::secs(3600),
            refresh_token_ttl: Dur::secs(30 * 86_400),
            dynamic_registration: true,
            clients: Vec::new(),
            client_metadata_documents: true,
            client_metadata_allow_private: false,
            login_attempts: 5,
            login_window: Dur::secs(300),
        }
    }
}

/// A client registered in the configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    /// Its `client_id`.
    pub id: String,
    /// The name the sign-in page shows.
    pub name: String,
    /// Redirect URIs it may use, matched exactly (a loopback one with any port).
    pub redirect_uris: Vec<String>,
}

impl OAuthConfig {
    /// Problems types alone cannot rule out, with their dotted keys.
    pub(super) fn validate(&self, problems: &mut Vec<(String, String)>) {
        if self.access_token_ttl.0.is_zero() {
            problems.push(("oauth.access_token_ttl".into(), "must be greater than zero".into()));
        }
        if self.refresh_token_ttl.0 < self.access_token_ttl.0 {
            problems.push(("oauth.refresh_token_ttl".into(), "must be at least access_token_ttl".into()));
        }
        if self.login_attempts == 0 || self.login_window.0.is_zero() {
            problems.push(("oauth.login_attempts".into(), "login_attempts and login_window must be above zero".into()));
        }
        for (n, client) in self.clients.iter().enumerate() {
            if client.id.trim().is_empty() || client.id.len() > 255 {
                problems.push((format!("oauth.clients[{n}].id"), "must be 1 to 255 characters".into()));
            }
            if client.redirect_uris.is_empty() {
                problems.push((format!("oauth.clients[{n}].redirect_uris"), "needs at least one redirect URI".into()));
            }
            for uri in &client.redirect_uris {
                if let Err(problem) = check_redirect_uri(uri) {
                    problems.push((format!("oauth.clients[{n}].redirect_uris"), format!("{uri:?}: {problem}")));
                }
            }
        }
    }
}

/// Whether `uri` may be a redirect URI (OAuth 2.1 §2.3.1): absolute, no fragment, and https
/// unless it is a loopback address or an app's private scheme (`com.example.app:/callback`).
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err("must not contain spaces or control characters");
    }
    if uri.contains('#') {
        return Err("must not have a fragment");
    }
    let (scheme, _) = uri.split_once(':').ok_or("not an absolute URI")?;
    let well_formed = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !well_formed {
        return Err("not an absolute URI");
    }
    let host = || uri.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string));
    match scheme.to_ascii_lowercase().as_str() {
        "https" if host().is_some() => Ok(()),
        "http" if matches!(host().as_deref(), Some("127.0.0.1" | "[::1]" | "localhost")) => Ok(()),
        "http" => Err("http is allowed only for loopback addresses (127.0.0.1, [::1], localhost)"),
        "https" => Err("not a URL with a host"),
        "javascript" | "data" | "file" | "vbscript" | "blob" => Err("this scheme cannot be a redirect"),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err("must be https, loopback http, or a private-use scheme like com.example.app"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_oauth_2_1() {
        for ok in ["https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1:33418/callback", "http://localhost/cb"]
        {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        assert!(check_redirect_uri("com.example.app:/callback").is_ok());
        for bad in ["http://evil.example/cb", "javascript:alert(1)", "/relative", "https://a.example/cb#frag", ""] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
