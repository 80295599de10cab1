//! Publishing: invalid sets never written, a concurrent publish refused,
//! a dry run's impact over a known population, history, show and diff.

use super::*;

const RULES_UNKNOWN_APP: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    github: { provisioning: true, role: member }
"#;

/// Support loses Slack; Dev Team becomes Slack admins.
const RULES_SUPPORT_LOSES_SLACK: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    zendesk: { provisioning: true, role: light_agent }
    slack: { provisioning: true, role: admin }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { provisioning: true, role: agent }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_rule_set_is_refused_and_nothing_is_written() {
    let store = Store::new(1);
    let dir = store.rules_dir("bad", RULES_UNKNOWN_APP);
    let out = store.cli(&[
        "rules",
        "publish",
        "--rules",
        &dir.to_string_lossy(),
        "--message",
        "x",
    ]);
    let stderr = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rules.yaml:5: "),
        "names file and line: {stderr}"
    );
    assert!(stderr.contains("github"), "{stderr}");
    assert!(stderr.contains("nothing was published"), "{stderr}");
    assert_eq!(store.stored_records(), 0, "nothing on the rules topic");

    // Also over a valid version: the refusal leaves the history as it was.
    let v1 = store.publish("v1", RULES, "first");
    let out = store.cli(&[
        "rules",
        "publish",
        "--rules",
        &dir.to_string_lossy(),
        "--message",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let history = text_of(&store.cli(&["rules", "history"]).stdout);
    assert_eq!(history.lines().count(), 2, "a header and v1: {history}");
    assert!(history.contains(&v1));
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_is_refused_when_someone_published_since_it_started() {
    use provisioner::engine::publish::{self, Draft, PublishError};
    use provisioner::rules::store::WriteError;
    let store = Store::new(1);
    let v1 = store.publish("v1", RULES, "first");
    // Our publish reads the latest version (v1) and simulates…
    let dir = store.rules_dir("ours", RULES_ADMINS);
    let draft = Draft::from_dir(&dir, "us".into(), "ours".into()).expect("draft");
    let ours = publish::plan(&store.config, draft, chrono::Utc::now()).expect("plan");
    assert_eq!(
        ours.current
            .as_ref()
            .map(|c| c.revision.version.to_string()),
        Some(v1.clone())
    );
    // …meanwhile someone else publishes.
    let theirs = store.publish("theirs", RULES_SUPPORT_LOSES_SLACK, "theirs");
    let Err(PublishError::Write(error)) = publish::commit(&store.config, &ours).await else {
        panic!("our publish was not refused");
    };
    let WriteError::Moved {
        expected, found, ..
    } = &*error
    else {
        panic!("refused for another reason: {error}");
    };
    assert_eq!((expected, found), (&v1, &theirs));
    let message = error.to_string();
    assert!(
        message.contains(&v1) && message.contains(&theirs),
        "{message}"
    );
    assert_eq!(store.stored_records(), 2, "v1 and theirs");
    let history = text_of(&store.cli(&["rules", "history"]).stdout);
    assert!(
        !history.contains(&ours.revision.version.to_string()),
        "{history}"
    );
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_prints_the_impact_over_the_population_and_writes_nothing() {
    let mut store = Store::new(2);
    // The population: an engine on the directory source decides it.
    let rules_dir = store.rules_dir("v1", RULES);
    store.config.rules.source = provisioner::config::RulesSource::Dir;
    store.config.rules.path = rules_dir.clone();
    let dir_file = write_config(&store.config, &store.dir.path().join("v1"));
    let engine = EngineProcess::spawn(&dir_file, "dir-engine", &store.log("dir-engine"));
    let who = [
        ("E1", "Development"),
        ("E2", "Development"),
        ("E3", "Support"),
        ("E4", "Sales"),
    ];
    store.hire(&who, 4).await;
    engine.terminate().await;
    let v1 = store.publish("v1-store", RULES, "as the engine runs");

    let dir = store.rules_dir("v2", RULES_SUPPORT_LOSES_SLACK);
    let out = store.cli(&[
        "rules",
        "publish",
        "--rules",
        &dir.to_string_lossy(),
        "--message",
        "support off slack",
        "--dry-run",
    ]);
    let stdout = text_of(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text_of(&out.stderr));
    let expected = [
        format!(
            "version {}: replacing {v1} (latest on {})",
            version_of(RULES_SUPPORT_LOSES_SLACK),
            store.config.topics.rules
        ),
        "rules changed: \"Dev Team\", \"Support\"".to_string(),
        "impact over 4 employees:".to_string(),
        "  slack: +0 gained, -1 lost, 2 role changed".to_string(),
        "    lost: E3".to_string(),
        "    role changed: E1, E2".to_string(),
        "dry run: nothing written".to_string(),
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");
    assert_eq!(store.stored_records(), 1, "only v1");
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_show_and_diff_print_the_right_entries() {
    let store = Store::new(1);
    let v1 = store.publish("v1", RULES, "first");
    // A record that is not a revision (written by hand) is skipped by readers.
    let (servers, topic) = (
        &store.config.kafka.bootstrap_servers,
        &store.config.topics.rules,
    );
    produce(servers, topic, &[(Some("x"), b"not a revision".to_vec())]).await;
    let v2 = store.publish("v2", RULES_ADMINS, "devs administer slack");
    let v3 = store.publish("v3", RULES_SUPPORT_LOSES_SLACK, "support off slack");

    let out = store.cli(&["rules", "history"]);
    let history = text_of(&out.stdout);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 4, "{history}");
    assert!(
        lines[0].starts_with("VERSION") && lines[0].contains("AUTHOR"),
        "{history}"
    );
    for (line, (version, message)) in lines[1..].iter().zip([
        (&v3, "support off slack"),
        (&v2, "devs administer slack"),
        (&v1, "first"),
    ]) {
        assert!(
            line.starts_with(version.as_str()),
            "newest first: {history}"
        );
        assert!(line.contains("tester") && line.ends_with(message), "{line}");
    }

    let out = store.cli(&["rules", "diff", &v1, &v3]);
    let diff = text_of(&out.stdout);
    assert!(out.status.success(), "{diff}{}", text_of(&out.stderr));
    assert!(
        diff.starts_with("rules changed: \"Dev Team\", \"Support\"\n"),
        "{diff}"
    );
    let out = store.cli(&["rules", "diff", &v1, &v1[..16]]);
    assert!(
        text_of(&out.stdout).starts_with("rules: no rule changed"),
        "a prefix names v1"
    );

    let out_dir = store.dir.path().join("shown");
    let out = store.cli(&["rules", "show", &v2, "--out", &out_dir.to_string_lossy()]);
    let shown = text_of(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(&format!("replaces:     {v1}")), "{shown}");
    assert!(
        shown.contains("message:      devs administer slack"),
        "{shown}"
    );
    let files = std::fs::read_to_string(out_dir.join("rules.yaml")).expect("written");
    assert_eq!(files, RULES_ADMINS);
    let unknown = store.cli(&["rules", "show", "sha256:0000"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text_of(&unknown.stderr).contains("no version sha256:0000"));
    store.cleanup().await;
}
