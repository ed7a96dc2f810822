//! The gateway as Immich's front door: everything that is not the gateway's own reaches Immich
//! unchanged (the web app, `/.well-known/immich`), the gateway's own paths can move under a prefix
//! or, for health and metrics, to an admin port, and what Immich's reverse-proxy guide asks of a
//! proxy is forwarded.

mod common;

use common::{CaptureUpstream, Gateway, client, header, raw_get};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};

/// A gateway process started with `config` and `--demo`, waited on at `ready_url` (a `/health`
/// that is not at the root of the main port), killed on drop.
struct Started(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &str, health_base: &str, health_path: &str) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        .arg("--config")
        .arg(&path)
        .arg("--demo")
        .env("IMMICH_GATEWAY__SERVER__UPGRADE_SOCK", dir.path().join("upgrade.sock"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap())
        .spawn()
        .unwrap();
    let started = Started(child, dir);
    common::wait_for_gateway(health_base, health_path);
    started
}

#[tokio::test]
async fn the_web_app_and_the_mobile_apps_discovery_reach_immich() {
    // Inject mode: the gateway's keys guard /api; the web app's pages need none.
    let hash = immich_mcp_gateway::config::KeyHash::of("a-gateway-key");
    let gw = Gateway::start(
        &format!("[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"agent\"\nhash = \"{hash}\"\n"),
        &["--demo"],
    );
    let c = client();
    let page = c.get(gw.at("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().contains_key("x-request-id"));
    assert!(page.text().await.unwrap().contains("Immich demo"));
    // A route of the single-page app, and HEAD.
    assert_eq!(c.get(gw.at("/photos/0000")).send().await.unwrap().status(), 200);
    let head = c.head(gw.at("/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers()["content-length"].to_str().unwrap().parse::<u64>().unwrap() > 0);

    let discovery: Value = c.get(gw.at("/.well-known/immich")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery, json!({ "api": { "endpoint": "/api" } }));

    // /api still needs a gateway key here, and paths that could resolve into it are held to it.
    assert_eq!(c.get(gw.at("/api/albums")).send().await.unwrap().status(), 401);
    for sneaky in ["/x/../api/albums", "/API/albums", "/%61pi/albums", "//api/albums"] {
        let (status, _, body) = raw_get(&gw.url, sneaky).unwrap();
        assert!(status == 400 || status == 401, "{sneaky}: {status} {}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn immichs_other_paths_go_unchanged_with_the_forwarding_headers_of_its_guide() {
    let upstream = CaptureUpstream::start();
    let gw = Gateway::start(&format!("[immich]\nbase_url = \"http://{}\"\n", upstream.addr), &[]);
    let request = "GET /albums/abc?x=1&stream=sse HTTP/1.1\r\nHost: photos.example\r\nCookie: immich_access_token=t\r\nX-Custom: kept\r\nConnection: close\r\n\r\n";
    let (status, _, _) = common::raw_request(&gw.url, request.as_bytes()).unwrap();
    assert_eq!(status, 200);
    let head = upstream.last();
    assert!(head.starts_with("GET /albums/abc?x=1&stream=sse HTTP/1.1"), "path and query unchanged: {head}");
    assert_eq!(header(&head, "cookie").as_deref(), Some("immich_access_token=t"));
    assert_eq!(header(&head, "x-custom").as_deref(), Some("kept"));
    assert_eq!(header(&head, "x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(header(&head, "x-real-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(header(&head, "x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(header(&head, "x-forwarded-host").as_deref(), Some("photos.example"));
}

#[tokio::test]
async fn a_path_prefix_moves_the_gateways_own_paths() {
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _gw = start(
        &format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\npath_prefix = \"/gateway\"\n"),
        &base,
        "/gateway/health",
    );
    let c = client();
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } } });
    let answer = c
        .post(format!("{base}/gateway/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("mcp-session-id"));
    // The old paths are Immich's now.
    let page = c.get(format!("{base}/mcp")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Immich demo"), "{page}");
    let metadata: Value = c
        .get(format!("{base}/.well-known/oauth-protected-resource/gateway/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], format!("{base}/gateway/mcp"));
}

#[tokio::test]
async fn an_admin_port_serves_health_readiness_and_metrics_alone() {
    let (port, admin) = (common::free_port(), common::free_port());
    let (base, admin_base) = (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{admin}"));
    let _gw = start(
        &format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\nadmin_listen = \"127.0.0.1:{admin}\"\n"),
        &admin_base,
        "/health",
    );
    let c = client();
    assert_eq!(c.get(format!("{admin_base}/ready")).send().await.unwrap().status(), 200);
    let metrics = c.get(format!("{admin_base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gateway_http_requests_total"), "{metrics}");
    let elsewhere = c.get(format!("{admin_base}/mcp")).send().await.unwrap();
    assert_eq!(elsewhere.status(), 404);
    assert!(elsewhere.text().await.unwrap().contains("/health"));
    // On the main port those paths are Immich's; MCP and the API stay.
    let page = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Immich demo"), "{page}");
    let ping = c.get(format!("{base}/api/server/ping")).send().await.unwrap();
    assert_eq!(ping.status(), 200);
    let config = c
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }))
        .send()
        .await
        .unwrap();
    assert_ne!(config.status(), 404);
}

#[test]
fn check_refuses_a_bad_prefix_and_a_shared_admin_port() {
    for (config, key) in [
        ("[server]\npath_prefix = \"gateway/\"\n", "server.path_prefix"),
        ("[server]\npath_prefix = \"/api/gw\"\n", "server.path_prefix"),
        ("[server]\nlisten = [\"127.0.0.1:9000\"]\nadmin_listen = \"127.0.0.1:9000\"\n", "server.admin_listen"),
    ] {
        let (ok, errors) = common::check_config(config);
        assert!(!ok && errors.contains(key), "{config}: {errors}");
    }
}

#[tokio::test]
async fn http2_does_not_offer_websockets_over_it() {
    // RFC 8441 extended CONNECT would invite browsers to open Immich's WebSockets over HTTP/2,
    // which the proxy does not carry (Firefox and Immich broke on exactly that): not advertised.
    let gw = Gateway::start("", &["--demo"]);
    let tcp = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    let (mut send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(gw.at("/api/server/ping")).body(()).unwrap();
    let (response, _) = send.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200, "HTTP/2 (h2c) is served");
    assert!(!send.is_extended_connect_protocol_enabled(), "SETTINGS_ENABLE_CONNECT_PROTOCOL is not sent");
}

#[test]
fn a_listen_address_the_process_cannot_use_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let start = |config: &str, unprivileged: bool| {
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let mut command = if unprivileged {
            // As an unprivileged user (nobody), when the tests run as root (CI does); from a copy
            // in the test's directory, which nobody can reach wherever the checkout lives.
            let binary = dir.path().join("immich-mcp-gateway");
            std::fs::copy(env!("CARGO_BIN_EXE_immich-mcp-gateway"), &binary).unwrap();
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&binary);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        };
        let output = command.arg("--config").arg(&path).arg("--demo").output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (code, errors) =
        start(&format!("[server]\nlisten = [\"{addr}\"]\nupgrade_sock = \"{}/u.sock\"\n", dir.path().display()), false);
    assert_eq!(code, Some(1), "{errors}");
    assert!(errors.contains("server.listen") && errors.contains("another process listens there"), "{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if root {
        let (code, errors) = start(
            &format!("[server]\nlisten = [\"127.0.0.1:81\"]\nupgrade_sock = \"{}/u.sock\"\n", dir.path().display()),
            true,
        );
        assert_eq!(code, Some(1), "{errors}");
        assert!(errors.contains("cannot listen on 127.0.0.1:81") && errors.contains("below 1024"), "{errors}");
        assert!(!errors.contains("panicked"), "{errors}");
    }
}

#[test]
fn a_pid_file_or_upgrade_socket_where_nothing_can_be_written_is_a_clear_error() {
    // Pingora would panic writing them (the daemon after its parent had exited 0).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let port = common::free_port();
    std::fs::write(
        &path,
        format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\npid_file = \"/proc/nowhere/gw.pid\"\nupgrade_sock = \"/proc/nowhere/u.sock\"\n"),
    )
    .unwrap();
    for (flag, key) in [("-d", "server.pid_file"), ("-u", "server.upgrade_sock")] {
        let output = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
            .arg("--config")
            .arg(&path)
            .args(["--demo", flag])
            .output()
            .unwrap();
        let errors = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flag}: {errors}");
        assert!(
            errors.contains(key) && errors.contains("writable directory") && !errors.contains("panicked"),
            "{errors}"
        );
    }
}

#[tokio::test]
async fn in_inject_mode_immichs_own_apps_can_be_let_through_as_themselves() {
    let hash = immich_mcp_gateway::config::KeyHash::of("a-gateway-key");
    let gw = Gateway::start(
        &format!(
            "[immich]\napi_key = \"{}\"\n[auth]\nmode = \"inject\"\nimmich_apps = true\n[[auth.keys]]\nname = \"agent\"\nhash = \"{hash}\"\n",
            common::ADMIN
        ),
        &["--demo"],
    );
    let c = client();
    // An app signed in as another person (the demo's second user) acts as that person.
    let own = c.get(gw.at("/api/users/me")).header("x-api-key", "demo-friend-key").send().await.unwrap();
    assert_eq!(own.status(), 200);
    let me: Value = own.json().await.unwrap();
    let admin: Value =
        c.get(gw.at("/api/users/me")).bearer_auth("a-gateway-key").send().await.unwrap().json().await.unwrap();
    assert_ne!(me["id"], admin["id"], "the app acts as its own person, the agent as the gateway's key");
    // No credential: Immich's own answer, never the gateway's key.
    let anonymous = c.get(gw.at("/api/users/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().get("www-authenticate").is_none(), "Immich's 401, not the gateway's");
    // MCP still needs a gateway key.
    let mcp =
        c.post(gw.at("/mcp")).header("accept", "application/json, text/event-stream").json(&json!({})).send().await;
    assert_eq!(mcp.unwrap().status(), 401);
}
