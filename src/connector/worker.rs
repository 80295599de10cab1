//! One app's worker: `provisioning.commands.<app>` in, app calls out,
//! `provisioning.results` (and `provisioning.commands.dlq`) written.
//!
//! A run is three steps: *prepare* (check the broker, create the topics,
//! restore the applied generations, build the clients, the token bucket and
//! the outage prober), *serve* (the loop in `consume.rs`, which reads,
//! orders, dispatches and commits) and *stop* (finish calls in flight within
//! the grace period, commit, leave the group, stop the helpers).
//!
//! Delivery is at-least-once: after a crash or a rebalance, finished records
//! above the committed point are handled again. The generation check turns
//! such repeats into `superseded` results rather than second app calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::info;

use crate::config::{millis, AppConfig, Config};
use crate::connector::apply::AppContext;
use crate::connector::build;
use crate::connector::consume::{Limits, Loop};
pub use crate::connector::error::WorkerError;
use crate::connector::generations;
use crate::connector::outage;
use crate::connector::periodic::{DesiredSource, Periodic};
use crate::connector::rebalance::{Shared, WorkerContext};
use crate::connector::Connector;
use crate::ids::AppName;
use crate::kafka::{self, KafkaSetupError, TopicSpec};
use crate::ratelimit::Limiter;
use crate::telemetry::health::AppHealth;
use crate::telemetry::{Role, Telemetry};

/// One app's worker, before it runs; [`health`](Worker::health) can be
/// handed to metrics or readiness first.
pub struct Worker<C> {
    config: Config,
    app: AppName,
    app_config: AppConfig,
    connector: C,
    health: Arc<AppHealth>,
    telemetry: Option<Telemetry>,
    desired: Option<DesiredSource>,
}

impl<C: Connector + 'static> Worker<C> {
    /// A worker for `app` of the catalogue.
    pub fn new(config: Config, app: AppName, connector: C) -> Result<Self, WorkerError> {
        let app_config = config
            .apps
            .get(app.as_str())
            .cloned()
            .ok_or_else(|| WorkerError::UnknownApp(app.to_string()))?;
        let threshold = if app_config.outage.enabled {
            app_config.outage.consecutive_failures
        } else {
            u32::MAX
        };
        let health = Arc::new(AppHealth::new(&app, threshold));
        Ok(Worker {
            config,
            app,
            app_config,
            connector,
            health,
            telemetry: None,
            desired: None,
        })
    }

    /// Reports metrics, readiness and lag through `telemetry` (shared by
    /// every worker of the process); without it the worker keeps its own.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Reconciles the app every `apps.<name>.reconcile.interval_ms` against
    /// what `source` reads (without a source, or without an interval, the
    /// worker runs none).
    pub fn with_reconciliation(mut self, source: DesiredSource) -> Self {
        self.desired = Some(source);
        self
    }

    /// The app's health, shared: paused or not, and why.
    pub fn health(&self) -> Arc<AppHealth> {
        Arc::clone(&self.health)
    }

    /// Runs until `shutdown` is cancelled, then lets in-flight calls finish
    /// (within `connector.shutdown_timeout_ms`), commits what finished, leaves
    /// the group and returns `Ok`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        let mut serving = self.prepare(&shutdown).await?;
        serving.serve(&shutdown).await?;
        serving.stop().await
    }

    /// Everything before the first record: the broker reachable, the topics
    /// there, the applied generations restored, the clients subscribed, the
    /// outage prober and the health follower running.
    async fn prepare(mut self, shutdown: &CancellationToken) -> Result<Serving<C>, WorkerError> {
        let telemetry = self
            .telemetry
            .take()
            .unwrap_or_else(|| Telemetry::new(Role::Connector));
        let (config, app) = (&self.config, &self.app);
        let component = format!("app {app}");
        let readiness = Arc::clone(&telemetry.readiness);
        readiness.starting(&component, "connecting to Kafka");
        readiness.watch_app(Arc::clone(&self.health));
        telemetry.metrics.init_connector(app);
        let topic = config.topics.commands(app);
        ensure_broker(config, &topic).await?;
        readiness.starting(&component, "restoring applied generations");
        let (restore_config, restore_app) = (config.clone(), app.clone());
        let generations = tokio::task::spawn_blocking(move || {
            generations::restore(&restore_config, &restore_app)
        })
        .await??;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (producer, consumer, group) = clients(config, app, &topic, &shared)?;
        telemetry.positions.register(&topic, &group);
        telemetry.start_lag_monitor(config, shutdown);
        let limits = Limits {
            known_apps: config.apps.keys().cloned().collect(),
            concurrency: self.app_config.concurrency,
            max_buffered: config.connector.max_buffered_records,
        };
        let timing = Timing {
            commit_every: config.connector.commit_interval,
            grace: config.connector.shutdown_timeout,
        };
        let rate = self.app_config.rate_limit_per_second;
        let (helpers, ctx) = self.start_helpers(producer, telemetry, shutdown);
        readiness.started(&component);
        info!(
            message = "Connector worker ready.",
            app = %ctx.app,
            topic = %topic,
            group = %group,
            concurrency = limits.concurrency,
            rate_limit_per_second = rate,
            employees_known = generations.len()
        );
        let worker = Loop::new(consumer, shared, ctx, generations, limits, topic);
        Ok(Serving {
            worker,
            helpers,
            timing,
        })
    }

    /// The commands' shared context, and the tasks that run beside the loop:
    /// the health follower (metrics) and the outage prober. Both stop with
    /// the worker, whichever way it returns.
    fn start_helpers(
        self,
        producer: FutureProducer,
        telemetry: Telemetry,
        shutdown: &CancellationToken,
    ) -> (Helpers, Arc<AppContext<C>>) {
        let local = shutdown.child_token();
        let limiter = Arc::new(build::limiter(&self.app_config));
        let reconciler = self
            .periodic(&limiter, &telemetry)
            .map(|periodic| tokio::spawn(periodic.every(local.clone())));
        let ctx = Arc::new(AppContext {
            app: self.app,
            connector: self.connector,
            limiter,
            health: Arc::clone(&self.health),
            retry: self.app_config.retry.clone(),
            outage_detection: self.app_config.outage.enabled,
            verify: self.app_config.verify,
            producer,
            results_topic: self.config.topics.results.clone(),
            dlq_topic: self.config.topics.commands_dlq.clone(),
            shutdown: local.clone(),
            telemetry: telemetry.clone(),
        });
        let follower = {
            let token = local.clone();
            tokio::spawn(async move { telemetry.follow_app(self.health, token).await })
        };
        let prober = {
            let (ctx, token) = (Arc::clone(&ctx), local.clone());
            let outage_config = self.app_config.outage;
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
        let helpers = Helpers {
            stop: local.drop_guard(),
            follower,
            prober,
            reconciler,
        };
        (helpers, ctx)
    }

    /// The periodic reconciliation, when the app has an interval and the
    /// worker a source of the desired side.
    fn periodic(&self, limiter: &Arc<Limiter>, telemetry: &Telemetry) -> Option<Periodic> {
        let interval = self.app_config.reconcile.interval?;
        let source = Arc::clone(self.desired.as_ref()?);
        info!(
            message = "Periodic reconciliation on.",
            app = %self.app,
            interval_ms = millis::of(interval)
        );
        Some(Periodic {
            config: self.config.clone(),
            app: self.app.clone(),
            interval,
            limiter: Arc::clone(limiter),
            source,
            telemetry: telemetry.clone(),
        })
    }
}

/// Checks the broker answers and, when `kafka.create_topics`, creates the
/// app's command topic, the results and the dead-letter topics.
async fn ensure_broker(config: &Config, topic: &str) -> Result<(), WorkerError> {
    let blocking_config = config.clone();
    tokio::task::spawn_blocking(move || {
        kafka::check_reachable(&blocking_config, Duration::from_secs(10))
    })
    .await??;
    if config.kafka.create_topics {
        let topics: Vec<TopicSpec> = [topic, &config.topics.results, &config.topics.commands_dlq]
            .into_iter()
            .map(|name| TopicSpec {
                name: name.to_string(),
                compact: false,
            })
            .collect();
        kafka::ensure_topics(config, &topics).await?;
    }
    Ok(())
}

/// The producer of results and dead letters, and the consumer of the app's
/// command topic (group `<group_id>-<app>`, subscribed), with the group id.
fn clients(
    config: &Config,
    app: &str,
    topic: &str,
    shared: &Arc<Mutex<Shared>>,
) -> Result<(FutureProducer, StreamConsumer<WorkerContext>, String), WorkerError> {
    let producer: FutureProducer = kafka::client_config(config)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(KafkaSetupError::Client)?;
    let group = format!("{}-{app}", config.kafka.group_id);
    let consumer: StreamConsumer<WorkerContext> = kafka::client_config(config)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create_with_context(WorkerContext::new(app, topic, Arc::clone(shared)))
        .map_err(KafkaSetupError::Client)?;
    consumer.subscribe(&[topic])?;
    Ok((producer, consumer, group))
}

/// How often the loop commits, and how long in-flight calls may finish at
/// shutdown.
struct Timing {
    commit_every: Duration,
    grace: Duration,
}

/// The tasks beside the loop; dropping this (an error return) cancels them.
struct Helpers {
    stop: DropGuard,
    follower: JoinHandle<()>,
    prober: JoinHandle<()>,
    reconciler: Option<JoinHandle<()>>,
}

/// A prepared worker: subscribed, restored, helpers running.
struct Serving<C> {
    worker: Loop<C>,
    helpers: Helpers,
    timing: Timing,
}

impl<C: Connector + 'static> Serving<C> {
    /// Reads, orders, dispatches and commits until `shutdown` is cancelled
    /// or a fatal Kafka error.
    async fn serve(&mut self, shutdown: &CancellationToken) -> Result<(), WorkerError> {
        self.worker.run(shutdown, self.timing.commit_every).await
    }

    /// Lets in-flight calls finish within the grace period, commits what
    /// finished, leaves the group, then stops the helpers.
    async fn stop(self) -> Result<(), WorkerError> {
        let Serving {
            worker,
            helpers,
            timing,
        } = self;
        worker.stop(timing.grace).await?;
        helpers.stop.disarm().cancel();
        let _ = helpers.prober.await;
        let _ = helpers.follower.await;
        if let Some(reconciler) = helpers.reconciler {
            let _ = reconciler.await;
        }
        Ok(())
    }
}

/// Runs one app's worker until `shutdown` is cancelled; see [`Worker::run`].
pub async fn run<C: Connector + 'static>(
    config: Config,
    app: AppName,
    connector: C,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    Worker::new(config, app, connector)?.run(shutdown).await
}
