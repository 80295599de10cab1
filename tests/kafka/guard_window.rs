//! The mass-deprovision guard over a rolling window, on a real broker: the
//! same 200 leavers give the same verdict whether they trickle in, arrive
//! while the engine is down, or straddle a restart.

use std::time::Duration;

use provisioner::config::Config;
use provisioner::engine::control;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::json;

use crate::harness::*;

/// One app per employee, so one leaver is one deprovision.
const OPS: &str = r#"
- name: Ops
  target: { field: team, op: is, value: Ops }
  apps:
    slack: { provisioning: true, role: member }
"#;

const EMPLOYEES: usize = 200;

/// A config whose guard allows 50 deprovisions per hour, by count only.
fn guarded() -> Config {
    let mut config = config(2);
    config.safety.max_deprovisions = 50;
    config.safety.max_deprovision_ratio = 1.0;
    config.safety.window = std::time::Duration::from_millis(3_600_000);
    config
}

fn ids() -> Vec<String> {
    (0..EMPLOYEES).map(|i| format!("L{i:03}")).collect()
}

fn hire(id: &str) -> Vec<u8> {
    let employee = json!({"id": id, "email": format!("{id}@acme.test"), "first_name": "A", "last_name": id, "team": "Ops"});
    event(&format!("hire-{id}"), "hired", 1, employee)
}

fn leave(id: &str) -> Vec<u8> {
    event(&format!("leave-{id}"), "left", 2, json!({"id": id}))
}

async fn produce_each(config: &Config, ids: &[String], value: fn(&str) -> Vec<u8>) {
    let records: Vec<(Option<&str>, Vec<u8>)> = ids
        .iter()
        .map(|id| (Some(id.as_str()), value(id)))
        .collect();
    produce(
        &config.kafka.bootstrap_servers,
        &config.topics.events,
        &records,
    )
    .await;
}

/// Hires every employee and waits until the engine has committed them.
async fn hire_all(config: &Config) {
    produce_each(config, &ids(), hire).await;
    let servers = &config.kafka.bootstrap_servers;
    wait_committed(
        servers,
        &config.kafka.group_id,
        &config.topics.events,
        EMPLOYEES as i64,
    )
    .await;
}

/// Waits until every leave is committed, then checks the verdict: 50
/// deprovisions emitted, 150 held (in the gauge and in `held list`).
async fn assert_fifty_emitted(config: &Config, engine: &RunningEngine) {
    let servers = &config.kafka.bootstrap_servers;
    let all = 2 * EMPLOYEES as i64;
    wait_committed(servers, &config.kafka.group_id, &config.topics.events, all).await;
    let deprovisions = commands_of(servers, config, "slack")
        .iter()
        .filter(|c| c["action"] == "deprovision")
        .count();
    let held = metric(
        &engine.metrics.render(),
        "provisioner_deprovisions_held{app=\"slack\"}",
    );
    let listed = control::list_held(config).expect("held list");
    assert_eq!(
        (deprovisions, held, listed.len()),
        (50, Some(150.0), 150),
        "(emitted, held gauge, held list)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickle_of_leavers_is_held_past_the_threshold() {
    let config = guarded();
    let engine = RunningEngine::start(&config, rules(OPS, &config.apps));
    hire_all(&config).await;
    // 20 leavers a second, each sent on its own: each batch holds only a few.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.bootstrap_servers)
        .create()
        .expect("producer");
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    for id in ids() {
        pace.tick().await;
        let value = leave(&id);
        let record = FutureRecord::to(&config.topics.events)
            .key(&id)
            .payload(&value);
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .expect("produce a leaver");
    }
    assert_fifty_emitted(&config, &engine).await;
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_leavers_caught_up_after_a_restart_are_judged_the_same() {
    let config = guarded();
    let engine = RunningEngine::start(&config, rules(OPS, &config.apps));
    hire_all(&config).await;
    engine.stop().await;
    // Every leaver arrives while the engine is down: few, large batches.
    produce_each(&config, &ids(), leave).await;
    let engine = RunningEngine::start(&config, rules(OPS, &config.apps));
    assert_fifty_emitted(&config, &engine).await;
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_survives_a_restart() {
    let config = guarded();
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(OPS, &config.apps));
    hire_all(&config).await;
    let all = ids();
    let (first, rest) = all.split_at(30);
    produce_each(&config, first, leave).await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 230).await;
    engine.stop().await;
    // The 30 already emitted still count after the restart: 20 more go.
    let engine = RunningEngine::start(&config, rules(OPS, &config.apps));
    produce_each(&config, rest, leave).await;
    assert_fifty_emitted(&config, &engine).await;
    engine.stop().await;
}
