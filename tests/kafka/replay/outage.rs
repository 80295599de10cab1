//! Replay after an app outage, end to end: the real connector worker, the
//! real SCIM connector, a real scim2-server, a real broker.
//!
//! The dead letters are the worker's own. A fully down app never produces
//! any — the worker's probe fails, it pauses, and the commands wait (see
//! `connector::outage`) — so the outage here is the partial kind that does:
//! the app's health check answers (the probe is told so) while its Users
//! endpoint is unreachable (the SCIM server is not running yet on the port
//! the connector calls). Commands exhaust their two attempts and go to the
//! dead-letter topic with the worker's headers; then the server comes up on
//! that port, and replay sends them back to the same, still running, worker.

use provisioner::commands::Command;
use provisioner::config::Config;
use provisioner::connector::build::{build, AnyConnector};
use provisioner::connector::{Applied, Connector, ConnectorError};
use provisioner::replay::Options;
use serde_json::{json, Value};

use super::support::*;
use crate::harness::*;

const APP: &str = "slack";

/// The SCIM connector, with a health check that always answers.
struct PartialOutage(AnyConnector);

impl Connector for PartialOutage {
    async fn apply(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        self.0.apply(cmd).await
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A slack worker calling a SCIM server on `port`, running in this process.
struct Running {
    config: Config,
    servers: String,
    port: u16,
    worker: AppWorker,
}

impl Running {
    /// Fresh topics; the slack app on a port where nothing listens yet, two
    /// attempts per command, no outage pause; the worker started.
    async fn start() -> Running {
        let mut config = worker_config(3);
        let port = closed_port();
        let app = config.apps.get_mut(APP).expect("slack");
        app.base_url = format!("http://127.0.0.1:{port}");
        fast_app(app);
        app.concurrency = 4;
        app.retry.max_attempts = 2;
        app.outage.consecutive_failures = 10_000;
        create_topics(&config).await;
        let connector = build(APP, &config.apps[APP]).expect("scim connector");
        let worker = AppWorker::start(&config, APP, PartialOutage(connector));
        Running {
            servers: config.kafka.bootstrap_servers.clone(),
            config,
            port,
            worker,
        }
    }

    /// Produces slack commands (employee, generation, role) in this order.
    async fn send(&self, commands: &[(&str, u64, &str)]) {
        let records: Vec<(Option<&str>, Vec<u8>)> = commands
            .iter()
            .map(|(e, g, role)| (Some(*e), upsert_command(APP, e, *g, role).to_json()))
            .collect();
        produce(&self.servers, &self.config.topics.commands(APP), &records).await;
    }

    /// Waits until the results hold `count` of `outcome`; returns them.
    async fn results(&self, outcome: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (servers, topic) = (self.servers.clone(), self.config.topics.results.clone());
            let all = tokio::task::spawn_blocking(move || read_all(&servers, &topic))
                .await
                .expect("reader");
            let found: Vec<Value> = all
                .iter()
                .map(json)
                .filter(|r| r["outcome"] == outcome)
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {count} result(s) {outcome}; results: {:#?}",
                all.iter().map(json).collect::<Vec<_>>()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Stops the worker as SIGTERM would; removes the test's topics.
    async fn stop(self) {
        self.worker.stop().await;
        delete_topics(&self.config, &[]).await;
    }
}

fn slack_only(config: &Config) -> Options {
    let mut options = Options::new(config.topics.commands_dlq.clone());
    options.filter.app = Some(APP.into());
    options
}

/// Each user's role, by externalId.
async fn roles(scim: &ScimServer) -> Vec<(String, Value)> {
    let mut roles: Vec<(String, Value)> = scim
        .users()
        .await
        .iter()
        .map(|u| {
            (
                u["externalId"].as_str().unwrap_or("").to_string(),
                u["roles"].clone(),
            )
        })
        .collect();
    roles.sort_by(|a, b| a.0.cmp(&b.0));
    roles
}

fn role(value: &str) -> Value {
    json!([{"value": value, "primary": true}])
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_lettered_during_an_outage_then_replayed_and_applied() {
    let w = Running::start().await;
    let hires = [
        ("E1", 1, "member"),
        ("E2", 1, "admin"),
        ("E3", 1, "member"),
        ("E4", 1, "admin"),
        ("E5", 1, "member"),
    ];
    w.send(&hires).await;
    let dead = w.results("dead_lettered", hires.len()).await;
    assert_eq!(dead.len(), hires.len(), "{dead:#?}");
    let dlq = wait_records(&w.servers, &w.config.topics.commands_dlq, hires.len()).await;
    for m in &dlq {
        assert_eq!(header(m, "dlq.app").as_deref(), Some(APP));
        assert_eq!(
            header(m, "dlq.error.kind").as_deref(),
            Some("retries_exhausted")
        );
    }
    // Another app's dead letter, which `--app slack` leaves alone.
    produce_dead_letters(
        &w.servers,
        &w.config.topics.commands_dlq,
        &[DeadLetter::command(&w.config, "zendesk", "E9", 1)],
    )
    .await;

    let scim = ScimServer::on_port(w.port).await;
    let ran = run_replay(&w.config, slack_only(&w.config)).await;
    assert_eq!(
        ran.lines,
        vec!["replayed 5, skipped 1 (superseded 0, filtered 1)".to_string()]
    );
    assert_eq!(ran.summary.replayed, 5);
    let series = format!(
        "provisioner_replayed_total{{topic=\"{}\"}}",
        w.config.topics.commands(APP)
    );
    assert_eq!(metric(&ran.metrics, &series), Some(5.0), "{}", ran.metrics);

    let applied = w.results("applied", hires.len()).await;
    assert_eq!(applied.len(), hires.len(), "{applied:#?}");
    let expected: Vec<(String, Value)> = hires
        .iter()
        .map(|(e, _, r)| (e.to_string(), role(r)))
        .collect();
    assert_eq!(roles(&scim).await, expected);
    for user in scim.users().await {
        assert_eq!(user["active"], true, "{user}");
    }

    let again = run_replay(&w.config, slack_only(&w.config)).await;
    assert_eq!(
        again.lines,
        vec!["replayed 0, skipped 0 (superseded 0, filtered 0)".to_string()]
    );
    assert_eq!(
        read_all(&w.servers, &w.config.topics.commands(APP)).len(),
        hires.len() * 2,
        "each command sent once, replayed once"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_superseded_by_a_newer_applied_one_is_skipped() {
    let w = Running::start().await;
    w.send(&[("E1", 1, "member")]).await;
    w.results("dead_lettered", 1).await;
    let scim = ScimServer::on_port(w.port).await;
    // The employee changed since; the newer command goes through.
    w.send(&[("E1", 2, "admin")]).await;
    let applied = w.results("applied", 1).await;
    assert_eq!(applied[0]["generation"], 2);

    let ran = run_replay(&w.config, slack_only(&w.config)).await;
    assert_eq!(
        ran.lines,
        vec!["replayed 0, skipped 1 (superseded 1, filtered 0)".to_string()]
    );
    assert_eq!(roles(&scim).await, vec![("E1".into(), role("admin"))]);
    assert_eq!(
        read_all(&w.servers, &w.config.topics.commands(APP)).len(),
        2,
        "nothing re-published"
    );

    // Forced, it goes back — and the worker's own check refuses it.
    let mut forced = slack_only(&w.config);
    forced.from_beginning = true;
    forced.include_superseded = true;
    let ran = run_replay(&w.config, forced).await;
    assert_eq!(
        ran.lines,
        vec!["replayed 1, skipped 0 (superseded 0, filtered 0)".to_string()]
    );
    let superseded = w.results("superseded", 1).await;
    assert_eq!(superseded[0]["generation"], 1);
    assert_eq!(roles(&scim).await, vec![("E1".into(), role("admin"))]);
    w.stop().await;
}
