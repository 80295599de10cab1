//! Secure Kafka: the engine on a broker that requires SASL/SCRAM-SHA-256,
//! with the password from `[kafka.secret_properties]` (an environment
//! variable or a file). The broker is started here by
//! `deploy/local/kafka-sasl.sh up` (second broker, ports 19094/19095).

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::env::*;
use crate::fake_app::*;

const USER: &str = "provisioner";
const PASSWORD: &str = "provisioner-local-secret";

/// Starts (or reuses) the SASL broker once per test binary; fails loudly.
fn sasl_broker() -> String {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| {
            let script = root().join("deploy/local/kafka-sasl.sh");
            let out = Command::new(&script)
                .arg("up")
                .env_remove("KAFKA_SASL_PORT")
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                out.status.success(),
                "deploy/local/kafka-sasl.sh up failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .clone()
}

fn client_props() -> [(&'static str, &'static str); 4] {
    [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", USER),
        ("sasl.password", PASSWORD),
    ]
}

fn kafka_extra(secret: &str) -> String {
    format!(
        "[kafka.properties]\n\"security.protocol\" = \"sasl_plaintext\"\n\
         \"sasl.mechanism\" = \"SCRAM-SHA-256\"\n\"sasl.username\" = \"{USER}\"\n\
         [kafka.secret_properties]\n\"sasl.password\" = {secret}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_processes_events_over_sasl_scram() {
    let servers = sasl_broker();
    let app = FakeApp::start().await;
    let setup = Setup::new(
        &servers,
        &app.url,
        &kafka_extra("{ env = \"OPS_KAFKA_PASSWORD\" }"),
    );
    let engine = setup.spawn(&["engine"], &[("OPS_KAFKA_PASSWORD", PASSWORD)]);
    wait_for("engine ready over SASL", || async {
        (engine.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let records = vec![
        (
            "S1",
            event("s1", "hired", 1, hire("S1", "Sam", "Secure", "Development")),
        ),
        (
            "S2",
            event("s2", "hired", 1, hire("S2", "Sue", "Secure", "Support")),
        ),
    ];
    produce(&servers, &client_props(), &setup.topic("events"), &records).await;
    let text = wait_for("2 events turned into commands", || async {
        let (_, text) = engine.get("/metrics").await;
        let wiki = "provisioner_commands_emitted_total{app=\"wiki\",action=\"upsert\"}";
        (metric(&text, wiki) == Some(2.0)).then_some(text)
    })
    .await;
    assert_eq!(
        metric(
            &text,
            "provisioner_commands_emitted_total{app=\"crm\",action=\"upsert\"}"
        ),
        Some(1.0)
    );
    let log = engine.stop();
    assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");
}

#[test]
fn wrong_credentials_fail_fast_naming_authentication() {
    let servers = sasl_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("kafka-password");
    std::fs::write(&secret, "not-the-password\n").expect("secret file");
    let setup = Setup::new(
        &servers,
        "http://127.0.0.1:1",
        &kafka_extra(&format!("{{ file = {:?} }}", secret.display().to_string())),
    );
    let started = Instant::now();
    let engine = setup.spawn(&["engine"], &[]);
    let (code, log) = engine.wait_exit(Duration::from_secs(30));
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{log}");
    let last = log.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: Kafka at 127.0.0.1:")
            && last.contains("authentication failed")
            && last.contains("sasl.password"),
        "{last}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?} to fail");
    assert!(
        !log.contains("not-the-password"),
        "the password was logged:\n{log}"
    );
}

#[test]
fn a_missing_secret_variable_is_named_before_connecting() {
    let setup = Setup::new(
        "127.0.0.1:1",
        "http://127.0.0.1:1",
        &kafka_extra("{ env = \"OPS_TEST_NEVER_SET_PASSWORD\" }"),
    );
    let out = binary()
        .arg("--config")
        .arg(&setup.config)
        .arg("engine")
        .output()
        .expect("provisioner");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kafka.secret_properties")
            && err.contains("sasl.password")
            && err.contains("OPS_TEST_NEVER_SET_PASSWORD")
            && err.contains("is not set"),
        "{err}"
    );
}
