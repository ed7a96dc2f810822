//! `--demo-assets 1000000` costs no more memory than the default library: the same requests,
//! whole-library scans and a streamed million-marker map included, leave the peak RSS of both
//! processes within a few megabytes of each other.

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

async fn exercise(gw: &Gateway) -> usize {
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
    // Read the marker array as a stream, counting bytes, never holding it.
    let mut markers = c.get(gw.at("/api/map/markers")).header("x-api-key", ADMIN).send().await.unwrap();
    let mut bytes = 0;
    while let Some(chunk) = markers.chunk().await.unwrap() {
        bytes += chunk.len();
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_assets_cost_no_more_memory_than_ten_thousand() {
    let small = Gateway::start("", &["--demo", "--demo-assets", "10000"]);
    let small_bytes = exercise(&small).await;
    let small_peak = peak_rss_kib(small.pid());
    drop(small);

    let large = Gateway::start("", &["--demo", "--demo-assets", "1000000"]);
    let large_bytes = exercise(&large).await;
    let large_peak = peak_rss_kib(large.pid());

    assert!(
        large_bytes > 90 * small_bytes,
        "the large library really streamed ~100x the markers: {large_bytes} vs {small_bytes}"
    );
    assert!(
        large_peak <= small_peak + 16 * 1024,
        "peak RSS grew with the library: {small_peak} KiB at 10k assets vs {large_peak} KiB at 1M"
    );
    eprintln!(
        "peak RSS: {small_peak} KiB (10k assets) vs {large_peak} KiB (1M assets); markers {small_bytes} vs {large_bytes} bytes"
    );
}
