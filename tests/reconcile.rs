//! `provisioner reconcile` on the real broker and a real scim2-server
//! (CONTRACT §1, §11): an engine and a connector process provision three
//! developers into the SCIM app; then, directly in the server, an account
//! nobody owns (orphan), a service account on the ignore list (ignored),
//! Ada's role changed (drifted), Linus's user deleted (missing) and a second
//! account for Grace (disputed). The report names exactly those, as JSON
//! and as a table, takes no action, logs no personal data, skips a webhook
//! app under `--all`, and a stopped server is a partial-scan error, exit 1.
//!
//! Needs the broker (`deploy/local/kafka.sh up`, or `KAFKA_BOOTSTRAP_SERVERS`)
//! and the SCIM venv (`deploy/local/scim.sh install`); either missing fails
//! loudly.

use serde_json::{json, Value};

mod support;

use support::reconcile::{hire, json_lines, scim, text, user, Setup};
use support::{binary, bootstrap, produce_with, wait_for, Process, ScimServer};

/// Engine and connector provision Ada (E1), Grace (E2) and Linus (E3) as
/// members; then the server is changed behind provisioning's back.
async fn provision_then_tamper(setup: &Setup, server: &ScimServer) {
    let engine = Process::spawn(&setup.config, &["engine"], &[]);
    let connector = Process::spawn(&setup.config, &["connector", "--app", "slack"], &[]);
    let records: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("E1"), hire("E1", "Ada", "Lovelace")),
        (Some("E2"), hire("E2", "Grace", "Hopper")),
        (Some("E3"), hire("E3", "Linus", "Torvalds")),
    ];
    produce_with(&bootstrap(), &[], &setup.ns.topic("events"), &records).await;
    wait_for(
        "the three developers are members in the SCIM app",
        || async {
            let users = server.users().await;
            let members = users
                .iter()
                .filter(|u| u["active"] == true && u["roles"][0]["value"] == "member")
                .count();
            (members == 3).then_some(())
        },
    )
    .await;
    engine.stop();
    connector.stop();

    let base = &server.base_url;
    server
        .create_user(json!({"userName": "mallory@acme.test", "active": true}))
        .await;
    server
        .create_user(json!({"userName": "svc-backup", "active": true}))
        .await;
    server
        .create_user(json!({
            "userName": "grace.admin",
            "emails": [{"value": "grace.hopper@acme.test", "primary": true}],
            "active": true,
        }))
        .await;
    let ada = user(server, "ada.lovelace@acme.test").await;
    scim(
        reqwest::Method::PATCH,
        format!("{base}/Users/{}", ada["id"].as_str().expect("id")),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "roles",
                "value": [{"value": "admin", "primary": true}]}],
        })),
    )
    .await;
    let linus = user(server, "linus.torvalds@acme.test").await;
    scim(
        reqwest::Method::DELETE,
        format!("{base}/Users/{}", linus["id"].as_str().expect("id")),
        None,
    )
    .await;
}

/// `(situation, user_name, employee_id)` of each finding line.
fn findings(lines: &[Value]) -> Vec<(String, String, Value)> {
    lines
        .iter()
        .filter(|l| l.get("situation").is_some())
        .map(|l| {
            assert_eq!(l["app"], "slack", "{l}");
            (
                l["situation"].as_str().expect("situation").to_string(),
                l["user_name"].as_str().expect("user_name").to_string(),
                l["employee_id"].clone(),
            )
        })
        .collect()
}

fn finding(situation: &str, user_name: &str, employee: Value) -> (String, String, Value) {
    (situation.into(), user_name.into(), employee)
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_reports_each_situation_and_takes_no_action() {
    let mut server = ScimServer::start().await;
    let setup = Setup::new(
        &bootstrap(),
        &server.base_url,
        "reconcile = { ignore = [\"svc-*\", \"admin@*\"], page_size = 2 }",
    );
    provision_then_tamper(&setup, &server).await;
    let before = server.users().await;
    let writes_before = server.requests().len();

    let out = setup.reconcile(&["--app", "slack", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(
        findings(&lines),
        [
            finding("orphan", "mallory@acme.test", Value::Null),
            finding("drifted", "ada.lovelace@acme.test", json!("E1")),
            finding("missing", "linus.torvalds@acme.test", json!("E3")),
            finding("disputed", "grace.admin", json!("E2")),
            finding("disputed", "grace.hopper@acme.test", json!("E2")),
            finding("ignored", "svc-backup", Value::Null),
        ]
    );
    let drifted = &lines[1];
    assert_eq!(
        drifted["differences"],
        json!([{"field": "role", "want": "member", "have": "admin"}]),
        "{drifted}"
    );
    assert_eq!(lines[5]["ignored_by"], "svc-*");
    assert_eq!(
        lines.last(),
        Some(
            &json!({"app": "slack", "partial": false, "counts": {"orphan": 1,
            "drifted": 1, "missing": 1, "disputed": 2, "ignored": 1, "linked": 0,
            "unlinked_inactive": 0}})
        )
    );
    // Personal data is in the report, never in the log.
    let log = text(&out.stderr);
    assert!(log.contains("App listed."), "{log}");
    assert!(!log.contains("acme.test") && !log.contains("E1"), "{log}");

    let table = setup.reconcile(&["--app", "slack"]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let expected = "\
slack: 5 account(s) read, 6 finding(s)
SITUATION  ACCOUNT                   EMPLOYEE  DETAIL
orphan     mallory@acme.test         -         active, owned by no employee
drifted    ada.lovelace@acme.test    E1        role: want member, have admin
missing    linus.torvalds@acme.test  E3        no account in the app
disputed   grace.admin               E2        one of several accounts of this employee
disputed   grace.hopper@acme.test    E2        one of several accounts of this employee
ignored    svc-backup                -         matches ignore pattern svc-*
slack: orphan 1, drifted 1, missing 1, disputed 2, ignored 1, linked 0, unlinked inactive 0
";
    assert_eq!(text(&table.stdout), expected);
    let dry = setup.reconcile(&["--app", "slack", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert_eq!(text(&dry.stdout), expected, "--dry-run means the same");

    // Report-only: the server was read (pages of 2), never written.
    let requests = server.requests();
    let new: Vec<&String> = requests[writes_before..].iter().collect();
    // (The server logs a request after answering it, from its own threads:
    // the test's last plain `GET /Users` may be logged among these.)
    assert!(
        new.iter().all(|r| r.starts_with("GET /Users")),
        "only reads: {new:?}"
    );
    assert!(
        new.iter()
            .any(|r| r.contains("startIndex=5") && r.contains("count=2")),
        "paged by reconcile.page_size: {new:?}"
    );
    assert_eq!(server.users().await, before);

    // --all: the webhook app is skipped with its line; not an error.
    let all = setup.reconcile(&["--all"]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr));
    let stdout = text(&all.stdout);
    assert!(
        stdout.starts_with(
            "hooks: skipped: webhook apps have no read API; reconciliation skips them\nslack: 5 account(s) read"
        ),
        "{stdout}"
    );

    // The server stopped: slack is a partial scan, exit 1; hooks still runs.
    server.stop();
    let down = setup.reconcile(&["--all", "--format", "json"]);
    assert_eq!(down.status.code(), Some(1), "{}", text(&down.stderr));
    let err = text(&down.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line: {err}"));
    assert!(
        line.contains("app slack: listing failed after 0 page(s) and 0 account(s) read")
            && line.contains("a partial scan is not acted on"),
        "{line}"
    );
    let lines = json_lines(&down);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["app"], "hooks");
    assert!(lines[0]["skipped"].is_string(), "{}", lines[0]);
    assert_eq!(lines[1]["app"], "slack");
    assert_eq!(lines[1]["partial"], true);
    assert!(lines[1].get("counts").is_none(), "{}", lines[1]);
}

#[test]
fn reconcile_of_a_missing_state_topic_says_so() {
    let setup = Setup::new(&bootstrap(), "http://127.0.0.1:1", "");
    let out = setup.reconcile(&["--app", "slack"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&setup.ns.topic("state")) && err.contains("does not exist"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn reconcile_needs_known_apps_and_valid_ignore_patterns() {
    let setup = Setup::new("127.0.0.1:1", "http://127.0.0.1:1", "");
    let out = setup.reconcile(&[]);
    assert_eq!(out.status.code(), Some(2), "--app or --all");
    let out = setup.reconcile(&["--app", "crm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(r#"app "crm" is not in the catalogue"#),
        "{}",
        text(&out.stderr)
    );
    let bad = Setup::new(
        "127.0.0.1:1",
        "http://127.0.0.1:1",
        "reconcile = { ignore = [\"svc-*\", \"*\"] }",
    );
    let out = bad.reconcile(&["--app", "slack"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("`apps.slack.reconcile.ignore[1]` = \"*\": matches every account"),
        "{err}"
    );
}

#[test]
fn help_says_reconcile_is_report_only_by_default() {
    let out = binary()
        .args(["reconcile", "--help"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(help.contains("Report-only by default"), "{help}");
    assert!(
        help.contains("--dry-run") && help.contains("--format"),
        "{help}"
    );
}

#[test]
fn reconcile_with_the_broker_unreachable_is_exit_1() {
    let setup = Setup::new(
        &format!("127.0.0.1:{}", support::closed_port()),
        "http://127.0.0.1:1",
        "",
    );
    let out = setup.reconcile(&["--all"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot read {}", setup.ns.topic("state")))
            && err.contains("unreachable"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
