//! What a connector tells the world: one type per notable thing that
//! happens to a command, whose `emit` writes its log line and updates its
//! metrics together (the `internal_events` pattern of Vector, as in
//! `engine/events.rs`). The worker's code builds these and never calls
//! [`Metrics`] itself, so a line and the series counting the same happening
//! cannot drift apart.
//!
//! Each is emitted where it happens, inside the command's `command` span
//! (app, employee id, command id, partition, offset), which its line keeps.
//! A command is counted in `provisioner_connector_requests_total` once its
//! result is on the broker ([`CommandHandled`]), or, for a record that is no
//! command of the app, when it is refused ([`RecordRefused`]).

use std::time::Duration;

use tracing::{info, warn};

use crate::dlq::ErrorKind;
use crate::metrics::{Metrics, Outcome};
use crate::results::{CommandResult, ResultOutcome};

/// The `outcome` label of `provisioner_connector_requests_total`: the
/// CONTRACT §6 outcome, as in the result record.
impl From<ResultOutcome> for Outcome {
    fn from(outcome: ResultOutcome) -> Outcome {
        match outcome {
            ResultOutcome::Applied => Outcome::Applied,
            ResultOutcome::Unchanged => Outcome::Unchanged,
            ResultOutcome::Superseded => Outcome::Superseded,
            ResultOutcome::DeadLettered => Outcome::DeadLettered,
        }
    }
}

/// A record on the app's command topic that is not a command of this app
/// (unreadable, or for another app): dead-lettered without a call.
#[derive(Debug)]
pub struct RecordRefused<'a> {
    /// The app whose topic it is on.
    pub app: &'a str,
    /// Where it was read.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// `permanent` or `unknown_app`.
    pub kind: ErrorKind,
    /// Why, without personal data.
    pub reason: &'a str,
}

impl RecordRefused<'_> {
    /// Logs the refusal and counts it as a dead-lettered request.
    pub fn emit(&self, metrics: &Metrics) {
        warn!(
            message = "Record is not a command of this app; dead-lettered.",
            app = %self.app,
            partition = self.partition,
            offset = self.offset,
            kind = self.kind.as_str(),
            reason = %self.reason
        );
        metrics.command_dead_lettered(self.app, self.kind.into());
        metrics.connector_request(self.app, Outcome::DeadLettered);
    }
}

/// A call failed and the command will be tried again after `delay`.
#[derive(Debug)]
pub struct RetryScheduled<'a> {
    /// Calls made so far.
    pub attempt: u32,
    /// How long the command waits first.
    pub delay: Duration,
    /// The last failure (already scrubbed of personal data).
    pub error: &'a str,
}

impl RetryScheduled<'_> {
    /// Logs the failure and the wait (the retry is counted when it is made:
    /// [`CallStarted`]).
    pub fn emit(&self) {
        warn!(
            message = "Command failed; retrying.",
            attempt = self.attempt,
            retry_in_ms = self.delay.as_millis() as u64,
            error = %self.error
        );
    }
}

/// A call to the app is about to be made, past the rate limit.
#[derive(Debug)]
pub struct CallStarted<'a> {
    /// The app called.
    pub app: &'a str,
    /// Its number for this command, from 1.
    pub attempt: u32,
}

impl CallStarted<'_> {
    /// Counts a retry when it is not the first call.
    pub fn emit(&self, metrics: &Metrics) {
        if self.attempt > 1 {
            metrics.connector_retry(self.app);
        }
    }
}

/// The app answered a call (whatever the answer).
#[derive(Debug)]
pub struct CallAnswered<'a> {
    /// The app called.
    pub app: &'a str,
    /// From sending to the answer (rate-limit wait excluded).
    pub took: Duration,
}

impl CallAnswered<'_> {
    /// Observes the request duration.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.observe_connector_request(self.app, self.took.as_secs_f64());
    }
}

/// A command older than what the app already holds: not sent, reported
/// `superseded` (counted by [`CommandHandled`]).
#[derive(Debug)]
pub struct CommandSuperseded;

impl CommandSuperseded {
    /// Logs that no call is made.
    pub fn emit(&self) {
        info!(message = "Command superseded by a newer generation; not sent.");
    }
}

/// A command given up at shutdown: nothing written, nothing counted; the
/// partition's next owner redoes it.
#[derive(Debug)]
pub struct CommandAbandoned;

impl CommandAbandoned {
    /// Logs the hand-over.
    pub fn emit(&self) {
        info!(message = "Command abandoned at shutdown; the next owner redoes it.");
    }
}

/// A command that failed for good, about to be dead-lettered (its request
/// is counted by [`CommandHandled`] with its `dead_lettered` result).
#[derive(Debug)]
pub struct CommandDeadLettered<'a> {
    /// The app that refused it or stayed down.
    pub app: &'a str,
    /// `permanent` or `retries_exhausted`.
    pub kind: ErrorKind,
    /// Calls made.
    pub attempts: u32,
    /// The last failure (already scrubbed of personal data).
    pub reason: &'a str,
}

impl CommandDeadLettered<'_> {
    /// Logs the failure and counts the dead letter by kind.
    pub fn emit(&self, metrics: &Metrics) {
        warn!(
            message = "Command dead-lettered.",
            kind = self.kind.as_str(),
            attempts = self.attempts,
            reason = %self.reason
        );
        metrics.command_dead_lettered(self.app, self.kind.into());
    }
}

/// A command's result is on the broker: its request is done.
#[derive(Debug)]
pub struct CommandHandled<'a>(pub &'a CommandResult);

impl CommandHandled<'_> {
    /// Counts the request by outcome and logs how it went (ids are in the
    /// span; the result's other fields hold no personal data).
    pub fn emit(&self, metrics: &Metrics) {
        let result = self.0;
        metrics.connector_request(&result.app, result.outcome.into());
        info!(
            message = "Command handled.",
            outcome = ?result.outcome,
            attempts = result.attempts,
            duration_ms = result.duration_ms
        );
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
