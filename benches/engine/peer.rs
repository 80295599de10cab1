//! The Kafka Streams peer (`benches/peer/`, Java): the engine's job done the
//! way a JVM team would write it (exactly_once_v2, a RocksDB store with its
//! changelog, the same event checks, rules, precedence and commands), run by
//! the engine and latency benches on the same input as the engine, from an
//! empty state, with its own application id and output topics.
//! `BENCH_PEER=0` leaves it out; `BENCH_PEER_THREADS` (default: one stream
//! thread per core) and `BENCH_PEER_JAVA_OPTS` (default `-Xmx1g`) tune it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::measure::{cpu_secs, num_cpus, rss_peak_mb, CpuUse};
use crate::setup::{create_topic, terminate, wait_committed_while};

/// Whether the benches run the peer (`BENCH_PEER=0`: no).
pub fn enabled() -> bool {
    std::env::var("BENCH_PEER").map_or(true, |v| v.trim() != "0")
}

/// Builds the peer once per bench process (`benches/peer/build.sh`: offline
/// when the Maven repository has everything); returns its classpath.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer");
        let status = Command::new(dir.join("build.sh"))
            .status()
            .expect("benches/peer/build.sh (needs Java 17 and Maven)");
        assert!(status.success(), "benches/peer/build.sh failed");
        let target = dir.join("target");
        format!(
            "{}:{}/*",
            target.join("streams-peer-0.jar").display(),
            target.join("lib").display()
        )
    })
}

/// A running peer.
pub struct Peer {
    child: Child,
    log: PathBuf,
    servers: String,
    /// Its `application.id`, also its consumer group.
    pub application_id: String,
    /// The prefix of its command topics (`<prefix><app>`).
    pub commands_prefix: String,
    /// Its input topic (the engine's).
    pub input: String,
    apps: Vec<String>,
    dlq: String,
}

impl Peer {
    /// Starts a peer on the engine's input and catalogue (`config`, the
    /// engine's `provisioner.toml`), writing to topics named after `prefix`,
    /// which it creates (`BENCH_PARTITIONS`, as the engine's).
    pub fn start(dir: &Path, config: &Path, prefix: &str) -> Peer {
        let classpath = classpath();
        let config = provisioner::config::Config::load(config).expect("config");
        let servers = config.kafka.bootstrap_servers.clone();
        let application_id = format!("{prefix}-peer");
        let commands_prefix = format!("{prefix}.peer.commands.");
        let dlq = format!("{prefix}.peer.events.dlq");
        let apps: Vec<String> = config.apps.keys().cloned().collect();
        for topic in apps
            .iter()
            .map(|app| format!("{commands_prefix}{app}"))
            .chain([dlq.clone()])
        {
            create_topic(&servers, &topic);
        }
        let catalogue: serde_json::Map<String, serde_json::Value> = config
            .apps
            .iter()
            .map(|(name, app)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "roles": app.roles, "leaver": app.leaver,
                        "pre_start_ms": app.pre_start.as_millis() as u64,
                        "post_end_ms": app.post_end.as_millis() as u64,
                    }),
                )
            })
            .collect();
        let threads = std::env::var("BENCH_PEER_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(num_cpus);
        let settings = serde_json::json!({
            "bootstrap_servers": servers, "application_id": application_id,
            "input": config.topics.events, "commands_prefix": commands_prefix, "dlq": dlq,
            "state_dir": dir.join(format!("{application_id}-state")),
            "rules_dir": std::path::absolute(&config.rules.path).expect("rules dir"),
            "threads": threads, "max_event_bytes": config.limits.max_event_bytes,
            "default_time_zone": config.lifecycle.default_time_zone, "apps": catalogue,
        });
        let file = dir.join(format!("{application_id}.json"));
        std::fs::write(&file, settings.to_string()).expect("peer config");
        let log = dir.join(format!("{application_id}.log"));
        let out = std::fs::File::create(&log).expect("peer log");
        let opts = std::env::var("BENCH_PEER_JAVA_OPTS").unwrap_or_else(|_| "-Xmx1g".into());
        let child = Command::new("java")
            .args(opts.split_whitespace())
            .args(["-cp", classpath, "bench.peer.Peer"])
            .arg(&file)
            .stdout(out.try_clone().expect("peer log"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("java (Java 17)");
        println!(
            "  (peer: {threads} stream threads, {opts}; log {})",
            log.display()
        );
        Peer {
            child,
            log,
            servers,
            application_id,
            commands_prefix,
            input: config.topics.events.clone(),
            apps,
            dlq,
        }
    }

    /// The JVM's pid, for its CPU time and peak RSS.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the JVM still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until Kafka Streams says RUNNING (its tasks assigned, restored).
    pub fn wait_running(&self) {
        wait_log_text(&self.log, "peer: RUNNING");
    }

    /// How many times Kafka Streams went back to REBALANCING after its first
    /// RUNNING: each pauses processing (a latency spike, not the decision).
    pub fn rebalances(&self) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.split_once("peer: RUNNING")
            .map_or(0, |(_, after)| after.matches("peer: REBALANCING").count())
    }

    /// Waits until its committed offsets on the input reach `n`.
    pub fn wait_committed(&mut self, n: usize) {
        let (servers, group, input) = (
            self.servers.clone(),
            self.application_id.clone(),
            self.input.clone(),
        );
        wait_committed_while(&servers, &group, &input, n as i64, || self.alive());
    }

    /// SIGTERM (Kafka Streams closes cleanly in its shutdown hook).
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }

    /// Its command topics.
    pub fn command_topics(&self) -> Vec<String> {
        self.apps
            .iter()
            .map(|app| format!("{}{app}", self.commands_prefix))
            .collect()
    }

    /// Every topic it wrote, for deletion: commands, dead letters and the
    /// store's changelog (which Kafka Streams created).
    pub fn topics(&self) -> Vec<String> {
        let mut topics = self.command_topics();
        topics.push(self.dlq.clone());
        topics.push(format!("{}-employees-changelog", self.application_id));
        topics
    }
}

/// Waits for a line of the peer's (plain text) log.
fn wait_log_text(log: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            Instant::now() < deadline,
            "no '{needle}' in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the engine bench measured of the engine, to compare with the peer.
pub struct EngineRun {
    pub secs: f64,
    pub cpu_secs: f64,
    pub peak_mb: f64,
    pub commands: u64,
}

/// Runs the peer on the engine's input (`n` events) right after the engine,
/// prints its figures and the engine/peer ratios, and checks it wrote as many
/// commands as the engine. Returns the topics it made, for deletion.
pub fn compare(
    dir: &Path,
    config: &Path,
    prefix: &str,
    n: usize,
    engine: &EngineRun,
) -> Vec<String> {
    let started = Instant::now();
    let cpu_use = CpuUse::start();
    let mut peer = Peer::start(dir, config, prefix);
    peer.wait_committed(n);
    let secs = started.elapsed().as_secs_f64();
    let (cpu, peak) = (cpu_secs(peer.pid()), rss_peak_mb(peer.pid()));
    let machine = cpu_use.report(secs, 0);
    peer.stop();
    let commands = count_committed(&peer.servers, &peer.command_topics());
    let per_event = |cpu: f64| cpu * 1e6 / n as f64;
    println!(
        "  Kafka Streams peer: {secs:>5.1} s  {:>9.0} events/s  {commands} commands; CPU {cpu:.1} s = \
         {:.1} µs/event; peak RSS {peak:.0} MB (start-up included)\n                  {machine}",
        n as f64 / secs,
        per_event(cpu),
    );
    println!(
        "  engine/peer:    events/s {:.2}×, CPU per event {:.2}×, peak RSS {:.2}×",
        secs / engine.secs,
        per_event(engine.cpu_secs) / per_event(cpu),
        engine.peak_mb / peak,
    );
    assert_eq!(
        commands, engine.commands,
        "the peer wrote {commands} commands, the engine {}: not the same job",
        engine.commands
    );
    peer.topics()
}

/// Records visible to a `read_committed` reader on `topics` (each read to
/// its end).
pub fn count_committed(servers: &str, topics: &[String]) -> u64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "bench-count")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            tpl.add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let (mut open, mut count) = (tpl.count(), 0u64);
    let deadline = Instant::now() + Duration::from_secs(600);
    while open > 0 {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(_)) => count += 1,
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("reading {topics:?}: {e}"),
            None => {}
        }
        assert!(
            Instant::now() < deadline,
            "counting {topics:?} took too long"
        );
    }
    count
}
