//! The app catalogue (`[apps.<name>]`): which connector talks to each app,
//! its roles, and how hard to push it (rate, retries, concurrency, outages).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::reconcile::{self, ReconcileConfig};
use super::{at_least_one, problem, Problem};

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
    /// How long before an employee's start date the account is made (a
    /// laptop set up the Friday before); zero: at the start of the start date.
    #[serde(
        default,
        rename = "pre_start_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub pre_start: Duration,
    /// How long after the end of the last working day the account stays
    /// (a handover); zero: access ends when the end date does.
    #[serde(
        default,
        rename = "post_end_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub post_end: Duration,
    /// How reconciliation reads the app and which accounts it leaves alone.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// Read each account back after applying a command, and dead-letter a
    /// command that did not take (`verify_failed`) after one more try: for
    /// apps that answer success and ignore a field. One extra read per
    /// command; not for webhook apps, which cannot be read.
    #[serde(default)]
    pub verify: bool,
}

/// The longest `pre_start_ms` / `post_end_ms`: a year. Longer is a typo, and
/// keeps every date arithmetic far from chrono's limits.
pub const MAX_LIFECYCLE_OFFSET: Duration = Duration::from_secs(366 * 24 * 3600);

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
    #[serde(
        rename = "initial_delay_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub initial_delay: Duration,
    /// Longest backoff delay.
    #[serde(
        rename = "max_delay_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 5,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_millis(30_000),
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
    #[serde(
        rename = "probe_initial_delay_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub probe_initial_delay: Duration,
    /// Longest delay between probes of a paused app.
    #[serde(
        rename = "probe_max_delay_ms",
        deserialize_with = "super::millis::deserialize"
    )]
    pub probe_max_delay: Duration,
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            enabled: true,
            consecutive_failures: 5,
            probe_initial_delay: Duration::from_millis(1_000),
            probe_max_delay: Duration::from_millis(60_000),
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

/// Checks one app entry; returns (key, value, reason) of the first problem.
pub(super) fn validate_app(name: &str, app: &AppConfig) -> Result<(), Problem> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        return Err(problem(
            "",
            format!("{name:?}"),
            "an app name may hold only letters, digits, '_' and '-' (it becomes a topic name)",
        ));
    }
    if !(app.base_url.starts_with("http://") || app.base_url.starts_with("https://")) {
        return Err(problem(
            "base_url",
            format!("{:?}", app.base_url),
            "must be an http:// or https:// URL",
        ));
    }
    check_roles(app)?;
    check_pacing(app)?;
    if let Some(role) = app.role_map.keys().find(|r| app.role_rank(r).is_none()) {
        return Err(problem(
            format!("role_map.{role}"),
            format!("{role:?}"),
            format!("not one of the app's roles {:?}", app.roles),
        ));
    }
    for (key, offset) in [
        ("pre_start_ms", app.pre_start),
        ("post_end_ms", app.post_end),
    ] {
        if offset > MAX_LIFECYCLE_OFFSET {
            return Err(problem(
                key,
                super::millis::of(offset).to_string(),
                "must be at most 31622400000 (366 days)",
            ));
        }
    }
    reconcile::validate(&app.reconcile, app.connector == ConnectorKind::Webhook)?;
    if app.verify && app.connector == ConnectorKind::Webhook {
        return Err(problem(
            "verify",
            "true",
            "a webhook app cannot be read back; verify needs a scim or zendesk app",
        ));
    }
    if app.token_env.is_some() && app.token_file.is_some() {
        return Err(problem(
            "token_file",
            format!("{:?}", app.token_file),
            "set token_env or token_file, not both",
        ));
    }
    Ok(())
}

/// `roles` non-empty and unique, and `role_map` naming only those roles.
fn check_roles(app: &AppConfig) -> Result<(), Problem> {
    if app.roles.is_empty() {
        return Err(problem("roles", "[]", "must list at least one role"));
    }
    for (i, role) in app.roles.iter().enumerate() {
        if role.trim().is_empty() || app.roles[..i].contains(role) {
            return Err(problem(
                "roles",
                format!("{role:?}"),
                "roles must be non-empty and unique",
            ));
        }
    }
    Ok(())
}

/// The rate limit, retries, concurrency and outage detection.
fn check_pacing(app: &AppConfig) -> Result<(), Problem> {
    if !(app.rate_limit_per_second > 0.0 && app.rate_limit_per_second.is_finite()) {
        return Err(problem(
            "rate_limit_per_second",
            app.rate_limit_per_second.to_string(),
            "must be a positive number",
        ));
    }
    at_least_one("retry.max_attempts", app.retry.max_attempts == 0)?;
    if app.retry.initial_delay > app.retry.max_delay {
        return Err(problem(
            "retry.initial_delay_ms",
            super::millis::of(app.retry.initial_delay).to_string(),
            "must not exceed retry.max_delay_ms",
        ));
    }
    at_least_one("concurrency", app.concurrency == 0)?;
    at_least_one(
        "outage.consecutive_failures",
        app.outage.consecutive_failures == 0,
    )?;
    if app.outage.probe_initial_delay.is_zero()
        || app.outage.probe_initial_delay > app.outage.probe_max_delay
    {
        return Err(problem(
            "outage.probe_initial_delay_ms",
            super::millis::of(app.outage.probe_initial_delay).to_string(),
            "must be at least 1 and not exceed outage.probe_max_delay_ms",
        ));
    }
    Ok(())
}
