//! The layering of the crate, checked: every `crate::…` path in a module's source names a module
//! of the same layer or one below it, and no two modules import each other (directly or round a
//! loop). A new import that breaks this fails the test with the file that made it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and its layer, lowest first.
const LAYERS: &[(&str, u8)] = &[
    ("config", 0),
    ("calendar", 0),
    ("telemetry", 1),
    ("shutdown", 1),
    ("bounded", 1),
    ("immich", 2),
    ("auth", 2),
    ("stream", 2),
    ("connection", 2),
    ("reply", 2),
    ("html", 2),
    ("ratelimit", 2),
    ("demo", 2),
    ("mcp", 3),
    ("tools", 4),
    ("runtime", 5),
    ("oauth", 5),
    ("gateway", 6),
    ("server", 7),
    ("cli", 7),
    ("stdio", 7),
    ("fuzzing", 7),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The top-level module a file under `src/` belongs to.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::<module>` a source text names.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(relative) else { continue };
        if ["lib", "main", "architecture"].contains(&module.as_str()) {
            continue;
        }
        let Some(own) = layer(&module) else {
            problems.push(format!("{}: module `{module}` has no layer in architecture::LAYERS", relative.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source");
        for imported in imports(&text) {
            if imported == module {
                continue;
            }
            match layer(&imported) {
                Some(theirs) if theirs > own => problems.push(format!(
                    "{}: `{module}` (layer {own}) imports `{imported}` (layer {theirs}), which is above it",
                    relative.display()
                )),
                Some(_) => {
                    graph.entry(module.clone()).or_default().insert(imported);
                }
                None => {}
            }
        }
    }
    // No loops among modules of the same layer either.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        problems: &mut Vec<String>,
    ) {
        if let Some(start) = path.iter().position(|n| n == node) {
            problems.push(format!("import loop: {} -> {node}", path[start..].join(" -> ")));
            return;
        }
        if !done.insert(node.to_string()) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, problems);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut problems);
    }
    assert!(problems.is_empty(), "the layering is broken:\n{}", problems.join("\n"));
}

#[test]
fn the_check_sees_imports_and_loops() {
    let text = "use crate::config::Config;\nfn f() { crate::telemetry::metrics(); }\n// crate::";
    assert_eq!(imports(text), ["config", "telemetry"].iter().map(|s| s.to_string()).collect());
    assert_eq!(module_of(Path::new("mcp/transport/mod.rs")).as_deref(), Some("mcp"));
    assert_eq!(module_of(Path::new("reply.rs")).as_deref(), Some("reply"));
}
