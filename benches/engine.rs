//! Engine benchmark (not a timed test; it prints figures).
//!
//! For each N in `BENCH_EVENTS` (default "100000,1000000"): load N hire
//! events (100 rules, 20 apps) into the local broker, then measure in the same
//! run: `kcat` copying the records topic to topic (the baseline); the engine
//! (release build, transactions on) processing them, in events/s, commands/s
//! and output records/s, with where a batch's time goes and the CPU it and
//! the broker used; `kcat` copying the engine's command output (a second
//! baseline: how fast this machine writes that output at all); the time to
//! restore the state of N employees after a restart; the engine's peak RSS;
//! and, right after the engine, its Kafka Streams peer (`benches/peer/`) on
//! the same input, with the ratios engine/peer (`BENCH_PEER=0`: not run).
//!
//!     deploy/local/kafka.sh up && cargo bench --bench engine
//!
//! Knobs: `BENCH_FANOUT=heavy` (about 7 apps per employee instead of 2-4),
//! `BENCH_ENGINE_TOML` (extra `[engine]` lines), `BENCH_ENGINE_BIN` (another
//! build, e.g. one with debug info for `perf`), `BENCH_INSTANCES` (engines
//! sharing the partitions in one group, default 1), `BENCH_RUST_LOG`,
//! `BENCH_KEEP` (keep the topics and the run's directory), `BENCH_PARTITIONS`
//! (every topic's partition count, default 6). Results go in
//! docs/BENCHMARKS.md.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Instant;

// Shared with the timers bench, which uses what this one does not.
#[allow(dead_code)]
#[path = "engine/measure.rs"]
mod measure;
#[allow(dead_code)]
#[path = "engine/peer.rs"]
mod peer;
#[allow(dead_code)]
#[path = "engine/setup.rs"]
mod setup;

use measure::{batches, cpu_secs, load_average, num_cpus, rss_peak_mb, topic_count, CpuUse};
use setup::{
    create_topic, create_topics, delete_topics, produce, restart, spawn, terminate, wait_committed,
    write_config, Fanout, Hires, ANY_PORT, APPS,
};

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

fn run(servers: &str, n: usize, fanout: Fanout) {
    let dir = tempfile::tempdir().expect("tempdir");
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("  (keeping {})", dir.path().display());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{}", &id[..8]);
    println!(
        "\nbefore N = {n}: {}; {} topics on the broker",
        load_average(),
        topic_count(servers)
    );
    let config = write_config(dir.path(), servers, &prefix, fanout);
    let events_topic = format!("{prefix}.events");
    create_topics(&config);

    let started = Instant::now();
    let mut hires = Hires::default();
    produce(servers, &events_topic, n, |i| hires.event(i, None));
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
        .map(|i| spawn(&config, &log, &format!("bench-{i}"), ANY_PORT))
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
    let mut extra = Vec::new();
    if peer::enabled() {
        let engine = peer::EngineRun {
            secs,
            cpu_secs: cpu,
            peak_mb: peak,
            commands: b.commands,
        };
        extra = peer::compare(dir.path(), &config, &prefix, n, &engine);
    }

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
    extra.extend(copies.into_iter().map(|(_, to)| to));
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
    let mut restarted = restart(config, log, ANY_PORT);
    terminate(&mut restarted.engine);
    println!("  restore:        {}", restarted.summary());
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
