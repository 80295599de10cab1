//! One command, start to finish: call the app with retries and rate limit,
//! then write its result (and its dead letter, when it failed for good).
//!
//! What to do after each call (retry after a delay, wait for the app,
//! probe, dead-letter) is decided by the pure state machine in `retry.rs`;
//! this module drives it:
//! - every call waits for the app's token bucket first (`governor`, one
//!   request every `1 / rate_limit_per_second` seconds, no bursts, so the app
//!   never sees more than its rate in any window);
//! - each answer updates the app's health (`outage`): `Unavailable`, or a run
//!   of transient failures across the app, pauses it, and a failed probe
//!   before dead-lettering confirms the outage, which renews the budgets of
//!   the commands waiting for the app;
//! - on shutdown a command never starts a new call; a call in progress is
//!   allowed to finish (the worker bounds how long).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

use crate::commands::Command;
use crate::config::RetryConfig;
use crate::connector::events::{
    CallAnswered, CallStarted, CommandAbandoned, CommandDeadLettered, CommandHandled,
    CommandSuperseded, RetryScheduled,
};
use crate::connector::redact;
#[cfg(test)] // The backoff's own test lives with the driver's.
use crate::connector::retry::backoff;
use crate::connector::retry::{Attempts, Event, Step};
use crate::connector::verify::{self, Unverified};
use crate::connector::{Applied, Connector, ConnectorError, Outcome};
use crate::dlq::{self, ErrorKind, Failure};
use crate::ids::AppName;
use crate::ratelimit::Limiter;
use crate::results::{CommandResult, ResultOutcome};
use crate::telemetry::health::AppHealth;
use crate::telemetry::Telemetry;

/// How long the worker waits for the broker to take a result or dead letter.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(60);

/// What one app's commands share.
pub struct AppContext<C> {
    /// The app.
    pub app: AppName,
    /// Its API client.
    pub connector: C,
    /// Its token bucket, shared with the periodic reconciliation.
    pub limiter: Arc<Limiter>,
    /// Its health (outage pause).
    pub health: Arc<AppHealth>,
    /// Its retry budget.
    pub retry: RetryConfig,
    /// Whether transient failures can mean an outage (`outage.enabled`):
    /// then a command out of retries is only dead-lettered after the app
    /// answers a probe.
    pub outage_detection: bool,
    /// Read each account back after applying (`verify`).
    pub verify: bool,
    /// Producer of results and dead letters.
    pub producer: FutureProducer,
    /// `provisioning.results`.
    pub results_topic: String,
    /// `provisioning.commands.dlq`.
    pub dlq_topic: String,
    /// Cancelled on SIGTERM.
    pub shutdown: CancellationToken,
    /// Metrics, readiness and consumer positions of the process.
    pub telemetry: Telemetry,
}

/// How a record's processing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Its result (and dead letter) are on the broker; the offset may be
    /// committed. `applied` is the generation the app now holds, if it moved.
    Finished {
        /// The generation applied or found unchanged.
        applied: Option<u64>,
    },
    /// Given up because of shutdown: nothing written, redone by the next owner.
    Abandoned,
}

/// What the calls came to.
enum Verdict {
    Applied(Applied, u32),
    DeadLetter(ErrorKind, String, u32),
    Abandoned,
}

/// Applies the command; with `verify` on, reads the account back, applying
/// once more when it did not take (`verify.rs`).
async fn apply_command<C: Connector>(ctx: &AppContext<C>, cmd: &Command) -> Verdict {
    if !ctx.verify {
        return call_with_retries(ctx, cmd).await;
    }
    let apply = || async {
        match call_with_retries(ctx, cmd).await {
            Verdict::Applied(applied, attempts) => (Ok(applied), attempts),
            other => (Err(other), 0),
        }
    };
    let verified = verify::verified(&ctx.connector, &ctx.limiter, &ctx.retry, cmd, apply).await;
    let attempts = verified.attempts;
    match verified.outcome {
        Ok(applied) => Verdict::Applied(applied, attempts),
        Err(Unverified::Apply(Verdict::DeadLetter(kind, message, _))) => {
            Verdict::DeadLetter(kind, message, attempts)
        }
        Err(Unverified::Apply(other)) => other,
        Err(Unverified::Read(error)) => {
            let kind = match error {
                ConnectorError::Permanent { .. } => ErrorKind::Permanent,
                _ => ErrorKind::RetriesExhausted,
            };
            let error = redact::scrub(cmd, error);
            let message = format!("applied, but the account could not be read back: {error}");
            Verdict::DeadLetter(kind, message, attempts)
        }
        Err(Unverified::Mismatch(mismatches)) => Verdict::DeadLetter(
            ErrorKind::VerifyFailed,
            verify::message(&mismatches),
            attempts,
        ),
    }
}

/// Calls the app until the command is applied, refused, out of budget, or
/// shutdown intervenes: the driver of [`Attempts`], which decides each step.
async fn call_with_retries<C: Connector>(ctx: &AppContext<C>, cmd: &Command) -> Verdict {
    let outages = ctx.health.snapshot().confirmed_outages;
    let mut attempts = Attempts::new(&ctx.retry, ctx.outage_detection, outages);
    let mut step = Step::WaitForApp;
    loop {
        let event = match step {
            Step::Done(applied) => return Verdict::Applied(applied, attempts.made()),
            Step::DeadLetter(kind, message) => {
                return Verdict::DeadLetter(kind, message, attempts.made())
            }
            Step::Abandon => return Verdict::Abandoned,
            // On shutdown a command never starts a new wait or call.
            _ if ctx.shutdown.is_cancelled() => Event::Shutdown,
            Step::WaitForApp => wait_for_app(ctx).await,
            Step::RetryAfter(delay) => {
                RetryScheduled {
                    attempt: attempts.made(),
                    delay,
                    error: attempts.last_error(),
                }
                .emit();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => wait_for_app(ctx).await,
                    _ = ctx.shutdown.cancelled() => Event::Shutdown,
                }
            }
            Step::Call => call(ctx, cmd, attempts.made() + 1).await,
            Step::Probe => probe(ctx).await,
        };
        step = attempts.next(event);
    }
}

/// Waits while the app is paused; then it is the command's turn.
async fn wait_for_app<C>(ctx: &AppContext<C>) -> Event<Applied> {
    if ctx.health.is_paused() {
        tokio::select! {
            _ = ctx.health.wait_resumed() => {}
            _ = ctx.shutdown.cancelled() => return Event::Shutdown,
        }
    }
    Event::Ready {
        confirmed_outages: ctx.health.snapshot().confirmed_outages,
    }
}

/// Call number `attempt`, after the rate limit; the app's health learns the
/// answer.
async fn call<C: Connector>(ctx: &AppContext<C>, cmd: &Command, attempt: u32) -> Event<Applied> {
    tokio::select! {
        _ = ctx.limiter.until_ready() => {}
        _ = ctx.shutdown.cancelled() => return Event::Shutdown,
    }
    if ctx.shutdown.is_cancelled() {
        return Event::Shutdown;
    }
    let (app, metrics) = (ctx.app.as_str(), &ctx.telemetry.metrics);
    CallStarted { app, attempt }.emit(metrics);
    let started = Instant::now();
    let answer = ctx.connector.apply(cmd).await;
    let took = started.elapsed();
    CallAnswered { app, took }.emit(metrics);
    let health = &ctx.health;
    // From here the message reaches logs, results, dead-letter headers and
    // /readyz: no personal data past this point.
    let error = match answer.map_err(|error| redact::scrub(cmd, error)) {
        Ok(applied) => {
            health.record_answer();
            return Event::Applied(applied);
        }
        Err(error) => error,
    };
    match &error {
        ConnectorError::Permanent { .. } => health.record_answer(),
        ConnectorError::Unavailable { message } => health.pause(message),
        ConnectorError::Transient { message, .. } => {
            health.record_transient(message);
        }
    }
    Event::Failed {
        error,
        app_paused: health.is_paused(),
    }
}

/// Is it this command, or is the app down? Asked before dead-lettering a
/// command out of retries. A failed probe pauses the app and confirms the
/// outage: the failures were the app's, so the waiting commands get their
/// budgets back, even if the app answers the prober's very first probe (a
/// short outage).
async fn probe<C: Connector>(ctx: &AppContext<C>) -> Event<Applied> {
    ctx.limiter.until_ready().await;
    match ctx.connector.probe().await {
        Ok(()) => Event::ProbeAnswered,
        Err(probe_error) => {
            ctx.health.pause(&format!(
                "probe failed after a command exhausted its retries: {probe_error}"
            ));
            ctx.health.confirm();
            Event::ProbeFailed
        }
    }
}

/// Applies a command (or reports it superseded) and writes its result.
/// Errors are the broker refusing a result or dead letter: fatal for the worker.
pub async fn handle_command<C: Connector>(
    ctx: Arc<AppContext<C>>,
    record: OwnedMessage,
    cmd: Command,
    superseded: bool,
) -> Result<Done, KafkaError> {
    let started = Instant::now();
    let mut result = CommandResult {
        command_id: cmd.command_id.clone(),
        app: ctx.app.clone(),
        employee_id: cmd.employee_id.clone(),
        generation: cmd.generation,
        outcome: ResultOutcome::Superseded,
        app_account_id: None,
        attempts: 0,
        duration_ms: 0,
        error: None,
        reassert: cmd.is_reassert().then(|| cmd.cause.event_id.to_string()),
    };
    let mut applied = None;
    if superseded {
        CommandSuperseded.emit();
    } else {
        match apply_command(&ctx, &cmd).await {
            Verdict::Abandoned => {
                CommandAbandoned.emit();
                return Ok(Done::Abandoned);
            }
            Verdict::Applied(done, attempts) => {
                result.outcome = match done.outcome {
                    Outcome::Applied => ResultOutcome::Applied,
                    Outcome::Unchanged => ResultOutcome::Unchanged,
                };
                result.app_account_id = done.app_account_id;
                result.attempts = attempts;
                applied = Some(cmd.generation);
            }
            Verdict::DeadLetter(kind, message, attempts) => {
                dead_letter_command(&ctx, &record, kind, &message, attempts).await?;
                result.outcome = ResultOutcome::DeadLettered;
                result.attempts = attempts;
                result.error = Some(message);
            }
        }
        result.duration_ms = started.elapsed().as_millis() as u64;
    }
    publish_result(&ctx, &result).await?;
    Ok(Done::Finished { applied })
}

/// Dead-letters a command that failed for good, with its kind and attempts.
async fn dead_letter_command<C>(
    ctx: &AppContext<C>,
    record: &OwnedMessage,
    kind: ErrorKind,
    message: &str,
    attempts: u32,
) -> Result<(), KafkaError> {
    CommandDeadLettered {
        app: &ctx.app,
        kind,
        attempts,
        reason: message,
    }
    .emit(&ctx.telemetry.metrics);
    let failure = Failure {
        kind,
        message: message.to_string(),
        attempts,
        app: Some(ctx.app.clone()),
    };
    dead_letter(&ctx.producer, &ctx.dlq_topic, record, &failure).await
}

/// Writes the command's result to `provisioning.results` (keyed by the
/// employee) and waits for the broker to have it.
async fn publish_result<C>(ctx: &AppContext<C>, result: &CommandResult) -> Result<(), KafkaError> {
    // A struct of strings and numbers always serialises.
    let payload = serde_json::to_vec(result).unwrap_or_default();
    let record = FutureRecord::to(&ctx.results_topic)
        .key(result.employee_id.as_bytes())
        .payload(&payload);
    ctx.producer
        .send(record, PRODUCE_TIMEOUT)
        .await
        .map_err(|(error, _)| error)?;
    CommandHandled(result).emit(&ctx.telemetry.metrics);
    Ok(())
}

/// Copies `record` (original key and value bytes) to the dead-letter topic
/// with the CONTRACT §7 headers, and waits for the broker to have it.
pub async fn dead_letter(
    producer: &FutureProducer,
    topic: &str,
    record: &OwnedMessage,
    failure: &Failure,
) -> Result<(), KafkaError> {
    use rdkafka::message::Message;
    let headers = dlq::headers(record, failure);
    let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
    if let Some(key) = record.key() {
        out = out.key(key);
    }
    if let Some(value) = record.payload() {
        out = out.payload(value);
    }
    producer
        .send(out, PRODUCE_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|(error, _)| error)
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
