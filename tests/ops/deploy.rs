//! The files under `deploy/`: Kubernetes manifests parse, build with
//! kustomize and validate against the Kubernetes schemas (both tools
//! installed by `deploy/local/tools.sh`; missing, the test fails), their
//! configuration and rules are valid, the alert rules pass `promtool check` and `promtool test`, the
//! dashboard is sound JSON. (That every metric they name exists is checked
//! against a real scrape in `scrape.rs`.)

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::env::{binary, root};
use crate::support::tools::tool;

/// Every `provisioner_*` series name in a text (PromQL in JSON or YAML).
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"provisioner_[a-z0-9_]+").expect("regex");
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// Whether a scrape serves `name`: a family of that name, or its `_total`
/// samples (counters), or its `_bucket`/`_sum`/`_count` (histograms).
pub fn scraped(scrape: &str, name: &str) -> bool {
    let family = ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    let declared = scrape.contains(&format!("# TYPE {name} "))
        || scrape.contains(&format!("# TYPE {family} "));
    let has_samples = scrape
        .lines()
        .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
    declared && has_samples
}

/// Every file parses as YAML with at least one document (saphyr, the YAML
/// 1.2 parser the rules loader uses: no Python needed).
fn yaml_check(files: &[&Path]) {
    use saphyr::{LoadableYamlNode, Yaml};
    for file in files {
        let text = std::fs::read_to_string(file).expect("read yaml");
        let docs = Yaml::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{}: YAML does not parse: {e}", file.display()));
        assert!(!docs.is_empty(), "{}: empty", file.display());
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_deploy_yaml_file_parses() {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    yaml_check(&refs);
}

#[test]
fn the_kustomize_base_builds_and_keeps_its_promises() {
    let base = root().join("deploy/k8s/base");
    let text: String = ["engine.yaml", "connector-slack.yaml", "kustomization.yaml"]
        .iter()
        .map(|f| std::fs::read_to_string(base.join(f)).expect(f))
        .collect();
    for needle in [
        "kind: StatefulSet",
        "name: PROVISIONER_INSTANCE_ID",
        "fieldPath: metadata.name",
        "path: /healthz",
        "path: /readyz",
        "secretKeyRef:",
        "kind: PodDisruptionBudget",
        "configMapGenerator:",
        "publishNotReadyAddresses: true",
        "limits:",
    ] {
        assert!(text.contains(needle), "deploy/k8s/base lacks {needle:?}");
    }
    let monitor = std::fs::read_to_string(base.join("servicemonitor.yaml")).expect("monitor");
    assert!(monitor.contains("apiVersion: monitoring.coreos.com/v1"));
    let built = kustomize_build(&base);
    for kind in [
        "StatefulSet",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "ConfigMap",
    ] {
        assert!(built.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    assert!(
        !built.contains("name: provisioner-rules\n"),
        "no rules ConfigMap: the engines follow the rules store"
    );
    let config = std::fs::read_to_string(base.join("provisioner.toml")).expect("config");
    assert!(
        config.contains("source = \"kafka\""),
        "the base reads its rules from the store"
    );
}

/// `kustomize build <dir>`: the manifests as one YAML stream.
fn kustomize_build(dir: &Path) -> String {
    let out = tool("kustomize", "built from its Go module into .local/bin")
        .arg("build")
        .arg(dir)
        .output()
        .expect("run kustomize");
    assert!(
        out.status.success(),
        "kustomize build {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 manifests")
}

/// The resources the Kubernetes schemas cannot know: custom resources of
/// operators (checked by hand below).
const CUSTOM_KINDS: &[&str] = &["ServiceMonitor"];

#[test]
fn the_built_manifests_validate_against_the_kubernetes_schemas() {
    let built = kustomize_build(&root().join("deploy/k8s/base"));
    let mut child = tool("kubernetes-validate", "PyPI, in the venv .local/k8s/venv")
        // Strict: a misspelt or misplaced field is an error, not ignored.
        .args(["--strict", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubernetes-validate");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(built.as_bytes())
        .expect("write manifests");
    let out = child.wait_with_output().expect("kubernetes-validate");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "manifests do not validate:\n{report}");
    // Every built resource was validated, except the custom ones.
    let resources = built.matches("\nkind: ").count() + usize::from(built.starts_with("kind: "));
    let passed = report.matches(" passed for resource ").count();
    assert_eq!(
        passed + CUSTOM_KINDS.len(),
        resources,
        "not every resource was validated:\n{report}"
    );
    for kind in CUSTOM_KINDS {
        assert!(
            report.contains(&format!("Couldn't find schema for kind {kind} ")),
            "{report}"
        );
    }
    // The ServiceMonitor, by hand: it selects the Services and scrapes their
    // metrics port.
    let monitor = std::fs::read_to_string(root().join("deploy/k8s/base/servicemonitor.yaml"))
        .expect("monitor");
    for needle in [
        "apiVersion: monitoring.coreos.com/v1",
        "matchLabels:",
        "app.kubernetes.io/name: provisioner",
        "- port: metrics",
        "path: /metrics",
    ] {
        assert!(
            monitor.contains(needle),
            "servicemonitor.yaml lacks {needle:?}"
        );
    }
}

#[test]
fn the_kubernetes_configuration_and_rules_are_valid() {
    let base = root().join("deploy/k8s/base");
    let out = binary()
        .arg("--config")
        .arg(base.join("provisioner.toml"))
        .args(["rules", "check", "--rules"])
        .arg(base.join("rules"))
        .output()
        .expect("provisioner");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn promtool(args: &[&str]) -> String {
    let out = tool("promtool", "Debian's `prometheus` package")
        .args(args)
        .current_dir(root().join("deploy/prometheus"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has at least one test that expects it to fire.
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).expect("rules");
    let tests =
        std::fs::read_to_string(root().join("deploy/prometheus/alerts_test.yml")).expect("tests");
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {line}")),
            "no test for {line}"
        );
    }
}

#[test]
fn the_dashboard_is_valid_and_covers_the_pipeline() {
    let text =
        std::fs::read_to_string(root().join("deploy/grafana/provisioner.json")).expect("dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let names = metric_names(&text);
    for wanted in [
        "provisioner_events_consumed_total",
        "provisioner_consumer_lag",
        "provisioner_commands_emitted_total",
        "provisioner_connector_request_seconds_bucket",
        "provisioner_connector_retries_total",
        "provisioner_commands_dead_lettered_total",
        "provisioner_deprovisions_held",
        "provisioner_rules_version_info",
        "provisioner_timers_pending",
        "provisioner_timers_fired_total",
        "provisioner_timer_delay_seconds_bucket",
        "provisioner_reconcile_accounts",
        "provisioner_reconcile_last_success_timestamp_seconds",
    ] {
        assert!(names.contains(wanted), "dashboard lacks {wanted}");
    }
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().expect("id")),
            "duplicate panel id"
        );
    }
}

#[test]
fn the_dockerfile_copies_what_exists() {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    assert!(text.contains("FROM rust:1-bookworm AS builder"));
    assert!(text.contains("FROM debian:bookworm-slim"));
    assert!(text.contains("ENTRYPOINT [\"provisioner\"]"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("USER ") && !l.contains("root")));
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(root().join(source).exists(), "COPY source {source} missing");
        }
    }
}
