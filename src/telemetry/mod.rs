//! Telemetry: what operators, Prometheus and Kubernetes see of a running
//! engine or connector (CONTRACT §8).
//!
//! - [`server`]: the HTTP endpoints `/metrics`, `/healthz`, `/readyz`,
//!   behind the [`connections`] limits (timeouts, a connection cap);
//! - [`readiness`]: the registry `/readyz` reads, fed by the loops at state
//!   changes (restoring partitions, rules loaded, apps paused, broker checks);
//! - [`lag`]: consumer lag per owned partition, measured off the hot path;
//! - [`health`]: each app's health (paused or not, and why), which the
//!   connector reports and `/readyz` and `provisioner_app_paused` read;
//! - [`probe`]: whether the broker answers, twice a second, for `/readyz`;
//! - [`logging`]: the `tracing` subscriber (JSON, masked e-mails).
//!
//! The metric series themselves are [`crate::metrics::Metrics`]. A process
//! builds one [`Telemetry`] and hands clones to its loops.

pub mod connections;
pub mod health;
pub mod lag;
pub mod logging;
pub mod probe;
pub mod readiness;
pub mod server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use health::AppHealth;
pub use readiness::{Readiness, Report, Role};

/// Where the engine serves telemetry unless `metrics.listen` or `--metrics-addr` says otherwise.
pub const ENGINE_LISTEN: &str = "127.0.0.1:9464";
/// Where the connector serves telemetry unless `metrics.listen` or `--metrics-addr` says otherwise.
pub const CONNECTOR_LISTEN: &str = "127.0.0.1:9465";

/// One process's metrics, readiness and consumer positions.
#[derive(Clone)]
pub struct Telemetry {
    /// The CONTRACT §8 series.
    pub metrics: Arc<Metrics>,
    /// What `/readyz` answers.
    pub readiness: Arc<Readiness>,
    /// Consumer positions, for the lag monitor.
    pub positions: Arc<lag::Positions>,
    monitor_started: Arc<AtomicBool>,
}

impl Telemetry {
    /// Fresh telemetry for a process of `role`.
    pub fn new(role: Role) -> Telemetry {
        Telemetry::with_metrics(role, Arc::new(Metrics::new()))
    }

    /// Telemetry around an existing metrics registry.
    pub fn with_metrics(role: Role, metrics: Arc<Metrics>) -> Telemetry {
        Telemetry {
            metrics,
            readiness: Arc::new(Readiness::new(role)),
            positions: Arc::default(),
            monitor_started: Arc::default(),
        }
    }

    /// Starts the lag monitor and the broker probe of this process, once
    /// (later calls do nothing); they stop with `shutdown`.
    pub fn start_lag_monitor(&self, config: &Config, shutdown: &CancellationToken) {
        if self.monitor_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let started = lag::spawn_monitor(
            config,
            Arc::clone(&self.positions),
            Arc::clone(&self.metrics),
            shutdown.clone(),
        );
        if let Err(error) = started {
            tracing::error!(message = "Cannot start the lag monitor thread.", %error);
        }
        let started = probe::spawn(config, Arc::clone(&self.readiness), shutdown.clone());
        if let Err(error) = started {
            tracing::error!(message = "Cannot start the broker probe thread.", %error);
        }
    }

    /// Follows an app's health: `provisioner_app_paused{app}` and `/readyz`
    /// change with it. Returns when `shutdown` is cancelled.
    pub async fn follow_app(&self, health: Arc<AppHealth>, shutdown: CancellationToken) {
        self.readiness.watch_app(Arc::clone(&health));
        let mut changes = health.subscribe();
        loop {
            let paused = changes.borrow_and_update().paused;
            self.metrics.set_app_paused(health.app(), paused);
            self.readiness.note();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}
