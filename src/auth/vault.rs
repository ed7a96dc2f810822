//! Sealed, self-contained OAuth values — client ids, consent forms, authorization codes, access
//! and refresh tokens — encrypted and authenticated with XChaCha20-Poly1305, so that any replica
//! holding the secret can open them and nobody else can read or forge them. They carry an Immich
//! API key, which is why these are encrypted where session ids are only signed.
//!
//! The key is derived from `[mcp] session_secret` (and each of `previous_session_secrets`, which
//! still open what they sealed: rotation without a flag day). Without a configured secret a
//! random one per process is used, so tokens then survive reloads but not restarts or other
//! replicas. Each value's kind is the AEAD's associated data: a code never opens as a token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use std::sync::OnceLock;

/// The version prefix of every sealed value: a later format can be told apart.
const PREFIX: &str = "g1.";
/// Bytes of the nonce (XChaCha20's 192 bits: random nonces never collide in practice).
const NONCE: usize = 24;

/// Seals and opens OAuth values (see the module documentation).
#[derive(Clone)]
pub struct Vault {
    /// The current cipher first, then one per previous secret.
    ciphers: Vec<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("keys", &self.ciphers.len()).finish()
    }
}

/// This process's own secret, for a gateway configured without one.
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(rand::random)
}

fn cipher(secret: &[u8]) -> XChaCha20Poly1305 {
    // A key of its own for this use, whatever else the secret signs.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"immich-mcp-gateway oauth vault v1");
    XChaCha20Poly1305::new(&mac.finalize().into_bytes())
}

impl Vault {
    /// A vault sealing under `current` (this process's own secret when `None`) and opening under
    /// it and every one of `previous`.
    pub fn new(current: Option<&[u8]>, previous: &[&[u8]]) -> Vault {
        let current = current.unwrap_or(process_secret());
        Vault { ciphers: std::iter::once(current).chain(previous.iter().copied()).map(cipher).collect() }
    }

    /// `value` sealed as `kind`: URL-safe text.
    pub fn seal<T: Serialize>(&self, kind: &str, value: &T) -> String {
        let plain = serde_json::to_vec(value).expect("sealed values serialize");
        let nonce: [u8; NONCE] = rand::random();
        let sealed = self.ciphers[0]
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: kind.as_bytes() })
            .expect("encryption of an in-memory buffer cannot fail");
        let mut bytes = Vec::with_capacity(NONCE + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The value sealed as `kind` in `text`, if any of the secrets sealed it; `None` for anything
    /// else (tampered, another kind, another gateway, not ours at all).
    pub fn open<T: DeserializeOwned>(&self, kind: &str, text: &str) -> Option<T> {
        // Far above any value the gateway seals; a bigger one is not worth decoding.
        if text.len() > 8192 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() <= NONCE {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let plain = self.ciphers.iter().find_map(|cipher| {
            cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: kind.as_bytes() }).ok()
        })?;
        serde_json::from_slice(&plain).ok()
    }

    /// Whether `text` looks like something this gateway seals (to tell a token of ours from an
    /// opaque one of somebody else's in error messages).
    pub fn looks_sealed(text: &str) -> bool {
        text.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claim {
        key: String,
        exp: u64,
    }

    #[test]
    fn values_open_only_as_their_kind_under_their_secrets() {
        let vault = Vault::new(Some(b"current-secret-current-secret-32"), &[]);
        let claim = Claim { key: "immich-key".into(), exp: 7 };
        let sealed = vault.seal("access", &claim);
        assert!(!sealed.contains("immich-key"), "the content is encrypted");
        assert_eq!(vault.open::<Claim>("access", &sealed), Some(claim));
        assert_eq!(vault.open::<Claim>("refresh", &sealed), None, "another kind never opens");
        assert_ne!(sealed, vault.seal("access", &Claim { key: "immich-key".into(), exp: 7 }), "fresh nonces");

        // One changed character anywhere: nothing opens.
        for at in [PREFIX.len(), sealed.len() / 2, sealed.len() - 1] {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            assert_eq!(vault.open::<Claim>("access", std::str::from_utf8(&bytes).unwrap()), None);
        }
        for junk in ["", "g1.", "g1.AAAA", "x1.abc", "g1.!!!!"] {
            assert_eq!(vault.open::<Claim>("access", junk), None, "{junk:?}");
        }
    }

    #[test]
    fn rotation_opens_what_the_previous_secret_sealed() {
        let old = Vault::new(Some(b"old"), &[]);
        let sealed = old.seal("access", &1u32);
        let rotated = Vault::new(Some(b"new"), &[b"old"]);
        assert_eq!(rotated.open::<u32>("access", &sealed), Some(1));
        assert_eq!(Vault::new(Some(b"new"), &[]).open::<u32>("access", &sealed), None);
        assert_eq!(old.open::<u32>("access", &rotated.seal("access", &2u32)), None, "new seals use the new key");
        let unconfigured = Vault::new(None, &[]);
        assert_eq!(Vault::new(None, &[]).open::<u32>("x", &unconfigured.seal("x", &3u32)), Some(3));
    }
}
