//! The zero-downtime upgrade of docs/configuration.md, for real: a second process started with
//! `-u` takes the listening socket over when the first gets SIGQUIT, while a client keeps sending
//! requests on fresh connections — none fails, and the new process answers from then on; a
//! stream open on the old process ends with a resume token the new one continues from.

mod common;

use common::sse::{SseReader, photo_ids, read_messages, stateless_query};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn spawn(config: &std::path::Path, log: &std::path::Path, upgrade: bool) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"));
    command.arg("--config").arg(config).arg("--demo");
    if upgrade {
        command.arg("-u");
    }
    command.stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap()).spawn().unwrap()
}

/// The pid that answers `/health` at `url`, if any.
fn serving_pid(url: &str) -> Option<u64> {
    let (status, _, body) = common::raw_get(url, "/health").ok()?;
    (status == 200).then(|| serde_json::from_slice::<serde_json::Value>(&body).ok()?["pid"].as_u64()).flatten()
}

/// A config file in `dir` listening on a fresh port with an upgrade socket, plus `extra`; its path
/// and the gateway's URL.
fn write_config(dir: &std::path::Path, extra: &str) -> (std::path::PathBuf, String) {
    let port = common::free_port();
    let path = dir.join("gateway.toml");
    let sock = dir.join("upgrade.sock");
    std::fs::write(
        &path,
        format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\nupgrade_sock = \"{}\"\n{extra}", sock.display()),
    )
    .unwrap();
    (path, format!("http://127.0.0.1:{port}"))
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_new_process_takes_over_without_failing_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let (config, url) = write_config(dir.path(), "");
    let mut old = spawn(&config, &dir.path().join("old.log"), false);
    wait_for("the first process", Duration::from_secs(30), || serving_pid(&url) == Some(u64::from(old.id())));

    // A client that never stops: one request per fresh connection, as a load balancer's would.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, sent, failed, url) = (stop.clone(), sent.clone(), failed.clone(), url.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ok = matches!(common::raw_get(&url, "/api/server/ping"), Ok((200, _, _)));
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // And one that keeps its connection, as browsers and load balancers do: on the old process's
    // way out its next request is answered with `Connection: close`, never cut.
    let kept = {
        let url = url.clone();
        std::thread::spawn(move || keep_alive_until_closed(&url))
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut new = spawn(&config, &dir.path().join("new.log"), true);
    std::thread::sleep(Duration::from_millis(500));
    let quit = Command::new("kill").args(["-QUIT", &old.id().to_string()]).status().unwrap();
    assert!(quit.success());
    wait_for("the new process to serve", Duration::from_secs(30), || serving_pid(&url) == Some(u64::from(new.id())));
    wait_for("the old process to exit", Duration::from_secs(30), || old.try_wait().unwrap().is_some());
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let _ = new.kill();
    let _ = new.wait();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(sent > 100, "{sent} requests");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed during the upgrade");
    let ending = kept.join().unwrap();
    assert!(ending.to_ascii_lowercase().contains("connection: close"), "the kept connection ended with: {ending}");
}

/// Sends requests on one kept-alive connection, a millisecond apart, until an answer says
/// `Connection: close` (its head is returned) or the connection breaks (how, returned).
fn keep_alive_until_closed(url: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if let Err(e) = stream.write_all(b"GET /api/server/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") {
            return format!("write error: {e}");
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while common::request_head(&answer).is_none_or(|(end, _, length)| answer.len() < end + 4 + length) {
            match stream.read(&mut buf) {
                Ok(0) => return format!("end of stream after {} bytes of an answer", answer.len()),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) => return format!("read error: {e}"),
            }
        }
        let (_, head, _) = common::request_head(&answer).unwrap();
        if head.to_ascii_lowercase().contains("connection: close") {
            return head;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    "still open".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_ends_resumable_and_resumes_on_the_new_process() {
    let dir = tempfile::tempdir().unwrap();
    // Immich answers each page in 400 ms, so the stream is still running when the old process
    // stops (Pingora gives the new process 5 s to take over before the old one shuts down).
    let (config, url) = write_config(
        dir.path(),
        "grace_period = \"1s\"\n[mcp]\nsession_secret = \"the-upgrade-test-session-secret-0123456789\"\n\
         [demo]\nfault = \"slow=400ms\"\n",
    );
    let mut old = spawn(&config, &dir.path().join("old.log"), false);
    let old_pid = u64::from(old.id());
    let ready = url.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the first process", Duration::from_secs(30), || serving_pid(&ready) == Some(old_pid))
    })
    .await
    .unwrap();

    let mcp = format!("{url}/mcp");
    // 10,000 photos take ~10 s at 400 ms a page: still running when the old process stops, even
    // on a loaded machine where the new process takes seconds to start (5,000 once finished first).
    let mut stream = SseReader::new(stateless_query(&mcp, json!({ "limit": 10000 })).await);
    let mut before = stream.read_data_events(3).await;
    let mut new = spawn(&config, &dir.path().join("new.log"), true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(Command::new("kill").args(["-QUIT", &old.id().to_string()]).status().unwrap().success());
    before.extend(stream.read(|_| false).await);
    let before: Vec<Value> = before.into_iter().map(|(_, m)| m).collect();
    let [.., last, answer] = before.as_slice() else { panic!("too few messages: {before:?}") };
    assert_eq!(last["method"], "notifications/stream/error", "the stream ended with {last}");
    assert_eq!(last["params"]["code"], "SHUTTING_DOWN");
    assert_eq!(last["params"]["retryable"], true);
    assert_eq!(answer["error"]["data"]["code"], "SHUTTING_DOWN", "the request is answered: {answer}");
    let token = last["params"]["resumeToken"].as_str().expect("a resume token").to_string();

    // The same address, now served by the new process, continues the stream.
    let new_pid = u64::from(new.id());
    let ready = url.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the new process to serve", Duration::from_secs(30), || serving_pid(&ready) == Some(new_pid))
    })
    .await
    .unwrap();
    let after = read_messages(stateless_query(&mcp, json!({ "resumeToken": token })).await, |_| false).await;
    let answer = after.last().expect("an answer");
    assert!(answer["result"].is_object() && answer["result"]["isError"] != true, "{answer}");
    let mut ids = photo_ids(&before);
    ids.extend(photo_ids(&after));
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (10000, 10000), "every photo exactly once");
    let _ = old.wait();
    let _ = new.kill();
    let _ = new.wait();
}
