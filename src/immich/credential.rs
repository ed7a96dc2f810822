//! What an Immich request authenticates with, as Immich reads it: an API key (`x-api-key`), a
//! session token (`Authorization: Bearer`; the web app's `immich_access_token` cookie and the
//! `x-immich-user-token` header carry the same tokens) or a shared-link key (`x-immich-share-key`).
//! The secret is never printed: `Debug` shows only its kind.

use http::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::fmt;

/// Immich's API-key header.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// Immich's shared-link key header.
pub const X_IMMICH_SHARE_KEY: HeaderName = HeaderName::from_static("x-immich-share-key");

/// Which of Immich's credentials this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An API key.
    ApiKey,
    /// A login session's token.
    Session,
    /// A shared link's key.
    SharedLink,
}

/// One Immich credential, ready to be sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    kind: Kind,
    value: HeaderValue,
}

impl Credential {
    /// An API key; `None` when it cannot be a header value.
    pub fn api_key(key: &str) -> Option<Credential> {
        Credential::new(Kind::ApiKey, key)
    }

    /// A session token; `None` when it cannot be a header value.
    pub fn session(token: &str) -> Option<Credential> {
        Credential::new(Kind::Session, token)
    }

    /// A shared-link key; `None` when it cannot be a header value.
    pub fn shared_link(key: &str) -> Option<Credential> {
        Credential::new(Kind::SharedLink, key)
    }

    fn new(kind: Kind, secret: &str) -> Option<Credential> {
        let secret = secret.trim();
        if secret.is_empty() {
            return None;
        }
        let text = match kind {
            Kind::Session => format!("Bearer {secret}"),
            Kind::ApiKey | Kind::SharedLink => secret.to_string(),
        };
        let mut value = HeaderValue::from_str(&text).ok()?;
        value.set_sensitive(true);
        Some(Credential { kind, value })
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The header that carries it to Immich.
    pub fn header(&self) -> (HeaderName, &HeaderValue) {
        let name = match self.kind {
            Kind::ApiKey => X_API_KEY,
            Kind::Session => http::header::AUTHORIZATION,
            Kind::SharedLink => X_IMMICH_SHARE_KEY,
        };
        (name, &self.value)
    }

    /// A stable, non-reversible name for the secret (16 hex digits of its SHA-256), to tell two
    /// credentials apart without keeping either.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(format!("{:?}", self.kind).as_bytes());
        hash.update(b":");
        hash.update(self.value.as_bytes());
        hex::encode(&hash.finalize()[..8])
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({:?}, ..)", self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_goes_in_its_own_header_and_never_prints() {
        let key = Credential::api_key("secret-key").unwrap();
        assert_eq!(key.header(), (X_API_KEY, &HeaderValue::from_static("secret-key")));
        let session = Credential::session("tok").unwrap();
        assert_eq!(session.header().0, http::header::AUTHORIZATION);
        assert_eq!(session.header().1, "Bearer tok");
        assert!(!format!("{session:?}{key:?}").contains("tok") && !format!("{key:?}").contains("secret"));
        assert_ne!(key.fingerprint(), Credential::session("secret-key").unwrap().fingerprint());
        assert!(Credential::api_key("").is_none() && Credential::api_key("a\nb").is_none());
    }
}
