//! Decisions over time (CONTRACT §3, "Dates"), with an injected clock: what
//! each event does now, what it leaves for the employee's timer, and what
//! the timer does when it fires (a [`SCHEDULE_DUE`] reconcile).
//!
//! The default zone is Europe/Madrid (CET, +01:00 in these months): a day
//! `D` starts at `D-1T23:00:00Z`. Slack is made 3 days before the start.

use super::*;
use crate::commands::Action;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const CATALOGUE: &str = r#"
[lifecycle]
default_time_zone = "Europe/Madrid"
[apps.slack]
connector = "scim"
base_url = "http://x"
roles = ["member"]
pre_start_ms = 259200000
[apps.zendesk]
connector = "zendesk"
base_url = "http://x"
roles = ["agent"]
leaver = "delete"
"#;

const RULES: &str = r#"
- name: Dev
  target: { field: team, op: is, value: Development }
  apps:
    slack: { role: member }
    zendesk: { role: agent }
"#;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// One employee's decisions, in order, each at the `now` given.
struct Hr {
    rules: RuleSet,
    config: Config,
    state: Option<EmployeeState>,
}

impl Hr {
    fn new() -> Hr {
        Hr::with(CATALOGUE)
    }

    fn with(catalogue: &str) -> Hr {
        let config = Config::parse(Path::new("t.toml"), catalogue).unwrap();
        let rules = RuleSet::from_sources(
            &[(PathBuf::from("r.yaml"), RULES.to_string())],
            &config.apps,
        )
        .unwrap();
        Hr {
            rules,
            config,
            state: None,
        }
    }

    /// Decides `event` at `now`; keeps the state unless it was refused.
    fn event(&mut self, event: &HrEvent, now: DateTime<Utc>) -> Vec<Command> {
        let d = decide(self.state.as_ref(), event, &self.rules, &self.config, now);
        if d.outcome != Outcome::UnknownEmployee {
            self.state = Some(d.state);
        }
        d.commands
    }

    /// The employee's timer firing at `now`: the engine's reconcile with a
    /// [`SCHEDULE_DUE`] trigger.
    fn fire(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        let trigger = Trigger {
            event_id: "timer",
            event_type: SCHEDULE_DUE,
        };
        let state = self.state.as_mut().expect("a state");
        reconcile(state, &self.rules, &self.config, &trigger, now).commands
    }

    fn state(&self) -> &EmployeeState {
        self.state.as_ref().expect("a state")
    }

    fn due(&self) -> Option<DateTime<Utc>> {
        self.state().due
    }

    /// The apps with an active account.
    fn active(&self) -> Vec<String> {
        self.state()
            .active_apps()
            .map(|(app, _)| app.to_string())
            .collect()
    }
}

fn event(kind: EventType, seq: i64, employee: Value, immediate: bool) -> HrEvent {
    let Value::Object(mut employee) = employee else {
        panic!()
    };
    employee.insert("id".into(), json!("E1"));
    HrEvent {
        id: format!("evt-{seq}"),
        kind,
        time: None,
        sequence: Some(seq),
        employee_id: "E1".into(),
        employee: employee.into(),
        immediate,
    }
}

/// A developer hired with these dates (`null`: none).
fn hire(seq: i64, start: Value, end: Value) -> HrEvent {
    let employee = json!({"email": "a@acme.test", "team": "Development",
                          "start_date": start, "end_date": end});
    event(EventType::Hired, seq, employee, false)
}

fn change(seq: i64, patch: Value) -> HrEvent {
    event(EventType::Changed, seq, patch, false)
}

fn leave(seq: i64, patch: Value, immediate: bool) -> HrEvent {
    event(EventType::Left, seq, patch, immediate)
}

fn actions(cmds: &[Command]) -> Vec<(&str, Action)> {
    cmds.iter().map(|c| (c.app.as_str(), c.action)).collect()
}

const BOTH_UP: [(&str, Action); 2] = [("slack", Action::Upsert), ("zendesk", Action::Upsert)];
const BOTH_DOWN: [(&str, Action); 2] = [
    ("slack", Action::Deprovision),
    ("zendesk", Action::Deprovision),
];

/// Today, 1 December 2026, mid-morning.
fn now() -> DateTime<Utc> {
    t("2026-12-01T10:00:00Z")
}

/// Someone who started in November, provisioned today.
fn employed() -> Hr {
    let mut hr = Hr::new();
    let cmds = hr.event(&hire(1, json!("2026-11-02"), Value::Null), now());
    assert_eq!(actions(&cmds), BOTH_UP);
    assert_eq!(hr.due(), None);
    hr
}

/// [`employed`], who gave notice today for 18 December (ends at its
/// local midnight, 2026-12-18T23:00:00Z).
fn leaving() -> Hr {
    let mut hr = employed();
    let cmds = hr.event(&leave(2, json!({"end_date": "2026-12-18"}), false), now());
    assert!(cmds.is_empty(), "a future leave keeps the accounts");
    assert_eq!(hr.due(), Some(t("2026-12-18T23:00:00Z")));
    assert_eq!(hr.state().ended, None);
    hr
}

#[test]
fn a_future_hire_waits_for_each_apps_start() {
    let mut hr = Hr::new();
    assert!(hr
        .event(&hire(1, json!("2026-12-14"), Value::Null), now())
        .is_empty());
    // Slack's window opens 3 days before the local start of 14 December.
    assert_eq!(hr.due(), Some(t("2026-12-10T23:00:00Z")));
    assert!(hr.active().is_empty());
    // A timer fired early (or a rules change) does nothing.
    assert!(hr.fire(t("2026-12-05T00:00:00Z")).is_empty());

    let cmds = hr.fire(t("2026-12-10T23:00:00Z"));
    assert_eq!(actions(&cmds), [("slack", Action::Upsert)]);
    let cause = &cmds[0].cause;
    assert_eq!(cause.event_type, SCHEDULE_DUE);
    let effective = cause.effective.as_ref().expect("a scheduled cause");
    assert_eq!(
        (effective.field.as_str(), effective.date.as_str()),
        ("start_date", "2026-12-14")
    );
    assert_eq!(effective.at, t("2026-12-10T23:00:00Z"));
    assert_eq!(hr.due(), Some(t("2026-12-13T23:00:00Z")));

    // Fired late, at 00:00:05 local: still the start's instant in `at`.
    let cmds = hr.fire(t("2026-12-13T23:00:05Z"));
    assert_eq!(actions(&cmds), [("zendesk", Action::Upsert)]);
    let effective = cmds[0].cause.effective.as_ref().unwrap();
    assert_eq!(effective.at, t("2026-12-13T23:00:00Z"));
    assert_eq!(cmds[0].issued_at, t("2026-12-13T23:00:05Z"));
    assert_eq!(hr.due(), None);
}

#[test]
fn the_employees_zone_decides_when_the_day_starts() {
    let mut hr = Hr::new();
    let mut e = hire(1, json!("2026-12-14"), Value::Null);
    std::sync::Arc::make_mut(&mut e.employee)
        .insert("time_zone".into(), json!("America/Los_Angeles"));
    hr.event(&e, now());
    // Midnight PST (−08:00), less slack's 3 days.
    assert_eq!(hr.due(), Some(t("2026-12-11T08:00:00Z")));
}

#[test]
fn a_future_leave_deprovisions_at_its_end_date() {
    let mut hr = leaving();
    assert!(hr.fire(t("2026-12-18T22:59:59Z")).is_empty());
    let cmds = hr.fire(t("2026-12-18T23:00:00Z"));
    assert_eq!(actions(&cmds), BOTH_DOWN);
    for c in &cmds {
        let effective = c.cause.effective.as_ref().unwrap();
        assert_eq!(effective.field, "end_date");
        assert_eq!(effective.date, "2026-12-18");
        assert_eq!(effective.at, t("2026-12-18T23:00:00Z"));
    }
    assert_eq!(
        cmds[1].deprovision,
        Some(crate::config::LeaverPolicy::Delete)
    );
    assert_eq!(hr.due(), None);
}

#[test]
fn an_immediate_leave_or_one_without_end_date_acts_at_once() {
    for (patch, immediate) in [
        (json!({"end_date": "2026-12-18"}), true),
        (json!({}), false),
        (json!({"end_date": null}), false),
    ] {
        let mut hr = employed();
        let cmds = hr.event(&leave(2, patch.clone(), immediate), now());
        assert_eq!(actions(&cmds), BOTH_DOWN, "{patch} {immediate}");
        assert_eq!(cmds[0].cause.event_type, "hr.employee.left");
        assert_eq!(cmds[0].cause.effective, None, "not a scheduled command");
        assert_eq!(hr.state().ended, Some(now()));
        assert_eq!(hr.due(), None);
        assert!(hr.fire(t("2026-12-19T00:00:00Z")).is_empty());
    }
}

#[test]
fn a_leave_before_the_start_rescinds_the_hire() {
    let mut hr = Hr::new();
    hr.event(&hire(1, json!("2026-12-14"), Value::Null), now());
    // Slack was made early, 3 days before the start.
    let at = t("2026-12-12T09:00:00Z");
    assert_eq!(actions(&hr.fire(at)), [("slack", Action::Upsert)]);
    // Two days before the start, the offer is withdrawn (with a last day
    // after the start, even: the hire never began).
    let cmds = hr.event(&leave(2, json!({"end_date": "2026-12-31"}), false), at);
    assert_eq!(actions(&cmds), [("slack", Action::Deprovision)]);
    assert_eq!(hr.state().ended, Some(at));
    assert_eq!(hr.due(), None, "the pending start is cancelled");
    assert!(hr.fire(t("2026-12-14T00:00:00Z")).is_empty());
    assert!(hr.active().is_empty());
}

#[test]
fn a_change_that_moves_the_end_date_moves_the_timer() {
    let mut hr = leaving();
    let cmds = hr.event(&change(3, json!({"end_date": "2026-12-24"})), now());
    assert!(cmds.is_empty());
    assert_eq!(hr.due(), Some(t("2026-12-24T23:00:00Z")));
    assert!(hr.fire(t("2026-12-18T23:00:00Z")).is_empty(), "the old end");
    assert_eq!(actions(&hr.fire(t("2026-12-24T23:00:00Z"))), BOTH_DOWN);
    // Moved earlier, even to a day already over: deprovisioned at once.
    let mut hr = leaving();
    let cmds = hr.event(&change(3, json!({"end_date": "2026-11-30"})), now());
    assert_eq!(actions(&cmds), BOTH_DOWN);
    assert_eq!(cmds[0].cause.event_type, "hr.employee.changed");
}

#[test]
fn a_change_that_clears_the_end_date_withdraws_the_leave() {
    let mut hr = leaving();
    assert!(hr
        .event(&change(3, json!({"end_date": null})), now())
        .is_empty());
    assert_eq!(hr.due(), None);
    assert!(hr.state().employed);
    assert!(hr.fire(t("2027-06-01T00:00:00Z")).is_empty());
    assert_eq!(hr.active(), ["slack", "zendesk"]);
}

#[test]
fn once_the_end_has_passed_nothing_brings_the_accounts_back() {
    let end = t("2026-12-18T23:00:00Z");
    let later = t("2026-12-20T09:00:00Z");
    for (i, event) in [
        change(3, json!({"end_date": "2026-12-31"})),
        change(3, json!({"end_date": null})),
        change(3, json!({"start_date": "2026-12-21"})),
        // Before: a second leave with a later end date re-made the accounts
        // until then (a change could not).
        leave(3, json!({"end_date": "2026-12-31"}), false),
    ]
    .iter()
    .enumerate()
    {
        let mut hr = leaving();
        assert_eq!(actions(&hr.fire(end)), BOTH_DOWN);
        assert!(hr.event(event, later).is_empty(), "case {i}");
        // The end date that took effect is kept, whatever the event said.
        assert_eq!(
            hr.state().snapshot["end_date"],
            json!("2026-12-18"),
            "case {i}"
        );
        assert_eq!(hr.due(), None, "case {i}");
        assert!(hr.fire(t("2026-12-25T00:00:00Z")).is_empty(), "case {i}");
    }
    // The timer not fired yet (the engine was down): the same.
    let mut hr = leaving();
    let cmds = hr.event(&change(3, json!({"end_date": "2026-12-31"})), later);
    assert_eq!(actions(&cmds), BOTH_DOWN);
    assert_eq!(hr.state().snapshot["end_date"], json!("2026-12-18"));
    // Only a new hire does.
    let cmds = hr.event(&hire(4, json!("2027-01-04"), Value::Null), later);
    assert!(cmds.is_empty());
    assert_eq!(
        hr.due(),
        Some(t("2026-12-31T23:00:00Z")),
        "slack, 3 days early"
    );
}

#[test]
fn backfilled_past_dates() {
    // A whole past contract, recorded late: nothing to do, no timer.
    let mut hr = Hr::new();
    let cmds = hr.event(&hire(1, json!("2026-01-05"), json!("2026-06-30")), now());
    assert!(cmds.is_empty());
    assert_eq!(hr.due(), None);
    // A leave whose last day is over: at once.
    let mut hr = employed();
    let cmds = hr.event(&leave(2, json!({"end_date": "2026-11-27"}), false), now());
    assert_eq!(actions(&cmds), BOTH_DOWN);
    assert_eq!(hr.due(), None);
}

#[test]
fn a_hire_whose_end_date_is_past_provisions_nothing() {
    for start in [Value::Null, json!("2026-12-14")] {
        let mut hr = Hr::new();
        let cmds = hr.event(&hire(1, start.clone(), json!("2026-11-30")), now());
        assert!(cmds.is_empty(), "start {start}");
        assert_eq!(hr.due(), None, "start {start}");
    }
    // Ending today at midnight: provisioned until then.
    let mut hr = Hr::new();
    let cmds = hr.event(&hire(1, Value::Null, json!("2026-12-01")), now());
    assert_eq!(actions(&cmds), BOTH_UP);
    assert_eq!(hr.due(), Some(t("2026-12-01T23:00:00Z")));
}

#[test]
fn a_leave_for_someone_never_seen_grants_nothing_whatever_its_end_date() {
    // Before: a future end date left the leaver "employed until then", and
    // the rules made accounts from the patch (no e-mail, the HR id as user
    // name) for someone never hired.
    let mut hr = Hr::new();
    let patch = json!({"team": "Development", "end_date": "2026-12-31"});
    assert!(hr.event(&leave(5, patch, false), now()).is_empty());
    assert_eq!(hr.state().ended, Some(now()));
    assert_eq!(hr.due(), None);
}

#[test]
fn deciding_again_at_the_same_now_changes_nothing() {
    let mut hr = Hr::new();
    let steps: [(Option<HrEvent>, &str); 6] = [
        (
            Some(hire(1, json!("2026-12-14"), Value::Null)),
            "2026-12-01T10:00:00Z",
        ),
        (None, "2026-12-10T23:00:00Z"),
        (None, "2026-12-13T23:00:00Z"),
        (
            Some(leave(2, json!({"end_date": "2026-12-18"}), false)),
            "2026-12-15T10:00:00Z",
        ),
        (
            Some(change(3, json!({"end_date": "2026-12-17"}))),
            "2026-12-16T10:00:00Z",
        ),
        (None, "2026-12-17T23:00:00Z"),
    ];
    for (event, at) in steps {
        let at = t(at);
        let first = match event {
            Some(e) => hr.event(&e, at),
            None => hr.fire(at),
        };
        assert!(
            !first.is_empty() || hr.due().is_some(),
            "a step that does something"
        );
        let before = hr.state().clone();
        assert!(hr.fire(at).is_empty(), "at {at}");
        assert_eq!(hr.state(), &before, "at {at}");
    }
    assert!(hr.active().is_empty());
}

// ---- a property over random event streams and clock steps ----

/// [`CATALOGUE`] with both offsets, so the two apps' windows differ at
/// both ends.
#[test]
fn a_change_after_the_end_does_not_cut_an_apps_handover_short() {
    // Zendesk keeps the account 12 hours after the end (post_end_ms).
    let mut hr = Hr::with(&offsets());
    assert_eq!(
        actions(&hr.event(&hire(1, json!("2026-11-02"), Value::Null), now())),
        BOTH_UP
    );
    let left = leave(2, json!({"end_date": "2026-12-18"}), false);
    assert!(hr.event(&left, now()).is_empty());
    let slack_down = hr.fire(t("2026-12-18T23:00:00Z"));
    assert_eq!(actions(&slack_down), [("slack", Action::Deprovision)]);
    // An unrelated change during the handover: Zendesk stays until its end.
    let moved = change(3, json!({"location": "Lisbon", "end_date": null}));
    assert!(hr.event(&moved, t("2026-12-19T01:00:00Z")).is_empty());
    assert_eq!(hr.active(), ["zendesk"]);
    assert_eq!(hr.due(), Some(t("2026-12-19T11:00:00Z")));
    let zendesk_down = hr.fire(t("2026-12-19T11:00:00Z"));
    assert_eq!(actions(&zendesk_down), [("zendesk", Action::Deprovision)]);
}

fn offsets() -> String {
    CATALOGUE.replace("leaver = \"delete\"", "post_end_ms = 43200000")
}

/// `Some(None)` clears a field, `None` leaves it out.
fn field(values: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        prop::sample::select(values).prop_map(|v| Some(json!(v))),
    ]
}

fn arb_event() -> impl Strategy<Value = HrEvent> {
    let start = field(&["2026-11-20", "2026-12-03", "2026-12-05T12:00:00Z"]);
    let end = field(&[
        "2026-11-25",
        "2026-12-04",
        "2026-12-08",
        "2026-12-10T06:30:00Z",
    ]);
    let tz = field(&["Pacific/Auckland", "America/Los_Angeles"]);
    let team = prop::sample::select(vec!["Development", "Finance"]);
    (0..3u8, 0..30i64, team, start, end, tz, any::<bool>()).prop_map(
        |(kind, seq, team, start, end, tz, immediate)| {
            let mut employee = json!({"team": team});
            for (name, value) in [("start_date", start), ("end_date", end), ("time_zone", tz)] {
                if let Some(value) = value {
                    employee[name] = value;
                }
            }
            let (kind, immediate) = match kind {
                0 => {
                    employee["email"] = json!("a@acme.test");
                    (EventType::Hired, false)
                }
                1 => (EventType::Changed, false),
                _ => (EventType::Left, immediate),
            };
            event(kind, seq, employee, immediate)
        },
    )
}

proptest! {
    /// After every step (the clock moves on, a due timer fires, then an
    /// event is decided): an app is active iff a rule grants it, the leave
    /// has not ended access, and its window is open now; `due` is in the
    /// future, and nothing changes before it (no timer is ever missed).
    #[test]
    fn accounts_follow_the_windows(
        steps in prop::collection::vec(
            (0..(4 * 24 * 4u32), prop::option::of(arb_event())),
            1..24,
        ),
    ) {
        let mut hr = Hr::with(&offsets());
        let mut now = t("2026-11-28T00:00:00Z");
        for (quarters, event) in steps {
            now += chrono::Duration::minutes(15 * i64::from(quarters));
            // As the engine: a due timer fires whatever else comes (a
            // stale event does not reconcile); without an event, a
            // re-evaluation at any time (a rules change, say).
            let timer_due = hr.state.as_ref().and_then(|s| s.due).is_some_and(|due| due <= now);
            if hr.state.is_some() && (timer_due || event.is_none()) {
                hr.fire(now);
            }
            if let Some(e) = &event {
                hr.event(e, now);
            }
            let Some(state) = hr.state.clone() else { continue };
            let dates = crate::lifecycle::Dates::of(&state.snapshot, hr.config.lifecycle.zone());
            let grants = hr.rules.grants(&state.snapshot);
            for (app, app_config) in &hr.config.apps {
                let open = dates.window(app_config).phase(now) == Phase::Active;
                let expected = state.ended.is_none() && grants.contains_key(app) && open;
                let active = state.active_apps().any(|(a, _)| a.as_str() == app);
                prop_assert_eq!(active, expected, "{} at {}: {:?}", app, now, state);
            }
            prop_assert!(state.due.is_none_or(|due| due > now), "{:?}", state.due);
            // Nothing to do before the timer (or ever, without one).
            let quiet_until = state.due.map_or(now + chrono::Duration::days(3650), |due| {
                due - chrono::Duration::nanoseconds(1)
            });
            let saved = hr.state.clone();
            let cmds = hr.fire(quiet_until);
            prop_assert!(cmds.is_empty(), "before {:?}: {:?}", quiet_until, cmds);
            hr.state = saved;
        }
    }
}
