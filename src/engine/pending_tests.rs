//! What one unit of work writes when an app it needs has no command topic,
//! and that a batch decided on several threads is the batch decided on one.

use super::*;
use crate::engine::events::UnitCommitted;
use crate::engine::topics::CommandTopics;
use rdkafka::message::{Headers, OwnedMessage, Timestamp};
use rdkafka::Message;
use serde_json::json;
use std::path::{Path, PathBuf};

const CONFIG: &str = r#"
[apps.slack]
connector = "scim"
base_url = "http://x"
roles = ["member", "admin"]
leaver = "suspend"
[apps.jira]
connector = "scim"
base_url = "http://x"
roles = ["user", "admin"]
leaver = "suspend"
"#;

const RULES: &str = r#"
- name: Dev
  target: { field: team, op: is, value: Development }
  apps:
    slack: { role: member }
    jira: { role: admin }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    slack: { role: member }
"#;

fn setup() -> (Config, RuleSet) {
    let config = Config::parse(Path::new("t.toml"), CONFIG).unwrap();
    let rules = RuleSet::from_sources(
        &[(PathBuf::from("r.yaml"), RULES.to_string())],
        &config.apps,
    )
    .unwrap();
    (config, rules)
}

fn hire(id: &str, team: &str, offset: i64) -> OwnedMessage {
    let value = json!({
        "specversion": "1.0", "id": format!("evt-{id}"), "source": "hris://t",
        "type": "hr.employee.hired", "time": "2026-11-26T09:00:00Z",
        "data": { "sequence": 1, "employee": {
            "id": id, "email": format!("{id}@acme.test"), "team": team } }
    });
    OwnedMessage::new(
        Some(value.to_string().into_bytes()),
        Some(id.as_bytes().to_vec()),
        "events".into(),
        Timestamp::CreateTime(1_700_000_000_000),
        0,
        offset,
        None,
    )
}

fn header(output: &Output, key: &str) -> Option<String> {
    let headers = output.headers.as_ref()?;
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn ctx<'a>(
    store: &'a Store,
    rules: &'a RuleSet,
    config: &'a Config,
    topics: &'a CommandTopics,
    metrics: &'a Metrics,
) -> Context<'a> {
    Context {
        store,
        rules,
        config,
        topics,
        metrics,
        now: now(),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn an_event_needing_an_app_without_topic_is_dead_lettered_whole() {
    let (config, rules) = setup();
    let metrics = Metrics::new();
    let topics = CommandTopics::missing_apps(["jira"]);
    let store = Store::default();
    let mut pending = Pending::default();
    let ada = hire("E1", "Development", 7);
    let bob = hire("E2", "Support", 8);
    for record in [&ada, &bob] {
        pending.add_record(record, &ctx(&store, &rules, &config, &topics, &metrics));
    }

    // Ada's event needs jira: one dead letter, no command, no state. Bob's
    // needs only slack and flows on.
    assert_eq!(pending.employees(), 1, "only Bob's state is written");
    let (outputs, written) = pending.outputs(&config);
    let topics_written: Vec<&str> = outputs.iter().map(|o| &*o.topic).collect();
    assert_eq!(
        topics_written,
        [
            config.topics.commands("slack").as_str(),
            config.topics.events_dlq.as_str(),
            config.topics.state.as_str()
        ]
    );
    let dead = &outputs[1];
    assert_eq!(dead.key.as_deref(), Some(b"E1".as_slice()));
    assert_eq!(dead.payload.as_deref(), ada.payload());
    assert_eq!(
        header(dead, "dlq.error.kind").as_deref(),
        Some("unknown_app")
    );
    assert_eq!(header(dead, "dlq.app").as_deref(), Some("jira"));
    assert_eq!(header(dead, "dlq.original.offset").as_deref(), Some("7"));
    let message = header(dead, "dlq.error.message").unwrap();
    assert!(
        message.contains(&config.topics.commands("jira")),
        "{message}"
    );
    assert_eq!(outputs[2].key.as_deref(), Some(b"E2".as_slice()));

    let mut store = Store::default();
    UnitCommitted(pending.committed(written, &mut store, 1)).emit(&metrics);
    let text = metrics.render();
    assert!(text.contains("provisioner_events_dead_lettered_total{reason=\"unknown_app\"} 1"));
    assert!(text.contains("provisioner_events_consumed_total{type=\"hired\"} 2"));
    assert!(store.get(0, "E1", rules.version()).is_none());
}

#[test]
fn with_every_topic_present_the_same_event_yields_its_commands() {
    let (config, rules) = setup();
    let mut pending = Pending::default();
    let topics = CommandTopics::all_present();
    let ada = hire("E1", "Development", 7);
    let (store, metrics) = (Store::default(), Metrics::new());
    pending.add_record(&ada, &ctx(&store, &rules, &config, &topics, &metrics));
    assert_eq!(pending.command_count(), 2);
    assert!(pending
        .outputs(&config)
        .0
        .iter()
        .all(|o| o.headers.is_none()));
}

#[test]
fn a_change_for_an_unknown_employee_is_dead_lettered_as_unknown_employee() {
    let (config, rules) = setup();
    let metrics = Metrics::new();
    let topics = CommandTopics::all_present();
    let store = Store::default();
    let change = |id: &str, offset: i64| {
        let value = json!({
            "specversion": "1.0", "id": format!("evt-{offset}"), "source": "hris://t",
            "type": "hr.employee.changed", "time": "2026-11-26T10:00:00Z",
            "data": { "sequence": 2, "employee": { "id": id, "team": "Support" } }
        });
        OwnedMessage::new(
            Some(value.to_string().into_bytes()),
            Some(id.as_bytes().to_vec()),
            "events".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            0,
            offset,
            None,
        )
    };
    // E7 was never hired; E2's hire comes earlier in the same batch.
    let (e7, bob, bob_change) = (
        change("E7", 3),
        hire("E2", "Development", 4),
        change("E2", 5),
    );
    let mut pending = Pending::default();
    for record in [&e7, &bob, &bob_change] {
        pending.add_record(record, &ctx(&store, &rules, &config, &topics, &metrics));
    }

    assert_eq!(pending.employees(), 1, "no state for E7");
    let (outputs, written) = pending.outputs(&config);
    let dead: Vec<&Output> = outputs
        .iter()
        .filter(|o| *o.topic == *config.topics.events_dlq)
        .collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key.as_deref(), Some(b"E7".as_slice()));
    assert_eq!(dead[0].payload.as_deref(), e7.payload());
    assert_eq!(
        header(dead[0], "dlq.error.kind").as_deref(),
        Some("unknown_employee")
    );
    assert_eq!(header(dead[0], "dlq.app"), None);
    let message = header(dead[0], "dlq.error.message").unwrap();
    assert!(
        message.contains("employee \"E7\"")
            && message.contains("replay this record once the hire has arrived")
            && message.contains("--error-kind unknown_employee"),
        "{message}"
    );
    // Bob's change, after his hire in the same batch, is applied: his hire
    // gives slack and jira, his move to Support takes jira away.
    assert_eq!(pending.command_count(), 3, "hire (2) and change (1)");

    let mut store = Store::default();
    UnitCommitted(pending.committed(written, &mut store, 1)).emit(&metrics);
    let text = metrics.render();
    assert!(
        text.contains("provisioner_events_dead_lettered_total{reason=\"unknown_employee\"} 1"),
        "{text}"
    );
    assert!(text.contains("provisioner_events_consumed_total{type=\"changed\"} 2"));
    assert!(store.get(0, "E7", rules.version()).is_none());
}

#[test]
fn a_re_evaluation_needing_a_missing_topic_waits() {
    let (config, rules) = setup();
    let mut state = EmployeeState::new("E1");
    state.employed = true;
    state.snapshot = serde_json::from_value(json!({"id": "E1", "team": "Development"})).unwrap();
    let mut pending = Pending::default();
    let missing = CommandTopics::missing_apps(["jira"]);
    pending.add_reconcile(0, state.clone(), &rules, &config, &missing, now());
    assert_eq!((pending.waiting(), pending.is_empty()), (1, true));

    pending.add_reconcile(
        0,
        state,
        &rules,
        &config,
        &CommandTopics::all_present(),
        now(),
    );
    assert_eq!((pending.waiting(), pending.command_count()), (1, 2));
}

#[test]
fn blocking_names_each_missing_app_once_in_name_order() {
    let (config, rules) = setup();
    let mut state = EmployeeState::new("E1");
    state.employed = true;
    state.snapshot = serde_json::from_value(json!({"id": "E1", "team": "Development"})).unwrap();
    let trigger = decide::Trigger {
        event_id: "x",
        event_type: "y",
    };
    let changes = decide::reconcile(&mut state, &rules, &config, &trigger, now());
    let both = CommandTopics::missing_apps(["slack", "jira", "wiki"]);
    assert_eq!(both.blocking(&changes.commands), ["jira", "slack"]);
    assert!(CommandTopics::all_present()
        .blocking(&changes.commands)
        .is_empty());
}

fn record(key: Option<&str>, value: serde_json::Value, offset: i64) -> OwnedMessage {
    OwnedMessage::new(
        Some(value.to_string().into_bytes()),
        key.map(|k| k.as_bytes().to_vec()),
        "events".into(),
        Timestamp::CreateTime(1_700_000_000_000),
        (offset % 3) as i32,
        offset,
        None,
    )
}

fn event(kind: &str, id: &str, seq: i64, employee: serde_json::Value) -> serde_json::Value {
    json!({
        "specversion": "1.0", "id": format!("evt-{id}-{seq}"), "source": "hris://t",
        "type": format!("hr.employee.{kind}"), "time": "2026-11-26T09:00:00Z",
        "data": { "sequence": seq, "employee": employee }
    })
}

/// A record as topic, key and value.
type Written = (std::sync::Arc<str>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The records a unit writes, in a comparable form.
fn written(pending: &Pending, config: &Config) -> Vec<Written> {
    let mut out: Vec<_> = pending
        .outputs(config)
        .0
        .into_iter()
        .map(|o| (o.topic, o.key, o.payload))
        .collect();
    out.sort();
    out
}

#[test]
fn a_batch_decided_and_sent_on_several_threads_is_the_batch_on_one() {
    let (config, rules) = setup();
    let (store, metrics, topics) = (
        Store::default(),
        Metrics::new(),
        CommandTopics::all_present(),
    );
    let ctx = ctx(&store, &rules, &config, &topics, &metrics);
    let teams = ["Development", "Support", "Sales"];
    let mut batch = Vec::new();
    for i in 0..300i64 {
        let id = format!("E{}", i % 57);
        let team = teams[(i % 3) as usize];
        let value = match i % 5 {
            0 | 1 => event(
                "hired",
                &id,
                i,
                json!({"id": id, "email": format!("{id}@acme.test"), "team": team}),
            ),
            2 => event("changed", &id, i, json!({"id": id, "team": team})),
            3 => event("left", &id, i, json!({"id": id})),
            _ => json!({"not": "an event"}),
        };
        // Some events come without a key: they must still meet their
        // employee's other records in one group.
        let key = (i % 7 != 0).then_some(id.as_str());
        batch.push(record(key, value, i));
    }
    let one = super::super::parallel::decide(&batch, &ctx, 1);
    let three = super::super::parallel::decide(&batch, &ctx, 3);
    assert!(one.command_count() > 100, "the batch decides something");
    assert_eq!(one.command_count(), three.command_count());
    assert_eq!(one.employees(), three.employees());
    assert_eq!(written(&one, &config), written(&three, &config));

    // Each employee's commands go to one share (one thread), in order.
    let states: Vec<_> = three.states.iter().collect();
    let shares = three.shares(&states, 3);
    assert_eq!(shares.len(), 3);
    let mut share_of: HashMap<&str, usize> = HashMap::new();
    let mut sequence: Vec<&Command> = Vec::new();
    for (i, share) in shares.iter().enumerate() {
        assert!(!share.commands.is_empty(), "each share sends something");
        for e in &share.commands {
            let id = e.command.employee_id.as_str();
            assert_eq!(*share_of.entry(id).or_insert(i), i, "{id} in one share");
            sequence.push(&e.command);
        }
    }
    for id in share_of.keys() {
        let of = |commands: Vec<&Command>| -> Vec<String> {
            commands
                .into_iter()
                .filter(|c| c.employee_id.as_str() == *id)
                .map(|c| c.command_id.to_string())
                .collect()
        };
        let unit: Vec<&Command> = three.emitted.iter().map(|e| &e.command).collect();
        assert_eq!(of(sequence.clone()), of(unit), "{id}'s order");
    }
    assert_eq!(
        shares.iter().map(|s| s.states.len()).sum::<usize>(),
        three.employees()
    );

    // Sent from three threads at once, each employee's records keep the
    // order of one thread: the sequence per topic and key.
    let (serial, _) = three.outputs_on(&config, 1);
    let (sent, by_three) = three.outputs_on(&config, 3);
    let per_key = |outputs: &[Output]| {
        let mut keyed: BTreeMap<(String, Vec<u8>), Vec<Vec<u8>>> = BTreeMap::new();
        for o in outputs.iter().filter(|o| *o.topic != *config.topics.state) {
            let key = (o.topic.to_string(), o.key.clone().unwrap_or_default());
            keyed
                .entry(key)
                .or_default()
                .push(o.payload.clone().unwrap_or_default());
        }
        keyed
    };
    assert!(per_key(&serial).values().any(|commands| commands.len() > 2));
    assert!(per_key(&serial) == per_key(&sent), "order per key changed");

    // What the store takes after the commit is what was sent, whichever
    // thread encoded it.
    let (mut from_one, mut from_three) = (Store::default(), Store::default());
    let (_, by_one) = one.outputs(&config);
    assert_eq!(by_three.states(), three.employees(), "one value per state");
    let ids: Vec<EmployeeId> = one.states.keys().cloned().collect();
    let partitions: BTreeMap<EmployeeId, i32> = one
        .states
        .iter()
        .map(|(id, (p, _))| (id.clone(), *p))
        .collect();
    one.committed(by_one, &mut from_one, 1);
    three.committed(by_three, &mut from_three, 3);
    for id in &ids {
        let p = partitions[id];
        let state = from_three.get(p, id, rules.version());
        assert!(state.is_some(), "{id} stored");
        assert_eq!(state, from_one.get(p, id, rules.version()), "{id}");
    }
    assert_eq!(from_one.bytes(), from_three.bytes());
}
