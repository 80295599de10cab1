//! The shared test broker and a namespace of one's own on it.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

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
/// and every group id starts `<role>-`, so tests run in parallel.
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

    /// A consumer group id of this test (unique per call).
    pub fn group(&self, role: &str) -> String {
        unique(role)
    }
}
