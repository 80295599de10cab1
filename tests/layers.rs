//! Imports only go down (docs/ARCHITECTURE.md, "Layers"): a module of `src/`
//! may use modules of a lower layer, never one beside or above it. Read from
//! the source text, so a new upward import fails here, naming file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module's layer: higher layers use lower ones.
const LAYERS: &[(&str, u8)] = &[
    // Formats, config and plumbing that use nothing else of the crate...
    ("config", 0),
    ("ids", 0),
    ("metrics", 0),
    ("pii", 0),
    ("ratelimit", 0),
    ("sync", 0),
    ("text", 0),
    // ...formats and plumbing built on them...
    ("events", 1),
    ("dlq", 1),
    ("kafka", 1),
    // ...and what operators see, built on both; the date semantics, on
    // config and events, below the rules that preview them.
    ("telemetry", 2),
    ("lifecycle", 2),
    // The domain.
    ("commands", 3),
    ("results", 3),
    ("rules", 3),
    // What apps hold against what was decided, built on the commands.
    ("reconcile", 4),
    // The processes: none uses another.
    ("connector", 5),
    ("engine", 5),
    ("replay", 5),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_only_go_down() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        // `pii_tests.rs` and the like are their module's tests, included by `#[path]`.
        let name = first.as_os_str().to_string_lossy();
        let module = name
            .trim_end_matches(".rs")
            .trim_end_matches("_tests")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = layers.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module {module} has no layer in tests/layers.rs",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read");
        for (n, line) in text.lines().enumerate() {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if used == module || used.is_empty() {
                    continue;
                }
                match layers.get(used.as_str()) {
                    Some(&layer) if layer < own => {}
                    Some(_) => wrong.push(format!(
                        "{}:{}: {module} (layer {own}) uses {used}, which is not below it",
                        rel.display(),
                        n + 1
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not go down:\n{}",
        wrong.join("\n")
    );
    // Every module on disk has a layer, and every layer names a module.
    for (module, _) in LAYERS {
        let exists = src.join(format!("{module}.rs")).is_file() || src.join(module).is_dir();
        assert!(
            exists,
            "tests/layers.rs names {module}, which src/ does not have"
        );
    }
}
