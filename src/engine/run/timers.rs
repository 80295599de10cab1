//! Firing due timers: an employee whose date takes effect now is decided
//! again, like a rules change, and its commands, its new state (with its
//! next timer) and the guard's window are committed in one transaction, with
//! no input offsets. So a firing is exactly once across a crash: either the
//! transaction committed and the restored state carries the next timer, or
//! it did not and the same timer is found due again after the restore (and
//! the decision, being a pure function of state and `now`, is made again).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::warn;

use super::{hold_id, Engine};
use crate::engine::events::{RoundTimes, TimersFired};
use crate::engine::guard::Scope;
use crate::engine::parallel;
use crate::engine::pending::{Context, Pending};
use crate::engine::EngineError;

/// How long an unreadable state's timer is left alone (its decode error is
/// logged each time it is tried).
const UNREADABLE_RETRY: Duration = Duration::from_secs(3600);

impl Engine {
    /// Fires up to `engine.batch_max_records` due timers in one transaction
    /// (a round is the size of a batch of events, and a transaction's cost
    /// is mostly fixed: a round in slices of `engine.reconcile_chunk` ran at
    /// a fifth of the event rate), behind the guard (each deprovision judged
    /// on its own, as for events: a cohort ending on one day is held past the
    /// thresholds). One round per turn, so input and rebalances are served
    /// between rounds.
    pub(super) fn fire_timers(&mut self) -> Result<(), EngineError> {
        let started = Instant::now();
        let now = Utc::now();
        let max = self.config.engine.batch_max_records;
        let due = self.store.timers().due(now, max);
        if due.is_empty() {
            return Ok(());
        }
        let mut took = RoundTimes {
            lookup: started.elapsed(),
            ..RoundTimes::default()
        };
        let ctx = self.context(now);
        // Each employee once: any split will do. A few are not worth a thread.
        let threads = if due.len() < 2 * self.threads {
            1
        } else {
            self.threads
        };
        // Merged in order: the guard judges the soonest first.
        let mut parts =
            parallel::per_chunk(&due, threads, |part| Round::decide(part, &ctx)).into_iter();
        let mut round = parts.next().unwrap_or_default();
        for part in parts {
            round.absorb(part);
        }
        took.lookup += round.lookup;
        took.decide = started.elapsed();
        let Round {
            mut pending,
            fired,
            deferred,
            ..
        } = round;
        let guarding = Instant::now();
        pending.guard(&self.store, &self.config, Scope::Each, &hold_id(now), now);
        took.guard = guarding.elapsed();
        let (commands, held) = (pending.command_count(), pending.held_count());
        let committing = Instant::now();
        // An aborted firing (e.g. fenced: this instance lost the partitions
        // while paused) is not retried here: the timers stay due, and the
        // next turn first applies the rebalance, then tries what is still ours.
        if let Some(error) = self.commit_units(vec![pending], 1)? {
            warn!(message = "Firing timers aborted; they stay due.", %error);
            return Ok(());
        }
        took.commit = committing.elapsed();
        for (id, wait) in deferred {
            let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
            self.store.defer_timer(&id, until);
        }
        TimersFired {
            due: &fired,
            committed_at: Utc::now(),
            commands,
            held,
            took,
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

/// A round's decisions, or one part's (on a thread of the decide pool).
#[derive(Default)]
struct Round {
    pending: Pending,
    /// The due instant of each timer fired.
    fired: Vec<DateTime<Utc>>,
    /// Employees whose timer has to wait, and for how long.
    deferred: Vec<(Box<str>, Duration)>,
    /// Time spent decoding states.
    lookup: Duration,
}

impl Round {
    /// Decides the employees of `due` at `ctx.now`.
    fn decide(due: &[(i32, DateTime<Utc>, Box<str>)], ctx: &Context<'_>) -> Round {
        let mut round = Round::default();
        for (partition, at, id) in due {
            let looked = Instant::now();
            let state = ctx.store.get(*partition, id, ctx.rules.version());
            round.lookup += looked.elapsed();
            let Some(state) = state else {
                round.deferred.push((id.clone(), UNREADABLE_RETRY));
                continue;
            };
            if round.pending.add_timer(*partition, state, ctx) {
                round.fired.push(*at);
            } else {
                let wait = ctx.config.engine.topic_refresh;
                round.deferred.push((id.clone(), wait));
            }
        }
        round
    }

    /// Takes in another part's decisions (other employees).
    fn absorb(&mut self, other: Round) {
        self.pending.absorb(other.pending);
        self.fired.extend(other.fired);
        self.deferred.extend(other.deferred);
        self.lookup += other.lookup;
    }
}
