//! Connector worker throughput against a rate-limited fake app.
//!
//! Not a timed test: it prints figures. Needs the local broker
//! (`deploy/local/kafka.sh up` or `KAFKA_BOOTSTRAP_SERVERS`). Run with
//! `cargo bench --bench connector`.
//!
//! Each scenario produces N commands (one per employee, spread over 6
//! partitions), then starts the worker against a fake app that answers in
//! ~50 ms and enforces its own limit of R requests in any sliding second
//! (answering 429 + Retry-After beyond it). Throughput is measured between
//! the first and the last call the app accepted.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use provisioner::commands::{Account, Action, Cause, Command};
use provisioner::config::Config;
use provisioner::connector::worker::Worker;
use provisioner::connector::{Applied, Connector, ConnectorError, Outcome};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;

#[path = "support/window.rs"]
mod window;

use window::SlidingWindow;

const APP: &str = "bench";
const LATENCY: Duration = Duration::from_millis(50);

/// The fake app: fixed latency, a sliding-window rate limit of its own.
#[derive(Clone)]
struct RateLimitedApp(Arc<SlidingWindow>);

impl RateLimitedApp {
    fn new(limit: usize) -> Self {
        RateLimitedApp(Arc::new(SlidingWindow::new(limit)))
    }

    fn admit(&self) -> bool {
        self.0.admit()
    }

    fn accepted(&self) -> Vec<Instant> {
        self.0.accepted()
    }

    fn refused(&self) -> u64 {
        self.0.refused()
    }
}

impl Connector for RateLimitedApp {
    fn apply(&self, cmd: &Command) -> impl Future<Output = Result<Applied, ConnectorError>> + Send {
        let admitted = self.admit();
        let id = cmd.employee_id.to_string();
        async move {
            tokio::time::sleep(LATENCY).await;
            if admitted {
                Ok(Applied {
                    outcome: Outcome::Applied,
                    app_account_id: Some(id),
                })
            } else {
                Err(ConnectorError::Transient {
                    message: "429 Too Many Requests".into(),
                    retry_after: Some(Duration::from_secs(1)),
                })
            }
        }
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn config(rate: f64, concurrency: usize) -> Config {
    let catalogue = format!(
        "[apps.{APP}]\nconnector = \"webhook\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"member\"]\n\
         rate_limit_per_second = {rate}\nconcurrency = {concurrency}\n"
    );
    let mut config = Config::parse(Path::new("bench.toml"), &catalogue).expect("config");
    if let Ok(servers) = std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        config.kafka.bootstrap_servers = servers;
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    config.kafka.group_id = format!("bench-{id}");
    let t = &mut config.topics;
    t.commands_prefix = format!("b-{id}.commands.");
    t.results = format!("b-{id}.results");
    t.commands_dlq = format!("b-{id}.commands.dlq");
    config
}

fn command(employee: &str) -> Vec<u8> {
    Command {
        command_id: Command::id_for(APP, employee, 1),
        app: APP.into(),
        employee_id: employee.into(),
        generation: 1,
        action: Action::Upsert,
        deprovision: None,
        role: Some("member".into()),
        account: std::sync::Arc::new(Account {
            external_id: employee.into(),
            user_name: employee.into(),
            email: None,
            given_name: None,
            family_name: None,
            display_name: None,
        }),
        cause: Cause {
            event_id: "bench".into(),
            event_type: "hr.employee.hired".into(),
            rules: vec![],
            rules_version: "bench".into(),
            effective: None,
        },
        issued_at: Utc::now(),
    }
    .to_json()
}

struct Figures {
    throughput: f64,
    refused: u64,
    busiest_second: usize,
}

async fn scenario(rate: f64, concurrency: usize, count: usize) -> Figures {
    let config = config(rate, concurrency);
    let topic = config.topics.commands(APP);
    let topics: Vec<provisioner::kafka::TopicSpec> =
        [&topic, &config.topics.results, &config.topics.commands_dlq]
            .into_iter()
            .map(|name| provisioner::kafka::TopicSpec {
                name: name.clone(),
                compact: false,
            })
            .collect();
    provisioner::kafka::ensure_topics(&config, &topics)
        .await
        .expect("topics");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.bootstrap_servers)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let sends = (0..count).map(|i| {
        let employee = format!("E{i:06}");
        let value = command(&employee);
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&employee).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .expect("produce");
        }
    });
    futures::future::join_all(sends).await;

    let app = RateLimitedApp::new(rate as usize);
    let shutdown = CancellationToken::new();
    let worker = Worker::new(config, APP.into(), app.clone()).expect("worker");
    let handle = tokio::spawn(worker.run(shutdown.clone()));
    let deadline = Instant::now() + Duration::from_secs(600);
    while app.accepted().len() < count {
        assert!(Instant::now() < deadline, "benchmark timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    handle.await.expect("join").expect("worker");

    let accepted = app.accepted();
    Figures {
        throughput: window::rate(&accepted[..count]),
        refused: app.refused(),
        busiest_second: window::busiest_second(&accepted),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    println!("connector worker throughput, fake app latency {LATENCY:?}");
    println!(
        "{:>8} {:>11} {:>9} {:>14} {:>10} {:>10} {:>15}",
        "rate R", "concurrency", "commands", "achieved/s", "of R", "429s", "busiest 1s"
    );
    for (rate, concurrency, count) in [
        (50.0, 1, 200),
        (50.0, 8, 500),
        (100.0, 8, 1000),
        (200.0, 8, 1000),
        (200.0, 16, 1000),
    ] {
        let f = scenario(rate, concurrency, count).await;
        println!(
            "{:>8} {:>11} {:>9} {:>14.1} {:>10.3} {:>10} {:>15}",
            rate,
            concurrency,
            count,
            f.throughput,
            f.throughput / rate,
            f.refused,
            f.busiest_second
        );
    }
}
