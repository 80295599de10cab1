//! The binary's command line (CONTRACT §1): exit codes and messages that name
//! the file, key and value at fault.

use std::path::Path;
use std::process::Output;

mod support;

use support::process::{binary, root};
use support::tools::tool;

fn provisioner(args: &[&str]) -> Output {
    binary().args(args).output().expect("run provisioner")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("provisioner.toml");
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn example_rules_check_passes() {
    let out = provisioner(&["rules", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("rules valid"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn unknown_config_key_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[kafka]\nbootstrap = \"x:1\"\n");
    let out = provisioner(&["--config", &config, "rules", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&config) && err.contains("bootstrap"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
}

#[test]
fn bad_config_value_names_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[apps.slack]\nconnector = \"scim\"\nbase_url = \"ftp://x\"\nroles = [\"member\"]\n",
    );
    let out = provisioner(&["--config", &config, "engine"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&config) && err.contains("apps.slack.base_url") && err.contains("ftp://x"),
        "{err}"
    );
}

#[test]
fn rules_publish_needs_a_message_and_rules_source_a_known_value() {
    let out = provisioner(&["rules", "publish", "--rules", "config/rules"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        text(&out.stderr).contains("--message"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[rules]\nsource = \"git\"\n");
    let out = provisioner(&["--config", &config, "rules", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&config) && err.contains("git") && err.contains("kafka"),
        "{err}"
    );
}

#[test]
fn missing_config_file_is_named() {
    let out = provisioner(&["--config", "no/such.toml", "rules", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no/such.toml"));
}

#[test]
fn broken_rules_exit_one_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "name: Bad\ntarget: { field: team, op: equals, value: x }\napps:\n  slack: { role: member }\n",
    )
    .unwrap();
    let rules = dir.path().to_string_lossy().into_owned();
    let out = provisioner(&["rules", "check", "--rules", &rules]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("bad.yaml:2:"), "{report}");
    assert!(report.contains("equals"), "{report}");
}

#[test]
fn unreachable_broker_at_start_up_is_a_user_error() {
    // Any free port for /metrics: the default one may be taken on a shared
    // machine (a demo running), which would be another error.
    let out = binary()
        .args(["engine", "--metrics-addr", "127.0.0.1:0"])
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("127.0.0.1:1") && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(provisioner(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(provisioner(&["connector"]).status.code(), Some(2));
}

#[test]
fn preview_json_of_the_samples() {
    let out = provisioner(&[
        "rules",
        "preview",
        "--employees",
        "config/samples/employees.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["employee_id"], "E1001");
    assert_eq!(lines[0]["apps"]["zendesk"]["role"], "light_agent");
    assert_eq!(
        lines[0]["apps"]["zendesk"]["rules"],
        serde_json::json!(["Dev Team"])
    );
    assert_eq!(
        lines[1]["apps"]["zendesk"]["role"], "admin",
        "the lead's most privileged role"
    );
    assert!(
        lines[3]["apps"].get("zendesk").is_none(),
        "contractors excluded"
    );
}

/// What a run under a memory cap gave: exit code (None when killed by a
/// signal, as an allocation failure's abort is), output and peak RSS.
struct Capped {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_rss_kb: u64,
}

/// Address-space cap for hostile-input runs: a regression must fail fast,
/// not take the machine's memory (the alias bomb once grew past 16 GB).
const CAP_BYTES: u64 = 2_000_000_000;

/// Runs the binary with `args` under [`CAP_BYTES`] (and a 60 s timeout),
/// measuring the child's peak RSS with `getrusage` — through `python3`,
/// which the ops tests already need, as std has no `setrlimit`/`getrusage`.
fn provisioner_capped(args: &[&str]) -> Capped {
    const RUN: &str = r#"
import json, resource, subprocess, sys
cap = int(sys.argv[1])
limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    p = subprocess.run(sys.argv[2:], capture_output=True, preexec_fn=limit, timeout=60)
    code, out, err = p.returncode, p.stdout, p.stderr
except subprocess.TimeoutExpired as e:
    code, out, err = None, e.stdout or b"", e.stderr or b"timed out"
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "stdout": out.decode(errors="replace"),
                  "stderr": err.decode(errors="replace"), "rss": rss}))
"#;
    let out = tool("python3", "Debian's `python3` package")
        .args([
            "-c",
            RUN,
            &CAP_BYTES.to_string(),
            env!("CARGO_BIN_EXE_provisioner"),
        ])
        .args(args)
        .current_dir(root())
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // A negative code is a signal (python's convention): no exit code.
    let code = report["code"].as_i64().filter(|c| *c >= 0);
    Capped {
        code: code.map(|c| c as i32),
        stdout: report["stdout"].as_str().unwrap().to_string(),
        stderr: report["stderr"].as_str().unwrap().to_string(),
        peak_rss_kb: report["rss"].as_u64().unwrap(),
    }
}

/// Peak memory allowed for a refused hostile rules file (issue #11).
const MAX_RSS_KB: u64 = 100 * 1024;

/// A rules directory holding the alias bomb fixture.
fn bomb_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bomb = root().join("tests/fixtures/rules/alias_bomb/bomb.yaml");
    std::fs::copy(bomb, dir.path().join("bomb.yaml")).unwrap();
    dir
}

/// The bomb's problem as `rules check` and the engine print it.
fn bomb_problem(dir: &Path) -> String {
    format!(
        "{}:7: YAML anchors and aliases copy more than 10000 nodes, the limit for one rule file",
        dir.join("bomb.yaml").display()
    )
}

#[test]
fn rules_check_refuses_the_alias_bomb_in_bounded_memory() {
    let dir = bomb_dir();
    let rules = dir.path().to_string_lossy().into_owned();
    let run = provisioner_capped(&["rules", "check", "--rules", &rules]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&bomb_problem(dir.path())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("each alias is a full copy"),
        "{}",
        run.stdout
    );
    assert!(
        run.peak_rss_kb < MAX_RSS_KB,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}

#[test]
fn rules_check_refuses_a_file_over_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MiB of comments: harmless YAML, but over the limit of one rule file.
    let line = format!("#{}\n", "x".repeat(1022));
    std::fs::write(dir.path().join("big.yaml"), line.repeat(2048)).unwrap();
    let rules = dir.path().to_string_lossy().into_owned();
    let run = provisioner_capped(&["rules", "check", "--rules", &rules]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let want = format!(
        "{}:0: the rule file is 2097152 bytes, over the limit of 1048576 bytes (1 MiB) for one \
         rule file; split it into several files",
        dir.path().join("big.yaml").display()
    );
    assert_eq!(run.stdout.trim(), want);
    assert!(
        run.peak_rss_kb < MAX_RSS_KB,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}

#[test]
fn rules_check_refuses_nesting_too_deep() {
    let dir = tempfile::tempdir().unwrap();
    // Half a million nested lists in 1 MB: once a stack overflow.
    std::fs::write(
        dir.path().join("deep.yaml"),
        format!("{}x\n", "- ".repeat(500_000)),
    )
    .unwrap();
    let rules = dir.path().to_string_lossy().into_owned();
    let run = provisioner_capped(&["rules", "check", "--rules", &rules]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let want = format!(
        "{}:1: lists and mappings are nested more than 64 levels deep, the limit for a rule file",
        dir.path().join("deep.yaml").display()
    );
    assert_eq!(run.stdout.trim(), want);
    assert!(
        run.peak_rss_kb < MAX_RSS_KB,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}

#[test]
fn engine_start_up_refuses_the_alias_bomb_in_bounded_memory() {
    // Rules are loaded before any broker contact: nothing listens on port 1.
    let dir = bomb_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "[kafka]\nbootstrap_servers = \"127.0.0.1:1\"\n\n[rules]\npath = {:?}\n\n\
             [apps.slack]\nconnector = \"scim\"\nbase_url = \"http://127.0.0.1:8080\"\n\
             roles = [\"member\"]\n",
            dir.path().display().to_string()
        ),
    );
    let run = provisioner_capped(&["--config", &config, "engine"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(&bomb_problem(dir.path())),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("unreachable"), "{}", run.stderr);
    assert!(
        run.peak_rss_kb < MAX_RSS_KB,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}

/// The `error:` line(s) of a failed run (librdkafka's own log lines, also on
/// stderr, are not the message).
fn error_message(out: &Output) -> String {
    let err = text(&out.stderr);
    let start = err
        .find("error: ")
        .unwrap_or_else(|| panic!("no error line in {err}"));
    err[start..].to_string()
}

#[test]
fn a_missing_config_file_says_why_once() {
    let out = provisioner(&["--config", "no/such.toml", "rules", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = error_message(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(err.matches("no/such.toml").count(), 1, "{err}");
}

#[test]
fn an_unreachable_broker_is_said_once() {
    let out = binary()
        .args(["engine", "--metrics-addr", "127.0.0.1:0"])
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = error_message(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(err.matches("BrokerTransportFailure").count(), 1, "{err}");
    assert_eq!(err.matches("Meta data fetch error").count(), 1, "{err}");
}

#[test]
fn a_missing_rules_directory_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("no-rules");
    let config = write_config(
        dir.path(),
        &format!("[rules]\npath = {:?}\n", rules.display().to_string()),
    );
    for args in [
        vec![
            "--config",
            &config,
            "engine",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        vec!["--config", &config, "rules", "preview", "--employees", "x"],
    ] {
        let out = provisioner(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = error_message(&out);
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
        assert_eq!(err.matches("cannot read the rules directory").count(), 1);
    }
}

#[test]
fn a_bad_replay_argument_names_flag_and_value_once() {
    for (flag, value, why) in [
        ("--since", "yesterday", "not an RFC 3339 time"),
        ("--error-kind", "oops", "not a dead-letter kind"),
        ("--rate", "0", "not a positive number"),
    ] {
        let out = provisioner(&["replay", "--from", "x", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = text(&out.stderr);
        assert!(err.contains(why), "{err}");
        assert_eq!(err.matches(&format!("'{value}'")).count(), 1, "{err}");
        assert_eq!(err.matches(flag).count(), 1, "{err}");
    }
}

#[test]
fn a_connector_without_its_token_names_app_and_variable_once() {
    let out = binary()
        .args([
            "connector",
            "--app",
            "slack",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env_remove("SLACK_SCIM_TOKEN")
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = error_message(&out);
    assert_eq!(err.matches("slack").count(), 1, "{err}");
    assert_eq!(err.matches("SLACK_SCIM_TOKEN").count(), 1, "{err}");
}

#[test]
fn held_commands_with_an_unreachable_broker_say_so() {
    let list = binary()
        .args(["held", "list"])
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(list.status.code(), Some(1));
    let err = error_message(&list);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(
        !err.contains("UnknownTopic"),
        "names the wrong cause: {err}"
    );
    // A release gives up after its send timeout instead of librdkafka's five
    // minutes (the test's own deadline is the harness's).
    let release = binary()
        .args(["held", "release", "--all"])
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(release.status.code(), Some(1));
    assert!(error_message(&release).contains("cannot write to"));
}

#[test]
fn schedule_list_with_an_unreachable_broker_says_so() {
    let out = binary()
        .args(["schedule", "list"])
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = error_message(&out);
    // The sample configuration reads the rules from the store
    // (`rules.source = "kafka"`): the first thing it cannot read.
    assert!(
        err.starts_with("error: cannot read provisioning.rules"),
        "{err}"
    );
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

/// A rules directory holding one rule file of just under 1 MiB whose target
/// is `any` of one `{ field: id, op: matches, value: 'PATTERN' }` per line
/// from line 4; returns it and the number of leaves.
fn regex_bomb_dir(pattern: &str) -> (tempfile::TempDir, usize) {
    let head = "name: Regex bomb\ntarget:\n  any:\n";
    let tail = "apps:\n  slack: { role: member }\n";
    let leaf = format!("    - {{ field: id, op: matches, value: '{pattern}' }}\n");
    let leaves = (1_048_576 - head.len() - tail.len()) / leaf.len();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bomb.yaml"),
        format!("{head}{}{tail}", leaf.repeat(leaves)),
    )
    .unwrap();
    (dir, leaves)
}

#[test]
fn rules_check_refuses_the_regex_bomb_in_bounded_memory() {
    // ~20,000 copies of a 7-byte regex that compiles to 5.6 MB: once 1.8 GB
    // and over a minute. Built once, refused once, reported at every leaf.
    let (dir, leaves) = regex_bomb_dir(r"\w{100}");
    let rules = dir.path().to_string_lossy().into_owned();
    let run = provisioner_capped(&["rules", "check", "--rules", &rules]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let first = format!(
        r#"{}:4: regex "\\w{{100}}" compiles to more than 1048576 bytes (1 MiB), the limit for one regex"#,
        dir.path().join("bomb.yaml").display()
    );
    assert!(
        run.stdout.starts_with(&first),
        "{}",
        run.stdout.lines().next().unwrap_or_default()
    );
    assert_eq!(run.stdout.lines().count(), leaves);
    assert!(
        run.peak_rss_kb < MAX_RSS_KB,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}

#[test]
fn rules_check_accepts_a_shared_regex_repeated_in_bounded_memory() {
    // ~21,000 copies of a half-megabyte regex: 11 GB if each were built.
    let (dir, _) = regex_bomb_dir(r"\w{10}");
    let rules = dir.path().to_string_lossy().into_owned();
    let run = provisioner_capped(&["rules", "check", "--rules", &rules]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("1 rules valid"), "{}", run.stdout);
    assert!(
        run.peak_rss_kb < MAX_RSS_KB,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}
