//! Micro-benchmark of the pure decision (#15; not a timed test, it prints
//! figures): `engine::decide::decide` for `BENCH_HIRES` hires (default
//! 100,000) of the engine bench's employees against its 100 rules and 20
//! apps, each from no state, as a new employee's first event is. No broker,
//! no parsing, no serialising: only the decision (and freeing it).
//!
//!     cargo bench --bench decide
//!
//! It prints µs per hire for `decide` (the public function, which borrows
//! the event) and for `decide_from` (the engine's hot path, which takes the
//! event's snapshot), each the median of `BENCH_ROUNDS` rounds (default 7),
//! in wall time and in the thread's CPU time (`/proc/thread-self/schedstat`):
//! on a shared machine the wall time includes waiting for a core, the CPU
//! time does not, so compare changes on it.
//! `BENCH_FANOUT=heavy` uses the heavy fan-out. Results go in
//! docs/BENCHMARKS.md.
//!
//! `BENCH_DUMP=<file>` first writes every decision of a fixed scenario —
//! each hire, then for every tenth employee a change, a leave (immediate or
//! dated) and the timer after it — as its commands' JSON and its state's
//! changelog bytes (hex), one line each: two builds' files must be equal
//! byte for byte (a refactoring of `decide` changes no output).

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Utc};
use provisioner::config::Config;
use provisioner::engine::decide::{decide, decide_from};
use provisioner::events::{self, HrEvent};
use provisioner::rules::RuleSet;

// Shared with the engine bench: its rules, apps and employees.
#[allow(dead_code)]
#[path = "engine/measure.rs"]
mod measure;
#[allow(dead_code)]
#[path = "engine/setup.rs"]
mod setup;

use setup::{write_config, Fanout, Hires};

// As in the engine's binary: the allocator is part of what a decision costs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let knob = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    let n = knob("BENCH_HIRES", 100_000);
    let rounds = knob("BENCH_ROUNDS", 7).max(1);
    let fanout = match std::env::var("BENCH_FANOUT").as_deref() {
        Ok("heavy") => Fanout::Heavy,
        _ => Fanout::Realistic,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // No broker is contacted: the config only names one.
    let path = write_config(dir.path(), "127.0.0.1:9092", "decide-bench", fanout);
    let config = Config::load(&path).expect("bench config");
    let rules = RuleSet::load_dir(&config.rules.path, &config.apps).expect("bench rules");
    let mut hires = Hires::default();
    let events: Vec<HrEvent> = (0..n)
        .map(|i| {
            let (key, value) = hires.event(i, None);
            events::parse(
                Some(key.as_bytes()),
                value.as_bytes(),
                config.limits.max_event_bytes,
            )
            .expect("a valid hire")
        })
        .collect();
    // After the hires' start date (2026-12-01): every granted app is active.
    let now: DateTime<Utc> = "2026-12-02T09:00:00Z".parse().expect("an instant");
    if let Ok(path) = std::env::var("BENCH_DUMP") {
        dump(&path, &events, &rules, &config, now);
    }
    let commands: usize = events
        .iter()
        .map(|e| decide(None, e, &rules, &config, now).commands.len())
        .sum();
    println!(
        "decide benchmark: {n} hires ({fanout:?} fan-out, {:.1} commands each), 100 rules, 20 apps; \
         median of {rounds} rounds",
        commands as f64 / n as f64
    );

    let public = median(rounds, || {
        let clock = Clock::start();
        for event in &events {
            black_box(decide(None, event, &rules, &config, now));
        }
        clock.stop()
    });
    let hot = median(rounds, || {
        // The engine's path moves each event's snapshot into the state; the
        // copies it starts from are made outside the clock.
        let mut owned = events.clone();
        let clock = Clock::start();
        for event in &mut owned {
            black_box(decide_from(None, event, &rules, &config, now));
        }
        let secs = clock.stop();
        drop(owned);
        secs
    });
    for (name, (wall, cpu)) in [("decide", public), ("decide_from", hot)] {
        println!(
            "  {name:<12} {:>6.2} µs/hire  ({:.0} hires/s on one thread), CPU {:.2} µs/hire",
            wall * 1e6 / n as f64,
            n as f64 / wall,
            cpu * 1e6 / n as f64,
        );
    }
}

/// Writes the decisions of the scenario described above to `path`.
fn dump(path: &str, hires: &[HrEvent], rules: &RuleSet, config: &Config, now: DateTime<Utc>) {
    use provisioner::engine::decide::{reconcile, Trigger, SCHEDULE_DUE};
    use provisioner::engine::state::{codec, EmployeeState};
    use std::io::Write;

    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("dump file"));
    let mut write = |state: &EmployeeState, commands: &[provisioner::commands::Command]| {
        for command in commands {
            serde_json::to_writer(&mut out, command).expect("write");
            writeln!(out).expect("write");
        }
        writeln!(out, "{}", hex::encode(codec::encode(state))).expect("write");
    };
    let event = |i: usize, kind: &str, seq: u32, data: serde_json::Value| {
        let id = setup::employee_id(i);
        let mut data = data;
        data["employee"]["id"] = id.clone().into();
        data["sequence"] = seq.into();
        let value = serde_json::json!({
            "specversion": "1.0", "id": format!("{kind}-{i}"), "source": "hris://bench",
            "type": format!("hr.employee.{kind}"), "time": "2026-11-27T09:00:00Z",
            "subject": id, "data": data,
        });
        events::parse(Some(id.as_bytes()), value.to_string().as_bytes(), 1 << 20)
            .expect("a valid event")
    };
    for (i, hire) in hires.iter().enumerate() {
        let hired = decide(None, hire, rules, config, now);
        write(&hired.state, &hired.commands);
        if i % 10 != 0 {
            continue;
        }
        let change = event(
            i,
            "changed",
            2,
            serde_json::json!({"employee": {
                "team": format!("Team{:02}", (i / 10) % 50), "job_title": "Lead Engineer",
                "last_name": null, "email": format!("{i}@other.test")
            }}),
        );
        let changed = decide(Some(&hired.state), &change, rules, config, now);
        write(&changed.state, &changed.commands);
        let leave = if i % 20 == 0 {
            serde_json::json!({"immediate": true, "employee": {}})
        } else {
            serde_json::json!({"employee": {"end_date": "2026-12-31"}})
        };
        let left = decide(
            Some(&changed.state),
            &event(i, "left", 3, leave),
            rules,
            config,
            now,
        );
        write(&left.state, &left.commands);
        let mut state = left.state;
        if let Some(due) = state.due {
            let at = due.to_rfc3339();
            let trigger = Trigger {
                event_id: &at,
                event_type: SCHEDULE_DUE,
            };
            let fired = reconcile(&mut state, rules, config, &trigger, due);
            write(&state, &fired.commands);
        }
    }
}

/// Wall and thread CPU time since it started.
struct Clock {
    wall: Instant,
    cpu: f64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: thread_cpu_secs(),
        }
    }

    /// (wall seconds, CPU seconds).
    fn stop(self) -> (f64, f64) {
        (
            self.wall.elapsed().as_secs_f64(),
            thread_cpu_secs() - self.cpu,
        )
    }
}

/// This thread's CPU time: the first field of its schedstat (nanoseconds).
fn thread_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: f64 = stat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("schedstat's run time");
    ns / 1e9
}

/// The medians of `rounds` runs of `f` (each returning wall and CPU
/// seconds), each taken on its own.
fn median(rounds: usize, mut f: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    let runs: Vec<(f64, f64)> = (0..rounds).map(|_| f()).collect();
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        mid(runs.iter().map(|r| r.0).collect()),
        mid(runs.iter().map(|r| r.1).collect()),
    )
}
