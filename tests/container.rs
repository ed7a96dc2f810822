//! The image and the Kubernetes manifests, run for real with podman (no registry is reachable, so
//! the image's last stage is built from the binary under test, as `Dockerfile`'s `PREBUILT=yes`
//! says): the image starts as its unprivileged user and answers its probe; then the pod-level
//! parts of `k8s/gateway` (Deployment, ConfigMap, Secrets) run under `podman kube play` with that
//! image and the demo — probes, an MCP tool call with a gateway key — and a ConfigMap update,
//! swapped in the way the kubelet does it (`..data`), is reloaded by the running gateway; then
//! `k8s/sidecar`'s Immich server pod — the gateway beside Immich (this image serving the demo in
//! Immich's place, whose image cannot be pulled here), reaching it on the pod's loopback — serves
//! a tool call and Immich's web app through the gateway's port.
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

/// An overlay rendered by `kubectl kustomize`, split into its Secrets (as podman 4.3 takes them:
/// `data`, since it ignores `stringData`) and the ConfigMap and Deployment, with what every run
/// here needs: this image, one replica, the gateway on `port` of the host's loopback, a known
/// gateway key, the demo's Immich key, secret volumes with `optional` spelled out (podman
/// dereferences it) and no port lists (not allowed on a host-network pod).
fn overlay(name: &str, port: u16) -> (String, String) {
    let rendered = Command::new("kubectl").args(["kustomize", &format!("k8s/{name}")]).output().expect("kubectl");
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
    let mut pod = of_kind(&["ConfigMap", "Deployment"])
        .replace("image: immich-mcp-gateway:latest", &format!("image: {IMAGE}"))
        .replace("replicas: 2", "replicas: 1")
        .replace("listen = [\"0.0.0.0:8080\"]", &format!("listen = [\"127.0.0.1:{port}\"]"))
        .replace(
            "hash = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"",
            &format!("hash = \"{}\"", KeyHash::of(KEY)),
        );
    for secret in ["immich-mcp-gateway-immich-key", "immich-mcp-gateway-session-secret"] {
        pod = pod.replace(
            &format!("          secretName: {secret}\n"),
            &format!("          secretName: {secret}\n          optional: false\n"),
        );
    }
    assert!(pod.contains(&KeyHash::of(KEY).to_string()), "{pod}");
    (secrets, pod)
}

/// `k8s/gateway`'s pod, on the demo.
fn gateway_manifests(port: u16) -> (String, String) {
    let (secrets, pod) = overlay("gateway", port);
    let pod = pod
        .replace(
            "        - /etc/immich-mcp-gateway/gateway.toml\n",
            "        - /etc/immich-mcp-gateway/gateway.toml\n        - --demo\n",
        )
        .replace("        ports:\n        - containerPort: 8080\n          name: http\n", "")
        .replace("            port: http\n", &format!("            port: {port}\n"));
    assert!(pod.contains("--demo") && !pod.contains("containerPort"), "{pod}");
    (secrets, pod)
}

/// `k8s/sidecar`'s Immich server pod: the gateway container as the overlay adds it, and in
/// Immich's place (its image cannot be pulled here) this image serving the demo on `immich`.
fn sidecar_manifests(port: u16, immich: u16) -> (String, String) {
    let (secrets, pod) = overlay("sidecar", port);
    let pod = pod
        .replace("value: http://127.0.0.1:2283", &format!("value: http://127.0.0.1:{immich}"))
        .replace("        ports:\n        - containerPort: 8080\n          name: gateway\n", "")
        .replace("            port: gateway\n", &format!("            port: {port}\n"))
        .replace(
            "      - image: ghcr.io/immich-app/immich-server:v3.1.0\n        name: main\n        ports:\n        - containerPort: 2283\n          name: http\n",
            &format!(
                "      - image: {IMAGE}\n        name: main\n        args: [\"--config\", \"/etc/immich-mcp-gateway/gateway.toml\", \"--demo\", \"--listen\", \"127.0.0.1:{immich}\"]\n"
            ),
        );
    assert!(!pod.contains("containerPort") && !pod.contains("ghcr.io"), "{pod}");
    (secrets, pod)
}

/// Plays `secrets` and `pod` (in `dir`) with host networking, waits for `/health` at `base`, then
/// does the kubelet's part podman 4.3 leaves undone — it writes a Secret's `data` into the volume
/// still base64-encoded — and has `container` re-read its files (SIGHUP).
fn play(dir: &Path, secrets: &str, pod: &str, base: &str, container: &str) {
    std::fs::write(dir.join("secrets.yaml"), secrets).unwrap();
    std::fs::write(dir.join("pod.yaml"), pod).unwrap();
    podman_ok(&["kube", "play", dir.join("secrets.yaml").to_str().unwrap()]);
    podman_ok(&["kube", "play", "--network", "host", dir.join("pod.yaml").to_str().unwrap()]);
    common::wait_for_gateway(base, "/health");
    let before = generation(base);
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
    podman_ok(&["kill", "--signal", "HUP", container]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while generation(base) <= before {
        assert!(Instant::now() < deadline, "SIGHUP did not reload {container}");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let _ = podman(&["pod", "rm", "-f", "immich-server-pod-0"]);
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
async fn the_image_and_both_kubernetes_pods_run_and_the_configmap_reloads() {
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
    common::wait_for_gateway(&base, "/health");
    let probe = format!("http://127.0.0.1:{port}/ready");
    podman_ok(&["exec", "gateway-image-test", "/usr/local/bin/immich-mcp-gateway", "--probe", &probe]);
    podman_ok(&["rm", "-f", "gateway-image-test"]);

    // The pod-level parts of k8s/gateway.
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (secrets, pod) = gateway_manifests(port);
    play(dir.path(), &secrets, &pod, &base, "immich-mcp-gateway-pod-0-gateway");
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

    // k8s/sidecar: the gateway in Immich's server pod, in front of it on the pod's loopback.
    clean_up();
    let (port, immich) = (common::free_port(), common::free_port());
    let base = format!("http://127.0.0.1:{port}");
    let (secrets, pod) = sidecar_manifests(port, immich);
    play(dir.path(), &secrets, &pod, &base, "immich-server-pod-0-immich-mcp-gateway");
    assert_eq!(common::client().get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    let (status, answer) = list_albums(&base, KEY).await;
    assert_eq!(status, 200, "{answer}");
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    // The Service's port now reaches the gateway: Immich's web app is behind it.
    let page = common::client().get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Immich demo"), "{page}");
}
