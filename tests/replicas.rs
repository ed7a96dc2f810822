//! Several replicas behind a real load balancer (nginx, round robin), as users outgrow one machine:
//! three gateway processes sharing only `[mcp] session_secret`, one demo Immich, no sticky
//! sessions and no shared store. The official Python SDK runs a session whose requests land on
//! different replicas; a streamed `queryPhotos` cut by killing the replica serving it resumes on
//! another with every photo exactly once; a rolling restart of all three under a steady client
//! loses no request.

mod common;

use common::nginx::Nginx;
use common::sse::{SseReader, photo_ids, read_messages, stateless_call};

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "the-replicas-shared-session-secret-0123456789";

/// One gateway process on a fixed port (the load balancer's list names it).
struct Replica {
    port: u16,
    child: Child,
    config: PathBuf,
    log: PathBuf,
}

impl Replica {
    fn start(dir: &Path, port: u16, immich: &str, generation: u32) -> Replica {
        let config = dir.join(format!("gateway-{port}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = [\"127.0.0.1:{port}\"]\nupgrade_sock = \"{}/upgrade-{port}.sock\"\ngrace_period = \"1s\"\n\
                 [immich]\nbase_url = \"{immich}\"\napi_key = \"{}\"\n[mcp]\nsession_secret = \"{SECRET}\"\nconformance_fixtures = true\npage_size = 3\n",
                dir.display(),
                common::ADMIN
            ),
        )
        .unwrap();
        let log = dir.join(format!("gateway-{port}-{generation}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let replica = Replica { port, child, config, log };
        replica.wait_healthy();
        replica
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(common::raw_get(&self.url(), "/health"), Ok((200, _, _))) {
            assert!(Instant::now() < deadline, "replica {} never became healthy", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// MCP requests this replica answered, from its metrics.
    fn mcp_requests(&self) -> f64 {
        let (_, _, body) = common::raw_get(&self.url(), "/metrics").unwrap();
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| l.starts_with("gateway_mcp_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Streams open on this replica now.
    fn active_streams(&self) -> i64 {
        let (_, _, body) = common::raw_get(&self.url(), "/health/streaming").unwrap();
        serde_json::from_slice::<Value>(&body).unwrap()["activeStreams"].as_i64().unwrap()
    }

    fn stop(mut self, signal: &str) {
        let _ = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
        let _ = &self.log;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx as the load balancer: round robin over the replicas, no stickiness, streams unbuffered;
/// a request that cannot reach a replica goes to the next one.
fn balancer(dir: &Path, replicas: &[u16]) -> Nginx {
    let servers: String =
        replicas.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=1s; ")).collect();
    let http = |port: u16| {
        format!(
            "upstream gateways {{ {servers} keepalive 16; }}\n\
             server {{ listen 127.0.0.1:{port};\n\
               location / {{ proxy_pass http://gateways; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $http_host;\n\
                 proxy_buffering off; proxy_read_timeout 60s; proxy_next_upstream error timeout non_idempotent; }} }}\n"
        )
    };
    Nginx::start(dir, http, "/health")
}

/// Three replicas on one demo Immich (answering each request after `delay`), behind nginx.
fn cluster(dir: &Path, delay: Duration) -> (Vec<Replica>, Nginx, String) {
    let fault = immich_mcp_gateway::demo::Fault { delay: Some(delay).filter(|d| !d.is_zero()), ..Default::default() };
    let immich = format!("http://{}", immich_mcp_gateway::demo::spawn(10_000, fault));
    let replicas: Vec<Replica> = (0..3).map(|_| Replica::start(dir, common::free_port(), &immich, 0)).collect();
    let balancer = balancer(dir, &replicas.iter().map(|r| r.port).collect::<Vec<_>>());
    (replicas, balancer, immich)
}

#[test]
fn a_python_sdk_session_is_served_by_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (replicas, balancer, _) = cluster(dir.path(), Duration::ZERO);
    let before: Vec<f64> = replicas.iter().map(Replica::mcp_requests).collect();
    let output = common::python_with("mcp")
        .arg(common::clients_dir().join("python_client.py"))
        .arg(format!("{}/mcp", balancer.url()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let served = replicas.iter().zip(before).filter(|(r, b)| r.mcp_requests() > *b).count();
    assert!(served >= 2, "one session's requests reached {served} replica(s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_by_killing_its_replica_resumes_on_another() {
    let dir = tempfile::tempdir().unwrap();
    // Each Immich page takes 30 ms, so the stream is still running when its replica dies.
    let (mut replicas, balancer, _) = cluster(dir.path(), Duration::from_millis(30));
    let c = common::client();
    let mcp = format!("{}/mcp", balancer.url());
    let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "lb", "version": "1" } } });
    let response =
        c.post(&mcp).header("accept", "application/json, text/event-stream").json(&init).send().await.unwrap();
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let call = json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": { "name": "queryPhotos", "arguments": { "limit": 5000 } } });
    let stream = c
        .post(&mcp)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&call)
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(stream);
    let first = stream.read_data_events(5).await;
    // The replica with the open stream dies without a word.
    let serving = replicas.iter().position(|r| r.active_streams() > 0).expect("a replica serves the stream");
    replicas.remove(serving).stop("-KILL");
    drop(stream);
    let last_id = first.iter().rev().find_map(|(id, _)| id.clone()).expect("event ids");
    let resumed = c
        .get(&mcp)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let rest = read_messages(resumed, |m| m["id"] == 9).await;
    assert!(rest.last().is_some_and(|m| m["result"].is_object()), "the call was answered after the resume");
    let first: Vec<Value> = first.into_iter().map(|(_, m)| m).collect();
    let mut ids = photo_ids(&first);
    ids.extend(photo_ids(&rest));
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (5000, 5000), "every photo exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replicas, balancer, immich) = cluster(dir.path(), Duration::ZERO);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, sent, failed, mcp) = (stop.clone(), sent.clone(), failed.clone(), format!("{}/mcp", balancer.url()));
        tokio::spawn(async move {
            let c = common::client();
            while !stop.load(Ordering::Relaxed) {
                let answer = stateless_call(&c, &mcp, "listAlbums", json!({})).send().await;
                // A failure is printed: the assertion below says how many, this says why.
                let ok = match answer {
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        let good = status == 200
                            && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["result"]["isError"] != true);
                        if !good {
                            eprintln!("{status}: {}", text.chars().take(400).collect::<String>());
                        }
                        good
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        false
                    }
                };
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    for generation in 1..=3 {
        let old = replicas.remove(0);
        let port = old.port;
        tokio::task::spawn_blocking(move || old.stop("-TERM")).await.unwrap();
        let (dir, immich) = (dir.path().to_path_buf(), immich.clone());
        let fresh = tokio::task::spawn_blocking(move || Replica::start(&dir, port, &immich, generation)).await.unwrap();
        replicas.push(fresh);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(sent > 100, "{sent} requests");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed during the rolling restart");
}
