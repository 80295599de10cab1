//! The worker's loop: read, order, dispatch, finish, commit.
//!
//! The loop reads records, parses them ([`intake`](super::intake)), queues
//! commands by employee ([`KeyedQueue`]) and starts up to `concurrency` of
//! them at once, each in its own task ([`apply`](super::apply)). A record's
//! offset is *finished* only when its result is on the broker, and a
//! partition is committed only below its lowest unfinished record
//! ([`OffsetTracker`](super::offsets::OffsetTracker)), so a crash never
//! skips a command. Outages pause the app's partitions
//! ([`outage`](super::outage)); so does a full read-ahead buffer
//! (back-pressure that keeps polling, so the group membership never lapses).
//! Rebalances are handled in [`rebalance`](super::rebalance).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use crate::commands::Command;
use crate::connector::apply::{self, AppContext, Done};
use crate::connector::error::WorkerError;
use crate::connector::events::RecordRefused;
use crate::connector::generations::Generations;
use crate::connector::intake;
use crate::connector::ordering::KeyedQueue;
use crate::connector::rebalance::{Shared, WorkerContext};
use crate::connector::Connector;
use crate::dlq::Failure;
use crate::sync::lock;

/// A command waiting for its turn.
struct Work {
    partition: i32,
    offset: i64,
    record: OwnedMessage,
    cmd: Command,
}

/// A task started for a record.
struct InFlight {
    partition: i32,
    offset: i64,
    /// The employee, for command tasks (dead-letter-only tasks have none).
    key: Option<String>,
    abort: AbortHandle,
}

/// The loop's fixed settings.
pub(crate) struct Limits {
    /// The catalogue's app names (a foreign app is `permanent`, an unknown one `unknown_app`).
    pub known_apps: Vec<String>,
    /// Commands in flight at most.
    pub concurrency: usize,
    /// Waiting commands at which consumption pauses.
    pub max_buffered: usize,
}

/// The running loop's state.
pub(crate) struct Loop<C> {
    limits: Limits,
    backpressure: bool,
    consumer: StreamConsumer<WorkerContext>,
    shared: Arc<Mutex<Shared>>,
    ctx: Arc<AppContext<C>>,
    queue: KeyedQueue<Work>,
    tasks: JoinSet<Result<Done, KafkaError>>,
    in_flight: HashMap<Id, InFlight>,
    generations: Generations,
    topic: String,
}

impl<C: Connector + 'static> Loop<C> {
    /// A loop over a subscribed consumer.
    pub(crate) fn new(
        consumer: StreamConsumer<WorkerContext>,
        shared: Arc<Mutex<Shared>>,
        ctx: Arc<AppContext<C>>,
        generations: Generations,
        limits: Limits,
        topic: String,
    ) -> Self {
        Loop {
            limits,
            backpressure: false,
            consumer,
            shared,
            ctx,
            queue: KeyedQueue::new(),
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            generations,
            topic,
        }
    }

    /// Runs until `shutdown` is cancelled (then call [`stop`](Self::stop))
    /// or a fatal Kafka error.
    pub(crate) async fn run(
        &mut self,
        shutdown: &CancellationToken,
        commit_every: Duration,
    ) -> Result<(), WorkerError> {
        let mut health = self.ctx.health.subscribe();
        let mut commit_tick = tokio::time::interval(commit_every);
        commit_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            self.drain_revoked();
            self.reconcile_pause()?;
            self.dispatch();
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                Some(joined) = self.tasks.join_next_with_id() => self.on_joined(joined)?,
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        let record = message.detach();
                        // A rebalance may have run inside `recv`.
                        self.drain_revoked();
                        self.on_record(record);
                    }
                    Err(KafkaError::MessageConsumptionFatal(code)) => {
                        return Err(KafkaError::MessageConsumptionFatal(code).into())
                    }
                    Err(error) => warn!(message = "Consumer error.", app = %self.ctx.app, %error),
                },
                _ = commit_tick.tick() => {
                    self.commit(CommitMode::Async);
                    self.ctx.telemetry.positions.publish(&self.consumer);
                }
                _ = health.changed() => {}
            }
        }
    }

    /// A record arrived: queue its command, or dead-letter it.
    fn on_record(&mut self, record: OwnedMessage) {
        let (partition, offset) = (record.partition(), record.offset());
        lock(&self.shared).offsets.received(partition, offset);
        let known = |app: &str| self.limits.known_apps.iter().any(|a| a == app);
        match intake::parse(record.key(), record.payload(), &self.ctx.app, known) {
            Ok(cmd) => {
                let key = cmd.employee_id.clone();
                self.queue.push(
                    &key,
                    Work {
                        partition,
                        offset,
                        record,
                        cmd,
                    },
                );
            }
            Err(refusal) => {
                RecordRefused {
                    app: &self.ctx.app,
                    partition,
                    offset,
                    kind: refusal.kind,
                    reason: &refusal.reason,
                }
                .emit(&self.ctx.telemetry.metrics);
                let failure = Failure {
                    kind: refusal.kind,
                    message: refusal.reason,
                    attempts: 1,
                    app: Some(self.ctx.app.clone()),
                };
                let ctx = Arc::clone(&self.ctx);
                let task = async move {
                    apply::dead_letter(&ctx.producer, &ctx.dlq_topic, &record, &failure).await?;
                    Ok(Done::Finished { applied: None })
                };
                let abort = self.tasks.spawn(task);
                self.track(abort, partition, offset, None);
            }
        }
    }

    /// Starts waiting commands while the app is up and there is room.
    fn dispatch(&mut self) {
        while self.queue.busy() < self.limits.concurrency
            && !self.ctx.health.is_paused()
            && !self.ctx.shutdown.is_cancelled()
        {
            let Some((key, work)) = self.queue.pop_ready() else {
                return;
            };
            let superseded = self.generations.supersedes(&work.cmd);
            let span = info_span!(
                "command",
                app = %self.ctx.app,
                employee_id = %work.cmd.employee_id,
                command_id = %work.cmd.command_id,
                partition = work.partition,
                offset = work.offset
            );
            let (partition, offset) = (work.partition, work.offset);
            let task =
                apply::handle_command(Arc::clone(&self.ctx), work.record, work.cmd, superseded);
            let abort = self.tasks.spawn(task.instrument(span));
            self.track(abort, partition, offset, Some(key));
        }
    }

    fn track(&mut self, abort: AbortHandle, partition: i32, offset: i64, key: Option<String>) {
        self.in_flight.insert(
            abort.id(),
            InFlight {
                partition,
                offset,
                key,
                abort,
            },
        );
    }

    /// A task ended: finish its offset, note the applied generation, free its key.
    fn on_joined(
        &mut self,
        joined: Result<(Id, Result<Done, KafkaError>), JoinError>,
    ) -> Result<(), WorkerError> {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            // Aborted tasks belong to revoked partitions, already forgotten.
            Err(error) if error.is_cancelled() => {
                if let Some(task) = self.in_flight.remove(&error.id()) {
                    self.release(&task);
                }
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        // Absent: its partition was revoked meanwhile; nothing to record.
        let Some(task) = self.in_flight.remove(&id) else {
            return Ok(());
        };
        self.release(&task);
        match outcome? {
            Done::Finished { applied } => {
                lock(&self.shared)
                    .offsets
                    .finished(task.partition, task.offset);
                if let (Some(generation), Some(key)) = (applied, &task.key) {
                    self.generations.record(key, generation);
                }
            }
            Done::Abandoned => {}
        }
        Ok(())
    }

    fn release(&mut self, task: &InFlight) {
        if let Some(key) = &task.key {
            self.queue.complete(key);
        }
    }

    /// Drops everything of partitions revoked in a rebalance: waiting
    /// commands are dropped, running ones aborted; the new owner redoes them.
    fn drain_revoked(&mut self) {
        let revoked = std::mem::take(&mut lock(&self.shared).revoked);
        if revoked.is_empty() {
            return;
        }
        self.queue.retain(|w| !revoked.contains(&w.partition));
        let ids: Vec<Id> = self
            .in_flight
            .iter()
            .filter(|(_, t)| revoked.contains(&t.partition))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(task) = self.in_flight.remove(id) {
                task.abort.abort();
                self.release(&task);
            }
        }
        info!(
            message = "Work of revoked partitions dropped; the new owner redoes it.",
            app = %self.ctx.app,
            partitions = ?revoked,
            aborted = ids.len()
        );
    }

    /// Pauses the app's partitions while it is down or the read-ahead is
    /// full (resuming at half), and resumes them otherwise.
    fn reconcile_pause(&mut self) -> Result<(), KafkaError> {
        let buffered = self.queue.len();
        if buffered >= self.limits.max_buffered {
            self.backpressure = true;
        } else if buffered <= self.limits.max_buffered / 2 {
            self.backpressure = false;
        }
        let outage = self.ctx.health.is_paused();
        let want = outage || self.backpressure;
        {
            let mut shared = lock(&self.shared);
            if shared.paused == want {
                return Ok(());
            }
            shared.paused = want;
        }
        let assignment = self.consumer.assignment()?;
        if want {
            self.consumer.pause(&assignment)?;
        } else {
            self.consumer.resume(&assignment)?;
        }
        info!(
            message = if want { "Consumption paused." } else { "Consumption resumed." },
            app = %self.ctx.app,
            outage,
            buffered
        );
        Ok(())
    }

    /// Commits every partition whose commit point moved.
    fn commit(&mut self, mode: CommitMode) {
        let commits = lock(&self.shared).offsets.take_commits();
        if commits.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in &commits {
            // Adding a valid offset to a fresh list cannot fail.
            let _ = tpl.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset));
        }
        if let Err(error) = self.consumer.commit(&tpl, mode) {
            warn!(message = "Offset commit failed; will retry.", app = %self.ctx.app, %error);
            let mut shared = lock(&self.shared);
            for (partition, _) in commits {
                shared.offsets.forget_commit(partition);
            }
        }
    }

    /// Shutdown: no new work; in-flight calls may finish within `grace`;
    /// then commit what finished and leave the group.
    pub(crate) async fn stop(mut self, grace: Duration) -> Result<(), WorkerError> {
        let running = self.tasks.len();
        info!(
            message = "Connector worker stopping: finishing calls in flight.",
            app = %self.ctx.app,
            running,
            waiting = self.queue.len()
        );
        let deadline = Instant::now() + grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(joined)) => self.on_joined(joined)?,
                Ok(None) => break,
                Err(_elapsed) => {
                    warn!(
                        message = "Calls still in flight at the shutdown deadline; abandoned, the next owner redoes them.",
                        app = %self.ctx.app,
                        abandoned = self.tasks.len()
                    );
                    self.tasks.abort_all();
                    while let Some(joined) = self.tasks.join_next_with_id().await {
                        self.on_joined(joined)?;
                    }
                }
            }
        }
        self.commit(CommitMode::Sync);
        let unfinished = lock(&self.shared).offsets.unfinished();
        let app = self.ctx.app.clone();
        // Closing the consumer leaves the group; it blocks, so off the runtime.
        let consumer = self.consumer;
        tokio::task::spawn_blocking(move || drop(consumer)).await?;
        info!(
            message = "Connector worker stopped; finished work committed, group left.",
            app = %app,
            left_for_next_owner = unfinished
        );
        Ok(())
    }
}
