//! The zero-downtime upgrade of docs/configuration.md, for real: a second process started with
//! `-u` takes the listening socket over when the first gets SIGQUIT, while a client keeps sending
//! requests on fresh connections — none fails, and the new process answers from then on.

mod common;

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
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nupgrade_sock = \"{}\"\n",
            dir.path().join("upgrade.sock").display()
        ),
    )
    .unwrap();
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
}
