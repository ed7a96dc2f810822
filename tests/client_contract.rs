//! Contract test for the typed Immich client: every request the gateway's tools send to Immich
//! matches Immich's OpenAPI spec (an operation exists for the method and path, query parameters
//! are declared ones, JSON bodies validate against the request schema). A recording forwarder sits
//! between the gateway and the demo Immich. (What the client parses is the demo's output, which
//! `demo_contract.rs` validates against the spec's response schemas.)

mod common;

use common::schema::{request_schema_in, spec, spec_v2, validate_in};
use immich_mcp_gateway::demo::{self, Fault};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// Forwards each request to `upstream` (one connection per request) and records it.
fn recording_forwarder(upstream: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let recorded = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut client) = stream else { continue };
            let recorded = recorded.clone();
            std::thread::spawn(move || {
                let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
                let mut data = Vec::new();
                let mut buf = [0u8; 16384];
                let (head_end, length) = loop {
                    let Ok(n) = client.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                    if let Some((end, _, length)) = common::request_head(&data) {
                        break (end, length);
                    }
                };
                while data.len() < head_end + 4 + length {
                    let Ok(n) = client.read(&mut buf) else { return };
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                let mut request_line = head.lines().next().unwrap_or("").split_whitespace();
                let (method, target) =
                    (request_line.next().unwrap_or("").to_string(), request_line.next().unwrap_or("").to_string());
                let body = data[head_end + 4..head_end + 4 + length.min(data.len() - head_end - 4)].to_vec();
                recorded.lock().unwrap().push(Recorded { method, target, body: body.clone() });
                // Forward with Connection: close, then relay the whole answer.
                let rewritten: String = head
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let Ok(mut server) = TcpStream::connect(upstream) else { return };
                let _ = server.write_all(format!("{rewritten}\r\nconnection: close\r\n\r\n").as_bytes());
                let _ = server.write_all(&body);
                let mut answer = Vec::new();
                let _ = server.read_to_end(&mut answer);
                let _ = client.write_all(&answer);
            });
        }
    });
    (addr, log)
}

/// The path template of `spec` matching a concrete `/api/...` path.
fn template_for(spec: &Value, path: &str) -> Option<String> {
    let path = path.strip_prefix("/api")?;
    let parts: Vec<&str> = path.split('/').collect();
    spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|t| {
            let tp: Vec<&str> = t.split('/').collect();
            tp.len() == parts.len() && tp.iter().zip(&parts).all(|(a, b)| a.starts_with('{') || a == b)
        })
        // Prefer literal segments over parameters (/albums/statistics over /albums/{id}).
        .min_by_key(|t| t.matches('{').count())
        .cloned()
}

#[tokio::test]
async fn every_request_the_tools_send_matches_immichs_openapi_spec() {
    let demo = demo::spawn(2_000, Fault::default());
    let (forwarder, log) = recording_forwarder(demo);
    let gw = common::Gateway::start(
        &format!("[immich]\nbase_url = \"http://{forwarder}\"\napi_key = \"{}\"\n{}", common::ADMIN, common::ALL_TOOLS),
        &[],
    );

    // Run every tool once through MCP.
    let c = common::client();
    let post = |body: Value, session: Option<&str>| {
        let mut r = c
            .post(gw.at("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(s) = session {
            r = r.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
        }
        r
    };
    let init = post(json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "contract", "version": "1" } } }), None).send().await.unwrap();
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let call = |name: &'static str, arguments: Value| {
        let request = post(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name, "arguments": arguments } }),
            Some(&session),
        );
        async move {
            let text = request.send().await.unwrap().text().await.unwrap();
            let reply: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                text.split("\n\n")
                    .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
                    .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                    .find(|m| m.get("id").is_some())
                    .unwrap()
            });
            assert_ne!(reply["result"]["isError"], true, "{name}: {reply}");
            reply["result"]["structuredContent"].clone()
        }
    };
    let photos =
        call("queryPhotos", json!({ "query": "Berlin", "people": ["Alice"], "takenAfter": "2018-01-01", "limit": 3 }))
            .await;
    let id = photos["photos"][0]["id"].as_str().unwrap().to_string();
    let page = call(
        "queryPhotos",
        json!({ "country": "Germany", "isFavorite": false, "rating": 3, "type": "IMAGE", "limit": 2 }),
    )
    .await;
    call("queryPhotos", json!({ "cursor": page["nextCursor"] })).await;
    call("getPhoto", json!({ "id": id, "includeImage": true })).await;
    call("analyzePhotos", json!({ "ids": [id] })).await;
    let export = call("exportPhotos", json!({ "ids": [id], "archiveSize": 4_000_000 })).await;
    let zip = c.get(export["archives"][0]["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert!(zip.starts_with(b"PK"));
    let albums = call("listAlbums", json!({ "shared": false })).await;
    let album = albums["albums"][0]["id"].as_str().unwrap().to_string();
    call("getAlbum", json!({ "id": album, "limit": 2 })).await;
    let created = call("createAlbum", json!({ "name": "contract", "description": "d", "photoIds": [id] })).await;
    let new_album = created["album"]["id"].as_str().unwrap().to_string();
    call("addToAlbum", json!({ "albumId": new_album, "photoIds": [id] })).await;
    call("removeFromAlbum", json!({ "albumId": new_album, "photoIds": [id] })).await;
    let people = call("listPeople", json!({ "withHidden": true })).await;
    call("getPerson", json!({ "id": people["people"][0]["id"] })).await;
    call("listTags", json!({})).await;
    call("tagPhotos", json!({ "photoIds": [id], "tags": ["contract/test"] })).await;
    call("getTimeline", json!({ "isFavorite": true })).await;
    call("getTimelineBucket", json!({ "month": "2024-09", "albumId": album })).await;
    call("getMapMarkers", json!({ "takenAfter": "2020-01-01", "isFavorite": false, "limit": 5 })).await;
    call("listMemories", json!({ "date": "2026-06-15" })).await;
    call("getLibraryStatistics", json!({})).await;
    call("searchPlaces", json!({ "name": "Ber" })).await;
    call("getSuggestions", json!({ "field": "camera-model", "make": "Canon" })).await;
    call("updatePhotos", json!({ "ids": [id], "isFavorite": true, "rating": 3, "archived": false, "description": "x", "takenAt": "2020-01-01T10:00:00Z", "latitude": 1.0, "longitude": 2.0 })).await;
    call("queryPhotos", json!({ "text": "exit", "query": "sign", "limit": 2 })).await;
    call("queryPhotos", json!({ "text": "exit", "limit": 2 })).await;
    call("getPhotoText", json!({ "id": id })).await;
    call("findLargePhotos", json!({ "minSizeMB": 0.1, "type": "IMAGE", "takenAfter": "2020-01-01", "takenBefore": "2024-01-01", "limit": 3 })).await;
    let duplicates = call("listDuplicates", json!({ "limit": 2 })).await;
    call("listDuplicates", json!({ "cursor": duplicates["nextCursor"] })).await;
    let group = duplicates["groups"][0]["duplicateId"].clone();
    call("resolveDuplicates", json!({ "groups": [{ "duplicateId": group }] })).await;
    call("resolveDuplicates", json!({ "groups": [{ "duplicateId": group }], "dryRun": false })).await;
    call("listPartners", json!({})).await;
    call("rotatePhotos", json!({ "ids": [id], "degrees": 90 })).await;
    call("getPhotoEdits", json!({ "id": id })).await;
    call("revertPhotoEdits", json!({ "ids": [id] })).await;
    call("addComment", json!({ "albumId": album, "photoId": id, "comment": "c" })).await;
    call("addComment", json!({ "albumId": album, "like": true })).await;
    call("listComments", json!({ "albumId": album, "photoId": id })).await;
    let second = photos["photos"][1]["id"].as_str().unwrap().to_string();
    let stacked = call("createStack", json!({ "photoIds": [id, second] })).await;
    call("listStacks", json!({ "photoId": id })).await;
    call("removeFromStack", json!({ "stackId": stacked["stack"]["id"], "photoId": second })).await;
    let shared = call("createSharedLink", json!({ "albumId": album, "expiresAt": "2030-01-01", "password": "p", "description": "d", "allowDownload": false, "showMetadata": true })).await;
    call("createSharedLink", json!({ "photoIds": [id], "expiresInDays": 2 })).await;
    call("listSharedLinks", json!({ "albumId": album })).await;
    call("deleteSharedLink", json!({ "id": shared["link"]["id"] })).await;
    call("deletePhotos", json!({ "ids": [id] })).await;
    let other = photos["photos"][1]["id"].as_str().unwrap().to_string();
    call("deletePhotos", json!({ "ids": [id, other], "dryRun": false })).await;
    let trash = call("listTrash", json!({ "limit": 1 })).await;
    call("listTrash", json!({ "cursor": trash["nextCursor"] })).await;
    call("restorePhotos", json!({ "ids": [id] })).await;
    call("restorePhotos", json!({ "all": true })).await;
    call("emptyTrash", json!({ "confirm": true })).await;

    let requests = log.lock().unwrap().clone();
    assert!(requests.len() >= 25, "recorded {} requests", requests.len());
    let (problems, operations) = against(spec(), &requests);
    assert!(problems.is_empty(), "requests that break the v3.1.0 spec:\n{}", problems.join("\n"));
    eprintln!("{} requests over {} operations match the spec", requests.len(), operations.len());
    assert!(operations.len() >= 20, "{operations:?}");
    // The v2 line (v2.7.5) has every operation the tools use, with the same bodies; the one
    // parameter it names differently is sent its way to a v2 server (below).
    let (problems, _) = against(spec_v2(), &requests);
    assert_eq!(problems, ["GET /albums: undeclared query parameter \"isShared\""], "v2.7.5 differences");
}

/// Against an Immich of the v2 line (the demo answering 2.7.5), the gateway sends what v2.7.5's
/// spec declares: listAlbums' filter is `shared` there, `isShared` on v3.
#[tokio::test]
async fn an_immich_of_the_v2_line_is_sent_its_own_parameters() {
    let demo = demo::spawn_as(500, Fault::default(), (2, 7, 5));
    let (forwarder, log) = recording_forwarder(demo);
    let gw = common::Gateway::start(
        &format!("[immich]\nbase_url = \"http://{forwarder}\"\napi_key = \"{}\"\n", common::ADMIN),
        &[],
    );
    let mcp = common::mcp::Mcp::connect(&gw, None).await;
    mcp.ok("listAlbums", json!({ "shared": false })).await;
    mcp.ok("queryPhotos", json!({ "text": "exit", "limit": 2 })).await;
    let requests = log.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r.target == "/api/albums?shared=false"),
        "{:?}",
        requests.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
    let (problems, _) = against(spec_v2(), &requests);
    assert!(problems.is_empty(), "requests that break the v2.7.5 spec:\n{}", problems.join("\n"));
}

/// Every way `requests` break `spec`, and the operations they used.
fn against(spec: &Value, requests: &[Recorded]) -> (Vec<String>, std::collections::BTreeSet<String>) {
    let mut problems = Vec::new();
    let mut operations = std::collections::BTreeSet::new();
    for request in requests {
        let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
        let Some(template) = template_for(spec, path) else {
            problems.push(format!("{} {}: no such path in the spec", request.method, request.target));
            continue;
        };
        let method = request.method.to_ascii_lowercase();
        let Some(operation) = spec["paths"][&template].get(&method) else {
            problems.push(format!("{} {template}: no such operation", request.method));
            continue;
        };
        operations.insert(format!("{} {template}", request.method));
        let declared: Vec<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or("");
            if !declared.contains(&name) {
                problems.push(format!("{} {template}: undeclared query parameter {name:?}", request.method));
            }
        }
        if let Some(schema) = request_schema_in(spec, &method, &template) {
            match serde_json::from_slice::<Value>(&request.body) {
                Ok(body) => problems.extend(
                    validate_in(spec, schema, &body)
                        .into_iter()
                        .map(|p| format!("{} {template} body: {p}", request.method)),
                ),
                Err(_) => problems.push(format!("{} {template}: body is not JSON", request.method)),
            }
        }
    }
    (problems, operations)
}
