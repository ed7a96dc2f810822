//! Uploads to Immich through the gateway: a multi-gigabyte `POST /api/assets` streams through
//! without being held (the gateway's RSS stays within 16 MiB of idle, and Immich gets every byte
//! in order), `Expect: 100-continue` is honoured, and a body over `[server] max_body_size` is
//! refused with 413 before a byte of it reaches Immich.

mod common;

use common::{Gateway, header, request_head};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What the stand-in Immich saw of each upload: its head, and the length and CRC-32 of its body.
type Received = std::sync::mpsc::Receiver<(String, u64, u32)>;

/// An Immich stand-in for uploads: answers `100 Continue` to a request that expects it (as
/// Node's HTTP server does), reads the body as it comes, hashing it, and answers 201.
fn upload_sink() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut data = Vec::new();
                let mut buf = vec![0u8; 256 * 1024];
                let (end, head, length) = loop {
                    if let Some(found) = request_head(&data) {
                        break found;
                    }
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                };
                if header(&head, "expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
                    stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
                }
                let mut hasher = crc32fast::Hasher::new();
                let first = &data[end + 4..];
                hasher.update(first);
                let mut received = first.len() as u64;
                while received < length as u64 {
                    let n = stream.read(&mut buf).unwrap();
                    assert!(n > 0, "the body ended early");
                    hasher.update(&buf[..n]);
                    received += n as u64;
                }
                let body = format!("{{\"id\":\"new-asset\",\"bytes\":{received}}}");
                // The gateway's own probes (GET /api/server/ping) are not uploads.
                let upload = head.starts_with("POST ");
                let reply = format!(
                    "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(reply.as_bytes()).unwrap();
                if upload {
                    let _ = tx.send((head, received, hasher.finalize()));
                }
            });
        }
    });
    (addr, rx)
}

/// The upload's content: a fixed random-looking block whose first 8 bytes carry the chunk's
/// number, so a chunk dropped, repeated or reordered changes the CRC.
struct Pattern {
    block: Vec<u8>,
    next: u64,
}

impl Pattern {
    fn new(size: usize) -> Pattern {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let block = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        Pattern { block, next: 0 }
    }

    /// The next chunk.
    fn chunk(&mut self) -> &[u8] {
        self.block[..8].copy_from_slice(&self.next.to_le_bytes());
        self.next += 1;
        &self.block
    }
}

/// The resident set of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    common::rss_kib(pid) * 1024
}

/// Reads one response head (skipping nothing): its status line and headers.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the connection closed inside a head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Upload size: 2 GiB (`UPLOAD_TEST_BYTES` overrides it).
fn upload_bytes() -> u64 {
    std::env::var("UPLOAD_TEST_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(2 << 30)
}

#[test]
fn a_two_gib_upload_streams_through_in_bounded_memory() {
    let (immich, received) = upload_sink();
    let gw =
        Gateway::start(&format!("[immich]\nbase_url = \"http://{immich}\"\n[server]\nmax_body_size = \"3GiB\"\n"), &[]);
    let pid = gw.pid();
    // Warm up the proxy path (pools, buffers) before taking the idle figure.
    for _ in 0..3 {
        let _ = common::raw_get(&gw.url, "/api/server/ping");
    }
    std::thread::sleep(Duration::from_millis(200));
    let idle = rss(pid);
    let (done, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(idle)));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let total = upload_bytes();
    let boundary = "----immich-upload-test";
    let preamble = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"deviceAssetId\"\r\n\r\nupload-test\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"assetData\"; filename=\"big.mp4\"\r\n\
         Content-Type: video/mp4\r\n\r\n"
    );
    let epilogue = format!("\r\n--{boundary}--\r\n");
    let length = preamble.len() as u64 + total + epilogue.len() as u64;
    let mut stream = TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /api/assets HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: a-key\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The body goes only after Immich said to (through the gateway).
    let interim = read_head(&mut stream);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    let mut hasher = crc32fast::Hasher::new();
    stream.write_all(preamble.as_bytes()).unwrap();
    hasher.update(preamble.as_bytes());
    let mut pattern = Pattern::new(256 * 1024);
    let mut sent = 0u64;
    while sent < total {
        let chunk = pattern.chunk();
        let chunk = &chunk[..chunk.len().min((total - sent) as usize)];
        stream.write_all(chunk).unwrap();
        hasher.update(chunk);
        sent += chunk.len() as u64;
    }
    stream.write_all(epilogue.as_bytes()).unwrap();
    hasher.update(epilogue.as_bytes());
    let answer = read_head(&mut stream);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let (upstream_head, bytes, hash) = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(bytes, length, "Immich got every byte");
    assert_eq!(hash, hasher.finalize(), "in order, unchanged");
    assert_eq!(header(&upstream_head, "content-length"), Some(length.to_string()), "the length is kept");
    let grew = peak.load(Ordering::Relaxed).saturating_sub(idle);
    eprintln!("upload of {length} bytes: gateway RSS idle {idle} B, peak +{grew} B");
    assert!(grew < 16 << 20, "the gateway's RSS grew by {grew} bytes during the upload");
}

#[test]
fn an_upload_over_the_limit_is_refused_before_immich_sees_it() {
    let (immich, received) = upload_sink();
    let gw =
        Gateway::start(&format!("[immich]\nbase_url = \"http://{immich}\"\n[server]\nmax_body_size = \"1MiB\"\n"), &[]);
    let mut stream = TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = "POST /api/assets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n\
                Content-Length: 2097152\r\nExpect: 100-continue\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let answer = read_head(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err(), "nothing reached Immich");
}
