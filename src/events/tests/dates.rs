//! The fields of effective dating (CONTRACT §3, "Dates"): `data.immediate`
//! and the snapshot's `time_zone`, checked alike by both parsers (through
//! `parse_value`).

use super::*;

/// [`hired`] as another event type.
fn of_type(kind: &str) -> Value {
    let mut v = hired();
    v["type"] = json!(kind);
    v
}

fn with_immediate(kind: &str, immediate: Value) -> Value {
    let mut v = of_type(kind);
    v["data"]["immediate"] = immediate;
    v
}

#[test]
fn a_leave_may_be_immediate() {
    for (immediate, expected) in [
        (json!(true), true),
        (json!(false), false),
        (Value::Null, false),
    ] {
        let v = with_immediate("hr.employee.left", immediate.clone());
        let e = parse_value(&v, Some("E1001")).unwrap();
        assert_eq!(e.immediate, expected, "{immediate}");
    }
    let e = parse_value(&of_type("hr.employee.left"), Some("E1001")).unwrap();
    assert!(!e.immediate, "absent: waits for the end date");
}

#[test]
fn only_a_leave_may_be_immediate() {
    for kind in ["hr.employee.hired", "hr.employee.changed"] {
        assert_eq!(
            error_of(&with_immediate(kind, json!(true))),
            format!("data.immediate: only a hr.employee.left may be immediate, not a {kind}")
        );
        for harmless in [json!(false), Value::Null] {
            let e = parse_value(&with_immediate(kind, harmless), Some("E1001")).unwrap();
            assert!(!e.immediate);
        }
    }
}

#[test]
fn immediate_is_a_boolean() {
    for kind in ["hr.employee.left", "hr.employee.hired"] {
        for (bad, shown) in [
            (json!("true"), "found a string of 4 characters"),
            (json!("yes"), "found a string of 3 characters"),
            (json!(1), "found a number (1)"),
            (json!({}), "found an object"),
        ] {
            assert_eq!(
                error_of(&with_immediate(kind, bad)),
                format!("data.immediate: expected true or false, {shown}")
            );
        }
    }
}

fn with_zone(zone: Value) -> Value {
    let mut v = hired();
    v["data"]["employee"]["time_zone"] = zone;
    v
}

#[test]
fn a_time_zone_is_an_iana_name_or_null() {
    for zone in [
        "Pacific/Auckland",
        "America/Los_Angeles",
        "UTC",
        "Etc/GMT+5",
    ] {
        let e = parse_value(&with_zone(json!(zone)), Some("E1001")).unwrap();
        assert_eq!(e.employee["time_zone"], zone);
    }
    let e = parse_value(&with_zone(Value::Null), Some("E1001")).unwrap();
    assert_eq!(e.employee["time_zone"], Value::Null);
    // A change may clear it (back to the default zone).
    let mut v = with_zone(Value::Null);
    v["type"] = json!("hr.employee.changed");
    assert!(parse_value(&v, Some("E1001")).is_ok());
}

#[test]
fn an_unknown_time_zone_is_refused_naming_it() {
    for zone in ["Mars/Olympus", "Europe/Barcelona", "CEST", "+02:00"] {
        assert_eq!(
            error_of(&with_zone(json!(zone))),
            format!(
                "data.employee.time_zone: {zone:?} is not an IANA time zone name \
                 (e.g. \"Europe/Madrid\")"
            )
        );
    }
}

#[test]
fn a_time_zone_that_is_not_a_name_is_described_not_repeated() {
    for (bad, shown) in [
        (json!(1), "a number (1)"),
        (json!(true), "a boolean (true)"),
        (json!(["Europe/Madrid"]), "an array"),
        // Before: any short string was repeated, a misplaced e-mail too.
        (json!("ada@acme.test"), "a string of 13 characters"),
        (json!("Ada Lovelace"), "a string of 12 characters"),
        (json!("Europe/\u{0}Madrid"), "a string of 14 characters"),
        (json!("Europe/".repeat(10)), "a string of 70 characters"),
    ] {
        let err = error_of(&with_zone(bad.clone()));
        assert_eq!(
            err,
            format!(
                "data.employee.time_zone: expected an IANA time zone name or null, found {shown}"
            ),
            "{bad}"
        );
    }
}
