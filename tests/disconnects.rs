//! Clients that leave mid-stream: each departure cancels its call and stops the Immich paging,
//! and after a thousand of them the gateway holds no more tasks, streams or memory than before.

mod common;

use common::{Gateway, client};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Opens the stream, waits for its first photos, then hangs up.
async fn leave_mid_stream(addr: String, request: std::sync::Arc<Vec<u8>>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !String::from_utf8_lossy(&seen).contains("notifications/stream/data") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream ended before its first photos");
        seen.extend_from_slice(&buf[..n]);
    }
    // Dropping the socket is the disconnect.
}

struct Figures {
    active_streams: i64,
    tasks: u64,
    rss_kib: u64,
}

async fn figures(gw: &Gateway) -> Figures {
    let health: Value = client().get(gw.at("/health/streaming")).send().await.unwrap().json().await.unwrap();
    let rss_kib = common::rss_kib(gw.pid());
    Figures {
        active_streams: health["activeStreams"].as_i64().unwrap(),
        tasks: health["runtimeTasks"].as_u64().unwrap(),
        rss_kib,
    }
}

/// Waits (at most 10 s) until no stream is open and the task count is at most `tasks`.
async fn settled(gw: &Gateway, tasks: u64) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = figures(gw).await;
        if now.active_streams == 0 && now.tasks <= tasks {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "still {} streams and {} tasks (baseline {tasks})",
            now.active_streams,
            now.tasks
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The lowest RSS seen over two seconds of polling: the allocator returns freed pages on its own
/// schedule, so one reading can catch memory that is already free but not yet given back.
async fn rss_floor(gw: &Gateway) -> u64 {
    let mut floor = u64::MAX;
    for _ in 0..20 {
        floor = floor.min(figures(gw).await.rss_kib);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    floor
}

/// Longer than the test's `[immich] idle_timeout`, with room for the pool's eviction tick.
const POOL_DRAINED: Duration = Duration::from_millis(1_500);

async fn leave_in_waves(gw: &Gateway, waves: usize, per_wave: usize) {
    let request = std::sync::Arc::new(common::streamed_query_request(10_000));
    let addr = gw.url.trim_start_matches("http://").to_string();
    for _ in 0..waves {
        let clients: Vec<_> =
            (0..per_wave).map(|_| tokio::spawn(leave_mid_stream(addr.clone(), request.clone()))).collect();
        for c in clients {
            c.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_disconnects_mid_stream_leave_nothing_behind() {
    // One worker thread: the task count /health/streaming reports is then the whole gateway's.
    // Idle Immich connections are each a task; a short idle timeout lets both counts below be
    // taken with the pool drained, so a connection that happened to be idle is not a "leak".
    let gw = Gateway::start("[server]\nthreads = 1\n[immich]\nidle_timeout = \"300ms\"\n", &["--demo"]);
    // 1,000 disconnects first bring the allocator to the working size of exactly this load (it
    // keeps freed pages for reuse, so its footprint follows the peak of concurrent streams); that
    // is the baseline. A leak would then grow with the next 1,000.
    leave_in_waves(&gw, 20, 50).await;
    tokio::time::sleep(POOL_DRAINED).await;
    let baseline = settled(&gw, u64::MAX).await;
    let mut rss_before = rss_floor(&gw).await;
    // A leak grows with every 1,000; the allocator's footprint does not. On a loaded machine it can
    // still step up once (a higher peak of concurrent streams), so a round that grew is measured
    // again from its own end, up to three rounds.
    for round in 1..=3 {
        let started = Instant::now();
        leave_in_waves(&gw, 20, 50).await;
        tokio::time::sleep(POOL_DRAINED).await;
        let after = settled(&gw, baseline.tasks).await;
        let rss_after = rss_floor(&gw).await;
        eprintln!(
            "round {round}: 1,000 disconnects in {:.1} s: tasks {} -> {}, RSS {} -> {} KiB (lowest over 2 s)",
            started.elapsed().as_secs_f64(),
            baseline.tasks,
            after.tasks,
            rss_before,
            rss_after
        );
        if rss_after <= rss_before + 16 * 1024 {
            return;
        }
        rss_before = rss_after;
    }
    panic!("RSS grew by more than 16 MiB in each of three rounds of 1,000 disconnects");
}
