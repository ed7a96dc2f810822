//! `--demo-assets 1000000` costs no more memory than a library of ten thousand: the library is
//! not materialised at start, the million-marker map streams through without being held, and the
//! same requests leave both processes' peak RSS close together.
//!
//! Peaks of two processes differ by up to ~20 MB with no change in what they hold: the allocator's
//! per-thread heaps keep freed pages for a while, and which thread serves which request varies. So
//! the part that scales (the 120 MB marker stream) is measured inside one process, and the
//! whole-process comparison allows that noise; anything per asset (even 32 bytes each) exceeds it.

mod common;

use common::{ADMIN, Gateway, client};

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

/// Searches and lists, the same on any library size.
async fn search_and_list(gw: &Gateway) {
    let c = client();
    for page in [1, 2, 9] {
        let r = c
            .post(gw.at("/api/search/metadata"))
            .header("x-api-key", ADMIN)
            .body(format!(r#"{{"page":{page},"size":1000}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    for path in ["/api/albums", "/api/timeline/buckets", "/api/search/cities"] {
        let r = c.get(gw.at(path)).header("x-api-key", ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap();
    }
}

/// Reads the whole marker array as a stream, counting bytes, never holding it.
async fn stream_markers(gw: &Gateway) -> usize {
    let mut markers = client().get(gw.at("/api/map/markers")).header("x-api-key", ADMIN).send().await.unwrap();
    assert_eq!(markers.status(), 200);
    let mut bytes = 0;
    while let Some(chunk) = markers.chunk().await.unwrap() {
        bytes += chunk.len();
    }
    bytes
}

/// What one library size costs: RSS at start, peak before the marker stream, peak after it.
struct Footprint {
    start: u64,
    before_markers: u64,
    peak: u64,
    marker_bytes: usize,
}

async fn footprint(assets: &str) -> Footprint {
    let gw = Gateway::start("", &["--demo", "--demo-assets", assets]);
    let start = peak_rss_kib(gw.pid());
    search_and_list(&gw).await;
    let before_markers = peak_rss_kib(gw.pid());
    let marker_bytes = stream_markers(&gw).await;
    Footprint { start, before_markers, peak: peak_rss_kib(gw.pid()), marker_bytes }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_assets_cost_no_more_memory_than_ten_thousand() {
    let small = footprint("10000").await;
    let large = footprint("1000000").await;
    eprintln!(
        "peak RSS KiB at start / before markers / after: 10k assets {} / {} / {}, 1M assets {} / {} / {}; markers {} vs {} bytes",
        small.start,
        small.before_markers,
        small.peak,
        large.start,
        large.before_markers,
        large.peak,
        small.marker_bytes,
        large.marker_bytes
    );
    assert!(
        large.marker_bytes > 90 * small.marker_bytes,
        "the large library really streamed ~100x the markers: {} vs {}",
        large.marker_bytes,
        small.marker_bytes
    );
    assert!(
        large.start <= small.start + 4 * 1024,
        "the library is not materialised at start: {} KiB at 10k assets vs {} KiB at 1M",
        small.start,
        large.start
    );
    assert!(
        large.peak <= large.before_markers + 16 * 1024,
        "{} MB of markers streamed through without being held: peak {} KiB before, {} KiB after",
        large.marker_bytes >> 20,
        large.before_markers,
        large.peak
    );
    assert!(
        large.peak <= small.peak + 32 * 1024,
        "peak RSS grew with the library: {} KiB at 10k assets vs {} KiB at 1M",
        small.peak,
        large.peak
    );
}
