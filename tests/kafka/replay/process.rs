//! `provisioner replay` as a process: killed with SIGKILL mid-replay then
//! run again, and the command line's one-line errors.

use std::collections::BTreeMap;
use std::process::Stdio;

use provisioner::replay::{self, Options, ReplayError};
use rdkafka::message::Message;

use super::support::*;
use crate::harness::*;

/// `provisioner --config <path> replay <args>`, stdout and stderr to files.
fn replay_process(
    config_path: &std::path::Path,
    args: &[&str],
    out: &std::path::Path,
) -> std::process::Child {
    binary()
        .arg("--config")
        .arg(config_path)
        .arg("replay")
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.with_extension("out")).expect("stdout file"))
        .stderr(std::fs::File::create(out.with_extension("err")).expect("stderr file"))
        .spawn()
        .expect("start provisioner replay")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_killed_mid_way_and_run_again_publishes_each_record_once() {
    let config = config(3);
    let servers = config.kafka.bootstrap_servers.clone();
    create_topics(&config).await;
    let slack = config.topics.commands("slack");
    // 300 commands of 50 employees, 6 generations each, in order.
    let total = 300;
    let records: Vec<DeadLetter> = (0..total)
        .map(|i| {
            let employee = format!("E{:03}", i % 50);
            let mut r = DeadLetter::command(&config, "slack", &employee, (i / 50 + 1) as u64);
            r.original_partition = (i % 50 % 3) as i32;
            r.original_offset = i as i64;
            r
        })
        .collect();
    produce_dead_letters(&servers, &config.topics.commands_dlq, &records).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&config, dir.path());
    let dlq = config.topics.commands_dlq.as_str();

    // 50 a second: a few seconds in all. Killed once some batches committed.
    let mut first = replay_process(
        &path,
        &["--from", dlq, "--rate", "50"],
        &dir.path().join("first"),
    );
    wait_records(&servers, &slack, 50).await;
    first.kill().expect("kill -9");
    first.wait().expect("reap");
    let before = read_all(&servers, &slack).len();
    assert!(
        before >= 50 && before < total,
        "killed after {before} of {total}"
    );
    eprintln!("killed after {before} of {total} records were re-published");

    let prom = dir.path().join("replay.prom");
    let prom_arg = prom.to_string_lossy().into_owned();
    let rerun = replay_process(
        &path,
        &["--from", dlq, "--metrics-file", &prom_arg],
        &dir.path().join("rerun"),
    );
    let status = tokio::task::spawn_blocking(move || rerun.wait_with_output().expect("rerun"))
        .await
        .expect("rerun thread")
        .status;
    let stdout = std::fs::read_to_string(dir.path().join("rerun.out")).unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("rerun.err")).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        stdout,
        format!(
            "replayed {}, skipped 0 (superseded 0, filtered 0)\n",
            total - before
        )
    );

    // The counts for node_exporter's textfile collector: this run's, valid
    // Prometheus text.
    let text = std::fs::read_to_string(&prom).expect("metrics file");
    assert!(
        text.contains(&format!(
            "provisioner_replayed_total{{topic=\"{slack}\"}} {}\n",
            total - before
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "provisioner_replay_last_success_timestamp_seconds{{from=\"{dlq}\"}}"
    )));
    let checked = tool("promtool", "Debian's `prometheus` package")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).expect("metrics file"))
        .output()
        .expect("run promtool");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let sent = read_all(&servers, &slack);
    let counts = count_by_value(&servers, &slack);
    assert_eq!(
        sent.len(),
        total,
        "{} records for {total} dead letters",
        sent.len()
    );
    for r in &records {
        assert_eq!(
            counts.get(&r.value),
            Some(&1),
            "original offset {}",
            r.original_offset
        );
    }
    // One employee's commands in their order, on their original partition.
    let mut generations: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for m in &sent {
        let key = m.key().unwrap().to_vec();
        let employee: usize = String::from_utf8_lossy(&key[1..]).parse().unwrap();
        assert_eq!(m.partition(), (employee % 3) as i32);
        generations
            .entry(key)
            .or_default()
            .push(json(m)["generation"].as_u64().unwrap());
    }
    for (key, g) in &generations {
        assert_eq!(g, &[1, 2, 3, 4, 5, 6], "{}", String::from_utf8_lossy(key));
    }

    let third = replay_process(&path, &["--from", dlq], &dir.path().join("third"));
    let status = tokio::task::spawn_blocking(move || third.wait_with_output().expect("third"))
        .await
        .expect("third thread")
        .status;
    assert!(status.success());
    let stdout = std::fs::read_to_string(dir.path().join("third.out")).unwrap();
    assert_eq!(stdout, "replayed 0, skipped 0 (superseded 0, filtered 0)\n");
    delete_topics(&config, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sources_and_arguments_are_one_clear_error() {
    let mut config = config(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&config, dir.path());
    let run = |args: &[&str], name: &str| {
        let child = replay_process(&path, args, &dir.path().join(name));
        let status = child.wait_with_output().expect("run").status;
        let stderr = std::fs::read_to_string(dir.path().join(name).with_extension("err")).unwrap();
        let stdout = std::fs::read_to_string(dir.path().join(name).with_extension("out")).unwrap();
        (status.code(), stderr, stdout)
    };
    let dlq = config.topics.commands_dlq.clone();

    let (code, stderr, _) = run(&["--from", &dlq, "--since", "yesterday"], "since");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("'yesterday' for '--since <RFC3339>': not an RFC 3339 time"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("yesterday").count(), 1, "{stderr}");
    let (code, stderr, _) = run(&["--from", &dlq, "--error-kind", "oops"], "kind");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("'oops' for '--error-kind <KIND>': not a dead-letter kind"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("oops").count(), 1, "{stderr}");
    let window = [
        "--from",
        &dlq,
        "--since",
        "2026-11-26T10:00:00Z",
        "--until",
        "2026-11-26T09:00:00Z",
    ];
    let (code, stderr, _) = run(&window, "window");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not before --until"), "{stderr}");

    let results = config.topics.results.clone();
    let (code, stderr, stdout) = run(&["--from", &results], "results");
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!(
            "error: --from {results}: not a dead-letter topic of this configuration \
             (topics.events_dlq = {}, topics.commands_dlq = {dlq})",
            config.topics.events_dlq
        )
    );
    // Nothing was created: the dead-letter topic does not exist yet.
    let (code, stderr, _) = run(&["--from", &dlq], "missing");
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!("error: topic {dlq} does not exist on the broker")
    );

    // In-process: the same errors as values.
    config.kafka.bootstrap_servers = format!("127.0.0.1:{}", closed_port());
    let error = tokio::task::spawn_blocking(move || {
        let metrics = provisioner::metrics::Metrics::new();
        replay::run(&config, &Options::new(dlq), &metrics, &mut Vec::new()).unwrap_err()
    })
    .await
    .unwrap();
    assert!(matches!(error, ReplayError::Setup(_)), "{error}");
    assert!(error.to_string().contains("is unreachable"), "{error}");
}

/// A dead letter whose key and headers hold ESC sequences, BEL and a
/// newline: the dry-run table shows them escaped, one row per record, and
/// sends the terminal no control character.
#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_table_escapes_control_characters() {
    let config = config(1);
    let servers = config.kafka.bootstrap_servers.clone();
    create_topics(&config).await;
    let mut hostile = DeadLetter::command(&config, "slack", "E1", 1);
    hostile.key = "E1\u{1b}[2J\u{7}\nE2".into();
    hostile.kind = "permanent\u{1b}[31m";
    hostile.app = Some("sl\u{1b}]0;owned\u{7}ack".into());
    hostile.failed_at = "2026-11-26\nT09".into();
    produce_dead_letters(&servers, &config.topics.commands_dlq, &[hostile]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&config, dir.path());
    let dlq = config.topics.commands_dlq.clone();
    let child = replay_process(
        &path,
        &["--from", &dlq, "--dry-run"],
        &dir.path().join("dry"),
    );
    let status = child.wait_with_output().expect("run").status;
    let stdout = std::fs::read_to_string(dir.path().join("dry.out")).expect("stdout");
    assert_eq!(status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "header, one row, summary: {stdout:?}");
    assert!(
        !stdout.replace('\n', "").chars().any(char::is_control),
        "{stdout:?}"
    );
    let row = lines[1];
    for shown in [
        "E1\\x1b[2J\\x07\\nE2",
        "permanent\\x1b[31m",
        "sl\\x1b]0;owned\\x07ack",
        "2026-11-26\\nT09",
    ] {
        assert!(row.contains(shown), "{shown} not in {row}");
    }
    delete_topics(&config, &[]).await;
}
