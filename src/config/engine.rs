//! Process-wide tuning sections: `[engine]`, `[connector]`, `[rules]`,
//! `[metrics]`, `[safety]` and `[limits]`. Each is a flat list of knobs with
//! defaults; per-app settings live in `apps.rs`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Directory of rule YAML files, relative to the working directory:
    /// the engine's rules with `source = "dir"`, and the default of
    /// `--rules` in the `rules` subcommands.
    pub path: PathBuf,
    /// Where the engine takes its rules from.
    pub source: RulesSource,
}

/// `rules.source`: where the engine's rules live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RulesSource {
    /// `rules.path`, watched on the engine's own disk (local development).
    #[default]
    Dir,
    /// The rules topic (`topics.rules`): versions written by `rules
    /// publish`, the same sequence for every instance.
    Kafka,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            path: PathBuf::from("config/rules"),
            source: RulesSource::Dir,
        }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `host:port`; unset means the process default (engine 9464, connector 9465).
    pub listen: Option<String>,
    /// How often consumer lag is measured, in milliseconds.
    #[serde(
        rename = "lag_interval_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub lag_interval: Duration,
    /// How long a client may take to send a request's headers, from its
    /// first byte; a slow or stalled client is disconnected after it.
    #[serde(
        rename = "header_timeout_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub header_timeout: Duration,
    /// How long a connection may sit idle (keep-alive, or stalled mid
    /// response) before it is closed.
    #[serde(
        rename = "idle_timeout_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub idle_timeout: Duration,
    /// Most connections served at once; further ones wait in the listen
    /// backlog until one closes.
    pub max_connections: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            lag_interval: Duration::from_millis(5_000),
            header_timeout: Duration::from_millis(5_000),
            idle_timeout: Duration::from_millis(30_000),
            max_connections: 64,
        }
    }
}

/// `[safety]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// Hold deprovisions beyond this many in one rules change, or emitted
    /// within `window_ms` (events and rules changes together).
    pub max_deprovisions: u64,
    /// Hold deprovisions beyond this share of an app's accounts.
    pub max_deprovision_ratio: f64,
    /// The ratio applies only to apps with at least this many accounts: one
    /// leaver out of three accounts is not a mass deprovision.
    pub ratio_min_accounts: u64,
    /// The rolling window the thresholds apply to, in milliseconds: what the
    /// guard let through in the last `window_ms` counts against them, so a
    /// trickle of leavers is judged like a flood.
    #[serde(rename = "window_ms", deserialize_with = "super::millis::deserialize")]
    pub window: Duration,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            max_deprovisions: 50,
            max_deprovision_ratio: 0.2,
            ratio_min_accounts: 20,
            window: Duration::from_millis(3_600_000),
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Records larger than this are dead-lettered unread.
    pub max_event_bytes: usize,
    /// Largest dead-letter record (key, value and headers) the engine writes;
    /// a larger copy is written without its value (`dlq.value.dropped`).
    /// At start-up the engine lowers it to what the producer
    /// (`message.max.bytes`) and the events DLQ topic (`max.message.bytes`)
    /// accept; unset, that is the value.
    pub max_dead_letter_bytes: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_event_bytes: 1024 * 1024,
            max_dead_letter_bytes: None,
        }
    }
}

/// `[engine]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Most records handled in one batch (one commit).
    pub batch_max_records: usize,
    /// Longest a batch stays open, in milliseconds.
    #[serde(
        rename = "batch_max_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub batch_max: Duration,
    /// This instance's name, unique in the group and stable across restarts:
    /// the transactional id is `<group_id>-<instance_id>`, so a restarted
    /// instance fences its previous self at once. Default: the host name.
    pub instance_id: Option<String>,
    /// How often the rules directory is checked for changes, in milliseconds.
    #[serde(
        rename = "rules_reload_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub rules_reload: Duration,
    /// Employees re-evaluated per transaction after a rules change.
    pub reconcile_chunk: usize,
    /// Threads that decide and serialise a batch (split by employee); 0,
    /// the default, is one per core, at most 4. The transaction itself is
    /// one producer's either way.
    pub decide_threads: usize,
    /// While some app has no command topic on the broker, how often the
    /// engine looks again, in milliseconds (events needing that app are
    /// dead-lettered as `unknown_app` until it appears).
    #[serde(
        rename = "topic_refresh_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub topic_refresh: Duration,
    /// How long the engine may hold partitions without committing a batch
    /// (while input waits) before `/readyz` says it is stuck, in milliseconds.
    #[serde(rename = "stall_ms", deserialize_with = "super::millis::deserialize")]
    pub stall: Duration,
    /// Most records the engine's consumers prefetch, in kilobytes
    /// (librdkafka `queued.max.messages.kbytes`, whose own default is 64 MB).
    pub consumer_queue_max_kbytes: u64,
    /// Most bytes one fetch returns (librdkafka `fetch.max.bytes`, default
    /// 50 MB): with the prefetch bound, what input costs in memory.
    pub consumer_fetch_max_bytes: u64,
    /// Most records waiting in the transactional producer, in kilobytes
    /// (librdkafka `queue.buffering.max.kbytes`, default 1 GB). A full queue
    /// only slows the batch down; it never fails it.
    pub producer_queue_max_kbytes: u64,
    /// How long the producer waits to fill a batch (librdkafka `linger.ms`).
    /// A transaction's commit flushes whatever is waiting, so this trades
    /// nothing but request count.
    #[serde(
        rename = "producer_linger_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub producer_linger: Duration,
    /// Compression of what the engine writes (librdkafka `compression.type`:
    /// `none`, `gzip`, `snappy`, `lz4`, `zstd`). `lz4` costs little CPU and
    /// shrinks the JSON commands several times, on the wire and on disk.
    pub producer_compression: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            // A transaction costs a few broker round trips and a marker per
            // partition written, whatever its size: thousands of records
            // amortise that (500 gave a third of the throughput).
            batch_max_records: 5000,
            batch_max: Duration::from_millis(200),
            instance_id: None,
            rules_reload: Duration::from_millis(2000),
            reconcile_chunk: 1000,
            decide_threads: 0,
            topic_refresh: Duration::from_millis(30_000),
            stall: Duration::from_millis(60_000),
            consumer_queue_max_kbytes: 16 * 1024,
            consumer_fetch_max_bytes: 16 * 1024 * 1024,
            producer_queue_max_kbytes: 256 * 1024,
            producer_linger: Duration::from_millis(20),
            producer_compression: "lz4".into(),
        }
    }
}

impl EngineConfig {
    /// [`EngineConfig::decide_threads`] resolved: configured, else one per
    /// core (at most 4; more is beyond what a batch's size repays).
    pub fn decide_threads(&self) -> usize {
        match self.decide_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4),
            n => n,
        }
    }

    /// The instance id: configured, else `PROVISIONER_INSTANCE_ID`, else
    /// `HOSTNAME`, else the kernel's host name.
    pub fn instance_id(&self) -> String {
        if let Some(id) = &self.instance_id {
            return id.clone();
        }
        std::env::var("PROVISIONER_INSTANCE_ID")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "local".to_string())
    }
}

/// `[connector]`: how the connector process consumes, commits and stops.
/// Per-app behaviour (rate, retries, concurrency, outages) lives under
/// `[apps.<name>]`; these are process-wide.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorConfig {
    /// On SIGTERM, how long in-flight app calls may take to finish before
    /// they are abandoned (their commands stay uncommitted and are redone by
    /// the next owner), in milliseconds.
    #[serde(
        rename = "shutdown_timeout_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub shutdown_timeout: Duration,
    /// Records read ahead and held in memory per app before consumption is
    /// paused (back-pressure); consumption resumes at half this number.
    pub max_buffered_records: usize,
    /// How often finished offsets are committed, in milliseconds. A crash
    /// redoes at most this much work (harmless: commands are idempotent).
    #[serde(
        rename = "commit_interval_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub commit_interval: Duration,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        ConnectorConfig {
            shutdown_timeout: Duration::from_millis(10_000),
            max_buffered_records: 1_000,
            commit_interval: Duration::from_millis(1_000),
        }
    }
}
