//! Firing due timers: an employee whose date takes effect now is decided
//! again, like a rules change, and its commands, its new state (with its
//! next timer) and the guard's window are committed in one transaction, with
//! no input offsets. So a firing is exactly once across a crash: either the
//! transaction committed and the restored state carries the next timer, or
//! it did not and the same timer is found due again after the restore (and
//! the decision, being a pure function of state and `now`, is made again).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::{hold_id, Engine};
use crate::engine::events::TimersFired;
use crate::engine::guard::Scope;
use crate::engine::pending::{Context, Pending};
use crate::engine::EngineError;

/// How long an unreadable state's timer is left alone (its decode error is
/// logged each time it is tried).
const UNREADABLE_RETRY: Duration = Duration::from_secs(3600);

impl Engine {
    /// Fires up to `engine.batch_max_records` due timers, in transactions of
    /// at most `engine.reconcile_chunk` employees, behind the guard (each
    /// deprovision judged on its own, as for events: a cohort ending on one
    /// day is held past the thresholds). One round per turn, so input and
    /// rebalances are served between rounds.
    pub(super) fn fire_timers(&mut self) -> Result<(), EngineError> {
        let now = Utc::now();
        let max = self.config.engine.batch_max_records;
        let due = self.store.timers().due(now, max);
        if due.is_empty() {
            return Ok(());
        }
        let mut pending = Pending::default();
        let mut fired: Vec<DateTime<Utc>> = Vec::with_capacity(due.len());
        let mut deferred = Vec::new();
        {
            let ctx = Context {
                store: &self.store,
                rules: &self.rules,
                config: &self.config,
                topics: &self.topics,
                metrics: &self.metrics,
                now,
            };
            for (partition, at, id) in due {
                let Some(state) = self.store.get(partition, &id, self.rules.version()) else {
                    deferred.push((id, UNREADABLE_RETRY));
                    continue;
                };
                if pending.add_timer(partition, state, &ctx) {
                    fired.push(at);
                } else {
                    deferred.push((id, self.config.engine.topic_refresh));
                }
            }
        }
        pending.guard(&self.store, &self.config, Scope::Each, &hold_id(now), now);
        let (commands, held) = (pending.command_count(), pending.held_count());
        // An aborted firing (e.g. fenced: this instance lost the partitions
        // while paused) is not retried here: the timers stay due, and the
        // next turn first applies the rebalance, then tries what is still ours.
        if let Some(error) = self.try_maintenance(pending, 1)? {
            warn!(message = "Firing timers aborted; they stay due.", %error);
            return Ok(());
        }
        for (id, wait) in deferred {
            let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
            self.store.defer_timer(&id, until);
        }
        TimersFired {
            due: &fired,
            committed_at: Utc::now(),
            commands,
            held,
        }
        .emit(&self.metrics);
        Ok(())
    }

    /// How long an idle poll may wait: until the next timer, at most 100 ms.
    pub(super) fn idle_wait(&self) -> Duration {
        let most = Duration::from_millis(100);
        match self.store.timers().next() {
            None => most,
            Some(next) => (next - Utc::now()).to_std().unwrap_or_default().min(most),
        }
    }
}
