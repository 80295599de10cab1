//! `provisioner replay` on a real broker: filters and dry runs, and the
//! events dead-letter topic, here; after an app outage with the real worker
//! and SCIM server in `outage`; the built binary killed mid-replay, and the
//! command line's errors, in `process`.

mod outage;
mod process;
mod support;

use std::collections::BTreeMap;

use provisioner::replay::{self, Format, Options};
use rdkafka::message::Message;
use serde_json::{json, Value};

use crate::harness::*;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn filters_and_dry_run_select_exactly_and_change_nothing() {
    let config = config(3);
    let servers = config.kafka.bootstrap_servers.clone();
    create_topics(&config).await;
    let (slack, zendesk) = (
        config.topics.commands("slack"),
        config.topics.commands("zendesk"),
    );
    let at = |hhmm: &str| format!("2026-11-26T{hhmm}:00.000Z");
    let mut e1 = DeadLetter::command(&config, "slack", "E1", 1);
    e1.failed_at = at("09:00");
    e1.original_partition = 2;
    e1.own_headers = vec![("traceparent", "00-e1".into())];
    let mut e2 = DeadLetter::command(&config, "slack", "E2", 1);
    e2.kind = "permanent";
    e2.failed_at = at("09:30");
    let mut e1_zendesk = DeadLetter::command(&config, "zendesk", "E1", 1);
    e1_zendesk.failed_at = at("10:00");
    let mut e3 = DeadLetter::command(&config, "slack", "E3", 4);
    e3.failed_at = at("11:00");
    e3.original_partition = 1;
    let mut e4 = DeadLetter::command(&config, "slack", "E4", 1);
    e4.original_topic = None;
    e4.failed_at = at("10:30");
    let all = [e1.clone(), e2, e1_zendesk.clone(), e3.clone(), e4];
    produce_dead_letters(&servers, &config.topics.commands_dlq, &all).await;
    // Slack applied E2's generation 3 since: its generation 1 is superseded.
    let applied = result("slack", "E2", 3, "applied");
    produce(&servers, &config.topics.results, &[(Some("E2"), applied)]).await;
    let dlq = config.topics.commands_dlq.clone();
    let options = |f: &dyn Fn(&mut Options)| {
        let mut o = Options::new(dlq.clone());
        o.dry_run = true;
        f(&mut o);
        o
    };

    // --app slack, as JSON lines.
    let ran = run_replay(
        &config,
        options(&|o| {
            o.filter.app = Some("slack".into());
            o.format = Format::Json;
        }),
    )
    .await;
    let (summary, rows) = ran.lines.split_last().expect("a summary line");
    let rows: BTreeMap<String, Value> = rows
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json row");
            (v["key"].as_str().expect("key").to_string(), v)
        })
        .collect();
    let decisions: Vec<(&str, &str)> = rows
        .iter()
        .map(|(k, v)| (k.as_str(), v["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("E1", "replay"),
            ("E2", "superseded"),
            ("E3", "replay"),
            ("E4", "unroutable")
        ]
    );
    assert_eq!(rows["E1"]["to"], json!({"topic": slack, "partition": 2}));
    assert_eq!(rows["E1"]["failed_at"], at("09:00"));
    assert_eq!(rows["E2"]["applied_generation"], 3);
    assert_eq!(rows["E4"]["reason"], "no dlq.original.topic header");
    let summary: Value = serde_json::from_str(summary).expect("json summary");
    assert_eq!(
        summary["text"],
        "replayed 2, skipped 3 (superseded 1, filtered 1)"
    );
    assert_eq!(summary["summary"]["unroutable"], 1);

    // --error-kind with a time window, as a table.
    let ran = run_replay(
        &config,
        options(&|o| {
            o.filter.error_kind = Some("retries_exhausted".into());
            o.filter.since = Some(at("09:45").parse().unwrap());
            o.filter.until = Some(at("11:00").parse().unwrap());
        }),
    )
    .await;
    assert_eq!(ran.lines.len(), 4, "{:#?}", ran.lines);
    assert!(ran.lines[0].starts_with("TOPIC/PARTITION/OFFSET"));
    let mut rows = ran.lines[1..3].to_vec();
    rows.sort();
    assert!(rows[0].starts_with("- "), "{}", rows[0]);
    assert!(
        rows[0].contains(" E4 ") && rows[0].ends_with("unroutable: no dlq.original.topic header")
    );
    assert!(
        rows[1].starts_with(&format!("{zendesk}/0/1 ")),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains(" E1 ") && rows[1].ends_with(" replay"),
        "{}",
        rows[1]
    );
    assert_eq!(
        ran.lines[3],
        "replayed 1, skipped 4 (superseded 0, filtered 3)"
    );

    // --employee, superseded included; --limit.
    let ran = run_replay(
        &config,
        options(&|o| {
            o.filter.employee = Some("E1".into());
            o.include_superseded = true;
        }),
    )
    .await;
    assert_eq!(
        ran.lines.last().unwrap(),
        "replayed 2, skipped 3 (superseded 0, filtered 3)"
    );
    assert!(ran.lines[1..3].iter().all(|l| l.contains(" E1 ")));
    let ran = run_replay(&config, options(&|o| o.limit = Some(1))).await;
    assert!(
        ran.lines.last().unwrap().starts_with("replayed 1, "),
        "{:#?}",
        ran.lines
    );

    // Dry runs changed nothing.
    let group = replay::group_id(&config, &dlq);
    assert!(read_all(&servers, &slack).is_empty());
    assert!(read_all(&servers, &zendesk).is_empty());
    assert_eq!(committed(&servers, &group, &dlq), BTreeMap::new());

    // The real thing: exactly the selected records, as they were.
    let mut slack_only = Options::new(dlq.clone());
    slack_only.filter.app = Some("slack".into());
    let ran = run_replay(&config, slack_only).await;
    assert_eq!(
        ran.lines,
        ["replayed 2, skipped 3 (superseded 1, filtered 1)"]
    );
    let series = format!("provisioner_replayed_total{{topic=\"{slack}\"}}");
    assert_eq!(metric(&ran.metrics, &series), Some(2.0));
    let sent = read_all(&servers, &slack);
    assert_eq!(sent.len(), 2);
    for (m, original, partition) in [(&sent[0], &e3, 1), (&sent[1], &e1, 2)] {
        assert_eq!(m.partition(), partition, "back to its original partition");
        assert_eq!(m.key(), Some(original.key.as_bytes()));
        assert_eq!(m.payload(), Some(original.value.as_slice()));
    }
    assert_eq!(
        header_pairs(&sent[1]),
        [
            ("traceparent".into(), "00-e1".into()),
            ("dlq.replay.count".into(), "1".into())
        ]
    );
    assert_eq!(
        header_pairs(&sent[0]),
        [("dlq.replay.count".to_string(), "1".to_string())]
    );
    assert!(read_all(&servers, &zendesk).is_empty());
    let handled: i64 = committed(&servers, &group, &dlq).values().sum();
    assert_eq!(handled, 5, "filtered and skipped records are handled too");

    // Nothing twice; a filtered-out record comes back with --from-beginning.
    let ran = run_replay(&config, Options::new(dlq.clone())).await;
    assert_eq!(
        ran.lines,
        ["replayed 0, skipped 0 (superseded 0, filtered 0)"]
    );
    let mut zendesk_again = Options::new(dlq.clone());
    zendesk_again.filter.app = Some("zendesk".into());
    zendesk_again.from_beginning = true;
    let ran = run_replay(&config, zendesk_again).await;
    assert_eq!(
        ran.lines,
        ["replayed 1, skipped 4 (superseded 0, filtered 4)"]
    );
    let sent = read_all(&servers, &zendesk);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload(), Some(e1_zendesk.value.as_slice()));
    delete_topics(&config, &[]).await;
}

/// The rules of the events test: developers get slack and jira, support
/// only slack.
const RULES_WITH_JIRA: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    slack: { provisioning: true, role: member }
    jira: { provisioning: true, role: admin }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    slack: { provisioning: true, role: member }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_event_dead_lettered_for_an_app_without_topic_yields_its_commands_once_replayed() {
    // jira is in the catalogue, but the operator owns the topics
    // (create_topics off) and has not created jira's command topic yet.
    let mut config = config(3);
    let mut jira = config.apps["slack"].clone();
    jira.roles = vec!["user".into(), "admin".into()];
    config.apps.insert("jira".into(), jira);
    config.kafka.create_topics = false;
    config.engine.topic_refresh = std::time::Duration::from_millis(200);
    let servers = config.kafka.bootstrap_servers.clone();
    let (events, slack_topic, jira_topic) = (
        config.topics.events.clone(),
        config.topics.commands("slack"),
        config.topics.commands("jira"),
    );
    let (present, jira_spec): (Vec<_>, Vec<_>) = provisioner::kafka::all_topics(&config)
        .into_iter()
        .partition(|t| t.name != jira_topic);
    provisioner::kafka::ensure_topics(&config, &present)
        .await
        .expect("topics");
    let engine = RunningEngine::start(&config, rules(RULES_WITH_JIRA, &config.apps));
    let person =
        |id: &str, team: &str| json!({"id": id, "email": format!("{id}@acme.test"), "team": team});
    let hire = event("evt-1", "hired", 1, person("E1", "Development"));
    produce(
        &servers,
        &events,
        &[
            (Some("E1"), hire.clone()),
            (Some("E2"), b"{not json".to_vec()),
            (
                Some("E3"),
                event("evt-3", "hired", 1, person("E3", "Support")),
            ),
        ],
    )
    .await;
    wait_committed(&servers, &config.kafka.group_id, &events, 3).await;

    // E1 needs jira: dead-lettered whole (not even its slack command); E3
    // flowed on; E2 is an invalid event.
    let dead = read_all(&servers, &config.topics.events_dlq);
    let kinds: BTreeMap<String, (Option<String>, Option<String>)> = dead
        .iter()
        .map(|m| {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            (key, (header(m, "dlq.error.kind"), header(m, "dlq.app")))
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            (
                "E1".into(),
                (Some("unknown_app".into()), Some("jira".into()))
            ),
            ("E2".into(), (Some("invalid_event".into()), None)),
        ])
    );
    let e1_dead = dead.iter().find(|m| m.key() == Some(b"E1")).unwrap();
    assert_eq!(e1_dead.payload(), Some(hire.as_slice()));
    let reason = header(e1_dead, "dlq.error.message").unwrap();
    assert!(reason.contains(&jira_topic), "{reason}");
    let slack: Vec<Value> = read_all(&servers, &slack_topic).iter().map(json).collect();
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0]["command_id"], "slack:E3:1");
    let text = engine.metrics.render();
    let series = |name: &str| metric(&text, name);
    assert_eq!(
        series("provisioner_events_dead_lettered_total{reason=\"unknown_app\"}"),
        Some(1.0)
    );
    assert_eq!(
        series("provisioner_command_topic_missing{app=\"jira\"}"),
        Some(1.0)
    );

    // The operator creates the topic; the running engine notices it.
    provisioner::kafka::ensure_topics(&config, &jira_spec)
        .await
        .expect("jira topic");
    let missing = "provisioner_command_topic_missing{app=\"jira\"}";
    wait_until("the engine sees jira's topic", || {
        metric(&engine.metrics.render(), missing) == Some(0.0)
    })
    .await;
    let mut options = Options::new(config.topics.events_dlq.clone());
    options.filter.app = Some("jira".into());
    let ran = run_replay(&config, options).await;
    assert_eq!(
        ran.lines,
        ["replayed 1, skipped 1 (superseded 0, filtered 1)"]
    );
    let jira_commands = wait_records(&servers, &jira_topic, 1).await;
    let slack_commands = wait_records(&servers, &slack_topic, 2).await;
    wait_committed(&servers, &config.kafka.group_id, &events, 4).await;
    let consumed = engine.metrics.render();
    engine.stop().await;

    assert_eq!(jira_commands.len(), 1);
    let cmd = json(&jira_commands[0]);
    assert_eq!(
        (
            &cmd["command_id"],
            &cmd["action"],
            &cmd["role"],
            &cmd["cause"]["event_id"]
        ),
        (
            &json!("jira:E1:1"),
            &json!("upsert"),
            &json!("admin"),
            &json!("evt-1")
        )
    );
    let mut slack_ids: Vec<Value> = slack_commands
        .iter()
        .map(|m| json(m)["command_id"].clone())
        .collect();
    slack_ids.sort_by_key(|v| v.to_string());
    assert_eq!(slack_ids, [json!("slack:E1:1"), json!("slack:E3:1")]);
    assert_eq!(
        metric(
            &consumed,
            "provisioner_events_consumed_total{type=\"hired\"}"
        ),
        Some(3.0),
        "E1 twice (dead-lettered, then replayed) and E3 once"
    );
    let all = read_all(&servers, &events);
    assert_eq!(all.len(), 4);
    let replayed: Vec<_> = all
        .iter()
        .filter(|m| header(m, "dlq.replay.count").is_some())
        .collect();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].partition(), e1_dead_partition(&all));
    assert_eq!(replayed[0].payload(), Some(hire.as_slice()));
    assert_eq!(
        header(replayed[0], "dlq.replay.count").as_deref(),
        Some("1")
    );
    delete_topics(&config, &[]).await;
}

/// The partition of E1's original hire (the first E1 record of the input).
fn e1_dead_partition(all: &[rdkafka::message::OwnedMessage]) -> i32 {
    all.iter()
        .find(|m| m.key() == Some(b"E1") && header(m, "dlq.replay.count").is_none())
        .map(|m| m.partition())
        .expect("E1's original hire")
}
