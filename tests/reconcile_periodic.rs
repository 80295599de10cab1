//! Reconciliation's periodic mode in the connector (CONTRACT §9
//! `apps.<name>.reconcile.interval_ms`) on the real broker and a real
//! scim2-server: with no one running `provisioner reconcile`, the connector
//! finds an orphan and a drift made directly in the server, writes the
//! findings, suspends the orphan and fixes the role, and its `/metrics`
//! serve the reconciliation series, which settle at no orphan and no drift.
//!
//! Needs the broker (`deploy/local/kafka.sh up`, or `KAFKA_BOOTSTRAP_SERVERS`)
//! and the SCIM venv (`deploy/local/scim.sh install`); either missing fails
//! loudly.

use serde_json::{json, Value};

mod support;

use support::metrics::metric;
use support::reconcile::{hire_all, make_ada_admin, user, values, Setup};
use support::{bootstrap, wait_for, Process, ScimServer};

const SLACK: &str =
    r#"reconcile = { interval_ms = 1000, drifted = "reapply", orphans = "suspend" }"#;

/// `provisioner_reconcile_accounts{app="slack",situation=…}` in `text`.
fn accounts(text: &str, situation: &str) -> Option<f64> {
    let series =
        format!(r#"provisioner_reconcile_accounts{{app="slack",situation="{situation}"}}"#);
    metric(text, &series)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connector_reconciles_on_its_own_and_serves_the_metrics() {
    let server = ScimServer::start().await;
    let setup = Setup::new(&bootstrap(), &server.base_url, SLACK);
    let engine = Process::spawn(&setup.config, &["engine"], &[]);
    let connector = Process::spawn(&setup.config, &["connector", "--app", "slack"], &[]);
    hire_all(
        &setup,
        &server,
        &[("E1", "Ada", "Lovelace"), ("E2", "Grace", "Hopper")],
    )
    .await;
    let started = chrono::Utc::now().timestamp();
    make_ada_admin(&server).await;
    server
        .create_user(json!({"userName": "mallory@acme.test", "active": true}))
        .await;

    wait_for(
        "the connector suspends the orphan and fixes Ada",
        || async {
            let mallory = user(&server, "mallory@acme.test").await;
            let ada = user(&server, "ada.lovelace@acme.test").await;
            (mallory["active"] == false && ada["roles"][0]["value"] == "member").then_some(())
        },
    )
    .await;
    let findings = values(&setup.ns.topic("reconcile.findings"));
    for (situation, employee) in [("orphan", Value::Null), ("drifted", json!("E1"))] {
        assert!(
            findings
                .iter()
                .any(|f| f["situation"] == situation && f["employee_id"] == employee),
            "a {situation} finding in {findings:?}"
        );
    }

    // Later runs find the app as decided, and the scrape says so.
    let text = wait_for("a run that finds no orphan and no drift", || async {
        let (_, text) = connector.get("/metrics").await;
        let settled = accounts(&text, "orphan") == Some(0.0)
            && accounts(&text, "drifted") == Some(0.0)
            && accounts(&text, "linked") == Some(2.0);
        settled.then_some(text)
    })
    .await;
    let last = r#"provisioner_reconcile_last_success_timestamp_seconds{app="slack"}"#;
    let last = metric(&text, last).expect("last success served");
    assert!(last >= started as f64, "{last} >= {started}");
    assert!(
        text.contains("# TYPE provisioner_reconcile_accounts gauge\n"),
        "{text}"
    );

    let log = connector.stop();
    engine.stop();
    assert!(log.contains("Periodic reconciliation on."), "{log}");
    assert!(log.contains("Reconciliation done."), "{log}");
    assert!(!log.contains("acme.test"), "the log names no one:\n{log}");
}
