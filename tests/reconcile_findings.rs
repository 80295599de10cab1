//! `provisioner reconcile`'s findings topic on the real broker and a real
//! scim2-server (CONTRACT §2, §11): after a run (`--dry-run`: findings are
//! observations) over one orphan, one drifted account and one linked one,
//! the topic holds exactly those findings, keyed `<app>/<app account id>`,
//! in one committed transaction (read with `read_committed`); a missing
//! account is keyed by its employee; a partial scan adds nothing.
//!
//! Needs the broker (`deploy/local/kafka.sh up`, or `KAFKA_BOOTSTRAP_SERVERS`)
//! and the SCIM venv (`deploy/local/scim.sh install`); either missing fails
//! loudly.

use rdkafka::Message;
use serde_json::{json, Value};

mod support;

use support::reconcile::{hire_all, json_lines, make_ada_admin, scim, text, user, Setup};
use support::{bootstrap, read_all, Process, ScimServer};

/// `(key, value)` of every committed record of `topic`.
fn records(topic: &str) -> Vec<(String, Value)> {
    read_all(&bootstrap(), topic)
        .iter()
        .map(|m| {
            let key = String::from_utf8(m.key().expect("a key").to_vec()).expect("UTF-8");
            let value = serde_json::from_slice(m.payload().expect("a value")).expect("JSON");
            (key, value)
        })
        .collect()
}

/// The app's id of the server's user `user_name`.
async fn app_id(server: &ScimServer, user_name: &str) -> String {
    let user = user(server, user_name).await;
    user["id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_writes_each_finding_keyed_by_app_and_account_and_a_partial_scan_none() {
    let mut server = ScimServer::start().await;
    let setup = Setup::new(&bootstrap(), &server.base_url, "");
    let engine = Process::spawn(&setup.config, &["engine"], &[]);
    let connector = Process::spawn(&setup.config, &["connector", "--app", "slack"], &[]);
    hire_all(
        &setup,
        &server,
        &[("E1", "Ada", "Lovelace"), ("E2", "Grace", "Hopper")],
    )
    .await;
    engine.stop();
    connector.stop();
    make_ada_admin(&server).await;
    server
        .create_user(json!({"userName": "mallory@acme.test", "active": true}))
        .await;

    let out = setup.reconcile(&["--app", "slack", "--dry-run", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|l| l.get("situation").is_some())
        .collect();
    let topic = setup.ns.topic("reconcile.findings");
    let written = records(&topic);
    let keys: Vec<&str> = written.iter().map(|(k, _)| k.as_str()).collect();
    let mut expected = vec![
        format!("slack/{}", app_id(&server, "mallory@acme.test").await),
        format!("slack/{}", app_id(&server, "ada.lovelace@acme.test").await),
        format!("slack/{}", app_id(&server, "grace.hopper@acme.test").await),
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "one record per finding");
    let situations: Vec<(&str, &Value)> = written
        .iter()
        .map(|(_, v)| {
            (
                v["situation"].as_str().expect("situation"),
                &v["employee_id"],
            )
        })
        .collect();
    for finding in [
        ("orphan", &Value::Null),
        ("drifted", &json!("E1")),
        ("linked", &json!("E2")),
    ] {
        assert!(
            situations.contains(&finding),
            "{finding:?} in {situations:?}"
        );
    }

    // Each value is the report's finding plus app, run, time and `partial`.
    let run_id = written[0].1["run_id"].as_str().expect("run_id").to_string();
    assert!(run_id.starts_with("reconcile-"), "{run_id}");
    for (key, value) in &written {
        assert_eq!(value["app"], "slack");
        assert_eq!(value["run_id"], run_id.as_str(), "one run");
        assert_eq!(value["partial"], false);
        let at = value["observed_at"].as_str().expect("observed_at");
        assert!(
            at.len() == 24 && at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "RFC 3339 with ms: {at}"
        );
        let mut finding = value.clone();
        let object = finding.as_object_mut().expect("object");
        for field in ["run_id", "observed_at", "partial"] {
            object.remove(field);
        }
        assert!(report.contains(&finding), "{key}: {finding} in {report:?}");
    }
    let drifted = &written
        .iter()
        .find(|(_, v)| v["situation"] == "drifted")
        .expect("drifted")
        .1;
    assert_eq!(
        drifted["differences"],
        json!([{"field": "role", "want": "member", "have": "admin"}])
    );

    // Ada's account deleted: her finding is `missing`, keyed by employee.
    let ada = app_id(&server, "ada.lovelace@acme.test").await;
    let url = format!("{}/Users/{ada}", server.base_url);
    scim(reqwest::Method::DELETE, url, None).await;
    let out = setup.reconcile(&["--app", "slack"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second = records(&topic);
    assert_eq!(second.len(), 6, "three more: {second:?}");
    let missing = second
        .iter()
        .find(|(_, v)| v["situation"] == "missing")
        .expect("missing");
    assert_eq!(missing.0, "slack/missing/E1");
    assert_ne!(missing.1["run_id"], run_id.as_str(), "a run of its own");

    // A partial scan: an error, and nothing more in the topic.
    server.stop();
    let down = setup.reconcile(&["--app", "slack"]);
    assert_eq!(down.status.code(), Some(1), "{}", text(&down.stderr));
    assert_eq!(records(&topic).len(), 6, "a partial scan writes no finding");
    // The log names no one.
    let log = text(&out.stderr) + &text(&down.stderr);
    assert!(!log.contains("acme.test"), "{log}");
}
