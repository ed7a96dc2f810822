//! `--check` and hot reload, through the real binary.

mod common;

use common::{Gateway, client};
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn check(text: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        .arg("--check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&path.display().to_string(), "FILE");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string(), stderr)
}

#[test]
fn check_accepts_the_documented_example_and_an_empty_file() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/gateway.toml")).unwrap();
    let (ok, stdout, stderr) = check(&example);
    assert!(ok, "conf/gateway.toml must be valid: {stderr}");
    assert!(stdout.contains("configuration OK"));
    assert!(check("").0);
    assert!(check("[streaming]\nchunk_size = 200\n").0);
}

#[test]
fn the_documented_example_lists_every_key_with_its_default() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/gateway.toml")).unwrap();
    let parsed = immich_mcp_gateway::config::load_str(&example, "conf/gateway.toml", Vec::new()).unwrap();
    assert_eq!(parsed, immich_mcp_gateway::config::Config::default(), "the example's values are the defaults");
    let defaults = toml::Value::try_from(immich_mcp_gateway::config::Config::default()).unwrap();
    for (section, table) in defaults.as_table().unwrap() {
        assert!(example.contains(&format!("[{section}]")), "section [{section}] is documented");
        for key in table.as_table().unwrap().keys() {
            let documented = example.lines().any(|l| {
                let l = l.trim_start_matches('#').trim();
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            });
            assert!(documented, "{section}.{key} is documented in conf/gateway.toml");
        }
    }
}

#[test]
fn check_prints_every_error_with_line_and_column() {
    let (ok, _, stderr) = check(
        "[server]\nthreads = 0\nlisten = 8080\n\n[streaming]\nchunk_size = \"many\"\nnot_a_key = 1\nhigh_water_mark = \"-3MiB\"\n",
    );
    assert!(!ok);
    for expected in [
        "FILE:3:10: server.listen",
        "FILE:6:14: streaming.chunk_size",
        "FILE:7:1: streaming.not_a_key",
        "FILE:8:19: streaming.high_water_mark",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(stderr.contains("unknown field"), "{stderr}");

    let (ok, _, stderr) = check("[server]\nthreads = 0\n[streaming]\nlow_water_mark = \"20MiB\"\n");
    assert!(!ok);
    assert!(stderr.contains("FILE:2:1: server.threads: must be at least 1"), "{stderr}");
    assert!(stderr.contains("FILE:4:1: streaming.low_water_mark: must be below high_water_mark"), "{stderr}");

    let (ok, _, stderr) = check("[server\nthreads = 2\n");
    assert!(!ok);
    assert!(stderr.starts_with("FILE:1:"), "{stderr}");
}

fn generation(gw: &Gateway) -> u64 {
    let (_, _, body) = common::raw_get(&gw.url, "/health").unwrap();
    serde_json::from_slice::<Value>(&body).unwrap()["config_generation"].as_u64().unwrap()
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_good_files_and_keeps_the_old_config_on_bad_ones_without_failing_requests() {
    let base = "[server]\nconfig_poll_interval = \"100ms\"\n";
    let gw = Gateway::start(base, &["--demo"]);
    let url = gw.at("/api/search/metadata");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .post(&url)
                    .header("x-api-key", common::ADMIN)
                    .body(r#"{"size":50}"#)
                    .header("content-type", "application/json")
                    .send()
                    .await;
                let succeeded = match r {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if succeeded {
                    ok.fetch_add(1, Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed)
                };
            }
        }));
    }

    // A good change (file watch).
    std::fs::write(&gw.config_path, format!("{base}\n[streaming]\nchunk_size = 250\n")).unwrap();
    wait_for("reload of a good file", || generation(&gw) == 1);

    // A bad file is rejected and the old config stays.
    std::fs::write(&gw.config_path, format!("{base}\n[streaming]\nchunk_size = \"lots\"\n")).unwrap();
    wait_for("rejection of a bad file", || gw.log().contains("configuration reload rejected"));
    assert_eq!(generation(&gw), 1);

    // SIGHUP re-reads the file on demand: fix it, then signal.
    std::fs::write(&gw.config_path, format!("{base}\n[streaming]\nchunk_size = 300\n")).unwrap();
    gw.signal("HUP");
    wait_for("reload after SIGHUP", || generation(&gw) >= 2);

    // A key that only applies on restart is reported as such.
    std::fs::write(&gw.config_path, format!("{base}threads = 7\n[streaming]\nchunk_size = 300\n")).unwrap();
    wait_for("restart-only warning", || gw.log().contains("server.threads"));
    assert!(gw.log().contains("only applies after a restart"));

    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let metrics = client().get(gw.at("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gateway_config_reloads_total{result=\"error\"} 1"), "{metrics}");
    // Three good files; SIGHUP and the file watch may both pick up the third one.
    let successes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_config_reloads_total{result=\"success\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((3..=4).contains(&successes), "{metrics}");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed during reloads");
    assert!(ok.load(Ordering::Relaxed) > 20, "requests kept flowing: {}", ok.load(Ordering::Relaxed));
}

#[test]
fn reload_follows_a_kubernetes_configmap_symlink_swap() {
    // Kubernetes mounts gateway.toml -> ..data/gateway.toml, ..data -> ..2026_v1; an update
    // writes ..2026_v2 and atomically renames a new ..data link over the old one.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write_version = |name: &str, text: &str| {
        std::fs::create_dir(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("gateway.toml"), text).unwrap();
    };
    let base = "[server]\nconfig_poll_interval = \"100ms\"\n";
    write_version("..v1", base);
    std::os::unix::fs::symlink("..v1", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/gateway.toml", root.join("gateway.toml")).unwrap();
    let gw = Gateway::start_at(&root.join("gateway.toml"), &["--demo"], root);

    write_version("..v2", &format!("{base}[streaming]\nchunk_size = 42\n"));
    std::os::unix::fs::symlink("..v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    wait_for("reload after the symlink swap", || generation(&gw) == 1);

    // ..data pointing at nothing: the running configuration stays, and says why, once.
    std::os::unix::fs::symlink("..v3", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    wait_for("the unreadable file to be reported", || gw.log().contains("configuration file unreadable"));
    let metrics = common::raw_get(&gw.url, "/metrics").unwrap().2;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("gateway_config_reloads_total{result=\"error\"} 1"), "{metrics}");
    assert_eq!(generation(&gw), 1, "the running configuration stays");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(gw.log().matches("configuration file unreadable").count(), 1, "reported once");
}
