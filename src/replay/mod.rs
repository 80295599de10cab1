//! `provisioner replay`: sends dead-lettered records back to the topic they
//! came from (CONTRACT §7), exactly once, then exits.
//!
//! - **What is read.** One dead-letter topic (`--from`, either
//!   `topics.events_dlq` or `topics.commands_dlq`), `read_committed`, by the
//!   replay's own consumer group [`group_id`]
//!   (`<kafka.group_id>-replay-<topic>`), from where that group got to (or
//!   from the start with `--from-beginning`) up to the end of each partition
//!   as it was when the run started. Records arriving meanwhile wait for the
//!   next run. The group only stores a position: partitions are assigned,
//!   not subscribed, so a rerun never waits for a dead member's session.
//! - **What is sent.** Each selected record goes to its
//!   `dlq.original.topic` (and partition, see [`select`]) with the original
//!   key and value bytes, its own non-`dlq.*` headers, and
//!   `dlq.replay.count` = previous count + 1 ([`record`]). One dead-letter
//!   partition is read and re-published in offset order, so one key's
//!   records go back in their order.
//! - **What is skipped.** Records not selected by the filters ([`filter`]),
//!   commands already superseded by a newer applied generation
//!   ([`superseded`]; `--include-superseded` sends them anyway) and
//!   unroutable records (reported one by one). Skipped records are handled
//!   too: their offsets are committed, so a later run of the same group does
//!   not see them again. To pick up records an earlier filtered run passed
//!   over, run again with `--from-beginning` and a filter selecting them.
//!   Replaying a record twice is harmless downstream — the engine ignores a
//!   stale event, the connector reports an old command `superseded` — but
//!   replay itself never does so without `--from-beginning`.
//! - **Exactly once.** Per batch (up to 500 records or one second), the
//!   re-published records and the group's offsets commit in one transaction
//!   ([`publish`]). A crash loses nothing and repeats nothing: the rerun
//!   fences the dead run, its open transaction is aborted, and it goes on
//!   from the last committed batch.
//! - **Output.** `--dry-run` lists what would happen ([`report`]) and
//!   changes nothing (no producer, no commit). Every run ends with one
//!   summary line on stdout. `--rate N` caps re-published records per
//!   second (a token bucket); `--limit N` stops after N re-published records
//!   (the rest stay for the next run).

mod events;
pub mod filter;
mod position;
pub(crate) mod progress;
mod publish;
pub(crate) mod record;
pub(crate) mod report;
mod run;
pub(crate) mod select;
pub(crate) mod superseded;
pub mod textfile;

use std::io::Write;

use rdkafka::error::KafkaError;

pub use filter::Filter;
pub use progress::ProgressMode;
pub use report::{Format, Summary};

use crate::config::Config;
use crate::kafka::KafkaSetupError;
use crate::metrics::Metrics;

/// What to replay and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--from`: the dead-letter topic.
    pub from: String,
    /// `--app`, `--employee`, `--error-kind`, `--since`, `--until`.
    pub filter: Filter,
    /// `--limit`: at most this many records re-published.
    pub limit: Option<u64>,
    /// `--dry-run`: list, change nothing.
    pub dry_run: bool,
    /// `--format`: of the listing and the summary.
    pub format: Format,
    /// `--from-beginning`: ignore the group's position.
    pub from_beginning: bool,
    /// `--include-superseded`: re-publish superseded commands too.
    pub include_superseded: bool,
    /// `--rate`: re-published records per second.
    pub rate: Option<f64>,
    /// How progress is shown on stderr.
    pub progress: ProgressMode,
}

impl Options {
    /// Replays everything of `from`, no listing, no progress.
    pub fn new(from: impl Into<String>) -> Options {
        Options {
            from: from.into(),
            filter: Filter::default(),
            limit: None,
            dry_run: false,
            format: Format::Table,
            from_beginning: false,
            include_superseded: false,
            rate: None,
            progress: ProgressMode::Off,
        }
    }
}

/// Why a replay stopped before the end (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// `--from` is not a dead-letter topic of this configuration.
    #[error(
        "--from {topic}: not a dead-letter topic of this configuration \
         (topics.events_dlq = {events_dlq}, topics.commands_dlq = {commands_dlq})"
    )]
    NotADeadLetterTopic {
        /// As given.
        topic: String,
        /// `topics.events_dlq`.
        events_dlq: String,
        /// `topics.commands_dlq`.
        commands_dlq: String,
    },
    /// The broker, a client or the configuration's Kafka properties.
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    /// `--from` does not exist on the broker.
    #[error("topic {0} does not exist on the broker")]
    UnknownTopic(String),
    /// Another replay of the same topic started and took over.
    #[error("stopped: another replay of {topic} started and took over ({source})")]
    Fenced {
        /// The dead-letter topic.
        topic: String,
        /// What the broker said.
        source: KafkaError,
    },
    /// A batch could not commit; nothing of it was published.
    #[error(
        "a batch could not be committed and was rolled back ({0}); \
         nothing of it was published — run replay again to go on"
    )]
    Aborted(String),
    /// A Kafka call failed.
    #[error("Kafka error: {0}")]
    Kafka(#[from] KafkaError),
    /// Nothing arrived for a long time while records were still expected.
    #[error(
        "no progress reading {topic} for {seconds} s (last error: {last_error}); \
         committed batches stay committed — run replay again to go on"
    )]
    Stalled {
        /// The dead-letter topic.
        topic: String,
        /// How long nothing happened.
        seconds: u64,
        /// The last consumer error, if any.
        last_error: String,
    },
    /// The listing or summary could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// The replay's consumer group (and transactional id) for `topic`:
/// `<kafka.group_id>-replay-<topic>`, characters outside `[A-Za-z0-9._-]`
/// replaced by `_`.
pub fn group_id(config: &Config, topic: &str) -> String {
    let topic: String = topic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}-replay-{topic}", config.kafka.group_id)
}

/// Runs one replay to the end of the topic, writing the listing (dry run)
/// and the summary line to `out`; counts re-published records in
/// `provisioner_replayed_total{topic}` (by destination topic). Blocking:
/// run it off an async runtime.
pub fn run(
    config: &Config,
    options: &Options,
    metrics: &Metrics,
    out: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    run::replay(config, options, metrics, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_per_topic_and_safe() {
        let mut config = Config::default();
        config.kafka.group_id = "provisioner-engine".into();
        assert_eq!(
            group_id(&config, "provisioning.commands.dlq"),
            "provisioner-engine-replay-provisioning.commands.dlq"
        );
        assert_eq!(
            group_id(&config, "a b/c"),
            "provisioner-engine-replay-a_b_c"
        );
    }
}
