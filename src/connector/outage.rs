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
//! The health record itself, [`AppHealth`], is in the bottom layer
//! (`telemetry::health`) so metrics and `/readyz` can read it.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::config::OutageConfig;
use crate::connector::retry::exponential_backoff;
use crate::connector::Connector;
use crate::telemetry::health::AppHealth;

/// The probe delays of an outage: exponential with jitter, from
/// `probe_initial_delay_ms` to `probe_max_delay_ms`, never ending.
fn probe_delays(config: &OutageConfig) -> impl Iterator<Item = Duration> {
    exponential_backoff(config.probe_initial_delay, config.probe_max_delay)
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
    fn probe_delays_grow_and_stay_bounded() {
        let config = OutageConfig {
            enabled: true,
            consecutive_failures: 1,
            probe_initial_delay: std::time::Duration::from_millis(10),
            probe_max_delay: std::time::Duration::from_millis(100),
        };
        let delays: Vec<_> = probe_delays(&config).take(20).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(10)));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(100)));
        assert_eq!(delays.len(), 20, "probing never gives up");
    }
}
