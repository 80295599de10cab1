//! The Kafka suite's harness: the engine and connector workers in-process,
//! their configuration on a fresh [`Namespace`], and reading the topics.
//! What every suite shares (the broker, waiting, metrics, the SCIM server)
//! is `tests/support`, re-exported here.
//!
//! Every test gets its own topic names and consumer groups (random suffix), so
//! tests share one broker and run in parallel. A missing broker is a loud
//! failure, never a skip: start it with `deploy/local/kafka.sh up`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use provisioner::commands::{Account, Action, Cause, Command};
use provisioner::config::{AppConfig, Config, OutageConfig, RetryConfig};
use provisioner::connector::build::build;
use provisioner::connector::Connector;
use provisioner::rules::RuleSet;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod process;
mod worker;
pub use process::*;
pub use worker::*;

pub use crate::support::{
    binary, bootstrap, closed_port, event, metric, produce_with, read_all, root, tool, unique,
    wait_for, wait_until, Namespace, ScimServer, DEADLINE,
};

/// The app catalogue of the tests: a SCIM app and a Zendesk-like app.
pub const CATALOGUE: &str = r#"
[apps.slack]
connector = "scim"
base_url = "http://127.0.0.1:1"
roles = ["member", "admin"]
leaver = "suspend"

[apps.zendesk]
connector = "zendesk"
base_url = "http://127.0.0.1:1"
roles = ["end_user", "light_agent", "agent", "admin"]
leaver = "delete"
"#;

/// The rules of the tests.
pub const RULES: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    zendesk: { provisioning: true, role: light_agent }
    slack: { provisioning: true, role: member }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { provisioning: true, role: agent }
    slack: { provisioning: true, role: member }
"#;

/// A configuration with fresh topic names and group id on the test broker.
pub fn config(partitions: i32) -> Config {
    let mut config = Config::parse(Path::new("test.toml"), CATALOGUE).expect("catalogue");
    config.kafka.bootstrap_servers = bootstrap();
    let ns = Namespace::new();
    config.kafka.group_id = ns.group("engine");
    config.kafka.partitions = partitions;
    let t = &mut config.topics;
    t.events = ns.topic("events");
    t.commands_prefix = ns.topic("commands.");
    t.state = ns.topic("state");
    t.results = ns.topic("results");
    t.control = ns.topic("control");
    t.events_dlq = ns.topic("events.dlq");
    t.commands_dlq = ns.topic("commands.dlq");
    t.rules = ns.topic("rules");
    config
}

/// Compiles rules text against a catalogue.
pub fn rules(text: &str, apps: &BTreeMap<String, AppConfig>) -> RuleSet {
    RuleSet::from_sources(&[("rules.yaml".into(), text.to_string())], apps).expect("rules")
}

/// The engine running in this process.
pub struct RunningEngine {
    /// The engine's metrics.
    pub metrics: std::sync::Arc<provisioner::metrics::Metrics>,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), provisioner::engine::EngineError>>,
    /// Stops the engine when a failing test drops it unstopped: its loop
    /// would otherwise keep the runtime, and the test, from ever ending.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl RunningEngine {
    /// Starts the engine (it creates its topics itself).
    pub fn start(config: &Config, rules: RuleSet) -> RunningEngine {
        let shutdown = CancellationToken::new();
        let metrics = std::sync::Arc::new(provisioner::metrics::Metrics::new());
        let handle = tokio::spawn(provisioner::engine::run(
            config.clone(),
            rules,
            metrics.clone(),
            shutdown.clone(),
        ));
        RunningEngine {
            metrics,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            handle,
        }
    }

    /// Stops it as SIGTERM would and checks that it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(DEADLINE, self.handle)
            .await
            .expect("engine did not stop in time")
            .expect("engine task panicked");
        result.expect("engine returned an error");
    }
}

/// Produces records (key, value) to a topic and waits for their delivery.
pub async fn produce(servers: &str, topic: &str, records: &[(Option<&str>, Vec<u8>)]) {
    produce_with(servers, &[], topic, records).await;
}

/// Waits until `group` has committed, summed over the topic's partitions,
/// at least `count` records of `topic`: everything before is fully processed.
pub async fn wait_committed(servers: &str, group: &str, topic: &str, count: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut committed = 0;
        if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            let mut tpl = TopicPartitionList::new();
            for p in md.topics().iter().flat_map(|t| t.partitions()) {
                tpl.add_partition(topic, p.id());
            }
            if let Ok(offsets) = consumer.committed_offsets(tpl, Duration::from_secs(5)) {
                for e in offsets.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        committed += o;
                    }
                }
            }
        }
        if committed >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group {group} committed only {committed} of {count} records of {topic}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A record's value as JSON.
pub fn json(m: &OwnedMessage) -> serde_json::Value {
    serde_json::from_slice(m.payload().expect("payload")).expect("json payload")
}

/// A record's header as text.
pub fn header(m: &OwnedMessage, key: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The commands of one app, as JSON, in partition and offset order.
pub fn commands_of(servers: &str, config: &Config, app: &str) -> Vec<serde_json::Value> {
    read_all(servers, &config.topics.commands(app))
        .iter()
        .map(json)
        .collect()
}

/// A rules directory holding `text` as `rules.yaml`, set as the config's
/// rules path, checked every 100 ms.
pub fn rules_dir(config: &mut Config, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), text).expect("write rules");
    config.rules.path = dir.path().to_path_buf();
    config.engine.rules_reload = std::time::Duration::from_millis(100);
    dir
}

/// The configuration as a TOML file, for engine processes. Telemetry is
/// served on a free port, so processes of parallel tests never collide.
pub fn write_config(config: &Config, dir: &Path) -> std::path::PathBuf {
    let t = &config.topics;
    let properties: String = config
        .kafka
        .properties
        .iter()
        .map(|(k, v)| format!("{k:?} = {v:?}\n"))
        .collect();
    let text = format!(
        "[kafka]\nbootstrap_servers = {:?}\ngroup_id = {:?}\npartitions = {}\n\
         [kafka.properties]\n{properties}\
         [topics]\nevents = {:?}\ncommands_prefix = {:?}\nstate = {:?}\nresults = {:?}\n\
         control = {:?}\nevents_dlq = {:?}\ncommands_dlq = {:?}\nrules = {:?}\n\
         [rules]\npath = {:?}\nsource = {:?}\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n\
         [engine]\nbatch_max_records = {}\nbatch_max_ms = {}\nrules_reload_ms = {}\n\
         [safety]\nmax_deprovisions = {}\nmax_deprovision_ratio = {}\nratio_min_accounts = {}\nwindow_ms = {}\n{CATALOGUE}",
        config.kafka.bootstrap_servers,
        config.kafka.group_id,
        config.kafka.partitions,
        t.events,
        t.commands_prefix,
        t.state,
        t.results,
        t.control,
        t.events_dlq,
        t.commands_dlq,
        t.rules,
        config.rules.path,
        match config.rules.source {
            provisioner::config::RulesSource::Dir => "dir",
            provisioner::config::RulesSource::Kafka => "kafka",
        },
        config.engine.batch_max_records,
        config.engine.batch_max.as_millis(),
        config.engine.rules_reload.as_millis(),
        config.safety.max_deprovisions,
        config.safety.max_deprovision_ratio,
        config.safety.ratio_min_accounts,
        config.safety.window.as_millis(),
    );
    let path = dir.join("provisioner.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Creates the configuration's topics, as the engine would at start-up.
pub async fn create_topics(config: &Config) {
    provisioner::kafka::ensure_topics(config, &provisioner::kafka::all_topics(config))
        .await
        .expect("create topics");
}

/// Creates topics (with `config.kafka.partitions` partitions) before a test
/// produces to them, so records are spread as the test expects.
pub async fn create_named_topics(config: &Config, names: &[String]) {
    let specs: Vec<provisioner::kafka::TopicSpec> = names
        .iter()
        .map(|name| provisioner::kafka::TopicSpec {
            name: name.clone(),
            compact: false,
        })
        .collect();
    provisioner::kafka::ensure_topics(config, &specs)
        .await
        .expect("create topics");
}

/// The offsets `group` has committed on each partition of `topic` (absent:
/// nothing committed there).
pub fn committed(servers: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics().iter().flat_map(|t| t.partitions()) {
        tpl.add_partition(topic, p.id());
    }
    let offsets = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    offsets
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// Waits until `topic` holds at least `count` committed records; returns them all.
pub async fn wait_records(servers: &str, topic: &str, count: usize) -> Vec<OwnedMessage> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let servers2 = servers.to_string();
        let topic2 = topic.to_string();
        let records = tokio::task::spawn_blocking(move || read_all(&servers2, &topic2))
            .await
            .expect("reader");
        if records.len() >= count {
            return records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic} holds {} records, expected {count}",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Members of a consumer group right now (0 when it does not exist).
pub fn group_members(servers: &str, group: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .expect("consumer");
    consumer
        .fetch_group_list(Some(group), Duration::from_secs(5))
        .map(|list| list.groups().iter().map(|g| g.members().len()).sum())
        .unwrap_or(0)
}

/// Sends the worker's and the engine's logs to the test's captured output
/// (shown when a test fails); `RUST_LOG` overrides the level.
pub fn init_test_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "provisioner=info".into()),
        )
        .try_init();
}

/// The sum of the offsets `group` has committed on `topic`: how many of its
/// records are fully processed (single-partition or summed).
pub fn committed_total(servers: &str, group: &str, topic: &str) -> i64 {
    committed(servers, group, topic).values().sum()
}

/// Deletes the configuration's topics (and any `extra`), so a passing test
/// leaves no partitions behind on the shared broker. Errors are ignored: a
/// topic the test never created is simply absent.
pub async fn delete_topics(config: &Config, extra: &[String]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = provisioner::kafka::client_config(config)
        .create()
        .expect("admin client");
    let mut names: Vec<String> = provisioner::kafka::all_topics(config)
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.extend(extra.iter().cloned());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let _ = admin
        .delete_topics(
            &names,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await;
}
