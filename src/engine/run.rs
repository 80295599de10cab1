//! The engine's Kafka loop, on a thread of its own.
//!
//! Each turn: apply assignment changes (restore new partitions, drop revoked
//! ones), pick up a new rules version and operator requests, then collect a
//! batch of records and commit it in one transaction. Between turns nothing
//! is open, so shutdown and rebalances never meet a half-done batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::TopicPartitionList;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::control::{ControlReader, ControlRequest};
use super::events::{
    CommandTopicSeen, DeprovisionsHeld, EngineStarted, PartitionsRevoked, RulesApplied,
    RulesRefused,
};
use super::guard::Scope;
use super::pending::{Context, Pending};
use super::rebalance::{Change, EngineContext};
use super::reload::{Reload, Watcher};
use super::store::{self, Store};
use super::topics::CommandTopics;
use super::EngineError;

mod batch;
mod timers;
use crate::config::Config;
use crate::kafka::{self, KafkaSetupError, Tuning, TxnProducer};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::telemetry::Telemetry;

struct Engine {
    config: Config,
    rules: RuleSet,
    metrics: Arc<Metrics>,
    store: Store,
    requests: Vec<ControlRequest>,
    consumer: BaseConsumer<EngineContext>,
    txn: TxnProducer,
    control: ControlReader,
    telemetry: Telemetry,
    topics: CommandTopics,
    /// The input offset committed last on each owned partition (fetched on
    /// restore, then kept by each commit): the fence of transactions that
    /// consume no input (see `batch::fence`).
    committed: std::collections::BTreeMap<i32, i64>,
    /// The first offsets of the batch that aborted last, and how many times
    /// in a row it did.
    aborts: Option<(std::collections::BTreeMap<i32, i64>, u32)>,
    /// `engine.decide_threads`, resolved once: resolving it reads the
    /// cgroup CPU quota from files, and the decide pool keeps the size it
    /// was first given.
    threads: usize,
}

/// The engine's producer tuning (`[engine]`, each yielding to
/// `[kafka.properties]`): large batches, compressed, a bounded send queue,
/// and no idling between a batch's last acknowledgement and its commit.
fn producer_tuning(config: &Config) -> Tuning {
    let e = &config.engine;
    Tuning {
        linger: Some(e.producer_linger),
        compression: Some(e.producer_compression.clone()),
        queue_max_kbytes: Some(e.producer_queue_max_kbytes),
        quick_retry: true,
        native_flush: true,
    }
}

pub(super) fn run_blocking(
    config: Config,
    rules: RuleSet,
    topics: CommandTopics,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let metrics = Arc::clone(&telemetry.metrics);
    let instance = config.engine.instance_id();
    let transactional_id = format!("{}-{}", config.kafka.group_id, instance);
    let consumer = input_consumer(&config, &instance)?;
    telemetry
        .positions
        .register(&config.topics.events, &config.kafka.group_id);
    telemetry
        .readiness
        .starting("engine", "joining the consumer group");
    let txn = TxnProducer::new(&config, &transactional_id, &producer_tuning(&config))
        .map_err(EngineError::Fatal)?;
    let control = ControlReader::new(&config)?;
    let mut watcher = Watcher::new(&config, &telemetry)?;
    EngineStarted {
        topic: &config.topics.events,
        transactional_id: &transactional_id,
        rules_version: rules.version(),
    }
    .emit(&metrics);
    let threads = config.engine.decide_threads();
    telemetry.readiness.stall_after(config.engine.stall);
    let mut engine = Engine {
        config,
        rules,
        metrics,
        store: Store::default(),
        requests: Vec::new(),
        consumer,
        txn,
        control,
        telemetry,
        topics: CommandTopics::all_present(),
        threads,
        committed: Default::default(),
        aborts: None,
    };
    engine.set_topics(topics);
    engine.serve(&mut watcher, &shutdown)
}

/// The engine's consumer of the input topic, subscribed: a static member of
/// `kafka.group_id`, reading committed records only.
fn input_consumer(
    config: &Config,
    instance: &str,
) -> Result<BaseConsumer<EngineContext>, EngineError> {
    let mut cc = kafka::client_config(config);
    for (key, value) in store::consumer_bounds(config) {
        kafka::set_default(&mut cc, key, &value);
    }
    let consumer: BaseConsumer<EngineContext> = cc
        .set("group.id", &config.kafka.group_id)
        // Static membership: a restarted instance takes its old place (and
        // partitions) at once instead of waiting out the session timeout.
        .set("group.instance.id", instance)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        // Incremental rebalances: a member joining or leaving moves only the
        // partitions that change owner, so the others keep their state.
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create_with_context(EngineContext::default())
        .map_err(KafkaSetupError::Client)?;
    consumer.subscribe(&[&config.topics.events])?;
    Ok(consumer)
}

impl Engine {
    /// What a decision on the pool reads, as of `now`: one place for the
    /// batch and the timer round alike.
    fn context(&self, now: DateTime<Utc>) -> Context<'_> {
        Context {
            store: &self.store,
            rules: &self.rules,
            config: &self.config,
            topics: &self.topics,
            metrics: &self.metrics,
            now,
        }
    }

    /// The loop, one turn after another until `shutdown`; each turn ends
    /// with nothing open, so stopping leaves no half-done batch.
    fn serve(
        &mut self,
        watcher: &mut Watcher,
        shutdown: &CancellationToken,
    ) -> Result<(), EngineError> {
        while !shutdown.is_cancelled() {
            self.apply_rebalances(&mut Vec::new())?;
            self.telemetry_turn();
            self.check_topics()?;
            self.check_rules(watcher)?;
            self.check_control()?;
            self.fire_timers()?;
            let mut batch = self.collect(shutdown)?;
            self.apply_rebalances(&mut batch)?;
            if batch.is_empty() {
                self.telemetry.readiness.progressed();
            } else {
                self.process(batch)?;
            }
        }
        info!(message = "Engine stopping: no transaction open; leaving the group.");
        self.consumer.unsubscribe();
        Ok(())
    }

    /// Polls up to a batch of records: waits for the first (at most until
    /// the next timer is due), then takes what the consumer already holds,
    /// closing the batch as soon as nothing more is buffered, at
    /// `batch_max_records`, `batch_max_ms` after the first, or on a
    /// rebalance. So a lone event is decided and committed at once, while a
    /// flood, which keeps the consumer's prefetch full while the previous
    /// batch commits, still makes full batches.
    /// A fatal consumer error (e.g. this static member fenced by another
    /// with the same instance id) ends the engine: polling on would never
    /// deliver again, and the supervisor's restart rejoins cleanly.
    fn collect(&self, shutdown: &CancellationToken) -> Result<Vec<OwnedMessage>, EngineError> {
        let max = self.config.engine.batch_max_records;
        let window = self.config.engine.batch_max;
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        let idle = self.idle_wait();
        while batch.len() < max && !shutdown.is_cancelled() {
            let timeout = match deadline {
                None => idle,
                // The clock read every 64 records: a flood polls ~100,000
                // a second.
                Some(d) if batch.len() % 64 == 0 && Instant::now() >= d => break,
                // Only what is buffered already: waiting for more would
                // hold the records read so far.
                Some(_) => Duration::ZERO,
            };
            match self.consumer.poll(timeout) {
                Some(Ok(record)) => {
                    if batch.is_empty() {
                        // Room for a flood's batch at once: growing it
                        // moved every record read so far, at each doubling.
                        batch.reserve(max.min(8192));
                    }
                    batch.push(record.detach());
                    deadline.get_or_insert_with(|| Instant::now() + window);
                }
                Some(Err(error)) => {
                    if let Some((code, reason)) = self.consumer.client().fatal_error() {
                        error!(message = "Consumer failed fatally; stopping.", %code, %reason);
                        return Err(EngineError::Fatal(KafkaError::MessageConsumption(code)));
                    }
                    warn!(message = "Consumer error.", %error);
                }
                // Nothing buffered (or, before the first record, the idle
                // wait is over).
                None => break,
            }
            if self.consumer.context().pending() {
                break;
            }
        }
        Ok(batch)
    }

    /// Drops state (and collected records) of revoked partitions; restores
    /// newly assigned ones, then lets their records flow.
    fn apply_rebalances(&mut self, batch: &mut Vec<OwnedMessage>) -> Result<(), EngineError> {
        for change in self.consumer.context().take() {
            match change {
                Change::Revoked(partitions) => {
                    self.telemetry.readiness.revoked(&partitions);
                    batch.retain(|r| !partitions.contains(&r.partition()));
                    for &p in &partitions {
                        self.store.drop_partition(p);
                        self.committed.remove(&p);
                    }
                    PartitionsRevoked {
                        topic: &self.config.topics.events,
                        partitions: &partitions,
                    }
                    .emit(&self.metrics);
                    self.update_held_gauges();
                }
                Change::Assigned(partitions) => {
                    self.telemetry.readiness.restoring(&partitions);
                    self.restore(&partitions)?;
                    self.telemetry.readiness.restored(&partitions);
                }
            }
        }
        Ok(())
    }

    /// Restores the state of newly assigned partitions (all with one
    /// consumer), catches up with rules and operator requests, then resumes
    /// the partitions.
    fn restore(&mut self, partitions: &[i32]) -> Result<(), EngineError> {
        let started = Instant::now();
        let restored = store::restore_encoded(&self.config, partitions)?;
        self.learn_committed(partitions)?;
        for (p, restored) in restored {
            let employees = restored.states.len();
            self.store.load(p, restored);
            info!(
                message = "Partition state restored.",
                partition = p,
                employees
            );
        }
        info!(
            message = "State restored.",
            ?partitions,
            employees = self.store.len(),
            state_bytes = self.store.bytes(),
            seconds = started.elapsed().as_secs_f64()
        );
        // Employees last evaluated under other rules (a change made while the
        // previous owner was down or mid-way), and requests the previous owner
        // may not have applied.
        self.rework_rules(partitions)?;
        let requests = self.requests.clone();
        self.rework_control(partitions, &requests)?;
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&self.config.topics.events, p);
        }
        self.consumer.resume(&tpl)?;
        self.update_held_gauges();
        info!(
            message = "Engine ready: assigned partitions restored.",
            partitions = ?self.store.partitions(),
            employees = self.store.len()
        );
        Ok(())
    }

    fn check_rules(&mut self, watcher: &mut Watcher) -> Result<(), EngineError> {
        match watcher.check(&self.config) {
            Reload::Unchanged => Ok(()),
            Reload::Refused(errors) => {
                RulesRefused {
                    version: self.rules.version(),
                    problems: errors.to_string().trim_end(),
                }
                .emit(&self.metrics);
                self.telemetry.readiness.rules_refused();
                Ok(())
            }
            Reload::Changed(rules) => {
                if rules.version() == self.rules.version() {
                    return Ok(());
                }
                RulesApplied {
                    from: self.rules.version(),
                    to: rules.version(),
                }
                .emit(&self.metrics);
                self.rules = *rules;
                self.telemetry.readiness.rules_loaded(self.rules.version());
                let partitions = self.store.partitions();
                self.rework_rules(&partitions)
            }
        }
    }

    /// While some app has no command topic, looks again every
    /// `engine.topic_refresh_ms`; an app whose topic appeared is served
    /// again, and employees a re-evaluation left waiting for it are done now.
    fn check_topics(&mut self) -> Result<(), EngineError> {
        let interval = self.config.engine.topic_refresh;
        if !self.topics.refresh_due(interval) {
            return Ok(());
        }
        let before = self.topics.missing().clone();
        self.refresh_topics();
        if before.is_subset(self.topics.missing()) {
            return Ok(());
        }
        let partitions = self.store.partitions();
        self.rework_rules(&partitions)
    }

    fn refresh_topics(&mut self) {
        match CommandTopics::check(&self.config) {
            Ok(topics) => self.set_topics(topics),
            Err(e) => warn!(message = "Could not list the command topics.", error = %e),
        }
    }

    /// Takes a new view of the command topics, saying what changed.
    fn set_topics(&mut self, topics: CommandTopics) {
        for app in self.config.apps.keys() {
            CommandTopicSeen {
                app,
                topic: &self.config.topics.commands(app),
                was_missing: self.topics.missing().contains(app),
                missing: topics.missing().contains(app),
            }
            .emit(&self.metrics);
        }
        self.topics = topics;
    }

    fn check_control(&mut self) -> Result<(), EngineError> {
        let new = self.control.poll(Duration::ZERO);
        if new.is_empty() {
            return Ok(());
        }
        info!(
            message = "Operator requests received.",
            requests = new.len()
        );
        self.requests.extend(new.iter().cloned());
        let partitions = self.store.partitions();
        self.rework_control(&partitions, &new)
    }

    /// Re-evaluates the employees of `partitions` whose state predates the
    /// rules in force, behind the guard, in transactions of bounded size.
    fn rework_rules(&mut self, partitions: &[i32]) -> Result<(), EngineError> {
        let now = Utc::now();
        let mut pending = Pending::default();
        for &p in partitions {
            for state in self.store.outdated(p, self.rules.version()) {
                pending.add_reconcile(p, state, &self.rules, &self.config, &self.topics, now);
            }
        }
        if pending.waiting() > 0 {
            warn!(
                message = "Employees left under their old rules until their apps' command topics exist.",
                employees = pending.waiting(),
                apps = ?self.topics.missing()
            );
        }
        pending.guard(&self.store, &self.config, Scope::Whole, &hold_id(now), now);
        self.commit_maintenance(pending)
    }

    /// Applies operator requests to the held deprovisions of `partitions`.
    fn rework_control(
        &mut self,
        partitions: &[i32],
        requests: &[ControlRequest],
    ) -> Result<(), EngineError> {
        let mut pending = Pending::default();
        for &p in partitions {
            for state in self.store.holding(p, self.rules.version()) {
                pending.add_requests(p, state, requests, &self.topics);
            }
        }
        self.commit_maintenance(pending)
    }

    fn update_held_gauges(&self) {
        let held = self.store.held_by_app();
        DeprovisionsHeld {
            apps: self.config.apps.keys().map(String::as_str).collect(),
            held,
        }
        .emit(&self.metrics);
        self.telemetry.readiness.set_held(held);
    }

    /// Once a turn, between batches: publishes the consumer's positions for
    /// the lag monitor, and marks the engine started once the group has
    /// given it an assignment (even an empty one) and no change is waiting
    /// (restores set their own readiness). No broker round trip.
    fn telemetry_turn(&self) {
        self.telemetry.positions.publish(&self.consumer);
        self.metrics
            .set_timers_pending(self.store.timers().len() as u64);
        let context = self.consumer.context();
        if context.assigned_once() && !context.pending() {
            self.telemetry.readiness.started("engine");
        }
    }
}

/// A new hold id, readable and unique enough: time plus a random suffix.
fn hold_id(now: DateTime<Utc>) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("hold-{}-{}", now.format("%Y%m%dT%H%M%S"), &suffix[..8])
}
