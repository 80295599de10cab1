//! Values that parse as JSON but make no sense to the engine: each refused
//! with the field and the value named (and both parsers agreeing, through
//! `parse_value`).

use super::*;

/// A `changed` event of E1001 whose patch is `employee` (plus the id).
fn changed(employee: Value) -> Value {
    let mut v = hired();
    v["type"] = json!("hr.employee.changed");
    let mut patch = json!({"id": "E1001"});
    for (k, value) in employee.as_object().unwrap() {
        patch[k] = value.clone();
    }
    v["data"]["employee"] = patch;
    v
}

fn changed_error(employee: Value) -> String {
    error_of(&changed(employee))
}

#[test]
fn a_date_that_is_a_number_is_refused_with_field_and_value() {
    assert_eq!(
        changed_error(json!({"start_date": 20261201})),
        "data.employee.start_date: expected an ISO date (YYYY-MM-DD) or an RFC 3339 instant, \
         found a number (20261201)"
    );
    let mut v = hired();
    v["data"]["employee"]["end_date"] = json!(true);
    assert!(
        error_of(&v).starts_with("data.employee.end_date: expected an ISO date")
            && error_of(&v).ends_with("found a boolean (true)"),
        "{}",
        error_of(&v)
    );
}

#[test]
fn dates_are_iso_dates_or_rfc3339_instants_or_null() {
    for ok in [
        json!("2026-12-01"),
        json!("2026-12-14T17:00:00Z"),
        json!("2026-12-14T17:00:00+01:00"),
        Value::Null,
    ] {
        for field in ["start_date", "end_date"] {
            let v = changed(json!({ field: ok.clone() }));
            assert!(parse_value(&v, Some("E1001")).is_ok(), "{field} = {ok}");
        }
    }
    // A wrong date is shown (digits and signs only); other text by its
    // length, as it may be anything.
    let err = changed_error(json!({"start_date": "2026-13-01"}));
    assert!(err.ends_with("found \"2026-13-01\""), "{err}");
    let err = changed_error(json!({"end_date": "2026-12-14T17:00:00"}));
    assert!(err.ends_with("found \"2026-12-14T17:00:00\""), "{err}");
    let err = changed_error(json!({"end_date": "next friday"}));
    assert!(err.ends_with("found a string of 11 characters"), "{err}");
    let err = changed_error(json!({"start_date": {"y": 2026}}));
    assert!(err.ends_with("found an object"), "{err}");
}

#[test]
fn a_negative_sequence_is_refused_and_zero_accepted() {
    let mut v = hired();
    v["data"]["sequence"] = json!(-1);
    assert_eq!(
        error_of(&v),
        "data.sequence: expected an integer >= 0, found a number (-1)"
    );
    v["data"]["sequence"] = json!(0);
    assert_eq!(parse_value(&v, Some("E1001")).unwrap().sequence, Some(0));
    v["data"]["sequence"] = json!(i64::MIN);
    assert!(error_of(&v).starts_with("data.sequence:"));
}

#[test]
fn an_email_given_is_a_non_empty_string_on_every_event_type() {
    for kind in ["hr.employee.changed", "hr.employee.left"] {
        for bad in [json!(42), json!(""), Value::Null, json!(["a@b.test"])] {
            let mut v = changed(json!({ "email": bad.clone() }));
            v["type"] = json!(kind);
            let err = error_of(&v);
            assert!(err.contains("data.employee.email"), "{kind} {bad}: {err}");
        }
        // Absent: unchanged, fine.
        let mut v = changed(json!({}));
        v["type"] = json!(kind);
        assert!(parse_value(&v, Some("E1001")).is_ok());
    }
    let err = changed_error(json!({"email": null}));
    assert!(err.contains("cannot be cleared"), "{err}");
}

#[test]
fn an_employee_id_with_control_characters_is_refused() {
    for (id, shown) in [
        ("\u{0}E1", "U+0000 at character 1"),
        ("E1\u{0}", "U+0000 at character 3"),
        ("E\t1", "U+0009 at character 2"),
        ("E1\u{7f}", "U+007F at character 3"),
        ("E1\u{85}", "U+0085 at character 3"),
    ] {
        let mut v = hired();
        v["subject"] = json!(id);
        v["data"]["employee"]["id"] = json!(id);
        // The record key matches: only the control character is wrong.
        let err = parse_value(&v, Some(id)).unwrap_err().0;
        assert_eq!(
            err,
            format!(
                "data.employee.id: expected a string without control characters, found {shown}"
            )
        );
    }
}

#[test]
fn text_fields_are_strings_without_control_characters_or_null() {
    let err = changed_error(json!({"team": 42}));
    assert_eq!(
        err,
        "data.employee.team: expected a string or null, found a number (42)"
    );
    let err = changed_error(json!({"first_name": "Ada\u{1b}[2J"}));
    assert_eq!(
        err,
        "data.employee.first_name: expected a string without control characters, \
         found U+001B at character 4"
    );
    assert!(!err.contains("Ada"), "the text itself is not repeated");
    let err = changed_error(json!({"email": "ada@acme.test\r\nBcc: x@y.test"}));
    assert!(err.starts_with("data.employee.email: expected a string without control"));
    assert!(!err.contains("ada"), "{err}");
    let err = changed_error(json!({"manager_id": {"id": "E1"}}));
    assert!(err.starts_with("data.employee.manager_id:"), "{err}");
    // Cleared, or plain text with spaces and accents: fine.
    let ok = changed(json!({"team": null, "last_name": "de la Peña", "job_title": "Eng II"}));
    assert!(parse_value(&ok, Some("E1001")).is_ok());
}

#[test]
fn attributes_are_an_object_or_null() {
    let err = changed_error(json!({"attributes": "cost_center=RND"}));
    assert_eq!(
        err,
        "data.employee.attributes: expected an object or null, found a string of 15 characters"
    );
    assert!(parse_value(&changed(json!({"attributes": null})), Some("E1001")).is_ok());
}

proptest! {
    /// An id holding any control character is refused, wherever it is.
    #[test]
    fn any_control_character_in_the_id_is_refused(
        before in "[A-Za-z0-9]{0,5}",
        control in prop::sample::select((0u32..0x20).chain(0x7f..0xa0).collect::<Vec<_>>()),
        after in "[A-Za-z0-9]{0,5}",
    ) {
        let c = char::from_u32(control).unwrap();
        let id = format!("E{before}{c}{after}");
        let mut v = hired();
        v["subject"] = json!(id);
        v["data"]["employee"]["id"] = json!(id);
        let err = parse_value(&v, Some(&id)).unwrap_err().0;
        let expected = format!("found U+{control:04X}");
        prop_assert!(err.contains(&expected), "{}", err);
    }
}
