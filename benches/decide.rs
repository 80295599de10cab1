//! Micro-benchmark of the pure decision (#15; not a timed test, it prints
//! figures): `engine::decide::decide` for `BENCH_HIRES` hires (default
//! 100,000) of the engine bench's employees against its 100 rules and 20
//! apps, each from no state, as a new employee's first event is. No broker,
//! no parsing, no serialising: only the decision (and freeing it).
//!
//!     cargo bench --bench decide
//!
//! It prints µs per hire for `decide` (the public function, which copies
//! the event) and for `decide_from` (the engine's hot path, which takes the
//! event's snapshot), each the median of `BENCH_ROUNDS` rounds (default 7).
//! `BENCH_FANOUT=heavy` uses the heavy fan-out. Results go in
//! docs/BENCHMARKS.md.

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
        let started = Instant::now();
        for event in &events {
            black_box(decide(None, event, &rules, &config, now));
        }
        started.elapsed().as_secs_f64()
    });
    let hot = median(rounds, || {
        // The engine's path moves each event's snapshot into the state; the
        // copies it starts from are made outside the clock.
        let mut owned = events.clone();
        let started = Instant::now();
        for event in &mut owned {
            black_box(decide_from(None, event, &rules, &config, now));
        }
        let secs = started.elapsed().as_secs_f64();
        drop(owned);
        secs
    });
    for (name, secs) in [("decide", public), ("decide_from", hot)] {
        println!(
            "  {name:<12} {:>6.2} µs/hire  ({:.0} hires/s on one thread)",
            secs * 1e6 / n as f64,
            n as f64 / secs
        );
    }
}

/// The median of `rounds` runs of `f` (each returning seconds).
fn median(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut secs: Vec<f64> = (0..rounds).map(|_| f()).collect();
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}
