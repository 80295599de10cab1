//! The replay loop: find where to start and where to stop, read, decide,
//! re-publish, and commit each batch with its offsets.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::events::BatchReplayed;
use super::position::{partitions_of, ranges};
use super::progress::Progress;
use super::publish;
use super::record::{self, DlqInfo};
use super::report::{self, Format, Row, Summary};
use super::select::{Decision, Selector, Source};
use super::superseded::{self, Applied};
use super::{group_id, Options, ReplayError};
use crate::config::Config;
use crate::kafka::{self, KafkaSetupError, TxnError, TxnProducer};
use crate::metrics::Metrics;
use crate::ratelimit::{self, Limiter};

/// A batch commits at this many handled records…
const BATCH_RECORDS: u64 = 500;
/// …or this long after its first one.
const BATCH_AGE: Duration = Duration::from_secs(1);
/// Nothing read (no record, no end of partition) for this long: give up.
const STALL: Duration = Duration::from_secs(60);

/// The records of one batch, not yet committed.
#[derive(Default)]
struct Batch {
    /// Next offset per partition: the position to commit.
    offsets: BTreeMap<i32, i64>,
    counts: Summary,
    by_topic: BTreeMap<String, u64>,
    started: Option<Instant>,
}

impl Batch {
    fn due(&self) -> bool {
        self.counts.handled() >= BATCH_RECORDS
            || self.started.is_some_and(|s| s.elapsed() >= BATCH_AGE)
    }
}

struct Replay<'a> {
    config: &'a Config,
    options: &'a Options,
    metrics: &'a Metrics,
    out: &'a mut dyn Write,
    consumer: BaseConsumer,
    publisher: Option<TxnProducer>,
    /// Partition counts of destination topics (0: missing).
    destinations: HashMap<String, usize>,
    committed: Summary,
    batch: Batch,
    header_written: bool,
}

pub(super) fn replay(
    config: &Config,
    options: &Options,
    metrics: &Metrics,
    out: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let topic = options.from.as_str();
    let source =
        Source::of(&config.topics, topic).ok_or_else(|| ReplayError::NotADeadLetterTopic {
            topic: topic.to_string(),
            events_dlq: config.topics.events_dlq.clone(),
            commands_dlq: config.topics.commands_dlq.clone(),
        })?;
    kafka::check_reachable(config, Duration::from_secs(10))?;
    let group = group_id(config, topic);
    let consumer = dlq_consumer(config, &group)?;
    let partitions = partitions_of(&consumer, topic)?;
    if partitions == 0 {
        return Err(ReplayError::UnknownTopic(topic.to_string()));
    }
    // Fence any earlier run first: its open transaction (and the offsets in
    // it) must be settled before we read where the group got to.
    let publisher = match options.dry_run {
        true => None,
        false => Some(publish::publisher(config, &group)?),
    };
    let ranges = ranges(&consumer, topic, partitions, options.from_beginning)?;
    let applied = applied_commands(config, options, &group, source)?;
    info!(
        message = "Replay starting.",
        topic,
        group = %group,
        dry_run = options.dry_run,
        to_read = ranges.values().map(|(s, e)| (e - s) as u64).sum::<u64>()
    );
    let mut replay = Replay {
        config,
        options,
        metrics,
        out,
        consumer,
        publisher,
        destinations: HashMap::new(),
        committed: Summary::default(),
        batch: Batch::default(),
        header_written: false,
    };
    replay.read(source, ranges, applied.as_ref())?;
    let summary = replay.committed;
    writeln!(replay.out, "{}", summary.render(options.format))?;
    replay.out.flush()?;
    info!(message = "Replay finished.", topic, summary = %summary.line());
    Ok(summary)
}

/// The consumer of the dead-letter topic: offsets committed only with the
/// replayed records, and an event at each partition's end.
fn dlq_consumer(config: &Config, group: &str) -> Result<BaseConsumer, ReplayError> {
    let consumer = kafka::client_config(config)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        // The end-of-partition event comes with an empty fetch; don't let
        // the broker hold it for the default 500 ms.
        .set("fetch.wait.max.ms", "50")
        .create()
        .map_err(KafkaSetupError::Client)?;
    Ok(consumer)
}

/// The commands already applied since, to skip the superseded ones: only
/// when replaying commands without `--include-superseded`.
fn applied_commands(
    config: &Config,
    options: &Options,
    group: &str,
    source: Source,
) -> Result<Option<Applied>, ReplayError> {
    match (source, options.include_superseded) {
        (Source::Commands, false) => Ok(Some(superseded::read(
            config,
            group,
            options.filter.app.as_deref(),
        )?)),
        _ => Ok(None),
    }
}

/// Nothing read for [`STALL`]: the error, with the consumer's last one.
fn stalled(topic: String, last_error: Option<String>) -> ReplayError {
    ReplayError::Stalled {
        topic,
        seconds: STALL.as_secs(),
        last_error: last_error.unwrap_or_else(|| "none".into()),
    }
}

impl Replay<'_> {
    fn read(
        &mut self,
        source: Source,
        ranges: BTreeMap<i32, (i64, i64)>,
        applied: Option<&Applied>,
    ) -> Result<(), ReplayError> {
        let topic = self.options.from.clone();
        let total = ranges.values().map(|(s, e)| (e - s) as u64).sum();
        let mut progress = Progress::new(self.options.progress, total);
        let mut open: BTreeMap<i32, i64> = ranges.iter().map(|(&p, &(_, e))| (p, e)).collect();
        if open.is_empty() {
            return Ok(());
        }
        self.assign(&topic, &ranges)?;
        let selector = Selector {
            source,
            filter: &self.options.filter,
            topics: &self.config.topics,
            applied,
        };
        let limiter = self.options.rate.map(ratelimit::per_second);
        let (mut read, mut last_seen, mut last_error) = (0u64, Instant::now(), None);
        while !open.is_empty() && !self.limit_reached() {
            if self.batch.due() {
                self.commit(&topic)?;
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    // Owned: the borrowed record would lock the consumer.
                    let m = m.detach();
                    if self.take(&m, &mut open, &selector, limiter.as_ref())? {
                        read += 1;
                    }
                    last_seen = Instant::now(); // a --rate wait is not a stall
                }
                // Also the end when the last offset is a transaction marker.
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    last_seen = Instant::now();
                    open.remove(&p);
                }
                Some(Err(error)) => {
                    warn!(message = "Consumer error; still trying.", %error);
                    last_error = Some(error.to_string());
                }
                None => {}
            }
            if last_seen.elapsed() >= STALL {
                return Err(stalled(topic, last_error));
            }
            let mut so_far = self.committed;
            so_far.add(&self.batch.counts);
            progress.tick(read, &so_far);
        }
        self.commit(&topic)?;
        kafka::unassign_and_drain(&self.consumer);
        progress.finish();
        Ok(())
    }

    /// Starts reading each partition at the start of its range.
    fn assign(&self, topic: &str, ranges: &BTreeMap<i32, (i64, i64)>) -> Result<(), ReplayError> {
        let mut tpl = TopicPartitionList::new();
        for (&p, &(start, _)) in ranges {
            tpl.add_partition_offset(topic, p, Offset::Offset(start))?;
        }
        self.consumer.assign(&tpl)?;
        Ok(())
    }

    /// Handles one polled record if it is inside its partition's range, and
    /// closes the partition once its end is reached. True when handled.
    fn take(
        &mut self,
        m: &OwnedMessage,
        open: &mut BTreeMap<i32, i64>,
        selector: &Selector<'_>,
        limiter: Option<&Limiter>,
    ) -> Result<bool, ReplayError> {
        let p = m.partition();
        let Some(&end) = open.get(&p) else {
            return Ok(false);
        };
        if m.offset() >= end {
            // Newer than the end taken at start: for the next run.
            open.remove(&p);
            return Ok(false);
        }
        self.handle(selector, m, limiter)?;
        if m.offset() + 1 >= end {
            open.remove(&p);
        }
        Ok(true)
    }

    fn limit_reached(&self) -> bool {
        self.options
            .limit
            .is_some_and(|l| self.committed.replayed + self.batch.counts.replayed >= l)
    }

    /// Decides one record; re-publishes it into the open transaction when
    /// selected; lists or reports it.
    fn handle(
        &mut self,
        selector: &Selector<'_>,
        m: &OwnedMessage,
        limiter: Option<&Limiter>,
    ) -> Result<(), ReplayError> {
        let info = DlqInfo::of(m);
        if let Some(topic) = &info.original_topic {
            if !self.destinations.contains_key(topic) {
                let count = partitions_of(&self.consumer, topic)?;
                self.destinations.insert(topic.clone(), count);
            }
        }
        let destinations = &self.destinations;
        let mut partitions = |t: &str| destinations.get(t).copied().unwrap_or(0);
        let decision = selector.decide(&info, m.key(), m.payload(), &mut partitions);
        // A dry run has no publisher.
        if let (Decision::Replay(route), true) = (&decision, self.publisher.is_some()) {
            if let Some(limiter) = limiter {
                self.wait_for_token(limiter)?;
            }
            let headers = record::replay_headers(m, info.replay_count);
            if let Some(publisher) = self.publisher.as_mut() {
                let sent = publisher.send(publish::record(route, m.key(), m.payload(), headers));
                sent.map_err(|e| self.publish_error(e))?;
            }
        }
        if let Decision::Replay(route) = &decision {
            *self.batch.by_topic.entry(route.topic.clone()).or_default() += 1;
        }
        self.report(m, &info, &decision)?;
        self.batch.counts.count(&decision);
        self.batch.offsets.insert(m.partition(), m.offset() + 1);
        self.batch.started.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Waits for a `--rate` token. A transaction is never left open across a
    /// long wait (the broker would abort it after `transaction.timeout.ms`):
    /// the batch so far is committed first.
    fn wait_for_token(&mut self, limiter: &Limiter) -> Result<(), ReplayError> {
        while let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            if self
                .batch
                .started
                .is_some_and(|s| s.elapsed() + wait >= BATCH_AGE)
            {
                let topic = self.options.from.clone();
                self.commit(&topic)?;
            }
            std::thread::sleep(wait);
        }
        Ok(())
    }

    /// A dry run lists every selected record; a real run logs the ones it
    /// skips for a reason other than the filters.
    fn report(
        &mut self,
        m: &OwnedMessage,
        info: &DlqInfo,
        decision: &Decision,
    ) -> Result<(), ReplayError> {
        let row = Row {
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key(),
            info,
            decision,
        };
        if self.options.dry_run {
            if matches!(decision, Decision::Filtered) {
                return Ok(());
            }
            let line = match self.options.format {
                Format::Table => {
                    if !self.header_written {
                        writeln!(self.out, "{}", report::table_header())?;
                        self.header_written = true;
                    }
                    row.table()
                }
                Format::Json => row.json(),
            };
            writeln!(self.out, "{line}")?;
            return Ok(());
        }
        match decision {
            Decision::Superseded {
                generation,
                applied,
            } => info!(
                message = "Superseded command skipped: a newer generation is applied.",
                partition = m.partition(),
                offset = m.offset(),
                app = info.app.as_deref().unwrap_or("-"),
                generation,
                applied_generation = applied
            ),
            Decision::Unroutable(reason) => warn!(
                message = "Dead letter cannot be replayed; skipped.",
                partition = m.partition(),
                offset = m.offset(),
                reason = %reason
            ),
            _ => {}
        }
        Ok(())
    }

    /// Commits the batch: its records and offsets in one transaction (a dry
    /// run commits nothing and only counts).
    fn commit(&mut self, topic: &str) -> Result<(), ReplayError> {
        let batch = std::mem::take(&mut self.batch);
        if batch.offsets.is_empty() {
            return Ok(());
        }
        if let Some(publisher) = self.publisher.as_mut() {
            let mut tpl = TopicPartitionList::new();
            for (&p, &next) in &batch.offsets {
                tpl.add_partition_offset(topic, p, Offset::Offset(next))?;
            }
            let group = self
                .consumer
                .group_metadata()
                .ok_or_else(|| ReplayError::Aborted("the consumer has no group metadata".into()))?;
            let result = publisher.commit(Some((&tpl, &group)));
            result.map_err(|e| self.publish_error(e))?;
            BatchReplayed {
                by_topic: &batch.by_topic,
            }
            .emit(self.metrics);
        }
        self.committed.add(&batch.counts);
        Ok(())
    }

    fn publish_error(&self, error: TxnError) -> ReplayError {
        match error {
            TxnError::Fenced(source) => ReplayError::Fenced {
                topic: self.options.from.clone(),
                source,
            },
            other => ReplayError::Aborted(other.to_string()),
        }
    }
}
