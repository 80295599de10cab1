//! What the benches read back: the engine's log lines (batches, restore),
//! its /metrics, and resident memory and CPU time from `/proc`.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Cores this process may use.
pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Waits until the log holds `count` lines containing `needle`; returns the
/// `count`th, parsed.
pub fn wait_log(log: &Path, needle: &str, count: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        if let Some(line) = try_nth_log(log, needle, count) {
            return line;
        }
        assert!(Instant::now() < deadline, "no '{needle}' in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn nth_log(log: &Path, needle: &str, count: usize) -> serde_json::Value {
    try_nth_log(log, needle, count).unwrap_or_default()
}

pub fn log_count(log: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| l.contains(needle)).count()
}

pub fn try_nth_log(log: &Path, needle: &str, count: usize) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text.lines().filter(|l| l.contains(needle)).nth(count - 1)?;
    serde_json::from_str(line).ok()
}

/// The engine's "Batch committed." lines, summed.
#[derive(Debug, Default)]
pub struct Batches {
    pub count: u64,
    pub commands: u64,
    pub states: u64,
    pub decide_ms: u64,
    pub commit_ms: u64,
    pub store_ms: u64,
    /// Records after the first batch, and the time from the first batch's
    /// commit to the last's: the rate once started.
    pub steady_records: u64,
    pub steady_secs: f64,
}

pub fn batches(log: &Path) -> Batches {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut b = Batches::default();
    let mut first: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    for line in text.lines().filter(|l| l.contains("Batch committed.")) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        let at = v["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        match (first, at) {
            (None, Some(at)) => first = Some(at),
            (Some(start), Some(at)) => {
                b.steady_records += n("records");
                b.steady_secs = (at - start).num_milliseconds() as f64 / 1e3;
            }
            _ => {}
        }
        b.count += 1;
        b.commands += n("commands");
        b.states += n("states");
        b.decide_ms += n("decide_ms");
        b.commit_ms += n("commit_ms");
        b.store_ms += n("store_ms");
    }
    b
}

pub fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

pub fn rss_peak_mb(pid: u32) -> f64 {
    status_kb(pid, "VmHWM:") / 1024.0
}

/// User + system CPU time of a live process (all its threads), from
/// `/proc/PID/stat`: steadier than wall time on a machine the broker shares.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold
    // spaces): utime and stime are the 12th and 13th of them, in ticks.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    ticks / 100.0
}

/// CPU used during a phase: the whole machine's, and the local broker's
/// (its pid file from `deploy/local/kafka.sh`, or `BENCH_BROKER_PID`).
/// Shows what a phase is bounded by on a machine the broker shares.
pub struct CpuUse {
    machine: f64,
    broker: f64,
    pid: Option<u32>,
}

impl CpuUse {
    pub fn start() -> CpuUse {
        let pid = std::env::var("BENCH_BROKER_PID")
            .ok()
            .or_else(|| {
                let file = concat!(env!("CARGO_MANIFEST_DIR"), "/.local/kafka/kafka.pid");
                std::fs::read_to_string(file).ok()
            })
            .and_then(|p| p.trim().parse().ok());
        CpuUse {
            machine: machine_busy_secs(),
            broker: pid.map_or(0.0, cpu_secs),
            pid,
        }
    }

    pub fn broker_secs(&self) -> f64 {
        self.pid.map_or(0.0, cpu_secs) - self.broker
    }

    /// "machine busy X of N cores, broker Y cores[, Z µs per record]".
    pub fn report(&self, secs: f64, records: usize) -> String {
        let busy = (machine_busy_secs() - self.machine) / secs;
        let broker = self.broker_secs();
        let mut text = format!(
            "machine busy {busy:.2} of {} cores, broker {:.2} cores",
            num_cpus(),
            broker / secs
        );
        if records > 0 {
            text += &format!(
                " ({:.1} µs per record copied)",
                broker * 1e6 / records as f64
            );
        }
        text
    }
}

/// Busy CPU time of the whole machine (all but idle and iowait), from
/// `/proc/stat`.
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: f64 = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 3 | 4) && *i < 8)
        .map(|(_, v)| v)
        .sum();
    busy / 100.0
}

pub fn rss_mb(pid: u32) -> f64 {
    status_kb(pid, "VmRSS:") / 1024.0
}

/// The text of `GET /metrics` at `addr` (plain HTTP/1.0: no client needed);
/// empty when the engine does not answer.
pub fn scrape(addr: &str) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_string())
}

/// The `q` quantile of histogram `name` in a scrape, interpolated linearly
/// within its bucket (as Prometheus' `histogram_quantile` does); `None`
/// while it has no observations.
pub fn quantile(text: &str, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let (le, count) = l.strip_prefix(&prefix)?.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let share = (rank - below) / (count - below).max(1e-9);
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, count);
    }
    None
}

/// The machine's load averages (`/proc/loadavg`: 1, 5 and 15 minutes), to
/// say how busy it was before a run.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<&str> = text.split_whitespace().take(3).collect();
    format!("load average {}", loads.join(", "))
}

/// How many topics the broker holds: thousands of leftover partitions slow
/// every run, so the benches print it.
pub fn topic_count(servers: &str) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .expect("consumer");
    consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .map_or(0, |m| m.topics().len())
}
