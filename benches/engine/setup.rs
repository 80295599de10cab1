//! What the benches set up and drive: the configuration (20 apps, 100
//! rules), the topics, the bench employees' events, and engine processes.
//! Shared by the engine and timers benches (each includes it with `#[path]`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::measure::{log_count, nth_log, rss_mb, rss_peak_mb, wait_log};

/// The engines' default log filter: the engine's telemetry events (batches,
/// timers) and the restore's lines ("State restored.", "Engine ready"), which
/// are the loop's own; not the per-command lines.
pub const LOG_FILTER: &str = "warn,provisioner::engine::events=info,provisioner::engine::run=info";

/// Any free port: instances (and a running demo) must not clash.
pub const ANY_PORT: &str = "127.0.0.1:0";

/// Apps in the catalogue (`app00`..`app19`).
pub const APPS: usize = 20;
const RULES: usize = 100;
const TEAMS: usize = 50;
const LOCATIONS: [&str; 10] = [
    "Barcelona",
    "Madrid",
    "Paris",
    "Berlin",
    "London",
    "Lisbon",
    "Rome",
    "Vienna",
    "Oslo",
    "Dublin",
];

/// Deletes the run's topics: a broker holding thousands of leftover
/// partitions is slower for every later run.
pub fn delete_topics(config: &Path, extra: &[String]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let config = provisioner::config::Config::load(config).expect("config");
    let mut names: Vec<String> = provisioner::kafka::all_topics(&config)
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.extend_from_slice(extra);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let admin: AdminClient<DefaultClientContext> = provisioner::kafka::client_config(&config)
        .create()
        .expect("admin");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _ = runtime.block_on(admin.delete_topics(&names, &AdminOptions::new()));
}

/// How many apps each bench employee gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    /// 1-3 matching rules, 2-4 apps (about 3): a team rule, a location rule
    /// for full-time staff, a lead rule for team leads.
    Realistic,
    /// The first version of this bench: two team rules plus a location rule
    /// for every lead, about 7 apps per employee.
    Heavy,
}

/// Writes the run's configuration (topics named after `prefix`, 20 SCIM apps
/// never called, the guard's thresholds out of the way, `BENCH_ENGINE_TOML`
/// under `[engine]`) and rules into `dir`; returns the config file.
/// Partitions of every topic of a run: `BENCH_PARTITIONS`, default 6.
pub fn partitions() -> i32 {
    std::env::var("BENCH_PARTITIONS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(6)
}

pub fn write_config(dir: &Path, servers: &str, prefix: &str, fanout: Fanout) -> std::path::PathBuf {
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).expect("rules dir");
    let rules = match fanout {
        Fanout::Realistic => realistic_rules(),
        Fanout::Heavy => heavy_rules(),
    };
    std::fs::write(rules_dir.join("rules.yaml"), rules).expect("rules");
    let mut text = format!(
        "[kafka]\nbootstrap_servers = {servers:?}\ngroup_id = \"{prefix}-engine\"\npartitions = {partitions}\n\
         [topics]\nevents = \"{prefix}.events\"\ncommands_prefix = \"{prefix}.commands.\"\n\
         state = \"{prefix}.state\"\nresults = \"{prefix}.results\"\ncontrol = \"{prefix}.control\"\n\
         events_dlq = \"{prefix}.events.dlq\"\ncommands_dlq = \"{prefix}.commands.dlq\"\n\
         [rules]\npath = {:?}\n[engine]\n{}\n\
         [safety]\nmax_deprovisions = 1000000000\nmax_deprovision_ratio = 1.0\n",
        rules_dir,
        std::env::var("BENCH_ENGINE_TOML").unwrap_or_default(),
        partitions = partitions(),
    );
    for app in 0..APPS {
        text.push_str(&format!(
            "[apps.app{app:02}]\nconnector = \"scim\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"member\", \"admin\"]\n"
        ));
    }
    let path = dir.join("provisioner.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// 50 team rules (2 apps each), 10 location rules for full-time staff (1 app
/// each) and 40 rules for the leads of 40 teams (1 app, admin): every rule is
/// tested against every employee, 1-3 match.
fn realistic_rules() -> String {
    let mut rng = StdRng::seed_from_u64(1);
    let mut rules = String::new();
    for t in 0..TEAMS {
        rules.push_str(&format!(
            "- name: Team {t:02}\n  target: {{ field: team, op: is, value: Team{t:02} }}\n  apps:\n"
        ));
        for k in 0..2 {
            let role = if rng.random_bool(0.2) {
                "admin"
            } else {
                "member"
            };
            rules.push_str(&format!(
                "    app{:02}: {{ role: {role} }}\n",
                (t * 2 + k) % APPS
            ));
        }
    }
    for (l, loc) in LOCATIONS.iter().enumerate() {
        rules.push_str(&format!(
            "- name: Office {loc}\n  target:\n    all:\n      - {{ field: location, op: is, value: {loc} }}\n      \
             - {{ field: employment_type, op: is, value: full_time }}\n  apps:\n    app{:02}: {{ role: member }}\n",
            (l * 3 + 1) % APPS
        ));
    }
    for r in 0..RULES - TEAMS - LOCATIONS.len() {
        rules.push_str(&format!(
            "- name: Leads {r:02}\n  target:\n    all:\n      - {{ field: team, op: is, value: Team{r:02} }}\n      \
             - {{ field: job_title, op: starts_with, value: Lead }}\n  apps:\n    app{:02}: {{ role: admin }}\n",
            (r * 7 + 3) % APPS
        ));
    }
    rules
}

fn heavy_rules() -> String {
    let mut rng = StdRng::seed_from_u64(1);
    let mut rules = String::new();
    for r in 0..RULES {
        let team = format!("Team{:02}", r % TEAMS);
        let loc = LOCATIONS[rng.random_range(0..LOCATIONS.len())];
        rules.push_str(&format!(
            "- name: Rule {r:03}\n  target:\n    any:\n      - {{ field: team, op: is, value: {team} }}\n      \
             - all: [{{ field: location, op: is, value: {loc} }}, {{ field: job_title, op: starts_with, value: Lead }}]\n  apps:\n"
        ));
        for k in 0..3 {
            let app = (r * 3 + k) % APPS;
            let role = if rng.random_bool(0.3) {
                "admin"
            } else {
                "member"
            };
            rules.push_str(&format!("    app{app:02}: {{ role: {role} }}\n"));
        }
    }
    rules
}

/// Creates every topic of the configuration.
pub fn create_topics(config: &Path) {
    let config = provisioner::config::Config::load(config).expect("config");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(provisioner::kafka::ensure_topics(
            &config,
            &provisioner::kafka::all_topics(&config),
        ))
        .expect("topics");
}

/// Creates one plain topic.
pub fn create_topic(servers: &str, topic: &str) {
    let mut config = provisioner::config::Config::default();
    config.kafka.bootstrap_servers = servers.into();
    config.kafka.partitions = partitions();
    let spec = provisioner::kafka::TopicSpec {
        name: topic.into(),
        compact: false,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(provisioner::kafka::ensure_topics(&config, &[spec]))
        .expect("topic");
}

/// Produces `n` records, the `i`th one `record(i)` (key, value).
pub fn produce(
    servers: &str,
    topic: &str,
    n: usize,
    mut record: impl FnMut(usize) -> (String, String),
) {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()
        .expect("producer");
    for i in 0..n {
        let (key, value) = record(i);
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
}

/// The id of bench employee `i`.
pub fn employee_id(i: usize) -> String {
    format!("B{i:07}")
}

/// The bench employees' hire events, the same in every run (seeded): teams,
/// offices, 10 % leads, 20 % contractors, all started on 2026-12-01.
pub struct Hires(StdRng);

impl Default for Hires {
    fn default() -> Hires {
        Hires(StdRng::seed_from_u64(2))
    }
}

impl Hires {
    /// Employee `i`'s hire (key, value), with `end_date` (`None`: null).
    pub fn event(&mut self, i: usize, end_date: Option<&str>) -> (String, String) {
        let rng = &mut self.0;
        let id = employee_id(i);
        let title = if rng.random_bool(0.1) {
            "Lead Engineer"
        } else {
            "Engineer"
        };
        let employment = if rng.random_bool(0.2) {
            "contractor"
        } else {
            "full_time"
        };
        let value = serde_json::json!({
            "specversion": "1.0", "id": format!("evt-{i}"), "source": "hris://bench",
            "type": "hr.employee.hired", "time": "2026-11-26T09:00:00Z", "subject": id,
            "datacontenttype": "application/json",
            "data": {"sequence": 1, "employee": {
                "id": id, "email": format!("{id}@acme.test"), "first_name": "Bench",
                "last_name": format!("Person{i}"), "team": format!("Team{:02}", rng.random_range(0..TEAMS)),
                "department": "Engineering", "location": LOCATIONS[rng.random_range(0..LOCATIONS.len())],
                "job_title": title, "employment_type": employment, "manager_id": "B0000000",
                "start_date": "2026-12-01", "end_date": end_date, "attributes": {"cost_center": "RND"}
            }}
        })
        .to_string();
        (id, value)
    }
}

/// Starts an engine (the release build, or `BENCH_ENGINE_BIN`) as static
/// member `instance`, logging JSON to `log`, serving /metrics on `metrics`.
pub fn spawn(config: &Path, log: &Path, instance: &str, metrics: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    // BENCH_ENGINE_BIN runs another build (e.g. one with debug info for perf).
    let bin = std::env::var("BENCH_ENGINE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_provisioner").to_string());
    Command::new(bin)
        .args([
            "--config",
            &config.to_string_lossy(),
            "--log-format",
            "json",
            "engine",
            "--metrics-addr",
            metrics,
        ])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| LOG_FILTER.into()),
        )
        .env("PROVISIONER_INSTANCE_ID", instance)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("engine")
}

/// SIGTERM, then waits for the process to end.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Waits until `group` has committed offsets summing to `n` on the six
/// partitions of `topic`.
pub fn wait_committed(servers: &str, group: &str, topic: &str, n: i64) {
    wait_committed_while(servers, group, topic, n, || true);
}

/// [`wait_committed`], failing as soon as `alive` says the process that
/// should commit is gone (a peer that died must not cost an hour's wait).
pub fn wait_committed_while(
    servers: &str,
    group: &str,
    topic: &str,
    n: i64,
    mut alive: impl FnMut() -> bool,
) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions() {
            tpl.add_partition(topic, p);
        }
        let committed: i64 = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .map(|t| {
                t.elements()
                    .iter()
                    .map(|e| match e.offset() {
                        Offset::Offset(o) => o,
                        _ => 0,
                    })
                    .sum()
            })
            .unwrap_or(0);
        if committed >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{group} did not finish");
        assert!(alive(), "{group} stopped before committing {n} records");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A restarted engine once it is ready, and what its restore took.
pub struct Restarted {
    /// The engine, still running.
    pub engine: Child,
    /// From process start to "Engine ready" (start-up included), seconds.
    pub secs: f64,
    /// Its "Engine ready" line.
    pub ready: serde_json::Value,
    /// Its "State restored." line.
    pub restored: serde_json::Value,
    /// Resident memory once ready, MB.
    pub rss_mb: f64,
    /// Peak resident memory until ready, MB.
    pub peak_mb: f64,
}

/// Starts an engine on a state already written and waits until it has read
/// the state back ("Engine ready" in the log).
pub fn restart(config: &Path, log: &Path, metrics: &str) -> Restarted {
    let started = Instant::now();
    let (ready_before, restored_before) = (
        log_count(log, "Engine ready"),
        log_count(log, "State restored."),
    );
    let engine = spawn(config, log, "bench-0", metrics);
    let ready = wait_log(log, "Engine ready", ready_before + 1);
    let secs = started.elapsed().as_secs_f64();
    Restarted {
        rss_mb: rss_mb(engine.id()),
        peak_mb: rss_peak_mb(engine.id()),
        restored: nth_log(log, "State restored.", restored_before + 1),
        engine,
        secs,
        ready,
    }
}

impl Restarted {
    /// The bench's restore line, after its label.
    pub fn summary(&self) -> String {
        format!(
            "{:>7.1} s  ({} employees, {:.0} MB of state, read in {:.1} s; \
             RSS after restore {:.0} MB, peak {:.0} MB; start-up included)",
            self.secs,
            self.ready["employees"],
            self.restored["state_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            self.restored["seconds"].as_f64().unwrap_or(0.0),
            self.rss_mb,
            self.peak_mb,
        )
    }
}

/// A local address with a port free a moment ago, for an engine's /metrics
/// that the bench reads.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound address").to_string()
}
