//! The engine end to end on a real broker: HR events in, commands out.

use rdkafka::message::Message;
use serde_json::json;

use crate::harness::*;

fn ada(team: &str) -> serde_json::Value {
    json!({
        "id": "E1001", "email": "ada@acme.test", "first_name": "Ada",
        "last_name": "Lovelace", "team": team, "location": "Barcelona"
    })
}

/// Ada's events, in order: her hire into Development (`evt-1`), then each
/// `(kind, employee)` of `then` as `evt-2`, `evt-3`, …
fn ada_hired_then(then: &[(&str, serde_json::Value)]) -> Vec<(Option<&'static str>, Vec<u8>)> {
    let hire = event("evt-1", "hired", 1, ada("Development"));
    let mut events = vec![(Some("E1001"), hire)];
    for (seq, (kind, employee)) in (2..).zip(then) {
        let id = format!("evt-{seq}");
        events.push((Some("E1001"), event(&id, kind, seq, employee.clone())));
    }
    events
}

/// Produces `events` and waits until the engine has processed them all.
async fn process(config: &provisioner::config::Config, events: &[(Option<&str>, Vec<u8>)]) {
    let servers = &config.kafka.bootstrap_servers;
    let (group, topic) = (&config.kafka.group_id, &config.topics.events);
    produce(servers, topic, events).await;
    wait_committed(servers, group, topic, events.len() as i64).await;
}

/// Commands of one app topic, as JSON, in offset order.
fn commands(
    servers: &str,
    config: &provisioner::config::Config,
    app: &str,
) -> Vec<serde_json::Value> {
    read_all(servers, &config.topics.commands(app))
        .iter()
        .map(|m| {
            assert_eq!(
                m.key(),
                Some(&b"E1001"[..]),
                "commands are keyed by employee id"
            );
            json(m)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hire_emits_one_command_per_granted_app() {
    let config = config(3);
    let servers = config.kafka.bootstrap_servers.clone();
    let rules = rules(RULES, &config.apps);
    let version = rules.version().to_string();
    let engine = RunningEngine::start(&config, rules);
    process(&config, &ada_hired_then(&[])).await;

    let zendesk = commands(&servers, &config, "zendesk");
    assert_eq!(zendesk.len(), 1, "{zendesk:?}");
    let cmd = &zendesk[0];
    assert_eq!(cmd["command_id"], "zendesk:E1001:1");
    assert_eq!(cmd["app"], "zendesk");
    assert_eq!(cmd["employee_id"], "E1001");
    assert_eq!(cmd["generation"], 1);
    assert_eq!(cmd["action"], "upsert");
    assert_eq!(cmd["role"], "light_agent");
    assert_eq!(
        cmd["account"],
        json!({
            "external_id": "E1001", "user_name": "ada@acme.test", "email": "ada@acme.test",
            "given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace"
        })
    );
    assert_eq!(cmd["cause"]["event_id"], "evt-1");
    assert_eq!(cmd["cause"]["event_type"], "hr.employee.hired");
    assert_eq!(cmd["cause"]["rules"], json!(["Dev Team"]));
    assert_eq!(cmd["cause"]["rules_version"], version.as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(cmd["issued_at"].as_str().unwrap()).is_ok());

    let slack = commands(&servers, &config, "slack");
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0]["command_id"], "slack:E1001:1");
    assert_eq!(slack[0]["role"], "member");
    engine.stop().await;
}

/// A batch closes as soon as the consumer holds nothing more. With a batch
/// window far longer than the test's deadline, a lone hire, and then a lone
/// change after an idle wait, are still each committed: a batch that waited
/// out `batch_max_ms` would commit neither before the deadline.
#[tokio::test(flavor = "multi_thread")]
async fn a_lone_event_is_committed_without_waiting_out_the_batch_window() {
    let mut config = config(2);
    config.engine.batch_max = std::time::Duration::from_secs(3600);
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let events = ada_hired_then(&[("changed", json!({"id": "E1001", "team": "Support"}))]);
    process(&config, &events[..1]).await;
    assert_eq!(commands(&servers, &config, "zendesk").len(), 1);

    let (group, topic) = (&config.kafka.group_id, &config.topics.events);
    produce(&servers, topic, &events[1..]).await;
    wait_committed(&servers, group, topic, 2).await;
    let roles: Vec<_> = commands(&servers, &config, "zendesk")
        .iter()
        .map(|c| c["role"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(roles, ["light_agent", "agent"]);
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn team_change_changes_role_and_invisible_change_emits_nothing() {
    let config = config(2);
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let events = ada_hired_then(&[
        // Support: zendesk agent instead of light agent; slack unchanged.
        ("changed", json!({"id": "E1001", "team": "Support"})),
        // Nothing an app sees.
        ("changed", json!({"id": "E1001", "location": "Madrid"})),
    ]);
    process(&config, &events).await;

    let zendesk = commands(&servers, &config, "zendesk");
    let summary: Vec<_> = zendesk
        .iter()
        .map(|c| {
            (
                c["generation"].as_u64().unwrap(),
                c["role"].as_str().unwrap().to_string(),
                c["cause"]["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "light_agent".into(), "evt-1".into()),
            (2, "agent".into(), "evt-2".into())
        ]
    );
    let slack = commands(&servers, &config, "slack");
    assert_eq!(
        slack.len(),
        1,
        "slack saw no change after the hire: {slack:?}"
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leave_deprovisions_every_app_by_its_policy() {
    let config = config(1);
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let events = ada_hired_then(&[("left", json!({"id": "E1001", "end_date": "2020-01-31"}))]);
    process(&config, &events).await;

    for (app, policy) in [("slack", "suspend"), ("zendesk", "delete")] {
        let cmds = commands(&servers, &config, app);
        assert_eq!(cmds.len(), 2, "{app}: {cmds:?}");
        let last = &cmds[1];
        assert_eq!(last["command_id"], format!("{app}:E1001:2"));
        assert_eq!(last["action"], "deprovision");
        assert_eq!(last["deprovision"], policy);
        assert!(last.get("role").is_none(), "a deprovision carries no role");
        assert_eq!(last["account"]["user_name"], "ada@acme.test");
        assert_eq!(last["cause"]["event_type"], "hr.employee.left");
    }
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_are_dead_lettered_and_processing_goes_on() {
    let mut config = config(1);
    config.limits.max_event_bytes = 4096;
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let mut unknown_type: serde_json::Value =
        serde_json::from_slice(&event("evt-x", "hired", 1, ada("Development"))).unwrap();
    unknown_type["type"] = json!("hr.employee.promoted");
    let mut no_employee_id: serde_json::Value =
        serde_json::from_slice(&event("evt-y", "hired", 1, ada("Development"))).unwrap();
    no_employee_id["data"]["employee"]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let oversized = vec![b'x'; 5000];
    let poison: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("E1001"), b"this is not json".to_vec()),
        (Some("E1001"), unknown_type.to_string().into_bytes()),
        (Some("E1001"), no_employee_id.to_string().into_bytes()),
        (Some("E1001"), oversized.clone()),
        (
            Some("E1001"),
            event("evt-ok", "hired", 1, ada("Development")),
        ),
    ];
    process(&config, &poison).await;

    let dlq = read_all(&servers, &config.topics.events_dlq);
    assert_eq!(dlq.len(), 4);
    let expected = [
        "value is not JSON",
        "hr.employee.promoted",
        "data.employee.id",
        "exceeds limits.max_event_bytes",
    ];
    for (i, (record, fragment)) in dlq.iter().zip(expected).enumerate() {
        assert_eq!(record.key(), Some(&b"E1001"[..]));
        assert_eq!(
            record.payload(),
            Some(poison[i].1.as_slice()),
            "original bytes kept"
        );
        assert_eq!(
            header(record, "dlq.original.topic").as_deref(),
            Some(config.topics.events.as_str())
        );
        assert_eq!(
            header(record, "dlq.original.partition").as_deref(),
            Some("0")
        );
        assert_eq!(header(record, "dlq.original.offset"), Some(i.to_string()));
        let ts: i64 = header(record, "dlq.original.timestamp")
            .unwrap()
            .parse()
            .unwrap();
        assert!(ts > 1_700_000_000_000, "timestamp in ms: {ts}");
        assert_eq!(
            header(record, "dlq.error.kind").as_deref(),
            Some("invalid_event")
        );
        let message = header(record, "dlq.error.message").unwrap();
        assert!(
            message.contains(fragment),
            "{message:?} should mention {fragment:?}"
        );
        assert_eq!(header(record, "dlq.attempts").as_deref(), Some("1"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(&header(record, "dlq.failed_at").unwrap()).is_ok()
        );
    }
    let zendesk = commands(&servers, &config, "zendesk");
    assert_eq!(
        zendesk.len(),
        1,
        "the valid event after the poison is processed"
    );
    assert_eq!(zendesk[0]["cause"]["event_id"], "evt-ok");
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_before_the_hire_is_dead_lettered_then_replayed_after_it() {
    let config = config(1);
    let servers = config.kafka.bootstrap_servers.clone();
    let (group, topic) = (&config.kafka.group_id, &config.topics.events);
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    // Ada's move to Support arrives before her hire.
    let change = event(
        "evt-2",
        "changed",
        2,
        json!({"id": "E1001", "team": "Support"}),
    );
    process(&config, &[(Some("E1001"), change.clone())]).await;

    let dead = read_all(&servers, &config.topics.events_dlq);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].payload(),
        Some(change.as_slice()),
        "original bytes kept"
    );
    assert_eq!(
        header(&dead[0], "dlq.error.kind").as_deref(),
        Some("unknown_employee")
    );
    let message = header(&dead[0], "dlq.error.message").unwrap();
    assert!(
        message.contains("\"E1001\"") && message.contains("once the hire has arrived"),
        "{message}"
    );
    assert!(
        commands(&servers, &config, "zendesk").is_empty(),
        "no account made from a patch"
    );
    let dead_lettered = |text: &str| {
        metric(
            text,
            "provisioner_events_dead_lettered_total{reason=\"unknown_employee\"}",
        )
    };
    assert_eq!(dead_lettered(&engine.metrics.render()), Some(1.0));

    // The hire arrives; then the dead letter is replayed.
    let hire = event("evt-1", "hired", 1, ada("Development"));
    produce(&servers, topic, &[(Some("E1001"), hire)]).await;
    wait_committed(&servers, group, topic, 2).await;
    let mut options = provisioner::replay::Options::new(config.topics.events_dlq.clone());
    options.filter.error_kind = Some("unknown_employee".into());
    let replay_config = config.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let metrics = provisioner::metrics::Metrics::new();
        provisioner::replay::run(&replay_config, &options, &metrics, &mut out).expect("replay");
        String::from_utf8(out).expect("utf-8")
    })
    .await
    .expect("replay thread");
    assert_eq!(
        output.trim(),
        "replayed 1, skipped 0 (superseded 0, filtered 0)"
    );
    wait_committed(&servers, group, topic, 3).await;

    let zendesk: Vec<_> = commands(&servers, &config, "zendesk")
        .iter()
        .map(|c| {
            (
                c["generation"].as_u64().unwrap(),
                c["role"].as_str().unwrap().to_string(),
                c["cause"]["event_id"].as_str().unwrap().to_string(),
                c["account"]["user_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        zendesk,
        [
            (
                1,
                "light_agent".into(),
                "evt-1".into(),
                "ada@acme.test".into()
            ),
            (2, "agent".into(), "evt-2".into(), "ada@acme.test".into())
        ]
    );
    assert_eq!(
        dead_lettered(&engine.metrics.render()),
        Some(1.0),
        "the replayed change was applied, not dead-lettered again"
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_its_input_topic_and_no_leave_to_create_it_the_engine_names_it_and_stops() {
    let mut config = config(1);
    config.kafka.create_topics = false;
    let rules = rules(
        "name: Dev\ntarget: { field: team, op: is, value: Development }\napps: { slack: { role: member } }\n",
        &config.apps,
    );
    let result = provisioner::engine::run(
        config.clone(),
        rules,
        std::sync::Arc::new(provisioner::metrics::Metrics::new()),
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    let message = result.expect_err("no input topic").to_string();
    assert!(
        message.contains(&config.topics.events) && message.contains("kafka.create_topics"),
        "{message}"
    );
}
