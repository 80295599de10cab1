//! The rules topic's I/O: reading its history or its latest revision,
//! following it live, and writing a revision only when the latest one is
//! still the one the publisher started from.
//!
//! Every publisher writes with one transactional id (per topic). Starting a
//! transactional producer fences any other with that id, so between our
//! start and our commit nobody else can commit: the latest revision, read
//! again after the start, is a compare-and-set's "expected" value, and a
//! publisher that started in between makes our commit fail as fenced.
//! Readers read committed records only; a record that is not a valid
//! revision (written by hand, or by a newer format) is logged and skipped.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use super::{Revision, RevisionError};
use crate::config::Config;
use crate::ids::RulesVersion;
use crate::kafka::{self, EofContext, KafkaSetupError, Tuning, TxnError, TxnProducer};

/// The topic's only partition.
const PARTITION: i32 = 0;

/// A revision and where it is on the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Its offset.
    pub offset: i64,
    /// The revision.
    pub revision: Revision,
}

/// Why a revision was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Someone published after the publisher read the latest version.
    #[error(
        "refused: the latest rules version on {topic} is {found}, not {expected} as it was when \
         this publish started; someone published in between — look at `provisioner rules \
         history` and publish again"
    )]
    Moved {
        /// The topic.
        topic: String,
        /// The latest version when the publish started.
        expected: String,
        /// The latest version now.
        found: String,
    },
    /// The broker, a client, or the topic.
    #[error(transparent)]
    Setup(#[from] Box<KafkaSetupError>),
    /// Reading the topic failed.
    #[error("cannot read {topic}: {source}")]
    Read {
        /// The topic.
        topic: String,
        /// Why.
        source: Box<ReadError>,
    },
    /// The transaction did not commit; nothing was written.
    #[error("nothing was written to {topic}: {source}")]
    Write {
        /// The topic.
        topic: String,
        /// Why.
        source: TxnError,
    },
}

fn version_text(version: Option<&RulesVersion>) -> String {
    version.map_or_else(|| "none (the topic was empty)".into(), |v| v.to_string())
}

/// A reader of the topic: committed records only, an end-of-partition
/// event at once. The broker is checked first, as the engine checks it, so
/// an unreachable one is one error, not the reader's client errors besides.
fn reader(config: &Config) -> Result<BaseConsumer<EofContext>, ReadError> {
    kafka::check_reachable(config, REACHABLE_WITHIN).map_err(Box::new)?;
    let mut cc = kafka::client_config(config);
    kafka::set_default(&mut cc, "fetch.wait.max.ms", "10");
    cc.set("group.id", format!("{}-rules", config.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create_with_context(EofContext)
        .map_err(ReadError::from)
}

/// How long the broker has to answer before a read gives up.
const REACHABLE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The broker or its metadata.
    #[error(transparent)]
    Setup(#[from] Box<KafkaSetupError>),
    /// The client, while reading.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

/// The partition's (low, high) offsets; `None` when the topic does not
/// exist (nothing was ever published).
fn watermarks(
    config: &Config,
    consumer: &BaseConsumer<EofContext>,
) -> Result<Option<(i64, i64)>, ReadError> {
    let topic = &config.topics.rules;
    if kafka::partition_count(config, topic).map_err(Box::new)? == 0 {
        return Ok(None);
    }
    let marks = kafka::retry_transient(
        "reading the rules topic's offsets",
        config.kafka.startup_timeout,
        || consumer.fetch_watermarks(topic, PARTITION, Duration::from_secs(10)),
    )?;
    Ok(Some(marks))
}

/// Reads from `start` to the end, handing each valid revision to `visit`.
fn read_from(
    config: &Config,
    consumer: &BaseConsumer<EofContext>,
    start: i64,
    mut visit: impl FnMut(Stored),
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&config.topics.rules, PARTITION, Offset::Offset(start))?;
    consumer.assign(&tpl)?;
    loop {
        match consumer.poll(Duration::from_secs(1)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(record)) => visit_record(&record, &mut visit),
        }
    }
    consumer.unassign()?;
    Ok(())
}

/// Decodes one record, passing on a revision and logging anything else.
fn visit_record(record: &impl Message, visit: &mut impl FnMut(Stored)) {
    match Revision::decode(record.payload().unwrap_or_default()) {
        Ok(revision) => visit(Stored {
            offset: record.offset(),
            revision,
        }),
        Err(error) => refused(record.offset(), &error),
    }
}

fn refused(offset: i64, error: &RevisionError) {
    warn!(
        message = "Skipping a record of the rules topic that is not a valid revision.",
        offset,
        %error
    );
}

/// Every revision on the topic, oldest first (empty when the topic does not
/// exist).
pub fn read_history(config: &Config) -> Result<Vec<Stored>, ReadError> {
    let consumer = reader(config)?;
    let Some((low, high)) = watermarks(config, &consumer)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if high > low {
        read_from(config, &consumer, low, |stored| out.push(stored))?;
    }
    Ok(out)
}

/// The latest revision on the topic, reading only its tail: windows of
/// growing size back from the end until one holds a valid revision.
pub fn read_latest(config: &Config) -> Result<Option<Stored>, ReadError> {
    let consumer = reader(config)?;
    let Some((low, high)) = watermarks(config, &consumer)? else {
        return Ok(None);
    };
    // A committed revision takes two offsets: the record and the commit marker.
    let mut window = 8;
    let mut end = high;
    while end > low {
        let start = (end - window).max(low);
        let mut latest = None;
        read_from(config, &consumer, start, |stored| {
            if stored.offset < end {
                latest = Some(stored);
            }
        })?;
        if latest.is_some() {
            return Ok(latest);
        }
        end = start;
        window = window.saturating_mul(4);
    }
    Ok(None)
}

/// Creates the topic when it is missing and `kafka.create_topics` is on.
pub async fn ensure_topic(config: &Config) -> Result<(), KafkaSetupError> {
    if config.kafka.create_topics {
        kafka::ensure_history_topic(config, &config.topics.rules).await?;
    }
    Ok(())
}

/// Writes `revision` as the topic's next record, provided the latest
/// revision is still `expected` (`None`: the topic is still empty). Blocks:
/// call it off the async runtime.
pub fn publish(
    config: &Config,
    revision: &Revision,
    expected: Option<&RulesVersion>,
) -> Result<(), WriteError> {
    let topic = config.topics.rules.clone();
    let transactional_id = format!("provisioner-rules-publish.{topic}");
    let tuning = Tuning {
        compression: Some("lz4".into()),
        ..Tuning::default()
    };
    // Fences every other publisher and closes what one left open.
    let mut txn = TxnProducer::new(config, &transactional_id, &tuning)
        .map_err(|e| Box::new(KafkaSetupError::Client(e)))?;
    let read = |source| WriteError::Read {
        topic: topic.clone(),
        source: Box::new(source),
    };
    let latest = read_latest(config).map_err(read)?;
    let found = latest.as_ref().map(|s| &s.revision.version);
    if found != expected {
        return Err(WriteError::Moved {
            topic,
            expected: version_text(expected),
            found: version_text(found),
        });
    }
    let payload = revision.encode();
    let key = revision.version.as_str().as_bytes();
    let record = BaseRecord::to(&topic)
        .partition(PARTITION)
        .key(key)
        .payload(payload.as_slice());
    let write = |source| WriteError::Write {
        topic: topic.clone(),
        source,
    };
    txn.send(record).map_err(write)?;
    txn.commit(None).map_err(|e| match e {
        // Another publisher started after us: it may have written.
        TxnError::Fenced(_) => WriteError::Moved {
            topic: topic.clone(),
            expected: version_text(expected),
            found: "unknown (another publish started while this one was writing)".into(),
        },
        other => write(other),
    })?;
    await_visible(config, latest.map(|s| s.offset));
    Ok(())
}

/// Waits (up to [`VISIBLE_WITHIN`]) until readers see a revision newer than
/// the one at `before`: a commit returns once the coordinator has decided
/// it, and the markers that make the record readable follow a moment later.
/// So whoever reads the topic after a publish returns (`rules history`, an
/// engine starting, the next publish) sees it.
fn await_visible(config: &Config, before: Option<i64>) {
    let deadline = std::time::Instant::now() + VISIBLE_WITHIN;
    let mut pause = Duration::from_millis(10);
    loop {
        match read_latest(config) {
            Ok(Some(latest)) if Some(latest.offset) > before => return,
            Ok(_) => {}
            Err(error) => warn!(message = "Could not read back the rules just published.", %error),
        }
        if std::time::Instant::now() >= deadline {
            warn!(message = "The rules just published are not readable yet; they will be shortly.");
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// How long a publish waits for its record to become readable.
const VISIBLE_WITHIN: Duration = Duration::from_secs(10);

/// Follows the topic from an offset on: the engine's live source of rules.
pub struct Follower {
    consumer: BaseConsumer,
}

impl Follower {
    /// A follower reading from `next` on (the offset after the revision in
    /// force; 0 for the whole topic).
    pub fn new(config: &Config, next: i64) -> Result<Follower, KafkaError> {
        let mut cc = kafka::client_config(config);
        let consumer: BaseConsumer = cc
            .set("group.id", format!("{}-rules", config.kafka.group_id))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&config.topics.rules, PARTITION, Offset::Offset(next))?;
        consumer.assign(&tpl)?;
        Ok(Follower { consumer })
    }

    /// The revisions that arrived since the last call, oldest first; never
    /// waits.
    pub fn poll(&self) -> Vec<Stored> {
        let mut out = Vec::new();
        while let Some(result) = self.consumer.poll(Duration::ZERO) {
            match result {
                Ok(record) => visit_record(&record, &mut |stored| out.push(stored)),
                Err(error) => warn!(message = "Error reading the rules topic.", %error),
            }
        }
        out
    }
}
