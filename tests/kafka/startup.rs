//! Start-up on fresh topics: an engine that creates its own topics must get
//! to work every time, though a just-created topic has no leader for a
//! moment (issue #11, item 7: 2 of ~7 such starts used to exit with
//! `NotLeaderForPartition`).

use std::time::Duration;

use provisioner::config::Config;
use provisioner::engine::EngineError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::harness::*;

/// Starts in a row; each must reach work.
const STARTS: usize = 20;

#[tokio::test(flavor = "multi_thread")]
async fn twenty_starts_that_create_their_topics_all_succeed() {
    init_test_logs();
    let mut failures = Vec::new();
    for start in 1..=STARTS {
        // Fresh, unique topic names: the engine creates every one of them.
        let config = config(6);
        if let Err(why) = start_and_consume_one_event(&config).await {
            failures.push(format!("start {start}: {why}"));
        }
        delete_topics(&config, &[]).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {STARTS} starts failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs one engine on `config`'s fresh topics until it has turned one hire
/// into its command, then stops it. An engine that stops on its own is a
/// failed start, reported with its error.
async fn start_and_consume_one_event(config: &Config) -> Result<(), String> {
    let servers = config.kafka.bootstrap_servers.clone();
    let shutdown = CancellationToken::new();
    let mut handle: JoinHandle<Result<(), EngineError>> = tokio::spawn(provisioner::engine::run(
        config.clone(),
        rules(RULES, &config.apps),
        std::sync::Arc::new(provisioner::metrics::Metrics::new()),
        shutdown.clone(),
    ));
    // Produce only once the engine made the input topic: a producer would
    // otherwise have the broker create it with its own defaults.
    let events = config.topics.events.clone();
    let exists = {
        let servers = servers.clone();
        move || topic_exists(&servers, &events)
    };
    until_or_engine_stopped(&mut handle, "the engine creates its input topic", exists).await?;
    let hire = event(
        "evt-1",
        "hired",
        1,
        json!({"id": "E1", "email": "e1@acme.test", "team": "Development"}),
    );
    produce(&servers, &config.topics.events, &[(Some("E1"), hire)]).await;
    let slack = config.topics.commands("slack");
    let command = {
        let servers = servers.clone();
        move || topic_exists(&servers, &slack) && !read_all(&servers, &slack).is_empty()
    };
    until_or_engine_stopped(&mut handle, "the hire's command is written", command).await?;
    shutdown.cancel();
    match tokio::time::timeout(DEADLINE, handle).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("the engine stopped with an error: {e}")),
        Ok(Err(e)) => Err(format!("the engine task failed: {e}")),
        Err(_) => Err("the engine did not stop in time".into()),
    }
}

/// Polls `check` (on a blocking thread) until it holds; an error when the
/// engine stops first or [`DEADLINE`] passes.
async fn until_or_engine_stopped(
    handle: &mut JoinHandle<Result<(), EngineError>>,
    what: &str,
    check: impl Fn() -> bool + Clone + Send + 'static,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if handle.is_finished() {
            let outcome = match handle.await {
                Ok(Ok(())) => "without an error".to_string(),
                Ok(Err(e)) => format!("with: {e}"),
                Err(e) => format!("its task failing: {e}"),
            };
            return Err(format!("the engine stopped before {what}, {outcome}"));
        }
        let check = check.clone();
        if tokio::task::spawn_blocking(check).await.unwrap_or(false) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out waiting until {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the broker knows `topic` with at least one partition.
fn topic_exists(servers: &str, topic: &str) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .expect("consumer");
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .is_ok_and(|md| {
            md.topics()
                .iter()
                .any(|t| t.error().is_none() && !t.partitions().is_empty())
        })
}
