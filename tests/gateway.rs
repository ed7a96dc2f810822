//! The gateway binary end to end: proxying to the demo Immich, auth modes, upstream failures,
//! its own endpoints, limits and hostile paths.

mod common;

use common::{ADMIN, CaptureUpstream, Gateway, READONLY, client, closed_port, header, raw_request};
use immich_mcp_gateway::config::KeyHash;
use serde_json::{Value, json};
use std::time::Duration;

const GATEWAY_KEY: &str = "gw-agent-secret";
const READER_KEY: &str = "gw-reader-secret";

fn inject_config() -> String {
    format!(
        r#"
[auth]
mode = "inject"

[[auth.keys]]
name = "agent"
hash = "{}"

[[auth.keys]]
name = "reader"
hash = "{}"
immich_api_key = "{READONLY}"
"#,
        KeyHash::of(GATEWAY_KEY),
        KeyHash::of(READER_KEY)
    )
}

#[tokio::test]
async fn proxies_get_and_post_with_bodies() {
    let gw = Gateway::start("", &["--demo"]);
    let c = client();
    let ping: Value = c.get(gw.at("/api/server/ping")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ping, json!({ "res": "pong" }));

    let response = c
        .post(gw.at("/api/search/metadata"))
        .header("x-api-key", ADMIN)
        .json(&json!({ "size": 25, "city": "Berlin", "withExif": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    let items = body["assets"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 25);
    assert!(items.iter().all(|a| a["exifInfo"]["city"] == "Berlin"));

    let created = c
        .post(gw.at("/api/albums"))
        .header("x-api-key", ADMIN)
        .json(&json!({ "albumName": "via gateway" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let thumb = c
        .get(gw.at(&format!("/api/assets/{}/thumbnail", items[0]["id"].as_str().unwrap())))
        .header("x-api-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/webp");
    assert!(thumb.bytes().await.unwrap().starts_with(b"RIFF"));
}

#[tokio::test]
async fn passthrough_forwards_client_credentials_unchanged() {
    let gw = Gateway::start("[auth]\nmode = \"passthrough\"\n", &["--demo"]);
    let c = client();
    let anonymous = c.get(gw.at("/api/users/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        json!({ "message": "Authentication required" }),
        "Immich's own 401"
    );
    let denied = c
        .post(gw.at("/api/albums"))
        .header("x-api-key", READONLY)
        .json(&json!({ "albumName": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(denied.json::<Value>().await.unwrap()["message"], "Missing required permission: album.create");
    let me = c.get(gw.at("/api/api-keys/me")).header("x-api-key", READONLY).send().await.unwrap();
    let status = me.status();
    let headers = format!("{:?}", me.headers());
    let body = me.text().await.unwrap();
    assert_eq!(status, 200, "{headers} {body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["name"], "demo read-only", "{body}");
}

#[tokio::test]
async fn inject_mode_swaps_gateway_keys_for_immich_keys() {
    let gw = Gateway::start(&inject_config(), &["--demo"]);
    let c = client();

    let missing = c.get(gw.at("/api/users/me")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(missing.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("missing gateway API key"));
    assert!(body["requestId"].is_string());

    // An Immich key is not a gateway key: it is refused and never forwarded.
    let immich_key = c.get(gw.at("/api/users/me")).header("x-api-key", ADMIN).send().await.unwrap();
    assert_eq!(immich_key.status(), 401);

    let me: Value =
        c.get(gw.at("/api/api-keys/me")).header("x-api-key", GATEWAY_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["name"], "demo admin", "the agent key maps to the gateway's Immich key");
    let me: Value =
        c.get(gw.at("/api/api-keys/me")).bearer_auth(READER_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["name"], "demo read-only", "the reader key maps to its own Immich key");
    let denied =
        c.post(gw.at("/api/albums")).bearer_auth(READER_KEY).json(&json!({ "albumName": "x" })).send().await.unwrap();
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn forwarded_requests_carry_proxy_headers_and_never_client_secrets() {
    let upstream = CaptureUpstream::start();
    let config = format!(
        "{}\n[immich]\nbase_url = \"http://{}\"\napi_key = \"immich-secret\"\n",
        inject_config(),
        upstream.addr
    );
    let gw = Gateway::start(&config, &[]);
    let c = client();
    let response = c
        .get(gw.at("/api/albums/../server/ping?x=1"))
        .header("x-api-key", GATEWAY_KEY)
        .header("cookie", "immich_access_token=client-cookie")
        .header("x-request-id", "trace-me-123")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    let head = upstream
        .heads
        .lock()
        .unwrap()
        .iter()
        .find(|h| h.starts_with("GET /api/server/ping?x=1 "))
        .cloned()
        .unwrap_or_default();
    assert!(head.starts_with("GET /api/server/ping?x=1 HTTP/1.1"), "{head}");
    assert_eq!(header(&head, "x-api-key").as_deref(), Some("immich-secret"));
    assert_eq!(header(&head, "cookie"), None);
    assert_eq!(header(&head, "authorization"), None);
    assert_eq!(header(&head, "x-request-id").as_deref(), Some("trace-me-123"));
    assert_eq!(header(&head, "x-forwarded-for").as_deref(), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(header(&head, "x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(header(&head, "host"), Some(upstream.addr.to_string()));
    assert!(!head.contains(GATEWAY_KEY));

    // Without a client id the gateway makes one, and it reaches Immich too.
    let response = c.get(gw.at("/api/server/ping")).header("x-api-key", GATEWAY_KEY).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    // Look among all heads: the gateway's start-up probe may reach the upstream at any moment.
    let heads = upstream.heads.lock().unwrap().clone();
    assert!(heads.iter().any(|h| header(h, "x-request-id").as_deref() == Some(id.as_str())), "{heads:?}");
}

#[tokio::test]
async fn unreachable_immich_gives_502_and_ready_503() {
    let config = format!("[immich]\nbase_url = \"http://127.0.0.1:{}\"\nconnect_timeout = \"1s\"\n", closed_port());
    let gw = Gateway::start(&config, &[]);
    let c = client();
    let response = c.get(gw.at("/api/server/ping")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["connection"], "close", "a failed proxy attempt closes the connection and says so");
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("cannot reach Immich"), "{body}");
    assert_eq!(body["requestId"], id.as_str());

    let health = c.get(gw.at("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "liveness does not depend on Immich");
    let ready = c.get(gw.at("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("cannot connect to Immich"), "{body}");
    assert!(gw.log().contains("Immich is not reachable"), "a clear start-up log line");
}

/// An Immich that sends its ping reply's head but never its body: `/ready` says it timed out,
/// not that the reply is not JSON.
#[tokio::test]
async fn ready_says_when_immich_timed_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{\"res\"");
            held.push(stream);
        }
    });
    let gw = Gateway::start(&format!("[immich]\nbase_url = \"http://{addr}\"\n"), &[]);
    let ready = client().get(gw.at("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("in time"), "{body}");
}

#[tokio::test]
async fn slow_immich_gives_504() {
    let gw = Gateway::start("[immich]\nread_timeout = \"300ms\"\n", &["--demo"]);
    let response = client().get(gw.at("/api/server/ping")).header("x-demo-fault", "slow=2s").send().await.unwrap();
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Immich did not answer in time");
    let metrics = client().get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gateway_upstream_errors_total{kind=\"timeout\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_closed_pooled_connection_is_retried_only_when_the_request_can_be_sent_again() {
    // Each connection answers once; a request that finds it in the gateway's pool finds it closed.
    let upstream = CaptureUpstream::start_answering(1);
    let gw = Gateway::start(&format!("[immich]\nbase_url = \"http://{}\"\n", upstream.addr), &[]);
    let c = client();
    let sent = |n: usize| upstream.heads.lock().unwrap().iter().filter(|h| h.contains(&format!("?n={n} "))).count();
    // A request usually finds the previous one's connection in the pool, but not always (the
    // gateway pools it just after the client has its answer): five of each make sure it does.
    let pooled = || tokio::time::sleep(Duration::from_millis(50));

    let mut sent_twice = 0;
    for n in 1..=5 {
        let response = c.get(gw.at(&format!("/api/server/ping?n={n}"))).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {n}: {}", response.text().await.unwrap());
        let times = sent(n);
        assert!(times == 1 || times == 2, "GET {n} sent {times} times");
        sent_twice += usize::from(times == 2);
        pooled().await;
    }
    assert!(sent_twice > 0, "a GET met a closed pooled connection and went again on another");

    // A POST may have been acted on: it is never sent twice, and a client whose POST met a
    // closed connection hears why.
    let mut refused = 0;
    for n in 6..=10 {
        let response =
            c.post(gw.at(&format!("/api/albums?n={n}"))).json(&json!({ "albumName": "x" })).send().await.unwrap();
        let status = response.status();
        assert_eq!(sent(n), 1, "POST {n} sent once");
        if status == 502 {
            let body: Value = response.json().await.unwrap();
            assert!(
                body["error"].as_str().unwrap().contains("Immich closed the connection before answering"),
                "{body}"
            );
            refused += 1;
        } else {
            assert_eq!(status, 200, "POST {n}");
        }
        pooled().await;
    }
    assert!(refused > 0, "a POST met a closed pooled connection");

    let metrics = c.get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("gateway_upstream_retries_total {sent_twice}\n")), "{metrics}");
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let gw = Gateway::start("", &["--demo"]);
    let c = client();
    let health: Value = c.get(gw.at("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "immich-mcp-gateway");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["active_sessions"].is_u64() && health["uptime_seconds"].is_u64());
    assert_eq!(c.get(gw.at("/ready")).send().await.unwrap().status(), 200);
    assert_eq!(c.post(gw.at("/health")).send().await.unwrap().status(), 405);
    // Anything else is Immich's: its web app, or its own 404 under /api.
    assert_eq!(c.get(gw.at("/nope")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(gw.at("/api/nope")).send().await.unwrap().status(), 404);

    c.get(gw.at("/api/server/ping")).send().await.unwrap();
    let response = c.get(gw.at("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let samples = parse_prometheus(&text);
    assert_eq!(samples.get("gateway_build_info{version=\"0.1.0\"}"), Some(&1.0));
    assert!(samples["gateway_http_requests_total{route=\"api\",status=\"200\"}"] >= 1.0);
    assert!(samples["gateway_http_request_duration_seconds_count{route=\"api\"}"] >= 1.0);
    assert!(samples["gateway_upstream_request_duration_seconds_count{route=\"api\"}"] >= 1.0);
    assert_eq!(samples["gateway_config_reloads_total{result=\"error\"}"], 0.0);

    let output = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("promtool (Debian: prometheus) checks the metrics text: run ./test, which installs it");
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Parses the Prometheus text format into `name{labels}` → value.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn limits_and_hostile_input_get_clear_errors() {
    let gw = Gateway::start(
        "[server]\nmax_body_size = \"1KiB\"\nmax_header_bytes = \"4KiB\"\nmax_request_line = \"1KiB\"\n",
        &["--demo"],
    );
    let c = client();

    let big =
        c.post(gw.at("/api/search/metadata")).header("x-api-key", ADMIN).body(vec![b' '; 4096]).send().await.unwrap();
    assert_eq!(big.status(), 413);
    assert!(big.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("larger than"));

    let chunked =
        reqwest::Body::wrap_stream(futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512]))));
    let big = c.post(gw.at("/api/search/metadata")).header("x-api-key", ADMIN).body(chunked).send().await;
    assert!(big.is_err() || big.unwrap().status() == 413, "a chunked body over the limit is refused");

    let huge_header = c.get(gw.at("/api/server/ping")).header("x-filler", "a".repeat(8192)).send().await.unwrap();
    assert_eq!(huge_header.status(), 431);
    let long_line = c.get(gw.at(&format!("/api/server/ping?{}", "q".repeat(2048)))).send().await.unwrap();
    assert_eq!(long_line.status(), 431);

    for path in [
        "/api/../metrics",
        "/api/%2e%2e/health",
        "/api/x%2f..%2f..%2fmetrics",
        "/api/%252e%252e/ready",
        "/api/..\\..\\metrics",
    ] {
        let (status, _, body) = raw_request(
            &gw.url,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(status, 400, "{path} -> {}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body["error"].as_str().unwrap().starts_with("bad path"));
    }
    let (status, _, _) = raw_request(
        &gw.url,
        b"GET /api/albums/../server/ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(status, 200, "dot segments that stay inside /api are resolved");
    // The gateway still serves after all of the above.
    assert_eq!(c.get(gw.at("/health")).send().await.unwrap().status(), 200);
}

#[test]
fn h2c_and_http11_share_the_port() {
    let gw = Gateway::start("", &["--demo"]);
    // curl speaks h2c with prior knowledge; the reqwest build here is HTTP/1 only.
    for (flag, version) in [("--http2-prior-knowledge", "2"), ("--http1.1", "1.1")] {
        let output = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "10",
                flag,
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                &gw.at("/api/server/ping"),
            ])
            .output()
            .expect("curl is installed");
        assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{version} 200"));
    }
}

/// With no CA certificates on the system (a `FROM scratch` image), the gateway starts — on the
/// demo and with an https Immich — instead of panicking, and checks Immich's certificate against
/// the roots it carries.
#[test]
fn starts_without_system_ca_certificates() {
    let empty = tempfile::tempdir().unwrap();
    let file = empty.path().join("none.pem");
    std::fs::write(&file, "").unwrap();
    let (file, dir) = (file.to_str().unwrap(), empty.path().to_str().unwrap());
    let env = [("SSL_CERT_FILE", file), ("SSL_CERT_DIR", dir)];
    let demo = Gateway::start_with_env("", &["--demo"], &env);
    assert!(matches!(common::raw_get(&demo.url, "/api/server/ping"), Ok((200, _, _))));
    let https = Gateway::start_with_env("[immich]\nbase_url = \"https://127.0.0.1:9\"\n", &[], &env);
    assert!(matches!(common::raw_get(&https.url, "/health"), Ok((200, _, _))));
}

/// `--probe URL`, the health check of images without curl: 0 on a 2xx answer, 1 otherwise.
#[test]
fn probe_checks_an_endpoint() {
    let gw = Gateway::start("", &["--demo"]);
    let probe = |url: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway")).args(["--probe", &url]).output().unwrap()
    };
    assert!(probe(gw.at("/ready")).status.success());
    let missing = probe(gw.at("/api/nope"));
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("404"));
    assert!(!probe(format!("http://127.0.0.1:{}/health", closed_port())).status.success());
}
