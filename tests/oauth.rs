//! `[auth] mode = "oauth"`: the gateway as authorization server and resource server, against the
//! demo Immich (two people, each with their own library). The official Python SDK's OAuth client
//! goes through the whole flow; raw requests try every kind of bad input.

mod common;

use base64::Engine as _;
use common::Gateway;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CONFIG: &str = "[auth]\nmode = \"oauth\"\n[oauth]\nlogin_attempts = 3\n";
const ADMIN: (&str, &str) = ("admin@demo.immich.test", "demo-admin-password");
const FRIEND: (&str, &str) = ("friend@demo.immich.test", "demo-friend-password");
const REDIRECT: &str = "http://127.0.0.1:45123/callback";

fn start() -> Gateway {
    Gateway::start_with_env(CONFIG, &["--demo"], &[("MCP_SERVER_URL", "http://127.0.0.1:{port}")])
}

fn no_redirects() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

fn sdk_flow(gw: &Gateway, who: (&str, &str), access: &str) -> Value {
    let output = common::python_with("mcp")
        .arg(common::clients_dir().join("oauth_client.py"))
        .args([&gw.at("/mcp"), who.0, who.1, access])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK's OAuth flow failed:\n{stdout}\n{}\nlog:\n{}",
        String::from_utf8_lossy(&output.stderr),
        gw.log()
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn the_python_sdk_signs_in_calls_refreshes_and_is_revoked() {
    let gw = start();
    // The admin allows writing: every tool, and the admin's own photos.
    let admin = sdk_flow(&gw, ADMIN, "write");
    assert_eq!(admin["scope"], "immich:read immich:write", "{admin}");
    assert_eq!((admin["write_tools"].as_bool(), admin["photos"].as_u64()), (Some(true), Some(3)), "{admin}");
    assert_eq!((admin["reused_refresh"].as_u64(), admin["after_revoke"].as_u64()), (Some(400), Some(401)));
    // The friend allows reading only: no tool that writes, and none of the admin's photos.
    let friend = sdk_flow(&gw, FRIEND, "read");
    assert_eq!(friend["scope"], "immich:read", "{friend}");
    assert_eq!((friend["write_tools"].as_bool(), friend["photos"].as_u64()), (Some(false), Some(0)), "{friend}");

    // Every grant's Immich key is gone again from Immich (revoked), and none was made with more
    // than the tools need.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let keys: Value = rt.block_on(async {
        let answer = common::client().get(gw.at("/api/api-keys")).header("x-api-key", "demo-admin-key").send().await;
        answer.unwrap().json().await.unwrap()
    });
    let names: Vec<&str> = keys.as_array().unwrap().iter().filter_map(|k| k["name"].as_str()).collect();
    assert!(!names.iter().any(|n| n.contains("MCP")), "a revoked grant's key is still in Immich: {names:?}");
}

/// PKCE: a verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A web form's body.
fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

fn form_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    headers
}

struct Flow {
    http: reqwest::Client,
    gw_url: String,
    client_id: String,
}

impl Flow {
    async fn register(gw: &Gateway) -> Flow {
        let http = no_redirects();
        let registration = json!({ "redirect_uris": [REDIRECT], "client_name": "Test <b>client</b>" });
        let answer = http.post(gw.at("/oauth/register")).json(&registration).send().await.unwrap();
        assert_eq!(answer.status(), 201);
        let client: Value = answer.json().await.unwrap();
        assert_eq!(client["token_endpoint_auth_method"], "none");
        Flow { http, gw_url: gw.url.clone(), client_id: client["client_id"].as_str().unwrap().to_string() }
    }

    /// The authorization request's URL; each of `extra` replaces or adds a parameter (its value
    /// given already encoded).
    fn authorize_url(&self, challenge: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-1"),
            ("scope", "immich:read immich:write"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), form_urlencoded::byte_serialize(v.as_bytes()).collect()))
        .collect();
        for (name, value) in extra {
            pairs.retain(|(k, _)| k != name);
            pairs.push((name.to_string(), value.to_string()));
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}/oauth/authorize?{}", self.gw_url, query.join("&"))
    }

    /// Opens the sign-in page: (the form's sealed request, the CSRF cookie, the page).
    async fn open(&self, challenge: &str) -> (String, String, String) {
        let page = self.http.get(self.authorize_url(challenge, &[])).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert!(page.headers()["set-cookie"].to_str().unwrap().contains("SameSite=Strict"));
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        let html = page.text().await.unwrap();
        let consent = html.split("name=\"consent\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        (consent, cookie, html)
    }

    async fn submit(&self, consent: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("consent", consent)];
        form.extend_from_slice(fields);
        let mut request =
            self.http.post(format!("{}/oauth/authorize", self.gw_url)).headers(form_headers()).body(encode(&form));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Signs `who` in with `access`: the code from the redirect.
    async fn code(&self, challenge: &str, who: (&str, &str), access: &str) -> String {
        let (consent, cookie, _) = self.open(challenge).await;
        let fields = [("email", who.0), ("password", who.1), ("access", access), ("action", "approve")];
        let answer = self.submit(&consent, Some(&cookie), &fields).await;
        assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
        let location = answer.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(REDIRECT) && location.contains("state=st-1") && location.contains("iss="));
        let query = location.split_once('?').unwrap().1;
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "code").unwrap().1.into_owned()
    }

    async fn token(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![("client_id", self.client_id.as_str())];
        form.extend_from_slice(fields);
        let url = format!("{}/oauth/token", self.gw_url);
        let answer = self.http.post(url).headers(form_headers()).body(encode(&form)).send().await.unwrap();
        assert_eq!(answer.headers()["cache-control"], "no-store");
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .await
    }

    async fn mcp(&self, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/mcp", self.gw_url))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", body["method"].as_str().unwrap())
            .header("mcp-name", body["params"]["name"].as_str().unwrap_or_default())
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn stateless_call(tool: &str, arguments: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": tool, "arguments": arguments,
        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {} } } })
}

#[tokio::test]
async fn bad_input_is_refused_with_a_clear_error_and_nothing_leaks() {
    let gw = start();
    let flow = Flow::register(&gw).await;
    let (verifier, challenge) = pkce();

    // Before the client and redirect are known good, errors are shown, never redirected.
    let wrong_redirect = flow.authorize_url(&challenge, &[("redirect_uri", "https%3A%2F%2Fevil.example%2Fcb")]);
    let page = flow.http.get(wrong_redirect).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.headers().get("location").is_none());
    assert!(page.text().await.unwrap().contains("redirect_uri is not one it registered"));
    let unknown = flow.http.get(format!("{}/oauth/authorize?client_id=nobody", gw.url)).send().await.unwrap();
    assert_eq!(unknown.status(), 400);
    // After, they go back to the client as OAuth errors.
    for (extra, error) in [
        (("code_challenge_method", "plain"), "error=invalid_request"),
        (("resource", "https%3A%2F%2Fother.example%2Fmcp"), "error=invalid_target"),
        (("scope", "admin"), "error=invalid_scope"),
        (("response_type", "token"), "error=unsupported_response_type"),
    ] {
        let answer = flow.http.get(flow.authorize_url(&challenge, &[extra])).send().await.unwrap();
        assert_eq!(answer.status(), 302, "{extra:?}");
        let location = answer.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with(REDIRECT) && location.contains(error) && location.contains("state=st-1"),
            "{location}"
        );
    }

    // The page escapes what the client registered, and a form without its cookie is refused.
    let (consent, cookie, html) = flow.open(&challenge).await;
    assert!(html.contains("Test &lt;b&gt;client&lt;/b&gt;") && !html.contains("<b>client"));
    let fields = [("email", ADMIN.0), ("password", ADMIN.1), ("access", "read"), ("action", "approve")];
    let forged = flow.submit(&consent, None, &fields).await;
    assert_eq!(forged.status(), 400, "a form posted without the browser's cookie (CSRF)");
    let tampered = flow.submit(&consent.replace('A', "B"), Some(&cookie), &fields).await;
    assert_eq!(tampered.status(), 400);

    // Deny goes back as access_denied.
    let denied = flow.submit(&consent, Some(&cookie), &[("action", "deny")]).await;
    assert!(denied.headers()["location"].to_str().unwrap().contains("error=access_denied"));

    // A wrong verifier, a wrong redirect, then the right exchange; the code a second time fails
    // and revokes what the first use gave.
    let code = flow.code(&challenge, ADMIN, "read").await;
    let (status, wrong) = flow.exchange(&code, &pkce().0).await;
    assert_eq!((status, wrong["error"].as_str()), (400, Some("invalid_grant")), "{wrong}");
    assert!(wrong["error_description"].as_str().unwrap().contains("PKCE"));
    let (status, _) = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:45123/other"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(status, 400);
    let (status, tokens) = flow.exchange(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "immich:read");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert!(!tokens.to_string().contains("demo-admin"), "no Immich secret in the clear");

    // Reading only: a tool that writes is 403 insufficient_scope, naming the scope to ask for.
    let create = flow.mcp(&access, stateless_call("createAlbum", json!({ "name": "x" }))).await;
    assert_eq!(create.status(), 403);
    let challenge_header = create.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge_header.contains("error=\"insufficient_scope\"") && challenge_header.contains("immich:write"));
    let read = flow.mcp(&access, stateless_call("queryPhotos", json!({ "limit": 2 }))).await;
    assert_eq!(read.status(), 200);

    // A tampered or foreign token: 401 with invalid_token.
    for bad in [access.replace('A', "B"), "g1.AAAA".to_string(), "not-ours".to_string()] {
        let answer = flow.mcp(&bad, stateless_call("queryPhotos", json!({}))).await;
        assert_eq!(answer.status(), 401, "{bad}");
        assert!(answer.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    }

    let (status, again) = flow.exchange(&code, &verifier).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    let revoked = flow.mcp(&access, stateless_call("queryPhotos", json!({}))).await;
    assert_eq!(revoked.status(), 401, "a code used twice revokes its tokens");

    // Unknown clients and grant types.
    let (status, unknown) =
        Flow { client_id: "nobody".into(), ..Flow::register(&gw).await }.exchange(&code, &verifier).await;
    assert_eq!((status, unknown["error"].as_str()), (401, Some("invalid_client")));
    let (status, grant) = flow.token(&[("grant_type", "password")]).await;
    assert_eq!((status, grant["error"].as_str()), (400, Some("unsupported_grant_type")));

    // Wrong passwords: the same words for an unknown email, then the page asks to wait.
    let (consent, cookie, _) = flow.open(&challenge).await;
    let mut pages = Vec::new();
    for email in ["admin@demo.immich.test", "nobody@demo.immich.test", "admin@demo.immich.test", ADMIN.0] {
        let password = if pages.len() == 3 { ADMIN.1 } else { "wrong" };
        let fields = [("email", email), ("password", password), ("action", "approve")];
        let answer = flow.submit(&consent, Some(&cookie), &fields).await;
        pages.push((answer.status().as_u16(), answer.text().await.unwrap()));
    }
    assert_eq!(pages[0].0, 401);
    assert!(
        pages[0].1.contains("Email or password is incorrect") && pages[1].1.contains("Email or password is incorrect")
    );
    assert_eq!(pages[1].0, 401, "no user enumeration");
    assert_eq!(pages[3].0, 429, "throttled, even with the right password");
    assert!(pages[3].1.contains("Too many failed sign-ins"));
    assert!(!gw.log().contains("demo-admin-password") && !gw.log().contains(&access), "no secret in the log");
}

#[tokio::test]
async fn discovery_points_at_the_gateway_and_other_modes_have_no_oauth_server() {
    let gw = start();
    let http = common::client();
    let metadata: Value =
        http.get(gw.at("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["issuer"], gw.url);
    assert_eq!(metadata["token_endpoint"], gw.at("/oauth/token"));
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    let resource: Value =
        http.get(gw.at("/.well-known/oauth-protected-resource/mcp")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (resource["resource"].as_str(), resource["authorization_servers"][0].as_str()),
        (Some(&*gw.at("/mcp")), Some(&*gw.url))
    );
    let unauthorized = http.post(gw.at("/mcp")).json(&json!({})).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let challenge = unauthorized.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("resource_metadata=") && challenge.contains("scope=\"immich:read immich:write\""));
    // Immich's own paths go as they came: the web app and its API with its own credentials.
    let immich = http.get(gw.at("/.well-known/immich")).send().await.unwrap();
    assert_eq!(immich.status(), 200);
    let me = http.get(gw.at("/api/users/me")).header("x-api-key", "demo-friend-key").send().await.unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["email"], FRIEND.0);

    let passthrough = Gateway::start("", &["--demo"]);
    let off = http.get(passthrough.at("/.well-known/oauth-authorization-server")).send().await.unwrap();
    assert_eq!(off.status(), 404);
    assert!(off.text().await.unwrap().contains("[auth] mode = \\\"oauth\\\""));
}

#[test]
fn oauth_mode_needs_a_public_url() {
    let (ok, output) = common::check_config("[auth]\nmode = \"oauth\"\n");
    assert!(!ok && output.contains("mcp.public_url") && output.contains("issuer"), "{output}");
    let (ok, output) = common::check_config(
        "[auth]\nmode = \"oauth\"\n[mcp]\npublic_url = \"https://photos.example\"\n[oauth]\nclients = [{ id = \"c\", name = \"C\", redirect_uris = [\"http://evil.example/cb\"] }]\n",
    );
    assert!(!ok && output.contains("oauth.clients[0].redirect_uris") && output.contains("loopback"), "{output}");
}

#[tokio::test]
async fn a_person_signs_in_in_a_real_browser_without_javascript() {
    let gw = start();
    let flow = Flow::register(&gw).await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let (verifier, challenge) = pkce();
    let output = std::process::Command::new(common::require_node())
        .arg(common::clients_dir().join("oauth_browser.mjs"))
        .args([&flow.authorize_url(&challenge, &[]), REDIRECT, ADMIN.0, ADMIN.1, "write"])
        .arg(&shots)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(output.stdout.trim_ascii()).unwrap();
    // Every control is named for a screen reader.
    let aria = result["aria"].as_str().unwrap();
    for name in [
        "textbox \"Email\"",
        "textbox \"Password\"",
        "radio \"Read only",
        "radio \"Read and change",
        "button \"Allow\"",
        "button \"Deny\"",
    ] {
        assert!(aria.contains(name), "{name} is missing from the accessibility tree:\n{aria}");
    }
    // Each sign-in (dark, then light page) gave a code; the last one is exchanged with PKCE.
    assert_eq!((result["dark"]["state"].as_str(), result["dark"]["iss"].as_str()), (Some("st-1"), Some(&*gw.url)));
    let code = result["light"]["code"].as_str().unwrap();
    let (status, tokens) = flow.exchange(code, &verifier).await;
    assert_eq!((status, tokens["scope"].as_str()), (200, Some("immich:read immich:write")), "{tokens}");
    for scheme in ["light", "dark"] {
        let shot = shots.join(format!("oauth-sign-in-{scheme}.png"));
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "no screenshot at {}", shot.display());
    }
}

/// The official conformance suite's authorization-server scenarios (`conformance authorization`,
/// 0.2.0-alpha.12): metadata, and the authorization-code grant, where this test plays the person
/// when the suite prints the sign-in URL.
#[tokio::test]
async fn the_conformance_suite_s_authorization_server_scenarios_pass() {
    use tokio::io::AsyncBufReadExt;
    let config = format!(
        "{CONFIG}[[oauth.clients]]\nid = \"conformance\"\nname = \"MCP conformance suite\"\n\
         redirect_uris = [\"http://127.0.0.1/callback\"]\n"
    );
    let gw = Gateway::start_with_env(&config, &["--demo"], &[("MCP_SERVER_URL", "http://127.0.0.1:{port}")]);
    let port = common::free_port().to_string();
    let resource = gw.at("/mcp");
    let cli = common::clients_dir().join("node_modules/conformance-0.2.0-alpha.12/dist/index.js");
    let mut suite = tokio::process::Command::new(common::require_node())
        .arg(cli)
        .args(["authorization", "--url", &gw.url, "--client-id", "conformance", "--resource", &resource])
        .args(["--port", &port])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(suite.stdout.take().unwrap()).lines();
    let http = no_redirects();
    let mut output = String::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            output.push_str(&line);
            output.push('\n');
            if line.starts_with(&format!("{}/oauth/authorize?", gw.url)) {
                // The person signs in and allows; their browser follows the redirect to the suite.
                let page = http.get(&line).send().await.unwrap();
                let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
                let html = page.text().await.unwrap();
                let consent = html.split("name=\"consent\" value=\"").nth(1).unwrap().split('"').next().unwrap();
                let fields = [("consent", consent), ("email", ADMIN.0), ("password", ADMIN.1), ("action", "approve")];
                let answer = http
                    .post(gw.at("/oauth/authorize"))
                    .headers(form_headers())
                    .header("cookie", cookie)
                    .body(encode(&fields))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
                let callback = answer.headers()["location"].to_str().unwrap().to_string();
                http.get(callback).send().await.unwrap();
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), run).await.expect("the suite finished in time");
    let status = suite.wait().await.unwrap();
    let summary = output.split("=== SUMMARY ===").nth(1).unwrap_or(&output).to_string();
    let total = summary.lines().find(|l| l.starts_with("Total:")).unwrap_or("no total line").to_string();
    eprintln!("conformance authorization: {total}");
    assert!(status.success() && total.contains(" 0 failed"), "{output}");
    assert!(
        output.contains("authorization-code-grant") && output.contains("authorization-server-metadata"),
        "{output}"
    );
}

#[test]
fn the_typescript_sdk_signs_in_refreshes_and_is_sent_back_to_sign_in_after_revocation() {
    let gw = start();
    let output = std::process::Command::new(common::require_node())
        .arg(common::clients_dir().join("oauth_node_client.mjs"))
        .args([&gw.at("/mcp"), ADMIN.0, ADMIN.1])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}\nlog:\n{}", String::from_utf8_lossy(&output.stderr), gw.log());
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["registered"], true, "dynamic registration");
    assert_eq!(
        (summary["tools"].as_u64(), summary["photos"].as_u64()),
        (Some(common::tool_count() as u64), Some(2)),
        "{summary}"
    );
    assert_eq!((summary["refreshed"].as_bool(), summary["revocation"].as_u64()), (Some(true), Some(200)));
    assert_eq!(summary["asked_to_sign_in_again"], true, "{summary}");
    // The album it made is the admin's (the person who signed in).
    assert!(gw.log().contains("oauth grant approved"));
}

/// The CIMD test server: its port (the CA it made is at `ca`).
struct CimdServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for CimdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cimd_server(ca: &std::path::Path) -> CimdServer {
    use std::io::BufRead;
    let mut child = common::python_with("cryptography")
        .arg(common::clients_dir().join("cimd_server.py"))
        .arg(ca)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let started: Value = serde_json::from_str(&line).expect("the CIMD server prints its port");
    CimdServer { child, port: started["port"].as_u64().unwrap() as u16 }
}

#[tokio::test]
async fn clients_identified_by_metadata_documents_and_the_urls_that_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let documents = cimd_server(&ca);
    let base = format!("https://127.0.0.1:{}", documents.port);
    let env = [("MCP_SERVER_URL", "http://127.0.0.1:{port}"), ("SSL_CERT_FILE", ca.to_str().unwrap())];
    // The test's documents are on loopback, which only this setting lets a client id reach.
    let open = Gateway::start_with_env(&format!("{CONFIG}client_metadata_allow_private = true\n"), &["--demo"], &env);
    // The official Python SDK uses the document's URL as its client id (no registration).
    let output = common::python_with("mcp")
        .arg(common::clients_dir().join("oauth_client.py"))
        .args([&open.at("/mcp"), ADMIN.0, ADMIN.1, "read", &format!("{base}/client.json")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}\n{}", String::from_utf8_lossy(&output.stderr), open.log());
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["client_id"], format!("{base}/client.json"), "{summary}");
    assert_eq!(summary["scope"], "immich:read");

    let http = no_redirects();
    let (_, challenge) = pkce();
    let authorize = |gw: &Gateway, client_id: String| {
        let query = encode(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:33418/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        http.get(format!("{}/oauth/authorize?{query}", gw.url)).send()
    };
    let page = authorize(&open, format!("{base}/client.json")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("CIMD test client (127.0.0.1)"), "the page shows whose URL it is");
    for (path, why) in
        [("huge.json", "larger than 65536 bytes"), ("wrong.json", "not its own URL"), ("missing.json", "HTTP 404")]
    {
        let page = authorize(&open, format!("{base}/{path}")).await.unwrap();
        assert_eq!(page.status(), 400, "{path}");
        let text = page.text().await.unwrap();
        assert!(text.contains(why), "{path}: {text}");
    }
    // By default a client id cannot make the gateway reach an internal address.
    let closed = Gateway::start_with_env(CONFIG, &["--demo"], &env);
    let page = authorize(&closed, format!("{base}/client.json")).await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("internal addresses"));
    let page = authorize(&closed, "https://169.254.169.254/latest/meta-data".into()).await.unwrap();
    assert!(page.text().await.unwrap().contains("internal addresses"), "cloud metadata is out of reach");
}

#[tokio::test]
async fn expired_and_foreign_audience_tokens_are_refused_and_any_replica_serves_the_rest() {
    // Two gateways sharing a secret (replicas) and a third at another public URL, with the same
    // secret: a token of the first is good at the second, and for another resource at the third.
    let secret = "[mcp]\nsession_secret = \"0123456789abcdef0123456789abcdef\"\n";
    let config = format!("{CONFIG}access_token_ttl = \"2s\"\n{secret}");
    let env = [("MCP_SERVER_URL", "http://127.0.0.1:{port}")];
    let a = Gateway::start_with_env(&config, &["--demo"], &env);
    let flow = Flow::register(&a).await;
    let (verifier, challenge) = pkce();
    let code = flow.code(&challenge, ADMIN, "read").await;
    let (_, tokens) = flow.exchange(&code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();

    // Another replica (the same public URL, the same secret, the same Immich) serves the token;
    // another server with the same secret refuses it as meant for someone else.
    let log = a.log();
    let immich = log.split("demo Immich running immich=").nth(1).unwrap().split_whitespace().next().unwrap();
    let replica = format!("{config}[immich]\nbase_url = \"{immich}\"\n");
    let b = Gateway::start_with_env(&replica, &[], &[("MCP_SERVER_URL", a.url.as_str())]);
    let other = Gateway::start_with_env(&replica, &[], &[("MCP_SERVER_URL", "https://other.example")]);
    let at = |gw: &Gateway| Flow { http: no_redirects(), gw_url: gw.url.clone(), client_id: flow.client_id.clone() };
    let call = || stateless_call("queryPhotos", json!({ "limit": 1 }));
    let served = at(&b).mcp(&access, call()).await;
    assert_eq!(served.status(), 200, "any replica serves the token");
    let body = served.text().await.unwrap();
    assert!(body.contains("\"count\":1") && !body.contains("isError\":true"), "{body}");
    let foreign = at(&other).mcp(&access, call()).await;
    assert_eq!(foreign.status(), 401);
    assert!(foreign.headers()["www-authenticate"].to_str().unwrap().contains("another resource"));

    // Past its two seconds the token is refused as expired, and the refresh token still works.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = flow.mcp(&access, call()).await;
    assert_eq!(expired.status(), 401);
    assert!(expired.headers()["www-authenticate"].to_str().unwrap().contains("expired access token"));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, fresh) = at(&b).token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 200, "a replica refreshes: {fresh}");
    assert_eq!(flow.mcp(fresh["access_token"].as_str().unwrap(), call()).await.status(), 200);
}

/// A page of the gateway's in headless Chromium: (status, title, visible text, tools' code spans).
fn snapshot(url: &str, shot: &str) -> Value {
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let output = std::process::Command::new(common::require_node())
        .arg(common::clients_dir().join("page_snapshot.mjs"))
        .arg(url)
        .arg(shots.join(shot))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(output.stdout.trim_ascii()).unwrap()
}

#[test]
fn the_welcome_page_shows_live_status_how_to_sign_in_and_the_tools() {
    let gw = start();
    let page = snapshot(&gw.at("/mcp"), "welcome-oauth.png");
    assert_eq!(page["status"], 200, "a browser on /mcp gets the page without signing in");
    let text = page["text"].as_str().unwrap();
    for expected in [
        "Immich\nreachable, version 3.1.0",
        "2025-03-26, 2025-06-18, 2025-11-25; stateless: 2026-07-28",
        "sign in with your Immich account",
        "mcp-session-id: SESSION_ID",
        "queryPhotos",
        "createAlbum (changes Immich)",
    ] {
        assert!(text.contains(expected), "{expected:?} is not on the page:\n{text}");
    }
    assert!(!text.contains('`'), "Markdown backticks are rendered, not shown");
    assert!(page["codes"].as_u64().unwrap() >= 21, "every tool's name and code spans: {}", page["codes"]);
    assert!(page["aria"].as_str().unwrap().contains("link \"/health\""));

    // Immich down: the page says so, at once.
    let down = Gateway::start_with_env(
        &format!("{CONFIG}[immich]\nbase_url = \"http://127.0.0.1:{}\"\n", common::closed_port()),
        &[],
        &[("MCP_SERVER_URL", "http://127.0.0.1:{port}")],
    );
    let page = snapshot(&down.at("/mcp"), "welcome-immich-down.png");
    let text = page["text"].as_str().unwrap();
    assert!(text.contains("Immich\nnot answering"), "{text}");
}

#[tokio::test]
async fn a_person_revokes_an_agent_in_immich_itself() {
    let gw = start();
    let flow = Flow::register(&gw).await;
    let (verifier, challenge) = pkce();
    let code = flow.code(&challenge, ADMIN, "write").await;
    let (_, tokens) = flow.exchange(&code, &verifier).await;
    // The person's key list in Immich shows the agent's key, named after the client and the date.
    let http = common::client();
    let keys: Value = http
        .get(gw.at("/api/api-keys"))
        .header("x-api-key", "demo-admin-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = keys.as_array().unwrap().iter().find(|k| k["name"].as_str().unwrap().contains("(MCP, ")).unwrap();
    assert!(key["name"].as_str().unwrap().starts_with("Test <b>client</b> (MCP, 20"), "{key}");
    let permissions: Vec<&str> = key["permissions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(permissions.contains(&"album.create") && !permissions.contains(&"all"), "{permissions:?}");
    // They delete it there: the agent's refresh is refused, and its calls fail with Immich's refusal.
    let id = key["id"].as_str().unwrap();
    let deleted = http.delete(gw.at(&format!("/api/api-keys/{id}"))).header("x-api-key", "demo-admin-key").send();
    assert_eq!(deleted.await.unwrap().status(), 204);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, refused) = flow.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_grant")));
    assert!(refused["error_description"].as_str().unwrap().contains("deleted in Immich"), "{refused}");
    let access = tokens["access_token"].as_str().unwrap();
    let call = flow.mcp(access, stateless_call("queryPhotos", json!({ "limit": 1 }))).await.text().await.unwrap();
    assert!(call.contains("\"isError\":true") && call.contains("Invalid API key"), "{call}");
}
