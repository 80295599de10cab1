//! The engine: HR events in, commands out.
//!
//! [`decide`] holds every decision and is pure; [`Engine::handle`] turns one
//! Kafka record into the records to produce (commands or a dead letter);
//! [`run`] is the Kafka loop around it. The loop works in small batches: it
//! produces a batch's records, waits until the broker has them all, and only
//! then commits the batch's input offsets — so a crash re-reads a batch rather
//! than losing one (at-least-once; the connectors' generation check makes a
//! repeated command harmless). Employee state is kept in memory for now.

pub mod decide;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::dlq::{self, ErrorKind, Failure};
use crate::events;
use crate::kafka::{self, KafkaSetupError};
use crate::rules::RuleSet;
use state::EmployeeState;

/// Why the engine stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Start-up: broker, clients or topics.
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    /// A Kafka operation failed while running.
    #[error("Kafka error: {0}")]
    Kafka(#[from] KafkaError),
}

/// A record to produce.
#[derive(Debug)]
pub struct Output {
    /// Destination topic.
    pub topic: String,
    /// Record key (the employee id, or the original key for dead letters).
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub payload: Vec<u8>,
    /// Headers (dead letters only).
    pub headers: Option<OwnedHeaders>,
}

/// The engine's in-memory state and the decision around it.
pub struct Engine {
    config: Config,
    rules: RuleSet,
    states: HashMap<String, EmployeeState>,
}

impl Engine {
    /// An engine with no employees yet.
    pub fn new(config: Config, rules: RuleSet) -> Engine {
        Engine {
            config,
            rules,
            states: HashMap::new(),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The state of one employee, if known.
    pub fn state(&self, employee_id: &str) -> Option<&EmployeeState> {
        self.states.get(employee_id)
    }

    /// Handles one input record and returns what to produce for it: the
    /// commands it causes, or its dead-letter copy when it is not a valid event.
    pub fn handle<M: Message>(&mut self, record: &M) -> Vec<Output> {
        let parsed = match record.payload() {
            None => Err(events::InvalidEvent("record has no value".into())),
            Some(value) => events::parse(record.key(), value, self.config.limits.max_event_bytes),
        };
        let event = match parsed {
            Ok(event) => event,
            Err(reason) => return vec![self.dead_letter(record, reason.0)],
        };
        let span =
            tracing::info_span!("event", event_id = %event.id, employee_id = %event.employee_id);
        let _enter = span.enter();
        let decision = decide::decide(
            self.states.get(&event.employee_id),
            &event,
            &self.rules,
            &self.config.apps,
            Utc::now(),
        );
        if decision.stale {
            info!(
                message = "Stale event ignored.",
                event_type = event.kind.label(),
                sequence = ?event.sequence
            );
            return Vec::new();
        }
        debug!(
            message = "Event applied.",
            event_type = event.kind.label(),
            commands = decision.commands.len()
        );
        self.states
            .insert(event.employee_id.clone(), decision.state);
        decision
            .commands
            .into_iter()
            .map(|cmd| {
                info!(
                    message = "Command emitted.",
                    app = %cmd.app,
                    command_id = %cmd.command_id,
                    action = cmd.action.as_str(),
                    role = cmd.role.as_deref().unwrap_or("")
                );
                Output {
                    topic: self.config.topics.commands(&cmd.app),
                    key: Some(cmd.employee_id.clone().into_bytes()),
                    payload: cmd.to_json(),
                    headers: None,
                }
            })
            .collect()
    }

    fn dead_letter<M: Message>(&self, record: &M, message: String) -> Output {
        warn!(
            message = "Invalid HR event dead-lettered.",
            topic = record.topic(),
            partition = record.partition(),
            offset = record.offset(),
            reason = %message
        );
        let failure = Failure {
            kind: ErrorKind::InvalidEvent,
            message,
            attempts: 1,
            app: None,
        };
        Output {
            topic: self.config.topics.events_dlq.clone(),
            key: record.key().map(<[u8]>::to_vec),
            payload: record.payload().unwrap_or_default().to_vec(),
            headers: Some(dlq::headers(record, &failure)),
        }
    }
}

/// Runs the engine until `shutdown` is cancelled; then finishes the batch in
/// flight, commits it and leaves the group.
pub async fn run(
    config: Config,
    rules: RuleSet,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    // Blocks for at most the timeout, once, before anything else runs.
    kafka::check_reachable(&config, Duration::from_secs(10))?;
    if config.kafka.create_topics {
        kafka::ensure_topics(&config, &kafka::all_topics(&config)).await?;
    }
    let consumer: StreamConsumer = kafka::client_config(&config)
        .set("group.id", &config.kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(KafkaSetupError::Client)?;
    consumer.subscribe(&[&config.topics.events])?;
    let producer: FutureProducer = kafka::client_config(&config)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(KafkaSetupError::Client)?;
    let batch_max = config.engine.batch_max_records;
    let batch_time = Duration::from_millis(config.engine.batch_max_ms);
    let mut engine = Engine::new(config, rules);
    info!(
        message = "Engine ready.",
        topic = %engine.config.topics.events,
        rules_version = %engine.rules.version()
    );

    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            record = consumer.recv() => record?,
        };
        let mut outputs = engine.handle(&first);
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        offsets.insert(
            (first.topic().to_string(), first.partition()),
            first.offset(),
        );
        drop(first);
        let deadline = Instant::now() + batch_time;
        let mut count = 1;
        while count < batch_max {
            let record = match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Err(_elapsed) => break,
                Ok(record) => record?,
            };
            outputs.extend(engine.handle(&record));
            offsets.insert(
                (record.topic().to_string(), record.partition()),
                record.offset(),
            );
            count += 1;
        }
        let produced = outputs.len();
        produce_all(&producer, outputs).await?;
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset + 1))?;
        }
        consumer.commit(&tpl, CommitMode::Sync)?;
        info!(message = "Batch committed.", records = count, produced);
    }
    info!(message = "Engine stopping: batch committed, leaving the group.");
    consumer.unsubscribe();
    Ok(())
}

/// Produces every output and waits until the broker acknowledged all of them.
async fn produce_all(producer: &FutureProducer, outputs: Vec<Output>) -> Result<(), KafkaError> {
    let sends = outputs.iter().map(|out| {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&out.topic).payload(&out.payload);
        if let Some(key) = &out.key {
            record = record.key(key);
        }
        if let Some(headers) = &out.headers {
            record = record.headers(headers.clone());
        }
        producer.send(record, Duration::from_secs(30))
    });
    for result in join_all(sends).await {
        result.map_err(|(error, _message)| error)?;
    }
    Ok(())
}
