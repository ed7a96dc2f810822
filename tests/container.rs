//! The image and the Kubernetes manifests, run for real with podman (no registry is reachable, so
//! the image's last stage is built from the binary under test, as `Dockerfile`'s `PREBUILT=yes`
//! says): the image starts as its unprivileged user and answers its probe; then the pod-level
//! parts of `k8s/gateway` (Deployment, ConfigMap, Secrets) run under `podman kube play` with that
//! image and the demo — probes, an MCP tool call with a gateway key — and a ConfigMap update,
//! swapped in the way the kubelet does it (`..data`), is reloaded by the running gateway.
//!
//! Needs root, podman and runc (`./test` installs them). Everything listens on 127.0.0.1.

mod common;

use immich_mcp_gateway::config::KeyHash;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/immich-mcp-gateway:test";
const KEY: &str = "a-gateway-key-for-the-pod";
const SECOND_KEY: &str = "a-key-added-by-a-configmap-update";

/// podman as these machines run it (see `../shared/containers/NOTES.md`).
fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(["--runtime", "runc", "--cgroup-manager=cgroupfs"])
        .args(args)
        .output()
        .expect("podman (Debian: podman runc; ./test installs them)")
}

fn podman_ok(args: &[&str]) -> String {
    let output = podman(args);
    assert!(output.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(common::raw_get(base, "/health"), Ok((200, _, _))) {
        assert!(Instant::now() < deadline, "nothing healthy at {base}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The configuration generation the gateway at `base` serves.
fn generation(base: &str) -> u64 {
    let (_, _, body) = common::raw_get(base, "/health").unwrap();
    serde_json::from_slice::<Value>(&body).unwrap()["config_generation"].as_u64().unwrap()
}

/// Builds the image from the binary under test.
fn build_image(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join("deploy/container/out");
    let gathered = Command::new(root.join("deploy/container/gather"))
        .arg(env!("CARGO_BIN_EXE_immich-mcp-gateway"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(gathered.success());
    let dockerfile = root.join("Dockerfile");
    podman_ok(&[
        "build",
        "--format",
        "docker",
        "--build-arg",
        "PREBUILT=yes",
        "-f",
        dockerfile.to_str().unwrap(),
        "-t",
        IMAGE,
        dir.to_str().unwrap(),
    ]);
}

/// The pod-level parts of `k8s/gateway`, made to run here: this image, one replica, the demo, the
/// gateway on `port` of the host's loopback, a known gateway key and the demo's Immich key.
/// Podman 4.3 (Debian 12) needs more of the manifests: Secrets as `data` (it ignores
/// `stringData`), secret volumes with `optional` spelled out (it dereferences it), and no port
/// list on a host-network pod.
fn manifests(port: u16) -> (String, String) {
    let rendered = Command::new("kubectl").args(["kustomize", "k8s/gateway"]).output().expect("kubectl");
    assert!(rendered.status.success());
    let rendered = String::from_utf8(rendered.stdout).unwrap();
    let docs: Vec<&str> = rendered.split("\n---\n").collect();
    let of_kind = |kinds: &[&str]| -> String {
        let chosen: Vec<&str> =
            docs.iter().copied().filter(|d| kinds.iter().any(|k| d.contains(&format!("kind: {k}\n")))).collect();
        chosen.join("\n---\n")
    };
    let b64 = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(text)
    };
    let secrets = of_kind(&["Secret"])
        .replace(
            "stringData:\n  api-key: REPLACE-WITH-AN-IMMICH-API-KEY",
            &format!("data:\n  api-key: {}", b64(common::ADMIN)),
        )
        .replace(
            "stringData:\n  session-secret: REPLACE-WITH-32-OR-MORE-RANDOM-BYTES-BASE64",
            &format!("data:\n  session-secret: {}", b64("the-pod-session-secret-of-32-bytes-or-more")),
        );
    assert!(!secrets.contains("stringData"), "the Secrets changed shape: {secrets}");
    let pod = of_kind(&["ConfigMap", "Deployment"])
        .replace("image: immich-mcp-gateway:latest", &format!("image: {IMAGE}"))
        .replace("replicas: 2", "replicas: 1")
        .replace("listen = [\"0.0.0.0:8080\"]", &format!("listen = [\"127.0.0.1:{port}\"]"))
        .replace(
            "hash = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"",
            &format!("hash = \"{}\"", KeyHash::of(KEY)),
        )
        .replace(
            "        - /etc/immich-mcp-gateway/gateway.toml\n",
            "        - /etc/immich-mcp-gateway/gateway.toml\n        - --demo\n",
        )
        .replace("        ports:\n        - containerPort: 8080\n          name: http\n", "")
        .replace("            port: http\n", &format!("            port: {port}\n"))
        .replace(
            "          secretName: immich-mcp-gateway-immich-key\n",
            "          secretName: immich-mcp-gateway-immich-key\n          optional: false\n",
        )
        .replace(
            "          secretName: immich-mcp-gateway-session-secret\n",
            "          secretName: immich-mcp-gateway-session-secret\n          optional: false\n",
        );
    assert!(pod.contains(&KeyHash::of(KEY).to_string()) && pod.contains("--demo") && !pod.contains("containerPort"));
    (secrets, pod)
}

/// A stateless-wire `listAlbums` call with gateway key `key`: the tool's text, or the refusal.
async fn list_albums(base: &str, key: &str) -> (u16, Value) {
    let call = common::sse::stateless_call(&common::client(), &format!("{base}/mcp"), "listAlbums", json!({}));
    let response = call.bearer_auth(key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Removes what the test makes (also what a failed run left), on drop too.
struct CleanUp;

impl Drop for CleanUp {
    fn drop(&mut self) {
        clean_up();
    }
}

fn clean_up() {
    let _ = podman(&["pod", "rm", "-f", "immich-mcp-gateway-pod-0"]);
    let _ = podman(&["rm", "-f", "gateway-image-test"]);
    let _ = podman(&["secret", "rm", "immich-mcp-gateway-immich-key", "immich-mcp-gateway-session-secret"]);
    let _ = podman(&[
        "volume",
        "rm",
        "-f",
        "immich-mcp-gateway",
        "immich-mcp-gateway-immich-key",
        "immich-mcp-gateway-session-secret",
    ]);
}

#[tokio::test]
async fn the_image_and_the_kubernetes_pod_run_and_reload_their_configmap() {
    let dir = tempfile::tempdir().unwrap();
    clean_up();
    let _clean_up = CleanUp;
    build_image(dir.path());

    // The image alone: its user, its version, its probe.
    assert_eq!(podman_ok(&["image", "inspect", "--format", "{{.Config.User}}", IMAGE]).trim(), "65532:65532");
    assert!(podman_ok(&["run", "--rm", "--network=host", IMAGE, "--version"]).starts_with("immich-mcp-gateway "));
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    podman_ok(&[
        "run",
        "-d",
        "--name",
        "gateway-image-test",
        "--network=host",
        "-e",
        &format!("IMMICH_GATEWAY__SERVER__LISTEN=127.0.0.1:{port}"),
        IMAGE,
        "--config",
        "/etc/immich-mcp-gateway/gateway.toml",
        "--demo",
    ]);
    wait_healthy(&base);
    let probe = format!("http://127.0.0.1:{port}/ready");
    podman_ok(&["exec", "gateway-image-test", "/usr/local/bin/immich-mcp-gateway", "--probe", &probe]);
    podman_ok(&["rm", "-f", "gateway-image-test"]);

    // The pod-level parts of k8s/gateway.
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (secrets, pod) = manifests(port);
    std::fs::write(dir.path().join("secrets.yaml"), secrets).unwrap();
    std::fs::write(dir.path().join("pod.yaml"), &pod).unwrap();
    podman_ok(&["kube", "play", dir.path().join("secrets.yaml").to_str().unwrap()]);
    podman_ok(&["kube", "play", "--network", "host", dir.path().join("pod.yaml").to_str().unwrap()]);
    wait_healthy(&base);
    // Podman 4.3 writes a Secret's `data` into the volume still base64-encoded; the kubelet
    // decodes it. Write what the kubelet would have, and have the gateway re-read its files.
    for (volume, file) in
        [("immich-mcp-gateway-immich-key", "api-key"), ("immich-mcp-gateway-session-secret", "session-secret")]
    {
        let mountpoint = podman_ok(&["volume", "inspect", volume, "--format", "{{.Mountpoint}}"]);
        let path = Path::new(mountpoint.trim()).join(file);
        use base64::Engine;
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        std::fs::write(&path, decoded).unwrap();
    }
    podman_ok(&["kill", "--signal", "HUP", "immich-mcp-gateway-pod-0-gateway"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while generation(&base) < 1 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the pod's gateway");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(common::client().get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    let (status, answer) = list_albums(&base, KEY).await;
    assert_eq!(status, 200, "{answer}");
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    assert!(answer["result"]["content"][0]["text"].as_str().unwrap().contains("photos"), "{answer}");
    assert_eq!(list_albums(&base, SECOND_KEY).await.0, 401);

    // A ConfigMap update, as the kubelet writes it: the new content in a new directory, `..data`
    // swapped to it in one rename, the file a link through `..data`.
    let volume = podman_ok(&["volume", "inspect", "immich-mcp-gateway", "--format", "{{.Mountpoint}}"]);
    let volume = Path::new(volume.trim());
    let current = std::fs::read_to_string(volume.join("gateway.toml")).unwrap();
    let updated = format!("{current}\n[[auth.keys]]\nname = \"second\"\nhash = \"{}\"\n", KeyHash::of(SECOND_KEY));
    std::fs::create_dir(volume.join("..2026_12_07_update")).unwrap();
    std::fs::write(volume.join("..2026_12_07_update/gateway.toml"), updated).unwrap();
    std::os::unix::fs::symlink("..2026_12_07_update", volume.join("..data_tmp")).unwrap();
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/gateway.toml", volume.join("gateway.toml.tmp")).unwrap();
    std::fs::rename(volume.join("gateway.toml.tmp"), volume.join("gateway.toml")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = list_albums(&base, SECOND_KEY).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the running gateway did not reload the ConfigMap");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(list_albums(&base, KEY).await.0, 200, "the first key still works");
}
