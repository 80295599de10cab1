//! The rules store on a real broker (issue #14): `rules publish`, `history`,
//! `show`, `diff` and `rollback` run as the built binary; engines with
//! `rules.source = "kafka"` as processes (`EngineProcess`), each test on its
//! own topics.

mod engines;
mod publishing;

use std::path::{Path, PathBuf};
use std::process::Output;

use provisioner::config::{Config, RulesSource};
use serde_json::json;

use crate::harness::*;

/// Dev Team gets Slack as admins instead of members.
pub const RULES_ADMINS: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    zendesk: { provisioning: true, role: light_agent }
    slack: { provisioning: true, role: admin }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { provisioning: true, role: agent }
    slack: { provisioning: true, role: member }
"#;

/// A test's world: a namespaced configuration with the store as the rules
/// source, written to a file the binary reads, and a scratch directory.
pub struct Store {
    pub config: Config,
    pub file: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Store {
    /// A fresh world with `partitions` per topic.
    pub fn new(partitions: i32) -> Store {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(partitions);
        config.rules.source = RulesSource::Kafka;
        config.rules.path = dir.path().join("unused-rules");
        config.engine.batch_max = std::time::Duration::from_millis(50);
        let file = write_config(&config, dir.path());
        Store { config, file, dir }
    }

    /// Runs `provisioner --config FILE ARGS…`.
    pub fn cli(&self, args: &[&str]) -> Output {
        binary()
            .arg("--config")
            .arg(&self.file)
            .args(["--log-format", "json"])
            .args(args)
            .output()
            .expect("run provisioner")
    }

    /// A new directory `name` holding `text` as `rules.yaml`.
    pub fn rules_dir(&self, name: &str, text: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("rules.yaml"), text).expect("write rules");
        dir
    }

    /// `rules publish` of `text`, which must succeed; its version.
    pub fn publish(&self, name: &str, text: &str, message: &str) -> String {
        let dir = self.rules_dir(name, text);
        let out = self.cli(&[
            "rules",
            "publish",
            "--rules",
            &dir.to_string_lossy(),
            "--message",
            message,
            "--author",
            "tester",
        ]);
        let stdout = text_of(&out.stdout);
        assert!(
            out.status.success(),
            "publish failed: {stdout}\n{}",
            text_of(&out.stderr)
        );
        let version = version_of(text);
        assert!(
            stdout.contains(&format!(
                "published {version} to {}",
                self.config.topics.rules
            )),
            "{stdout}"
        );
        version
    }

    /// An engine process of this world as instance `instance`.
    pub fn engine(&self, instance: &str) -> EngineProcess {
        EngineProcess::spawn(&self.file, instance, &self.log(instance))
    }

    /// Where instance `instance` logs.
    pub fn log(&self, instance: &str) -> PathBuf {
        self.dir.path().join(format!("{instance}.log"))
    }

    /// How many records the rules topic holds (0 when it does not exist).
    pub fn stored_records(&self) -> usize {
        let topic = &self.config.topics.rules;
        match provisioner::kafka::partition_count(&self.config, topic).expect("metadata") {
            0 => 0,
            _ => read_all(&self.config.kafka.bootstrap_servers, topic).len(),
        }
    }

    /// Produces hires of `(id, team)`, keyed by id, and waits until the
    /// engine has committed `total` events in all.
    pub async fn hire(&self, who: &[(&str, &str)], total: i64) {
        let records: Vec<(Option<&str>, Vec<u8>)> = who
            .iter()
            .map(|(id, team)| {
                let employee = json!({
                    "id": id, "email": format!("{id}@acme.test"), "first_name": "T",
                    "last_name": id, "team": team
                });
                (
                    Some(*id),
                    event(&format!("hire-{id}"), "hired", 1, employee),
                )
            })
            .collect();
        let (servers, t) = (&self.config.kafka.bootstrap_servers, &self.config.topics);
        produce(servers, &t.events, &records).await;
        wait_committed(servers, &self.config.kafka.group_id, &t.events, total).await;
    }

    /// The committed commands of `app`.
    pub fn commands(&self, app: &str) -> Vec<serde_json::Value> {
        commands_of(&self.config.kafka.bootstrap_servers, &self.config, app)
    }

    /// Waits until `app` has a command for which `pred` holds; returns all.
    pub async fn wait_command(
        &self,
        what: &str,
        app: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        wait_for(what, || async {
            let all = self.commands(app);
            all.iter().any(&pred).then_some(all)
        })
        .await
    }

    /// Deletes this world's topics.
    pub async fn cleanup(&self) {
        delete_topics(
            &self.config,
            std::slice::from_ref(&self.config.topics.rules),
        )
        .await;
    }
}

/// The rules version of `text` as the only file `rules.yaml` under the test
/// catalogue: what publishing it names.
pub fn version_of(text: &str) -> String {
    let apps = Config::parse(Path::new("t.toml"), CATALOGUE)
        .expect("catalogue")
        .apps;
    rules(text, &apps).version().to_string()
}

/// Output bytes as text.
pub fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `cause.rules_version` of a command.
pub fn version_in(command: &serde_json::Value) -> &str {
    command["cause"]["rules_version"]
        .as_str()
        .expect("rules_version")
}

/// Whether a command is `employee`'s, with `role` (`None`: a deprovision).
pub fn is(command: &serde_json::Value, employee: &str, role: Option<&str>) -> bool {
    command["employee_id"] == employee
        && match role {
            Some(role) => command["action"] == "upsert" && command["role"] == role,
            None => command["action"] == "deprovision",
        }
}
