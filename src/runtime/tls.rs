//! HTTPS on the gateway's own listeners (`[server] tls_listen`).
//!
//! The certificate belongs to the configuration: it is read, checked against its key and kept in
//! the [`Runtime`](super::Runtime) like every other file the configuration
//! names, and the listeners ask the current runtime for it on each handshake. So a renewed
//! certificate (cert-manager rewriting a Secret, say) is served from the next reload on, with no
//! restart, and a broken one is refused like any bad configuration while the old one stays.

use super::ConfigStore;
use crate::config::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// The certificate and key that `[server]` names, read and checked; `None` without them
/// (validation has already refused `tls_listen` without both files, and files without it).
/// Errors name the key at fault and say what is wrong with its file.
pub fn load(server: &ServerConfig) -> Result<Option<Arc<CertifiedKey>>, (String, String)> {
    let (Some(cert_file), Some(key_file)) = (&server.tls_cert_file, &server.tls_key_file) else { return Ok(None) };
    let chain = read_chain(cert_file).map_err(|e| ("server.tls_cert_file".to_string(), e))?;
    let key = read_key(key_file).map_err(|e| ("server.tls_key_file".to_string(), e))?;
    let certified = CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
        let message = format!("{} cannot serve {}: {e}", key_file.display(), cert_file.display());
        ("server.tls_key_file".to_string(), message)
    })?;
    Ok(Some(Arc::new(certified)))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a PEM certificate chain: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate (BEGIN CERTIFICATE)", path.display()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}", path.display()))
}

/// Hands each TLS handshake the certificate of the configuration in force.
pub struct CurrentCertificate {
    /// Where the configuration in force is.
    pub store: Arc<ConfigStore>,
}

impl std::fmt::Debug for CurrentCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCertificate")
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store.current().tls.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Option<std::path::PathBuf> {
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name))
    }

    fn server(cert: &str, key: &str) -> ServerConfig {
        ServerConfig {
            tls_listen: vec!["127.0.0.1:0".into()],
            tls_cert_file: fixture(cert),
            tls_key_file: fixture(key),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn a_matching_pair_loads() {
        let certified = load(&server("cert-a.pem", "key-a.pem")).unwrap().unwrap();
        assert_eq!(certified.cert.len(), 1);
        assert!(load(&ServerConfig::default()).unwrap().is_none(), "no tls_listen, no certificate");
    }

    #[test]
    fn bad_files_name_their_key() {
        for (cert, key, at_fault, says) in [
            ("cert-a.pem", "key-b.pem", "server.tls_key_file", "cannot serve"),
            ("missing.pem", "key-a.pem", "server.tls_cert_file", "cannot read"),
            ("key-a.pem", "key-a.pem", "server.tls_cert_file", "no certificate"),
            ("cert-a.pem", "cert-a.pem", "server.tls_key_file", "no PEM private key"),
        ] {
            let (key_name, message) = load(&server(cert, key)).unwrap_err();
            assert_eq!(key_name, at_fault, "{cert} + {key}");
            assert!(message.contains(says), "{cert} + {key}: {message}");
        }
    }
}
