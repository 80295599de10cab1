//! `[kafka]` and `[topics]`: how to reach the broker and what its topics
//! are called; the two sections the Kafka plumbing reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::secrets::{self, SecretSource, SecretValue};
use super::ConfigError;

/// `[kafka]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list; `KAFKA_BOOTSTRAP_SERVERS` overrides it.
    pub bootstrap_servers: String,
    /// The engine's consumer group; connectors use `<group_id>-<app>`.
    pub group_id: String,
    /// Create missing topics at start-up.
    pub create_topics: bool,
    /// Partition count of topics we create.
    pub partitions: i32,
    /// Replication factor of topics we create.
    pub replication_factor: i32,
    /// How long start-up (and a partition's state restore) keeps retrying
    /// what clears by itself — a topic just created without a leader yet, a
    /// coordinator loading, a broker restarting — before it gives up, in
    /// milliseconds. Refusals (authentication, invalid settings) fail at once.
    #[serde(
        rename = "startup_timeout_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub startup_timeout: Duration,
    /// Passed to librdkafka as-is (TLS, SASL, tuning).
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets, read from an
    /// environment variable (`{ env = "NAME" }`) or a file (`{ file = "PATH" }`)
    /// by [`KafkaConfig::resolve_secrets`]; see `config/secrets.rs`.
    pub secret_properties: BTreeMap<String, SecretSource>,
    /// The resolved values of `secret_properties` (never in the file).
    #[serde(skip)]
    pub secrets: BTreeMap<String, SecretValue>,
}

impl KafkaConfig {
    /// Reads the values of `secret_properties` from their variables or
    /// files. Called once at start-up by every command that talks to Kafka;
    /// the error names the property and the variable or file, never a value.
    pub fn resolve_secrets(&mut self, path: &Path) -> Result<(), ConfigError> {
        self.secrets =
            secrets::resolve(&self.secret_properties).map_err(|p| ConfigError::Invalid {
                path: path.to_path_buf(),
                key: format!("kafka.secret_properties.{:?}", p.property),
                value: p.source.to_string(),
                reason: p.reason,
            })?;
        Ok(())
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            group_id: "provisioner-engine".into(),
            create_topics: true,
            partitions: 6,
            replication_factor: 1,
            startup_timeout: Duration::from_millis(30_000),
            properties: BTreeMap::new(),
            secret_properties: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

/// `[topics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// HR events in.
    pub events: String,
    /// Prefix of the per-app command topics; the app name is appended.
    pub commands_prefix: String,
    /// The engine's compacted state changelog.
    pub state: String,
    /// Connector results.
    pub results: String,
    /// Operator requests to the engine (release or discard held deprovisions).
    pub control: String,
    /// HR events that could not be processed.
    pub events_dlq: String,
    /// Commands that could not be applied.
    pub commands_dlq: String,
    /// Reconciliation's findings, one record per finding per run (#13):
    /// for dashboards and audit, so they carry personal data like the DLQ.
    pub reconcile_findings: String,
    /// The rules store: one partition, every published rules version kept
    /// (`rules publish` writes it, engines with `rules.source = "kafka"`
    /// follow it).
    pub rules: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            events: "hr.employee.events".into(),
            commands_prefix: "provisioning.commands.".into(),
            state: "provisioning.state".into(),
            results: "provisioning.results".into(),
            control: "provisioning.control".into(),
            events_dlq: "provisioning.events.dlq".into(),
            commands_dlq: "provisioning.commands.dlq".into(),
            reconcile_findings: "provisioning.reconcile.findings".into(),
            rules: "provisioning.rules".into(),
        }
    }
}

impl TopicsConfig {
    /// The command topic of one app.
    pub fn commands(&self, app: &str) -> String {
        format!("{}{}", self.commands_prefix, app)
    }
}
