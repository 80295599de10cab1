//! `/readyz` follows the broker: a broker that goes away makes the engine
//! unready within about two seconds, with a reason, and ready again once it
//! is back. The shared broker must never be stopped, so this test starts a
//! private one of its own with `deploy/local/kafka.sh` (another state
//! directory and ports) and stops that.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::env::*;
use crate::fake_app::*;

const PORT: &str = "19096";
const CONTROLLER_PORT: &str = "19097";

/// The private broker; stopped when dropped, whatever the test did.
struct PrivateBroker;

impl PrivateBroker {
    fn script(action: &str) -> std::process::Output {
        let script = root().join("deploy/local/kafka.sh");
        Command::new(&script)
            .arg(action)
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env("KAFKA_STATE_DIR", root().join(".local/kafka-lossy"))
            .env("KAFKA_PORT", PORT)
            .env("KAFKA_CONTROLLER_PORT", CONTROLLER_PORT)
            .env("KAFKA_HEAP_OPTS", "-Xmx384m -Xms128m")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()))
    }

    /// Starts it (or finds it running); its bootstrap address.
    fn up() -> String {
        let out = PrivateBroker::script("up");
        assert!(
            out.status.success(),
            "deploy/local/kafka.sh up (port {PORT}) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn down() {
        let out = PrivateBroker::script("down");
        assert!(
            out.status.success(),
            "deploy/local/kafka.sh down (port {PORT}) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = PrivateBroker::script("down");
    }
}

fn port_open(addr: &SocketAddr) -> bool {
    TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_a_lost_broker_within_about_two_seconds() {
    let servers = PrivateBroker::up();
    let _broker = PrivateBroker;
    let app = FakeApp::start().await;
    let setup = Setup::new(&servers, &app.url, "");
    let engine = setup.spawn(&["engine"], &[]);
    wait_for("engine ready", || async {
        (engine.get("/readyz").await.0 == 200).then_some(())
    })
    .await;

    let down_started = Instant::now();
    let stopping = std::thread::spawn(PrivateBroker::down);
    let broker: SocketAddr = servers.parse().expect("broker address");
    let deadline = Instant::now() + DEADLINE;
    let mut gone: Option<Instant> = None;
    let (unready, body) = loop {
        let now = Instant::now();
        if gone.is_none() && !port_open(&broker) {
            gone = Some(now);
        }
        let (status, body) = engine.get("/readyz").await;
        if status == 503 {
            break (Instant::now(), body);
        }
        assert!(now < deadline, "/readyz stayed {status}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stopping.join().expect("kafka.sh down");
    let body: Value = serde_json::from_str(&body).expect("json");
    let reasons = body["reasons"].as_array().expect("reasons");
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap_or("").starts_with("Kafka unreachable: ")),
        "{body}"
    );
    let took = gone.map(|g| unready.saturating_duration_since(g));
    eprintln!(
        "kafka.sh down -> /readyz 503: {:?}; broker port closed -> 503: {took:?}",
        unready - down_started
    );
    // A bound for behaviour, not a speed target: the probe answers within
    // about two seconds; the old lag-driven check took about ten.
    let took = took.unwrap_or_default();
    assert!(took < Duration::from_secs(4), "took {took:?}");

    // Back again: ready again.
    PrivateBroker::up();
    wait_for("engine ready again", || async {
        (engine.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    engine.stop();
}
