//! The broker check behind `/readyz`: is Kafka answering right now?
//!
//! A thread of its own asks the broker for one topic's metadata every
//! [`PROBE_EVERY`] and gives it [`PROBE_TIMEOUT`] to answer, so a lost broker
//! shows as `Kafka unreachable: …` within about two seconds, and a broker
//! that is back clears it at the next answer. The check is kept apart from
//! the lag monitor on purpose: a lag round makes a call per partition, each
//! with a long timeout, and would delay the verdict by as much (it used to
//! take about ten seconds). One small metadata request twice a second costs
//! the broker nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::config::Config;
use crate::kafka;
use crate::telemetry::readiness::Readiness;

/// How often the broker is asked.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long it has to answer. Generous for one metadata request to a
/// healthy broker (a few milliseconds), short enough that `/readyz` turns
/// within two seconds of a loss.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1_200);

/// Starts the probe thread; it stops when `shutdown` is cancelled.
pub fn spawn(
    config: &Config,
    readiness: Arc<Readiness>,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let config = config.clone();
    std::thread::Builder::new()
        .name("broker-probe".into())
        .spawn(move || {
            let mut client: Option<BaseConsumer> = None;
            let mut failing = false;
            while !shutdown.is_cancelled() {
                let started = Instant::now();
                match probe(&config, &mut client) {
                    Ok(()) => {
                        if failing {
                            tracing::info!(message = "Kafka answers again.");
                        }
                        failing = false;
                        readiness.broker_ok();
                    }
                    Err(error) => {
                        if !failing {
                            warn!(message = "Kafka check failed.", %error);
                        }
                        failing = true;
                        readiness.broker_failed(&error);
                    }
                }
                let next = started + PROBE_EVERY;
                while !shutdown.is_cancelled() && Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
}

/// One metadata request for the events topic (it names no group, so it
/// joins nothing); the client is made once and kept.
fn probe(config: &Config, client: &mut Option<BaseConsumer>) -> Result<(), String> {
    if client.is_none() {
        let made: BaseConsumer = kafka::client_config(config)
            .set("group.id", &config.kafka.group_id)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        *client = Some(made);
    }
    let Some(client) = client.as_ref() else {
        return Err("no Kafka client".into());
    };
    client
        .fetch_metadata(Some(&config.topics.events), PROBE_TIMEOUT)
        .map(|_| ())
        .map_err(|e| format!("no metadata answer within {PROBE_TIMEOUT:?} ({e})"))
}
