//! Hostile rule files dropped into a running engine's rules directory: the
//! engine process stays up within bounded memory, counts the reload as
//! refused and keeps deciding with its last good rules.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// Address-space cap of the engine process: a regression must fail the
/// test fast, not take the machine's memory (the alias bomb once aborted the
/// engine only after growing to the size of the host's memory). The engine
/// maps about 2.3 GB of address space at rest (thread stacks, allocator
/// reservations, librdkafka), so this leaves it under 2 GB to grow.
const CAP_BYTES: u64 = 4_000_000_000;

/// Peak RSS allowed for the engine through the whole test (issue #11).
const MAX_RSS_KB: u64 = 100 * 1024;

/// An engine process of the built binary, under [`CAP_BYTES`], its JSON
/// log collected.
struct CappedEngine {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// Where it serves /metrics.
    addr: String,
}

impl CappedEngine {
    /// Starts `provisioner engine` with `config` and waits for its telemetry
    /// address. `python3` sets the cap and then becomes the engine (`exec`:
    /// same pid), as std has no `setrlimit`.
    fn spawn(config: &std::path::Path) -> CappedEngine {
        const EXEC: &str = "import os, resource, sys
cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
os.execv(sys.argv[2], sys.argv[2:])";
        let mut child = Command::new("python3")
            .args(["-c", EXEC, &CAP_BYTES.to_string()])
            .arg(env!("CARGO_BIN_EXE_provisioner"))
            .arg("--config")
            .arg(config)
            .args(["--log-format", "json", "engine"])
            .env("PROVISIONER_INSTANCE_ID", unique("hostile"))
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is needed to cap the engine's memory");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut engine = CappedEngine {
            child,
            log,
            addr: String::new(),
        };
        let deadline = std::time::Instant::now() + DEADLINE;
        engine.addr = loop {
            let found = engine.lines().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "Serving /metrics, /healthz and /readyz.")
                    .then(|| v["addr"].as_str().map(String::from))?
            });
            if let Some(addr) = found {
                break addr;
            }
            engine.assert_running();
            assert!(
                std::time::Instant::now() < deadline,
                "no telemetry address:\n{}",
                engine.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        engine
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Fails the test, with the log, if the engine has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!("the engine exited ({status}):\n{}", self.lines().join("\n"));
        }
    }

    /// The engine's metrics text.
    async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .expect("scrape /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// The process's peak resident set so far (`VmHWM`), in kB.
    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status of the engine");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// SIGTERM; the engine must exit 0 within the deadline.
    async fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(status.expect("kill").success());
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "engine exited with {status} after SIGTERM"
                );
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "engine ignored SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for CappedEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the engine's `provisioner_rules_reloads_total{result="refused"}` is `count`.
async fn wait_refused(engine: &mut CappedEngine, count: f64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        engine.assert_running();
        let text = engine.metrics().await;
        if metric(&text, "provisioner_rules_reloads_total{result=\"refused\"}") == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for refused reload {count}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the engine has committed `count` input records.
async fn wait_processed(
    engine: &mut CappedEngine,
    config: &provisioner::config::Config,
    count: i64,
) {
    let servers = &config.kafka.bootstrap_servers;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while committed_total(servers, &config.kafka.group_id, &config.topics.events) < count {
        engine.assert_running();
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {count} committed records:\n{}",
            engine.lines().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Hires developer `id` (event sequence 1).
fn hire(id: &str) -> Vec<(Option<&str>, Vec<u8>)> {
    let employee = json!({"id": id, "email": format!("{id}@acme.test"), "first_name": "A", "last_name": id, "team": "Development"});
    vec![(Some(id), event(&format!("evt-{id}"), "hired", 1, employee))]
}

/// The Zendesk command for `id`: it exists once, with the first rules'
/// role and version.
fn assert_decided_by_the_first_rules(
    servers: &str,
    config: &provisioner::config::Config,
    id: &str,
    version: &str,
) {
    let zendesk: Vec<_> = commands_of(servers, config, "zendesk")
        .into_iter()
        .filter(|c| c["employee_id"] == id)
        .collect();
    assert_eq!(zendesk.len(), 1, "{zendesk:?}");
    assert_eq!(zendesk[0]["role"], "light_agent");
    assert_eq!(zendesk[0]["cause"]["rules_version"], version);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alias_bomb_or_a_huge_file_dropped_in_the_rules_dir_is_refused_and_the_engine_stays_up()
{
    let mut config = config(2);
    let dir = rules_dir(&mut config, RULES);
    let servers = config.kafka.bootstrap_servers.clone();
    let version = rules(RULES, &config.apps).version().to_string();
    let config_dir = tempfile::tempdir().unwrap();
    let mut engine = CappedEngine::spawn(&write_config(&config, config_dir.path()));

    produce(&servers, &config.topics.events, &hire("E1")).await;
    wait_processed(&mut engine, &config, 1).await;
    assert_decided_by_the_first_rules(&servers, &config, "E1", &version);

    // The bomb next to the good rules: the whole new directory is refused.
    let bomb = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rules/alias_bomb/bomb.yaml");
    std::fs::copy(bomb, dir.path().join("bomb.yaml")).unwrap();
    wait_refused(&mut engine, 1.0).await;
    let problem = format!(
        "{}:7: YAML anchors and aliases",
        dir.path().join("bomb.yaml").display()
    );
    assert!(
        engine.lines().iter().any(|l| l.contains(&problem)),
        "the refusal names the file and line:\n{}",
        engine.lines().join("\n")
    );

    // A 64 GiB (sparse) file instead: refused unread.
    std::fs::remove_file(dir.path().join("bomb.yaml")).unwrap();
    let huge = std::fs::File::create(dir.path().join("huge.yaml")).unwrap();
    huge.set_len(64 << 30).unwrap();
    wait_refused(&mut engine, 2.0).await;

    // Still the last good rules: the version in force and the next decision.
    let text = engine.metrics().await;
    let series = format!("provisioner_rules_version_info{{version=\"{version}\"}}");
    assert_eq!(metric(&text, &series), 1.0, "{text}");
    assert_eq!(
        metric(&text, "provisioner_rules_reloads_total{result=\"applied\"}"),
        0.0
    );
    produce(&servers, &config.topics.events, &hire("E2")).await;
    wait_processed(&mut engine, &config, 2).await;
    assert_decided_by_the_first_rules(&servers, &config, "E2", &version);

    engine.assert_running();
    let peak = engine.peak_rss_kb();
    eprintln!("engine peak RSS through the test: {peak} kB");
    assert!(peak < MAX_RSS_KB, "engine peak RSS {peak} kB");
    engine.terminate().await;
    delete_topics(&config, &[]).await;
}
