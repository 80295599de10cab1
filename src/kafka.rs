//! Kafka plumbing shared by every process: client settings, start-up checks
//! and topic creation. Nothing here knows about employees or rules.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Config;

/// Errors talking to the broker at start-up.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    /// The broker did not answer a metadata request in time.
    #[error("Kafka at {servers} is unreachable: {source}")]
    Unreachable {
        /// `kafka.bootstrap_servers` as used.
        servers: String,
        /// The client's error.
        source: KafkaError,
    },
    /// A client could not be created (usually a bad `[kafka.properties]` entry).
    #[error("cannot create a Kafka client (check [kafka.properties]): {0}")]
    Client(KafkaError),
    /// A topic could not be created.
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What the broker said.
        reason: String,
    },
}

/// Base client settings: the bootstrap servers plus `[kafka.properties]`,
/// which come last so operators can override anything (TLS, SASL, tuning).
pub fn client_config(config: &Config) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka.bootstrap_servers);
    for (key, value) in &config.kafka.properties {
        cc.set(key, value);
    }
    cc
}

/// Fails fast, with the broker address in the message, when Kafka does not
/// answer a metadata request within `timeout`.
pub fn check_reachable(config: &Config, timeout: Duration) -> Result<(), KafkaSetupError> {
    let consumer: BaseConsumer = client_config(config)
        .create()
        .map_err(KafkaSetupError::Client)?;
    consumer
        .fetch_metadata(None, timeout)
        .map(|_| ())
        .map_err(|source| KafkaSetupError::Unreachable {
            servers: config.kafka.bootstrap_servers.clone(),
            source,
        })
}

/// The number of partitions of a topic (0 when it does not exist).
pub fn partition_count(config: &Config, topic: &str) -> Result<usize, KafkaSetupError> {
    let consumer: BaseConsumer = client_config(config)
        .create()
        .map_err(KafkaSetupError::Client)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|source| KafkaSetupError::Unreachable {
            servers: config.kafka.bootstrap_servers.clone(),
            source,
        })?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}

/// A topic the process needs.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Its name.
    pub name: String,
    /// Compacted (a changelog) rather than deleted by age.
    pub compact: bool,
}

/// Every topic of SPEC §2 for this configuration: inputs, one command topic
/// per catalogue app, the state changelog, results and both dead-letter topics.
pub fn all_topics(config: &Config) -> Vec<TopicSpec> {
    let t = &config.topics;
    let mut names = vec![
        t.events.clone(),
        t.results.clone(),
        t.control.clone(),
        t.events_dlq.clone(),
        t.commands_dlq.clone(),
    ];
    names.extend(config.apps.keys().map(|app| t.commands(app)));
    let mut specs: Vec<TopicSpec> = names
        .into_iter()
        .map(|name| TopicSpec {
            name,
            compact: false,
        })
        .collect();
    specs.push(TopicSpec {
        name: t.state.clone(),
        compact: true,
    });
    specs
}

/// Creates the topics that are missing; existing ones are left as they are.
pub async fn ensure_topics(config: &Config, topics: &[TopicSpec]) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)
        .create()
        .map_err(KafkaSetupError::Client)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            let topic = NewTopic::new(
                &t.name,
                config.kafka.partitions,
                TopicReplication::Fixed(config.kafka.replication_factor),
            );
            if t.compact {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(new_topics.iter(), &opts)
        .await
        .map_err(|e| KafkaSetupError::CreateTopic {
            topic: topics
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            reason: e.to_string(),
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaSetupError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}
