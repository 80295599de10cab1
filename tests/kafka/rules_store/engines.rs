//! Engines following the store: every instance applies a publish, a version
//! published while all were down is applied at restart, a rollback restores
//! the old behaviour with exactly the diff.

use super::*;

const RULES_CHANGED: &str = "provisioner.rules.changed";

/// Dev Team gets Slack as admins and Zendesk as agents.
const RULES_AGENTS: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    zendesk: { provisioning: true, role: agent }
    slack: { provisioning: true, role: admin }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { provisioning: true, role: agent }
    slack: { provisioning: true, role: member }
"#;

/// Developers whose ids hash to every partition of a 4-partition topic.
const DEVS: [(&str, &str); 8] = [
    ("D1", "Development"),
    ("D2", "Development"),
    ("D3", "Development"),
    ("D4", "Development"),
    ("D5", "Development"),
    ("D6", "Development"),
    ("D7", "Development"),
    ("D8", "Development"),
];

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_with_nothing_published_stops_naming_the_topic() {
    let store = Store::new(1);
    let out = store.cli(&["engine", "--metrics-addr", "127.0.0.1:0"]);
    let stderr = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let topic = &store.config.topics.rules;
    assert!(
        stderr.contains(&format!("error: no rules published on {topic}"))
            && stderr.contains("provisioner rules publish"),
        "{stderr}"
    );
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_instances_of_a_group_apply_a_published_version() {
    let store = Store::new(4);
    let v1 = store.publish("v1", RULES, "first");
    let (a, b) = (store.engine("a"), store.engine("b"));
    wait_until("both instances own partitions", || {
        ["a", "b"].iter().all(|i| {
            log_lines_with(&store.log(i), "Engine ready: assigned partitions restored.") > 0
        })
    })
    .await;
    store.hire(&DEVS, DEVS.len() as i64).await;
    let v2 = store.publish("v2", RULES_ADMINS, "devs administer slack");
    let all = wait_for("every developer is a Slack admin", || async {
        let all = store.commands("slack");
        let admins = all.iter().filter(|c| c["role"] == "admin").count();
        (admins == DEVS.len()).then_some(all)
    })
    .await;
    for c in all.iter().filter(|c| c["role"] == "admin") {
        assert_eq!(version_in(c), v2, "{c}");
        assert_eq!(c["cause"]["event_type"], RULES_CHANGED, "{c}");
    }
    assert!(all
        .iter()
        .filter(|c| c["role"] == "member")
        .all(|c| version_in(c) == v1));
    for instance in ["a", "b"] {
        let log = store.log(instance);
        let applied = format!("\"to\":\"{v2}\"");
        assert_eq!(
            log_lines_with(&log, &applied),
            1,
            "instance {instance} applied v2 once"
        );
        let emitted = format!("\"Command emitted.\",\"event_id\":\"{v2}\"");
        assert!(
            log_lines_with(&log, &emitted) > 0,
            "instance {instance} re-evaluated its own employees"
        );
    }
    a.terminate().await;
    b.terminate().await;
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_started_after_three_publishes_applies_the_last_one() {
    let store = Store::new(1);
    let v1 = store.publish("v1", RULES, "first");
    let engine = store.engine("e");
    store.hire(&[("E1", "Development")], 1).await;
    store
        .wait_command("E1 gets Slack", "slack", |c| is(c, "E1", Some("member")))
        .await;
    engine.terminate().await;
    // Three publishes while no engine runs (counting v1).
    let v2 = store.publish("v2", RULES_ADMINS, "second");
    let v3 = store.publish("v3", RULES_AGENTS, "third");
    assert_ne!(v2, v3);
    let engine = store.engine("e");
    let zendesk = store
        .wait_command("E1 becomes a Zendesk agent", "zendesk", |c| {
            is(c, "E1", Some("agent"))
        })
        .await;
    let slack = store.commands("slack");
    let changed: Vec<_> = slack
        .iter()
        .chain(&zendesk)
        .filter(|c| c["cause"]["event_type"] == RULES_CHANGED)
        .collect();
    assert_eq!(changed.len(), 2, "one command per app: {changed:?}");
    assert!(changed.iter().all(|c| version_in(c) == v3), "{changed:?}");
    assert!(
        slack.iter().chain(&zendesk).all(|c| version_in(c) != v2),
        "v2 never applied"
    );
    assert!(slack.iter().any(|c| is(c, "E1", Some("admin"))));
    // A hire now is decided under v3 as well.
    store.hire(&[("E2", "Development")], 2).await;
    let slack = store
        .wait_command("E2 gets Slack", "slack", |c| c["employee_id"] == "E2")
        .await;
    let e2 = slack.iter().find(|c| c["employee_id"] == "E2").expect("E2");
    assert_eq!(
        (e2["role"].as_str(), version_in(e2)),
        (Some("admin"), v3.as_str())
    );
    assert_ne!(v1, v3);
    engine.terminate().await;
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_restores_the_old_behaviour_with_exactly_the_diff() {
    let store = Store::new(2);
    let v1 = store.publish("v1", RULES, "first");
    let engine = store.engine("e");
    store
        .hire(&[("E1", "Development"), ("E2", "Support")], 2)
        .await;
    let v2 = store.publish("v2", RULES_ADMINS, "devs administer slack");
    store
        .wait_command("E1 becomes a Slack admin", "slack", |c| {
            is(c, "E1", Some("admin"))
        })
        .await;
    let before = (
        store.commands("slack").len(),
        store.commands("zendesk").len(),
    );

    let out = store.cli(&["rules", "rollback", &v1, "--author", "tester"]);
    let stdout = text_of(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text_of(&out.stderr));
    assert!(stdout.contains(&format!("replacing {v2}")), "{stdout}");
    assert!(
        stdout.contains("  slack: +0 gained, -0 lost, 1 role changed\n    role changed: E1\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("published {v1} to")),
        "the old content, the old version: {stdout}"
    );

    let slack = store
        .wait_command("E1 is a Slack member again", "slack", |c| {
            is(c, "E1", Some("member")) && c["cause"]["event_type"] == RULES_CHANGED
        })
        .await;
    // Exactly the diff: one Slack command for E1, nothing else.
    wait_committed(
        &store.config.kafka.bootstrap_servers,
        &store.config.kafka.group_id,
        &store.config.topics.events,
        2,
    )
    .await;
    let (slack_after, zendesk_after) = (slack.len(), store.commands("zendesk").len());
    assert_eq!(
        (slack_after, zendesk_after),
        (before.0 + 1, before.1),
        "{slack:?}"
    );
    let last = slack
        .iter()
        .find(|c| c["command_id"] == "slack:E1:3")
        .expect("slack:E1:3");
    assert_eq!(version_in(last), v1);
    let history = text_of(&store.cli(&["rules", "history"]).stdout);
    let newest = history.lines().nth(1).expect("a row");
    assert!(
        newest.starts_with(&v1) && newest.ends_with(&format!("rollback to {v1}")),
        "{history}"
    );
    let out = store.cli(&["rules", "show", &v1]);
    assert!(
        text_of(&out.stdout).contains(&format!("rollback of:  {v1}")),
        "the latest entry of v1 is shown"
    );
    engine.terminate().await;
    store.cleanup().await;
}
