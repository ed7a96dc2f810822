//! The demo Immich answers with the real server's shapes: every implemented operation's
//! response validates against the schema in Immich's OpenAPI spec (v3.1.0), and its errors use
//! Immich's status codes and bodies.

mod common;

use common::schema::{response_schema, spec, validate};
use common::{ADMIN, READONLY};
use immich_mcp_gateway::demo::{self, Fault};
use serde_json::{Value, json};
use std::sync::OnceLock;

fn demo_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("http://{}", demo::spawn(10_000, Fault::default())))
}

async fn call(method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    call_on(demo_url(), method, path, key, body).await
}

async fn call_on(base: &str, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = common::client();
    let mut request = client.request(method.parse().unwrap(), format!("{base}/api{path}"));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Calls an operation and validates the reply against `spec_path`'s schema for its status.
async fn conforming(method: &str, spec_path: &str, path: &str, body: Option<Value>, expected: u16) -> Value {
    conforming_on(demo_url(), method, spec_path, path, body, expected).await
}

/// [`conforming`] on the demo at `base`.
async fn conforming_on(
    base: &str,
    method: &str,
    spec_path: &str,
    path: &str,
    body: Option<Value>,
    expected: u16,
) -> Value {
    let (status, value) = call_on(base, method, path, Some(ADMIN), body).await;
    assert_eq!(status, expected, "{method} {path}: {value}");
    if status == 204 {
        let declared = &spec()["paths"][spec_path][method.to_ascii_lowercase()]["responses"]["204"];
        assert!(declared.is_object() && value.is_null(), "{method} {spec_path}: 204 must be declared and bodiless");
        return value;
    }
    let schema = response_schema(&method.to_ascii_lowercase(), spec_path, status)
        .unwrap_or_else(|| panic!("no schema for {method} {spec_path} {status}"));
    let errors = validate(schema, &value);
    assert!(errors.is_empty(), "{method} {path} does not match the spec:\n{}", errors.join("\n"));
    value
}

#[test]
fn the_validator_accepts_every_real_sample() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/immich/samples-v3.1.0.json");
    let samples: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for sample in samples["samples"].as_array().unwrap() {
        let method = sample["request"][0].as_str().unwrap().to_ascii_lowercase();
        let path = sample["request"][1].as_str().unwrap();
        let template = spec()["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| {
                let (a, b): (Vec<&str>, Vec<&str>) = (t.split('/').collect(), path.split('/').collect());
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.starts_with('{') || x == y)
            })
            .unwrap_or_else(|| panic!("no template for {path}"));
        let status = sample["status"].as_u64().unwrap() as u16;
        if let Some(schema) = response_schema(&method, template, status) {
            let errors = validate(schema, &sample["body"]);
            assert!(errors.is_empty(), "real sample {method} {path} rejected:\n{}", errors.join("\n"));
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} samples had schemas");
}

#[tokio::test]
async fn every_operation_matches_the_spec() {
    conforming("GET", "/server/ping", "/server/ping", None, 200).await;
    conforming("GET", "/server/version", "/server/version", None, 200).await;
    conforming("GET", "/server/about", "/server/about", None, 200).await;
    conforming("GET", "/server/features", "/server/features", None, 200).await;
    conforming("GET", "/server/statistics", "/server/statistics", None, 200).await;
    conforming("GET", "/users/me", "/users/me", None, 200).await;
    conforming("GET", "/api-keys/me", "/api-keys/me", None, 200).await;
    conforming("GET", "/partners", "/partners?direction=shared-by", None, 200).await;
    conforming("GET", "/partners", "/partners?direction=shared-with", None, 200).await;
    let albums = conforming("GET", "/albums", "/albums", None, 200).await;
    let comment = json!({ "albumId": albums[0]["id"], "type": "comment", "comment": "nice" });
    conforming("POST", "/activities", "/activities", Some(comment), 201).await;
    let album_id = albums[0]["id"].as_str().unwrap();
    conforming("GET", "/activities", &format!("/activities?albumId={album_id}"), None, 200).await;
    let link = json!({ "type": "ALBUM", "albumId": albums[0]["id"], "expiresAt": "2030-01-01T00:00:00.000Z", "password": "p" });
    let made = conforming("POST", "/shared-links", "/shared-links", Some(link), 201).await;
    conforming("GET", "/shared-links", "/shared-links", None, 200).await;
    let id = made["id"].as_str().unwrap();
    conforming("DELETE", "/shared-links/{id}", &format!("/shared-links/{id}"), None, 204).await;

    let page = conforming(
        "POST",
        "/search/metadata",
        "/search/metadata",
        Some(json!({ "size": 3, "withExif": true, "withPeople": true })),
        200,
    )
    .await;
    assert_eq!(page["assets"]["nextPage"], "2");
    let asset_id = page["assets"]["items"][0]["id"].as_str().unwrap().to_string();
    let edit = json!({ "edits": [{ "action": "rotate", "parameters": { "angle": 90 } }] });
    conforming("PUT", "/assets/{id}/edits", &format!("/assets/{asset_id}/edits"), Some(edit), 200).await;
    conforming("GET", "/assets/{id}/edits", &format!("/assets/{asset_id}/edits"), None, 200).await;
    conforming("DELETE", "/assets/{id}/edits", &format!("/assets/{asset_id}/edits"), None, 204).await;
    let stack = conforming(
        "POST",
        "/stacks",
        "/stacks",
        Some(json!({ "assetIds": [asset_id, page["assets"]["items"][1]["id"]] })),
        201,
    )
    .await;
    conforming("GET", "/stacks", "/stacks", None, 200).await;
    let (stack_id, second) = (stack["id"].as_str().unwrap(), stack["assets"][1]["id"].as_str().unwrap());
    conforming("DELETE", "/stacks/{id}/assets/{assetId}", &format!("/stacks/{stack_id}/assets/{second}"), None, 204)
        .await;
    conforming(
        "POST",
        "/search/metadata",
        "/search/metadata",
        Some(json!({ "city": "Kyoto", "type": "IMAGE", "isFavorite": true, "size": 5 })),
        200,
    )
    .await;
    conforming("POST", "/search/smart", "/search/smart", Some(json!({ "query": "beach in Lisbon", "size": 4 })), 200)
        .await;
    conforming("POST", "/search/random", "/search/random", Some(json!({ "size": 3 })), 200).await;
    conforming("POST", "/search/statistics", "/search/statistics", Some(json!({ "country": "Germany" })), 200).await;
    conforming("GET", "/search/places", "/search/places?name=Be", None, 200).await;
    conforming("GET", "/search/suggestions", "/search/suggestions?type=camera-make", None, 200).await;
    conforming("GET", "/search/explore", "/search/explore", None, 200).await;
    conforming("GET", "/search/cities", "/search/cities", None, 200).await;

    conforming("GET", "/assets/statistics", "/assets/statistics", None, 200).await;
    let asset = conforming("GET", "/assets/{id}", &format!("/assets/{asset_id}"), None, 200).await;
    assert!(asset["exifInfo"]["make"].is_string());
    conforming("PUT", "/assets", "/assets", Some(json!({ "ids": [asset_id], "isFavorite": true, "rating": 4 })), 204)
        .await;

    let albums = conforming("GET", "/albums", "/albums", None, 200).await;
    let album_id = albums[0]["id"].as_str().unwrap().to_string();
    conforming("GET", "/albums/{id}", &format!("/albums/{album_id}"), None, 200).await;
    conforming("GET", "/albums/statistics", "/albums/statistics", None, 200).await;
    let created = conforming(
        "POST",
        "/albums",
        "/albums",
        Some(json!({ "albumName": "Contract test", "assetIds": [asset_id] })),
        201,
    )
    .await;
    let new_album = created["id"].as_str().unwrap();
    assert_eq!(created["assetCount"], 1);
    let added = conforming(
        "PUT",
        "/albums/{id}/assets",
        &format!("/albums/{new_album}/assets"),
        Some(json!({ "ids": [asset_id] })),
        200,
    )
    .await;
    assert_eq!(added[0]["error"], "duplicate");
    let removed = conforming(
        "DELETE",
        "/albums/{id}/assets",
        &format!("/albums/{new_album}/assets"),
        Some(json!({ "ids": [asset_id] })),
        200,
    )
    .await;
    assert_eq!(removed[0]["success"], true);

    let people = conforming("GET", "/people", "/people", None, 200).await;
    let person_id = people["people"][0]["id"].as_str().unwrap().to_string();
    conforming("GET", "/people/{id}", &format!("/people/{person_id}"), None, 200).await;
    conforming("GET", "/people/{id}/statistics", &format!("/people/{person_id}/statistics"), None, 200).await;

    let tags = conforming("GET", "/tags", "/tags", None, 200).await;
    let tag_id = tags[0]["id"].as_str().unwrap().to_string();
    conforming("PUT", "/tags", "/tags", Some(json!({ "tags": ["trip/2026/autumn"] })), 200).await;
    conforming("PUT", "/tags/assets", "/tags/assets", Some(json!({ "tagIds": [tag_id], "assetIds": [asset_id] })), 200)
        .await;

    let buckets = conforming("GET", "/timeline/buckets", "/timeline/buckets", None, 200).await;
    let month = buckets[0]["timeBucket"].as_str().unwrap().to_string();
    let bucket =
        conforming("GET", "/timeline/bucket", &format!("/timeline/bucket?timeBucket={month}"), None, 200).await;
    assert_eq!(bucket["id"].as_array().unwrap().len() as u64, buckets[0]["count"].as_u64().unwrap());
    let markers = conforming("GET", "/map/markers", "/map/markers", None, 200).await;
    assert!(markers.as_array().unwrap().len() > 8_000, "most of 10,000 assets are geotagged");
    conforming("GET", "/memories", "/memories?for=2026-06-15", None, 200).await;
    conforming("POST", "/download/info", "/download/info", Some(json!({ "assetIds": [asset_id] })), 201).await;
}

/// Text, size and the trash, on a demo of their own (the trash changes what the others page).
#[tokio::test]
async fn text_size_and_trash_operations_match_the_spec() {
    let base = format!("http://{}", demo::spawn(1_000, Fault::default()));
    let base = base.as_str();
    let page =
        conforming_on(base, "POST", "/search/metadata", "/search/metadata", Some(json!({ "ocr": "exit" })), 200).await;
    let id = page["assets"]["items"][0]["id"].as_str().unwrap().to_string();
    let text = conforming_on(base, "GET", "/assets/{id}/ocr", &format!("/assets/{id}/ocr"), None, 200).await;
    assert_eq!(text[0]["text"], "EXIT");
    let large = conforming_on(
        base,
        "POST",
        "/search/large-assets",
        "/search/large-assets?size=3&minFileSize=100000&withExif=true",
        None,
        200,
    )
    .await;
    assert_eq!(large.as_array().unwrap().len(), 3);
    conforming_on(base, "DELETE", "/assets", "/assets", Some(json!({ "ids": [id] })), 204).await;
    let trash = json!({ "trashedAfter": "1970-01-01T00:00:00.000Z" });
    let trashed = conforming_on(base, "POST", "/search/metadata", "/search/metadata", Some(trash.clone()), 200).await;
    assert_eq!(trashed["assets"]["items"][0]["isTrashed"], true);
    let restored = conforming_on(
        base,
        "POST",
        "/trash/restore/assets",
        "/trash/restore/assets",
        Some(json!({ "ids": [id] })),
        200,
    )
    .await;
    assert_eq!(restored["count"], 1);
    conforming_on(base, "DELETE", "/assets", "/assets", Some(json!({ "ids": [id] })), 204).await;
    assert_eq!(conforming_on(base, "POST", "/trash/restore", "/trash/restore", None, 200).await["count"], 1);
    conforming_on(base, "DELETE", "/assets", "/assets", Some(json!({ "ids": [id] })), 204).await;
    assert_eq!(conforming_on(base, "POST", "/trash/empty", "/trash/empty", None, 200).await["count"], 1);
    let (status, gone) = call_on(base, "GET", &format!("/assets/{id}"), Some(ADMIN), None).await;
    assert_eq!((status, gone["message"].as_str()), (400, Some("Not found or no asset.read access")));
    let groups = conforming_on(base, "GET", "/duplicates", "/duplicates", None, 200).await;
    assert_eq!(groups.as_array().unwrap().len(), 20, "1,000 photos, a duplicate pair every 50");
    let (group, copies) = (&groups[0]["duplicateId"], &groups[0]["assets"]);
    let resolve = json!({ "groups": [{ "duplicateId": group, "keepAssetIds": [copies[0]["id"]], "trashAssetIds": [copies[1]["id"]] }] });
    let resolved = conforming_on(base, "POST", "/duplicates/resolve", "/duplicates/resolve", Some(resolve), 200).await;
    assert_eq!(resolved[0]["success"], true);
    let half = json!({ "groups": [{ "duplicateId": groups[1]["duplicateId"], "keepAssetIds": [groups[1]["assets"][0]["id"]], "trashAssetIds": [] }] });
    let refused = conforming_on(base, "POST", "/duplicates/resolve", "/duplicates/resolve", Some(half), 200).await;
    assert_eq!(refused[0]["errorMessage"], "Every asset must be in either keepAssetIds or trashAssetIds");
}

#[tokio::test]
async fn errors_use_immichs_codes_and_bodies() {
    assert_eq!(call("GET", "/users/me", None, None).await, (401, json!({ "message": "Authentication required" })));
    assert_eq!(call("GET", "/users/me", Some("wrong"), None).await, (401, json!({ "message": "Invalid API key" })));
    assert_eq!(
        call("POST", "/albums", Some(READONLY), Some(json!({ "albumName": "x" }))).await,
        (403, json!({ "message": "Missing required permission: album.create" }))
    );
    assert_eq!(
        call("GET", "/assets/00000000-0000-4000-8000-000000000000", Some(ADMIN), None).await,
        (400, json!({ "message": "Not found or no asset.read access" }))
    );
    let (status, body) = call("POST", "/search/metadata", Some(ADMIN), Some(json!({ "size": 1001 }))).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Validation failed")));
    assert_eq!(body["errors"][0]["path"], json!(["size"]));
    let (status, body) = call("GET", "/assets/not-a-uuid", Some(ADMIN), None).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Validation failed")));
    assert_eq!(call("GET", "/server/ping", None, None).await, (200, json!({ "res": "pong" })));
}

#[tokio::test]
async fn paging_walks_the_whole_library_without_gaps_or_duplicates() {
    let mut seen = std::collections::HashSet::new();
    let mut page = 1;
    loop {
        let (status, body) =
            call("POST", "/search/metadata", Some(ADMIN), Some(json!({ "page": page, "size": 1000 }))).await;
        assert_eq!(status, 200);
        for item in body["assets"]["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_str().unwrap().to_string()), "duplicate on page {page}");
        }
        match body["assets"]["nextPage"].as_str() {
            Some(next) => page = next.parse().unwrap(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10_000);
}

#[tokio::test]
async fn binaries_are_real_and_ranges_work() {
    let client = common::client();
    let (_, page) = call("POST", "/search/metadata", Some(ADMIN), Some(json!({ "size": 2, "type": "IMAGE" }))).await;
    let id = page["assets"]["items"][0]["id"].as_str().unwrap().to_string();
    let get = |path: String| client.get(format!("{}/api{path}", demo_url())).header("x-api-key", ADMIN);

    let thumb = get(format!("/assets/{id}/thumbnail")).send().await.unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/webp");
    let bytes = thumb.bytes().await.unwrap();
    assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP");

    let preview = get(format!("/assets/{id}/thumbnail?size=preview")).send().await.unwrap().bytes().await.unwrap();
    assert!(preview.starts_with(&[0xff, 0xd8]), "preview is a JPEG");

    let whole = get(format!("/assets/{id}/original")).send().await.unwrap().bytes().await.unwrap();
    let part = get(format!("/assets/{id}/original")).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 10-19/{}", whole.len()));
    assert_eq!(part.bytes().await.unwrap(), whole.slice(10..20));
    let beyond =
        get(format!("/assets/{id}/original")).header("range", format!("bytes={}-", whole.len())).send().await.unwrap();
    assert_eq!(beyond.status(), 416);

    let ids: Vec<&str> =
        page["assets"]["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    let zip = client
        .post(format!("{}/api/download/archive", demo_url()))
        .header("x-api-key", ADMIN)
        .json(&json!({ "assetIds": ids }))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(zip.starts_with(b"PK\x03\x04"));
    let end = zip.len() - 22;
    assert_eq!(&zip[end..end + 4], b"PK\x05\x06");
    assert_eq!(u16::from_le_bytes([zip[end + 10], zip[end + 11]]), 2, "two entries");
}

#[tokio::test]
async fn faults_can_be_injected_per_request() {
    let client = common::client();
    let url = format!("{}/api/server/ping", demo_url());
    let failed = client.get(&url).header("x-demo-fault", "status=503").send().await.unwrap();
    assert_eq!(failed.status(), 503);
    let truncated = client
        .get(format!("{}/api/albums", demo_url()))
        .header("x-api-key", ADMIN)
        .header("x-demo-fault", "truncate")
        .send()
        .await
        .unwrap();
    let text = truncated.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "truncated JSON must not parse: {text}");
    let started = std::time::Instant::now();
    client.get(&url).header("x-demo-fault", "slow=300ms").send().await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(client.get(&url).header("x-demo-fault", "reset").send().await.is_err());
}
