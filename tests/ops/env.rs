//! What the operations tests share beyond `tests/support` (re-exported
//! here): a fresh configuration with its own topics and two webhook apps,
//! and producing HR events. The programmable app is `fake_app.rs`.
//!
//! A missing broker (or `promtool`, or the SASL broker script) is a loud
//! failure, never a skip: `deploy/local/kafka.sh up` starts the broker.

use crate::support::World;
use std::path::PathBuf;

pub use crate::support::{
    binary, bootstrap, event, metric, produce_with, root, wait_for, Namespace, Process, DEADLINE,
};

/// The rules of these tests: developers read the wiki; support edits it and
/// gets the CRM.
pub const RULES: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    wiki: { provisioning: true, role: reader }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    wiki: { provisioning: true, role: editor }
    crm: { provisioning: true, role: member }
"#;

/// A test's world: a directory with `provisioner.toml` and `rules/`, fresh
/// topic names and group, two webhook apps (`wiki`, `crm`) and a SCIM
/// directory reconciled every second (`dir`) at `app_url`.
pub struct Setup {
    /// Holds the files; deleted with the setup.
    pub dir: tempfile::TempDir,
    /// The configuration file.
    pub config: PathBuf,
    /// Its topics and group on the broker.
    pub ns: Namespace,
}

impl Setup {
    /// Writes the configuration; `kafka` is extra `[kafka]`-level TOML
    /// (e.g. properties), `servers` the broker.
    pub fn new(servers: &str, app_url: &str, kafka_extra: &str) -> Setup {
        let tables = format!(
            r#"[metrics]
lag_interval_ms = 200
[engine]
batch_max_ms = 50
rules_reload_ms = 100
[connector]
commit_interval_ms = 100
shutdown_timeout_ms = 2000
[apps.wiki]
connector = "webhook"
base_url = "{app_url}/wiki"
token_env = "OPS_TEST_WIKI_SECRET"
roles = ["reader", "editor"]
rate_limit_per_second = 1000
retry = {{ max_attempts = 3, initial_delay_ms = 10, max_delay_ms = 50 }}
outage = {{ consecutive_failures = 1, probe_initial_delay_ms = 100, probe_max_delay_ms = 200 }}
[apps.crm]
connector = "webhook"
base_url = "{app_url}/crm"
roles = ["member"]
rate_limit_per_second = 1000
retry = {{ max_attempts = 3, initial_delay_ms = 10, max_delay_ms = 50 }}
outage = {{ consecutive_failures = 3, probe_initial_delay_ms = 100, probe_max_delay_ms = 200 }}
[apps.dir]
connector = "scim"
base_url = "{app_url}/dir"
roles = ["member"]
rate_limit_per_second = 1000
reconcile = {{ interval_ms = 1000 }}
"#,
        );
        let World { dir, config, ns } = World::new(servers, RULES, kafka_extra, &tables);
        Setup { dir, config, ns }
    }

    /// A topic of this setup, e.g. `events` or `commands.wiki`.
    pub fn topic(&self, name: &str) -> String {
        self.ns.topic(name)
    }

    /// The rules directory.
    pub fn rules_dir(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// Starts `provisioner <args>` with this configuration on a free port,
    /// the wiki's secret in its environment.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut env = env.to_vec();
        env.insert(0, ("OPS_TEST_WIKI_SECRET", WIKI_SECRET));
        Process::spawn(&self.config, args, &env)
    }
}

/// The webhook secret the tests configure (it must never be logged).
pub const WIKI_SECRET: &str = "whsec-0p5-T0K3N-never-logged";

/// Produces `(key, value)` records and waits for their delivery; `extra`
/// are client properties (SASL).
pub async fn produce(
    servers: &str,
    extra: &[(&str, &str)],
    topic: &str,
    records: &[(&str, Vec<u8>)],
) {
    let keyed: Vec<(Option<&str>, Vec<u8>)> =
        records.iter().map(|(k, v)| (Some(*k), v.clone())).collect();
    produce_with(servers, extra, topic, &keyed).await;
}

/// A new hire's snapshot.
pub fn hire(id: &str, first: &str, last: &str, team: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "email": format!("{}.{}@acme.test", first.to_lowercase(), last.to_lowercase()),
        "first_name": first,
        "last_name": last,
        "team": team,
        "employment_type": "full_time",
    })
}
