//! `[auth] mode = "jwt"` against a stand-in identity provider (`tests/clients/jwt_idp.py`: an
//! RSA and an EC key, a JWKS on a loopback port, tokens made with PyJWT): each person acts with
//! the Immich key their group maps to; every bad token is refused with its reason; a rotated key
//! is fetched when first seen, and made-up key ids cannot make the gateway hammer the provider.

mod common;

use common::Gateway;
use common::sse::stateless_call;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "https://photos.example/mcp";

struct Provider {
    child: Child,
    port: u16,
    tokens: Value,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider() -> Provider {
    let mut child = common::python_with("jwt")
        .arg(common::clients_dir().join("jwt_idp.py"))
        .args([ISSUER, AUDIENCE])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let started: Value = serde_json::from_str(&line).expect("the provider prints its port and tokens");
    Provider { child, port: started["port"].as_u64().unwrap() as u16, tokens: started["tokens"].clone() }
}

fn config(jwks_port: u16) -> String {
    format!(
        r#"
[auth]
mode = "jwt"
[jwt]
issuer = "{ISSUER}"
jwks_url = "http://127.0.0.1:{jwks_port}/jwks.json"
audience = "{AUDIENCE}"
claim = "groups"
[[jwt.users]]
match = "family"
immich_api_key = "demo-admin-key"
[[jwt.users]]
match = "guests"
immich_api_key = "demo-friend-key"
"#
    )
}

async fn fetches(http: &reqwest::Client, idp: &Provider) -> u64 {
    let answer = http.get(format!("http://127.0.0.1:{}/fetches", idp.port)).send().await.unwrap();
    answer.json::<Value>().await.unwrap()["fetches"].as_u64().unwrap()
}

#[tokio::test]
async fn people_act_as_themselves_and_bad_tokens_are_refused_with_their_reason() {
    let idp = provider();
    let gw = Gateway::start(&config(idp.port), &["--demo"]);
    let http = common::client();
    let mcp = gw.at("/mcp");
    let token = |name: &str| idp.tokens[name].as_str().unwrap().to_string();
    let call = |name: &str| {
        stateless_call(&http, &mcp, "queryPhotos", serde_json::json!({ "limit": 2 })).bearer_auth(token(name)).send()
    };

    // Alice (group family) sees the admin's library; Bob (guests) his own, empty one.
    let alice = call("alice").await.unwrap();
    assert_eq!(alice.status(), 200, "{:?}\n{}", alice.headers().get("www-authenticate"), gw.log());
    let text = alice.text().await.unwrap();
    assert!(text.contains("\"count\":2"), "{text}");
    let bob = call("bob").await.unwrap().text().await.unwrap();
    assert!(bob.contains("\"count\":0"), "{bob}");
    // A good token of someone with no Immich key here: 403, not a sign-in loop.
    let stranger = call("stranger").await.unwrap();
    assert_eq!(stranger.status(), 403);
    assert!(stranger.text().await.unwrap().contains("no Immich key is configured for this person"));

    // The protected-resource metadata points at the provider.
    let metadata: Value =
        http.get(gw.at("/.well-known/oauth-protected-resource/mcp")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["authorization_servers"][0], ISSUER);

    // A key the provider publishes after a rotation is fetched when a token first names it.
    assert_eq!(fetches(&http, &idp).await, 1, "one fetch so far, before the first token");
    let _ = http.post(format!("http://127.0.0.1:{}/rotate", idp.port)).send().await.unwrap();
    let rotated = call("rotated").await.unwrap();
    assert_eq!(rotated.status(), 200, "the EC key published by the rotation");
    assert_eq!(fetches(&http, &idp).await, 2);

    for (name, reason) in [
        ("expired", "expired token"),
        ("not_yet", "not valid yet"),
        ("wrong_audience", "another audience"),
        ("wrong_issuer", "another issuer"),
        ("no_expiry", "without exp"),
        ("tampered", "bad token signature"),
        ("foreign_key", "bad token signature"),
        ("alg_none", "malformed token"),
        ("hs256_public_key", "algorithm not accepted"),
        ("unknown_kid", "does not publish"),
    ] {
        let answer = call(name).await.unwrap();
        assert_eq!(answer.status(), 401, "{name}");
        let challenge = answer.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains(reason), "{name}: {challenge}");
    }
    // Tokens with made-up key ids do not make the gateway hammer the provider.
    for _ in 0..20 {
        let _ = call("unknown_kid").await.unwrap();
    }
    assert_eq!(fetches(&http, &idp).await, 2, "made-up key ids within 30 s of the last refetch fetch nothing");
    assert!(!gw.log().contains(&token("alice")) && !gw.log().contains("demo-admin-key"), "no secret in the log");
}

#[test]
fn jwt_mode_refuses_unsafe_settings_at_load() {
    for (extra, expected) in [
        ("algorithms = [\"HS256\"]\n", "never none or HS*"),
        ("algorithms = [\"none\"]\n", "never none or HS*"),
        ("jwks_url = \"http://idp.example/jwks.json\"\n", "https, or http on a loopback address"),
    ] {
        let toml = format!(
            "[auth]\nmode = \"jwt\"\n[jwt]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
             users = [{{ match = \"a\", immich_api_key = \"k\" }}]\n{}{extra}",
            if extra.starts_with("jwks_url") { "" } else { "jwks_url = \"https://idp.example/jwks.json\"\n" }
        );
        let (ok, output) = common::check_config(&toml);
        assert!(!ok && output.contains(expected), "{extra}: {output}");
    }
    let (ok, output) = common::check_config("[auth]\nmode = \"jwt\"\n");
    assert!(!ok && output.contains("jwt.issuer") && output.contains("jwt.users"), "{output}");
}
