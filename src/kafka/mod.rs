//! Kafka plumbing shared by every process: client settings, start-up checks,
//! topic creation, and the transactional producer ([`txn`]). Nothing here
//! knows about employees or rules.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Config;
use crate::sync::lock;

mod transient;
pub mod txn;
pub use transient::{is_transient, is_transient_code, retry_transient, Backoff};
pub use txn::{CommitPhases, Sender, Sink, Tuning, TxnError, TxnProducer};

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
    /// A topic exists but did not become usable (a leader for each of its
    /// partitions) within `kafka.startup_timeout_ms`.
    #[error(
        "topic {topic} is not ready after {timeout_ms} ms (kafka.startup_timeout_ms): {source}"
    )]
    NotReady {
        /// The topic.
        topic: String,
        /// The deadline that passed.
        timeout_ms: u64,
        /// The last error seen.
        source: KafkaError,
    },
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

/// Sets a librdkafka property unless `[kafka.properties]` already does: a
/// process's tuning defaults yield to the operator's.
pub fn set_default(cc: &mut ClientConfig, key: &str, value: &str) {
    if cc.get(key).is_none() {
        cc.set(key, value);
    }
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
            let mut first = lock(&self.0);
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
        let auth = lock(&consumer.context().0).clone();
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

/// The context of a consumer that reads partitions to their end
/// (`enable.partition.eof`): the end is how it knows it is done, and
/// librdkafka also reports it as a client error, which the default context
/// would log at error level once per partition. Other errors are logged.
pub struct EofContext;

impl rdkafka::ClientContext for EofContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            tracing::error!(message = "Kafka client error while reading to the end.", %error, reason);
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EofContext {}

/// A topic the process needs.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Its name.
    pub name: String,
    /// Compacted (a changelog) rather than deleted by age.
    pub compact: bool,
}

/// Every topic of CONTRACT §2 for this configuration: inputs, one command topic
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

/// Creates the topics that are missing (existing ones are left as they
/// are), then waits until each has a leader for every partition: a topic
/// created a moment ago answers `NotLeaderForPartition` for a while, and the
/// first reads of it must not fail on that. Transient refusals (a controller
/// moving, a request timing out) are retried; both within
/// `kafka.startup_timeout_ms`.
pub async fn ensure_topics(config: &Config, topics: &[TopicSpec]) -> Result<(), KafkaSetupError> {
    create_topics(config, topics, |spec| new_topic(config, spec)).await
}

/// [`ensure_topics`] for a store that keeps its whole history in order (the
/// rules topic): one partition, nothing ever deleted
/// (`cleanup.policy=delete` with `retention.ms` and `retention.bytes` -1).
/// An existing topic is left as it is.
pub async fn ensure_history_topic(config: &Config, name: &str) -> Result<(), KafkaSetupError> {
    let spec = TopicSpec {
        name: name.to_string(),
        compact: false,
    };
    create_topics(config, &[spec], |spec| {
        NewTopic::new(
            &spec.name,
            1,
            TopicReplication::Fixed(config.kafka.replication_factor),
        )
        .set("cleanup.policy", "delete")
        .set("retention.ms", "-1")
        .set("retention.bytes", "-1")
    })
    .await
}

/// Creates `topics` as `build` describes them, then waits for their leaders.
async fn create_topics<'a>(
    config: &Config,
    topics: &'a [TopicSpec],
    build: impl Fn(&'a TopicSpec) -> NewTopic<'a>,
) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)
        .create()
        .map_err(KafkaSetupError::Client)?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut backoff = Backoff::new(config.kafka.startup_timeout);
    let mut todo: Vec<&TopicSpec> = topics.iter().collect();
    while !todo.is_empty() {
        let new_topics: Vec<NewTopic<'_>> = todo.iter().map(|t| build(t)).collect();
        let results = admin
            .create_topics(new_topics.iter(), &opts)
            .await
            .map_err(|e| KafkaSetupError::CreateTopic {
                topic: todo
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                reason: e.to_string(),
            })?;
        let mut again = Vec::new();
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) if is_transient_code(code) => again.push((topic, code)),
                Err((topic, code)) => {
                    return Err(KafkaSetupError::CreateTopic {
                        topic,
                        reason: code.to_string(),
                    })
                }
            }
        }
        if let Some((topic, code)) = again.first() {
            let Some(delay) = backoff.next_delay() else {
                return Err(KafkaSetupError::CreateTopic {
                    topic: topic.clone(),
                    reason: code.to_string(),
                });
            };
            tokio::time::sleep(delay).await;
        }
        todo.retain(|t| again.iter().any(|(topic, _)| *topic == t.name));
    }
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let config = config.clone();
    // Metadata requests and pauses block: off the async runtime.
    match tokio::task::spawn_blocking(move || await_leaders(&config, &names)).await {
        Ok(result) => result,
        // Only a panic in the wait gets here: pass it on.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn new_topic<'a>(config: &Config, spec: &'a TopicSpec) -> NewTopic<'a> {
    let topic = NewTopic::new(
        &spec.name,
        config.kafka.partitions,
        TopicReplication::Fixed(config.kafka.replication_factor),
    );
    if spec.compact {
        topic.set("cleanup.policy", "compact")
    } else {
        topic
    }
}

/// Waits until every topic of `names` has a leader for each of its
/// partitions, within `kafka.startup_timeout_ms` in all.
fn await_leaders(config: &Config, names: &[String]) -> Result<(), KafkaSetupError> {
    let consumer: BaseConsumer = client_config(config)
        .create()
        .map_err(KafkaSetupError::Client)?;
    let timeout = config.kafka.startup_timeout;
    let deadline = std::time::Instant::now() + timeout;
    for name in names {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        retry_transient("waiting for a new topic's leaders", left, || {
            leaders_known(&consumer, name)
        })
        .map_err(|source| KafkaSetupError::NotReady {
            topic: name.clone(),
            timeout_ms: timeout.as_millis() as u64,
            source,
        })?;
    }
    Ok(())
}

/// `Ok` when the broker knows `topic` and a leader for each of its
/// partitions; else the error the metadata carries.
fn leaders_known(consumer: &BaseConsumer, topic: &str) -> Result<(), KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let unknown = KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition);
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(unknown);
    };
    if let Some(error) = t.error() {
        return Err(KafkaError::MetadataFetch(error.into()));
    }
    if t.partitions().is_empty() {
        return Err(unknown);
    }
    for p in t.partitions() {
        if let Some(error) = p.error() {
            return Err(KafkaError::MetadataFetch(error.into()));
        }
        if p.leader() < 0 {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::LeaderNotAvailable,
            ));
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
