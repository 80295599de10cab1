//! Outages are not poison.
//!
//! When an app is down, every command fails; dead-lettering them all would
//! turn a ten-minute outage into a replay chore. So the worker keeps one
//! [`AppHealth`] per app: an explicit `Unavailable` answer, or
//! `outage.consecutive_failures` transient failures in a row across the app
//! (any success resets the run), *pauses* the app. While paused no command is
//! sent (they wait in Kafka; the consumer's partitions are paused), the
//! commands in flight wait without spending their retry budgets, and
//! [`probe_until_healthy`] asks [`Connector::probe`] with growing delays
//! until the app answers; then consumption resumes and the waiting commands
//! are retried.
//!
//! Every transient failure counts toward the run, 429 included: an app that
//! keeps refusing despite the rate limit is not coping, and pausing is the
//! respectful answer. A failure run caused by one bad command rather than the
//! app is told apart by the probe: if the very first probe succeeds, the
//! outage is not *confirmed* and the commands keep their spent budgets, so a
//! poison command still reaches the dead-letter topic. Any failed probe
//! confirms the pause, the one a command makes before dead-lettering itself
//! included: a short outage that ends before the prober's first probe must
//! not dead-letter the commands that saw it.
//!
//! `AppHealth` is shared (`Arc`) so metrics and `/readyz` can read it later.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::OutageConfig;
use crate::connector::Connector;

/// A snapshot of an app's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthState {
    /// Consumption is paused because the app looks down.
    pub paused: bool,
    /// Why it was paused (the last error, without secrets).
    pub reason: Option<String>,
    /// When the current pause began.
    pub since: Option<SystemTime>,
    /// Pauses so far, confirmed or not.
    pub pauses: u64,
    /// Outages confirmed by at least one failed probe. Commands compare this
    /// before and after waiting: a confirmed outage gives them their retry
    /// budget back.
    pub confirmed_outages: u64,
}

/// The health of one app, shared by its worker, its commands and readers.
#[derive(Debug)]
pub struct AppHealth {
    app: String,
    threshold: u32,
    failures_in_a_row: AtomicU32,
    /// Whether the current pause is counted in `confirmed_outages` yet; only
    /// changed inside the state's modify closures, which hold its lock.
    pause_confirmed: AtomicBool,
    state: watch::Sender<HealthState>,
}

impl AppHealth {
    /// A healthy app; `threshold` transient failures in a row pause it.
    pub fn new(app: &str, threshold: u32) -> AppHealth {
        AppHealth {
            app: app.to_string(),
            threshold: threshold.max(1),
            failures_in_a_row: AtomicU32::new(0),
            pause_confirmed: AtomicBool::new(false),
            state: watch::Sender::new(HealthState::default()),
        }
    }

    /// The app.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Whether the app's consumption is paused now.
    pub fn is_paused(&self) -> bool {
        self.state.borrow().paused
    }

    /// The current state.
    pub fn snapshot(&self) -> HealthState {
        self.state.borrow().clone()
    }

    /// Changes of the state, for whoever must react (the worker loop, the
    /// prober, a readiness endpoint).
    pub fn subscribe(&self) -> watch::Receiver<HealthState> {
        self.state.subscribe()
    }

    /// The app answered (success, or a refusal of one command): the run of
    /// failures is broken.
    pub(crate) fn record_answer(&self) {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
    }

    /// A transient failure; pauses the app when it completes a run of
    /// `threshold`. Returns whether the app is paused now.
    pub(crate) fn record_transient(&self, message: &str) -> bool {
        let run = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if run >= self.threshold {
            self.pause(&format!(
                "{run} transient failures in a row; last: {message}"
            ));
        }
        self.is_paused()
    }

    /// Pauses the app (idempotent while paused).
    pub(crate) fn pause(&self, reason: &str) {
        let paused = self.state.send_if_modified(|s| {
            if s.paused {
                return false;
            }
            s.paused = true;
            self.pause_confirmed.store(false, Ordering::Relaxed);
            s.reason = Some(reason.to_string());
            s.since = Some(SystemTime::now());
            s.pauses += 1;
            true
        });
        if paused {
            warn!(
                message = "App looks down; consumption paused, commands wait in Kafka.",
                app = %self.app,
                reason
            );
        }
    }

    /// A probe failed while paused: this is a real outage. Counted once per
    /// pause, whoever probed — the prober, or a command probing before it
    /// would dead-letter itself.
    pub(crate) fn confirm(&self) {
        self.state.send_if_modified(|s| {
            if !s.paused || self.pause_confirmed.swap(true, Ordering::Relaxed) {
                return false;
            }
            s.confirmed_outages += 1;
            true
        });
    }

    /// The probe answered: resume.
    fn resume(&self) {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        let mut paused_for = Duration::ZERO;
        self.state.send_if_modified(|s| {
            if !s.paused {
                return false;
            }
            paused_for = s
                .since
                .and_then(|t| t.elapsed().ok())
                .unwrap_or(Duration::ZERO);
            s.paused = false;
            s.reason = None;
            s.since = None;
            true
        });
        info!(
            message = "App answers again; consumption resumed.",
            app = %self.app,
            paused_ms = paused_for.as_millis() as u64
        );
    }

    /// Waits until the app is not paused (at once if it is not).
    pub async fn wait_resumed(&self) {
        let mut rx = self.state.subscribe();
        // `wait_for` only fails when the sender is gone, and `self` owns it.
        let _ = rx.wait_for(|s| !s.paused).await;
    }
}

/// The probe delays of an outage: exponential with jitter, from
/// `probe_initial_delay_ms` to `probe_max_delay_ms`, never ending.
fn probe_delays(config: &OutageConfig) -> impl Iterator<Item = Duration> {
    let max = Duration::from_millis(config.probe_max_delay_ms);
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(config.probe_initial_delay_ms))
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
        .map(move |d| d.min(max))
}

/// Runs for the worker's life: whenever the app is paused, probes it with
/// backoff until it answers, then resumes it. `before_probe` is awaited
/// before every probe (the app's rate limiter).
pub async fn probe_until_healthy<C, F, Fut>(
    health: &AppHealth,
    connector: &C,
    config: &OutageConfig,
    before_probe: F,
    shutdown: CancellationToken,
) where
    C: Connector,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut rx = health.subscribe();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = rx.wait_for(|s| s.paused) => if changed.is_err() { return },
        }
        let mut failed_probes = 0u32;
        for delay in probe_delays(config) {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            before_probe().await;
            match connector.probe().await {
                Ok(()) => break,
                Err(error) => {
                    failed_probes += 1;
                    if failed_probes == 1 {
                        health.confirm();
                    }
                    warn!(
                        message = "App still down.",
                        app = %health.app(),
                        failed_probes,
                        next_probe_in_ms = delay.as_millis() as u64,
                        %error
                    );
                }
            }
        }
        health.resume();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_transient_failures_pauses() {
        let h = AppHealth::new("a", 3);
        assert!(!h.record_transient("503"));
        assert!(!h.record_transient("503"));
        h.record_answer();
        assert!(!h.record_transient("503"));
        assert!(!h.record_transient("503"));
        assert!(h.record_transient("503"));
        let s = h.snapshot();
        assert!(s.paused && s.pauses == 1);
        assert!(s.reason.unwrap().contains("3 transient failures in a row"));
        h.resume();
        assert!(!h.is_paused());
        assert!(!h.record_transient("503"), "resuming resets the run");
    }

    #[test]
    fn an_outage_is_confirmed_once_per_pause() {
        let h = AppHealth::new("a", 1);
        h.confirm();
        assert_eq!(
            h.snapshot().confirmed_outages,
            0,
            "not paused: nothing to confirm"
        );
        h.pause("down");
        h.confirm();
        h.confirm();
        assert_eq!(h.snapshot().confirmed_outages, 1);
        h.resume();
        h.pause("down again");
        h.confirm();
        assert_eq!(h.snapshot().confirmed_outages, 2);
    }

    #[test]
    fn probe_delays_grow_and_stay_bounded() {
        let config = OutageConfig {
            enabled: true,
            consecutive_failures: 1,
            probe_initial_delay_ms: 10,
            probe_max_delay_ms: 100,
        };
        let delays: Vec<_> = probe_delays(&config).take(20).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(10)));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(100)));
        assert_eq!(delays.len(), 20, "probing never gives up");
    }
}
