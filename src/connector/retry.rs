//! The retry policy of one command as a pure state machine: told what
//! happened ([`Event`]), it says what to do next ([`Step`]). It never waits,
//! calls or reads a clock, so every exit is unit-tested alone; the async
//! driver in `apply.rs` does the waiting, the calls and the health updates.
//!
//! The policy (see `apply.rs` for the reasons):
//! - a call is made only when the app is not paused ([`Event::Ready`]);
//! - `Permanent` is dead-lettered at once;
//! - `Transient` is retried after the app's `Retry-After` when it gave one
//!   (it wins over `max_delay_ms`), else after exponential backoff with
//!   jitter from `initial_delay_ms` to `max_delay_ms`;
//! - a failure that left the app paused (`Unavailable`, or a run of
//!   transient failures) waits for the app;
//! - after `max_attempts` failed calls the app is probed first (when outage
//!   detection is on): an answer dead-letters the command, a failure means
//!   the app is down, so the command waits for it;
//! - an outage confirmed while the command waited gives it its whole budget
//!   back: the failures were the app's, not the command's;
//! - shutdown abandons the command.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::RetryConfig;
use crate::connector::ConnectorError;
use crate::dlq::ErrorKind;

/// What happened since the last [`Step`]; `T` is what a successful call
/// returned.
#[derive(Debug)]
pub(crate) enum Event<T> {
    /// The app is not paused and the command may call it;
    /// `confirmed_outages` is the app's count now.
    Ready {
        /// Outages confirmed so far (`AppHealth`).
        confirmed_outages: u64,
    },
    /// The call succeeded.
    Applied(T),
    /// The call failed (the error already scrubbed of personal data).
    Failed {
        /// What the app said.
        error: ConnectorError,
        /// Whether the app is paused now, this failure included.
        app_paused: bool,
    },
    /// The probe before dead-lettering was answered: the command's fault.
    ProbeAnswered,
    /// The probe failed: the app is down (the driver paused it and
    /// confirmed the outage).
    ProbeFailed,
    /// Shutdown: no new call may start.
    Shutdown,
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<T> {
    /// Wait for the rate limit, then call the app.
    Call,
    /// Wait this long, then for the app (if paused), then report `Ready`.
    RetryAfter(Duration),
    /// Wait until the app is resumed, then report `Ready`.
    WaitForApp,
    /// Probe the app before dead-lettering: is it the command, or the app?
    Probe,
    /// Stop: dead-letter the command with this kind and message.
    DeadLetter(ErrorKind, String),
    /// Stop: the command was applied.
    Done(T),
    /// Stop: shutdown; nothing is written, the next owner redoes it.
    Abandon,
}

/// One command's retry state: its calls, its budget, its backoff.
pub(crate) struct Attempts {
    retry: RetryConfig,
    /// Whether an exhausted command probes the app before dead-lettering.
    probe_before_dead_letter: bool,
    /// Calls made.
    made: u32,
    /// Calls counted against the budget (reset by a confirmed outage).
    spent: u32,
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    outages_seen: u64,
    last_error: String,
}

impl Attempts {
    /// A fresh budget; `confirmed_outages` is the app's count at the start.
    pub(crate) fn new(retry: &RetryConfig, outage_detection: bool, confirmed_outages: u64) -> Self {
        Attempts {
            retry: retry.clone(),
            probe_before_dead_letter: outage_detection,
            made: 0,
            spent: 0,
            delays: Box::new(backoff(retry)),
            outages_seen: confirmed_outages,
            last_error: String::new(),
        }
    }

    /// Calls made so far (the `attempts` of the result and dead letter).
    pub(crate) fn made(&self) -> u32 {
        self.made
    }

    /// The last failure, as logged and dead-lettered.
    pub(crate) fn last_error(&self) -> &str {
        &self.last_error
    }

    /// The next step after `event`.
    pub(crate) fn next<T>(&mut self, event: Event<T>) -> Step<T> {
        match event {
            Event::Ready { confirmed_outages } => self.on_ready(confirmed_outages),
            Event::Applied(value) => {
                self.made += 1;
                Step::Done(value)
            }
            Event::Failed { error, app_paused } => self.on_failure(error, app_paused),
            Event::ProbeAnswered => self.exhausted(),
            Event::ProbeFailed => Step::WaitForApp,
            Event::Shutdown => Step::Abandon,
        }
    }

    fn on_ready<T>(&mut self, confirmed_outages: u64) -> Step<T> {
        if confirmed_outages != self.outages_seen {
            // An outage was confirmed since: the failures were the app's, not
            // the command's, so it gets its whole budget back.
            self.outages_seen = confirmed_outages;
            self.spent = 0;
            self.delays = Box::new(backoff(&self.retry));
        }
        if self.spent >= self.retry.max_attempts {
            // Waited for the app, but no outage was confirmed: the failures
            // were this command's.
            return self.exhausted();
        }
        Step::Call
    }

    fn on_failure<T>(&mut self, error: ConnectorError, app_paused: bool) -> Step<T> {
        self.made += 1;
        self.spent += 1;
        self.last_error = error.to_string();
        let retry_after = match error {
            ConnectorError::Permanent { message } => {
                return Step::DeadLetter(ErrorKind::Permanent, message)
            }
            ConnectorError::Unavailable { .. } => None,
            ConnectorError::Transient { retry_after, .. } => retry_after,
        };
        if app_paused {
            return Step::WaitForApp;
        }
        if self.spent >= self.retry.max_attempts && self.probe_before_dead_letter {
            return Step::Probe;
        }
        // Out of budget without outage detection: the next `Ready` after
        // this wait dead-letters, unless an outage was confirmed meanwhile.
        let delay = retry_after.unwrap_or_else(|| {
            // The backoff iterator never ends (`without_max_times`).
            self.delays.next().unwrap_or(self.retry.max_delay)
        });
        Step::RetryAfter(delay)
    }

    fn exhausted<T>(&self) -> Step<T> {
        Step::DeadLetter(
            ErrorKind::RetriesExhausted,
            format!("{} attempts failed; last: {}", self.made, self.last_error),
        )
    }
}

/// The backoff delays of one command: exponential with jitter, capped.
pub(crate) fn backoff(retry: &RetryConfig) -> impl Iterator<Item = Duration> {
    exponential_backoff(retry.initial_delay, retry.max_delay)
}

/// The connector's one backoff (a command's retries, an outage's probes):
/// exponential with jitter from `first`, never above `max`, never ending.
/// The cap is applied again after the jitter, which may overshoot it.
pub(crate) fn exponential_backoff(
    first: Duration,
    max: Duration,
) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
        .map(move |d| d.min(max))
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
