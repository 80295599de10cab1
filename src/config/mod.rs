//! The configuration file (CONTRACT §9): one TOML file, validated once at start-up.
//!
//! Every key has a default except the app essentials; unknown keys are refused
//! so a typo never silently falls back to a default. Values that parse but make
//! no sense (zero partitions, a role map naming a role the app lacks) are
//! rejected here, with the file, key and value in the message, so nothing past
//! this module has to re-check them.
//!
//! This file holds the top-level [`Config`], loading and cross-section
//! validation; the sections are in `kafka.rs` (broker and topics), `engine.rs`
//! (process-wide tuning), `apps.rs` (the app catalogue) and `secrets.rs`.

mod apps;
mod engine;
mod kafka;
pub(crate) mod millis;
mod reconcile;
mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

pub use apps::{
    AppConfig, ConnectorKind, LeaverPolicy, OutageConfig, RetryConfig, RoleMapping,
    MAX_LIFECYCLE_OFFSET,
};
pub use engine::{
    ConnectorConfig, EngineConfig, LimitsConfig, MetricsConfig, RulesConfig, RulesSource,
    SafetyConfig,
};
pub use kafka::{KafkaConfig, TopicsConfig};
pub use reconcile::{
    CorrectionSetting, OrphanSetting, PatternProblem, ReconcileConfig, MAX_PAGE_SIZE,
};
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
    /// How HR dates are read (CONTRACT §3).
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// The app catalogue: one entry per app, keyed by the name rules use.
    #[serde(default)]
    pub apps: BTreeMap<String, AppConfig>,
}

/// `[lifecycle]`: the time zone of employees whose snapshot names none.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// An IANA zone name, e.g. `Europe/Madrid`; validated at load.
    pub default_time_zone: String,
    /// The zone as last parsed, with the name it was parsed from: every
    /// decision reads the zone, and parsing its name hashes it (#15).
    #[serde(skip)]
    parsed: OnceLock<(String, chrono_tz::Tz)>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            default_time_zone: "UTC".to_string(),
            parsed: OnceLock::new(),
        }
    }
}

impl LifecycleConfig {
    /// The default zone. Validated when the file was loaded; a config built
    /// in code with a bad name falls back to UTC.
    pub fn zone(&self) -> chrono_tz::Tz {
        let parse = || self.default_time_zone.parse().unwrap_or(chrono_tz::UTC);
        let (name, zone) = self
            .parsed
            .get_or_init(|| (self.default_time_zone.clone(), parse()));
        // The name is a public field: one changed since is parsed afresh.
        if *name == self.default_time_zone {
            *zone
        } else {
            parse()
        }
    }
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
        self.check_kafka_and_metrics()
            .and_then(|()| self.check_processes())
            .map_err(|(key, value, reason)| bad(key, value, &reason))?;
        for (name, app) in &self.apps {
            apps::validate_app(name, app).map_err(|(key, value, reason)| {
                bad(format!("apps.{name}.{key}"), value, &reason)
            })?;
        }
        Ok(())
    }

    /// `[kafka]` and `[metrics]`, in the order the first problem is named.
    fn check_kafka_and_metrics(&self) -> Result<(), Problem> {
        let kafka = &self.kafka;
        if kafka.bootstrap_servers.trim().is_empty() {
            return Err(problem(
                "kafka.bootstrap_servers",
                "\"\"",
                "must name at least one host:port",
            ));
        }
        if kafka.partitions < 1 {
            return Err(problem(
                "kafka.partitions",
                kafka.partitions.to_string(),
                "must be at least 1",
            ));
        }
        if let Some(key) = kafka
            .secret_properties
            .keys()
            .find(|k| kafka.properties.contains_key(*k))
        {
            return Err(problem(
                format!("kafka.secret_properties.{key:?}"),
                format!("{key:?}"),
                "is also set in [kafka.properties]; set it in one place only",
            ));
        }
        let metrics = &self.metrics;
        at_least_one(
            "metrics.lag_interval_ms",
            millis::of(metrics.lag_interval) == 0,
        )?;
        at_least_one(
            "metrics.header_timeout_ms",
            millis::of(metrics.header_timeout) == 0,
        )?;
        at_least_one(
            "metrics.idle_timeout_ms",
            millis::of(metrics.idle_timeout) == 0,
        )?;
        at_least_one("metrics.max_connections", metrics.max_connections == 0)?;
        if kafka.replication_factor < 1 {
            return Err(problem(
                "kafka.replication_factor",
                kafka.replication_factor.to_string(),
                "must be at least 1",
            ));
        }
        at_least_one("kafka.startup_timeout_ms", kafka.startup_timeout.is_zero())?;
        let zone = &self.lifecycle.default_time_zone;
        if zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(problem(
                "lifecycle.default_time_zone",
                format!("{zone:?}"),
                "not an IANA time zone name (e.g. \"Europe/Madrid\", \"UTC\")",
            ));
        }
        Ok(())
    }

    /// `[safety]`, `[engine]` and `[connector]`, in the order the first
    /// problem is named.
    fn check_processes(&self) -> Result<(), Problem> {
        let ratio = self.safety.max_deprovision_ratio;
        if !(ratio > 0.0 && ratio <= 1.0) {
            return Err(problem(
                "safety.max_deprovision_ratio",
                ratio.to_string(),
                "must be in (0, 1]",
            ));
        }
        if self.safety.window.is_zero() {
            return Err(problem(
                "safety.window_ms",
                "0",
                "must be at least 1 (milliseconds)",
            ));
        }
        at_least_one("engine.reconcile_chunk", self.engine.reconcile_chunk == 0)?;
        if self.engine.decide_threads > 64 {
            return Err(problem(
                "engine.decide_threads",
                self.engine.decide_threads.to_string(),
                "must be at most 64 (0: one per core)",
            ));
        }
        let connector = &self.connector;
        at_least_one(
            "connector.max_buffered_records",
            connector.max_buffered_records == 0,
        )?;
        at_least_one(
            "connector.commit_interval_ms",
            connector.commit_interval.is_zero(),
        )?;
        at_least_one(
            "engine.batch_max_records",
            self.engine.batch_max_records == 0,
        )
    }
}

/// A configuration problem: (key, value, reason), made into a
/// [`ConfigError::Invalid`] naming the file by [`Config::validate`].
type Problem = (String, String, String);

fn problem(key: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Problem {
    (key.into(), value.into(), reason.into())
}

/// `key` must be at least 1: a problem when its value is `zero`.
fn at_least_one(key: &str, zero: bool) -> Result<(), Problem> {
    if zero {
        Err(problem(key, "0", "must be at least 1"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
