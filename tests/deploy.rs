//! The deployment files users run: the Kubernetes overlays render (kustomize, through kubectl) and
//! pass strict validation against the Kubernetes 1.37 schemas (kubernetes-validate, offline); every
//! configuration they ship loads; the compose file parses.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A program of `./test`'s virtualenv (beside its Python).
fn venv_program(name: &str) -> PathBuf {
    let python =
        PathBuf::from(std::env::var_os("GATEWAY_TEST_PYTHON").expect("run ./test, which makes the virtualenv"));
    python.with_file_name(name)
}

#[test]
fn the_kubernetes_overlays_render_and_validate() {
    let validate = venv_program("kubernetes-validate");
    for (overlay, kinds) in [
        (
            "gateway",
            &[
                "configmap",
                "secret",
                "service",
                "deployment",
                "poddisruptionbudget",
                "horizontalpodautoscaler",
                "networkpolicy",
            ][..],
        ),
        ("sidecar", &["configmap", "secret", "service", "deployment"][..]),
    ] {
        let rendered = Command::new("kubectl")
            .arg("kustomize")
            .arg(root().join("k8s").join(overlay))
            .output()
            .expect("kubectl (./test installs it)");
        assert!(rendered.status.success(), "{overlay}: {}", String::from_utf8_lossy(&rendered.stderr));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &rendered.stdout).unwrap();
        let checked = Command::new(&validate).args(["--strict", "-k", "1.37.0"]).arg(file.path()).output().unwrap();
        let report = String::from_utf8_lossy(&checked.stdout).to_string() + &String::from_utf8_lossy(&checked.stderr);
        assert!(checked.status.success(), "{overlay}: {report}");
        for kind in kinds {
            assert!(
                report.contains(&format!("passed for resource {kind}/")),
                "{overlay}: no {kind} validated\n{report}"
            );
        }
    }
}

#[test]
fn every_shipped_configuration_loads() {
    for file in
        ["k8s/base/gateway.toml", "deploy/compose/gateway.toml", "deploy/container/gateway.toml", "conf/gateway.toml"]
    {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let loaded = immich_mcp_gateway::config::load_str(&text, file, Vec::new());
        assert!(loaded.is_ok(), "{file}: {}", loaded.err().map(|e| e.to_string()).unwrap_or_default());
    }
}

#[test]
fn the_compose_file_parses() {
    let check = "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert 'immich-mcp-gateway' in d['services']";
    let output = common::python_with("yaml")
        .args(["-c", check])
        .arg(root().join("deploy/compose/immich-mcp-gateway.yml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
