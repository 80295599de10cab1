//! The engine's writes: a batch of input records decided and committed
//! with its offsets in one transaction, and work that consumed no input
//! (re-evaluations, operator requests) committed in slices.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{error, info, warn};

use super::{hold_id, Engine};
use crate::engine::guard::Scope;
use crate::engine::parallel;
use crate::engine::pending::{Context, Pending};
use crate::engine::txn::TxnError;
use crate::engine::EngineError;

/// How often an aborted maintenance transaction is retried before giving up.
const MAINTENANCE_ATTEMPTS: u32 = 5;

impl Engine {
    /// Commits work that consumed no input, in slices of `reconcile_chunk`
    /// employees; an aborted slice is retried as it is.
    pub(super) fn commit_maintenance(&mut self, pending: Pending) -> Result<(), EngineError> {
        if pending.is_empty() {
            return Ok(());
        }
        for slice in pending.split(self.config.engine.reconcile_chunk) {
            let outputs = slice.outputs(&self.config);
            let mut attempt = 0;
            loop {
                match self.txn.commit(&outputs, None) {
                    Ok(()) => break,
                    Err(TxnError::Aborted(e)) if attempt + 1 < MAINTENANCE_ATTEMPTS => {
                        attempt += 1;
                        warn!(message = "Maintenance transaction aborted; retrying.", error = %e, attempt);
                    }
                    Err(TxnError::Aborted(e)) | Err(TxnError::Fatal(e)) => {
                        return Err(EngineError::Fatal(e))
                    }
                }
            }
            slice.committed(outputs, &mut self.store, &self.metrics, self.threads);
        }
        self.update_held_gauges();
        Ok(())
    }

    /// Decides a batch and commits it with its input offsets in one
    /// transaction; on abort, rewinds so the batch is read again.
    pub(super) fn process(&mut self, batch: Vec<OwnedMessage>) -> Result<(), EngineError> {
        let now = Utc::now();
        let started = Instant::now();
        let mut first: BTreeMap<i32, i64> = BTreeMap::new();
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &batch {
            first.entry(record.partition()).or_insert(record.offset());
            next.insert(record.partition(), record.offset() + 1);
        }
        let threads = self.threads;
        let ctx = Context {
            store: &self.store,
            rules: &self.rules,
            config: &self.config,
            topics: &self.topics,
            metrics: &self.metrics,
            now,
        };
        let mut pending = parallel::decide(&batch, &ctx, threads);
        pending.guard(&self.store, &self.config, Scope::Each, &hold_id(now), now);
        let outputs = pending.outputs_on(&self.config, threads);
        let topic = &self.config.topics.events;
        let mut offsets = TopicPartitionList::new();
        for (&p, &o) in &next {
            offsets.add_partition_offset(topic, p, Offset::Offset(o))?;
        }
        let group = self
            .consumer
            .group_metadata()
            .ok_or_else(|| EngineError::Thread("consumer has no group metadata".into()))?;
        let decided = started.elapsed();
        match self.txn.commit(&outputs, Some((&offsets, &group))) {
            Ok(()) => {
                let (records, commands) = (batch.len(), pending.command_count());
                let (held, states) = (pending.held_count(), pending.employees());
                let committed = started.elapsed();
                pending.committed(outputs, &mut self.store, &self.metrics, threads);
                if held > 0 {
                    self.update_held_gauges();
                }
                // Where a batch's time goes: deciding and encoding, the
                // transaction (produce, flush, commit), the store update.
                info!(
                    message = "Batch committed.",
                    records,
                    commands,
                    states,
                    held,
                    decide_ms = decided.as_millis() as u64,
                    commit_ms = (committed - decided).as_millis() as u64,
                    store_ms = (started.elapsed() - committed).as_millis() as u64
                );
                Ok(())
            }
            Err(TxnError::Aborted(e)) => {
                warn!(message = "Batch aborted; it will be read again.", error = %e);
                for (&p, &o) in &first {
                    self.consumer
                        .seek(topic, p, Offset::Offset(o), Duration::from_secs(10))?;
                }
                // A command topic deleted under us aborts every batch that
                // writes to it: look now, so the re-read dead-letters instead.
                self.refresh_topics();
                Ok(())
            }
            Err(TxnError::Fatal(e)) => {
                error!(message = "Transactional producer failed; stopping.", error = %e);
                Err(EngineError::Fatal(e))
            }
        }
    }
}
