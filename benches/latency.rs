//! Latency benchmark (not a timed test; it prints figures): how long after
//! an HR event is produced its commands become visible to a
//! `read_committed` reader, at a steady rate.
//!
//! For the engine (release build, default `[engine]` settings), then for the
//! Kafka Streams peer (`benches/peer/`; `BENCH_PEER=0` leaves it out), each
//! on a fresh topic and from an empty state: once it is ready, a producer
//! sends `BENCH_LATENCY_RATE` (default 1,000) hire events a second for
//! `BENCH_LATENCY_SECS` (default 60), each sent at once (`linger.ms` 0), its
//! send time (µs since the epoch) in its event id; a reader of the 20 command
//! topics (`read_committed`) takes, for each event, the time its first
//! command arrived minus that send time. Events of the first
//! `BENCH_LATENCY_WARMUP_SECS` (default 20: on a busy 2-core machine the
//! JVM peer takes 10-30 s to settle; the engine about 1 s) are left out of
//! p50/p99/max, and p50/p99 are printed for each 10 s of sending besides.
//! `BENCH_PARTITIONS` (default 6) is every topic's partition count: a
//! transaction pays one produce request per partition it writes to (see
//! docs/BENCHMARKS.md, "Session 7"); `BENCH_KEEP` keeps the run's directory
//! (the engine's log).
//!
//!     deploy/local/kafka.sh up && cargo bench --bench latency
//!
//! Results go in docs/BENCHMARKS.md.

use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[allow(dead_code)]
#[path = "engine/measure.rs"]
mod measure;
#[allow(dead_code)]
#[path = "engine/peer.rs"]
mod peer;
#[allow(dead_code)]
#[path = "engine/setup.rs"]
mod setup;

use measure::{load_average, topic_count, wait_log};
use setup::{
    create_topics, delete_topics, spawn, terminate, write_config, Fanout, Hires, ANY_PORT, APPS,
};

/// The run's shape.
struct Plan {
    servers: String,
    rate: u64,
    secs: u64,
    warmup_secs: u64,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = env_u64("BENCH_LATENCY_SECS", 60).max(1);
    let plan = Plan {
        servers: std::env::var("KAFKA_BOOTSTRAP_SERVERS")
            .unwrap_or_else(|_| "127.0.0.1:9092".into()),
        rate: env_u64("BENCH_LATENCY_RATE", 1000).max(1),
        secs,
        warmup_secs: env_u64("BENCH_LATENCY_WARMUP_SECS", 20).min(secs - 1),
    };
    println!(
        "latency benchmark on {}: {} events/s for {} s; the events of the first {} s are \
         warm-up, left out of the figures",
        plan.servers, plan.rate, plan.secs, plan.warmup_secs
    );
    run(&plan, Subject::Engine);
    if peer::enabled() {
        run(&plan, Subject::Peer);
    }
}

#[derive(Debug, Clone, Copy)]
enum Subject {
    Engine,
    Peer,
}

/// What processes the events during one run.
enum Running {
    Engine(Child),
    Peer(peer::Peer),
}

fn run(plan: &Plan, subject: Subject) {
    println!(
        "\n{subject:?}: before the run {}; {} topics on the broker",
        load_average(),
        topic_count(&plan.servers)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("latency-{}", &id[..8]);
    let config = write_config(dir.path(), &plan.servers, &prefix, Fanout::Realistic);
    create_topics(&config);
    let (mut running, commands_prefix) = start(subject, dir.path(), &config, &prefix);
    let topics: Vec<String> = (0..APPS)
        .map(|app| format!("{commands_prefix}app{app:02}"))
        .collect();
    let n = (plan.rate * plan.secs) as usize;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (servers, topics, done) = (plan.servers.clone(), topics.clone(), done.clone());
        std::thread::spawn(move || read_latencies(&servers, &topics, n, &done))
    };
    let sent_secs = produce_steady(&plan.servers, &format!("{prefix}.events"), n, plan.rate);
    // Everything should be visible within a minute of the last send.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::Relaxed);
    let seen = reader.join().expect("reader");
    let extra = match &mut running {
        Running::Engine(engine) => {
            terminate(engine);
            Vec::new()
        }
        Running::Peer(peer) => {
            println!(
                "  (the peer rebalanced {} times after it first ran)",
                peer.rebalances()
            );
            peer.stop();
            peer.topics()
        }
    };
    report(plan, subject, n, sent_secs, &seen);
    delete_topics(&config, &extra);
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("  (kept {})", dir.keep().display());
    }
}

/// Starts the subject and waits until it is ready; returns it and the prefix
/// of its command topics.
fn start(subject: Subject, dir: &Path, config: &Path, prefix: &str) -> (Running, String) {
    match subject {
        Subject::Engine => {
            let log = dir.join("engine.log");
            let engine = spawn(config, &log, "bench-0", ANY_PORT);
            wait_log(&log, "Engine ready", 1);
            (Running::Engine(engine), format!("{prefix}.commands."))
        }
        Subject::Peer => {
            let peer = peer::Peer::start(dir, config, prefix);
            peer.wait_running();
            let commands_prefix = peer.commands_prefix.clone();
            (Running::Peer(peer), commands_prefix)
        }
    }
}

/// Microseconds since the epoch.
fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Sends `n` hires at `rate` a second, each at once, its send time in its
/// event id (`lat-<i>-<µs>`); returns the seconds it took.
fn produce_steady(servers: &str, topic: &str, n: usize, rate: u64) -> f64 {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    let mut hires = Hires::default();
    let started = Instant::now();
    for i in 0..n {
        // Pacing, not synchronisation: event i is due i/rate s after the start.
        let due = started + Duration::from_micros(i as u64 * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let (key, value) = hires.event(i, None);
        let value = value.replacen(
            &format!("\"evt-{i}\""),
            &format!("\"lat-{i}-{}\"", now_micros()),
            1,
        );
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    started.elapsed().as_secs_f64()
}

/// What the reader saw: for each event, the µs from its send to its first
/// visible command; and the commands read.
struct Seen {
    latency_us: Vec<Option<u64>>,
    commands: u64,
}

/// Reads the command topics from the start (`read_committed`) until a
/// command of each of the `n` events was seen, or `done`.
fn read_latencies(servers: &str, topics: &[String], n: usize, done: &AtomicBool) -> Seen {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "bench-latency")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        for p in 0..setup::partitions() {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let mut seen = Seen {
        latency_us: vec![None; n],
        commands: 0,
    };
    let mut events = 0;
    while events < n && !done.load(Ordering::Relaxed) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.expect("reading commands");
        let at = now_micros();
        seen.commands += 1;
        let Some((i, sent)) = message.payload().and_then(sent_at) else {
            continue;
        };
        if let Some(slot @ None) = seen.latency_us.get_mut(i) {
            *slot = Some(at.saturating_sub(sent));
            events += 1;
        }
    }
    seen
}

/// The event index and send time from a command's `cause.event_id`.
fn sent_at(payload: &[u8]) -> Option<(usize, u64)> {
    let command: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let id = command["cause"]["event_id"]
        .as_str()?
        .strip_prefix("lat-")?;
    let (i, sent) = id.split_once('-')?;
    Some((i.parse().ok()?, sent.parse().ok()?))
}

/// p50, p99 and max of `latencies` (µs), in ms; NaN when empty.
fn percentiles(latencies: impl Iterator<Item = u64>) -> (f64, f64, f64) {
    let mut sorted: Vec<u64> = latencies.collect();
    sorted.sort_unstable();
    let at = |q: f64| {
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted
            .get(rank.clamp(1, sorted.len().max(1)) - 1)
            .map_or(f64::NAN, |us| *us as f64 / 1e3)
    };
    (at(0.50), at(0.99), at(1.0))
}

fn report(plan: &Plan, subject: Subject, n: usize, sent_secs: f64, seen: &Seen) {
    let skip = (plan.rate * plan.warmup_secs) as usize;
    let missing = seen.latency_us.iter().filter(|l| l.is_none()).count();
    println!(
        "  {subject:?}: {n} events sent in {sent_secs:.1} s ({:.0}/s), {} commands read (until \
         each event had one); events without a command after a minute: {missing}",
        n as f64 / sent_secs,
        seen.commands
    );
    // By 10 s of sending, warm-up included: whether it settled, or drifted.
    let window = (plan.rate * 10) as usize;
    let windows: Vec<String> = seen
        .latency_us
        .chunks(window)
        .enumerate()
        .map(|(w, chunk)| {
            let (p50, p99, _) = percentiles(chunk.iter().flatten().copied());
            format!("{}-{} s {p50:.0}/{p99:.0}", w * 10, (w + 1) * 10)
        })
        .collect();
    println!(
        "  {subject:?} p50/p99 ms by 10 s of sending: {}",
        windows.join(", ")
    );
    // When the worst one was sent: a spike (a rebalance, a pause) or a drift.
    let worst = (skip..n).max_by_key(|&i| seen.latency_us[i].unwrap_or(0));
    let (p50, p99, max) = percentiles(seen.latency_us[skip..].iter().flatten().copied());
    println!(
        "  {subject:?} latency, send → first command visible (read_committed), {} events after \
         the warm-up: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (sent {:.1} s into the run)",
        seen.latency_us[skip..].iter().flatten().count(),
        worst.map_or(f64::NAN, |i| i as f64 / plan.rate as f64),
    );
}
