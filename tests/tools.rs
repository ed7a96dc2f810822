//! The Immich tools through MCP against the demo Immich: every tool's happy path, bad arguments,
//! permissions, Immich failures, paging over the whole library, and images.

mod common;

use common::mcp::Mcp;
use common::{ADMIN, Gateway, READONLY, client, streamed_items};
use immich_mcp_gateway::config::KeyHash;
use immich_mcp_gateway::demo::{self, Fault};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn every_tool_works_against_the_demo() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let names = mcp.tool_names().await;
    assert_eq!(names.len(), common::tool_count(), "{names:?}");

    let found = mcp.ok("queryPhotos", json!({ "query": "Kyoto", "type": "IMAGE", "limit": 5 })).await;
    assert_eq!(found["count"], 5);
    assert!(found["photos"].as_array().unwrap().iter().all(|p| p["city"] == "Kyoto" && p["type"] == "IMAGE"));
    let ids: Vec<String> =
        found["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    let filtered = mcp.ok("queryPhotos", json!({ "country": "Germany", "make": "Canon", "takenAfter": "2020-01-01", "takenBefore": "2021-01-01", "isFavorite": false, "limit": 10 })).await;
    assert!(
        filtered["photos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["country"] == "Germany" && p["takenAt"].as_str().unwrap().starts_with("2020"))
    );

    let people = mcp.ok("listPeople", json!({})).await;
    let alice = people["people"].as_array().unwrap().iter().find(|p| p["name"] == "Alice").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let with_alice = mcp.ok("queryPhotos", json!({ "people": ["alice"], "limit": 3 })).await;
    assert!(
        with_alice["photos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["people"].as_array().unwrap().contains(&json!("Alice")))
    );
    assert!(mcp.ok("getPerson", json!({ "id": alice })).await["photoCount"].as_u64().unwrap() > 0);

    let photo = mcp.ok("getPhoto", json!({ "id": ids[0] })).await;
    assert_eq!(photo["photo"]["id"], ids[0].as_str());
    assert!(photo["exif"]["make"].is_string());
    // The compact photo carries the EXIF summary too.
    assert!(photo["photo"]["camera"].is_string(), "{}", photo["photo"]);

    let albums = mcp.ok("listAlbums", json!({})).await;
    let album_id = albums["albums"][0]["id"].as_str().unwrap().to_string();
    let album = mcp.ok("getAlbum", json!({ "id": album_id, "limit": 4 })).await;
    assert_eq!(album["album"]["id"], album_id.as_str());
    assert_eq!(album["count"], 4);
    let created = mcp.ok("createAlbum", json!({ "name": "From a model", "photoIds": [ids[0]] })).await;
    let new_album = created["album"]["id"].as_str().unwrap().to_string();
    let added = mcp.ok("addToAlbum", json!({ "albumId": new_album, "photoIds": [ids[0], ids[1]] })).await;
    assert_eq!(added["added"], 1, "one was already there");
    let removed = mcp.ok("removeFromAlbum", json!({ "albumId": new_album, "photoIds": [ids[1]] })).await;
    assert_eq!(removed["removed"], 1);

    assert!(!mcp.ok("listTags", json!({})).await["tags"].as_array().unwrap().is_empty());
    let tagged = mcp.ok("tagPhotos", json!({ "photoIds": [ids[0], ids[1]], "tags": ["trip/2026/test"] })).await;
    assert_eq!(tagged["tagged"], 2);

    let timeline = mcp.ok("getTimeline", json!({})).await;
    assert_eq!(timeline["total"], 10_000);
    let month = timeline["months"][0]["month"].as_str().unwrap().to_string();
    let bucket = mcp.ok("getTimelineBucket", json!({ "month": month })).await;
    assert_eq!(bucket["count"], timeline["months"][0]["count"]);

    let markers = mcp
        .ok("getMapMarkers", json!({ "south": 34.0, "north": 36.0, "west": 135.0, "east": 136.5, "limit": 50 }))
        .await;
    assert!(markers["count"].as_u64().unwrap() > 50 && markers["truncated"] == true, "Kyoto is inside the box");
    assert!(markers["markers"].as_array().unwrap().iter().all(|m| m["city"] == "Kyoto"));

    mcp.ok("listMemories", json!({ "date": "2026-06-15" })).await;
    assert_eq!(mcp.ok("getLibraryStatistics", json!({})).await["total"], 10_000);
    assert_eq!(mcp.ok("searchPlaces", json!({ "name": "Lis" })).await["places"][0]["name"], "Lisbon");
    assert!(
        mcp.ok("getSuggestions", json!({ "field": "camera-make" })).await["values"]
            .as_array()
            .unwrap()
            .contains(&json!("Canon"))
    );

    let dry = mcp.ok("updatePhotos", json!({ "ids": [ids[2]], "isFavorite": true, "rating": 5, "dryRun": true })).await;
    assert_eq!((dry["updated"].as_u64(), dry["dryRun"].as_bool()), (Some(0), Some(true)));
    assert_eq!(
        mcp.ok("getPhoto", json!({ "id": ids[2] })).await["photo"]["favorite"],
        false,
        "a dry run changes nothing"
    );
    mcp.ok("updatePhotos", json!({ "ids": [ids[2]], "isFavorite": true })).await;
    assert_eq!(mcp.ok("getPhoto", json!({ "id": ids[2] })).await["photo"]["favorite"], true);
}

#[tokio::test]
async fn photos_come_back_as_images() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let found = mcp.ok("queryPhotos", json!({ "type": "IMAGE", "limit": 3 })).await;
    let ids: Vec<&str> = found["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    let result = mcp.call("getPhoto", json!({ "id": ids[0], "includeImage": true })).await;
    let image = &result["content"][1];
    assert_eq!((image["type"].as_str(), image["mimeType"].as_str()), (Some("image"), Some("image/jpeg")));
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(image["data"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(&[0xff, 0xd8]), "a real JPEG");

    let result = mcp.call("analyzePhotos", json!({ "ids": ids })).await;
    let images: Vec<&Value> = result["content"].as_array().unwrap().iter().filter(|c| c["type"] == "image").collect();
    assert_eq!(images.len(), 3);
    assert!(images.iter().all(|i| i["mimeType"] == "image/webp"));
    let too_many: Vec<String> = (0..21).map(|_| ids[0].to_string()).collect();
    assert!(mcp.error("analyzePhotos", json!({ "ids": too_many })).await.contains("at most 20"));
}

#[tokio::test]
async fn bad_arguments_name_the_field() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    assert!(mcp.error("getPhoto", json!({})).await.contains("`id`"));
    assert!(mcp.error("queryPhotos", json!({ "limit": "ten" })).await.contains("`limit`"));
    assert!(mcp.error("queryPhotos", json!({ "type": "PAINTING" })).await.contains("`type`"));
    assert!(mcp.error("queryPhotos", json!({ "bogus": 1 })).await.contains("`bogus`"));
    assert!(mcp.error("queryPhotos", json!({ "rating": 0 })).await.contains("at least 1"));
    let unknown = mcp.error("getPhoto", json!({ "id": "00000000-0000-4000-8000-000000000000" })).await;
    assert!(unknown.contains("Not found or no asset.read access"), "Immich's own message: {unknown}");
    assert!(mcp.error("queryPhotos", json!({ "cursor": "not-a-cursor" })).await.contains("cursor"));
    assert!(mcp.error("queryPhotos", json!({ "people": ["Nobody"] })).await.contains("no person named"));
    assert!(
        mcp.error("updatePhotos", json!({ "ids": ["00000000-0000-4000-8000-000000000000"] }))
            .await
            .contains("nothing to change")
    );
}

#[tokio::test]
async fn permissions_hide_tools_or_surface_immichs_refusal() {
    // The gateway's own key is read-only: writing tools are hidden, or listed as unavailable.
    let readonly_gateway = format!(
        "[immich]\napi_key = \"{READONLY}\"\n[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"agent\"\nhash = \"{}\"\n",
        KeyHash::of("gw")
    );
    let gw = Gateway::start(&readonly_gateway, &["--demo"]);
    let mcp = Mcp::connect(&gw, Some("gw")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while mcp.tool_names().await.contains(&"createAlbum".to_string()) {
        assert!(std::time::Instant::now() < deadline, "write tools stay listed for a read-only key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names = mcp.tool_names().await;
    assert!(names.contains(&"queryPhotos".to_string()) && !names.contains(&"updatePhotos".to_string()), "{names:?}");

    let listed = Gateway::start(&format!("{readonly_gateway}[tools]\nhide_unavailable = false\n"), &["--demo"]);
    let mcp = Mcp::connect(&listed, Some("gw")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message =
            mcp.call("createAlbum", json!({ "name": "x" })).await["content"][0]["text"].as_str().unwrap().to_string();
        if message.contains("unavailable") {
            assert!(message.contains("album.create"), "{message}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "createAlbum never became unavailable: {message}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // read_only hides every writing tool whatever the key.
    let ro = Gateway::start("[tools]\nread_only = true\n", &["--demo"]);
    let names = Mcp::connect(&ro, None).await.tool_names().await;
    assert!(
        !names.iter().any(
            |n| ["createAlbum", "addToAlbum", "removeFromAlbum", "tagPhotos", "updatePhotos"].contains(&n.as_str())
        ),
        "{names:?}"
    );

    // Passthrough: the caller's own read-only Immich key meets Immich's refusal.
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, Some(READONLY)).await;
    let refusal = mcp.error("createAlbum", json!({ "name": "x" })).await;
    assert!(refusal.contains("Missing required permission: album.create"), "{refusal}");
    mcp.ok("queryPhotos", json!({ "limit": 1 })).await;
}

fn gateway_on(demo: std::net::SocketAddr, extra: &str) -> Gateway {
    Gateway::start(&format!("[immich]\nbase_url = \"http://{demo}\"\napi_key = \"{ADMIN}\"\n{extra}"), &[])
}

#[tokio::test]
async fn immich_failures_become_tool_errors_with_a_retry_hint() {
    let failing = demo::spawn(100, Fault { status: Some(503), ..Fault::default() });
    let gw = gateway_on(failing, "retry_attempts = 3\nretry_initial_backoff = \"10ms\"\n");
    let message = Mcp::connect(&gw, None).await.error("queryPhotos", json!({})).await;
    assert!(message.contains("HTTP 503") && message.contains("Retry"), "{message}");

    let slow = demo::spawn(100, Fault { delay: Some(Duration::from_secs(3)), ..Fault::default() });
    let gw = gateway_on(slow, "request_timeout = \"400ms\"\n");
    let started = std::time::Instant::now();
    let message = Mcp::connect(&gw, None).await.error("listAlbums", json!({})).await;
    assert!(message.contains("did not answer in time"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3), "the request timeout bounds the call, retries included");

    let truncated = demo::spawn(100, Fault { truncate: true, ..Fault::default() });
    let gw = gateway_on(truncated, "");
    let message = Mcp::connect(&gw, None).await.error("listAlbums", json!({})).await;
    assert!(message.contains("unreadable"), "{message}");

    let nowhere = format!("127.0.0.1:{}", common::closed_port()).parse().unwrap();
    let gw = gateway_on(nowhere, "retry_attempts = 2\nretry_initial_backoff = \"10ms\"\n");
    let message = Mcp::connect(&gw, None).await.error("listTags", json!({})).await;
    assert!(message.contains("unreachable") && message.contains("Retry"), "{message}");
}

#[tokio::test]
async fn cursors_walk_ten_thousand_assets_without_gaps_or_duplicates() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let mut seen = HashSet::new();
    let mut arguments = json!({ "limit": 500 });
    let mut calls = 0;
    loop {
        let page = mcp.ok("queryPhotos", arguments).await;
        calls += 1;
        for photo in page["photos"].as_array().unwrap() {
            assert!(seen.insert(photo["id"].as_str().unwrap().to_string()), "duplicate after {calls} calls");
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => arguments = json!({ "cursor": cursor }),
            None => break,
        }
    }
    assert_eq!((seen.len(), calls), (10_000, 20));
    let streamed = mcp.ok("queryPhotos", json!({ "limit": 1000 })).await;
    assert_eq!(streamed["count"], 1000, "above auto_stream_threshold the photos stream instead of paging");
    assert!(streamed["streamId"].is_string());
}

#[test]
fn the_tool_reference_is_generated_from_the_definitions() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tools.md")).unwrap();
    assert!(
        committed == immich_mcp_gateway::tool_reference(),
        "docs/tools.md is stale: run `cargo run -- --tool-reference > docs/tools.md`"
    );
}

#[tokio::test]
async fn every_tool_is_listed_with_title_annotations_and_schemas() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let listed = mcp.rpc("tools/list", json!({})).await;
    for tool in listed["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) && name.len() <= 128);
        assert!(tool["title"].is_string() && tool["description"].as_str().unwrap().len() > 20, "{name}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        let annotations = &tool["annotations"];
        assert!(
            annotations["readOnlyHint"].is_boolean()
                && annotations["destructiveHint"].is_boolean()
                && annotations["idempotentHint"].is_boolean(),
            "{name}: {annotations}"
        );
    }
}

#[tokio::test]
async fn immich_resources_read_as_json_and_images() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let templates = mcp.rpc("resources/templates/list", json!({})).await;
    let uris: Vec<&str> = templates["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["uriTemplate"].as_str())
        .collect();
    assert!(
        uris.contains(&"immich://asset/{id}")
            && uris.contains(&"immich://asset/{id}/thumbnail")
            && uris.contains(&"immich://album/{id}")
    );

    let found = mcp.ok("queryPhotos", json!({ "type": "IMAGE", "limit": 1 })).await;
    let id = found["photos"][0]["id"].as_str().unwrap();
    let asset = mcp.rpc("resources/read", json!({ "uri": format!("immich://asset/{id}") })).await;
    let content = &asset["result"]["contents"][0];
    assert_eq!(content["mimeType"], "application/json");
    let parsed: Value = serde_json::from_str(content["text"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["id"], id);

    let thumb = mcp.rpc("resources/read", json!({ "uri": format!("immich://asset/{id}/thumbnail") })).await;
    let content = &thumb["result"]["contents"][0];
    assert_eq!(content["mimeType"], "image/webp");
    use base64::Engine;
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(content["blob"].as_str().unwrap())
            .unwrap()
            .starts_with(b"RIFF")
    );

    let album_id = mcp.ok("listAlbums", json!({})).await["albums"][0]["id"].as_str().unwrap().to_string();
    let album = mcp.rpc("resources/read", json!({ "uri": format!("immich://album/{album_id}") })).await;
    let parsed: Value = serde_json::from_str(album["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert!(!parsed["photos"].as_array().unwrap().is_empty());

    let missing =
        mcp.rpc("resources/read", json!({ "uri": "immich://asset/00000000-0000-4000-8000-000000000000" })).await;
    assert_eq!(missing["error"]["code"], -32602);
    assert_eq!(missing["error"]["data"]["uri"], "immich://asset/00000000-0000-4000-8000-000000000000");
}

/// The number of entries in a zip, from its end-of-central-directory record.
fn zip_entries(zip: &[u8]) -> u16 {
    assert!(zip.starts_with(b"PK\x03\x04"), "a zip");
    let end = zip.len() - 22;
    assert_eq!(&zip[end..end + 4], b"PK\x05\x06");
    u16::from_le_bytes([zip[end + 10], zip[end + 11]])
}

#[tokio::test]
async fn exports_stream_zips_through_signed_links() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let found = mcp.ok("queryPhotos", json!({ "limit": 3 })).await;
    let ids: Vec<&str> = found["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    let result = mcp.call("exportPhotos", json!({ "ids": ids })).await;
    assert_eq!(result["content"][1]["type"], "resource_link");
    assert_eq!(result["content"][1]["mimeType"], "application/zip");
    let export = &result["structuredContent"];
    assert_eq!((export["photoCount"].as_u64(), export["archives"].as_array().unwrap().len()), (Some(3), 1));
    let url = export["archives"][0]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&gw.url), "{url}");
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/zip");
    let zip = response.bytes().await.unwrap();
    assert_eq!(zip_entries(&zip), 3);
    assert_eq!(zip.len() as u64, export["totalSize"].as_u64().unwrap() + zip_overhead(&zip), "every original in full");

    // An album split into several archives: each link has its share.
    let album = mcp.ok("listAlbums", json!({})).await["albums"][0].clone();
    let split = mcp.ok("exportPhotos", json!({ "albumId": album["id"], "archiveSize": 2_000_000 })).await;
    let archives = split["archives"].as_array().unwrap();
    assert!(archives.len() > 1, "{split}");
    assert_eq!(split["photoCount"], album["photoCount"]);
    for archive in archives.iter().take(3) {
        let zip = client().get(archive["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(u64::from(zip_entries(&zip)), archive["photoCount"].as_u64().unwrap());
    }

    let mut altered = url.clone();
    altered.insert(altered.len() - 3, 'x');
    assert_eq!(client().get(&altered).send().await.unwrap().status(), 404);
}

/// Zip bytes that are not file data: headers, names and the central directory.
fn zip_overhead(zip: &[u8]) -> u64 {
    let end = zip.len() - 22;
    let central = u32::from_le_bytes([zip[end + 12], zip[end + 13], zip[end + 14], zip[end + 15]]) as u64;
    let entries = u64::from(zip_entries(zip));
    // 30-byte local headers plus names ("IMG_000000.jpg" = 14 bytes), the central directory, the end record.
    entries * (30 + 14) + central + 22
}

#[tokio::test]
async fn export_links_need_the_callers_key_in_inject_mode() {
    let config =
        format!("[auth]\nmode = \"inject\"\n[[auth.keys]]\nname = \"agent\"\nhash = \"{}\"\n", KeyHash::of("gw"));
    let gw = Gateway::start(&config, &["--demo"]);
    let mcp = Mcp::connect(&gw, Some("gw")).await;
    let found = mcp.ok("queryPhotos", json!({ "limit": 1 })).await;
    let export = mcp.ok("exportPhotos", json!({ "ids": [found["photos"][0]["id"]] })).await;
    let url = export["archives"][0]["url"].as_str().unwrap();
    assert_eq!(client().get(url).send().await.unwrap().status(), 401);
    let zip = client().get(url).header("x-api-key", "gw").send().await.unwrap().bytes().await.unwrap();
    assert_eq!(zip_entries(&zip), 1);
}

/// `tools/call` (id 9) with `params`, answered as SSE: the whole body.
async fn call_over_sse(mcp: &Mcp, params: Value) -> String {
    let request = json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params });
    let response = mcp
        .http
        .post(&mcp.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &mcp.session)
        .body(request.to_string())
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

/// Every JSON-RPC message of an SSE body, with the largest event's size.
fn sse(text: &str) -> (Vec<Value>, usize) {
    let events: Vec<&str> = text.split("\n\n").filter(|e| e.contains("data: {")).collect();
    let largest = events.iter().map(|e| e.len()).max().unwrap_or(0);
    (
        events
            .iter()
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect(),
        largest,
    )
}

#[tokio::test]
async fn large_queries_stream_as_data_notifications_with_a_small_final_result() {
    let gw = Gateway::start("[streaming]\nchunk_size = 200\n", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let text = call_over_sse(
        &mcp,
        json!({ "name": "queryPhotos", "arguments": { "limit": 3000 }, "_meta": { "progressToken": "big" } }),
    )
    .await;
    let (messages, largest) = sse(&text);
    assert!(largest < 1 << 20, "no SSE event reaches 1 MiB (the Python SDK's limit): {largest}");
    let data: Vec<&Value> = messages.iter().filter(|m| m["method"] == "notifications/stream/data").collect();
    let ids: HashSet<&str> = streamed_items(&messages).into_iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3000, "3000 photos, once each");
    // Chunks of chunk_size (200), or fewer when flush_interval passes first.
    assert!(data.iter().all(|m| m["params"]["items"].as_array().unwrap().len() <= 200));
    assert!(data.len() >= 15, "{}", data.len());
    let sequences: Vec<u64> = data.iter().map(|m| m["params"]["sequenceNumber"].as_u64().unwrap()).collect();
    assert_eq!(sequences, (1..=data.len() as u64).collect::<Vec<_>>());
    assert!(
        messages.iter().any(|m| m["method"] == "notifications/stream/init" && m["params"]["expectedItems"] == 3000)
    );
    assert!(
        data.iter()
            .all(|m| m["params"]["streamId"] == data[0]["params"]["streamId"] && m["params"]["totalItems"] == 3000)
    );
    let progress: Vec<f64> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]) && progress.last() == Some(&3000.0), "{progress:?}");
    assert!(messages.iter().any(|m| m["method"] == "notifications/stream/complete" && m["params"]["success"] == true));
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 9);
    let final_size = serde_json::to_vec(&last["result"]).unwrap().len();
    assert!(final_size < 512 * 1024, "the final result stays small: {final_size}");
    assert_eq!(last["result"]["structuredContent"]["count"], 3000);
    assert_eq!(last["result"]["structuredContent"]["photos"].as_array().unwrap().len(), 20);
    assert!(last["result"]["structuredContent"]["streamCursor"].is_string(), "more photos than the 3000 asked for");
}

#[tokio::test]
async fn without_sse_large_queries_page_instead() {
    let gw = Gateway::start("[mcp]\nresponse_mode = \"json\"\n", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let page = mcp.ok("queryPhotos", json!({ "limit": 3000 })).await;
    assert_eq!(page["count"], 500);
    assert!(page["nextCursor"].is_string());
}

#[tokio::test]
async fn large_queries_page_when_no_stream_slot_is_free() {
    let gw = Gateway::start("[streaming]\nmax_concurrent_streams = 1\n", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    // An /api stream waiting on a slow Immich holds the only slot.
    let holder = client()
        .get(gw.at("/api/map/markers"))
        .header("x-api-key", ADMIN)
        .header("accept", "text/event-stream")
        .header("x-demo-fault", "slow=1500ms")
        .send();
    let holder = tokio::spawn(holder);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let text = call_over_sse(&mcp, json!({ "name": "queryPhotos", "arguments": { "limit": 3000 } })).await;
    let (messages, _) = sse(&text);
    assert!(messages.iter().all(|m| m["method"] != "notifications/stream/init"), "no stream was started");
    let last = messages.last().unwrap();
    assert_eq!(last["result"]["structuredContent"]["count"], 500, "a page instead");
    assert!(last["result"]["structuredContent"]["nextCursor"].is_string());
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
}

/// The id of the `n`th photo (from 1) of the unfiltered search, asked of Immich through `/api`.
async fn nth_photo_id(gw: &Gateway, n: u64) -> String {
    let page = common::post_as_admin(gw, "/api/search/metadata", &json!({ "size": 1, "page": n })).await;
    page["assets"]["items"][0]["id"].as_str().unwrap().to_string()
}

/// Issue 19 point 2: a streamed result stands on its own for a client that drops the data events —
/// its nextCursor continues right after the photos it holds (it pointed past all 5,000, so the
/// 4,980 streamed ones could not be reached), its text says how many matched, how many it holds and
/// how to get the rest, and it counts what was streamed by year, place, camera and person.
#[tokio::test]
async fn a_streamed_result_stands_on_its_own() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let text = call_over_sse(&mcp, json!({ "name": "queryPhotos", "arguments": { "limit": 5000 } })).await;
    let (messages, _) = sse(&text);
    let result = &messages.last().unwrap()["result"];
    let structured = &result["structuredContent"];
    assert_eq!((structured["count"].as_u64(), structured["held"].as_u64()), (Some(5000), Some(20)), "{structured}");
    let next = mcp.ok("queryPhotos", json!({ "cursor": structured["nextCursor"] })).await;
    assert_eq!(next["photos"][0]["id"], nth_photo_id(&gw, 21).await, "paging on from the result reaches photo 21");
    let after = mcp.ok("queryPhotos", json!({ "cursor": structured["streamCursor"] })).await;
    assert_eq!(after["photos"][0]["id"], nth_photo_id(&gw, 5001).await);
    let words = result["content"][0]["text"].as_str().unwrap();
    for told in [
        "5000 photos",
        "holds the first 20",
        "continues right after photo 20",
        "years:",
        "places:",
        "cameras:",
        "people:",
    ] {
        assert!(words.contains(told), "{told:?} in {words}");
    }
    let years = structured["summary"]["byYear"].as_object().unwrap();
    assert_eq!(years.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 5000, "every streamed photo counted");
    assert!(structured["summary"]["byPlace"].as_object().unwrap().contains_key("Kyoto"));
}

/// The final result of a streamed `queryPhotos`, and its `notifications/stream/complete`.
async fn stream_query(mcp: &Mcp, limit: u64) -> (Value, Value) {
    let text = call_over_sse(mcp, json!({ "name": "queryPhotos", "arguments": { "limit": limit } })).await;
    let (messages, _) = sse(&text);
    let complete =
        messages.iter().find(|m| m["method"] == "notifications/stream/complete").map(|m| m["params"].clone());
    (messages.last().unwrap()["result"]["structuredContent"].clone(), complete.unwrap_or_default())
}

#[tokio::test]
async fn a_streams_cursor_continues_right_after_its_last_photo() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    // 1,500 ends inside Immich's second page of 1,000: the cursor must not skip its other half.
    let (streamed, complete) = stream_query(&mcp, 1500).await;
    assert_eq!((streamed["count"].as_u64(), complete["success"].as_bool()), (Some(1500), Some(true)));
    let next = mcp.ok("queryPhotos", json!({ "cursor": streamed["streamCursor"] })).await;
    assert_eq!(next["photos"][0]["id"], nth_photo_id(&gw, 1501).await);
    let after = mcp.ok("queryPhotos", json!({ "cursor": next["nextCursor"] })).await;
    assert_eq!(after["photos"][0]["id"], nth_photo_id(&gw, 1501 + next["count"].as_u64().unwrap()).await);
}

#[tokio::test]
async fn a_stream_past_stream_timeout_ends_with_a_cursor_that_continues_it() {
    let gw = Gateway::start("[streaming]\nstream_timeout = \"600ms\"\n[demo]\nfault = \"slow=150ms\"\n", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let (streamed, complete) = stream_query(&mcp, 3000).await;
    let count = streamed["count"].as_u64().unwrap();
    assert!(count < 3000, "Immich at 150 ms a page cannot give 3000 photos in 600 ms: {count}");
    assert_eq!(complete["success"], false);
    assert_eq!(complete["error"]["code"], "STREAM_TIMEOUT");
    assert_eq!(streamed["stoppedBy"], "stream_timeout");
    let next = mcp.ok("queryPhotos", json!({ "cursor": streamed["streamCursor"] })).await;
    assert_eq!(next["photos"][0]["id"], nth_photo_id(&gw, count + 1).await, "no photo skipped or repeated");
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_stream_after_backpressure_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start("[streaming]\nbackpressure_timeout = \"500ms\"\n[demo]\nassets = 300000\n", &["--demo"]);
    let request = common::streamed_query_request(300_000);
    let mut stalled = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    stalled.write_all(&request).await.unwrap();
    let mut head = [0u8; 4096];
    let n = stalled.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    // Now the client reads nothing: the socket buffers fill, the gateway's writes stall.
    let active = || async {
        let health: Value = client().get(gw.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
        health["activeStreams"].as_i64().unwrap()
    };
    // It is given up within backpressure_timeout of the last write that went through, and a
    // short grace for the end event (the issue saw slots held 60-80 s past a 30 s timeout).
    let stalled_at = std::time::Instant::now();
    while active().await > 0 {
        assert!(stalled_at.elapsed() < Duration::from_secs(6), "the stalled stream is still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("slot released {:?} after the client stopped reading", stalled_at.elapsed());
    // What the socket holds ends early: no final result, far fewer than 300,000 photos; the
    // connection is closed, not kept.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), stalled.read_to_end(&mut rest)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&rest);
    assert!(!text.contains("\"result\""), "the call was cancelled, not completed");
    let photos = text.matches("\"fileName\"").count();
    assert!(photos < 300_000, "{photos}");
}

/// A slow client sets the pace of its stream: the gateway produces photos at most a few buffers
/// ahead of what the client has read (its own `stream_buffer_size`, and as much again unsent in
/// the kernel), instead of filling a send buffer Linux lets grow to 4 MiB.
#[tokio::test]
async fn a_slow_clients_stream_is_produced_at_the_clients_pace() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start("[demo]\nassets = 300000\n", &["--demo"]);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut slow = socket.connect(gw.url.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    slow.write_all(&common::streamed_query_request(300_000)).await.unwrap();
    // 200 KB/s for 4 s, in 4 KiB reads.
    const RATE: f64 = 200_000.0;
    let (started, mut read, mut buf) = (std::time::Instant::now(), 0usize, [0u8; 4096]);
    while started.elapsed() < Duration::from_secs(4) {
        let n = slow.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream ended early");
        read += n;
        let due = Duration::from_secs_f64(read as f64 / RATE);
        tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
    }
    let metrics = client().get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    let produced: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("streaming_bytes_sent_total{transport=\"sse\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the stream's bytes are counted");
    let ahead = produced - read as f64;
    eprintln!("read {read} bytes, the gateway produced {produced} ({ahead} ahead)");
    assert!(ahead < 512.0 * 1024.0, "the gateway ran {ahead} bytes ahead of a slow client");
}

/// A client that pauses longer than `backpressure_timeout` and then reads again gets the end of
/// its stream as a retryable error event with the token that resumes right after what it got.
#[tokio::test]
async fn a_paused_client_is_told_where_to_resume_after_backpressure_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start("[streaming]\nbackpressure_timeout = \"400ms\"\n[demo]\nassets = 300000\n", &["--demo"]);
    let mut paused = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    paused.write_all(&common::streamed_query_request(300_000)).await.unwrap();
    // Read again as soon as the gateway gives up on the blocked write (it then waits a little
    // for the client to drain).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !gw.log().contains("took nothing for backpressure_timeout") {
        assert!(std::time::Instant::now() < deadline, "the write never blocked for backpressure_timeout");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), paused.read_to_end(&mut all)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&all);
    let messages: Vec<Value> =
        text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect();
    // The stream error event, then the request's answer: an error saying the same.
    let [.., last, answer] = messages.as_slice() else { panic!("too few events: {messages:?}") };
    assert_eq!(last["method"], "notifications/stream/error", "the stream ended with {}", last["method"]);
    assert_eq!(
        (last["params"]["code"].as_str(), last["params"]["retryable"].as_bool()),
        (Some("BACKPRESSURE_TIMEOUT"), Some(true))
    );
    assert_eq!((answer["id"].as_i64(), &answer["error"]["data"]["code"]), (Some(1), &json!("BACKPRESSURE_TIMEOUT")));
    let data = messages.iter().rev().find(|m| m["method"] == "notifications/stream/data").unwrap();
    assert_eq!(last["params"]["resumeToken"], data["params"]["resumeToken"], "resumes right after the last data event");
}

/// A call that sends nothing for `idle_timeout` (Immich answers every page in 800 ms) ends its
/// stream with a retryable `IDLE_TIMEOUT` error event naming the stream, and a JSON-RPC error
/// answers the request.
#[tokio::test]
async fn a_stream_with_nothing_to_send_ends_after_idle_timeout() {
    let gw = Gateway::start("[streaming]\nidle_timeout = \"300ms\"\n[demo]\nfault = \"slow=800ms\"\n", &["--demo"]);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    stream.write_all(&common::streamed_query_request(5000)).await.unwrap();
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut body)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("IDLE_TIMEOUT") && text.contains("\"retryable\":true"), "{text}");
    // The error names the tool stream, and the request is answered.
    let (messages, _) = sse(&text);
    let error = messages.iter().find(|m| m["method"] == "notifications/stream/error").expect("an error event");
    assert!(error["params"]["streamId"].is_string(), "{error}");
    let response = messages.last().unwrap();
    assert_eq!((response["id"].clone(), response["error"]["data"]["code"].clone()), (json!(1), json!("IDLE_TIMEOUT")));
}

/// getMapMarkers reads Immich's marker array one marker at a time; above the threshold, on an SSE
/// reply, the markers stream as data events, the same ones a JSON reply returns in one piece.
#[tokio::test]
async fn many_map_markers_stream_as_data_events() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let text = call_over_sse(&mcp, json!({ "name": "getMapMarkers", "arguments": { "limit": 100000 } })).await;
    let (messages, largest) = sse(&text);
    let data: Vec<&Value> =
        messages.iter().filter(|m| m["method"] == "notifications/stream/data").map(|m| &m["params"]).collect();
    let streamed: Vec<&str> =
        data.iter().flat_map(|d| d["items"].as_array().unwrap()).map(|m| m["id"].as_str().unwrap()).collect();
    let result = &messages.last().unwrap()["result"]["structuredContent"];
    assert!(streamed.len() > 1000, "{} markers", streamed.len());
    assert_eq!(result["count"], streamed.len());
    assert_eq!(result["chunks"], data.len());
    assert_eq!(result["truncated"], false);
    assert!(result["markers"].as_array().unwrap().len() <= 20, "the final result stays small");
    assert!(data.iter().all(|d| d["items"].as_array().unwrap().len() <= 100));
    assert_eq!(data.last().unwrap()["hasMore"], false);
    assert!(largest < 1 << 20);

    let json_only = Gateway::start("[mcp]\nresponse_mode = \"json\"\n", &["--demo"]);
    let whole = Mcp::connect(&json_only, None).await.ok("getMapMarkers", json!({ "limit": 100000 })).await;
    let listed: Vec<&str> = whole["markers"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(streamed, listed, "the same markers, in the same order");
}

/// A big album asked for whole streams its photos like a large query.
#[tokio::test]
async fn a_big_album_streams_its_photos() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let albums = mcp.ok("listAlbums", json!({})).await;
    let biggest = albums["albums"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|a| a["photoCount"].as_u64().unwrap_or(0))
        .unwrap()
        .clone();
    let count = biggest["photoCount"].as_u64().unwrap();
    let text =
        call_over_sse(&mcp, json!({ "name": "getAlbum", "arguments": { "id": biggest["id"], "limit": 100000 } })).await;
    let (messages, _) = sse(&text);
    let ids: std::collections::HashSet<&str> =
        streamed_items(&messages).into_iter().map(|p| p["id"].as_str().unwrap()).collect();
    let result = &messages.last().unwrap()["result"]["structuredContent"];
    assert_eq!((ids.len() as u64, result["count"].as_u64()), (count, Some(count)), "every photo of the album, once");
    assert_eq!(result["album"]["id"], biggest["id"]);
    assert!(result["streamId"].is_string());
}

/// More than 10 photos to analyze stream: each photo's metadata goes out as a data event as it is
/// read, and the result still carries every image.
#[tokio::test]
async fn analyzing_many_photos_streams_their_metadata_first() {
    let gw = Gateway::start("[streaming]\nchunk_size = 4\n", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let page = mcp.ok("queryPhotos", json!({ "limit": 12, "type": "IMAGE" })).await;
    let ids: Vec<&str> = page["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 12);
    let text = call_over_sse(&mcp, json!({ "name": "analyzePhotos", "arguments": { "ids": ids } })).await;
    let (messages, _) = sse(&text);
    let streamed: Vec<&str> = streamed_items(&messages).into_iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(streamed, ids, "every photo's metadata, in order");
    let result = &messages.last().unwrap()["result"];
    let images = result["content"].as_array().unwrap().iter().filter(|c| c["type"] == "image").count();
    assert_eq!(images, 12);
    // Chunks of chunk_size (4), or fewer photos when flush_interval passes first.
    let events = messages.iter().filter(|m| m["method"] == "notifications/stream/data").count();
    assert!(events >= 3 && result["structuredContent"]["chunks"] == events, "{events} data events");
}

/// Exports always stream (the streaming guide): on an SSE reply every archive's link is also a data event.
#[tokio::test]
async fn export_links_also_stream_as_data_events() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let albums = mcp.ok("listAlbums", json!({})).await;
    let album = albums["albums"][0]["id"].clone();
    let text = call_over_sse(
        &mcp,
        json!({ "name": "exportPhotos", "arguments": { "albumId": album, "archiveSize": 2_000_000 } }),
    )
    .await;
    let (messages, _) = sse(&text);
    let streamed: Vec<Value> = streamed_items(&messages).into_iter().cloned().collect();
    let result = &messages.last().unwrap()["result"]["structuredContent"];
    assert!(streamed.len() > 1, "several archives");
    assert_eq!(&Value::Array(streamed), &result["archives"], "the same links, in order");
}

/// What a run against a real Immich v3.1.0 found (../shared/immich/REAL-IMMICH.md, defects 3, 4
/// and 5), caught by the gateway before Immich, and the demo taught the real answers.
#[tokio::test]
async fn arguments_the_real_immich_mishandles_are_checked_first() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    // 3: a malformed month made Immich answer 500, retried three times as "retry in a moment".
    for month in ["2019-13", "2024", "July 2020", "2024-09-15"] {
        let error = mcp.error("getTimelineBucket", json!({ "month": month })).await;
        assert!(error.starts_with("Invalid arguments") && error.contains("YYYY-MM"), "{month}: {error}");
    }
    assert!(mcp.ok("getTimelineBucket", json!({ "month": "2024-09" })).await["count"].is_u64());
    let c = client();
    let bucket = c.get(gw.at("/api/timeline/bucket?timeBucket=2019-13")).header("x-api-key", ADMIN).send().await;
    assert_eq!(bucket.unwrap().status(), 500, "the demo answers a bad bucket as Immich v3.1.0 does");
    // 5: "tomorrow" was stored as a date.
    let photo = mcp.ok("queryPhotos", json!({ "limit": 1 })).await["photos"][0]["id"].clone();
    let error = mcp.error("updatePhotos", json!({ "ids": [photo], "takenAt": "tomorrow" })).await;
    assert!(error.starts_with("Invalid arguments") && error.contains("`takenAt` must be an ISO 8601"), "{error}");
    let error = mcp.error("queryPhotos", json!({ "takenAfter": "last week" })).await;
    assert!(error.contains("`takenAfter` must be an ISO 8601"), "{error}");
    mcp.ok("updatePhotos", json!({ "ids": [photo], "takenAt": "2024-09-30T18:05:00Z" })).await;
    // 4: Immich v3 refuses rating 0; "0 clears the rating" is sent as null (unrated).
    let rating = || async {
        let asset = c.get(gw.at(&format!("/api/assets/{}", photo.as_str().unwrap()))).header("x-api-key", ADMIN);
        asset.send().await.unwrap().json::<Value>().await.unwrap()["exifInfo"]["rating"].clone()
    };
    mcp.ok("updatePhotos", json!({ "ids": [photo], "rating": 4 })).await;
    assert_eq!(rating().await, 4);
    mcp.ok("updatePhotos", json!({ "ids": [photo], "rating": 0 })).await;
    let cleared = rating().await;
    assert!(cleared.is_null() || cleared == json!(0), "the rating is cleared: {cleared}");
    let direct = c
        .put(gw.at("/api/assets"))
        .header("x-api-key", ADMIN)
        .json(&json!({ "ids": [photo], "rating": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 400, "the demo refuses rating 0 as Immich v3.1.0 does");
}

/// REAL-IMMICH.md defect 6: a library of exactly 200 photos asked for 1000 ended its stream with a
/// last event saying `hasMore: true` at 20 %, and progress stopping at 200 of 1000.
#[tokio::test]
async fn a_stream_that_runs_out_of_photos_says_so_in_its_last_event() {
    let gw = Gateway::start("[streaming]\nchunk_size = 100\n", &["--demo", "--demo-assets", "200"]);
    let mcp = Mcp::connect(&gw, None).await;
    let text = call_over_sse(
        &mcp,
        json!({ "name": "queryPhotos", "arguments": { "limit": 1000 }, "_meta": { "progressToken": "p" } }),
    )
    .await;
    let (messages, _) = sse(&text);
    let data: Vec<&Value> = messages.iter().filter(|m| m["method"] == "notifications/stream/data").collect();
    let last = &data.last().expect("data events")["params"];
    assert_eq!(streamed_items(&messages).len(), 200);
    let (more, percent, total) = (&last["hasMore"], &last["percentComplete"], &last["totalItems"]);
    assert_eq!((more.as_bool(), percent.as_f64(), total.as_u64()), (Some(false), Some(100.0), Some(200)));
    let progress: Vec<&Value> = messages.iter().filter(|m| m["method"] == "notifications/progress").collect();
    let final_progress = &progress.last().unwrap()["params"];
    assert_eq!((final_progress["progress"].as_f64(), final_progress["total"].as_f64()), (Some(200.0), Some(200.0)));
    let result = &messages.last().unwrap()["result"]["structuredContent"];
    assert_eq!((result["count"].as_u64(), result["streamCursor"].is_null()), (Some(200), true), "{result}");
}

/// REAL-IMMICH.md defect 6, the cursor half: a stream that reaches its limit on the library's last
/// photo gives no cursor (it led to an empty page: "No photos match").
#[tokio::test]
async fn a_stream_that_takes_the_last_photo_gives_no_cursor() {
    let gw = Gateway::start("[streaming]\nchunk_size = 100\n", &["--demo", "--demo-assets", "1000"]);
    let mcp = Mcp::connect(&gw, None).await;
    let text = call_over_sse(&mcp, json!({ "name": "queryPhotos", "arguments": { "limit": 1000 } })).await;
    let (messages, _) = sse(&text);
    let result = &messages.last().unwrap()["result"]["structuredContent"];
    assert_eq!(
        (result["count"].as_u64(), result["streamCursor"].is_null()),
        (Some(1000), true),
        "{}",
        result["streamCursor"]
    );
    let more = call_over_sse(&mcp, json!({ "name": "queryPhotos", "arguments": { "limit": 1001 } })).await;
    let (messages, _) = sse(&more);
    let result = &messages.last().unwrap()["result"]["structuredContent"];
    assert_eq!((result["count"].as_u64(), result["streamCursor"].is_null()), (Some(1000), true));
}

/// REAL-IMMICH.md defect 2: a link carried every id, and 155 ids made a URL the gateway's own
/// request-line limit refused (431). Ids are packed and exported 100 to a link.
#[tokio::test]
async fn exports_of_many_photos_come_as_links_any_proxy_takes() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let first = mcp.ok("queryPhotos", json!({ "limit": 100 })).await;
    let rest = mcp.ok("queryPhotos", json!({ "cursor": first["nextCursor"] })).await;
    let photos = first["photos"].as_array().unwrap().iter().chain(rest["photos"].as_array().unwrap());
    let ids: Vec<Value> = photos.take(155).map(|p| p["id"].clone()).collect();
    assert_eq!(ids.len(), 155);
    let export = mcp.ok("exportPhotos", json!({ "ids": ids })).await;
    assert_eq!(export["photoCount"], 155);
    let archives = export["archives"].as_array().unwrap();
    assert_eq!(archives.len(), 2, "100 and 55");
    let mut entries = 0;
    for archive in archives {
        let url = archive["url"].as_str().unwrap();
        assert!(url.len() < 4096, "a link of {} bytes", url.len());
        let response = client().get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        entries += zip_entries(&response.bytes().await.unwrap());
    }
    assert_eq!(entries, 155, "every photo once");
}

/// REAL-IMMICH.md defect 11: a key's missing permissions were hidden (images "unavailable" with
/// no cause, a dry run that succeeded, an internal error for a resource); each now names it.
#[tokio::test]
async fn a_missing_permission_is_named_wherever_it_stops_a_call() {
    let gw = Gateway::start("", &["--demo"]);
    let made =
        common::post_as_admin(&gw, "/api/api-keys", &json!({ "name": "reads only", "permissions": ["asset.read"] }))
            .await;
    let key = made["secret"].as_str().unwrap();
    let mcp = Mcp::connect(&gw, Some(key)).await;
    let photo = mcp.ok("queryPhotos", json!({ "limit": 1 })).await["photos"][0]["id"].clone();
    let analyze = mcp.error("analyzePhotos", json!({ "ids": [photo] })).await;
    assert!(analyze.contains("asset.view"), "{analyze}");
    let dry = mcp.error("updatePhotos", json!({ "ids": [photo], "isFavorite": true, "dryRun": true })).await;
    assert!(dry.contains("Missing required permission: asset.update"), "{dry}");
    let album = Mcp::connect(&gw, None).await.ok("listAlbums", json!({})).await["albums"][0]["id"].clone();
    let read = mcp.rpc("resources/read", json!({ "uri": format!("immich://album/{}", album.as_str().unwrap()) })).await;
    assert_eq!(read["error"]["code"], -32602, "the caller's to fix, not an internal error: {read}");
    assert!(read["error"]["message"].as_str().unwrap().contains("album.read"), "{read}");
}

/// REAL-IMMICH.md defect 11, the last part: in inject mode a gateway key mapped to a read-only
/// Immich key listed all the tools (hiding followed only the gateway's own key); and a caller's
/// own key in passthrough mode likewise.
#[tokio::test]
async fn each_caller_is_listed_the_tools_its_own_immich_key_allows() {
    let config = format!(
        "[immich]\napi_key = \"{ADMIN}\"\n[auth]\nmode = \"inject\"\n\
         [[auth.keys]]\nname = \"agent\"\nhash = \"{}\"\n\
         [[auth.keys]]\nname = \"reader\"\nhash = \"{}\"\nimmich_api_key = \"{READONLY}\"\n",
        KeyHash::of("gw-agent"),
        KeyHash::of("gw-reader")
    );
    let gw = Gateway::start(&config, &["--demo"]);
    let agent = Mcp::connect(&gw, Some("gw-agent")).await.tool_names().await;
    let reader = Mcp::connect(&gw, Some("gw-reader")).await.tool_names().await;
    assert!(agent.contains(&"createAlbum".to_string()) && agent.len() == common::tool_count(), "{agent:?}");
    assert!(reader.contains(&"queryPhotos".to_string()), "{reader:?}");
    for writes in ["createAlbum", "addToAlbum", "updatePhotos", "tagPhotos", "deletePhotos", "emptyTrash"] {
        assert!(!reader.contains(&writes.to_string()), "{writes} is listed for a read-only key: {reader:?}");
    }
    let passthrough = Gateway::start("", &["--demo"]);
    let own = Mcp::connect(&passthrough, Some(READONLY)).await.tool_names().await;
    assert!(!own.contains(&"createAlbum".to_string()) && own.contains(&"getPhoto".to_string()), "{own:?}");
}

/// REAL-IMMICH.md defect 12 and the demo's differences: listPeople's text says when there are
/// more; listMemories takes only a date (Immich answers "yesterday" with a 400).
#[tokio::test]
async fn people_pages_and_memory_dates_are_told_plainly() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let page = mcp.call("listPeople", json!({ "limit": 2 })).await;
    let text = page["content"][0]["text"].as_str().unwrap();
    assert!(page["structuredContent"]["nextCursor"].is_string(), "the demo has more than two people: {page}");
    assert!(text.contains("more people"), "{text}");
    let error = mcp.error("listMemories", json!({ "date": "yesterday" })).await;
    assert!(error.starts_with("Invalid arguments") && error.contains("`date`"), "{error}");
    mcp.ok("listMemories", json!({ "date": "2024-06-01" })).await;
    let direct = client().get(gw.at("/api/memories?for=yesterday")).header("x-api-key", ADMIN).send().await.unwrap();
    assert_eq!(direct.status(), 400, "the demo refuses it as Immich v3.1.0 does");
}

/// `exportPhotos` without a selection, or with both kinds, is the caller's argument error — the
/// gateway's own words, never attributed to Immich (issue 19 point 2).
#[tokio::test]
async fn export_without_a_selection_is_an_argument_error() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let album = mcp.ok("listAlbums", json!({})).await["albums"][0]["id"].clone();
    let photo = mcp.ok("queryPhotos", json!({ "limit": 1 })).await["photos"][0]["id"].clone();
    for arguments in [json!({}), json!({ "ids": [photo], "albumId": album })] {
        let message = mcp.error("exportPhotos", arguments.clone()).await;
        assert!(message.starts_with("Invalid arguments: give either ids or albumId"), "{arguments}: {message}");
        assert!(!message.contains("Immich"), "{arguments}: {message}");
    }
}

/// The trash, end to end: a dry run by default changes nothing and says what it would do;
/// deleting moves photos to the trash (out of search and the timeline, still readable, listed by
/// listTrash); restoring brings them back; emptying needs `confirm: true` and then deletes for good.
#[tokio::test]
async fn photos_go_to_the_trash_and_back_and_only_a_confirmed_empty_deletes_them() {
    let gw = Gateway::start(common::ALL_TOOLS, &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let first = mcp.ok("queryPhotos", json!({ "limit": 3 })).await;
    let ids: Vec<String> =
        first["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let unknown = "00000000-0000-4000-8000-000000000000";
    let trash_ids = |listed: &Value| -> Vec<String> {
        listed["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
    };

    // A dry run unless told otherwise: nothing moves.
    let dry = mcp.ok("deletePhotos", json!({ "ids": [a, b, unknown] })).await;
    assert_eq!((dry["dryRun"].as_bool(), dry["trashed"].as_u64()), (Some(true), Some(0)), "{dry}");
    assert_eq!(dry["photos"].as_array().unwrap().len(), 2);
    assert_eq!(dry["notFound"], json!([unknown]));
    let empty = mcp.call("listTrash", json!({})).await;
    assert_eq!(empty["structuredContent"]["count"], 0);
    assert_eq!(empty["content"][0]["text"], "The trash is empty.");

    let done = mcp.ok("deletePhotos", json!({ "ids": [a, b], "dryRun": false })).await;
    assert_eq!((done["dryRun"].as_bool(), done["trashed"].as_u64()), (Some(false), Some(2)));
    let listed = mcp.ok("listTrash", json!({})).await;
    assert_eq!(trash_ids(&listed).len(), 2);
    assert!(trash_ids(&listed).contains(&a) && trash_ids(&listed).contains(&b));
    let after = mcp.ok("queryPhotos", json!({ "limit": 3 })).await;
    assert_eq!(after["photos"][0]["id"], ids[2].as_str(), "trashed photos leave the search");
    assert_eq!(mcp.ok("getTimeline", json!({})).await["total"], 9_998);
    assert_eq!(mcp.ok("deletePhotos", json!({ "ids": [a] })).await["alreadyTrashed"], json!([a]));
    // Paged, like every listing.
    let page = mcp.ok("listTrash", json!({ "limit": 1 })).await;
    let rest = mcp.ok("listTrash", json!({ "cursor": page["nextCursor"] })).await;
    assert_eq!(trash_ids(&page).len() + trash_ids(&rest).len(), 2);
    assert!(mcp.error("listTrash", json!({ "cursor": after["nextCursor"] })).await.contains("listTrash"));

    // Emptying needs confirm: true, and says how many it would delete.
    let refused = mcp.error("emptyTrash", json!({})).await;
    assert!(refused.contains("the 2 photos in the trash") && refused.contains("confirm: true"), "{refused}");
    assert!(refused.contains("nothing was deleted"), "{refused}");
    assert_eq!(trash_ids(&mcp.ok("listTrash", json!({})).await).len(), 2);

    assert!(mcp.error("restorePhotos", json!({})).await.contains("either `ids` or `all: true`"));
    assert_eq!(mcp.ok("restorePhotos", json!({ "ids": [a] })).await["restored"], 1);
    assert_eq!(trash_ids(&mcp.ok("listTrash", json!({})).await), vec![b.clone()]);

    assert_eq!(mcp.ok("emptyTrash", json!({ "confirm": true })).await["deleted"], 1);
    assert_eq!(mcp.ok("listTrash", json!({})).await["count"], 0);
    let gone = mcp.error("getPhoto", json!({ "id": b })).await;
    assert!(gone.contains("Not found"), "{gone}");
    assert_eq!(mcp.ok("getPhoto", json!({ "id": a })).await["photo"]["id"], a.as_str());
    assert_eq!(mcp.ok("getTimeline", json!({})).await["total"], 9_999);

    // A key that may not delete learns so from the dry run too.
    let readonly = Mcp::connect(&gw, Some(READONLY)).await;
    let refusal = readonly.error("deletePhotos", json!({ "ids": [a] })).await;
    assert!(refusal.contains("Missing required permission: asset.delete"), "{refusal}");
}

/// Text in photos (Immich's OCR: `queryPhotos` `text`, `getPhotoText`) and the largest photos.
#[tokio::test]
async fn photos_are_found_by_their_text_and_by_their_size() {
    let gw = Gateway::start(common::ALL_TOOLS, &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let found = mcp.ok("queryPhotos", json!({ "text": "platform 3", "limit": 5 })).await;
    assert_eq!(found["count"], 5, "{found}");
    for photo in found["photos"].as_array().unwrap() {
        let text = mcp.ok("getPhotoText", json!({ "id": photo["id"] })).await;
        assert!(text["text"].as_str().unwrap().contains("Platform 3"), "{text}");
        let line = &text["lines"][0];
        assert!(line["confidence"].as_f64().is_some_and(|c| c > 0.0 && c <= 1.0), "{line}");
        assert_eq!(line["box"].as_array().unwrap().len(), 8);
    }
    // The cursor keeps the text filter.
    let next = mcp.ok("queryPhotos", json!({ "cursor": found["nextCursor"] })).await;
    let more = next["photos"][0]["id"].clone();
    assert!(mcp.ok("getPhotoText", json!({ "id": more })).await["text"].as_str().unwrap().contains("Platform 3"));
    // Most photos have no text, and say so.
    let some = mcp.ok("queryPhotos", json!({ "type": "VIDEO", "limit": 1 })).await;
    let none = mcp.call("getPhotoText", json!({ "id": some["photos"][0]["id"] })).await;
    assert_eq!(none["structuredContent"]["lines"], json!([]));
    assert!(none["content"][0]["text"].as_str().unwrap().starts_with("No text found"), "{none}");
    assert!(mcp.error("getPhotoText", json!({ "id": "x" })).await.contains("`id`"));

    let large = mcp.ok("findLargePhotos", json!({ "limit": 5 })).await;
    let sizes: Vec<u64> = large["photos"].as_array().unwrap().iter().map(|p| p["bytes"].as_u64().unwrap()).collect();
    assert_eq!(sizes.len(), 5);
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "biggest first: {sizes:?}");
    assert_eq!(large["totalBytes"].as_u64(), Some(sizes.iter().sum()));
    let videos = mcp.ok("findLargePhotos", json!({ "type": "VIDEO", "minSizeMB": 0.15, "limit": 20 })).await;
    assert!(
        videos["photos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["photo"]["type"] == "VIDEO" && p["bytes"].as_u64().unwrap() >= 150_000)
    );
    let nothing = mcp.call("findLargePhotos", json!({ "minSizeMB": 1000 })).await;
    assert_eq!(nothing["structuredContent"]["count"], 0);
    assert_eq!(nothing["content"][0]["text"], "No photos that large.");
}

/// Duplicates: groups with Immich's suggestion, paged; a dry run by default; resolving keeps the
/// copies named (or suggested) and trashes the rest; a group that cannot be resolved says why.
#[tokio::test]
async fn duplicate_groups_are_listed_and_resolved() {
    let gw = Gateway::start(common::ALL_TOOLS, &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let first = mcp.ok("listDuplicates", json!({})).await;
    assert_eq!(first["total"], 200, "a burst shot twice every 50 photos");
    let groups = first["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 20);
    let mut to_free = 0;
    for group in groups {
        let copies = group["copies"].as_array().unwrap();
        assert_eq!(copies.len(), 2);
        assert_eq!(copies.iter().filter(|c| c["suggested"] == true).count(), 1, "{group}");
        to_free += copies.iter().filter(|c| c["suggested"] == false).map(|c| c["bytes"].as_u64().unwrap()).sum::<u64>();
    }
    assert_eq!(first["bytesToFree"], to_free);
    let second = mcp.ok("listDuplicates", json!({ "cursor": first["nextCursor"], "limit": 200 })).await;
    assert_eq!(second["groups"].as_array().unwrap().len(), 180);
    assert_eq!(second["nextCursor"], Value::Null);
    assert!(mcp.error("listDuplicates", json!({ "cursor": "people:2" })).await.contains("listDuplicates"));

    let group = &groups[0];
    let id = group["duplicateId"].as_str().unwrap();
    let copy = |suggested: bool| -> String {
        group["copies"].as_array().unwrap().iter().find(|c| c["suggested"] == suggested).unwrap()["photo"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let dry = mcp.ok("resolveDuplicates", json!({ "groups": [{ "duplicateId": id }] })).await;
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (dry["groups"][0]["keep"].clone(), dry["groups"][0]["trash"].clone()),
        (json!([copy(true)]), json!([copy(false)]))
    );
    assert_eq!(mcp.ok("listDuplicates", json!({ "limit": 1 })).await["total"], 200, "a dry run changes nothing");

    // Keep the copy Immich did not suggest: the suggested one goes to the trash.
    let done = mcp
        .ok(
            "resolveDuplicates",
            json!({ "groups": [{ "duplicateId": id, "keepIds": [copy(false)] }], "dryRun": false }),
        )
        .await;
    assert_eq!((done["resolved"].as_u64(), done["failed"].as_u64()), (Some(1), Some(0)), "{done}");
    assert_eq!(mcp.ok("listDuplicates", json!({ "limit": 1 })).await["total"], 199);
    let trash = mcp.ok("listTrash", json!({})).await;
    assert_eq!(trash["photos"][0]["id"], copy(true).as_str());

    // Already resolved, and a keeper from another group: each says why, nothing happens.
    let again = mcp.error("resolveDuplicates", json!({ "groups": [{ "duplicateId": id }], "dryRun": false })).await;
    assert!(again.contains("no such duplicate group"), "{again}");
    let other = groups[1]["duplicateId"].as_str().unwrap();
    let stranger =
        mcp.error("resolveDuplicates", json!({ "groups": [{ "duplicateId": other, "keepIds": [copy(false)] }] })).await;
    assert!(stranger.contains("is not in this group"), "{stranger}");
    assert_eq!(mcp.ok("listDuplicates", json!({ "limit": 1 })).await["total"], 199);
}

/// Toolsets: core and organize by default; sharing and clean-up when asked for; `enabled` picks
/// tools whatever their toolset; a toolset that does not exist is a configuration error.
#[tokio::test]
async fn toolsets_choose_what_a_model_is_offered() {
    let default = Mcp::connect(&Gateway::start("", &["--demo"]), None).await.tool_names().await;
    assert!(default.contains(&"queryPhotos".to_string()) && default.contains(&"updatePhotos".to_string()));
    for hidden in ["deletePhotos", "emptyTrash", "createSharedLink", "listDuplicates"] {
        assert!(!default.contains(&hidden.to_string()), "{hidden} is offered by default: {default:?}");
    }
    let gw = Gateway::start("[tools]\ntoolsets = [\"core\", \"cleanup\"]\n", &["--demo"]);
    let names = Mcp::connect(&gw, None).await.tool_names().await;
    assert!(names.contains(&"emptyTrash".to_string()) && names.contains(&"getPhoto".to_string()), "{names:?}");
    assert!(!names.contains(&"createAlbum".to_string()) && !names.contains(&"listSharedLinks".to_string()));
    let all = Mcp::connect(&Gateway::start(common::ALL_TOOLS, &["--demo"]), None).await.tool_names().await;
    assert_eq!(
        all.len(),
        immich_mcp_gateway::tool_count(
            &toml::from_str::<immich_mcp_gateway::config::ToolsConfig>("toolsets = [\"all\"]").unwrap()
        )
    );
    let picked = Gateway::start("[tools]\nenabled = [\"queryPhotos\", \"listTrash\"]\n", &["--demo"]);
    assert_eq!(Mcp::connect(&picked, None).await.tool_names().await, vec!["queryPhotos", "listTrash"]);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, "[tools]\ntoolsets = [\"core\", \"faces2\"]\n").unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        .args(["--check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr).to_string() + &String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success() && said.contains("2:") && said.contains("faces2"), "{said}");
}

/// Partner sharing, from both sides: the demo's admin shares their library with the friend.
#[tokio::test]
async fn partners_are_listed_from_both_sides() {
    let gw = Gateway::start(common::ALL_TOOLS, &["--demo"]);
    let admin = Mcp::connect(&gw, None).await.ok("listPartners", json!({})).await;
    assert_eq!(admin["sharedByMe"][0]["name"], "Demo Friend", "{admin}");
    assert_eq!(admin["sharedWithMe"], json!([]));
    let friend = Mcp::connect(&gw, Some("demo-friend-key")).await;
    let theirs = friend.call("listPartners", json!({})).await;
    assert_eq!(theirs["structuredContent"]["sharedWithMe"][0]["email"], "admin@demo.immich.test", "{theirs}");
    let text = theirs["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Sharing their library with you: Demo Admin") && text.contains("share yours with: nobody"));
}

/// Shared links: an album's and chosen photos', with an expiry and a password (never shown back),
/// listed (all, or an album's), deleted; bad input is named.
#[tokio::test]
async fn albums_and_photos_are_shared_with_links() {
    let gw = Gateway::start(common::ALL_TOOLS, &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    assert_eq!(mcp.call("listSharedLinks", json!({})).await["content"][0]["text"], "No shared links.");
    let album = mcp.ok("listAlbums", json!({})).await["albums"][0].clone();
    let made = mcp
        .ok(
            "createSharedLink",
            json!({ "albumId": album["id"], "expiresInDays": 7, "password": "s3cret-words", "description": "for grandma" }),
        )
        .await;
    let link = &made["link"];
    assert!(link["url"].as_str().unwrap().starts_with(&gw.at("/share/")), "{link}");
    assert_eq!((link["hasPassword"].as_bool(), link["albumId"].as_str()), (Some(true), album["id"].as_str()));
    assert!(link["expiresAt"].as_str().is_some_and(|e| e.ends_with(".000Z")), "{link}");
    assert!(!made.to_string().contains("s3cret-words"), "the password is never shown back: {made}");
    let ids: Vec<Value> = mcp.ok("queryPhotos", json!({ "limit": 2 })).await["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    let second = mcp.ok("createSharedLink", json!({ "photoIds": ids, "allowDownload": false })).await;
    assert_eq!(
        (second["link"]["photoCount"].as_u64(), second["link"]["allowDownload"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(mcp.ok("listSharedLinks", json!({})).await["links"].as_array().unwrap().len(), 2);
    let of_album = mcp.ok("listSharedLinks", json!({ "albumId": album["id"] })).await;
    assert_eq!(of_album["links"].as_array().unwrap().len(), 1);

    mcp.ok("deleteSharedLink", json!({ "id": link["id"] })).await;
    assert_eq!(mcp.ok("listSharedLinks", json!({})).await["links"].as_array().unwrap().len(), 1);
    let again = mcp.error("deleteSharedLink", json!({ "id": link["id"] })).await;
    assert!(again.contains("Not found or no sharedLink.delete access"), "{again}");

    let unknown = "00000000-0000-4000-8000-000000000000";
    assert!(mcp.error("createSharedLink", json!({})).await.contains("either albumId or photoIds"));
    let stranger = mcp.error("createSharedLink", json!({ "albumId": unknown })).await;
    assert!(stranger.contains("Not found or no album.share access"), "Immich's own words: {stranger}");
    assert!(
        mcp.error("createSharedLink", json!({ "albumId": album["id"], "expiresAt": "soon" }))
            .await
            .contains("`expiresAt`")
    );
    let both = json!({ "albumId": album["id"], "expiresAt": "2030-01-01", "expiresInDays": 3 });
    assert!(mcp.error("createSharedLink", both).await.contains("either expiresAt or expiresInDays"));
}

/// Prompts for the common jobs, rendered with their arguments; album, person and tag names
/// complete from the caller's library.
#[tokio::test]
async fn prompts_for_common_jobs_and_names_that_complete() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let listed = mcp.rpc("prompts/list", json!({})).await;
    let names: Vec<&str> =
        listed["result"]["prompts"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for name in ["find-duplicates", "trip-album", "who-is-in", "photos-of", "tagged", "tidy-trash"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let trip =
        json!({ "name": "trip-album", "arguments": { "place": "Lisbon", "from": "2024-05-01", "to": "2024-05-07" } });
    let got = mcp.rpc("prompts/get", trip).await;
    let text = got["result"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("trip to Lisbon from 2024-05-01 to 2024-05-07") && text.contains("\"Lisbon 2024-05-01\""),
        "{text}"
    );
    let missing = mcp.rpc("prompts/get", json!({ "name": "photos-of", "arguments": {} })).await;
    assert_eq!(missing["error"]["code"], -32602);
    assert!(missing["error"]["message"].as_str().unwrap().contains("`person`"));

    let complete = |prompt: &str, argument: &str, value: &str| json!({ "ref": { "type": "ref/prompt", "name": prompt }, "argument": { "name": argument, "value": value } });
    let values = |reply: &Value| -> Vec<String> {
        reply["result"]["completion"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let people = mcp.rpc("completion/complete", complete("photos-of", "person", "al")).await;
    assert!(values(&people).contains(&"Alice".to_string()), "{people}");
    let album = mcp.ok("listAlbums", json!({})).await["albums"][0]["name"].as_str().unwrap().to_string();
    let albums = mcp.rpc("completion/complete", complete("who-is-in", "album", &album[..2].to_lowercase())).await;
    assert!(values(&albums).contains(&album), "{albums}");
    let tag = mcp.ok("listTags", json!({})).await["tags"][0]["value"].as_str().unwrap().to_string();
    let tags = mcp.rpc("completion/complete", complete("tagged", "tag", &tag[..1])).await;
    assert!(values(&tags).contains(&tag), "{tags}");
    let nothing = mcp.rpc("completion/complete", complete("trip-album", "place", "Li")).await;
    assert!(values(&nothing).is_empty(), "places do not complete: {nothing}");
}

/// Photos link into Immich's web app: through the gateway (which serves it) by default, at
/// `[immich] public_url` when set — and shared links use the same address.
#[tokio::test]
async fn photos_and_shared_links_link_into_immichs_web_app() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let found = mcp.ok("queryPhotos", json!({ "limit": 2 })).await;
    let photo = &found["photos"][0];
    assert_eq!(
        photo["webUrl"],
        format!("{}/photos/{}", gw.at("").trim_end_matches('/'), photo["id"].as_str().unwrap())
    );
    let page = common::raw_get(&gw.at(""), &format!("/photos/{}", photo["id"].as_str().unwrap())).unwrap();
    assert_eq!(page.0, 200, "the web app answers its photo page through the gateway");
    assert_eq!(mcp.ok("getPhoto", json!({ "id": photo["id"] })).await["photo"]["webUrl"], photo["webUrl"]);

    let elsewhere = Gateway::start(
        &format!("[immich]\npublic_url = \"https://photos.example.com/\"\n{}", common::ALL_TOOLS),
        &["--demo"],
    );
    let mcp = Mcp::connect(&elsewhere, None).await;
    let found = mcp.ok("queryPhotos", json!({ "limit": 1 })).await;
    let id = found["photos"][0]["id"].as_str().unwrap();
    assert_eq!(found["photos"][0]["webUrl"], format!("https://photos.example.com/photos/{id}"));
    let link = mcp.ok("createSharedLink", json!({ "photoIds": [id] })).await;
    assert!(link["link"]["url"].as_str().unwrap().starts_with("https://photos.example.com/share/"), "{link}");
}

/// Stacks: made with the primary first, listed, a photo taken out (never the primary); a stack led
/// by a photo that joins a new stack comes along, as in Immich.
#[tokio::test]
async fn photos_are_stacked_and_unstacked() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    assert_eq!(mcp.call("listStacks", json!({})).await["content"][0]["text"], "No stacks.");
    let ids: Vec<String> = mcp.ok("queryPhotos", json!({ "limit": 5 })).await["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let made = mcp.ok("createStack", json!({ "photoIds": [ids[0], ids[1], ids[2]] })).await;
    let stack = made["stack"]["id"].as_str().unwrap().to_string();
    assert_eq!(made["stack"]["primaryPhotoId"], ids[0].as_str());
    assert_eq!(made["stack"]["photos"].as_array().unwrap().len(), 3);
    assert_eq!(mcp.ok("getPhoto", json!({ "id": ids[1] })).await["photo"]["id"], ids[1].as_str());
    let refused = mcp.error("removeFromStack", json!({ "stackId": stack, "photoId": ids[0] })).await;
    assert!(refused.contains("Cannot remove stack's primary asset"), "Immich's words: {refused}");
    mcp.ok("removeFromStack", json!({ "stackId": stack, "photoId": ids[2] })).await;
    let listed = mcp.ok("listStacks", json!({ "photoId": ids[0] })).await;
    assert_eq!(listed["stacks"][0]["photos"].as_array().unwrap().len(), 2);
    let outside = mcp.error("removeFromStack", json!({ "stackId": stack, "photoId": ids[4] })).await;
    assert!(outside.contains("Asset not in stack"), "{outside}");
    // A new stack with this one's primary brings its photos along.
    let merged = mcp.ok("createStack", json!({ "photoIds": [ids[3], ids[0]] })).await;
    assert_eq!(merged["stack"]["photos"].as_array().unwrap().len(), 3, "{merged}");
    assert_eq!(mcp.ok("listStacks", json!({})).await["stacks"].as_array().unwrap().len(), 1);
    assert!(mcp.error("createStack", json!({ "photoIds": [ids[0]] })).await.contains("at least"));
}

/// Comments and likes on an album (Immich's activity): added, listed (all, or one photo's), a
/// second like is the first; bad input named.
#[tokio::test]
async fn albums_take_comments_and_likes() {
    let gw = Gateway::start(common::ALL_TOOLS, &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let album = mcp.ok("listAlbums", json!({})).await["albums"][0]["id"].clone();
    let photo = mcp.ok("getAlbum", json!({ "id": album, "limit": 1 })).await["photos"][0]["id"].clone();
    assert!(mcp.ok("listComments", json!({ "albumId": album })).await["comments"].as_array().unwrap().is_empty());
    mcp.ok("addComment", json!({ "albumId": album, "comment": "What a day!" })).await;
    mcp.ok("addComment", json!({ "albumId": album, "photoId": photo, "comment": "Look at the light." })).await;
    let first = mcp.ok("addComment", json!({ "albumId": album, "like": true })).await;
    let again = mcp.ok("addComment", json!({ "albumId": album, "like": true })).await;
    assert_eq!(first["id"], again["id"], "one like per person");
    let all = mcp.call("listComments", json!({ "albumId": album })).await;
    assert_eq!(all["structuredContent"]["comments"].as_array().unwrap().len(), 3);
    assert_eq!(all["structuredContent"]["likes"], 1);
    let text = all["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Demo Admin") && text.contains("What a day!") && text.contains("1 likes."), "{text}");
    let one = mcp.ok("listComments", json!({ "albumId": album, "photoId": photo })).await;
    assert_eq!(one["comments"][0]["comment"], "Look at the light.");
    assert!(mcp.error("addComment", json!({ "albumId": album })).await.contains("either a comment or like: true"));
    let stranger =
        mcp.error("addComment", json!({ "albumId": "00000000-0000-4000-8000-000000000000", "comment": "hi" })).await;
    assert!(stranger.contains("Not found or no activity.create access"), "{stranger}");
}

/// Non-destructive edits: rotations add up on top of what a photo has, a video says Immich's
/// reason while the others go on, and reverting shows the original again.
#[tokio::test]
async fn photos_are_rotated_and_restored_to_their_originals() {
    let gw = Gateway::start("", &["--demo"]);
    let mcp = Mcp::connect(&gw, None).await;
    let image = mcp.ok("queryPhotos", json!({ "type": "IMAGE", "limit": 1 })).await["photos"][0]["id"].clone();
    let video = mcp.ok("queryPhotos", json!({ "type": "VIDEO", "limit": 1 })).await["photos"][0]["id"].clone();
    let none = mcp.call("getPhotoEdits", json!({ "id": image })).await;
    assert!(none["content"][0]["text"].as_str().unwrap().contains("no edits"), "{none}");
    mcp.ok("rotatePhotos", json!({ "ids": [image], "degrees": 90 })).await;
    let mixed = mcp.call("rotatePhotos", json!({ "ids": [image, video], "degrees": 180 })).await;
    let outcome = &mixed["structuredContent"];
    assert_eq!(outcome["done"], json!([image]));
    assert!(outcome["failed"][0]["error"].as_str().unwrap().contains("Only images can be edited"), "{mixed}");
    assert_ne!(mixed["isError"], true, "one photo was rotated");
    let edits = mcp.ok("getPhotoEdits", json!({ "id": image })).await;
    assert_eq!(edits["edits"], json!([{ "action": "rotate", "parameters": { "angle": 270 } }]), "90 then 180");
    let only_video = mcp.error("rotatePhotos", json!({ "ids": [video], "degrees": 90 })).await;
    assert!(only_video.contains("Only images can be edited"), "{only_video}");
    mcp.ok("revertPhotoEdits", json!({ "ids": [image] })).await;
    assert_eq!(mcp.ok("getPhotoEdits", json!({ "id": image })).await["edits"], json!([]));
    assert!(mcp.error("rotatePhotos", json!({ "ids": [image], "degrees": 45 })).await.contains("`degrees`"));
}
