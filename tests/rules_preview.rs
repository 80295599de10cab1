//! `rules preview` through the library: the CONTRACT §1 JSON shapes, the
//! baseline diff and its summary, the table, pending transitions, and errors
//! naming FILE:LINE.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use std::time::Duration;

use chrono::{DateTime, Utc};
use provisioner::config::{AppConfig, Config};
use provisioner::lifecycle::Calendar;
use provisioner::rules::{preview, PreviewError, PreviewFormat, PreviewSummary, RuleSet};

mod support;

fn config() -> Config {
    Config::load(&support::root().join("config/provisioner.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn catalogue() -> BTreeMap<String, AppConfig> {
    config().apps
}

/// The time of the previews: their output depends on it once dates are in.
fn now() -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

fn fixture(path: &str) -> PathBuf {
    support::root()
        .join("tests/fixtures/rules/preview")
        .join(path)
}

fn rule_set(dir: &str) -> RuleSet {
    RuleSet::load_dir(&fixture(dir), &catalogue()).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a preview of `input` with the example configuration at [`now`],
/// returning the output text and summary.
fn run(
    input: &str,
    rules: &RuleSet,
    baseline: Option<&RuleSet>,
    format: PreviewFormat,
) -> Result<(String, PreviewSummary), PreviewError> {
    run_with(&config(), input, rules, baseline, format)
}

/// [`run`] with a configuration of the test's own (offsets, default zone).
fn run_with(
    config: &Config,
    input: &str,
    rules: &RuleSet,
    baseline: Option<&RuleSet>,
    format: PreviewFormat,
) -> Result<(String, PreviewSummary), PreviewError> {
    let mut out = Vec::new();
    let summary = preview(
        Cursor::new(input.as_bytes()),
        Path::new("employees.jsonl"),
        rules,
        baseline,
        &Calendar::new(config, now()),
        format,
        &mut out,
    )?;
    Ok((String::from_utf8(out).unwrap_or_default(), summary))
}

fn employees() -> String {
    std::fs::read_to_string(fixture("employees.jsonl")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn spec_section_1_example_is_reproduced_exactly() {
    let rule = "name: Dev Team\ntarget: { field: team, op: is, value: Development }\napps:\n  zendesk: { provisioning: true, role: light_agent }\n";
    let rules = RuleSet::from_sources(&[(PathBuf::from("dev.yaml"), rule.into())], &catalogue())
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, summary) = run(
        r#"{"id":"E1001","email":"ada@acme.test","team":"Development"}"#,
        &rules,
        None,
        PreviewFormat::Json,
    )
    .unwrap();
    assert_eq!(
        out,
        "{\"employee_id\":\"E1001\",\"apps\":{\"zendesk\":{\"role\":\"light_agent\",\"rules\":[\"Dev Team\"]}}}\n"
    );
    assert_eq!(summary.employees, 1);
}

#[test]
fn json_without_baseline_prints_every_employee() {
    let (out, summary) = run(&employees(), &rule_set("new"), None, PreviewFormat::Json).unwrap();
    let expected = [
        r#"{"employee_id":"E1001","apps":{"slack":{"role":"member","rules":["Dev Slack"]},"zendesk":{"role":"light_agent","rules":["Dev Team"]}}}"#,
        r#"{"employee_id":"E1002","apps":{"zendesk":{"role":"agent","rules":["Support"]}}}"#,
        r#"{"employee_id":"E1003","apps":{"slack":{"role":"member","rules":["Dev Slack"]}}}"#,
        r#"{"employee_id":"E1004","apps":{}}"#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    assert_eq!(
        summary,
        PreviewSummary {
            employees: 4,
            ..PreviewSummary::default()
        }
    );
}

#[test]
fn json_with_baseline_prints_changes_and_the_summary() {
    let (out, summary) = run(
        &employees(),
        &rule_set("new"),
        Some(&rule_set("old")),
        PreviewFormat::Json,
    )
    .unwrap();
    let expected = [
        r#"{"employee_id":"E1001","changes":[{"app":"slack","from":null,"to":"member"},{"app":"zendesk","from":"agent","to":"light_agent"}]}"#,
        r#"{"employee_id":"E1003","changes":[{"app":"slack","from":null,"to":"member"},{"app":"wiki","from":"reader","to":null},{"app":"zendesk","from":"agent","to":null}]}"#,
        r#"{"summary":{"employees":4,"changed":2,"gained":2,"lost":2,"role_changed":1}}"#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    assert_eq!(
        summary,
        PreviewSummary {
            employees: 4,
            changed: 2,
            gained: 2,
            lost: 2,
            role_changed: 1
        }
    );
}

#[test]
fn identical_rule_sets_have_no_changes() {
    let (out, summary) = run(
        &employees(),
        &rule_set("new"),
        Some(&rule_set("new")),
        PreviewFormat::Json,
    )
    .unwrap();
    assert_eq!(
        out,
        "{\"summary\":{\"employees\":4,\"changed\":0,\"gained\":0,\"lost\":0,\"role_changed\":0}}\n"
    );
    assert_eq!(summary.changed, 0);
}

#[test]
fn table_without_baseline_is_aligned() {
    let (out, _) = run(&employees(), &rule_set("new"), None, PreviewFormat::Table).unwrap();
    let expected = "\
EMPLOYEE  APP      ROLE         RULES
E1001     slack    member       Dev Slack
E1001     zendesk  light_agent  Dev Team
E1002     zendesk  agent        Support
E1003     slack    member       Dev Slack
E1004     -        -            -
4 employees, 3 with at least one app
";
    assert_eq!(out, expected);
}

#[test]
fn table_with_baseline_shows_from_and_to() {
    let (out, _) = run(
        &employees(),
        &rule_set("new"),
        Some(&rule_set("old")),
        PreviewFormat::Table,
    )
    .unwrap();
    let expected = "\
EMPLOYEE  APP      FROM    TO
E1001     slack    -       member
E1001     zendesk  agent   light_agent
E1003     slack    -       member
E1003     wiki     reader  -
E1003     zendesk  agent   -
4 employees, 2 changed: 2 gained, 2 lost, 1 role changed
";
    assert_eq!(out, expected);
}

#[test]
fn a_bad_line_is_named_by_file_and_line() {
    let rules = rule_set("new");
    let cases = [
        (
            "{\"id\":\"E1\"}\n\n{not json}\n",
            3,
            "invalid JSON at column 2",
        ),
        ("{\"id\":\"E1\"}\n{\"team\":\"x\"}\n", 2, "has no `id`"),
        (
            "{\"id\":42}\n",
            1,
            "`id` must be a non-empty string, found 42",
        ),
        ("[1, 2]\n", 1, "must be a JSON object, found an array"),
    ];
    for (input, line, fragment) in cases {
        let err = run(input, &rules, None, PreviewFormat::Json).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("employees.jsonl:{line}: ")),
            "{shown}"
        );
        assert!(shown.contains(fragment), "{shown} lacks {fragment:?}");
        assert!(matches!(err, PreviewError::Input { line: l, .. } if l == line));
    }
}

#[test]
fn blank_lines_and_crlf_are_accepted() {
    let input = "\n{\"id\":\"E1004\"}\r\n   \n";
    let (out, summary) = run(input, &rule_set("new"), None, PreviewFormat::Json).unwrap();
    assert_eq!(out, "{\"employee_id\":\"E1004\",\"apps\":{}}\n");
    assert_eq!(summary.employees, 1);
}

#[test]
fn formats_parse_from_their_names() {
    assert_eq!("json".parse(), Ok(PreviewFormat::Json));
    assert_eq!("table".parse(), Ok(PreviewFormat::Table));
    assert!("yaml".parse::<PreviewFormat>().is_err());
}

#[test]
fn table_cells_show_control_characters_instead_of_obeying_them() {
    let rule = "name: Dev Team\ntarget: { field: team, op: is, value: Development }\napps:\n  zendesk: { provisioning: true, role: light_agent }\n";
    let rules = RuleSet::from_sources(&[(PathBuf::from("dev.yaml"), rule.into())], &catalogue())
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, _) = run(
        r#"{"id":"E1\u001b[2J\u0007\nE2","team":"Development"}"#,
        &rules,
        None,
        PreviewFormat::Table,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("E1\\x1b[2J\\x07\\nE2  zendesk"), "{out}");
    assert!(
        !out.replace('\n', "").chars().any(char::is_control),
        "{out:?}"
    );
    assert_eq!(out.lines().count(), 3, "header, one row, summary: {out}");
}

/// The example configuration with Slack provisioned a day before the start
/// and Zendesk kept two hours after the end.
fn dated_config() -> Config {
    let mut config = config();
    let slack = config.apps.get_mut("slack").expect("slack");
    slack.pre_start = Duration::from_secs(24 * 3600);
    let zendesk = config.apps.get_mut("zendesk").expect("zendesk");
    zendesk.post_end = Duration::from_secs(2 * 3600);
    config
}

/// A future hire in Madrid, a leaver at the end of December (UTC, the
/// default zone), one already started with no end, and one without apps.
const DATED: &str = r#"{"id":"E2001","team":"Development","start_date":"2026-12-15","time_zone":"Europe/Madrid"}
{"id":"E2002","team":"Development","employment_type":"contractor","start_date":"2026-01-05","end_date":"2026-12-31"}
{"id":"E2003","team":"Development","start_date":"2026-11-30"}
{"id":"E2004","team":"Finance","start_date":"2026-12-15"}
"#;

#[test]
fn json_lists_pending_transitions_after_the_grants() {
    let (out, _) = run_with(
        &dated_config(),
        DATED,
        &rule_set("new"),
        None,
        PreviewFormat::Json,
    )
    .unwrap();
    let expected = [
        concat!(
            r#"{"employee_id":"E2001","apps":{"slack":{"role":"member","rules":["Dev Slack"]},"zendesk":{"role":"light_agent","rules":["Dev Team"]}},"#,
            r#""pending":[{"app":"slack","change":"provision","at":"2026-12-13T23:00:00.000Z","field":"start_date","date":"2026-12-15"},"#,
            r#"{"app":"zendesk","change":"provision","at":"2026-12-14T23:00:00.000Z","field":"start_date","date":"2026-12-15"}]}"#
        ),
        concat!(
            r#"{"employee_id":"E2002","apps":{"slack":{"role":"member","rules":["Dev Slack"]}},"#,
            r#""pending":[{"app":"slack","change":"deprovision","at":"2027-01-01T00:00:00.000Z","field":"end_date","date":"2026-12-31"}]}"#
        ),
        // Started, no end: nothing pending, the line is as it always was.
        r#"{"employee_id":"E2003","apps":{"slack":{"role":"member","rules":["Dev Slack"]},"zendesk":{"role":"light_agent","rules":["Dev Team"]}}}"#,
        // Dates but no apps: nothing pending either.
        r#"{"employee_id":"E2004","apps":{}}"#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn table_lists_pending_transitions_under_the_employee() {
    let (out, _) = run_with(
        &dated_config(),
        DATED,
        &rule_set("new"),
        None,
        PreviewFormat::Table,
    )
    .unwrap();
    let expected = "\
EMPLOYEE  APP      ROLE         RULES
E2001     slack    member       Dev Slack
E2001     zendesk  light_agent  Dev Team
  pending: slack provision at 2026-12-13T23:00:00.000Z (start_date=2026-12-15)
  pending: zendesk provision at 2026-12-14T23:00:00.000Z (start_date=2026-12-15)
E2002     slack    member       Dev Slack
  pending: slack deprovision at 2027-01-01T00:00:00.000Z (end_date=2026-12-31)
E2003     slack    member       Dev Slack
E2003     zendesk  light_agent  Dev Team
E2004     -        -            -
4 employees, 3 with at least one app
";
    assert_eq!(out, expected);
}

#[test]
fn pending_transitions_follow_offsets_and_the_default_zone() {
    let mut config = dated_config();
    config.lifecycle.default_time_zone = "Pacific/Auckland".into();
    let input = concat!(
        r#"{"id":"E3001","team":"Support","start_date":"2026-11-02","end_date":"2026-12-24"}"#,
        "\n",
        r#"{"id":"E3002","team":"Support","end_date":"2026-12-24T17:30:00Z"}"#,
        "\n",
        // Ends before it starts: never active, nothing to schedule.
        r#"{"id":"E3003","team":"Support","start_date":"2026-12-20","end_date":"2026-12-10"}"#,
    );
    let (out, _) = run_with(&config, input, &rule_set("new"), None, PreviewFormat::Json).unwrap();
    let pending: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["pending"].clone())
        .collect();
    // Auckland is UTC+13 in December; Zendesk is kept two hours more.
    assert_eq!(
        pending[0],
        serde_json::json!([{"app":"zendesk","change":"deprovision","at":"2026-12-24T13:00:00.000Z","field":"end_date","date":"2026-12-24"}])
    );
    // An instant is taken as it is, in any zone.
    assert_eq!(pending[1][0]["at"], "2026-12-24T19:30:00.000Z");
    assert_eq!(pending[2], serde_json::Value::Null, "{out}");
}

#[test]
fn a_baseline_diff_has_no_pending_transitions() {
    let (out, _) = run_with(
        &dated_config(),
        DATED,
        &rule_set("new"),
        Some(&rule_set("old")),
        PreviewFormat::Json,
    )
    .unwrap();
    assert!(!out.contains("pending"), "{out}");
}
