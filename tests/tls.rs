//! HTTPS on `[server] tls_listen`: HTTP/1.1 and HTTP/2 (ALPN) with the configured certificate, a
//! renewed certificate served without a restart, and bad certificate files refused by `--check`
//! and by a reload. The client is curl, verifying against the test certificates
//! (`tests/fixtures/tls`: self-signed for 127.0.0.1 and localhost, test-only keys).

mod common;

use common::{ADMIN, Gateway, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

/// `curl` over HTTPS trusting only `ca`: (HTTP version, status, body), or curl's error.
fn curl(ca: &str, url: &str, extra: &[&str]) -> Result<(String, u16, String), String> {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(fixture(ca))
        .args(extra)
        .args(["-w", "\n%{http_version} %{http_code}", url])
        .output()
        .expect("curl is installed by .ci/run");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (version, status) = tail.split_once(' ').unwrap();
    Ok((version.to_string(), status.parse().unwrap(), body.to_string()))
}

/// A gateway on the demo serving HTTPS with the certificate pair `name` (a or b), copied into a
/// directory of its own so the test can rewrite it; the config, its HTTPS URL and that directory.
fn start_with_tls(name: &str) -> (Gateway, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(&format!("cert-{name}.pem")), dir.path().join("cert.pem")).unwrap();
    std::fs::copy(fixture(&format!("key-{name}.pem")), dir.path().join("key.pem")).unwrap();
    let port = free_port();
    let config = format!(
        "[server]\ntls_listen = [\"127.0.0.1:{port}\"]\ntls_cert_file = \"{cert}\"\ntls_key_file = \"{key}\"\n\
         config_poll_interval = \"100ms\"\n",
        cert = dir.path().join("cert.pem").display(),
        key = dir.path().join("key.pem").display(),
    );
    let gateway = Gateway::start(&config, &["--demo"]);
    (gateway, format!("https://127.0.0.1:{port}"), dir)
}

#[test]
fn https_serves_http1_and_http2_with_the_configured_certificate() {
    let (gw, https, _dir) = start_with_tls("a");

    let (version, status, body) = curl("cert-a.pem", &format!("{https}/health"), &[]).unwrap();
    assert_eq!((version.as_str(), status), ("2", 200), "HTTP/2 by ALPN: {body}");
    assert!(body.contains("\"healthy\""), "{body}");

    let key = format!("x-api-key: {ADMIN}");
    let (version, status, body) =
        curl("cert-a.pem", &format!("{https}/api/server/ping"), &["--http1.1", "-H", &key]).unwrap();
    assert_eq!((version.as_str(), status, body.as_str()), ("1.1", 200, "{\"res\":\"pong\"}"));

    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}"#;
    let args =
        ["-H", "content-type: application/json", "-H", "accept: application/json, text/event-stream", "-d", initialize];
    let (_, status, body) = curl("cert-a.pem", &format!("{https}/mcp"), &args).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"protocolVersion\":\"2025-11-25\""), "{body}");

    // The plain listener still answers beside HTTPS, and a client that trusts another
    // certificate is refused at the handshake.
    assert_eq!(common::raw_get(&gw.url, "/health").unwrap().0, 200);
    let refused = curl("cert-b.pem", &format!("{https}/health"), &[]).unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let (gw, https, dir) = start_with_tls("a");
    let health = format!("{https}/health");
    assert!(curl("cert-a.pem", &health, &[]).is_ok());

    // A renewal written one file at a time: with the new certificate beside the old key the pair
    // is refused, and the running certificate stays.
    std::fs::copy(fixture("cert-b.pem"), dir.path().join("cert.pem")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.log().contains("cannot serve") {
        assert!(Instant::now() < deadline, "the mismatched pair was not refused; log:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(curl("cert-a.pem", &health, &[]).is_ok(), "the old certificate must stay in service");

    std::fs::copy(fixture("key-b.pem"), dir.path().join("key.pem")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl("cert-b.pem", &health, &[]).is_err() {
        assert!(Instant::now() < deadline, "the renewed certificate was not served; log:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(curl("cert-a.pem", &health, &[]).is_err(), "the old certificate is gone");
    let (_, _, body) = curl("cert-b.pem", &health, &[]).unwrap();
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["pid"].as_u64(), Some(u64::from(gw.pid())), "same process, no restart");
}

#[test]
fn check_refuses_incomplete_or_mismatched_tls_settings() {
    let check = common::check_config;
    let (ok, errors) = check("[server]\ntls_listen = [\"127.0.0.1:8443\"]\n");
    assert!(!ok);
    assert!(errors.contains("gateway.toml:2:1: server.tls_listen: HTTPS needs both"), "{errors}");

    let mismatched = format!(
        "[server]\ntls_listen = [\"127.0.0.1:8443\"]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        fixture("cert-a.pem").display(),
        fixture("key-b.pem").display()
    );
    let (ok, errors) = check(&mismatched);
    assert!(!ok);
    assert!(errors.contains("server.tls_key_file") && errors.contains("cannot serve"), "{errors}");

    let good = mismatched.replace("key-b.pem", "key-a.pem");
    let (ok, errors) = check(&good);
    assert!(ok, "{errors}");
}
