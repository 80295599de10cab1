//! One app's worker: `provisioning.commands.<app>` in, app calls out,
//! `provisioning.results` (and `provisioning.commands.dlq`) written.
//!
//! This module sets the worker up — checks the broker, creates its topics,
//! restores the applied generations, builds the clients, the token bucket and
//! the outage prober — and hands over to the loop in
//! `consume.rs`, which reads, orders, dispatches and commits.
//!
//! Delivery is at-least-once: after a crash or a rebalance, finished records
//! above the committed point are handled again. The generation check turns
//! such repeats into `superseded` results rather than second app calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{AppConfig, Config};
use crate::connector::apply::AppContext;
use crate::connector::consume::{Limits, Loop};
use crate::connector::generations;
use crate::connector::outage;
use crate::connector::rebalance::{Shared, WorkerContext};
use crate::connector::Connector;
use crate::kafka::{self, KafkaSetupError, TopicSpec};
use crate::ratelimit;
use crate::telemetry::health::AppHealth;
use crate::telemetry::{Role, Telemetry};

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

/// One app's worker, before it runs; [`health`](Worker::health) can be
/// handed to metrics or readiness first.
pub struct Worker<C> {
    config: Config,
    app: String,
    app_config: AppConfig,
    connector: C,
    health: Arc<AppHealth>,
    telemetry: Option<Telemetry>,
}

impl<C: Connector + 'static> Worker<C> {
    /// A worker for `app` of the catalogue.
    pub fn new(config: Config, app: String, connector: C) -> Result<Self, WorkerError> {
        let app_config = config
            .apps
            .get(&app)
            .cloned()
            .ok_or_else(|| WorkerError::UnknownApp(app.clone()))?;
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
        })
    }

    /// Reports metrics, readiness and lag through `telemetry` (shared by
    /// every worker of the process); without it the worker keeps its own.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
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
        let Worker {
            config,
            app,
            app_config,
            connector,
            health,
            telemetry,
        } = self;
        let telemetry = telemetry.unwrap_or_else(|| Telemetry::new(Role::Connector));
        let component = format!("app {app}");
        let readiness = Arc::clone(&telemetry.readiness);
        readiness.starting(&component, "connecting to Kafka");
        readiness.watch_app(Arc::clone(&health));
        telemetry.metrics.init_connector(&app);
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
        readiness.starting(&component, "restoring applied generations");
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
        telemetry.positions.register(&topic, &group);
        telemetry.start_lag_monitor(&config, &shutdown);

        // Tasks stop with the worker, whichever way it returns.
        let local = shutdown.child_token();
        let _stop_tasks = local.clone().drop_guard();
        let ctx = Arc::new(AppContext {
            app: app.clone(),
            connector,
            limiter: ratelimit::per_second(app_config.rate_limit_per_second),
            health: Arc::clone(&health),
            retry: app_config.retry.clone(),
            outage_detection: app_config.outage.enabled,
            producer,
            results_topic: config.topics.results.clone(),
            dlq_topic: config.topics.commands_dlq.clone(),
            shutdown: local.clone(),
            telemetry: telemetry.clone(),
        });
        let follower = {
            let (telemetry, health, token) =
                (telemetry.clone(), Arc::clone(&health), local.clone());
            tokio::spawn(async move { telemetry.follow_app(health, token).await })
        };
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
        readiness.started(&component);
        info!(
            message = "Connector worker ready.",
            app = %app,
            topic = %topic,
            group = %group,
            concurrency = app_config.concurrency,
            rate_limit_per_second = app_config.rate_limit_per_second,
            employees_known = generations.len()
        );
        let mut worker = Loop::new(
            consumer,
            shared,
            ctx,
            generations,
            Limits {
                known_apps: config.apps.keys().cloned().collect(),
                concurrency: app_config.concurrency,
                max_buffered: config.connector.max_buffered_records,
            },
            topic,
        );
        let commit_every = Duration::from_millis(config.connector.commit_interval_ms);
        worker.run(&shutdown, commit_every).await?;
        worker
            .stop(Duration::from_millis(config.connector.shutdown_timeout_ms))
            .await?;
        local.cancel();
        let _ = prober.await;
        let _ = follower.await;
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
