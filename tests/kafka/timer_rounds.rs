//! A round of due timers is committed in one transaction, like a batch of
//! events: `engine.reconcile_chunk` bounds rules changes only (slicing a
//! round by it made the firing of a cohort five times slower).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::json;

use crate::harness::*;

/// Transaction markers on a one-partition topic: its offsets not taken by a
/// committed record (the engine aborts nothing here).
fn markers(servers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .expect("consumer");
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    high - low - read_all(servers, topic).len() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_round_of_due_timers_commits_in_one_transaction_whatever_the_reconcile_chunk() {
    init_test_logs();
    let mut config = config(1);
    config.engine.reconcile_chunk = 1;
    // Six timers on two threads: the round is decided in two parts.
    config.engine.decide_threads = 2;
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    // Far enough ahead for the hires to be processed before it.
    let end = chrono::Utc::now() + chrono::Duration::seconds(8);
    let end_date = end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let hires: Vec<(Option<&str>, Vec<u8>)> = ["E1", "E2", "E3", "E4", "E5", "E6"]
        .into_iter()
        .map(|id| {
            let employee = json!({
                "id": id, "email": format!("{id}@acme.test"), "first_name": "Ada",
                "last_name": "Lovelace", "team": "Development", "end_date": end_date
            });
            (Some(id), event(&format!("evt-{id}"), "hired", 1, employee))
        })
        .collect();
    produce(&servers, &config.topics.events, &hires).await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 6).await;
    let slack = config.topics.commands("slack");
    assert_eq!(
        read_all(&servers, &slack).len(),
        6,
        "the hires were processed after their end instant"
    );
    assert!(
        chrono::Utc::now() < end,
        "the hires were processed too late"
    );
    let before = markers(&servers, &config.topics.state);

    // The six deprovisions (decided on the decide pool's threads), written
    // with the six states and the guard's window in one transaction: one
    // more marker on the changelog.
    let commands = wait_records(&servers, &slack, 12).await;
    let deprovisions = commands
        .iter()
        .filter(|m| json(m)["action"] == "deprovision")
        .count();
    assert_eq!(deprovisions, 6);
    // Six states at the hire, six at the firing, the window: all seen once
    // the firing's marker is on the changelog too.
    wait_records(&servers, &config.topics.state, 13).await;
    assert_eq!(
        markers(&servers, &config.topics.state) - before,
        1,
        "transactions of the round"
    );
    engine.stop().await;
    delete_topics(&config, &[]).await;
}
