//! Poison that the engine cannot pass on, on a real broker: a record whose
//! dead-letter copy is too large to write, and a record whose outputs the
//! broker refuses. Each is dead-lettered alone; every other record flows.

use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::json;

use crate::harness::*;

fn dev(id: &str, last_name: &str) -> Vec<u8> {
    let employee = json!({"id": id, "email": format!("{id}@acme.test"), "first_name": "A",
                          "last_name": last_name, "team": "Development"});
    event(&format!("evt-{id}"), "hired", 1, employee)
}

/// Creates one topic with a `max.message.bytes` of its own.
async fn create_topic(servers: &str, name: &str, max_message_bytes: usize) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .expect("admin");
    let size = max_message_bytes.to_string();
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1)).set("max.message.bytes", &size);
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Produces records in order with a producer allowed large ones.
async fn produce_large(servers: &str, topic: &str, records: &[(&str, Vec<u8>)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("message.max.bytes", "10000000")
        .create()
        .expect("producer");
    for (key, value) in records {
        let record = FutureRecord::to(topic).key(*key).payload(value);
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

fn employees_with_commands(
    servers: &str,
    config: &provisioner::config::Config,
    app: &str,
) -> Vec<String> {
    let mut ids: Vec<String> = commands_of(servers, config, app)
        .iter()
        .map(|c| c["employee_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn records_too_large_to_copy_are_dead_lettered_without_their_value() {
    let config = config(1);
    let servers = config.kafka.bootstrap_servers.clone();
    // The HR platform may publish records of several megabytes; the engine's
    // producer and DLQ keep their defaults (1,000,000 and 1,048,588 bytes).
    create_topic(&servers, &config.topics.events, 6_000_000).await;
    let not_json = vec![b'x'; 1_040_000];
    let five_mb = vec![b'{'; 5_000_000];
    produce_large(
        &servers,
        &config.topics.events,
        &[
            ("E1", dev("E1", "One")),
            ("P1", not_json),
            ("E2", dev("E2", "Two")),
            ("P2", five_mb),
            ("E3", dev("E3", "Three")),
        ],
    )
    .await;
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 5).await;
    let dead = read_all(&servers, &config.topics.events_dlq);
    let summary: Vec<(String, bool, Option<String>, Option<String>)> = dead
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.payload().is_none(),
                header(m, "dlq.original.offset"),
                header(m, "dlq.error.kind"),
            )
        })
        .collect();
    let kind = Some("invalid_event".to_string());
    assert_eq!(
        summary,
        vec![
            ("P1".into(), true, Some("1".into()), kind.clone()),
            ("P2".into(), true, Some("3".into()), kind),
        ]
    );
    for m in &dead {
        let why = header(m, "dlq.value.dropped").expect("says the value was dropped");
        assert!(why.contains("exceeds the 1000000 bytes"), "{why}");
    }
    assert_eq!(
        employees_with_commands(&servers, &config, "slack"),
        ["E1", "E2", "E3"]
    );
    let text = engine.metrics.render();
    assert_eq!(
        metric(
            &text,
            "provisioner_events_dead_lettered_total{reason=\"invalid_event\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(&text, "provisioner_events_consumed_total{type=\"hired\"}"),
        Some(3.0)
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_whose_outputs_are_refused_is_isolated_and_dead_lettered_alone() {
    let config = config(1);
    let servers = config.kafka.bootstrap_servers.clone();
    // slack's command topic refuses records over 4 KB: a command for an
    // employee with a 20 KB name (random, so compression cannot save it)
    // aborts every transaction that holds it.
    create_topic(&servers, &config.topics.commands("slack"), 4096).await;
    create_named_topics(&config, std::slice::from_ref(&config.topics.events)).await;
    let long_name = Alphanumeric.sample_string(&mut rand::rng(), 20_000);
    let mut records: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("G{i:02}"), dev(&format!("G{i:02}"), "Good")))
        .collect();
    records.push(("POISON".into(), dev("POISON", &long_name)));
    records.extend((20..40).map(|i| (format!("G{i:02}"), dev(&format!("G{i:02}"), "Good"))));
    let refs: Vec<(&str, Vec<u8>)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    produce_large(&servers, &config.topics.events, &refs).await;
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 41).await;
    let dead = read_all(&servers, &config.topics.events_dlq);
    assert_eq!(dead.len(), 1, "only the poison is dead-lettered");
    assert_eq!(dead[0].key(), Some(&b"POISON"[..]));
    assert_eq!(
        dead[0].payload(),
        Some(&refs[20].1[..]),
        "its value is kept"
    );
    assert_eq!(
        header(&dead[0], "dlq.error.kind").as_deref(),
        Some("retries_exhausted")
    );
    assert_eq!(
        header(&dead[0], "dlq.original.offset").as_deref(),
        Some("20")
    );
    let good: Vec<String> = (0..40).map(|i| format!("G{i:02}")).collect();
    assert_eq!(employees_with_commands(&servers, &config, "slack"), good);
    assert_eq!(
        employees_with_commands(&servers, &config, "zendesk"),
        good,
        "none of the poison's commands"
    );
    let text = engine.metrics.render();
    assert_eq!(
        metric(
            &text,
            "provisioner_events_dead_lettered_total{reason=\"retries_exhausted\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "provisioner_events_consumed_total{type=\"hired\"}"),
        Some(41.0)
    );
    engine.stop().await;
}
