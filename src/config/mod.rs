//! The configuration file (SPEC §9): one TOML file, validated once at start-up.
//!
//! Every key has a default except the app essentials; unknown keys are refused
//! so a typo never silently falls back to a default. Values that parse but make
//! no sense (zero partitions, a role map naming a role the app lacks) are
//! rejected here, with the file, key and value in the message, so nothing past
//! this module has to re-check them.

mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use secrets::{SecretSource, SecretValue};

/// Everything that can be wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: cannot read configuration: {source}")]
    Read {
        /// The file we tried to read.
        path: PathBuf,
        /// Why the read failed.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file at fault.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// A value that parsed but is not acceptable.
    #[error("{path}: `{key}` = {value}: {reason}")]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// The dotted key at fault, e.g. `apps.slack.leaver`.
        key: String,
        /// The offending value as written.
        value: String,
        /// What is expected instead.
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Broker connection and topic creation.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// Topic names.
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Where the rules live.
    #[serde(default)]
    pub rules: RulesConfig,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The mass-deprovision guard.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// Input limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Engine tuning.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Connector process tuning (shared by every app's worker).
    #[serde(default)]
    pub connector: ConnectorConfig,
    /// The app catalogue: one entry per app, keyed by the name rules use.
    #[serde(default)]
    pub apps: BTreeMap<String, AppConfig>,
}

/// `[kafka]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list; `KAFKA_BOOTSTRAP_SERVERS` overrides it.
    pub bootstrap_servers: String,
    /// The engine's consumer group; connectors use `<group_id>-<app>`.
    pub group_id: String,
    /// Create missing topics at start-up.
    pub create_topics: bool,
    /// Partition count of topics we create.
    pub partitions: i32,
    /// Replication factor of topics we create.
    pub replication_factor: i32,
    /// Passed to librdkafka as-is (TLS, SASL, tuning).
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets, read from an
    /// environment variable (`{ env = "NAME" }`) or a file (`{ file = "PATH" }`)
    /// by [`KafkaConfig::resolve_secrets`]; see `config/secrets.rs`.
    pub secret_properties: BTreeMap<String, SecretSource>,
    /// The resolved values of `secret_properties` (never in the file).
    #[serde(skip)]
    pub secrets: BTreeMap<String, SecretValue>,
}

impl KafkaConfig {
    /// Reads the values of `secret_properties` from their variables or
    /// files. Called once at start-up by every command that talks to Kafka;
    /// the error names the property and the variable or file, never a value.
    pub fn resolve_secrets(&mut self, path: &Path) -> Result<(), ConfigError> {
        self.secrets =
            secrets::resolve(&self.secret_properties).map_err(|p| ConfigError::Invalid {
                path: path.to_path_buf(),
                key: format!("kafka.secret_properties.{:?}", p.property),
                value: p.source.to_string(),
                reason: p.reason,
            })?;
        Ok(())
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            group_id: "provisioner-engine".into(),
            create_topics: true,
            partitions: 6,
            replication_factor: 1,
            properties: BTreeMap::new(),
            secret_properties: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

/// `[topics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// HR events in.
    pub events: String,
    /// Prefix of the per-app command topics; the app name is appended.
    pub commands_prefix: String,
    /// The engine's compacted state changelog.
    pub state: String,
    /// Connector results.
    pub results: String,
    /// Operator requests to the engine (release or discard held deprovisions).
    pub control: String,
    /// HR events that could not be processed.
    pub events_dlq: String,
    /// Commands that could not be applied.
    pub commands_dlq: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            events: "hr.employee.events".into(),
            commands_prefix: "provisioning.commands.".into(),
            state: "provisioning.state".into(),
            results: "provisioning.results".into(),
            control: "provisioning.control".into(),
            events_dlq: "provisioning.events.dlq".into(),
            commands_dlq: "provisioning.commands.dlq".into(),
        }
    }
}

impl TopicsConfig {
    /// The command topic of one app.
    pub fn commands(&self, app: &str) -> String {
        format!("{}{}", self.commands_prefix, app)
    }
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Directory of rule YAML files, relative to the working directory.
    pub path: PathBuf,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            path: PathBuf::from("config/rules"),
        }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `host:port`; unset means the process default (engine 9464, connector 9465).
    pub listen: Option<String>,
    /// How often consumer lag is measured (and the broker checked for
    /// `/readyz`), in milliseconds.
    pub lag_interval_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            lag_interval_ms: 5_000,
        }
    }
}

/// `[safety]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// Hold deprovisions beyond this many from one rules change or batch.
    pub max_deprovisions: u64,
    /// Hold deprovisions beyond this share of an app's accounts.
    pub max_deprovision_ratio: f64,
    /// The ratio applies only to apps with at least this many accounts: one
    /// leaver out of three accounts is not a mass deprovision.
    pub ratio_min_accounts: u64,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            max_deprovisions: 50,
            max_deprovision_ratio: 0.2,
            ratio_min_accounts: 20,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Records larger than this are dead-lettered unread.
    pub max_event_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_event_bytes: 1024 * 1024,
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
    pub batch_max_ms: u64,
    /// This instance's name, unique in the group and stable across restarts:
    /// the transactional id is `<group_id>-<instance_id>`, so a restarted
    /// instance fences its previous self at once. Default: the host name.
    pub instance_id: Option<String>,
    /// How often the rules directory is checked for changes, in milliseconds.
    pub rules_reload_ms: u64,
    /// Employees re-evaluated per transaction after a rules change.
    pub reconcile_chunk: usize,
    /// While some app has no command topic on the broker, how often the
    /// engine looks again, in milliseconds (events needing that app are
    /// dead-lettered as `unknown_app` until it appears).
    pub topic_refresh_ms: u64,
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
    pub producer_linger_ms: u64,
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
            batch_max_ms: 200,
            instance_id: None,
            rules_reload_ms: 2000,
            reconcile_chunk: 1000,
            topic_refresh_ms: 30_000,
            consumer_queue_max_kbytes: 16 * 1024,
            consumer_fetch_max_bytes: 16 * 1024 * 1024,
            producer_queue_max_kbytes: 256 * 1024,
            producer_linger_ms: 20,
            producer_compression: "lz4".into(),
        }
    }
}

impl EngineConfig {
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
    pub shutdown_timeout_ms: u64,
    /// Records read ahead and held in memory per app before consumption is
    /// paused (back-pressure); consumption resumes at half this number.
    pub max_buffered_records: usize,
    /// How often finished offsets are committed, in milliseconds. A crash
    /// redoes at most this much work (harmless: commands are idempotent).
    pub commit_interval_ms: u64,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        ConnectorConfig {
            shutdown_timeout_ms: 10_000,
            max_buffered_records: 1_000,
            commit_interval_ms: 1_000,
        }
    }
}

/// Which connector implementation talks to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// SCIM 2.0 (RFC 7643/7644).
    Scim,
    /// Zendesk Support users API.
    Zendesk,
    /// A signed JSON POST.
    Webhook,
}

/// What happens to a leaver's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LeaverPolicy {
    /// Keep the account, inactive (reversible; the default).
    #[default]
    Suspend,
    /// Remove the account.
    Delete,
}

/// One app of the catalogue (`[apps.<name>]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The connector kind.
    pub connector: ConnectorKind,
    /// The app's API root.
    pub base_url: String,
    /// Name of the environment variable holding the token (never the token).
    pub token_env: Option<String>,
    /// Path of a file holding the token, as an alternative to `token_env`.
    pub token_file: Option<PathBuf>,
    /// Name of the environment variable holding the API user's e-mail (Zendesk).
    pub email_env: Option<String>,
    /// The app's roles, least privileged first.
    pub roles: Vec<String>,
    /// What happens to leavers.
    #[serde(default)]
    pub leaver: LeaverPolicy,
    /// Requests per second the connector may send.
    #[serde(default = "default_rate")]
    pub rate_limit_per_second: f64,
    /// Retry budget for transient failures.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Commands applied at once (different employees; one employee's
    /// commands are always applied one after the other, in order).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// When to treat failures as an outage of the whole app, and how to probe it.
    #[serde(default)]
    pub outage: OutageConfig,
    /// Our role name → the app's representation (Zendesk).
    #[serde(default)]
    pub role_map: BTreeMap<String, RoleMapping>,
}

fn default_rate() -> f64 {
    10.0
}

fn default_concurrency() -> usize {
    8
}

impl AppConfig {
    /// Privilege rank of a role (higher = more privileged), if the app has it.
    pub fn role_rank(&self, role: &str) -> Option<usize> {
        self.roles.iter().position(|r| r == role)
    }
}

/// `retry = { ... }` of an app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff delay.
    pub initial_delay_ms: u64,
    /// Longest backoff delay.
    pub max_delay_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 5,
            initial_delay_ms: 200,
            max_delay_ms: 30_000,
        }
    }
}

/// `outage = { ... }` of an app: an outage pauses the app's consumption
/// instead of dead-lettering every command while the app is down.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutageConfig {
    /// Detect outages from transient failures. When false, a run of
    /// transient failures never pauses the app and a command out of retries
    /// is dead-lettered without asking the app first; only `Unavailable`
    /// answers (401/403) still pause it.
    pub enabled: bool,
    /// Transient failures in a row, across all of the app's commands, that
    /// count as an outage (an `Unavailable` answer is one at once).
    pub consecutive_failures: u32,
    /// First delay between probes of a paused app.
    pub probe_initial_delay_ms: u64,
    /// Longest delay between probes of a paused app.
    pub probe_max_delay_ms: u64,
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            enabled: true,
            consecutive_failures: 5,
            probe_initial_delay_ms: 1_000,
            probe_max_delay_ms: 60_000,
        }
    }
}

/// How one of our roles looks in the app (Zendesk `role` + `custom_role_id`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// The app's built-in role.
    pub role: String,
    /// The app's custom role, e.g. Zendesk's light agent.
    pub custom_role_id: Option<u64>,
}

impl Config {
    /// Reads, parses and validates a configuration file, then applies
    /// `KAFKA_BOOTSTRAP_SERVERS` from the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(path, &text)?;
        if let Ok(servers) = std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
            if !servers.trim().is_empty() {
                config.kafka.bootstrap_servers = servers;
            }
        }
        Ok(config)
    }

    /// Parses and validates configuration text; `path` only labels errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: String, value: String, reason: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            value,
            reason: reason.to_string(),
        };
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return Err(bad(
                "kafka.bootstrap_servers".into(),
                "\"\"".into(),
                "must name at least one host:port",
            ));
        }
        if self.kafka.partitions < 1 {
            return Err(bad(
                "kafka.partitions".into(),
                self.kafka.partitions.to_string(),
                "must be at least 1",
            ));
        }
        if let Some(key) = self
            .kafka
            .secret_properties
            .keys()
            .find(|k| self.kafka.properties.contains_key(*k))
        {
            return Err(bad(
                format!("kafka.secret_properties.{key:?}"),
                format!("{key:?}"),
                "is also set in [kafka.properties]; set it in one place only",
            ));
        }
        if self.metrics.lag_interval_ms == 0 {
            return Err(bad(
                "metrics.lag_interval_ms".into(),
                "0".into(),
                "must be at least 1",
            ));
        }
        if self.kafka.replication_factor < 1 {
            return Err(bad(
                "kafka.replication_factor".into(),
                self.kafka.replication_factor.to_string(),
                "must be at least 1",
            ));
        }
        let ratio = self.safety.max_deprovision_ratio;
        if !(ratio > 0.0 && ratio <= 1.0) {
            return Err(bad(
                "safety.max_deprovision_ratio".into(),
                ratio.to_string(),
                "must be in (0, 1]",
            ));
        }
        if self.engine.reconcile_chunk == 0 {
            return Err(bad(
                "engine.reconcile_chunk".into(),
                "0".into(),
                "must be at least 1",
            ));
        }
        if self.connector.max_buffered_records == 0 {
            return Err(bad(
                "connector.max_buffered_records".into(),
                "0".into(),
                "must be at least 1",
            ));
        }
        if self.connector.commit_interval_ms == 0 {
            return Err(bad(
                "connector.commit_interval_ms".into(),
                "0".into(),
                "must be at least 1",
            ));
        }
        if self.engine.batch_max_records == 0 {
            return Err(bad(
                "engine.batch_max_records".into(),
                "0".into(),
                "must be at least 1",
            ));
        }
        for (name, app) in &self.apps {
            validate_app(name, app).map_err(|(key, value, reason)| {
                bad(format!("apps.{name}.{key}"), value, &reason)
            })?;
        }
        Ok(())
    }
}

/// Checks one app entry; returns (key, value, reason) of the first problem.
fn validate_app(name: &str, app: &AppConfig) -> Result<(), (String, String, String)> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        return Err((
            "".into(),
            format!("{name:?}"),
            "an app name may hold only letters, digits, '_' and '-' (it becomes a topic name)"
                .into(),
        ));
    }
    if !(app.base_url.starts_with("http://") || app.base_url.starts_with("https://")) {
        return Err((
            "base_url".into(),
            format!("{:?}", app.base_url),
            "must be an http:// or https:// URL".into(),
        ));
    }
    if app.roles.is_empty() {
        return Err((
            "roles".into(),
            "[]".into(),
            "must list at least one role".into(),
        ));
    }
    for (i, role) in app.roles.iter().enumerate() {
        if role.trim().is_empty() || app.roles[..i].contains(role) {
            return Err((
                "roles".into(),
                format!("{role:?}"),
                "roles must be non-empty and unique".into(),
            ));
        }
    }
    if !(app.rate_limit_per_second > 0.0 && app.rate_limit_per_second.is_finite()) {
        return Err((
            "rate_limit_per_second".into(),
            app.rate_limit_per_second.to_string(),
            "must be a positive number".into(),
        ));
    }
    if app.retry.max_attempts == 0 {
        return Err((
            "retry.max_attempts".into(),
            "0".into(),
            "must be at least 1".into(),
        ));
    }
    if app.retry.initial_delay_ms > app.retry.max_delay_ms {
        return Err((
            "retry.initial_delay_ms".into(),
            app.retry.initial_delay_ms.to_string(),
            "must not exceed retry.max_delay_ms".into(),
        ));
    }
    if app.concurrency == 0 {
        return Err((
            "concurrency".into(),
            "0".into(),
            "must be at least 1".into(),
        ));
    }
    if app.outage.consecutive_failures == 0 {
        return Err((
            "outage.consecutive_failures".into(),
            "0".into(),
            "must be at least 1".into(),
        ));
    }
    if app.outage.probe_initial_delay_ms == 0
        || app.outage.probe_initial_delay_ms > app.outage.probe_max_delay_ms
    {
        return Err((
            "outage.probe_initial_delay_ms".into(),
            app.outage.probe_initial_delay_ms.to_string(),
            "must be at least 1 and not exceed outage.probe_max_delay_ms".into(),
        ));
    }
    if let Some(role) = app.role_map.keys().find(|r| app.role_rank(r).is_none()) {
        return Err((
            format!("role_map.{role}"),
            format!("{role:?}"),
            format!("not one of the app's roles {:?}", app.roles),
        ));
    }
    if app.token_env.is_some() && app.token_file.is_some() {
        return Err((
            "token_file".into(),
            format!("{:?}", app.token_file),
            "set token_env or token_file, not both".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.toml"), text)
    }

    #[test]
    fn empty_file_gives_spec_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(c.kafka.group_id, "provisioner-engine");
        assert_eq!(c.kafka.partitions, 6);
        assert_eq!(
            c.topics.commands("zendesk"),
            "provisioning.commands.zendesk"
        );
        assert_eq!(c.safety.max_deprovisions, 50);
        assert_eq!(c.limits.max_event_bytes, 1 << 20);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("[kafka]\nbootstrap_server = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.toml"), "{err}");
        assert!(err.contains("bootstrap_server"), "{err}");
    }

    #[test]
    fn bad_leaver_is_named() {
        let err = parse(
            "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\nleaver = \"shred\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("shred"), "{err}");
    }

    #[test]
    fn role_map_must_use_known_roles() {
        let err = parse(
            "[apps.z]\nconnector = \"zendesk\"\nbase_url = \"http://x\"\nroles = [\"agent\"]\n[apps.z.role_map]\nboss = { role = \"admin\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("apps.z.role_map.boss"), "{err}");
    }

    #[test]
    fn zero_partitions_refused() {
        let err = parse("[kafka]\npartitions = 0\n").unwrap_err().to_string();
        assert!(
            err.contains("kafka.partitions") && err.contains('0'),
            "{err}"
        );
    }

    #[test]
    fn connector_defaults() {
        let c = parse("[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n")
            .unwrap();
        let app = &c.apps["a"];
        assert_eq!(app.concurrency, 8);
        assert_eq!(app.outage.consecutive_failures, 5);
        assert_eq!(app.outage.probe_initial_delay_ms, 1_000);
        assert_eq!(app.outage.probe_max_delay_ms, 60_000);
        assert_eq!(c.connector.shutdown_timeout_ms, 10_000);
        assert_eq!(c.connector.max_buffered_records, 1_000);
        assert_eq!(c.connector.commit_interval_ms, 1_000);
    }

    #[test]
    fn zero_concurrency_refused() {
        let err = parse(
            "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\nconcurrency = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("apps.a.concurrency"), "{err}");
    }

    #[test]
    fn outage_threshold_must_be_positive() {
        let err = parse(
            "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\noutage = { consecutive_failures = 0 }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("apps.a.outage.consecutive_failures"), "{err}");
    }

    #[test]
    fn secret_properties_resolve_from_files_and_name_missing_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "hunter2\n").unwrap();
        let text = format!(
            "[kafka.secret_properties]\n\"sasl.password\" = {{ file = {:?} }}\n",
            file.display().to_string()
        );
        let mut c = parse(&text).unwrap();
        c.kafka.resolve_secrets(Path::new("test.toml")).unwrap();
        assert_eq!(c.kafka.secrets["sasl.password"].expose(), "hunter2");
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "Debug hides the value"
        );

        let var = "PROVISIONER_CONFIG_TEST_UNSET_PASSWORD";
        let text =
            format!("[kafka.secret_properties]\n\"sasl.password\" = {{ env = \"{var}\" }}\n");
        let mut c = parse(&text).unwrap();
        let err = c
            .kafka
            .resolve_secrets(Path::new("test.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test.toml") && err.contains("sasl.password") && err.contains(var),
            "{err}"
        );
    }

    #[test]
    fn a_property_set_twice_is_refused() {
        let err = parse(
            "[kafka.properties]\n\"sasl.password\" = \"x\"\n[kafka.secret_properties]\n\"sasl.password\" = { env = \"P\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("sasl.password") && err.contains("one place"),
            "{err}"
        );
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../config/provisioner.toml");
        let c = parse(text).unwrap();
        assert!(!c.apps.is_empty());
    }
}
