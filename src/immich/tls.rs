//! TLS to Immich, one set of rules for every client the gateway has: the system's CA certificates
//! (through the platform verifier), Mozilla's bundled roots where the system has none — a
//! `FROM scratch` image has no `/etc/ssl/certs`, and a plain-HTTP Immich, the sidecar case, never
//! needs any — and no verification at all only when `[immich] verify_tls = false`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The rustls settings for reaching Immich over `https` (or not), verifying its certificate or not.
/// Never fails: without system roots it verifies against the bundled ones, and says so.
pub(crate) fn client_config(https: bool, verify: bool) -> ClientConfig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !https {
        return ClientConfig::builder().with_root_certificates(RootCertStore::empty()).with_no_client_auth();
    }
    if !verify {
        let builder = ClientConfig::builder().dangerous();
        return builder.with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate)).with_no_client_auth();
    }
    use rustls_platform_verifier::BuilderVerifierExt;
    match ClientConfig::builder().with_platform_verifier() {
        Ok(builder) => builder.with_no_client_auth(),
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates: Immich's certificate is checked against the bundled Mozilla roots");
            ClientConfig::builder().with_root_certificates(bundled_roots()).with_no_client_auth()
        }
    }
}

/// Mozilla's root certificates, as shipped with the binary.
fn bundled_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    roots
}

/// `verify_tls = false`: every certificate is accepted.
#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_roots_are_there() {
        assert!(bundled_roots().len() > 100);
    }
}
