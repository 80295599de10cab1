//! `provisioner replay` on a real broker: filters and dry runs, and the
//! events dead-letter topic, here; after an app outage with the real worker
//! and SCIM server in `outage`; the built binary killed mid-replay, and the
//! command line's errors, in `process`.

mod outage;
mod process;
mod support;

use std::collections::BTreeMap;

use provisioner::dlq::{self, ErrorKind, Failure};
use provisioner::replay::{self, Format, Options};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
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
    assert_eq!(metric(&ran.metrics, &series), 2.0);
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

/// The rules of the events test: developers get slack and jira.
const RULES_WITH_JIRA: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    slack: { provisioning: true, role: member }
    jira: { provisioning: true, role: admin }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_event_dead_lettered_for_a_missing_app_yields_its_commands_once_replayed() {
    // Before: the catalogue has no jira (and there is no jira command topic).
    let before = config(3);
    let servers = before.kafka.bootstrap_servers.clone();
    create_topics(&before).await;
    let events = before.topics.events.clone();
    let hire = event(
        "evt-1",
        "hired",
        1,
        json!({"id": "E1", "email": "ada@acme.test", "first_name": "Ada",
               "last_name": "Lovelace", "team": "Development"}),
    );
    produce(
        &servers,
        &events,
        &[
            (Some("E1"), hire.clone()),
            (Some("E2"), b"{not json".to_vec()),
        ],
    )
    .await;
    let originals = read_all(&servers, &events);
    assert_eq!(originals.len(), 2);

    // What the engine writes for them: the dead letters (dlq::headers of
    // the records it read) and, in the same transaction, its input offsets.
    let jira_topic = before.topics.commands("jira");
    let failures = [
        Failure {
            kind: ErrorKind::UnknownApp,
            message: format!("rules give app \"jira\", which has no command topic {jira_topic}"),
            attempts: 1,
            app: Some("jira".into()),
        },
        Failure {
            kind: ErrorKind::InvalidEvent,
            message: "value is not JSON (line 1, column 2)".into(),
            attempts: 1,
            app: None,
        },
    ];
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("producer");
    let mut next = Vec::new();
    for m in &originals {
        let failure = if m.key() == Some(b"E1") {
            &failures[0]
        } else {
            &failures[1]
        };
        let record = FutureRecord::to(&before.topics.events_dlq)
            .key(m.key().unwrap())
            .payload(m.payload().unwrap())
            .headers(dlq::headers(m, failure));
        producer
            .send(record, std::time::Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .expect("dead letter");
        next.push((m.partition(), m.offset() + 1));
    }
    commit_offsets(&servers, &before.kafka.group_id, &events, &next);

    // After: jira is in the catalogue and has its command topic.
    let mut after = before.clone();
    let mut jira = after.apps["slack"].clone();
    jira.roles = vec!["user".into(), "admin".into()];
    after.apps.insert("jira".into(), jira);
    create_topics(&after).await;
    let mut options = Options::new(after.topics.events_dlq.clone());
    options.filter.app = Some("jira".into());
    let ran = run_replay(&after, options).await;
    assert_eq!(
        ran.lines,
        ["replayed 1, skipped 1 (superseded 0, filtered 1)"]
    );

    let engine = RunningEngine::start(&after, rules(RULES_WITH_JIRA, &after.apps));
    let jira_commands = wait_records(&servers, &jira_topic, 1).await;
    let slack_commands = wait_records(&servers, &after.topics.commands("slack"), 1).await;
    wait_committed(&servers, &after.kafka.group_id, &events, 3).await;
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
    assert_eq!(
        slack_commands.len(),
        1,
        "the original event was not processed again"
    );
    assert_eq!(json(&slack_commands[0])["role"], "member");
    assert_eq!(
        metric(
            &consumed,
            "provisioner_events_consumed_total{type=\"hired\"}"
        ),
        1.0
    );
    let all = read_all(&servers, &events);
    assert_eq!(all.len(), 3);
    let replayed: Vec<_> = all
        .iter()
        .filter(|m| header(m, "dlq.replay.count").is_some())
        .collect();
    assert_eq!(replayed.len(), 1);
    let original = originals.iter().find(|m| m.key() == Some(b"E1")).unwrap();
    assert_eq!(replayed[0].partition(), original.partition());
    assert_eq!(replayed[0].payload(), Some(hire.as_slice()));
    assert_eq!(
        header(replayed[0], "dlq.replay.count").as_deref(),
        Some("1")
    );
    delete_topics(&after, &[]).await;
}
