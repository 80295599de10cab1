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
    /// The broker refused our credentials (SASL) or the TLS handshake failed.
    #[error(
        "Kafka at {servers} refused the connection: authentication failed ({reason}); \
         check security.protocol, sasl.mechanism, sasl.username and sasl.password \
         in [kafka.properties] / [kafka.secret_properties]"
    )]
    Authentication {
        /// `kafka.bootstrap_servers` as used.
        servers: String,
        /// What librdkafka reported.
        reason: String,
    },
    /// `[kafka.secret_properties]` were configured but never read (a bug in
    /// the caller: `KafkaConfig::resolve_secrets` must run first).
    #[error("[kafka.secret_properties] were not resolved before connecting")]
    SecretsUnresolved,
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

/// Base client settings: the bootstrap servers plus `[kafka.properties]` and
/// the resolved `[kafka.secret_properties]`, which come last so operators can
/// override anything (TLS, SASL, tuning).
pub fn client_config(config: &Config) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka.bootstrap_servers);
    for (key, value) in &config.kafka.properties {
        cc.set(key, value);
    }
    for (key, value) in &config.kafka.secrets {
        cc.set(key, value.expose());
    }
    cc
}

/// Remembers the first authentication or TLS error librdkafka reports; such
/// errors arrive through the error callback, not as a request's result.
#[derive(Default)]
struct AuthWatch(std::sync::Mutex<Option<String>>);

impl rdkafka::ClientContext for AuthWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        if matches!(
            code,
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
                | Some(RDKafkaErrorCode::SSL)
        ) {
            let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| reason.to_string());
        }
    }
}

impl rdkafka::consumer::ConsumerContext for AuthWatch {}

/// Fails fast, with the broker address in the message, when Kafka does not
/// answer a metadata request within `timeout` — at once when the broker
/// refuses our credentials, with a message saying so.
///
/// The request runs on a thread of its own while this one serves the
/// client's error callback: an authentication failure is reported there,
/// not as the request's result, which would only time out.
pub fn check_reachable(config: &Config, timeout: Duration) -> Result<(), KafkaSetupError> {
    if config.kafka.secrets.len() < config.kafka.secret_properties.len() {
        return Err(KafkaSetupError::SecretsUnresolved);
    }
    let consumer: std::sync::Arc<BaseConsumer<AuthWatch>> = std::sync::Arc::new(
        client_config(config)
            .create_with_context(AuthWatch::default())
            .map_err(KafkaSetupError::Client)?,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let (client, topic) = (
        std::sync::Arc::clone(&consumer),
        config.topics.events.clone(),
    );
    // One topic's metadata: as good a proof as all topics', and cheap on
    // clusters with thousands of them.
    std::thread::spawn(move || {
        let _ = tx.send(client.fetch_metadata(Some(&topic), timeout).map(|_| ()));
    });
    let servers = || config.kafka.bootstrap_servers.clone();
    loop {
        let answer = rx.recv_timeout(Duration::from_millis(100));
        // Serves the error callback (no record can arrive: nothing is assigned).
        let _ = consumer.poll(Duration::ZERO);
        let auth = consumer
            .context()
            .0
            .lock()
            .map(|a| a.clone())
            .unwrap_or(None);
        if let Some(reason) = auth {
            return Err(KafkaSetupError::Authentication {
                servers: servers(),
                reason,
            });
        }
        match answer {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(source)) => {
                return Err(KafkaSetupError::Unreachable {
                    servers: servers(),
                    source,
                })
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(KafkaSetupError::Unreachable {
                    servers: servers(),
                    source: KafkaError::MetadataFetch(RDKafkaErrorCode::Fail),
                })
            }
        }
    }
}

/// The number of partitions of a topic (0 when it does not exist).
pub fn partition_count(config: &Config, topic: &str) -> Result<usize, KafkaSetupError> {
    Ok(metadata(config, Some(topic))?
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}

/// The names of the topics that exist on the broker (with partitions), in
/// one request.
pub fn existing_topics(
    config: &Config,
) -> Result<std::collections::BTreeSet<String>, KafkaSetupError> {
    Ok(metadata(config, None)?
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.name().to_string())
        .collect())
}

/// Cluster metadata for one topic or all. Asked by a consumer client, which
/// never has the broker create a topic it asks about (librdkafka's
/// `allow.auto.create.topics` is off for consumers).
fn metadata(
    config: &Config,
    topic: Option<&str>,
) -> Result<rdkafka::metadata::Metadata, KafkaSetupError> {
    let consumer: BaseConsumer = client_config(config)
        .create()
        .map_err(KafkaSetupError::Client)?;
    consumer
        .fetch_metadata(topic, Duration::from_secs(10))
        .map_err(|source| KafkaSetupError::Unreachable {
            servers: config.kafka.bootstrap_servers.clone(),
            source,
        })
}

/// Stops an assigned consumer fetching and drops what it fetched but no one
/// read (records past the end, end-of-partition events), so closing it does
/// not report them as errors. For consumers that read a topic to an end.
pub fn unassign_and_drain(consumer: &BaseConsumer) {
    let _ = consumer.unassign();
    for _ in 0..10_000 {
        if consumer.poll(Duration::ZERO).is_none() {
            break;
        }
    }
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

/// librdkafka's `message.max.bytes` when the client configuration does not
/// set it.
const PRODUCER_MAX_BYTES: usize = 1_000_000;

/// The largest record a producer with this configuration can write to
/// `topic`: the smaller of the client's `message.max.bytes` and the topic's
/// `max.message.bytes`. A topic whose configuration cannot be read counts
/// as the broker default (1 MiB + 12), with a warning.
pub async fn max_record_bytes(config: &Config, topic: &str) -> usize {
    let producer = client_config(config)
        .get("message.max.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(PRODUCER_MAX_BYTES);
    let topic_max = match topic_max_bytes(config, topic).await {
        Ok(n) => n,
        Err(reason) => {
            tracing::warn!(message = "Could not read a topic's max.message.bytes; assuming the broker default.", topic, %reason);
            1_048_588
        }
    };
    producer.min(topic_max)
}

async fn topic_max_bytes(config: &Config, topic: &str) -> Result<usize, String> {
    use rdkafka::admin::ResourceSpecifier;
    let admin: AdminClient<DefaultClientContext> =
        client_config(config).create().map_err(|e| e.to_string())?;
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await
        .map_err(|e| e.to_string())?;
    let resource = results
        .into_iter()
        .next()
        .ok_or("no answer")?
        .map_err(|e| e.to_string())?;
    resource
        .get("max.message.bytes")
        .and_then(|entry| entry.value.as_deref())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "max.message.bytes not in the topic's configuration".to_string())
}
