//! Effective-dating benchmark (#12; not a timed test, it prints figures).
//!
//! 1. `BENCH_EMPLOYEES` hires (default 1,000,000; the engine bench's
//!    employees, rules and apps), every second one with an `end_date` 30 to
//!    60 days ahead (an RFC 3339 instant, spread over the seconds), processed
//!    by the release engine; then a restarted engine reads the state back:
//!    the time to "Engine ready", its peak RSS, and
//!    `provisioner_timers_pending` (half the employees).
//! 2. `BENCH_COHORT` (default 100,000) of the others leave at one instant: a
//!    `left` event each, with that instant as `end_date`, processed before it
//!    comes (the instant is set from the engine's event rate in step 1). From
//!    the instant on: the time until every timer has fired (the last
//!    "Timers fired." line, and `provisioner_timers_fired_total` reaching the
//!    cohort), in timers/s; the delay histogram's p50 and p99
//!    (`provisioner_timer_delay_seconds`); the engine's CPU while firing. The
//!    guard's thresholds are out of the way, so every deprovision is emitted.
//!
//!     deploy/local/kafka.sh up && cargo bench --bench timers
//!
//! Quick check: `BENCH_EMPLOYEES=20000 BENCH_COHORT=5000`. Also, as in the
//! engine bench: `BENCH_ENGINE_TOML`, `BENCH_ENGINE_BIN`, `BENCH_RUST_LOG`,
//! `BENCH_KEEP`. Results go in docs/BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

// Shared with the engine bench, which uses what this one does not.
#[allow(dead_code)]
#[path = "engine/measure.rs"]
mod measure;
#[allow(dead_code)]
#[path = "engine/setup.rs"]
mod setup;

// The tests' own reader of a scrape (it also has a helper this bench
// does not use).
#[path = "../tests/support/metrics.rs"]
#[allow(dead_code)]
mod metrics;

use measure::{batches, cpu_secs, log_count, quantile, rss_peak_mb, scrape, CpuUse};
use metrics::metric;
use setup::{
    create_topics, delete_topics, employee_id, free_addr, produce, restart, spawn, terminate,
    wait_committed, write_config, Fanout, Hires, ANY_PORT,
};

/// What a restarted engine is expected to show, and how long to wait for it.
const SETTLE: Duration = Duration::from_secs(60);

fn main() {
    let servers =
        std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let knob = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    let employees = knob("BENCH_EMPLOYEES", 1_000_000);
    let cohort = knob("BENCH_COHORT", 100_000);
    assert!(
        cohort <= employees / 2,
        "BENCH_COHORT ({cohort}) must be at most half of BENCH_EMPLOYEES ({employees}): \
         the cohort is drawn from the employees without an end date"
    );
    println!(
        "timers benchmark on {servers}; {} cores; {employees} employees, cohort {cohort}",
        measure::num_cpus()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("  (keeping {})", dir.path().display());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{}", &id[..8]);
    let config = write_config(dir.path(), &servers, &prefix, Fanout::Realistic);
    let run = Run {
        servers: &servers,
        config: &config,
        log: &dir.path().join("engine.log"),
        topic: format!("{prefix}.events"),
        group: format!("{prefix}-engine"),
    };
    create_topics(&config);

    let rate = run.hire(employees);
    let metrics = free_addr();
    let mut restarted = restart(&config, run.log, &metrics);
    println!("  restore:        {}", restarted.summary());
    let pending = settle(
        &metrics,
        "provisioner_timers_pending",
        (employees / 2) as f64,
    );
    println!(
        "                  provisioner_timers_pending {pending} (expected {}); targets: < 20 s, < 600 MB",
        employees / 2
    );

    run.fire(&metrics, restarted.engine.id(), employees, cohort, rate);
    terminate(&mut restarted.engine);
    if std::env::var_os("BENCH_KEEP").is_some() {
        let _ = dir.keep();
    } else {
        delete_topics(&config, &[]);
    }
}

/// One run's topics, configuration and engine log.
struct Run<'a> {
    servers: &'a str,
    config: &'a Path,
    log: &'a Path,
    topic: String,
    group: String,
}

impl Run<'_> {
    /// Step 1: produces the hires and has an engine process them from an
    /// empty state; returns its rate in events/s.
    fn hire(&self, employees: usize) -> f64 {
        let started = Instant::now();
        let base = Utc::now() + chrono::Duration::days(30);
        let mut hires = Hires::default();
        produce(self.servers, &self.topic, employees, |i| {
            // Every second employee leaves 30 to 60 days from now, a few
            // to the second (7919 is prime: the seconds spread evenly).
            let end = (i % 2 == 1).then(|| {
                let spread = (i as i64 * 7919) % (30 * 86_400);
                instant(base + chrono::Duration::seconds(spread))
            });
            hires.event(i, end.as_deref())
        });
        println!(
            "\nhires produced in {:.1} s, half with an end date",
            started.elapsed().as_secs_f64()
        );

        let started = Instant::now();
        let mut engine = spawn(self.config, self.log, "bench-0", ANY_PORT);
        wait_committed(self.servers, &self.group, &self.topic, employees as i64);
        let secs = started.elapsed().as_secs_f64();
        let (peak, cpu) = (rss_peak_mb(engine.id()), cpu_secs(engine.id()));
        terminate(&mut engine);
        let b = batches(self.log);
        let rate = employees as f64 / secs;
        println!(
            "  engine:         {secs:>7.1} s  {rate:>9.0} events/s  {:.1} commands/event; \
             engine CPU {cpu:.1} s = {:.1} µs/event; peak RSS {peak:.0} MB (start-up included)",
            b.commands as f64 / employees as f64,
            cpu * 1e6 / employees as f64,
        );
        rate
    }

    /// Step 2: a cohort leaves at one instant; measures the firing.
    fn fire(&self, metrics: &str, pid: u32, employees: usize, cohort: usize, rate: f64) {
        // Far enough ahead for the engine to have processed the cohort's
        // events (three times as long as step 1's rate says) before it.
        let lead = (3.0 * cohort as f64 / rate).max(10.0) + 5.0;
        let at = Utc::now() + chrono::Duration::milliseconds((lead * 1e3) as i64);
        let at = DateTime::from_timestamp(at.timestamp() + 1, 0).unwrap_or(at);
        let end = instant(at);
        let leaves = |k: usize| {
            let id = employee_id(2 * k);
            let value = serde_json::json!({
                "specversion": "1.0", "id": format!("left-{k}"), "source": "hris://bench",
                "type": "hr.employee.left", "time": "2026-11-27T09:00:00Z", "subject": id,
                "data": {"sequence": 2, "employee": {"id": id, "end_date": end}}
            });
            (id, value.to_string())
        };
        produce(self.servers, &self.topic, cohort, leaves);
        wait_committed(
            self.servers,
            &self.group,
            &self.topic,
            (employees + cohort) as i64,
        );
        let pending = settle(
            metrics,
            "provisioner_timers_pending",
            (employees / 2 + cohort) as f64,
        );
        let early = (at - Utc::now()).as_seconds_f64();
        println!(
            "\n{cohort} leave at {end}: their events processed {early:.1} s before it; \
             provisioner_timers_pending {pending}"
        );
        if early <= 0.0 {
            println!("  (late: the instant passed before the events were processed; the figures below are off)");
        }

        std::thread::sleep((at - Utc::now()).to_std().unwrap_or_default());
        let (fired_before, cpu_before) = (log_count(self.log, "Timers fired."), cpu_secs(pid));
        let machine = CpuUse::start();
        let deadline = Instant::now() + Duration::from_secs(3600);
        let fired_total = |text: &str| metric(text, "provisioner_timers_fired_total");
        let text = loop {
            let text = scrape(metrics);
            if fired_total(&text).unwrap_or(0.0) >= cohort as f64 {
                break text;
            }
            assert!(Instant::now() < deadline, "the timers did not fire");
            std::thread::sleep(Duration::from_millis(20));
        };
        let seen = (Utc::now() - at).as_seconds_f64();
        let cpu = cpu_secs(pid) - cpu_before;
        let machine = machine.report(seen, 0);
        let rounds = Rounds::read(self.log, fired_before, at);
        // Interpolated within a bucket (as Prometheus does), so at most the
        // largest delay observed, which the log lines give exactly.
        let delay = |q: f64| {
            quantile(&text, "provisioner_timer_delay_seconds", q)
                .map_or(f64::NAN, |d| d.min(rounds.max_delay))
        };
        println!(
            "  firing:         {:>7.1} s  {:>9.0} timers/s (to the last \"Timers fired.\" line; \
             {seen:.1} s to provisioner_timers_fired_total = {})",
            rounds.secs,
            rounds.timers as f64 / rounds.secs.max(1e-3),
            fired_total(&text).unwrap_or(0.0),
        );
        println!(
            "                  {} rounds, {} commands, {} held; delay p50 {:.2} s, p99 {:.2} s, \
             max {:.2} s; engine CPU {cpu:.1} s = {:.1} µs/timer ({:.2} cores); {machine}",
            rounds.count,
            rounds.commands,
            rounds.held,
            delay(0.5),
            delay(0.99),
            rounds.max_delay,
            cpu * 1e6 / cohort as f64,
            cpu / seen.max(1e-3),
        );
        let [lookup, decide, guard, commit] = rounds.split_ms.map(|ms| ms as f64 / 1e3);
        println!(
            "                  rounds' time: state lookups {lookup:.2} s, decide {decide:.2} s, \
             guard {guard:.2} s, commit (encode, transactions, store) {commit:.2} s"
        );
        println!(
            "                  provisioner_timers_pending after: {}",
            settle(
                metrics,
                "provisioner_timers_pending",
                (employees / 2) as f64
            )
        );
    }
}

/// The engine's "Timers fired." lines after the first `skip`, summed.
#[derive(Debug, Default)]
struct Rounds {
    count: usize,
    timers: u64,
    commands: u64,
    held: u64,
    max_delay: f64,
    /// From the instant to the last line.
    secs: f64,
    /// The rounds' time split, summed: lookups, decisions, guard, commit.
    split_ms: [u64; 4],
}

impl Rounds {
    fn read(log: &Path, skip: usize, from: DateTime<Utc>) -> Rounds {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut r = Rounds::default();
        for line in text
            .lines()
            .filter(|l| l.contains("Timers fired."))
            .skip(skip)
        {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            r.count += 1;
            r.timers += n("timers");
            r.commands += n("commands");
            r.held += n("held");
            for (sum, key) in r.split_ms.iter_mut().zip(SPLIT) {
                *sum += n(key);
            }
            r.max_delay = r
                .max_delay
                .max(v["max_delay_seconds"].as_f64().unwrap_or(0.0));
            if let Some(at) = v["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            {
                r.secs = r.secs.max((at - from).as_seconds_f64());
            }
        }
        r
    }
}

/// The time split of a "Timers fired." line.
const SPLIT: [&str; 4] = ["lookup_ms", "decide_ms", "guard_ms", "commit_ms"];

/// An RFC 3339 instant to the second, as HR would write it.
fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Waits (at most [`SETTLE`]) until a gauge reads `expected`; returns what
/// it read last.
fn settle(metrics: &str, series: &str, expected: f64) -> f64 {
    let deadline = Instant::now() + SETTLE;
    loop {
        let value = metric(&scrape(metrics), series).unwrap_or(f64::NAN);
        if value == expected || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
