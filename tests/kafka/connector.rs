//! The connector worker on a real broker, against a programmable fake app.

mod fake_app;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use provisioner::commands::Command;
use provisioner::connector::ConnectorError;
use rdkafka::message::Message;
use serde_json::Value;

use crate::harness::*;
use fake_app::{transient_error, FakeApp};

const APP: &str = "slack";

/// Fresh topics with `partitions` partitions; a fast app (high rate limit),
/// concurrency 8, 3 attempts with short backoff, fast probes and commits
/// every 100 ms.
async fn fast_env(partitions: i32) -> WorkerEnv {
    let mut config = worker_config(partitions);
    let app = config.apps.get_mut(APP).expect("slack in the catalogue");
    fast_app(app);
    app.concurrency = 8;
    config.connector.shutdown_timeout = std::time::Duration::from_millis(5_000);
    WorkerEnv::new(config, APP).await
}

/// Slack upserts (employee, generation) to role member, in this order.
fn upserts(commands: &[(&str, u64)]) -> Vec<Command> {
    commands
        .iter()
        .map(|(e, g)| upsert_command(APP, e, *g, "member"))
        .collect()
}

/// Results by command id.
fn by_command(results: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in results {
        map.entry(r["command_id"].as_str().expect("command_id").into())
            .or_default()
            .push(r.clone());
    }
    map
}

#[tokio::test(flavor = "multi_thread")]
async fn employees_in_order_and_in_parallel() {
    let env = fast_env(4).await;
    let fake = FakeApp::new().with_latency(5, 40);
    let worker = env.start_worker_with(fake.clone());
    let employees: Vec<String> = (0..30).map(|i| format!("E{i:03}")).collect();
    let mut commands = Vec::new();
    for generation in 1..=4 {
        for e in &employees {
            commands.push((e.as_str(), generation));
        }
    }
    env.send(&upserts(&commands)).await;
    let results = env.results(commands.len()).await;
    env.wait_committed(commands.len() as i64).await;
    worker.stop().await;

    let results = by_command(&results);
    assert_eq!(results.len(), commands.len(), "one result per command");
    for (id, rs) in &results {
        assert_eq!(rs.len(), 1, "{id} has {} results", rs.len());
        assert_eq!(rs[0]["outcome"], "applied", "{id}: {}", rs[0]);
        assert_eq!(rs[0]["attempts"], 1);
        assert_eq!(rs[0]["app"], APP);
        assert!(rs[0]["app_account_id"].is_string());
    }
    let calls = fake.calls();
    for e in &employees {
        let generations: Vec<u64> = calls
            .iter()
            .filter(|c| &c.employee_id == e)
            .map(|c| c.generation)
            .collect();
        assert_eq!(generations, vec![1, 2, 3, 4], "{e} applied out of order");
    }
    let max = fake.max_in_flight();
    assert!(max > 1, "no parallelism observed (max in flight {max})");
    assert!(max <= 8, "concurrency bound exceeded: {max}");
    assert!(env.dlq().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn older_generations_are_superseded_without_a_call() {
    let env = fast_env(1).await;
    let fake = FakeApp::new();
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 2), ("E1", 1), ("E1", 2), ("E1", 3)]))
        .await;
    let results = env.results(4).await;
    worker.stop().await;

    let outcomes: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["command_id"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("slack:E1:2", "applied"),
            ("slack:E1:1", "superseded"),
            ("slack:E1:2", "superseded"),
            ("slack:E1:3", "applied"),
        ]
    );
    assert_eq!(
        results[1]["attempts"], 0,
        "a superseded command is never sent"
    );
    let called: Vec<u64> = fake.calls().iter().map(|c| c.generation).collect();
    assert_eq!(called, vec![2, 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn supersession_survives_a_restart() {
    let env = fast_env(2).await;
    let first = FakeApp::new();
    let worker = env.start_worker_with(first.clone());
    env.send(&upserts(&[("E1", 5)])).await;
    env.results(1).await;
    env.wait_committed(1).await;
    worker.stop().await;

    // A new process: its memory is rebuilt from the results topic.
    let second = FakeApp::new();
    let worker = env.start_worker_with(second.clone());
    env.send(&upserts(&[("E1", 4), ("E2", 1)])).await;
    let results = by_command(&env.results(3).await);
    worker.stop().await;
    assert_eq!(results["slack:E1:4"][0]["outcome"], "superseded");
    assert_eq!(results["slack:E2:1"][0]["outcome"], "applied");
    let called: Vec<String> = second.calls().into_iter().map(|c| c.command_id).collect();
    assert_eq!(called, vec!["slack:E2:1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_then_success_is_applied() {
    let env = fast_env(1).await;
    let fake = FakeApp::new();
    fake.fail_first(
        "slack:E1:1",
        vec![transient_error(None), transient_error(None)],
    );
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1)])).await;
    let results = env.results(1).await;
    worker.stop().await;
    assert_eq!(results[0]["outcome"], "applied");
    assert_eq!(results[0]["attempts"], 3);
    assert_eq!(fake.calls_for("slack:E1:1").len(), 3);
    assert!(env.dlq().is_empty());
}

/// The header names of a dead letter, sorted.
fn header_names(m: &rdkafka::message::OwnedMessage) -> Vec<String> {
    use rdkafka::message::Headers;
    let mut names: Vec<String> = m
        .headers()
        .map(|h| h.iter().map(|x| x.key.to_string()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

const DLQ_HEADERS: [&str; 9] = [
    "dlq.app",
    "dlq.attempts",
    "dlq.error.kind",
    "dlq.error.message",
    "dlq.failed_at",
    "dlq.original.offset",
    "dlq.original.partition",
    "dlq.original.timestamp",
    "dlq.original.topic",
];

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_retries_are_dead_lettered_with_spec_headers() {
    let env = fast_env(1).await;
    let fake = FakeApp::new();
    fake.fail_always("slack:E1:1", transient_error(None));
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1), ("E2", 1)])).await;
    let results = by_command(&env.results(2).await);
    let dlq = wait_records(&env.servers, &env.config.topics.commands_dlq, 1).await;
    worker.stop().await;

    assert_eq!(dlq.len(), 1);
    let dead = &dlq[0];
    let original = read_all(&env.servers, &env.topic);
    assert_eq!(dead.key(), Some(&b"E1"[..]), "original key");
    assert_eq!(dead.payload(), original[0].payload(), "original bytes");
    assert_eq!(header_names(dead), DLQ_HEADERS);
    assert_eq!(header(dead, "dlq.original.topic").unwrap(), env.topic);
    assert_eq!(header(dead, "dlq.original.partition").unwrap(), "0");
    assert_eq!(header(dead, "dlq.original.offset").unwrap(), "0");
    assert_eq!(
        header(dead, "dlq.original.timestamp").unwrap(),
        original[0].timestamp().to_millis().unwrap().to_string()
    );
    assert_eq!(header(dead, "dlq.error.kind").unwrap(), "retries_exhausted");
    assert_eq!(header(dead, "dlq.attempts").unwrap(), "3");
    assert_eq!(header(dead, "dlq.app").unwrap(), APP);
    assert!(header(dead, "dlq.error.message")
        .unwrap()
        .contains("502 Bad Gateway"));
    let failed_at = header(dead, "dlq.failed_at").unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(&failed_at).is_ok());

    let r = &results["slack:E1:1"][0];
    assert_eq!(r["outcome"], "dead_lettered");
    assert_eq!(r["attempts"], 3);
    assert!(r["error"].as_str().unwrap().contains("502"));
    assert_eq!(results["slack:E2:1"][0]["outcome"], "applied");
    assert_eq!(fake.calls_for("slack:E1:1").len(), 3);
    assert!(!worker_paused_ever(&fake), "a poison command is no outage");
}

/// The app answered its probes, so nothing was treated as an outage.
fn worker_paused_ever(fake: &FakeApp) -> bool {
    // A pause would have kept probing; one probe (before dead-lettering) is expected.
    fake.probes() > 1
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_errors_and_bad_records_are_dead_lettered_at_once() {
    let env = fast_env(1).await;
    let fake = FakeApp::new();
    fake.fail_always(
        "slack:E1:1",
        ConnectorError::Permanent {
            message: "422 userName invalid".into(),
        },
    );
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1)])).await;
    produce(
        &env.servers,
        &env.topic,
        &[
            (Some("X"), b"{not json".to_vec()),
            (
                Some("E3"),
                upsert_command("zendesk", "E3", 1, "member").to_json(),
            ),
            (
                Some("E4"),
                upsert_command("jira", "E4", 1, "member").to_json(),
            ),
        ],
    )
    .await;
    env.send(&upserts(&[("E2", 1)])).await;
    let results = by_command(&env.results(2).await);
    let dlq = wait_records(&env.servers, &env.config.topics.commands_dlq, 4).await;
    env.wait_committed(5).await;
    worker.stop().await;

    assert_eq!(results.len(), 2, "bad records get no result: {results:?}");
    let r = &results["slack:E1:1"][0];
    assert_eq!(r["outcome"], "dead_lettered");
    assert_eq!(r["attempts"], 1);
    assert_eq!(results["slack:E2:1"][0]["outcome"], "applied");
    assert_eq!(
        fake.calls_for("slack:E1:1").len(),
        1,
        "no retry of a permanent error"
    );

    let kinds: HashMap<i64, (String, String)> = dlq
        .iter()
        .map(|m| {
            assert_eq!(header_names(m), DLQ_HEADERS);
            (
                header(m, "dlq.original.offset").unwrap().parse().unwrap(),
                (
                    header(m, "dlq.error.kind").unwrap(),
                    header(m, "dlq.error.message").unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(kinds[&0].0, "permanent");
    assert!(kinds[&0].1.contains("422"));
    assert_eq!(kinds[&1].0, "permanent");
    assert!(kinds[&1].1.contains("not JSON"), "{}", kinds[&1].1);
    assert_eq!(kinds[&2].0, "permanent");
    assert!(kinds[&2].1.contains("zendesk"), "{}", kinds[&2].1);
    assert_eq!(kinds[&3].0, "unknown_app");
    let garbage = dlq
        .iter()
        .find(|m| header(m, "dlq.original.offset").as_deref() == Some("1"))
        .unwrap();
    assert_eq!(garbage.payload(), Some(&b"{not json"[..]));
    assert_eq!(garbage.key(), Some(&b"X"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn unavailable_app_pauses_then_resumes_without_dead_letters() {
    let env = fast_env(2).await;
    let fake = FakeApp::new();
    fake.go_down(ConnectorError::Unavailable {
        message: "401 token rejected".into(),
    });
    let worker = env.start_worker_with(fake.clone());
    let health = Arc::clone(&worker.health);
    let employees: Vec<String> = (0..20).map(|i| format!("E{i}")).collect();
    let commands: Vec<(&str, u64)> = employees.iter().map(|e| (e.as_str(), 1)).collect();
    env.send(&upserts(&commands)).await;

    wait_until("app paused", || health.is_paused()).await;
    wait_until("several probes while paused", || fake.probes() >= 3).await;
    assert!(health.is_paused());
    let tried = fake.started();
    assert!(
        tried <= 8,
        "only the commands in flight at the outage may have tried ({tried})"
    );
    assert!(env.dlq().is_empty(), "an outage dead-letters nothing");
    assert_eq!(
        env.committed_total(),
        0,
        "nothing finished, nothing committed"
    );

    fake.come_up();
    let results = by_command(&env.results(commands.len()).await);
    wait_until("resumed", || !health.is_paused()).await;
    worker.stop().await;
    assert_eq!(results.len(), commands.len());
    assert!(results
        .values()
        .all(|r| r.len() == 1 && r[0]["outcome"] == "applied"));
    assert!(env.dlq().is_empty());
    let snapshot = health.snapshot();
    assert!(snapshot.pauses >= 1 && snapshot.confirmed_outages >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_of_transient_failures_is_an_outage_not_poison() {
    let mut env = fast_env(1).await;
    // A budget smaller than the outage threshold: without outage handling
    // every command would be dead-lettered.
    env.app_mut().retry.max_attempts = 2;
    env.app_mut().outage.consecutive_failures = 3;
    env.app_mut().concurrency = 4;
    let fake = FakeApp::new();
    fake.go_down_transient();
    let worker = env.start_worker_with(fake.clone());
    let health = Arc::clone(&worker.health);
    let employees: Vec<String> = (0..10).map(|i| format!("E{i}")).collect();
    let commands: Vec<(&str, u64)> = employees.iter().map(|e| (e.as_str(), 1)).collect();
    env.send(&upserts(&commands)).await;
    wait_until("app paused", || health.is_paused()).await;
    wait_until("probing", || fake.probes() >= 3).await;
    fake.come_up();
    let results = by_command(&env.results(commands.len()).await);
    worker.stop().await;
    assert!(
        results.values().all(|r| r[0]["outcome"] == "applied"),
        "{results:?}"
    );
    assert!(env.dlq().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured() {
    let mut env = fast_env(1).await;
    env.app_mut().retry.initial_delay = std::time::Duration::from_millis(1);
    env.app_mut().retry.max_delay = std::time::Duration::from_millis(5);
    let fake = FakeApp::new();
    let told = Duration::from_millis(800);
    fake.fail_first("slack:E1:1", vec![transient_error(Some(told))]);
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1)])).await;
    let results = env.results(1).await;
    worker.stop().await;
    assert_eq!(results[0]["outcome"], "applied");
    assert_eq!(results[0]["attempts"], 2);
    let calls = fake.calls_for("slack:E1:1");
    let waited = calls[1].at - calls[0].at;
    assert!(waited >= told, "retried after {waited:?}, told {told:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offset_never_passes_a_command_in_flight() {
    let env = fast_env(1).await;
    let fake = FakeApp::new();
    fake.hold("slack:E1:1");
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1), ("E2", 1), ("E3", 1)])).await;
    // The two later records finish while the first is held.
    env.results(2).await;
    // Watch the group's commits for ten commit intervals: never past offset 0.
    let watch_until = Instant::now() + Duration::from_millis(1_000);
    while Instant::now() < watch_until {
        assert_eq!(env.committed_total(), 0, "committed past the held command");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A crash now must not lose the held command.
    worker.crash().await;
    assert_eq!(env.committed_total(), 0);

    let second = FakeApp::new();
    let worker = env.start_worker_with(second.clone());
    let results = by_command(&env.results(5).await);
    env.wait_committed(3).await;
    worker.stop().await;
    assert_eq!(
        second
            .calls()
            .iter()
            .map(|c| c.command_id.as_str())
            .collect::<Vec<_>>(),
        vec!["slack:E1:1"],
        "the held command is redone, the finished ones are not sent again"
    );
    assert_eq!(results["slack:E1:1"].len(), 1);
    assert_eq!(results["slack:E1:1"][0]["outcome"], "applied");
    // At-least-once: the finished records above the commit point were read
    // again and reported superseded.
    for id in ["slack:E2:1", "slack:E3:1"] {
        let outcomes: Vec<&str> = results[id]
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, vec!["applied", "superseded"], "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_call_in_flight_finish_and_commits_it() {
    let env = fast_env(1).await;
    let fake = FakeApp::new().with_latency(400, 400);
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1), ("E1", 2)])).await;
    wait_until("first call in flight", || fake.in_flight() == 1).await;
    let took = worker.stop().await;
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    let called: Vec<u64> = fake.calls().iter().map(|c| c.generation).collect();
    assert_eq!(called, vec![1], "no new call after SIGTERM");
    let results = read_all(&env.servers, &env.config.topics.results);
    assert_eq!(results.len(), 1);
    assert_eq!(json(&results[0])["command_id"], "slack:E1:1");
    assert_eq!(
        committed(&env.servers, &env.group, &env.topic).get(&0),
        Some(&1),
        "the finished command is committed, the waiting one is not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_abandons_a_call_that_outlives_the_grace_period() {
    let mut env = fast_env(1).await;
    env.config.connector.shutdown_timeout = std::time::Duration::from_millis(300);
    let fake = FakeApp::new();
    fake.hold("slack:E1:1");
    let worker = env.start_worker_with(fake.clone());
    env.send(&upserts(&[("E1", 1)])).await;
    wait_until("call in flight", || fake.in_flight() == 1).await;
    let took = worker.stop().await;
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "stop took {took:?}"
    );
    assert!(read_all(&env.servers, &env.config.topics.results).is_empty());
    assert_eq!(
        env.committed_total(),
        0,
        "the abandoned command stays to be redone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_loses_no_command() {
    let env = fast_env(4).await;
    let (a, b) = (
        FakeApp::new().with_latency(5, 30),
        FakeApp::new().with_latency(5, 30),
    );
    let employees: Vec<String> = (0..20).map(|i| format!("E{i:02}")).collect();
    let batch = |generation: u64| -> Vec<(&str, u64)> {
        employees.iter().map(|e| (e.as_str(), generation)).collect()
    };
    // Instance A holds every generation-2 call, so its slots are full of
    // calls in flight when the partitions move.
    for e in &employees {
        a.hold(&Command::id_for(APP, e, 2));
    }
    let first = env.start_worker_with(a.clone());
    env.send(&upserts(&batch(1))).await;
    env.send(&upserts(&batch(2))).await;
    wait_until("A's slots full of held calls", || a.in_flight() == 8).await;
    let second = env.start_worker_with(b.clone());
    let (servers, group) = (env.servers.clone(), env.group.clone());
    wait_until("B joined the group", || {
        group_members(&servers, &group) == 2
    })
    .await;
    // B gets records only once the (eager) rebalance is done, i.e. after A
    // gave its partitions up.
    wait_until("B applying commands", || !b.calls().is_empty()).await;
    for e in &employees {
        a.release(&Command::id_for(APP, e, 2));
    }
    env.send(&upserts(&batch(3))).await;
    env.send(&upserts(&batch(4))).await;
    let expected = employees.len() * 4;
    let results = wait_for(
        &format!("all {expected} commands have a result"),
        || async {
            let results = by_command(&env.results(1).await);
            (results.len() == expected).then_some(results)
        },
    )
    .await;
    env.wait_committed(expected as i64).await;
    first.stop().await;
    second.stop().await;

    assert!(
        a.started() as usize > a.calls().len(),
        "A's calls in flight were aborted at revocation"
    );
    assert!(!b.calls().is_empty(), "B took over partitions");
    for (id, rs) in &results {
        assert!(
            rs.iter()
                .all(|r| r["outcome"] == "applied" || r["outcome"] == "superseded"),
            "{id}: {rs:?}"
        );
        assert!(
            rs.iter().any(|r| r["outcome"] == "applied"),
            "{id} never applied"
        );
    }
    // Each instance applied each employee's commands in generation order.
    for fake in [&a, &b] {
        let calls = fake.calls();
        for e in &employees {
            let gens: Vec<u64> = calls
                .iter()
                .filter(|c| &c.employee_id == e)
                .map(|c| c.generation)
                .collect();
            assert!(gens.windows(2).all(|w| w[0] <= w[1]), "{e}: {gens:?}");
        }
    }
    assert!(env.dlq().is_empty());
}
