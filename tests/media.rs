//! Photos and videos through the gateway, against a real HTTP file server (nginx, which answers
//! ranges, several ranges, `HEAD` and conditional requests the way Immich's `sendFile` does, and
//! more): every one of those answers passes through untouched — 206s with their `Content-Range`
//! or `multipart/byteranges` body, 304s, `Content-Length` — and nothing already compressed (or
//! partial) is compressed again.

mod common;

use common::nginx::Nginx;
use common::{Gateway, header, raw_request};
use std::path::Path;

/// nginx serving `dir/assets` at `/api/assets/`.
fn file_server(dir: &Path) -> Nginx {
    let http = |port: u16| {
        format!(
            "types {{ image/jpeg jpg; video/mp4 mp4; application/json json; }}\n\
             server {{ listen 127.0.0.1:{port}; location /api/assets/ {{ alias {}/assets/; }}\n\
               location = /api/server/ping {{ return 200 '{{\"res\":\"pong\"}}'; }} }}\n",
            dir.display()
        )
    };
    Nginx::start(dir, http, "/api/server/ping")
}

fn get(base: &str, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n");
    raw_request(base, request.as_bytes()).unwrap()
}

#[tokio::test]
async fn ranges_heads_and_conditional_requests_pass_through_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    // Incompressible bytes as a photo and a video; JSON (compressible) as a sidecar.
    let photo: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let video: Vec<u8> = photo.iter().rev().copied().collect();
    let sidecar = "{\"exif\":\"".to_string() + &"a".repeat(50_000) + "\"}";
    std::fs::write(dir.path().join("assets/photo.jpg"), &photo).unwrap();
    std::fs::write(dir.path().join("assets/clip.mp4"), &video).unwrap();
    std::fs::write(dir.path().join("assets/sidecar.json"), &sidecar).unwrap();
    let files = file_server(dir.path());
    let gw = Gateway::start(
        &format!("[immich]\nbase_url = \"http://127.0.0.1:{}\"\n[streaming]\nenable_compression = true\n", files.port),
        &[],
    );
    let gzip = "Accept-Encoding: gzip, br, zstd\r\n";

    // A whole photo: not compressed again, its length kept.
    let (status, head, body) = get(&gw.url, "/api/assets/photo.jpg", gzip);
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(header(&head, "content-length"), Some(photo.len().to_string()));
    assert_eq!(body, photo);
    let etag = header(&head, "etag").expect("an ETag");
    let modified = header(&head, "last-modified").expect("a Last-Modified");

    // One range, several ranges, a video's tail.
    let (status, head, body) = get(&gw.url, "/api/assets/photo.jpg", &format!("{gzip}Range: bytes=100-199\r\n"));
    assert_eq!(status, 206);
    assert_eq!(header(&head, "content-range"), Some(format!("bytes 100-199/{}", photo.len())));
    assert_eq!(body, photo[100..200]);
    let (status, head, body) = get(&gw.url, "/api/assets/photo.jpg", "Range: bytes=0-9,1000-1009\r\n");
    assert_eq!(status, 206);
    assert!(header(&head, "content-type").unwrap().starts_with("multipart/byteranges"), "{head}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Content-Range: bytes 0-9/") && text.contains("Content-Range: bytes 1000-1009/"), "{text}");
    let (status, head, body) = get(&gw.url, "/api/assets/clip.mp4", "Range: bytes=290000-\r\n");
    assert_eq!(status, 206);
    assert_eq!(header(&head, "content-length"), Some("10000".into()));
    assert_eq!(body, video[290_000..]);

    // A range of a compressible file is not compressed either: Content-Range counts its bytes.
    let (status, head, body) = get(&gw.url, "/api/assets/sidecar.json", &format!("{gzip}Range: bytes=0-4999\r\n"));
    assert_eq!(status, 206);
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(body, sidecar.as_bytes()[..5000]);

    // Conditional requests: 304 with no body.
    let (status, _, body) = get(&gw.url, "/api/assets/photo.jpg", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((status, body.len()), (304, 0));
    let (status, _, _) = get(&gw.url, "/api/assets/photo.jpg", &format!("If-Modified-Since: {modified}\r\n"));
    assert_eq!(status, 304);

    // HEAD: the same length, no body.
    let head = common::client().head(gw.at("/api/assets/clip.mp4")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], video.len().to_string().as_str());
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_demo_answers_media_as_immich_does() {
    // Immich's file answers (Express `sendFile`) carry a weak ETag and Last-Modified, honour
    // If-None-Match / If-Modified-Since with 304 and one Range with 206: so does the demo, through
    // the gateway.
    let gw = Gateway::start("", &["--demo"]);
    let listed = common::post_as_admin(&gw, "/api/search/metadata", &serde_json::json!({ "size": 1 })).await;
    let id = listed["assets"]["items"][0]["id"].as_str().unwrap().to_string();
    let key = format!("x-api-key: {}\r\n", common::ADMIN);
    for path in [format!("/api/assets/{id}/thumbnail"), format!("/api/assets/{id}/original")] {
        let (status, head, body) = get(&gw.url, &path, &key);
        assert_eq!(status, 200, "{path}");
        let etag = header(&head, "etag").expect("an ETag");
        assert!(etag.starts_with("W/\""), "{etag}");
        let modified = header(&head, "last-modified").expect("a Last-Modified");
        assert_eq!(header(&head, "content-length"), Some(body.len().to_string()));
        let (status, _, body) = get(&gw.url, &path, &format!("{key}If-None-Match: {etag}\r\n"));
        assert_eq!((status, body.len()), (304, 0), "{path}");
        let (status, _, _) = get(&gw.url, &path, &format!("{key}If-Modified-Since: {modified}\r\n"));
        assert_eq!(status, 304, "{path}");
        let (status, _, _) = get(&gw.url, &path, &format!("{key}If-None-Match: W/\"other\"\r\n"));
        assert_eq!(status, 200, "{path}");
    }
    let original = format!("/api/assets/{id}/original");
    let (status, head, body) = get(&gw.url, &original, &format!("{key}Range: bytes=0-99\r\n"));
    assert_eq!((status, body.len()), (206, 100));
    assert!(header(&head, "content-range").unwrap().starts_with("bytes 0-99/"));
}
