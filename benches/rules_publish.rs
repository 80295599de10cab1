//! What a `rules publish` simulation costs over a large population (#14).
//!
//! Not a timed test: it prints figures. Needs the broker
//! (`KAFKA_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092). Run with
//! `cargo bench --bench rules_publish`; `BENCH_EMPLOYEES` (default
//! 1,000,000) sets the population.
//!
//! It builds the population as the engine bench does (the same seeded hires,
//! 20 apps, 100 rules, 6 partitions, decided by a real engine process, which
//! is then stopped), publishes those rules to the store, then runs the
//! release binary's `rules publish --dry-run` with a change (Barcelona's
//! office rule moved to another city, one team's role raised) and measures
//! the whole command: wall time, CPU and peak RSS (`VmHWM`, read until it
//! exits). The command reads the rules topic, the whole state changelog,
//! and decides every employee twice.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "engine/measure.rs"]
mod measure;
#[allow(dead_code)]
#[path = "engine/setup.rs"]
mod setup;

use measure::{cpu_secs, num_cpus, rss_peak_mb};
use setup::{
    create_topics, delete_topics, produce, spawn, terminate, wait_committed, write_config, Fanout,
    Hires, ANY_PORT,
};

fn main() {
    let servers =
        std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let employees: usize = std::env::var("BENCH_EMPLOYEES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "rules publish benchmark on {servers}; {} cores; {employees} employees",
        num_cpus()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{}", &id[..8]);
    let config = write_config(dir.path(), &servers, &prefix, Fanout::Realistic);
    // The store on this run's own topic.
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "[topics]\n",
        &format!("[topics]\nrules = \"{prefix}.rules\"\n"),
    );
    std::fs::write(&config, text).expect("config");
    create_topics(&config);

    let started = Instant::now();
    let mut hires = Hires::default();
    let topic = format!("{prefix}.events");
    produce(&servers, &topic, employees, |i| hires.event(i, None));
    let log = dir.path().join("engine.log");
    let mut engine = spawn(&config, &log, "bench-0", ANY_PORT);
    wait_committed(
        &servers,
        &format!("{prefix}-engine"),
        &topic,
        employees as i64,
    );
    terminate(&mut engine);
    println!(
        "  population:   {employees} employees decided in {:.1} s (engine stopped)",
        started.elapsed().as_secs_f64()
    );

    let rules = dir.path().join("rules");
    let first = publish(&config, &rules, &[]);
    assert!(
        first.status_ok,
        "the first publish failed:\n{}",
        first.output
    );
    println!("  first publish (the running rules): {}", first.summary());

    let changed = dir.path().join("rules-changed");
    std::fs::create_dir_all(&changed).expect("dir");
    let text = std::fs::read_to_string(rules.join("rules.yaml")).expect("rules");
    let text = text
        .replace("value: Barcelona }", "value: Sevilla }")
        .replacen("{ role: member }", "{ role: admin }", 1);
    std::fs::write(changed.join("rules.yaml"), text).expect("rules");
    let dry = publish(&config, &changed, &["--dry-run"]);
    assert!(dry.status_ok, "the dry run failed:\n{}", dry.output);
    println!("  dry run of a change:               {}", dry.summary());
    for line in dry
        .output
        .lines()
        .filter(|l| l.starts_with("impact") || l.starts_with("  app"))
    {
        println!("    {line}");
    }
    delete_topics(&config, &[format!("{prefix}.rules")]);
}

/// One run of `rules publish`, measured.
struct Measured {
    status_ok: bool,
    output: String,
    secs: f64,
    cpu: f64,
    peak_mb: f64,
}

impl Measured {
    fn summary(&self) -> String {
        format!(
            "{:.1} s wall, {:.1} s CPU, peak RSS {:.0} MB",
            self.secs, self.cpu, self.peak_mb
        )
    }
}

/// Runs `provisioner rules publish --rules DIR` (plus `extra`), reading its
/// peak RSS and CPU time until it exits.
fn publish(config: &Path, rules: &Path, extra: &[&str]) -> Measured {
    let out = tempfile::NamedTempFile::new().expect("output file");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args([
            "--config",
            &config.to_string_lossy(),
            "--log-format",
            "json",
        ])
        .args(["rules", "publish", "--rules", &rules.to_string_lossy()])
        .args(["--message", "bench", "--author", "bench"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(out.reopen().expect("reopen"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("provisioner");
    let (mut peak_mb, mut cpu) = (0.0_f64, 0.0_f64);
    let status = loop {
        // VmHWM only grows: its last reading before the exit is the peak.
        peak_mb = peak_mb.max(rss_peak_mb(child.id()));
        cpu = cpu.max(cpu_secs(child.id()));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Measured {
        status_ok: status.success(),
        output: std::fs::read_to_string(out.path()).unwrap_or_default(),
        secs: started.elapsed().as_secs_f64(),
        cpu,
        peak_mb,
    }
}
