//! Exactly-once under crashes and rebalances: engine processes are killed
//! with SIGKILL mid-stream and restarted; the command topics, read with
//! `read_committed`, must hold exactly what the pure decision function says.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use provisioner::config::Config;
use provisioner::engine::decide::decide;
use provisioner::engine::state::EmployeeState;
use provisioner::events;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::harness::*;

/// `count` events over `employees` employees, each employee's in sequence
/// order: a hire, then changes of team and title, some leaves and re-hires.
fn workload(employees: usize, count: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let teams = ["Development", "Support", "Finance"];
    let mut seq: Vec<i64> = vec![0; employees];
    let mut employed = vec![false; employees];
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        let e = rng.random_range(0..employees);
        let id = format!("C{e:04}");
        seq[e] += 1;
        let team = teams[rng.random_range(0..teams.len())];
        let (kind, employee) = if !employed[e] {
            employed[e] = true;
            (
                "hired",
                json!({"id": id, "email": format!("{id}@acme.test"), "first_name": "C", "last_name": id, "team": team}),
            )
        } else if rng.random_bool(0.1) {
            employed[e] = false;
            ("left", json!({"id": id}))
        } else if rng.random_bool(0.5) {
            ("changed", json!({"id": id, "team": team}))
        } else {
            (
                "changed",
                json!({"id": id, "job_title": if rng.random_bool(0.5) { "Lead" } else { "Engineer" }}),
            )
        };
        out.push((id, event(&format!("evt-{n}"), kind, seq[e], employee)));
    }
    out
}

/// What the engine must emit: the pure decision function over the events,
/// per employee in order. Keyed by command id, with what must match.
fn expected(config: &Config, events: &[(String, Vec<u8>)]) -> BTreeMap<String, serde_json::Value> {
    let rules = rules(RULES, &config.apps);
    let mut states: HashMap<String, EmployeeState> = HashMap::new();
    let mut out = BTreeMap::new();
    for (key, value) in events {
        let event = events::parse(Some(key.as_bytes()), value, 1 << 20).expect("valid event");
        let d = decide(states.get(key), &event, &rules, config, Utc::now());
        for c in d.commands {
            out.insert(
                c.command_id.clone(),
                essence(&serde_json::to_value(&c).unwrap()),
            );
        }
        states.insert(key.clone(), d.state);
    }
    out
}

/// The parts of a command that must be identical (not `issued_at`).
fn essence(c: &serde_json::Value) -> serde_json::Value {
    json!([
        c["action"],
        c["role"],
        c["deprovision"],
        c["account"],
        c["cause"]["event_id"]
    ])
}

/// Every command on the command topics, by id, failing on a duplicate.
fn emitted(servers: &str, config: &Config) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for app in config.apps.keys() {
        for c in commands_of(servers, config, app) {
            let id = c["command_id"].as_str().unwrap().to_string();
            assert!(
                out.insert(id.clone(), essence(&c)).is_none(),
                "command {id} emitted twice"
            );
        }
    }
    out
}

fn crash_config(partitions: i32) -> Config {
    let mut config = config(partitions);
    config.engine.batch_max_records = 100;
    // Exactly-once is about every decision; keep the guard out of the way.
    config.safety.max_deprovisions = 1_000_000;
    config.safety.max_deprovision_ratio = 1.0;
    config
}

async fn produce_keyed(servers: &str, topic: &str, events: &[(String, Vec<u8>)]) {
    let records: Vec<(Option<&str>, Vec<u8>)> = events
        .iter()
        .map(|(k, v)| (Some(k.as_str()), v.clone()))
        .collect();
    produce(servers, topic, &records).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_three_times_yields_every_command_exactly_once() {
    let mut config = crash_config(3);
    let dir = rules_dir(&mut config, RULES);
    let servers = config.kafka.bootstrap_servers.clone();
    let path = write_config(&config, dir.path());
    let log = dir.path().join("engine.log");
    let events = workload(400, 10_000, 7);
    let chunks: Vec<&[(String, Vec<u8>)]> = events.chunks(2_500).collect();

    create_topics(&config).await;
    produce_keyed(&servers, &config.topics.events, chunks[0]).await;
    let mut engine = EngineProcess::spawn(&path, "crash", &log);
    for (k, chunk) in chunks.iter().enumerate().skip(1) {
        let mid = (k as i64 - 1) * 2_500 + 1_000;
        wait_committed(&servers, &config.kafka.group_id, &config.topics.events, mid).await;
        engine.kill9();
        produce_keyed(&servers, &config.topics.events, chunk).await;
        engine = EngineProcess::spawn(&path, "crash", &log);
    }
    wait_committed(
        &servers,
        &config.kafka.group_id,
        &config.topics.events,
        10_000,
    )
    .await;
    engine.terminate().await;

    let want = expected(&config, &events);
    let got = emitted(&servers, &config);
    assert!(
        want.len() > 5_000,
        "a meaningful workload: {} commands",
        want.len()
    );
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (id, essence) in &want {
        assert_eq!(&got[id], essence, "command {id} differs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_surviving_instance_takes_over_a_killed_ones_partitions() {
    let mut config = crash_config(4);
    // Detect the killed member quickly (the broker's minimum is 6 s).
    config
        .kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    let dir = rules_dir(&mut config, RULES);
    let servers = config.kafka.bootstrap_servers.clone();
    let path = write_config(&config, dir.path());
    let events = workload(300, 6_000, 11);
    let (first, second) = events.split_at(3_000);

    let a = EngineProcess::spawn(&path, "a", &dir.path().join("a.log"));
    let b = EngineProcess::spawn(&path, "b", &dir.path().join("b.log"));
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    wait_until("both instances own partitions", || {
        log("a.log").contains("Engine ready") && log("b.log").contains("Engine ready")
    })
    .await;
    produce_keyed(&servers, &config.topics.events, first).await;
    wait_committed(
        &servers,
        &config.kafka.group_id,
        &config.topics.events,
        3_000,
    )
    .await;
    assert!(
        log("a.log").contains("Batch committed.") && log("b.log").contains("Batch committed."),
        "both instances processed a share of the load"
    );
    // Each batch's line says where its commit's time went.
    let phases = |l: &str| {
        l.contains("Batch committed.")
            && ["\"offsets_ms\":", "\"flush_ms\":", "\"end_ms\":"]
                .iter()
                .all(|field| l.contains(field))
    };
    assert!(
        log("a.log").lines().any(phases),
        "a batch line with its commit's phases"
    );
    a.kill9();
    produce_keyed(&servers, &config.topics.events, second).await;
    wait_committed(
        &servers,
        &config.kafka.group_id,
        &config.topics.events,
        6_000,
    )
    .await;
    b.terminate().await;

    assert_eq!(emitted(&servers, &config), expected(&config, &events));
}
