//! Reconciliation's periodic mode (#13): inside the connector, an app with
//! `apps.<name>.reconcile.interval_ms` is reconciled again and again, one
//! interval after the end of the run before (the first one interval after
//! the worker is ready), with the app's own policy (report-only unless
//! configured), exactly as `provisioner reconcile --app NAME` would.
//!
//! It runs beside the app's worker and takes its tokens from the worker's
//! bucket, so a listing and the commands together stay within
//! `rate_limit_per_second`; its `provisioner_reconcile_*` metrics are the
//! connector's, served on its `/metrics`.
//!
//! The desired side is the engine's state on the changelog, which this
//! layer may not read (the engine is a peer layer): the binary hands a
//! [`DesiredSource`] down. A run cut short by shutdown is abandoned: its
//! findings and whatever re-asserts it had written stand (each is a whole
//! record), the rest waits for the next run.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::react::Run;
use super::survey::{self, Mode, Outcome, Session};
use crate::config::Config;
use crate::ids::AppName;
use crate::ratelimit::Limiter;
use crate::reconcile::output::Done;
use crate::reconcile::DesiredAccount;
use crate::telemetry::Telemetry;
use crate::text::error_chain;

/// Why the desired side could not be read (it names the topic).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Reads every employee's desired account in one app, to the end of the
/// state changelog: a blocking call, run on a blocking thread.
pub type DesiredSource =
    Arc<dyn Fn(&Config, &str) -> Result<Vec<DesiredAccount>, SourceError> + Send + Sync>;

/// One app's periodic reconciliation: what it needs from its worker.
pub(crate) struct Periodic {
    /// The process's configuration.
    pub config: Config,
    /// The app.
    pub app: AppName,
    /// Pause between runs.
    pub interval: Duration,
    /// The worker's token bucket.
    pub limiter: Arc<Limiter>,
    /// The engine's decisions.
    pub source: DesiredSource,
    /// The process's metrics (and logs).
    pub telemetry: Telemetry,
}

impl Periodic {
    /// Runs every interval until `stop` is cancelled. A failed run is a
    /// warning and the next one is tried an interval later: the worker goes
    /// on serving commands whatever the listing does.
    pub async fn every(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.once() => {}
            }
        }
    }

    /// One run, logged: the counts per situation and the reactions, or why
    /// it failed (never an account's name: findings name them, logs do not).
    async fn once(&self) {
        let run = Run::start();
        let app = self.app.as_str();
        let desired = match self.desired().await {
            Ok(desired) => desired,
            Err(error) => {
                warn!(
                    message = "Reconciliation failed.",
                    app,
                    run_id = %run.id,
                    error = %error_chain(&*error)
                );
                return;
            }
        };
        let session = Session {
            run: &run,
            mode: Mode::Act,
            metrics: &self.telemetry.metrics,
        };
        let outcome =
            survey::run_sharing(&self.config, app, &desired, session, &self.limiter).await;
        match outcome {
            Ok(Outcome::Surveyed {
                report,
                accounts,
                reactions,
            }) => {
                let reactions = reactions.unwrap_or_default();
                let failed = reactions.iter().filter(|r| r.done == Done::Failed).count();
                let c = &report.counts;
                info!(
                    message = "Reconciliation done.",
                    app,
                    run_id = %run.id,
                    accounts,
                    orphan = c.orphan,
                    drifted = c.drifted,
                    missing = c.missing,
                    disputed = c.disputed,
                    ignored = c.ignored,
                    linked = c.linked,
                    reactions = reactions.len(),
                    reactions_failed = failed
                );
            }
            Ok(Outcome::Skipped { reason }) => {
                warn!(message = "Reconciliation skipped.", app, reason);
            }
            Err(error) => warn!(
                message = "Reconciliation failed.",
                app,
                run_id = %run.id,
                partial_scan = error.is_partial(),
                error = %error_chain(&error)
            ),
        }
    }

    /// The desired side, read on a blocking thread.
    async fn desired(&self) -> Result<Vec<DesiredAccount>, SourceError> {
        let (source, config, app) = (
            Arc::clone(&self.source),
            self.config.clone(),
            self.app.to_string(),
        );
        tokio::task::spawn_blocking(move || source(&config, &app)).await?
    }
}
