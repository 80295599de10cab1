use super::*;
use crate::commands::{Action, Cause, Command};
use proptest::prelude::*;
use serde_json::json;

const V1: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const V2: &str = "sha256:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ada() -> EmployeeState {
    let mut state = EmployeeState::new("E1001");
    state.snapshot = json!({
        "id": "E1001", "email": "ada@acme.test", "first_name": "Ada", "last_name": "Lovelace",
        "team": "Development", "location": "Barcelona", "end_date": null,
        "attributes": {"cost_center": "RND", "remote": true, "level": 3, "score": 1.5,
                       "tags": ["a", {"id": "E1001"}], "big": 18446744073709551615u64},
        "custom": "x".repeat(300)
    })
    .as_object()
    .unwrap()
    .clone()
    .into();
    state.employed = true;
    state.last_sequence = Some(-7);
    state.last_time = Some(t("2026-11-26T09:00:00.123456789Z"));
    state.rules_version = V1.into();
    let derived = state.account();
    state.apps.insert(
        "slack".into(),
        AppState {
            generation: 3,
            desired: Desired::Active {
                role: "member".into(),
                account: derived.clone(),
            },
        },
    );
    let mut old = derived;
    let changed = std::sync::Arc::make_mut(&mut old);
    changed.user_name = "old@acme.test".into();
    changed.display_name = None;
    state.apps.insert(
        "zendesk".into(),
        AppState {
            generation: 300,
            desired: Desired::Deprovisioned { account: old },
        },
    );
    state
}

fn held(state: &mut EmployeeState) {
    let account = state.account();
    state.held.insert(
        "slack".into(),
        Held {
            hold_id: "hold-1".into(),
            held_at: t("2026-11-26T10:00:00Z"),
            command: Command {
                command_id: "slack:E1001:4".into(),
                app: "slack".into(),
                employee_id: "E1001".into(),
                generation: 4,
                action: Action::Deprovision,
                deprovision: Some(crate::config::LeaverPolicy::Suspend),
                role: None,
                account,
                cause: Cause {
                    event_id: "e".into(),
                    event_type: "hr.employee.left".into(),
                    rules: vec![],
                    rules_version: V1.into(),
                    effective: None,
                },
                issued_at: t("2026-11-26T10:00:00Z"),
            },
        },
    );
}

#[test]
fn round_trips_under_the_rules_in_force() {
    let mut state = ada();
    held(&mut state);
    let bytes = encode(&state);
    assert_eq!(bytes[0], VERSION);
    assert_eq!(decode("E1001", &bytes, Some(&V1.into())).unwrap(), state);
}

#[test]
fn is_much_smaller_than_json() {
    let mut state = ada();
    std::sync::Arc::make_mut(&mut state.snapshot).remove("custom");
    let json = serde_json::to_vec(&state).unwrap().len();
    let compact = encode(&state).len();
    assert!(compact * 3 < json, "{compact} bytes vs {json} of JSON");
}

#[test]
fn another_rules_version_decodes_to_a_stand_in_that_equals_no_version() {
    let state = ada();
    let back = decode("E1001", &encode(&state), Some(&V2.into())).unwrap();
    assert_ne!(back.rules_version, V1);
    assert_ne!(back.rules_version, V2);
    assert!(back.rules_version.starts_with("sha256:0011223344556677"));
    // Encoded again (a restore under other rules), it still says which.
    let again = decode("E1001", &encode(&back), Some(&V1.into())).unwrap();
    assert_eq!(again.rules_version, V1);
}

#[test]
fn a_version_of_another_form_is_kept_whole() {
    let mut state = ada();
    state.rules_version = "test-version".into();
    assert_eq!(
        decode("E1001", &encode(&state), Some(&V1.into()))
            .unwrap()
            .rules_version,
        "test-version"
    );
    state.rules_version = crate::ids::RulesVersion::default();
    assert_eq!(
        decode("E1001", &encode(&state), Some(&V1.into())).unwrap(),
        state
    );
}

#[test]
fn a_new_state_round_trips() {
    let state = EmployeeState::new("E9");
    assert_eq!(
        decode("E9", &encode(&state), Some(&V1.into())).unwrap(),
        state
    );
}

#[test]
fn legacy_json_still_reads() {
    let state = ada();
    let json = serde_json::to_vec(&state).unwrap();
    assert_eq!(decode_any("E1001", &json, Some(&V2.into())).unwrap(), state);
    assert!(decode("E1001", &json, Some(&V1.into())).is_err());
}

#[test]
fn summary_counts_active_apps_held_and_version() {
    let mut state = ada();
    let bytes = encode(&state);
    let s = summary(&bytes, Some(&V1.into())).unwrap();
    assert_eq!(
        s,
        Summary {
            active: vec!["slack"],
            held: false,
            current: true,
            due: None,
        }
    );
    assert!(!summary(&bytes, Some(&V2.into())).unwrap().current);
    held(&mut state);
    assert!(summary(&encode(&state), Some(&V1.into())).unwrap().held);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let bytes = encode(&ada());
    for cut in 0..bytes.len() {
        assert!(
            decode("E1001", &bytes[..cut], Some(&V1.into())).is_err(),
            "cut at {cut}"
        );
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(decode("E1001", &extra, Some(&V1.into())).is_err());
    assert!(decode("E1001", &[VERSION + 1], Some(&V1.into())).is_err());
    assert!(decode_any("E1001", b"{not json", Some(&V1.into())).is_err());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        ".{0,200}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("id".to_string()),
                        Just("team".to_string()),
                        "[a-z]{1,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_snapshot_round_trips(
        members in prop::collection::vec(("[a-z_]{1,12}|id|email|attributes", json_value()), 0..12),
        id in "[A-Z0-9]{1,10}",
    ) {
        let mut state = EmployeeState::new(&id);
        state.snapshot = std::sync::Arc::new(members.into_iter().collect());
        std::sync::Arc::make_mut(&mut state.snapshot).insert("id".into(), Value::String(id.clone()));
        let account = state.account();
        state.apps.insert("app".into(), AppState {
            generation: 1,
            desired: Desired::Active { role: "r".into(), account },
        });
        let back = decode(&id, &encode(&state), None).unwrap();
        prop_assert_eq!(back, state);
    }
}

proptest! {
    #[test]
    fn is_derived_agrees_with_account(
        email in prop::option::of(" ?[a-c@]{0,3} ?"),
        first in prop::option::of(" ?[a-c ]{0,3}"),
        last in prop::option::of("[a-c ]{0,3} ?"),
        other_display in prop::option::of("[a-c ]{0,4}"),
    ) {
        let mut state = EmployeeState::new("E1");
        for (k, v) in [("email", &email), ("first_name", &first), ("last_name", &last)] {
            if let Some(v) = v {
                std::sync::Arc::make_mut(&mut state.snapshot).insert(k.into(), Value::String(v.clone()));
            }
        }
        let derived = state.account();
        prop_assert!(is_derived(&state, &derived));
        let mut other = (*derived).clone();
        other.display_name = other_display;
        prop_assert_eq!(is_derived(&state, &other), other == *derived);
        let mut other = (*derived).clone();
        other.user_name.push('x');
        prop_assert!(!is_derived(&state, &other));
    }
}

// ---- the timer and the end of access (format version 2) ----

#[test]
fn due_and_ended_round_trip() {
    let mut state = ada();
    state.due = Some(t("2026-12-18T23:00:00.000000001Z"));
    state.ended = Some(t("2026-12-01T10:00:00.5Z"));
    let bytes = encode(&state);
    assert_eq!(bytes[1] & (DUE | ENDED), DUE | ENDED);
    assert_eq!(decode("E1001", &bytes, Some(&V1.into())).unwrap(), state);
    // Each alone, and before the epoch (a backfilled date).
    for (due, ended) in [
        (Some(t("1969-12-31T23:59:59.25Z")), None),
        (None, Some(ENDED_BEFORE_DATES)),
    ] {
        state.due = due;
        state.ended = ended;
        let back = decode("E1001", &encode(&state), Some(&V1.into())).unwrap();
        assert_eq!((back.due, back.ended), (due, ended));
    }
}

/// Two states written by the version-1 encoder (kept as bytes, not
/// re-encoded): E7 with end date 2026-12-18, sequence 3, one app (slack,
/// generation 2) — a leaver (deprovisioned), then still employed (active).
const V1_LEAVER: &str = "010a0600112233445566770105736c61636b020008040109028b674061636d652e\
746573740587537570706f72740c8a323032362d31322d3138";
const V1_EMPLOYED: &str = "010b0600112233445566770105736c61636b0201066d656d62657208040109028b\
674061636d652e746573740587537570706f72740c8a323032362d31322d3138";

#[test]
fn a_version_1_value_still_decodes() {
    let employed = decode("E7", &hex::decode(V1_EMPLOYED).unwrap(), Some(&V1.into())).unwrap();
    assert!(employed.employed);
    assert_eq!(
        (employed.last_sequence, employed.due, employed.ended),
        (Some(3), None, None)
    );
    assert_eq!(employed.rules_version, V1);
    assert_eq!(employed.snapshot["end_date"], "2026-12-18");
    assert_eq!(employed.snapshot["id"], "E7");
    assert_eq!(employed.apps["slack"].generation, 2);
    assert!(
        matches!(&employed.apps["slack"].desired, Desired::Active { role, .. } if role == "member")
    );
    // A leaver of then left at once: its end date (ahead) must not bring
    // the accounts back, so access is marked as ended before dates.
    let leaver = decode("E7", &hex::decode(V1_LEAVER).unwrap(), Some(&V1.into())).unwrap();
    assert!(!leaver.employed);
    assert_eq!(leaver.ended, Some(ENDED_BEFORE_DATES));
    assert_eq!(
        leaver.apps["slack"].desired,
        Desired::Deprovisioned {
            account: leaver.account()
        }
    );
    // Rewritten, it is a version-2 value that keeps `ended`.
    let bytes = encode(&leaver);
    assert_eq!(bytes[0], VERSION);
    assert_eq!(decode("E7", &bytes, Some(&V1.into())).unwrap(), leaver);
    // The summary reads version 1 too.
    let bytes = hex::decode(V1_EMPLOYED).unwrap();
    let s = summary(&bytes, Some(&V1.into())).unwrap();
    assert_eq!((s.active, s.current, s.due), (vec!["slack"], true, None));
}

#[test]
fn a_json_leaver_gets_ended_before_dates() {
    let mut state = ada();
    state.employed = false;
    let json = serde_json::to_vec(&state).unwrap();
    let back = decode_any("E1001", &json, Some(&V1.into())).unwrap();
    assert_eq!(back.ended, Some(ENDED_BEFORE_DATES));
    state.employed = true;
    let json = serde_json::to_vec(&state).unwrap();
    assert_eq!(
        decode_any("E1001", &json, Some(&V1.into())).unwrap().ended,
        None
    );
}

#[test]
fn unknown_flags_are_refused() {
    let mut bytes = encode(&ada());
    bytes[1] |= 128;
    let err = decode("E1001", &bytes, Some(&V1.into())).unwrap_err();
    assert!(err.to_string().contains("unknown flags"), "{err}");
    assert!(summary(&bytes, None).is_err());
    // Version 1 had no timer: a v1 value claiming one is refused, not
    // read with its fields shifted.
    let mut v1 = hex::decode(V1_EMPLOYED).unwrap();
    v1[1] |= DUE;
    assert!(decode("E7", &v1, Some(&V1.into())).is_err());
    let mut v1 = hex::decode(V1_EMPLOYED).unwrap();
    v1[1] |= ENDED;
    assert!(summary(&v1, None).is_err());
}

proptest! {
    /// Any timer, end and order fields round-trip, and the summary reads
    /// the same `due` without decoding the state.
    #[test]
    fn times_round_trip_and_the_summary_reads_due(
        due in prop::option::of(-4_000_000_000i64..8_000_000_000),
        ended in prop::option::of(-4_000_000_000i64..8_000_000_000),
        last_time in prop::option::of(0i64..8_000_000_000),
        nanos in 0u32..1_000_000_000,
        last_sequence in prop::option::of(any::<i64>()),
        employed in any::<bool>(),
    ) {
        let time = |secs: Option<i64>| secs.map(|s| DateTime::<Utc>::from_timestamp(s, nanos).unwrap());
        let mut state = ada();
        (state.due, state.ended, state.last_time) = (time(due), time(ended), time(last_time));
        state.last_sequence = last_sequence;
        state.employed = employed;
        let bytes = encode(&state);
        prop_assert_eq!(&decode("E1001", &bytes, Some(&V1.into())).unwrap(), &state);
        let s = summary(&bytes, Some(&V1.into())).unwrap();
        prop_assert_eq!(s.due, state.due);
        prop_assert_eq!(s.active, vec!["slack"]);
    }
}
