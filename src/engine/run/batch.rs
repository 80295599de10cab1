//! The engine's writes: a batch of input records decided and committed
//! with its offsets in one transaction, and work that consumed no input
//! (re-evaluations, operator requests) committed in slices.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::{Consumer, ConsumerGroupMetadata};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use super::{hold_id, Engine};
use crate::dlq::{ErrorKind, Failure};
use crate::engine::events::{
    BatchAborted, BatchCommitted, ProducerFailed, RecordIsolated, UnitCommitted,
};
use crate::engine::guard::Scope;
use crate::engine::parallel;
use crate::engine::pending::{dead_letter, Parsed, Pending, Written};
use crate::engine::EngineError;
use crate::kafka::{CommitPhases, TxnError};
use crate::metrics::Consumed;

/// How often an aborted maintenance transaction is retried before giving up.
const MAINTENANCE_ATTEMPTS: u32 = 5;

/// Aborts of the same batch in a row after which it is split to isolate the
/// record at fault.
const ISOLATE_AFTER: u32 = 3;

impl Engine {
    /// Commits work that consumed no input, in slices of `reconcile_chunk`
    /// employees; an aborted slice is retried as it is, and one that keeps
    /// aborting stops the engine.
    pub(super) fn commit_maintenance(&mut self, pending: Pending) -> Result<(), EngineError> {
        let slices = pending.split(self.config.engine.reconcile_chunk);
        match self.commit_units(slices, MAINTENANCE_ATTEMPTS)? {
            None => Ok(()),
            Some(e) => Err(EngineError::Fatal(e)),
        }
    }

    /// Commits units of work that consumed no input, each in a transaction
    /// of its own carrying the [`Self::fence`], sent from the decide pool.
    /// A unit that aborted `attempts` times gives up: its error is returned
    /// and it and the units after it are left undone (the ones before are
    /// committed).
    pub(super) fn commit_units(
        &mut self,
        units: Vec<Pending>,
        attempts: u32,
    ) -> Result<Option<KafkaError>, EngineError> {
        let units: Vec<Pending> = units.into_iter().filter(|u| !u.is_empty()).collect();
        if units.is_empty() {
            return Ok(None);
        }
        for slice in units {
            let mut attempt = 0;
            let written = loop {
                let fence = self.fence()?;
                // Asked after the fence's snapshot: a membership lost before
                // it (which the fence would not show) is seen here.
                let result = if self.is_member() {
                    self.transact(&slice, fence.as_ref().map(|(t, g)| (t, g)))
                } else {
                    Err(TxnError::Aborted(KafkaError::ConsumerCommit(
                        RDKafkaErrorCode::UnknownMemberId,
                    )))
                };
                match result {
                    Ok((written, _)) => break written,
                    Err(TxnError::Aborted(e)) if attempt + 1 < attempts => {
                        attempt += 1;
                        warn!(message = "Maintenance transaction aborted; retrying.", error = %e, attempt);
                    }
                    Err(TxnError::Aborted(e)) => {
                        self.update_held_gauges();
                        return Ok(Some(e));
                    }
                    Err(TxnError::Fenced(e) | TxnError::Fatal(e)) => {
                        ProducerFailed(&e).emit();
                        return Err(EngineError::Fatal(e));
                    }
                }
            };
            let tally = slice.committed(written, &mut self.store, self.threads);
            UnitCommitted(tally).emit(&self.metrics);
            self.telemetry.readiness.progressed();
        }
        self.update_held_gauges();
        Ok(None)
    }

    /// The fence of a transaction that consumes no input: the owned
    /// partitions' committed offsets, sent again as the group's position
    /// (nothing moves). The group coordinator refuses them, and the
    /// transaction aborts, from an instance whose generation is stale: one
    /// paused past its session while its partitions went to another, which
    /// would otherwise emit on waking what the new owner emitted (a timer
    /// fired twice). `None` while no offset is known (nothing consumed yet).
    fn fence(&self) -> Result<Option<(TopicPartitionList, ConsumerGroupMetadata)>, EngineError> {
        if self.committed.is_empty() {
            return Ok(None);
        }
        let mut offsets = TopicPartitionList::new();
        for (&p, &o) in &self.committed {
            offsets.add_partition_offset(&self.config.topics.events, p, Offset::Offset(o))?;
        }
        Ok(Some((offsets, self.group()?)))
    }

    /// Whether the consumer is a member of the group right now. librdkafka
    /// forgets its member id as soon as it sees its session expired, long
    /// before the revocation reaches the engine's next poll; the group
    /// metadata it gives from then on (no member, no generation) is one the
    /// broker does not check, so it would not fence.
    fn is_member(&self) -> bool {
        let client = self.consumer.client();
        // SAFETY: the handle is the live consumer's, valid as long as
        // `self.consumer`; rd_kafka_memberid returns a copy of the id (or
        // null) that the caller frees with rd_kafka_mem_free, done here.
        unsafe {
            let id = rdkafka::bindings::rd_kafka_memberid(client.native_ptr());
            if id.is_null() {
                return false;
            }
            let member = *id != 0;
            rdkafka::bindings::rd_kafka_mem_free(client.native_ptr(), id.cast());
            member
        }
    }

    /// Learns the committed offsets of newly assigned `partitions` (the
    /// ones the consumer resumes from), for the [`Self::fence`].
    pub(super) fn learn_committed(&mut self, partitions: &[i32]) -> Result<(), EngineError> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&self.config.topics.events, p);
        }
        let offsets = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(30))?;
        self.remember(&offsets);
        Ok(())
    }

    /// Keeps the valid offsets of `offsets` as the committed ones.
    fn remember(&mut self, offsets: &TopicPartitionList) {
        for e in offsets.elements() {
            if let Offset::Offset(o) = e.offset() {
                self.committed.insert(e.partition(), o);
            }
        }
    }

    /// Decides a batch and commits it with its input offsets in one
    /// transaction.
    ///
    /// An aborted batch is read again (after a short pause) from its first
    /// offsets. When the same batch aborts [`ISOLATE_AFTER`] times in a row,
    /// some record in it is the cause (its outputs are refused, say): the
    /// batch is then committed in halves, recursively, until the record that
    /// fails alone is found; that one is dead-lettered and the rest flows.
    pub(super) fn process(&mut self, batch: Vec<OwnedMessage>) -> Result<(), EngineError> {
        let Some(error) = self.try_commit(&batch)? else {
            self.aborts = None;
            self.telemetry.readiness.progressed();
            return Ok(());
        };
        let first = first_offsets(&batch);
        let streak = match self.aborts.take() {
            Some((same, n)) if same == first => n + 1,
            _ => 1,
        };
        self.aborts = Some((first, streak));
        self.telemetry
            .readiness
            .batch_aborted(streak, &error.to_string());
        BatchAborted {
            error: &error,
            streak,
            records: batch.len(),
        }
        .emit();
        // A command topic deleted under us aborts every batch that writes
        // to it: look now, so the next try dead-letters instead.
        self.refresh_topics();
        if streak < ISOLATE_AFTER {
            std::thread::sleep(Duration::from_millis(100 << streak));
            return self.rewind(&batch);
        }
        self.isolate(&batch)
    }

    /// Commits `batch` in ever smaller parts, in order, to find and
    /// dead-letter the records that fail alone.
    fn isolate(&mut self, batch: &[OwnedMessage]) -> Result<(), EngineError> {
        warn!(
            message =
                "Batch keeps aborting; committing it in parts to isolate the record at fault.",
            records = batch.len()
        );
        let mut parts: Vec<&[OwnedMessage]> = vec![batch];
        let mut alone_failed = false;
        while let Some(part) = parts.pop() {
            let Some(error) = self.try_commit(part)? else {
                self.telemetry.readiness.progressed();
                alone_failed = false;
                continue;
            };
            if part.len() > 1 {
                let (left, right) = part.split_at(part.len() / 2);
                parts.extend([right, left]);
            } else if !alone_failed {
                // Once more alone, so a blip does not condemn a record.
                alone_failed = true;
                parts.push(part);
            } else if self.dead_letter_poison(&part[0], &error)? {
                alone_failed = false;
                self.telemetry.readiness.progressed();
            } else {
                // Not even its dead letter commits: the broker is at fault,
                // not the record. Read it and everything after it again later.
                let rest = part.iter().chain(parts.iter().rev().copied().flatten());
                return self.rewind(rest);
            }
        }
        self.aborts = None;
        Ok(())
    }

    /// Dead-letters a record whose outputs fail every transaction, with its
    /// offset, in a transaction of its own. `false` when that aborts too.
    fn dead_letter_poison(
        &mut self,
        record: &OwnedMessage,
        error: &KafkaError,
    ) -> Result<bool, EngineError> {
        let failure = Failure {
            kind: ErrorKind::RetriesExhausted,
            message: format!(
                "its outputs could not be written: every transaction holding it aborted \
                 ({error}), also alone"
            ),
            attempts: ISOLATE_AFTER + 2,
            app: None,
        };
        let unit = Pending::dead_letter_only(dead_letter(record, &failure, &self.config));
        let offsets = self.next_offsets(std::slice::from_ref(record))?;
        let group = self.group()?;
        match self.transact(&unit, Some((&offsets, &group))) {
            Ok(_) => {
                RecordIsolated {
                    partition: record.partition(),
                    offset: record.offset(),
                    kind: Parsed::of(record, &self.config)
                        .result
                        .map_or(Consumed::Invalid, |e| e.kind.into()),
                    error,
                }
                .emit(&self.metrics);
                Ok(true)
            }
            Err(TxnError::Aborted(e)) => {
                warn!(message = "Dead letter of a failing record aborted too.", error = %e);
                Ok(false)
            }
            Err(TxnError::Fenced(e) | TxnError::Fatal(e)) => {
                ProducerFailed(&e).emit();
                Err(EngineError::Fatal(e))
            }
        }
    }

    /// Decides `batch` and commits it with its input offsets in one
    /// transaction; the abort's error if it did not commit.
    fn try_commit(&mut self, batch: &[OwnedMessage]) -> Result<Option<KafkaError>, EngineError> {
        let now = Utc::now();
        let started = Instant::now();
        let threads = self.threads;
        let ctx = self.context(now);
        let mut pending = parallel::decide(batch, &ctx, threads);
        pending.guard(&self.store, &self.config, Scope::Each, &hold_id(now), now);
        let offsets = self.next_offsets(batch)?;
        let group = self.group()?;
        let decided = started.elapsed();
        match self.transact(&pending, Some((&offsets, &group))) {
            Ok((written, phases)) => {
                let (records, commands) = (batch.len(), pending.command_count());
                let (held, states) = (pending.held_count(), pending.employees());
                let committed = started.elapsed();
                let tally = pending.committed(written, &mut self.store, threads);
                if held > 0 {
                    self.update_held_gauges();
                }
                BatchCommitted {
                    tally,
                    records,
                    commands,
                    states,
                    held,
                    decide: decided,
                    commit: committed - decided,
                    phases,
                    store: started.elapsed() - committed,
                }
                .emit(&self.metrics);
                Ok(None)
            }
            Err(TxnError::Aborted(e)) => Ok(Some(e)),
            Err(TxnError::Fenced(e) | TxnError::Fatal(e)) => {
                ProducerFailed(&e).emit();
                Err(EngineError::Fatal(e))
            }
        }
    }

    /// Writes `unit`'s records and, when given, commits `offsets` for the
    /// consumer group — all in one transaction. The records are serialised
    /// and sent from the decide pool into the open transaction; what the
    /// store takes after the commit comes back, with the commit's phases.
    fn transact(
        &mut self,
        unit: &Pending,
        offsets: Option<(&TopicPartitionList, &ConsumerGroupMetadata)>,
    ) -> Result<(Written, CommitPhases), TxnError> {
        let (config, threads) = (&self.config, self.threads);
        let written = self
            .txn
            .produce(|sender| unit.produce(sender, config, threads))?;
        let phases = self.txn.commit(offsets)?;
        if let Some((tpl, _)) = offsets {
            self.remember(tpl);
        }
        Ok((written, phases))
    }

    /// The offsets to commit after `records`: per partition, the last one + 1.
    fn next_offsets(&self, records: &[OwnedMessage]) -> Result<TopicPartitionList, EngineError> {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for record in records {
            next.insert(record.partition(), record.offset() + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (&p, &o) in &next {
            offsets.add_partition_offset(&self.config.topics.events, p, Offset::Offset(o))?;
        }
        Ok(offsets)
    }

    fn group(&self) -> Result<ConsumerGroupMetadata, EngineError> {
        self.consumer
            .group_metadata()
            .ok_or_else(|| EngineError::Thread("consumer has no group metadata".into()))
    }

    /// Seeks the consumer back to the first of `records` on each partition,
    /// so they are read again.
    fn rewind<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a OwnedMessage>,
    ) -> Result<(), EngineError> {
        let topic = &self.config.topics.events;
        for (p, o) in first_offsets(records) {
            self.consumer
                .seek(topic, p, Offset::Offset(o), Duration::from_secs(10))?;
        }
        Ok(())
    }
}

/// The first offset of `records` (in read order) on each partition.
fn first_offsets<'a>(records: impl IntoIterator<Item = &'a OwnedMessage>) -> BTreeMap<i32, i64> {
    let mut first = BTreeMap::new();
    for record in records {
        first.entry(record.partition()).or_insert(record.offset());
    }
    first
}
