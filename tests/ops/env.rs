//! What the operations tests share: the broker, a fresh configuration with
//! its own topics, the real `provisioner` binary with its log captured, a
//! HTTP gets and metric lookups. The programmable app is `fake_app.rs`.
//!
//! A missing broker (or `promtool`, or the SASL broker script) is a loud
//! failure, never a skip: `deploy/local/kafka.sh up` starts the broker.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The broker under test; panics when it does not answer.
pub fn bootstrap() -> String {
    let servers =
        std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("client");
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!("no Kafka broker at {servers} ({e}): run `deploy/local/kafka.sh up`");
    }
    servers
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The rules of these tests: developers read the wiki; support edits it and
/// gets the CRM.
pub const RULES: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    wiki: { provisioning: true, role: reader }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    wiki: { provisioning: true, role: editor }
    crm: { provisioning: true, role: member }
"#;

/// A test's world: a directory with `provisioner.toml` and `rules/`, fresh
/// topic names and group, two webhook apps (`wiki`, `crm`) at `app_url`.
pub struct Setup {
    /// Holds the files; deleted with the setup.
    pub dir: tempfile::TempDir,
    /// The configuration file.
    pub config: PathBuf,
    /// Topic prefix (`t-<id>`).
    pub prefix: String,
}

impl Setup {
    /// Writes the configuration; `kafka` is extra `[kafka]`-level TOML
    /// (e.g. properties), `servers` the broker.
    pub fn new(servers: &str, app_url: &str, kafka_extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).expect("rules dir");
        std::fs::write(rules.join("rules.yaml"), RULES).expect("rules");
        let prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
        let text = format!(
            r#"[kafka]
bootstrap_servers = "{servers}"
group_id = "{group}"
partitions = 2
{kafka_extra}
[topics]
events = "{prefix}.events"
commands_prefix = "{prefix}.commands."
state = "{prefix}.state"
results = "{prefix}.results"
control = "{prefix}.control"
events_dlq = "{prefix}.events.dlq"
commands_dlq = "{prefix}.commands.dlq"
[rules]
path = {rules:?}
[metrics]
lag_interval_ms = 200
[engine]
batch_max_ms = 50
rules_reload_ms = 100
[connector]
commit_interval_ms = 100
shutdown_timeout_ms = 2000
[apps.wiki]
connector = "webhook"
base_url = "{app_url}/wiki"
token_env = "OPS_TEST_WIKI_SECRET"
roles = ["reader", "editor"]
rate_limit_per_second = 1000
retry = {{ max_attempts = 3, initial_delay_ms = 10, max_delay_ms = 50 }}
outage = {{ consecutive_failures = 1, probe_initial_delay_ms = 100, probe_max_delay_ms = 200 }}
[apps.crm]
connector = "webhook"
base_url = "{app_url}/crm"
roles = ["member"]
rate_limit_per_second = 1000
retry = {{ max_attempts = 3, initial_delay_ms = 10, max_delay_ms = 50 }}
outage = {{ consecutive_failures = 3, probe_initial_delay_ms = 100, probe_max_delay_ms = 200 }}
"#,
            group = unique("engine"),
        );
        let config = dir.path().join("provisioner.toml");
        std::fs::write(&config, text).expect("config");
        Setup {
            dir,
            config,
            prefix,
        }
    }

    /// A topic of this setup, e.g. `events` or `commands.wiki`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// The rules directory.
    pub fn rules_dir(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// Starts `provisioner <args>` with this configuration on a free port.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Process {
        Process::spawn(&self.config, args, env)
    }
}

/// The webhook secret the tests configure (it must never be logged).
pub const WIKI_SECRET: &str = "whsec-0p5-T0K3N-never-logged";

/// A running `provisioner` process with its stderr (JSON logs) captured.
pub struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// Where it serves /metrics, /healthz, /readyz.
    pub addr: String,
}

impl Process {
    fn spawn(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provisioner"));
        command
            .arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json")
            .args(args)
            .args(["--metrics-addr", "127.0.0.1:0"])
            .current_dir(root())
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env("RUST_LOG", "info")
            .env("OPS_TEST_WIKI_SECRET", WIKI_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start provisioner");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut process = Process {
            child,
            log,
            addr: String::new(),
        };
        let deadline = Instant::now() + DEADLINE;
        process.addr = loop {
            let found = process.lines().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "Serving /metrics, /healthz and /readyz.")
                    .then(|| v["addr"].as_str().map(String::from))?
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("provisioner exited ({status}):\n{}", process.text());
            }
            assert!(
                Instant::now() < deadline,
                "no telemetry address:\n{}",
                process.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        process
    }

    /// The log lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log so far as one text.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// `GET <path>` on the telemetry server: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.addr))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.text()));
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// SIGTERM, then waits for a clean exit (0); returns the whole log.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "did not stop:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(status.code(), Some(0), "unclean exit:\n{}", self.text());
        self.text()
    }

    /// Waits for the process to exit by itself; (exit code, log).
    pub fn wait_exit(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(200));
                return (status.code(), self.text());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after {within:?}:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`; fails after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one exact series (`name{labels}`) in an exposition, if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Produces `(key, value)` records and waits for their delivery; `extra`
/// are client properties (SASL).
pub async fn produce(
    servers: &str,
    extra: &[(&str, &str)],
    topic: &str,
    records: &[(&str, Vec<u8>)],
) {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", servers)
        .set("enable.idempotence", "true");
    for (k, v) in extra {
        cc.set(*k, *v);
    }
    let producer: FutureProducer = cc.create().expect("producer");
    for (key, value) in records {
        producer
            .send(
                FutureRecord::to(topic).key(*key).payload(value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

/// An HR event as bytes.
pub fn event(id: &str, kind: &str, seq: i64, employee: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": "hris://ops-test",
        "type": format!("hr.employee.{kind}"),
        "time": "2026-11-26T09:00:00Z",
        "subject": employee["id"],
        "datacontenttype": "application/json",
        "data": { "sequence": seq, "employee": employee }
    })
    .to_string()
    .into_bytes()
}

/// A new hire's snapshot.
pub fn hire(id: &str, first: &str, last: &str, team: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "email": format!("{}.{}@acme.test", first.to_lowercase(), last.to_lowercase()),
        "first_name": first,
        "last_name": last,
        "team": team,
        "employment_type": "full_time",
    })
}
