//! One command, start to finish: call the app with retries and rate limit,
//! then write its result (and its dead letter, when it failed for good).
//!
//! The retry policy, per command:
//! - every call waits for the app's token bucket first (`governor`, one
//!   request every `1 / rate_limit_per_second` seconds, no bursts, so the app
//!   never sees more than its rate in any window);
//! - `Transient` is retried after the app's `Retry-After` when it gave one,
//!   else after exponential backoff with jitter (`backon`) from
//!   `initial_delay_ms` to `max_delay_ms`, for `max_attempts` calls in all;
//! - before dead-lettering an exhausted command the app is probed once: a
//!   failing probe means the app is down, not the command, so the app is
//!   paused, the outage confirmed, and the command waits with its budget
//!   renewed (see `outage`);
//! - `Permanent` is dead-lettered at once;
//! - `Unavailable`, or a run of transient failures across the app, pauses the
//!   app; the command waits and is retried after the app answers a probe, with
//!   a fresh budget when the outage was confirmed.
//!
//! On shutdown a command never starts a new call; a call in progress is
//! allowed to finish (the worker bounds how long).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::RateLimiter;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::commands::Command;
use crate::config::RetryConfig;
use crate::connector::outage::AppHealth;
use crate::connector::redact;
use crate::connector::{Applied, Connector, ConnectorError, Outcome};
use crate::dlq::{self, ErrorKind, Failure};
use crate::metrics;
use crate::results::{CommandResult, ResultOutcome};
use crate::telemetry::Telemetry;

/// The app's token bucket.
pub type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// How long the worker waits for the broker to take a result or dead letter.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(60);

/// What one app's commands share.
pub struct AppContext<C> {
    /// The app.
    pub app: String,
    /// Its API client.
    pub connector: C,
    /// Its token bucket.
    pub limiter: Limiter,
    /// Its health (outage pause).
    pub health: Arc<AppHealth>,
    /// Its retry budget.
    pub retry: RetryConfig,
    /// Whether transient failures can mean an outage (`outage.enabled`):
    /// then a command out of retries is only dead-lettered after the app
    /// answers a probe.
    pub outage_detection: bool,
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

/// The backoff delays of one command: exponential with jitter, capped.
fn backoff(retry: &RetryConfig) -> impl Iterator<Item = Duration> {
    let max = Duration::from_millis(retry.max_delay_ms);
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(retry.initial_delay_ms))
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
        .map(move |d| d.min(max))
}

/// Calls the app until the command is applied, refused, out of budget, or
/// shutdown intervenes.
async fn call_with_retries<C: Connector>(ctx: &AppContext<C>, cmd: &Command) -> Verdict {
    let health = &ctx.health;
    let mut attempts = 0u32; // calls made
    let mut spent = 0u32; // calls counted against the budget
    let mut delays = backoff(&ctx.retry);
    let mut outages_seen = health.snapshot().confirmed_outages;
    let mut last_error = String::new();
    loop {
        if health.is_paused() {
            tokio::select! {
                _ = health.wait_resumed() => {}
                _ = ctx.shutdown.cancelled() => return Verdict::Abandoned,
            }
        }
        let outages = health.snapshot().confirmed_outages;
        if outages != outages_seen {
            // An outage was confirmed since: the failures were the app's, not
            // the command's, so it gets its whole budget back.
            outages_seen = outages;
            spent = 0;
            delays = backoff(&ctx.retry);
        }
        if spent >= ctx.retry.max_attempts {
            // Paused, but the first probe answered: no confirmed outage, so
            // the failures were this command's.
            return Verdict::DeadLetter(
                ErrorKind::RetriesExhausted,
                format!("{attempts} attempts failed; last: {last_error}"),
                attempts,
            );
        }
        tokio::select! {
            _ = ctx.limiter.until_ready() => {}
            _ = ctx.shutdown.cancelled() => return Verdict::Abandoned,
        }
        if ctx.shutdown.is_cancelled() {
            return Verdict::Abandoned;
        }
        attempts += 1;
        let metrics = &ctx.telemetry.metrics;
        if attempts > 1 {
            metrics.connector_retry(&ctx.app);
        }
        let call = Instant::now();
        let answer = ctx.connector.apply(cmd).await;
        metrics.observe_connector_request(&ctx.app, call.elapsed().as_secs_f64());
        let error = match answer {
            Ok(applied) => {
                health.record_answer();
                return Verdict::Applied(applied, attempts);
            }
            // From here the message reaches logs, results, dead-letter
            // headers and /readyz: no personal data past this point.
            Err(error) => redact::scrub(cmd, error),
        };
        spent += 1;
        last_error = error.to_string();
        let retry_after = match &error {
            ConnectorError::Permanent { message } => {
                health.record_answer();
                return Verdict::DeadLetter(ErrorKind::Permanent, message.clone(), attempts);
            }
            ConnectorError::Unavailable { message } => {
                health.pause(message);
                None
            }
            ConnectorError::Transient {
                message,
                retry_after,
            } => {
                health.record_transient(message);
                *retry_after
            }
        };
        if ctx.shutdown.is_cancelled() {
            return Verdict::Abandoned;
        }
        if spent >= ctx.retry.max_attempts && !health.is_paused() && ctx.outage_detection {
            // Is it this command, or is the app down? Ask before dead-lettering.
            ctx.limiter.until_ready().await;
            match ctx.connector.probe().await {
                Ok(()) => {
                    return Verdict::DeadLetter(
                        ErrorKind::RetriesExhausted,
                        format!("{attempts} attempts failed; last: {last_error}"),
                        attempts,
                    )
                }
                Err(probe_error) => {
                    health.pause(&format!(
                        "probe failed after a command exhausted its retries: {probe_error}"
                    ));
                    // A failed probe is what confirms an outage: the failures
                    // were the app's, so the waiting commands get their
                    // budgets back — even if the app answers the prober's
                    // very first probe (a short outage).
                    health.confirm();
                }
            }
        }
        if health.is_paused() {
            continue;
        }
        let delay = retry_after.unwrap_or_else(|| {
            // The backoff iterator never ends (`without_max_times`).
            delays
                .next()
                .unwrap_or(Duration::from_millis(ctx.retry.max_delay_ms))
        });
        warn!(
            message = "Command failed; retrying.",
            attempt = attempts,
            retry_in_ms = delay.as_millis() as u64,
            %error
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.shutdown.cancelled() => return Verdict::Abandoned,
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
    };
    let mut applied = None;
    if superseded {
        info!(message = "Command superseded by a newer generation; not sent.");
    } else {
        match call_with_retries(&ctx, &cmd).await {
            Verdict::Abandoned => {
                info!(message = "Command abandoned at shutdown; the next owner redoes it.");
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
                warn!(
                    message = "Command dead-lettered.",
                    kind = kind.as_str(),
                    attempts,
                    reason = %message
                );
                ctx.telemetry
                    .metrics
                    .command_dead_lettered(&ctx.app, kind.into());
                let failure = Failure {
                    kind,
                    message: message.clone(),
                    attempts,
                    app: Some(ctx.app.clone()),
                };
                dead_letter(&ctx.producer, &ctx.dlq_topic, &record, &failure).await?;
                result.outcome = ResultOutcome::DeadLettered;
                result.attempts = attempts;
                result.error = Some(message);
            }
        }
        result.duration_ms = started.elapsed().as_millis() as u64;
    }
    // A struct of strings and numbers always serialises.
    let payload = serde_json::to_vec(&result).unwrap_or_default();
    let record = FutureRecord::to(&ctx.results_topic)
        .key(cmd.employee_id.as_bytes())
        .payload(&payload);
    ctx.producer
        .send(record, PRODUCE_TIMEOUT)
        .await
        .map_err(|(error, _)| error)?;
    ctx.telemetry
        .metrics
        .connector_request(&ctx.app, outcome_label(result.outcome));
    info!(
        message = "Command handled.",
        outcome = ?result.outcome,
        attempts = result.attempts,
        duration_ms = result.duration_ms
    );
    Ok(Done::Finished { applied })
}

/// The `outcome` label of `provisioner_connector_requests_total`: the
/// SPEC §6 outcome, as in the result record.
pub fn outcome_label(outcome: ResultOutcome) -> metrics::Outcome {
    match outcome {
        ResultOutcome::Applied => metrics::Outcome::Applied,
        ResultOutcome::Unchanged => metrics::Outcome::Unchanged,
        ResultOutcome::Superseded => metrics::Outcome::Superseded,
        ResultOutcome::DeadLettered => metrics::Outcome::DeadLettered,
    }
}

/// Copies `record` (original key and value bytes) to the dead-letter topic
/// with the SPEC §7 headers, and waits for the broker to have it.
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
