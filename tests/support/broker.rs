//! The shared test broker and a namespace of one's own on it.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::DEADLINE;

/// The broker under test (`KAFKA_BOOTSTRAP_SERVERS`, default
/// `127.0.0.1:9092`); fails the test loudly when it does not answer.
pub fn bootstrap() -> String {
    let servers =
        std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("client");
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "no Kafka broker at {servers} ({e}). These tests need a real broker: \
             run `deploy/local/kafka.sh up` or set KAFKA_BOOTSTRAP_SERVERS."
        );
    }
    servers
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A test's own corner of the shared broker: every topic is `t-<id>.<name>`
/// and every consumer group `t-<id>.<role>`, so tests run in parallel and a
/// leftover is traced to its test.
pub struct Namespace {
    /// `t-<id>`.
    pub prefix: String,
}

impl Namespace {
    /// A fresh namespace.
    pub fn new() -> Namespace {
        Namespace {
            prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The topic `name` of this namespace, e.g. `events` or `commands.wiki`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// The consumer group id of this test's `role`, e.g. `engine`.
    pub fn group(&self, role: &str) -> String {
        format!("{}.{role}", self.prefix)
    }

    /// The `[topics]` table of a configuration using this namespace's topics.
    pub fn topics_toml(&self) -> String {
        let prefix = &self.prefix;
        format!(
            "[topics]\n\
             events = \"{prefix}.events\"\n\
             commands_prefix = \"{prefix}.commands.\"\n\
             state = \"{prefix}.state\"\n\
             results = \"{prefix}.results\"\n\
             control = \"{prefix}.control\"\n\
             events_dlq = \"{prefix}.events.dlq\"\n\
             commands_dlq = \"{prefix}.commands.dlq\"\n\
             reconcile_findings = \"{prefix}.reconcile.findings\"\n\
             rules = \"{prefix}.rules\"\n"
        )
    }
}

/// Produces `(key, value)` records to `topic` and waits for their delivery;
/// `properties` are extra client properties (e.g. SASL).
pub async fn produce_with(
    servers: &str,
    properties: &[(&str, &str)],
    topic: &str,
    records: &[(Option<&str>, Vec<u8>)],
) {
    let mut client = ClientConfig::new();
    // Idempotence keeps each key's records in order while all are in flight.
    client
        .set("bootstrap.servers", servers)
        .set("enable.idempotence", "true");
    for (k, v) in properties {
        client.set(*k, *v);
    }
    let producer: FutureProducer = client.create().expect("producer");
    let sends = records.iter().map(|(key, value)| {
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        producer.send(record, Duration::from_secs(30))
    });
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e).expect("produce");
    }
}

/// An HR event (a CloudEvent) as bytes.
pub fn event(id: &str, kind: &str, seq: i64, employee: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": "hris://test",
        "type": format!("hr.employee.{kind}"),
        "time": "2026-11-26T09:00:00Z",
        "subject": employee["id"],
        "datacontenttype": "application/json",
        "data": { "sequence": seq, "employee": employee }
    })
    .to_string()
    .into_bytes()
}

/// Every committed record of a topic, read from the beginning to the end of
/// each partition (`read_committed`), in partition then offset order.
pub fn read_all(servers: &str, topic: &str) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique("reader"))
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} does not exist");
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut at_end: HashMap<i32, bool> = HashMap::new();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while at_end.len() < partitions.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "reading {topic} timed out"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => records.push(m.detach()),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p, true);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    records.sort_by_key(|m| (m.partition(), m.offset()));
    records
}
