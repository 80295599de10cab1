//! Engine benchmark (not a timed test; it prints figures).
//!
//! For each N in `BENCH_EVENTS` (default "100000,1000000"): load N hire
//! events (100 rules, 20 apps) into the local broker, then measure in the same
//! run: `kcat` copying the records topic to topic (the baseline); the engine
//! (release build, transactions on) processing them, in events/s, commands/s
//! and output records/s, with where a batch's time goes and the CPU it and
//! the broker used; `kcat` copying the engine's command output (a second
//! baseline: how fast this machine writes that output at all); the time to
//! restore the state of N employees after a restart; the engine's peak RSS.
//!
//!     deploy/local/kafka.sh up && cargo bench --bench engine
//!
//! Knobs: `BENCH_FANOUT=heavy` (about 7 apps per employee instead of 2-4),
//! `BENCH_ENGINE_TOML` (extra `[engine]` lines), `BENCH_ENGINE_BIN` (another
//! build, e.g. one with debug info for `perf`), `BENCH_INSTANCES` (engines
//! sharing the partitions in one group, default 1), `BENCH_RUST_LOG`,
//! `BENCH_KEEP` (keep the topics and the run's directory). Results go in
//! docs/BENCHMARKS.md.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[path = "engine/measure.rs"]
mod measure;

use measure::{batches, cpu_secs, log_count, nth_log, rss_mb, rss_peak_mb, wait_log, CpuUse};

const APPS: usize = 20;
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

fn main() {
    let servers =
        std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let sizes: Vec<usize> = std::env::var("BENCH_EVENTS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let fanout = match std::env::var("BENCH_FANOUT").as_deref() {
        Ok("heavy") => Fanout::Heavy,
        _ => Fanout::Realistic,
    };
    println!("engine benchmark on {servers}; {} cores", num_cpus());
    for n in sizes {
        run(&servers, n, fanout);
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn run(servers: &str, n: usize, fanout: Fanout) {
    let dir = tempfile::tempdir().expect("tempdir");
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("  (keeping {})", dir.path().display());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{}", &id[..8]);
    let config = write_config(dir.path(), servers, &prefix, fanout);
    let events_topic = format!("{prefix}.events");
    create_topics(&config);

    let started = Instant::now();
    produce(servers, &events_topic, n);
    println!(
        "\nN = {n} ({fanout:?} fan-out): produced in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Baseline: kcat copies the same records to another topic.
    let copy = format!("{prefix}.copy");
    create_topic(servers, &copy);
    let cpu = CpuUse::start();
    let kcat = kcat_copy(servers, &[(events_topic.clone(), copy.clone())]);
    println!(
        "  kcat copy:      {kcat:>7.1} s  {:>9.0} records/s; {}",
        n as f64 / kcat,
        cpu.report(kcat, n)
    );

    // The engine, transactions on, from an empty state.
    let log = dir.path().join("engine.log");
    let started = Instant::now();
    let cpu_use = CpuUse::start();
    // BENCH_INSTANCES engines in one group share the partitions.
    let instances: usize = std::env::var("BENCH_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut engines: Vec<Child> = (0..instances)
        .map(|i| spawn(&config, &log, &format!("bench-{i}")))
        .collect();
    wait_committed(
        servers,
        &format!("{prefix}-engine"),
        &events_topic,
        n as i64,
    );
    let secs = started.elapsed().as_secs_f64();
    let peak: f64 = engines.iter().map(|e| rss_peak_mb(e.id())).sum();
    let cpu: f64 = engines.iter().map(|e| cpu_secs(e.id())).sum();
    let machine = cpu_use.report(secs, 0);
    engines.iter_mut().for_each(terminate);
    let b = batches(&log);
    if instances > 1 {
        println!("  ({instances} engine instances; RSS and CPU are their sums)");
    }
    println!(
        "  engine:         {secs:>7.1} s  {:>9.0} events/s  {:>9.0} commands/s  {:>9.0} output records/s",
        n as f64 / secs,
        b.commands as f64 / secs,
        (b.commands + b.states) as f64 / secs,
    );
    println!(
        "                  {} batches, {:.1} commands/event; decide {:.1} s, transactions {:.1} s, \
         store {:.1} s; peak RSS {peak:.0} MB (start-up included)\n                  \
         once started (first batch to last): {:.0} events/s; engine CPU {cpu:.1} s = {:.1} µs/event",
        b.count,
        b.commands as f64 / n as f64,
        b.decide_ms as f64 / 1e3,
        b.commit_ms as f64 / 1e3,
        b.store_ms as f64 / 1e3,
        b.steady_records as f64 / b.steady_secs.max(1e-3),
        cpu * 1e6 / n as f64,
    );
    println!(
        "                  {machine}; broker µs per record written: {:.1}",
        cpu_use.broker_secs() * 1e6 / (b.commands + b.states) as f64
    );

    // A second baseline: kcat copying what the engine wrote to the command
    // topics (not the changelog: its binary values do not survive kcat's
    // line-based producer), every topic at once, no transactions.
    let copies: Vec<(String, String)> = (0..APPS)
        .map(|app| {
            let from = format!("{prefix}.commands.app{app:02}");
            (from.clone(), format!("{from}.copy"))
        })
        .collect();
    for (_, to) in &copies {
        create_topic(servers, to);
    }
    let cpu = CpuUse::start();
    let secs = kcat_copy(servers, &copies);
    println!(
        "  kcat copy of the engine's {} commands ({APPS} topics at once): {secs:.1} s, {:.0} records/s = \
         {:.0} events/s at this fan-out; {}",
        b.commands,
        b.commands as f64 / secs,
        n as f64 / secs,
        cpu.report(secs, b.commands as usize)
    );
    let mut extra: Vec<String> = copies.into_iter().map(|(_, to)| to).collect();
    extra.push(copy);

    // Restore: a restarted engine reads the state of N employees back.
    // Only with one instance: static members stay in the group after a
    // clean stop, so one of several restarted alone gets only its share.
    if instances == 1 {
        restore(&config, &log);
    } else {
        println!("  restore:        measured with BENCH_INSTANCES=1 only");
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        let _ = dir.keep();
    } else {
        delete_topics(&config, &extra);
    }
}

/// Restarts one engine and measures how long it takes to read the state of
/// every employee back from the changelog.
fn restore(config: &Path, log: &Path) {
    let started = Instant::now();
    let (ready_before, restored_before) = (
        log_count(log, "Engine ready"),
        log_count(log, "State restored."),
    );
    let mut engine = spawn(config, log, "bench-0");
    let ready = wait_log(log, "Engine ready", ready_before + 1);
    let secs = started.elapsed().as_secs_f64();
    let rss = rss_mb(engine.id());
    let peak = rss_peak_mb(engine.id());
    terminate(&mut engine);
    let restored = nth_log(log, "State restored.", restored_before + 1);
    println!(
        "  restore:        {secs:>7.1} s  ({} employees, {:.0} MB of state, read in {:.1} s; \
         RSS after restore {rss:.0} MB, peak {peak:.0} MB; start-up included)",
        ready["employees"],
        restored["state_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        restored["seconds"].as_f64().unwrap_or(0.0),
    );
}

/// Copies each (from, to) topic with a `kcat -C | kcat -P` pipeline, all
/// at once; returns the seconds until the last one is done.
fn kcat_copy(servers: &str, pairs: &[(String, String)]) -> f64 {
    let started = Instant::now();
    let pipelines: Vec<Child> = pairs
        .iter()
        .map(|(from, to)| {
            Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "set -o pipefail; kcat -C -b {servers} -t {from} -o beginning -e -q -K $'\\t' \
                     | kcat -P -b {servers} -t {to} -K $'\\t'"
                ))
                .spawn()
                .expect("kcat")
        })
        .collect();
    for mut pipeline in pipelines {
        assert!(pipeline.wait().expect("kcat").success(), "kcat copy failed");
    }
    started.elapsed().as_secs_f64()
}

/// Deletes the run's topics: a broker holding thousands of leftover
/// partitions is slower for every later run.
fn delete_topics(config: &Path, extra: &[String]) {
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
enum Fanout {
    /// 1-3 matching rules, 2-4 apps (about 3): a team rule, a location rule
    /// for full-time staff, a lead rule for team leads.
    Realistic,
    /// The first version of this bench: two team rules plus a location rule
    /// for every lead, about 7 apps per employee.
    Heavy,
}

fn write_config(dir: &Path, servers: &str, prefix: &str, fanout: Fanout) -> std::path::PathBuf {
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).expect("rules dir");
    let rules = match fanout {
        Fanout::Realistic => realistic_rules(),
        Fanout::Heavy => heavy_rules(),
    };
    std::fs::write(rules_dir.join("rules.yaml"), rules).expect("rules");
    let mut text = format!(
        "[kafka]\nbootstrap_servers = {servers:?}\ngroup_id = \"{prefix}-engine\"\npartitions = 6\n\
         [topics]\nevents = \"{prefix}.events\"\ncommands_prefix = \"{prefix}.commands.\"\n\
         state = \"{prefix}.state\"\nresults = \"{prefix}.results\"\ncontrol = \"{prefix}.control\"\n\
         events_dlq = \"{prefix}.events.dlq\"\ncommands_dlq = \"{prefix}.commands.dlq\"\n\
         [rules]\npath = {:?}\n[engine]\n{}\n\
         [safety]\nmax_deprovisions = 1000000000\n",
        rules_dir,
        std::env::var("BENCH_ENGINE_TOML").unwrap_or_default()
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

fn create_topics(config: &Path) {
    let config = provisioner::config::Config::load(config).expect("config");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(provisioner::kafka::ensure_topics(
            &config,
            &provisioner::kafka::all_topics(&config),
        ))
        .expect("topics");
}

fn create_topic(servers: &str, topic: &str) {
    let mut config = provisioner::config::Config::default();
    config.kafka.bootstrap_servers = servers.into();
    let spec = provisioner::kafka::TopicSpec {
        name: topic.into(),
        compact: false,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(provisioner::kafka::ensure_topics(&config, &[spec]))
        .expect("topic");
}

fn produce(servers: &str, topic: &str, n: usize) {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()
        .expect("producer");
    let mut rng = StdRng::seed_from_u64(2);
    for i in 0..n {
        let id = format!("B{i:07}");
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
                "start_date": "2026-12-01", "end_date": null, "attributes": {"cost_center": "RND"}
            }}
        })
        .to_string();
        let mut record = BaseRecord::to(topic).key(&id).payload(&value);
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

fn spawn(config: &Path, log: &Path, instance: &str) -> Child {
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
            // Any free port: instances (and a running demo) must not clash.
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG")
                .unwrap_or_else(|_| "warn,provisioner::engine::events=info".into()),
        )
        .env("PROVISIONER_INSTANCE_ID", instance)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("engine")
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn wait_committed(servers: &str, group: &str, topic: &str, n: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let mut tpl = TopicPartitionList::new();
        for p in 0..6 {
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
        assert!(Instant::now() < deadline, "engine did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
}
