//! The engine: HR events in, commands out, exactly once.
//!
//! [`decide`] holds every decision and is pure. [`pending`] turns a batch of
//! records (or a rules change, a restore, an operator request) into the
//! records one transaction writes. [`run`] is the Kafka loop: it restores
//! each assigned partition's state from the changelog ([`store`]), then
//! processes batches, each in one transaction (the shared
//! [`crate::kafka::txn`] producer, with the engine's tuning) holding the
//! commands, the dead letters, the state writes and the input offsets. [`guard`] holds
//! mass deprovisions; [`control`] applies an operator's release or discard;
//! [`schedule`] lists what the timers will do; [`reload`] watches the rules
//! directory or follows the rules store; [`publish`] writes the store, after
//! [`impact`] has simulated the change over the changelog.

pub mod control;
pub mod decide;
pub mod desired;
pub(crate) mod events;
pub(crate) mod guard;
pub mod impact;
pub(crate) mod parallel;
pub(crate) mod pending;
pub mod publish;
pub(crate) mod rebalance;
pub(crate) mod reload;
pub use reload::stored_rules;
mod run;
pub mod schedule;
pub mod state;
pub(crate) mod store;
pub(crate) mod timers;
pub(crate) mod topics;
pub(crate) mod window;

use std::sync::Arc;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::BaseRecord;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::kafka::{self, KafkaSetupError};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::telemetry::{Role, Telemetry};

/// Why the engine stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Start-up: broker, clients or topics.
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    /// The input or state topic does not exist (and `kafka.create_topics`
    /// is off).
    #[error(
        "topic {topic} does not exist on the broker; create it or set kafka.create_topics = true"
    )]
    MissingTopic {
        /// The topic.
        topic: String,
    },
    /// The input and state topics are not co-partitioned.
    #[error(
        "topic {events} has {events_partitions} partitions but {state} has {state_partitions}; \
         the state changelog must have as many partitions as the input"
    )]
    NotCoPartitioned {
        /// The input topic.
        events: String,
        /// Its partition count.
        events_partitions: usize,
        /// The state topic.
        state: String,
        /// Its partition count.
        state_partitions: usize,
    },
    /// A Kafka operation failed while running.
    #[error("Kafka error: {0}")]
    Kafka(#[from] KafkaError),
    /// The transactional producer cannot go on (e.g. fenced by a newer
    /// instance with the same transactional id); the process must restart.
    #[error("stopping: {0}")]
    Fatal(KafkaError),
    /// `rules.source = "kafka"` and nothing was ever published.
    #[error(
        "no rules published on {topic} (rules.source = \"kafka\"); publish them with \
         `provisioner rules publish --rules DIR --message TEXT`"
    )]
    NoStoredRules {
        /// The rules topic.
        topic: String,
    },
    /// The latest published rules are not valid against this catalogue.
    #[error("the latest rules on {topic} ({version}) are not valid for this configuration's apps:\n{errors}")]
    InvalidStoredRules {
        /// The rules topic.
        topic: String,
        /// The stored version.
        version: String,
        /// Every problem.
        errors: crate::rules::RuleErrors,
    },
    /// The rules topic could not be read.
    #[error("cannot read {topic}: {source}")]
    RulesStore {
        /// The rules topic.
        topic: String,
        /// Why.
        source: Box<crate::rules::store::ReadError>,
    },
    /// The engine thread panicked.
    #[error("engine thread failed: {0}")]
    Thread(String),
}

/// A record to produce.
#[derive(Debug)]
pub struct Output {
    /// Destination topic; shared by the batch's records to it.
    pub topic: Arc<str>,
    /// Destination partition; `None` lets the partitioner choose by key.
    pub partition: Option<i32>,
    /// Record key (the employee id, or the original key for dead letters).
    pub key: Option<Vec<u8>>,
    /// Record value; `None` is a tombstone.
    pub payload: Option<Vec<u8>>,
    /// Headers (dead letters only).
    pub headers: Option<OwnedHeaders>,
}

impl Output {
    /// The record to send, borrowing this output's bytes.
    pub fn record(&self) -> BaseRecord<'_, [u8], [u8]> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic);
        if let Some(key) = &self.key {
            record = record.key(key);
        }
        if let Some(payload) = &self.payload {
            record = record.payload(payload);
        }
        if let Some(partition) = self.partition {
            record = record.partition(partition);
        }
        if let Some(headers) = &self.headers {
            record = record.headers(headers.clone());
        }
        record
    }
}

/// Runs the engine until `shutdown` is cancelled, then finishes the batch in
/// flight (its transaction commits or aborts), leaves the group and returns.
///
/// The Kafka work runs on a thread of its own: transactional calls block.
pub async fn run(
    config: Config,
    rules: RuleSet,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let telemetry = Telemetry::with_metrics(Role::Engine, metrics);
    run_with(config, rules, telemetry, shutdown).await
}

/// [`run`], reporting readiness (`/readyz`) and consumer lag through
/// `telemetry` as well as metrics.
pub async fn run_with(
    mut config: Config,
    rules: RuleSet,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    telemetry.readiness.rules_loaded(rules.version());
    telemetry.metrics.init_engine(config.apps.keys());
    // Blocks for at most the timeout, once, before anything else runs.
    kafka::check_reachable(&config, std::time::Duration::from_secs(10))?;
    if config.kafka.create_topics {
        kafka::ensure_topics(&config, &kafka::all_topics(&config)).await?;
    }
    check_co_partitioned(&config)?;
    // A dead letter the producer or the DLQ topic would refuse would abort
    // its batch forever: know the limit before the first one.
    let fits = kafka::max_record_bytes(&config, &config.topics.events_dlq).await;
    let limit = config
        .limits
        .max_dead_letter_bytes
        .map_or(fits, |n| n.min(fits));
    config.limits.max_dead_letter_bytes = Some(limit);
    let topics = topics::CommandTopics::check(&config)?;
    telemetry.start_lag_monitor(&config, &shutdown);
    tokio::task::spawn_blocking(move || {
        run::run_blocking(config, rules, topics, telemetry, shutdown)
    })
    .await
    .map_err(|e| EngineError::Thread(e.to_string()))?
}

fn check_co_partitioned(config: &Config) -> Result<(), EngineError> {
    let events = kafka::partition_count(config, &config.topics.events)?;
    let state = kafka::partition_count(config, &config.topics.state)?;
    for (topic, partitions) in [
        (&config.topics.events, events),
        (&config.topics.state, state),
    ] {
        if partitions == 0 {
            return Err(EngineError::MissingTopic {
                topic: topic.clone(),
            });
        }
    }
    if events != state {
        return Err(EngineError::NotCoPartitioned {
            events: config.topics.events.clone(),
            events_partitions: events,
            state: config.topics.state.clone(),
            state_partitions: state,
        });
    }
    Ok(())
}
