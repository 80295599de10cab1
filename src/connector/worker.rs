//! One app's worker: `provisioning.commands.<app>` in, app calls out,
//! `provisioning.results` (and `provisioning.commands.dlq`) written.
//!
//! The loop reads records, parses them ([`intake`](super::intake)), queues
//! commands by employee ([`KeyedQueue`]) and starts up to `concurrency` of
//! them at once, each in its own task ([`apply`](super::apply)). A record's
//! offset is *finished* only when its result is on the broker, and a
//! partition is committed only below its lowest unfinished record
//! ([`OffsetTracker`](super::offsets::OffsetTracker)), so a crash never skips a command. Outages pause the
//! app's partitions ([`outage`](super::outage)); so does a full read-ahead
//! buffer (back-pressure that keeps polling, so the group membership never
//! lapses). Rebalances are handled in [`rebalance`](super::rebalance).
//!
//! Delivery is at-least-once: after a crash or a rebalance, finished records
//! above the committed point are handled again. The generation check turns
//! such repeats into `superseded` results rather than second app calls.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{Quota, RateLimiter};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use crate::commands::Command;
use crate::config::{AppConfig, Config};
use crate::connector::apply::{self, AppContext, Done};
use crate::connector::generations::{self, Generations};
use crate::connector::intake;
use crate::connector::ordering::KeyedQueue;
use crate::connector::outage::{self, AppHealth};
use crate::connector::rebalance::{lock, Shared, WorkerContext};
use crate::connector::Connector;
use crate::dlq::Failure;
use crate::kafka::{self, KafkaSetupError, TopicSpec};

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The app is not in the catalogue.
    #[error("app {0:?} is not in the catalogue ([apps.<name>] of the configuration)")]
    UnknownApp(String),
    /// Start-up: broker, clients or topics.
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    /// A Kafka operation failed while running (consuming, committing, or the
    /// broker refusing a result or dead letter).
    #[error("Kafka error: {0}")]
    Kafka(#[from] KafkaError),
    /// A command task panicked: a bug. The process stops rather than leave
    /// an offset unfinished forever.
    #[error("a command task failed: {0}")]
    Task(#[from] JoinError),
}

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

/// One app's worker, before it runs; [`health`](Worker::health) can be
/// handed to metrics or readiness first.
pub struct Worker<C> {
    config: Config,
    app: String,
    app_config: AppConfig,
    connector: C,
    health: Arc<AppHealth>,
}

impl<C: Connector + 'static> Worker<C> {
    /// A worker for `app` of the catalogue.
    pub fn new(config: Config, app: String, connector: C) -> Result<Self, WorkerError> {
        let app_config = config
            .apps
            .get(&app)
            .cloned()
            .ok_or_else(|| WorkerError::UnknownApp(app.clone()))?;
        let health = Arc::new(AppHealth::new(&app, app_config.outage.consecutive_failures));
        Ok(Worker {
            config,
            app,
            app_config,
            connector,
            health,
        })
    }

    /// The app's health, shared: paused or not, and why.
    pub fn health(&self) -> Arc<AppHealth> {
        Arc::clone(&self.health)
    }

    /// Runs until `shutdown` is cancelled, then lets in-flight calls finish
    /// (within `connector.shutdown_timeout_ms`), commits what finished, leaves
    /// the group and returns `Ok`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        let Worker {
            config,
            app,
            app_config,
            connector,
            health,
        } = self;
        let topic = config.topics.commands(&app);
        let blocking_config = config.clone();
        tokio::task::spawn_blocking(move || {
            kafka::check_reachable(&blocking_config, Duration::from_secs(10))
        })
        .await??;
        if config.kafka.create_topics {
            let topics: Vec<TopicSpec> =
                [&topic, &config.topics.results, &config.topics.commands_dlq]
                    .into_iter()
                    .map(|name| TopicSpec {
                        name: name.clone(),
                        compact: false,
                    })
                    .collect();
            kafka::ensure_topics(&config, &topics).await?;
        }
        let (restore_config, restore_app) = (config.clone(), app.clone());
        let generations = tokio::task::spawn_blocking(move || {
            generations::restore(&restore_config, &restore_app)
        })
        .await??;

        let producer: FutureProducer = kafka::client_config(&config)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .map_err(KafkaSetupError::Client)?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let group = format!("{}-{app}", config.kafka.group_id);
        let consumer: StreamConsumer<WorkerContext> = kafka::client_config(&config)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create_with_context(WorkerContext::new(&app, &topic, Arc::clone(&shared)))
            .map_err(KafkaSetupError::Client)?;
        consumer.subscribe(&[&topic])?;

        // Tasks stop with the worker, whichever way it returns.
        let local = shutdown.child_token();
        let _stop_tasks = local.clone().drop_guard();
        let ctx = Arc::new(AppContext {
            app: app.clone(),
            connector,
            limiter: RateLimiter::direct(quota(app_config.rate_limit_per_second)),
            health: Arc::clone(&health),
            retry: app_config.retry.clone(),
            producer,
            results_topic: config.topics.results.clone(),
            dlq_topic: config.topics.commands_dlq.clone(),
            shutdown: local.clone(),
        });
        let prober = {
            let ctx = Arc::clone(&ctx);
            let outage_config = app_config.outage.clone();
            let token = local.clone();
            tokio::spawn(async move {
                let c = &ctx;
                outage::probe_until_healthy(
                    &c.health,
                    &c.connector,
                    &outage_config,
                    || async { c.limiter.until_ready().await },
                    token,
                )
                .await
            })
        };
        info!(
            message = "Connector worker ready.",
            app = %app,
            topic = %topic,
            group = %group,
            concurrency = app_config.concurrency,
            rate_limit_per_second = app_config.rate_limit_per_second,
            employees_known = generations.len()
        );
        let mut worker = Loop {
            known_apps: config.apps.keys().cloned().collect(),
            concurrency: app_config.concurrency,
            max_buffered: config.connector.max_buffered_records,
            backpressure: false,
            consumer,
            shared,
            ctx,
            queue: KeyedQueue::new(),
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            generations,
            topic,
        };
        let commit_every = Duration::from_millis(config.connector.commit_interval_ms);
        worker.run(&shutdown, commit_every).await?;
        worker
            .stop(Duration::from_millis(config.connector.shutdown_timeout_ms))
            .await?;
        local.cancel();
        let _ = prober.await;
        Ok(())
    }
}

/// Runs one app's worker until `shutdown` is cancelled; see [`Worker::run`].
pub async fn run<C: Connector + 'static>(
    config: Config,
    app: String,
    connector: C,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    Worker::new(config, app, connector)?.run(shutdown).await
}

/// One request every `1 / rate` seconds, no burst: the app never sees more
/// than `rate` requests in any window, even right after an idle spell.
fn quota(rate: f64) -> Quota {
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
    // `period` is at least one nanosecond, the only case `with_period` refuses.
    Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
}

/// The running loop's state.
struct Loop<C> {
    known_apps: Vec<String>,
    concurrency: usize,
    max_buffered: usize,
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
    async fn run(
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
                _ = commit_tick.tick() => self.commit(CommitMode::Async),
                _ = health.changed() => {}
            }
        }
    }

    /// A record arrived: queue its command, or dead-letter it.
    fn on_record(&mut self, record: OwnedMessage) {
        let (partition, offset) = (record.partition(), record.offset());
        lock(&self.shared).offsets.received(partition, offset);
        let known = |app: &str| self.known_apps.iter().any(|a| a == app);
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
                warn!(
                    message = "Record is not a command of this app; dead-lettered.",
                    app = %self.ctx.app,
                    partition,
                    offset,
                    kind = refusal.kind.as_str(),
                    reason = %refusal.reason
                );
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
        while self.queue.busy() < self.concurrency
            && !self.ctx.health.is_paused()
            && !self.ctx.shutdown.is_cancelled()
        {
            let Some((key, work)) = self.queue.pop_ready() else {
                return;
            };
            let superseded = self
                .generations
                .is_superseded(&work.cmd.employee_id, work.cmd.generation);
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
        if buffered >= self.max_buffered {
            self.backpressure = true;
        } else if buffered <= self.max_buffered / 2 {
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
    async fn stop(mut self, grace: Duration) -> Result<(), WorkerError> {
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
