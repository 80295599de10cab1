//! `/readyz`: 503 with reasons while the engine starts or restores state and
//! while a connector's app is paused; 200 otherwise.

use std::time::Duration;

use provisioner::config::Config;
use provisioner::rules::RuleSet;
use provisioner::telemetry::{self, Role, Telemetry};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::env::*;
use crate::fake_app::*;

async fn get(addr: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("get");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// A restarted engine restores its partitions' state before it is ready; the
/// readiness history (what `/readyz` answered over time) shows each phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_is_unready_while_it_starts_and_restores() {
    let servers = bootstrap();
    let app = FakeApp::start().await;
    let setup = Setup::new(&servers, &app.url, "");
    // A first engine leaves state behind on the changelog.
    let first = setup.spawn(&["engine"], &[]);
    wait_for("first engine ready", || async {
        (first.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let hires: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            let id = format!("E{i}");
            let e = event(
                &format!("ev{i}"),
                "hired",
                1,
                hire(&id, "Ann", "Ops", "Support"),
            );
            (id, e)
        })
        .collect();
    let records: Vec<(&str, Vec<u8>)> =
        hires.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    produce(&servers, &[], &setup.topic("events"), &records).await;
    wait_for("40 events consumed", || async {
        let (_, text) = first.get("/metrics").await;
        (metric(&text, "provisioner_events_consumed_total{type=\"hired\"}") == Some(40.0))
            .then_some(())
    })
    .await;
    first.stop();

    // The second engine runs in this process, so its readiness history can be read.
    let config = Config::load(&setup.config).expect("config");
    let rules = RuleSet::load_dir(&config.rules.path, &config.apps).expect("rules");
    let telemetry = Telemetry::new(Role::Engine);
    let server = telemetry::server::start("127.0.0.1:0", Default::default(), &telemetry)
        .await
        .expect("bind");
    let addr = server.addr().expect("addr").to_string();
    let (status, body) = get(&addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("engine starting"),
        "{body}"
    );

    let shutdown = CancellationToken::new();
    // A failed assertion must still stop the engine's thread, or the test hangs.
    let _stop_on_panic = shutdown.clone().drop_guard();
    let engine = tokio::spawn(provisioner::engine::run_with(
        config,
        rules,
        telemetry.clone(),
        shutdown.clone(),
    ));
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let body = loop {
        let (status, body) = get(&addr, "/readyz").await;
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        seen.push(body);
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(!seen.is_empty(), "503 before ready");
    assert!(seen
        .iter()
        .all(|b| b["ready"] == false && !b["reasons"].as_array().unwrap().is_empty()));
    assert_eq!(body["ready"], true);
    assert_eq!(
        body["details"]["partitions"]["assigned"],
        serde_json::json!([0, 1])
    );
    assert_eq!(
        body["details"]["partitions"]["restoring"],
        serde_json::json!([])
    );

    let history = telemetry.readiness.history();
    let reasons: Vec<String> = history.iter().flat_map(|(_, r)| r.clone()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r == "engine starting: connecting to Kafka"),
        "{history:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("restoring partitions [")),
        "{history:?}"
    );
    let restoring = history
        .iter()
        .position(|(_, r)| r.iter().any(|r| r.starts_with("restoring")))
        .expect("restoring");
    assert!(
        history[..restoring].iter().all(|(ready, _)| !ready),
        "never ready before restoring: {history:?}"
    );
    assert_eq!(
        history.last().map(|(ready, _)| *ready),
        Some(true),
        "{history:?}"
    );

    shutdown.cancel();
    tokio::time::timeout(DEADLINE, engine)
        .await
        .expect("engine stops")
        .expect("engine task")
        .expect("engine result");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_app_makes_the_connector_unready_until_it_answers() {
    let servers = bootstrap();
    let app = FakeApp::start().await;
    app.set_mode(Mode::Down);
    let setup = Setup::new(&servers, &app.url, "");
    let engine = setup.spawn(&["engine"], &[]);
    wait_for("engine ready", || async {
        (engine.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let connector = setup.spawn(&["connector", "--app", "wiki", "--app", "crm"], &[]);
    let ready_body = wait_for("connector ready", || async {
        let (status, body) = connector.get("/readyz").await;
        (status == 200).then_some(body)
    })
    .await;
    assert!(ready_body.contains("\"ready\":true"), "{ready_body}");

    let hire = event("p1", "hired", 1, hire("P1", "Pat", "Paused", "Development"));
    produce(&servers, &[], &setup.topic("events"), &[("P1", hire)]).await;
    let body = wait_for("/readyz says the app is paused", || async {
        let (status, body) = connector.get("/readyz").await;
        (status == 503).then_some(body)
    })
    .await;
    let body: Value = serde_json::from_str(&body).expect("json");
    let reasons: Vec<&str> = body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(reasons.len(), 1, "{body}");
    assert!(
        reasons[0].starts_with("app wiki paused: HTTP 401"),
        "{body}"
    );
    assert_eq!(body["details"]["apps"]["wiki"]["paused"], true);
    assert_eq!(body["details"]["apps"]["crm"]["paused"], false);
    let (_, text) = connector.get("/metrics").await;
    assert_eq!(
        metric(&text, "provisioner_app_paused{app=\"wiki\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        connector.get("/healthz").await.0,
        200,
        "alive while unready"
    );

    // Paused means nothing is dead-lettered: the command waits for the app.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.set_mode(Mode::Up);
    wait_for("connector ready again", || async {
        (connector.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let text = wait_for("the waiting command applied", || async {
        let (_, text) = connector.get("/metrics").await;
        let applied = "provisioner_connector_requests_total{app=\"wiki\",outcome=\"applied\"}";
        (metric(&text, applied) == Some(1.0)).then_some(text)
    })
    .await;
    assert_eq!(
        metric(&text, "provisioner_app_paused{app=\"wiki\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &text,
            "provisioner_commands_dead_lettered_total{app=\"wiki\",kind=\"retries_exhausted\"}"
        ),
        Some(0.0)
    );
    connector.stop();
    engine.stop();
}
