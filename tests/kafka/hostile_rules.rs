//! Hostile rule files dropped into a running engine's rules directory: the
//! engine process stays up within bounded memory, counts the reload as
//! refused and keeps deciding with its last good rules.

use serde_json::json;

use crate::harness::*;
use crate::support::Process;

/// Address-space cap of the engine process: a regression must fail the
/// test fast, not take the machine's memory (the alias bomb once aborted the
/// engine only after growing to the size of the host's memory). The engine
/// maps about 2.3 GB of address space at rest (thread stacks, allocator
/// reservations, librdkafka), so this leaves it under 2 GB to grow.
const CAP_BYTES: u64 = 4_000_000_000;

/// Peak RSS allowed for the engine through the whole test (issue #11).
const MAX_RSS_KB: u64 = 100 * 1024;

/// Starts `provisioner engine` with `config` under [`CAP_BYTES`] and waits
/// for its telemetry. `python3` sets the cap and then becomes the engine
/// (`exec`: same pid), as std has no `setrlimit`.
fn capped_engine(config: &std::path::Path) -> Process {
    const EXEC: &str = "import os, resource, sys
cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
os.execv(sys.argv[2], sys.argv[2:])";
    let mut command = tool("python3", "Debian's `python3` package");
    command
        .args(["-c", EXEC, &CAP_BYTES.to_string()])
        .arg(env!("CARGO_BIN_EXE_provisioner"))
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "engine"])
        .current_dir(root())
        .env("PROVISIONER_INSTANCE_ID", unique("hostile"))
        .env_remove("KAFKA_BOOTSTRAP_SERVERS");
    Process::start(command)
}

/// The engine's metrics text, failing the test if it has exited.
async fn metrics(engine: &mut Process) -> String {
    engine.assert_running();
    engine.get("/metrics").await.1
}

/// The process's peak resident set so far (`VmHWM`), in kB.
fn peak_rss_kb(engine: &Process) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", engine.pid()))
        .expect("/proc status of the engine");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// Waits until the engine's `provisioner_rules_reloads_total{result="refused"}` is `count`.
async fn wait_refused(engine: &mut Process, count: f64) {
    let series = "provisioner_rules_reloads_total{result=\"refused\"}";
    let url = format!("http://{}/metrics", engine.addr);
    wait_for(&format!("{series} is {count}"), || {
        engine.assert_running();
        let url = url.clone();
        async move {
            let response = reqwest::get(url).await.expect("scrape /metrics");
            let text = response.text().await.expect("metrics text");
            (metric(&text, series) == Some(count)).then_some(())
        }
    })
    .await;
}

/// Waits until the engine has committed `count` input records.
async fn wait_processed(engine: &mut Process, config: &provisioner::config::Config, count: i64) {
    let servers = &config.kafka.bootstrap_servers;
    wait_until(&format!("{count} committed records"), || {
        engine.assert_running();
        committed_total(servers, &config.kafka.group_id, &config.topics.events) >= count
    })
    .await;
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
    let mut engine = capped_engine(&write_config(&config, config_dir.path()));

    produce(&servers, &config.topics.events, &hire("E1")).await;
    wait_processed(&mut engine, &config, 1).await;
    assert_decided_by_the_first_rules(&servers, &config, "E1", &version);

    // The bomb next to the good rules: the whole new directory is refused.
    let bomb = root().join("tests/fixtures/rules/alias_bomb/bomb.yaml");
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
    let text = metrics(&mut engine).await;
    let series = format!("provisioner_rules_version_info{{version=\"{version}\"}}");
    assert_eq!(metric(&text, &series), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "provisioner_rules_reloads_total{result=\"applied\"}"),
        Some(0.0)
    );
    produce(&servers, &config.topics.events, &hire("E2")).await;
    wait_processed(&mut engine, &config, 2).await;
    assert_decided_by_the_first_rules(&servers, &config, "E2", &version);

    engine.assert_running();
    let peak = peak_rss_kb(&engine);
    eprintln!("engine peak RSS through the test: {peak} kB");
    assert!(peak < MAX_RSS_KB, "engine peak RSS {peak} kB");
    engine.stop();
    delete_topics(&config, &[]).await;
}
