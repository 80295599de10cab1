//! The health of one app, as the connector reports it and `/readyz`, the
//! `provisioner_app_paused` gauge and the worker's consumer read it.
//!
//! An [`AppHealth`] counts the app's transient failures in a row and holds
//! whether its consumption is paused, why and since when. The *policy* —
//! what pauses an app, how it is probed and resumed — is the connector's
//! (`connector::outage`); this record lives in the bottom layer so that
//! telemetry can read it without importing the connector. It is shared
//! (`Arc`); readers subscribe to its changes.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::{info, warn};

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

    /// The app answered a probe: resume.
    pub(crate) fn resume(&self) {
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
}
