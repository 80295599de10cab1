//! `schedule list` without a broker: the rows of states the engine decided,
//! and how they are written.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;
use crate::engine::decide::decide;
use crate::events::{EventType, HrEvent};

const CATALOGUE: &str = r#"
[apps.slack]
connector = "scim"
base_url = "http://x"
roles = ["member"]
pre_start_ms = 86400000
[apps.zendesk]
connector = "zendesk"
base_url = "http://x"
roles = ["agent"]
post_end_ms = 7200000
"#;

const RULES: &str = r#"
- name: Dev
  target: { field: team, op: is, value: Development }
  apps:
    slack: { role: member }
    zendesk: { role: agent }
"#;

fn config() -> Config {
    Config::parse(Path::new("t.toml"), CATALOGUE).unwrap()
}

fn rules(text: &str) -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("r.yaml"), text.into())], &config().apps).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    t("2026-12-01T09:00:00Z")
}

fn event(kind: EventType, seq: i64, employee: Value) -> HrEvent {
    let Value::Object(employee) = employee else {
        panic!("an object")
    };
    HrEvent {
        id: format!("evt-{seq}"),
        kind,
        time: None,
        sequence: Some(seq),
        employee_id: "E1".into(),
        employee: employee.into(),
        immediate: false,
    }
}

/// The state the engine keeps after `events`, each decided at [`now`].
fn state_after(events: &[HrEvent]) -> EmployeeState {
    let (rules, config) = (rules(RULES), config());
    let mut state = None;
    for e in events {
        state = Some(decide(state.as_ref(), e, &rules, &config, now()).state);
    }
    state.expect("at least one event")
}

fn rows(
    state: &EmployeeState,
    rules: &RuleSet,
    at: DateTime<Utc>,
) -> Vec<(String, String, &'static str, String)> {
    let config = config();
    of_state(state, rules, &Calendar::new(&config, at))
        .into_iter()
        .map(|r| {
            let app = r.transition.as_ref().map_or("-".into(), |t| t.app.clone());
            let date = r.transition.as_ref().map_or("-".into(), |t| t.date.clone());
            (crate::text::instant(r.due), app, r.change(), date)
        })
        .collect()
}

fn row(
    due: &str,
    app: &str,
    change: &'static str,
    date: &str,
) -> (String, String, &'static str, String) {
    (due.into(), app.into(), change, date.into())
}

#[test]
fn a_future_hire_lists_each_app_at_its_window() {
    let hire = event(
        EventType::Hired,
        1,
        json!({"id":"E1","team":"Development","start_date":"2026-12-15","time_zone":"Europe/Madrid"}),
    );
    let state = state_after(&[hire]);
    assert_eq!(
        rows(&state, &rules(RULES), now()),
        [
            row(
                "2026-12-13T23:00:00.000Z",
                "slack",
                "provision",
                "2026-12-15"
            ),
            row(
                "2026-12-14T23:00:00.000Z",
                "zendesk",
                "provision",
                "2026-12-15"
            ),
        ]
    );
}

#[test]
fn a_future_leave_lists_the_deprovisions() {
    let state = state_after(&[
        event(
            EventType::Hired,
            1,
            json!({"id":"E1","team":"Development","start_date":"2026-01-05"}),
        ),
        event(EventType::Left, 2, json!({"end_date":"2026-12-31"})),
    ]);
    assert!(state.ended.is_none(), "the leave waits for its date");
    assert_eq!(
        rows(&state, &rules(RULES), now()),
        [
            row(
                "2027-01-01T00:00:00.000Z",
                "slack",
                "deprovision",
                "2026-12-31"
            ),
            row(
                "2027-01-01T02:00:00.000Z",
                "zendesk",
                "deprovision",
                "2026-12-31"
            ),
        ]
    );
}

#[test]
fn no_timer_no_rows() {
    let state = state_after(&[event(
        EventType::Hired,
        1,
        json!({"id":"E1","team":"Development","start_date":"2026-01-05"}),
    )]);
    assert_eq!(state.due, None);
    assert!(rows(&state, &rules(RULES), now()).is_empty());
}

#[test]
fn a_timer_the_rules_no_longer_explain_is_re_evaluated() {
    let state = state_after(&[event(
        EventType::Hired,
        1,
        json!({"id":"E1","team":"Development","start_date":"2026-12-15"}),
    )]);
    let other = rules("- name: Sales\n  target: { field: team, op: is, value: Sales }\n  apps:\n    slack: { role: member }\n");
    assert_eq!(
        rows(&state, &other, now()),
        [row("2026-12-14T00:00:00.000Z", "-", REEVALUATE, "-")]
    );
}

#[test]
fn a_timer_already_due_is_listed_from_its_instant() {
    let state = state_after(&[event(
        EventType::Hired,
        1,
        json!({"id":"E1","team":"Development","start_date":"2026-12-15"}),
    )]);
    // The engine was down: its timer (Slack, a day early) is past, not fired.
    let later = t("2026-12-20T00:00:00Z");
    assert_eq!(
        rows(&state, &rules(RULES), later),
        [
            row(
                "2026-12-14T00:00:00.000Z",
                "slack",
                "provision",
                "2026-12-15"
            ),
            row(
                "2026-12-15T00:00:00.000Z",
                "zendesk",
                "provision",
                "2026-12-15"
            ),
        ]
    );
}

#[test]
fn an_ended_employee_with_a_timer_is_re_evaluated_not_granted() {
    let mut state = state_after(&[event(
        EventType::Hired,
        1,
        json!({"id":"E1","team":"Development","start_date":"2026-12-15"}),
    )]);
    state.ended = Some(now());
    assert_eq!(
        rows(&state, &rules(RULES), now()),
        [row("2026-12-14T00:00:00.000Z", "-", REEVALUATE, "-")]
    );
}

fn listing() -> Vec<Scheduled> {
    let mut state = state_after(&[event(
        EventType::Hired,
        1,
        json!({"id":"E1","team":"Development","start_date":"2026-12-15"}),
    )]);
    let mut rows = of_state(&state, &rules(RULES), &Calendar::new(&config(), now()));
    state.employee_id = "E2\u{1b}[2J".into();
    state.ended = Some(now());
    rows.extend(of_state(
        &state,
        &rules(RULES),
        &Calendar::new(&config(), now()),
    ));
    rows
}

#[test]
fn the_table_is_aligned_escaped_and_counted() {
    let mut out = Vec::new();
    write(&mut out, &listing(), PreviewFormat::Table).unwrap();
    let expected = "\
DUE                       EMPLOYEE   APP      CHANGE       DATE
2026-12-14T00:00:00.000Z  E1         slack    provision    start_date=2026-12-15
2026-12-15T00:00:00.000Z  E1         zendesk  provision    start_date=2026-12-15
2026-12-14T00:00:00.000Z  E2\\x1b[2J  -        re-evaluate  -
3 pending transition(s) for 2 employee(s)
";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn an_empty_table_is_its_count() {
    let mut out = Vec::new();
    write(&mut out, &[], PreviewFormat::Table).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "0 pending transition(s) for 0 employee(s)\n"
    );
}

#[test]
fn json_is_one_object_a_line_without_a_summary() {
    let mut out = Vec::new();
    write(&mut out, &listing(), PreviewFormat::Json).unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"due":"2026-12-14T00:00:00.000Z","employee_id":"E1","app":"slack","change":"provision","field":"start_date","date":"2026-12-15"}),
            json!({"due":"2026-12-15T00:00:00.000Z","employee_id":"E1","app":"zendesk","change":"provision","field":"start_date","date":"2026-12-15"}),
            json!({"due":"2026-12-14T00:00:00.000Z","employee_id":"E2\u{1b}[2J","app":null,"change":"re-evaluate","field":null,"date":null}),
        ]
    );
}

#[test]
fn before_takes_an_instant_or_a_day_at_midnight_utc() {
    assert_eq!(parse_before("2026-12-31"), Ok(t("2026-12-31T00:00:00Z")));
    assert_eq!(
        parse_before("2026-12-31T17:00:00+01:00"),
        Ok(t("2026-12-31T16:00:00Z"))
    );
    for bad in ["tomorrow", "2026-12-32", "2026-12-31T17:00:00", ""] {
        let err = parse_before(bad).unwrap_err();
        assert!(err.contains("YYYY-MM-DD"), "{bad}: {err}");
    }
}
