//! Results (CONTRACT §6): one record per command a connector handled, on
//! `provisioning.results`, keyed by employee id. They are the audit trail and
//! tell which generation an app last applied: the connector worker rebuilds
//! that at start-up and `replay` reads it to skip superseded commands, both
//! through [`read_to_end`].

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::config::Config;
use crate::ids::{AppName, EmployeeId};
use crate::kafka;

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultOutcome {
    /// The app was changed.
    Applied,
    /// The app already matched.
    Unchanged,
    /// A newer generation was already applied; nothing was done.
    Superseded,
    /// It could not be applied and went to the commands dead-letter topic.
    DeadLettered,
}

/// One result record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command's id.
    pub command_id: String,
    /// The app.
    pub app: AppName,
    /// The employee.
    pub employee_id: EmployeeId,
    /// The command's generation.
    pub generation: u64,
    /// What became of it.
    pub outcome: ResultOutcome,
    /// The app's id of the account, when known.
    pub app_account_id: Option<String>,
    /// Calls made, the first included.
    pub attempts: u32,
    /// Time from first attempt to outcome.
    pub duration_ms: u64,
    /// The last error, for `dead_lettered` (no secrets).
    pub error: Option<String>,
    /// On the result of a re-assert written by reconciliation, its run id
    /// (the command's `cause.event_id`); absent on every other result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassert: Option<String>,
}

impl CommandResult {
    /// The generation the app holds after this result: `applied` and
    /// `unchanged` say so; the other outcomes changed nothing in the app.
    pub fn held_generation(&self) -> Option<u64> {
        matches!(
            self.outcome,
            ResultOutcome::Applied | ResultOutcome::Unchanged
        )
        .then_some(self.generation)
    }
}

/// Reads the results topic from the beginning to its end as it is now
/// (`read_committed`), handing each record's value to `take`; returns how
/// many records were read. Results written meanwhile are not waited for.
/// Blocking: run it off the async runtime. A missing topic is an empty
/// history. `group` names the (never committed) consumer group.
pub fn read_to_end(
    config: &Config,
    group: &str,
    take: impl FnMut(&[u8]),
) -> Result<u64, KafkaError> {
    let topic = &config.topics.results;
    let consumer = results_consumer(config, group)?;
    let open = partition_ends(config, &consumer)?;
    if open.is_empty() {
        return Ok(0);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, _) in &open {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let read = read_until_ends(&consumer, topic, open, take)?;
    kafka::unassign_and_drain(&consumer);
    Ok(read)
}

/// A `read_committed` consumer of the results, reporting partition ends.
fn results_consumer(config: &Config, group: &str) -> Result<BaseConsumer, KafkaError> {
    kafka::client_config(config)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        // The end-of-partition event comes with an empty fetch; don't let
        // the broker hold that fetch for the default 500 ms.
        .set("fetch.wait.max.ms", "50")
        .create()
}

/// Per partition with records: the high watermark taken now. Empty
/// partitions are skipped: waiting for their end-of-partition event
/// costs a fetch round trip for nothing.
fn partition_ends(config: &Config, consumer: &BaseConsumer) -> Result<Vec<(i32, i64)>, KafkaError> {
    let topic = &config.topics.results;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let mut open = Vec::new();
    for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
        for p in t.partitions() {
            // A results topic the connector created a moment ago answers
            // NotLeaderForPartition for a while: retried, not fatal.
            let (low, high) = kafka::retry_transient(
                "reading a results partition's offsets",
                config.kafka.startup_timeout,
                || consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(30)),
            )?;
            if high > low {
                open.push((p.id(), high));
            }
        }
    }
    Ok(open)
}

/// Polls the assigned partitions until each reached its end in `open`,
/// handing each record's value to `take`; returns how many were read.
fn read_until_ends(
    consumer: &BaseConsumer,
    topic: &str,
    mut open: Vec<(i32, i64)>,
    mut take: impl FnMut(&[u8]),
) -> Result<u64, KafkaError> {
    let mut read = 0u64;
    let mut next_log = Instant::now() + Duration::from_secs(10);
    while !open.is_empty() {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                read += 1;
                take(m.payload().unwrap_or_default());
                // Done at the end taken at start (records past it are newer).
                open.retain(|&(p, end)| p != m.partition() || m.offset() + 1 < end);
            }
            // Also covers an end that is a transaction marker, never delivered.
            Some(Err(KafkaError::PartitionEOF(p))) => open.retain(|&(q, _)| q != p),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        if Instant::now() >= next_log {
            info!(message = "Still reading results.", topic = %topic, read);
            next_log += Duration::from_secs(10);
        }
    }
    Ok(read)
}
