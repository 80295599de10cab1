//! The decision, tested hard: examples for each rule of CONTRACT §5 and
//! properties over random event streams.

use super::*;
use crate::commands::Action;
use crate::config::{Config, LeaverPolicy};
use crate::events::Snapshot;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const CATALOGUE: &str = r#"
[apps.slack]
connector = "scim"
base_url = "http://x"
roles = ["member", "admin"]
leaver = "suspend"
[apps.zendesk]
connector = "zendesk"
base_url = "http://x"
roles = ["end_user", "light_agent", "agent", "admin"]
leaver = "delete"
"#;

const RULES: &str = r#"
- name: Dev
  target: { field: team, op: is, value: Development }
  apps:
    zendesk: { role: light_agent }
    slack: { role: member }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { role: agent }
    slack: { role: member }
- name: Leads
  target: { field: job_title, op: is, value: Lead }
  apps:
    zendesk: { role: admin }
- name: Paused
  target: { field: team, op: is, value: Sales }
  apps:
    slack: { provisioning: false, role: admin }
"#;

fn config() -> Config {
    Config::parse(Path::new("t.toml"), CATALOGUE).unwrap()
}

fn apps() -> BTreeMap<String, AppConfig> {
    config().apps
}

fn rules_from(text: &str) -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("r.yaml"), text.to_string())], &apps()).unwrap()
}

fn rules() -> RuleSet {
    rules_from(RULES)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T09:00:00.012Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn ev(kind: EventType, seq: Option<i64>, employee: Value) -> HrEvent {
    let Value::Object(employee) = employee else {
        panic!()
    };
    HrEvent {
        id: format!("evt-{}", seq.unwrap_or(0)),
        kind,
        time: None,
        sequence: seq,
        employee_id: "E1".into(),
        employee: employee.into(),
        immediate: false,
    }
}

fn hire(seq: i64, team: &str) -> HrEvent {
    ev(
        EventType::Hired,
        Some(seq),
        json!({"id": "E1", "email": "a@acme.test", "first_name": "Ada", "last_name": "L", "team": team}),
    )
}

fn change(seq: i64, patch: Value) -> HrEvent {
    let mut p = patch;
    p["id"] = json!("E1");
    ev(EventType::Changed, Some(seq), p)
}

fn leave(seq: i64) -> HrEvent {
    ev(EventType::Left, Some(seq), json!({"id": "E1"}))
}

/// Runs events in order and returns every decision.
fn run(events: &[HrEvent]) -> Vec<Decision> {
    let (rules, apps) = (rules(), config());
    let mut state: Option<EmployeeState> = None;
    events
        .iter()
        .map(|e| {
            let d = decide(state.as_ref(), e, &rules, &apps, now());
            keep(&mut state, d.clone());
            d
        })
        .collect()
}

/// What the engine keeps of a decision: its state, unless the event was
/// refused as [`Outcome::UnknownEmployee`] (dead-lettered, nothing kept).
fn keep(state: &mut Option<EmployeeState>, d: Decision) {
    if d.outcome != Outcome::UnknownEmployee {
        *state = Some(d.state);
    }
}

fn summary(cmds: &[Command]) -> Vec<(String, u64, Action, Option<String>)> {
    cmds.iter()
        .map(|c| {
            (
                c.app.to_string(),
                c.generation,
                c.action,
                c.role.as_deref().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn hire_grants_every_matching_app_at_generation_one() {
    let d = &run(&[hire(1, "Development")])[0];
    assert_eq!(
        summary(&d.commands),
        vec![
            ("slack".into(), 1, Action::Upsert, Some("member".into())),
            (
                "zendesk".into(),
                1,
                Action::Upsert,
                Some("light_agent".into())
            ),
        ]
    );
    let z = &d.commands[1];
    assert_eq!(z.command_id, "zendesk:E1:1");
    assert_eq!(z.cause.rules, vec!["Dev".to_string()]);
    assert_eq!(z.cause.event_type, "hr.employee.hired");
    assert_eq!(&z.cause.rules_version, rules().version());
    assert_eq!(z.account.display_name.as_deref(), Some("Ada L"));
    assert_eq!(z.issued_at, now());
}

#[test]
fn hire_matching_nothing_emits_nothing() {
    let d = &run(&[hire(1, "Finance")])[0];
    assert!(d.commands.is_empty());
    assert!(d.state.employed);
}

#[test]
fn role_change_raises_generation() {
    let ds = run(&[
        hire(1, "Development"),
        change(2, json!({"team": "Support"})),
    ]);
    assert_eq!(
        summary(&ds[1].commands),
        vec![("zendesk".into(), 2, Action::Upsert, Some("agent".into()))]
    );
}

#[test]
fn most_privileged_role_wins_and_decider_is_first() {
    let ds = run(&[hire(1, "Support"), change(2, json!({"job_title": "Lead"}))]);
    let z = &ds[1].commands[0];
    assert_eq!(z.role.as_deref(), Some("admin"));
    assert_eq!(
        z.cause.rules,
        vec!["Leads".to_string(), "Support".to_string()]
    );
}

#[test]
fn invisible_change_emits_nothing_but_is_remembered() {
    let ds = run(&[
        hire(1, "Development"),
        change(2, json!({"location": "Madrid"})),
    ]);
    assert!(ds[1].commands.is_empty());
    assert_eq!(ds[1].state.snapshot["location"], "Madrid");
    assert_eq!(ds[1].state.last_sequence, Some(2));
}

#[test]
fn account_change_is_an_upsert_with_the_same_role() {
    let ds = run(&[
        hire(1, "Development"),
        change(2, json!({"email": "ada@new.test"})),
    ]);
    assert_eq!(ds[1].commands.len(), 2);
    for c in &ds[1].commands {
        assert_eq!(c.generation, 2);
        assert_eq!(c.account.user_name, "ada@new.test");
    }
}

#[test]
fn no_longer_matching_deprovisions_by_leaver_policy_with_last_account() {
    let ds = run(&[
        hire(1, "Development"),
        change(2, json!({"team": "Finance", "email": "other@acme.test"})),
    ]);
    let cmds = &ds[1].commands;
    assert_eq!(
        summary(cmds),
        vec![
            ("slack".into(), 2, Action::Deprovision, None),
            ("zendesk".into(), 2, Action::Deprovision, None),
        ]
    );
    assert_eq!(cmds[0].deprovision, Some(LeaverPolicy::Suspend));
    assert_eq!(cmds[1].deprovision, Some(LeaverPolicy::Delete));
    assert_eq!(
        cmds[0].account.user_name, "a@acme.test",
        "the account the app knows"
    );
    assert!(cmds[0].cause.rules.is_empty());
}

#[test]
fn leave_deprovisions_every_app_then_rehire_continues_generations() {
    let ds = run(&[
        hire(1, "Development"),
        leave(2),
        change(3, json!({"team": "Support"})),
        hire(4, "Support"),
    ]);
    assert_eq!(ds[1].commands.len(), 2);
    assert!(ds[1]
        .commands
        .iter()
        .all(|c| c.action == Action::Deprovision));
    assert!(!ds[1].state.employed);
    assert!(
        ds[2].commands.is_empty(),
        "a leaver gets nothing back by a change"
    );
    assert_eq!(
        summary(&ds[3].commands),
        vec![
            ("slack".into(), 3, Action::Upsert, Some("member".into())),
            ("zendesk".into(), 3, Action::Upsert, Some("agent".into())),
        ]
    );
}

#[test]
fn leave_of_unknown_or_unprovisioned_employee_emits_nothing() {
    assert!(run(&[leave(1)])[0].commands.is_empty());
    assert!(run(&[hire(1, "Finance"), leave(2)])[1].commands.is_empty());
}

#[test]
fn provisioning_false_grants_nothing() {
    assert!(run(&[hire(1, "Sales")])[0].commands.is_empty());
}

#[test]
fn a_change_for_an_employee_never_seen_is_refused_as_unknown() {
    // Before: applied to an empty snapshot, it made accounts named after the
    // HR id, without an e-mail.
    let ds = run(&[change(5, json!({"team": "Development"}))]);
    assert_eq!(ds[0].outcome, Outcome::UnknownEmployee);
    assert!(ds[0].commands.is_empty() && ds[0].before.is_empty());
    assert!(!ds[0].state.employed && ds[0].state.apps.is_empty());
}

#[test]
fn the_refused_change_applies_once_the_hire_has_arrived() {
    // The replay after the hire: the same change, now on a known employee.
    let ds = run(&[
        change(2, json!({"team": "Support"})),
        hire(1, "Development"),
        change(2, json!({"team": "Support"})),
    ]);
    assert_eq!(
        ds.iter().map(|d| d.outcome).collect::<Vec<_>>(),
        [Outcome::UnknownEmployee, Outcome::Applied, Outcome::Applied]
    );
    assert_eq!(
        summary(&ds[2].commands),
        [("zendesk".into(), 2, Action::Upsert, Some("agent".into()))]
    );
    assert_eq!(ds[2].commands[0].account.user_name, "a@acme.test");
}

#[test]
fn a_leave_for_an_employee_never_seen_is_recorded_and_outdates_an_older_hire() {
    let ds = run(&[leave(5), hire(4, "Development"), change(6, json!({}))]);
    assert_eq!(ds[0].outcome, Outcome::Applied);
    assert!(ds[0].commands.is_empty(), "nothing to deprovision");
    assert!(!ds[0].state.employed);
    // A hire older than the leave is stale: no accounts for a leaver.
    assert_eq!(ds[1].outcome, Outcome::Stale);
    // A later change is for a known (former) employee: applied, no accounts.
    assert_eq!(ds[2].outcome, Outcome::Applied);
    assert!(ds[2].commands.is_empty());
}

#[test]
fn stale_by_sequence_changes_nothing() {
    let ds = run(&[
        hire(2, "Development"),
        change(1, json!({"team": "Support"})),
        change(2, json!({"team": "Support"})),
    ]);
    for d in &ds[1..] {
        assert_eq!(d.outcome, Outcome::Stale);
        assert!(d.commands.is_empty());
        assert_eq!(d.state, ds[0].state);
    }
}

#[test]
fn stale_by_time_when_no_sequence() {
    let t = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
    let mut first = hire(0, "Development");
    first.sequence = None;
    first.time = t("2026-11-26T10:00:00Z");
    let mut older = change(0, json!({"team": "Support"}));
    older.sequence = None;
    older.time = t("2026-11-26T09:59:59Z");
    let mut newer = older.clone();
    newer.time = t("2026-11-26T10:00:01Z");
    let ds = run(&[first, older, newer]);
    assert_eq!(ds[1].outcome, Outcome::Stale);
    assert_eq!(ds[2].outcome, Outcome::Applied);
    assert_eq!(ds[2].commands.len(), 1);
}

#[test]
fn apps_missing_from_the_catalogue_are_left_alone() {
    let (rules, apps) = (rules(), config());
    let mut d = decide(None, &hire(1, "Development"), &rules, &apps, now());
    let mut fewer = apps.clone();
    fewer.apps.remove("slack");
    d = decide(Some(&d.state), &leave(2), &rules, &fewer, now());
    assert_eq!(
        summary(&d.commands),
        vec![("zendesk".into(), 2, Action::Deprovision, None)]
    );
    assert_eq!(d.state.apps["slack"].generation, 1, "slack untouched");
}

#[test]
fn reconcile_under_new_rules_emits_only_the_diff() {
    let apps = config();
    let d = decide(None, &hire(1, "Development"), &rules(), &apps, now());
    let mut state = d.state;
    let new_rules =
        rules_from(&RULES.replace("zendesk: { role: light_agent }", "zendesk: { role: agent }"));
    let trigger = Trigger {
        event_id: new_rules.version(),
        event_type: RULES_CHANGED,
    };
    let cmds = reconcile(&mut state, &new_rules, &apps, &trigger, now()).commands;
    assert_eq!(
        summary(&cmds),
        vec![("zendesk".into(), 2, Action::Upsert, Some("agent".into()))]
    );
    assert_eq!(cmds[0].cause.event_type, RULES_CHANGED);
    assert!(reconcile(&mut state, &new_rules, &apps, &trigger, now())
        .commands
        .is_empty());
}

// ---- properties over random streams of one employee's events ----

fn arb_event() -> impl Strategy<Value = HrEvent> {
    let team = prop_oneof![
        Just("Development"),
        Just("Support"),
        Just("Sales"),
        Just("Finance")
    ];
    let title = prop_oneof![
        Just(Value::Null),
        Just(json!("Lead")),
        Just(json!("Engineer"))
    ];
    let email = prop_oneof![Just("a@acme.test"), Just("b@acme.test")];
    (0..3u8, 0..20i64, team, title, email, any::<bool>()).prop_map(
        |(kind, seq, team, title, email, with_seq)| {
            let mut employee: Snapshot = Snapshot::new();
            employee.insert("id".into(), json!("E1"));
            employee.insert("team".into(), json!(team));
            employee.insert("job_title".into(), title);
            employee.insert("email".into(), json!(email));
            let kind = match kind {
                0 => EventType::Hired,
                1 => EventType::Changed,
                _ => EventType::Left,
            };
            ev(kind, with_seq.then_some(seq), Value::Object(employee))
        },
    )
}

proptest! {
    /// Applying the same event twice emits nothing the second time.
    #[test]
    fn same_event_twice_emits_nothing(events in prop::collection::vec(arb_event(), 1..12)) {
        let (rules, apps) = (rules(), config());
        let mut state: Option<EmployeeState> = None;
        for e in &events {
            let d = decide(state.as_ref(), e, &rules, &apps, now());
            keep(&mut state, d);
            let again = decide(state.as_ref(), e, &rules, &apps, now());
            prop_assert!(again.commands.is_empty(), "{:?}", again.commands);
        }
    }

    /// Generations of one app rise by exactly one per command, and the
    /// command id always names app, employee and generation.
    #[test]
    fn generations_rise_by_one(events in prop::collection::vec(arb_event(), 1..20)) {
        let (rules, apps) = (rules(), config());
        let mut state: Option<EmployeeState> = None;
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        for e in &events {
            let d = decide(state.as_ref(), e, &rules, &apps, now());
            for c in &d.commands {
                let prev = last.insert(c.app.to_string(), c.generation).unwrap_or(0);
                prop_assert_eq!(c.generation, prev + 1);
                prop_assert_eq!(&c.command_id, &format!("{}:E1:{}", c.app, c.generation));
            }
            keep(&mut state, d);
        }
    }

    /// After any stream, the active accounts are exactly what the rules grant
    /// (nothing for a leaver), each with the most privileged granted role.
    #[test]
    fn state_converges_to_the_rules(events in prop::collection::vec(arb_event(), 1..20)) {
        let (rules, apps) = (rules(), config());
        let mut state: Option<EmployeeState> = None;
        for e in &events {
            let d = decide(state.as_ref(), e, &rules, &apps, now());
            keep(&mut state, d);
        }
        let Some(state) = state else {
            // Only changes, all refused: nothing was kept.
            return Ok(());
        };
        let expected: BTreeMap<String, String> = if state.employed {
            rules.grants(&state.snapshot).into_iter().map(|(a, g)| (a, g.role)).collect()
        } else {
            BTreeMap::new()
        };
        let active: BTreeMap<String, String> = state
            .apps
            .iter()
            .filter_map(|(a, s)| match &s.desired {
                Desired::Active { role, .. } => Some((a.to_string(), role.to_string())),
                Desired::Deprovisioned { .. } => None,
            })
            .collect();
        prop_assert_eq!(active, expected);
        if let Some(z) = state.apps.get("zendesk") {
            if let Desired::Active { role, .. } = &z.desired {
                let lead = state.snapshot.get("job_title") == Some(&json!("Lead"));
                prop_assert_eq!(role == "admin", lead);
            }
        }
    }

    /// A stale event never changes the state.
    #[test]
    fn stale_changes_nothing(events in prop::collection::vec(arb_event(), 1..12)) {
        let (rules, apps) = (rules(), config());
        let mut state: Option<EmployeeState> = None;
        for e in &events {
            let d = decide(state.as_ref(), e, &rules, &apps, now());
            if d.outcome == Outcome::Stale {
                prop_assert_eq!(Some(&d.state), state.as_ref());
                prop_assert!(d.commands.is_empty());
            }
            keep(&mut state, d);
        }
    }
}
