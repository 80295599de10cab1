//! `provisioner schedule list` on the real broker (CONTRACT §1): an engine
//! process decides employees with future dates, then the listing shows
//! exactly their pending transitions, as a table and as JSON, filtered by
//! `--employee` and `--before`, under the rules of the moment, while the
//! engine runs and after it stopped.
//!
//! Needs the broker (`deploy/local/kafka.sh up`, or `KAFKA_BOOTSTRAP_SERVERS`);
//! a missing one fails loudly.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};

mod support;

use support::{
    binary, bootstrap, event, produce_with, wait_for_blocking, Namespace, Process, World,
};

/// Developers get Slack and Zendesk.
const RULES: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    slack: { role: member }
    zendesk: { role: agent }
"#;

/// A world of its own: `provisioner.toml` (Slack a day early, Zendesk kept
/// two hours late, Madrid the default zone) and `rules/`.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    ns: Namespace,
}

impl Setup {
    fn new(servers: &str) -> Setup {
        let tables = r#"[engine]
batch_max_ms = 50
[lifecycle]
default_time_zone = "Europe/Madrid"
[apps.slack]
connector = "scim"
base_url = "http://127.0.0.1:1"
roles = ["member"]
pre_start_ms = 86400000
[apps.zendesk]
connector = "zendesk"
base_url = "http://127.0.0.1:1"
roles = ["agent"]
post_end_ms = 7200000
"#;
        let World { dir, config, ns } = World::new(servers, RULES, "", tables);
        Setup { dir, config, ns }
    }

    /// `provisioner --config <this> schedule list <args>`.
    fn list(&self, args: &[&str]) -> Output {
        binary()
            .arg("--config")
            .arg(&self.config)
            .args(["schedule", "list"])
            .args(args)
            .output()
            .expect("run provisioner")
    }

    /// The JSON rows of `schedule list --format json <args>`, which must exit 0.
    fn rows(&self, args: &[&str]) -> Vec<Value> {
        let out = self.list(&[&["--format", "json"], args].concat());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn row(due: &str, employee: &str, app: &str, change: &str, field: &str, date: &str) -> Value {
    json!({"due": due, "employee_id": employee, "app": app, "change": change, "field": field, "date": date})
}

/// What the engine decided for the employees of [`employees`], soonest first.
fn expected() -> Vec<Value> {
    let instant = "2030-01-15T09:30:00Z";
    vec![
        row(
            "2030-01-14T09:30:00.000Z",
            "E4",
            "slack",
            "provision",
            "start_date",
            instant,
        ),
        row(
            "2030-01-15T09:30:00.000Z",
            "E4",
            "zendesk",
            "provision",
            "start_date",
            instant,
        ),
        // Madrid, the default zone: midnight is 23:00 UTC the day before.
        row(
            "2030-02-27T23:00:00.000Z",
            "E1",
            "slack",
            "provision",
            "start_date",
            "2030-03-01",
        ),
        row(
            "2030-02-28T23:00:00.000Z",
            "E1",
            "zendesk",
            "provision",
            "start_date",
            "2030-03-01",
        ),
        // Los Angeles in summer: the day after ends at 07:00 UTC.
        row(
            "2030-07-01T07:00:00.000Z",
            "E2",
            "slack",
            "deprovision",
            "end_date",
            "2030-06-30",
        ),
        row(
            "2030-07-01T09:00:00.000Z",
            "E2",
            "zendesk",
            "deprovision",
            "end_date",
            "2030-06-30",
        ),
    ]
}

/// E1 starts in March, E2 leaves at the end of June (in Los Angeles), E3
/// has started and has no end, E4 starts at an instant, E5 gets no app.
async fn produce_employees(servers: &str, topic: &str) {
    let dev = |id: &str, dates: Value| {
        let mut employee =
            json!({"id": id, "email": format!("{id}@acme.test"), "team": "Development"});
        for (k, v) in dates.as_object().expect("dates") {
            employee[k] = v.clone();
        }
        employee
    };
    let events = [
        (
            "E1",
            event(
                "e1",
                "hired",
                1,
                dev("E1", json!({"start_date": "2030-03-01"})),
            ),
        ),
        (
            "E2",
            event(
                "e2",
                "hired",
                1,
                dev(
                    "E2",
                    json!({"start_date": "2020-01-06", "time_zone": "America/Los_Angeles"}),
                ),
            ),
        ),
        (
            "E2",
            event(
                "e2b",
                "left",
                2,
                json!({"id": "E2", "end_date": "2030-06-30"}),
            ),
        ),
        (
            "E3",
            event(
                "e3",
                "hired",
                1,
                dev("E3", json!({"start_date": "2020-01-06"})),
            ),
        ),
        (
            "E4",
            event(
                "e4",
                "hired",
                1,
                dev("E4", json!({"start_date": "2030-01-15T09:30:00Z"})),
            ),
        ),
        (
            "E5",
            event(
                "e5",
                "hired",
                1,
                json!({"id": "E5", "team": "Finance", "start_date": "2030-01-01"}),
            ),
        ),
    ];
    let records: Vec<(Option<&str>, Vec<u8>)> =
        events.into_iter().map(|(k, v)| (Some(k), v)).collect();
    produce_with(servers, &[], topic, &records).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_list_shows_exactly_the_pending_transitions() {
    let servers = bootstrap();
    let setup = Setup::new(&servers);
    let engine = Process::spawn(&setup.config, &["engine"], &[]);
    produce_employees(&servers, &setup.ns.topic("events")).await;

    // The engine has decided everyone once the listing has all six rows.
    let rows = wait_for_blocking(
        "schedule list shows the six transitions",
        || Some(setup.rows(&[])).filter(|rows| rows.len() >= 6),
        || engine.text(),
    );
    assert_eq!(rows, expected());

    let table = setup.list(&[]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let expected_table = "\
DUE                       EMPLOYEE  APP      CHANGE       DATE
2030-01-14T09:30:00.000Z  E4        slack    provision    start_date=2030-01-15T09:30:00Z
2030-01-15T09:30:00.000Z  E4        zendesk  provision    start_date=2030-01-15T09:30:00Z
2030-02-27T23:00:00.000Z  E1        slack    provision    start_date=2030-03-01
2030-02-28T23:00:00.000Z  E1        zendesk  provision    start_date=2030-03-01
2030-07-01T07:00:00.000Z  E2        slack    deprovision  end_date=2030-06-30
2030-07-01T09:00:00.000Z  E2        zendesk  deprovision  end_date=2030-06-30
6 pending transition(s) for 3 employee(s)
";
    assert_eq!(text(&table.stdout), expected_table);
    assert!(!text(&table.stdout).contains("@acme.test"), "ids only");

    assert_eq!(setup.rows(&["--employee", "E2"]), expected()[4..]);
    assert_eq!(setup.rows(&["--employee", "E3"]), Vec::<Value>::new());
    // A day is its midnight UTC; an instant is exclusive.
    assert_eq!(setup.rows(&["--before", "2030-02-28"]), expected()[..3]);
    assert_eq!(
        setup.rows(&["--before", "2030-07-01T07:00:00Z"]),
        expected()[..4]
    );
    assert_eq!(
        setup.rows(&["--employee", "E1", "--before", "2030-02-28"]),
        expected()[2..3]
    );

    // With the engine stopped and the rules changed, the listing still
    // reads the changelog, under the rules of the moment: developers get
    // nothing now, so each timer is a re-evaluation.
    engine.stop();
    let support_only = "- name: Support\n  target: { field: team, op: is, value: Support }\n  apps:\n    slack: { role: member }\n";
    std::fs::write(setup.dir.path().join("rules/rules.yaml"), support_only).expect("rules");
    let reevaluate = |due: &str, employee: &str| json!({"due": due, "employee_id": employee, "app": null, "change": "re-evaluate", "field": null, "date": null});
    assert_eq!(
        setup.rows(&[]),
        [
            reevaluate("2030-01-14T09:30:00.000Z", "E4"),
            reevaluate("2030-02-27T23:00:00.000Z", "E1"),
            reevaluate("2030-07-01T07:00:00.000Z", "E2"),
        ]
    );
}

#[test]
fn schedule_list_of_a_missing_state_topic_says_so() {
    let setup = Setup::new(&bootstrap());
    let out = setup.list(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&setup.ns.topic("state")) && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_bad_before_is_a_usage_error() {
    let setup = Setup::new("127.0.0.1:1");
    let out = setup.list(&["--before", "next week"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--before") && err.contains("next week"),
        "{err}"
    );
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}
