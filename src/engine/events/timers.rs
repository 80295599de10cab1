//! What a round of fired timers reports: its count, each timer's delay,
//! and where the round's time went.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::metrics::Metrics;

/// Timers fired in one committed round (see `run::timers`): counted, their
/// delays observed, one summary line logged (the commands each log their
/// employee id; a firing logs no names).
#[derive(Debug)]
pub struct TimersFired<'a> {
    /// The due instant of each timer fired.
    pub due: &'a [DateTime<Utc>],
    /// When the round's last transaction committed.
    pub committed_at: DateTime<Utc>,
    /// Commands emitted.
    pub commands: usize,
    /// Deprovisions the guard held.
    pub held: u64,
    /// Where the round's time went.
    pub took: RoundTimes,
}

/// Where a round of timers spent its time.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundTimes {
    /// Finding the due timers and decoding their states (the decoding
    /// summed over the decide pool's threads).
    pub lookup: Duration,
    /// Finding, decoding and deciding, on the decide pool (wall time).
    pub decide: Duration,
    /// The guard.
    pub guard: Duration,
    /// Encoding, the transactions, the store update.
    pub commit: Duration,
}

impl TimersFired<'_> {
    /// Counts the timers and observes their delays; logs the round.
    pub fn emit(&self, metrics: &Metrics) {
        if self.due.is_empty() {
            return;
        }
        let mut latest = 0.0f64;
        for due in self.due {
            let delay = (self.committed_at - *due).as_seconds_f64().max(0.0);
            latest = latest.max(delay);
            metrics.observe_timer_delay(delay);
        }
        metrics.timers_fired(self.due.len() as u64);
        info!(
            message = "Timers fired.",
            timers = self.due.len(),
            commands = self.commands,
            held = self.held,
            max_delay_seconds = latest,
            lookup_ms = self.took.lookup.as_millis() as u64,
            decide_ms = self.took.decide.as_millis() as u64,
            guard_ms = self.took.guard.as_millis() as u64,
            commit_ms = self.took.commit.as_millis() as u64
        );
    }
}
