//! The HR-event schema against the event parser: the sample events, the
//! contract's example and a set of known-valid and known-invalid events get
//! the same verdict from both.

use provisioner::events;
use serde_json::{json, Value};

use crate::{code_block, contract_section, errors, read, schema};

const MAX_BYTES: usize = 1024 * 1024;

/// The parser's verdict on an event, keyed by its employee id when it has one.
fn parser_accepts(event: &Value) -> bool {
    let key = event["data"]["employee"]["id"].as_str().map(str::as_bytes);
    let bytes = serde_json::to_vec(event).expect("serialisable");
    events::parse(key, &bytes, MAX_BYTES).is_ok()
}

#[test]
fn sample_events_validate_as_the_parser_decides() {
    let validator = schema("hr-event.schema.json");
    let (mut valid, mut invalid) = (0, 0);
    for (n, line) in read("config/samples/events.jsonl").lines().enumerate() {
        let event: Value = serde_json::from_str(line).expect("sample is JSON");
        let by_schema = errors(&validator, &event);
        assert_eq!(
            by_schema.is_empty(),
            parser_accepts(&event),
            "sample line {}: schema says {by_schema:?}, the parser disagrees",
            n + 1
        );
        if by_schema.is_empty() {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    // The samples are seven good events and one with an unknown type.
    assert_eq!((valid, invalid), (7, 1));
}

#[test]
fn the_contract_example_event_is_valid() {
    let example: Value =
        serde_json::from_str(&code_block(&contract_section("## 3."), "json")).expect("JSON");
    assert_eq!(
        errors(&schema("hr-event.schema.json"), &example),
        Vec::<String>::new()
    );
    assert!(parser_accepts(&example));
}

/// A valid hire, changed by `edit` (a JSON pointer and a new value, or
/// removal when the value is `None`).
fn hire_with(edits: &[(&str, Option<Value>)]) -> Value {
    let mut event = json!({
        "specversion": "1.0", "id": "evt-1", "source": "hris://test",
        "type": "hr.employee.hired", "time": "2026-11-26T09:00:00Z", "subject": "E1",
        "datacontenttype": "application/json",
        "data": {"sequence": 1, "employee": {
            "id": "E1", "email": "ada@acme.test", "first_name": "Ada",
            "start_date": "2026-12-01", "end_date": null, "attributes": {"remote": "true"}
        }}
    });
    for (pointer, value) in edits {
        let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
        let target = event
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {parent}"));
        match value {
            Some(v) => target.insert(field.to_string(), v.clone()),
            None => target.remove(field),
        };
    }
    event
}

#[test]
fn valid_variants_pass_both() {
    let validator = schema("hr-event.schema.json");
    let cases = [
        ("a plain hire", hire_with(&[])),
        (
            "no time, no subject",
            hire_with(&[("/time", None), ("/subject", None)]),
        ),
        (
            "null sequence",
            hire_with(&[("/data/sequence", Some(Value::Null))]),
        ),
        (
            "an RFC 3339 start date",
            hire_with(&[(
                "/data/employee/start_date",
                Some(json!("2026-12-14T17:00:00Z")),
            )]),
        ),
        (
            "a content type with parameters",
            hire_with(&[(
                "/datacontenttype",
                Some(json!("application/json; charset=utf-8")),
            )]),
        ),
        (
            "a patch without e-mail that clears a field",
            hire_with(&[
                ("/type", Some(json!("hr.employee.changed"))),
                ("/data/employee/email", None),
                ("/data/employee/first_name", Some(Value::Null)),
            ]),
        ),
        (
            "a leaver with only an id",
            json!({"specversion": "1.0", "id": "e", "source": "s", "type": "hr.employee.left",
                   "data": {"employee": {"id": "E1"}}}),
        ),
        (
            "a time zone",
            hire_with(&[("/data/employee/time_zone", Some(json!("Pacific/Auckland")))]),
        ),
        (
            "a time zone cleared by a patch",
            hire_with(&[
                ("/type", Some(json!("hr.employee.changed"))),
                ("/data/employee/time_zone", Some(Value::Null)),
            ]),
        ),
        (
            "an immediate leave",
            json!({"specversion": "1.0", "id": "e", "source": "s", "type": "hr.employee.left",
                   "data": {"immediate": true, "employee": {"id": "E1", "end_date": "2026-12-31"}}}),
        ),
        (
            "a hire that says it is not immediate",
            hire_with(&[("/data/immediate", Some(json!(false)))]),
        ),
        (
            "immediate null",
            hire_with(&[("/data/immediate", Some(Value::Null))]),
        ),
        (
            "extension attributes and extra employee fields",
            hire_with(&[
                ("/traceparent", Some(json!("00-ab"))),
                ("/data/employee/badge", Some(json!(7))),
            ]),
        ),
    ];
    for (what, event) in cases {
        assert_eq!(errors(&validator, &event), Vec::<String>::new(), "{what}");
        assert!(parser_accepts(&event), "{what}: the parser refuses it");
    }
}

#[test]
fn invalid_events_fail_both() {
    let validator = schema("hr-event.schema.json");
    let changed = |edits: &[(&str, Option<Value>)]| {
        let mut all = vec![("/type", Some(json!("hr.employee.changed")))];
        all.extend_from_slice(edits);
        hire_with(&all)
    };
    let cases = [
        ("no specversion", hire_with(&[("/specversion", None)])),
        (
            "specversion 0.3",
            hire_with(&[("/specversion", Some(json!("0.3")))]),
        ),
        ("empty id", hire_with(&[("/id", Some(json!("")))])),
        ("no source", hire_with(&[("/source", None)])),
        (
            "unknown type",
            hire_with(&[("/type", Some(json!("hr.employee.promoted")))]),
        ),
        (
            "time not RFC 3339",
            hire_with(&[("/time", Some(json!("yesterday")))]),
        ),
        (
            "subject a number",
            hire_with(&[("/subject", Some(json!(7)))]),
        ),
        (
            "text content type",
            hire_with(&[("/datacontenttype", Some(json!("text/plain")))]),
        ),
        ("no data", hire_with(&[("/data", None)])),
        ("no employee", hire_with(&[("/data/employee", None)])),
        (
            "negative sequence",
            hire_with(&[("/data/sequence", Some(json!(-1)))]),
        ),
        (
            "sequence a string",
            hire_with(&[("/data/sequence", Some(json!("3")))]),
        ),
        ("no employee id", hire_with(&[("/data/employee/id", None)])),
        (
            "blank employee id",
            hire_with(&[("/data/employee/id", Some(json!("  ")))]),
        ),
        (
            "hire without e-mail",
            hire_with(&[("/data/employee/email", None)]),
        ),
        (
            "e-mail cleared",
            changed(&[("/data/employee/email", Some(Value::Null))]),
        ),
        (
            "name with a bell",
            hire_with(&[("/data/employee/first_name", Some(json!("A\u{7}da")))]),
        ),
        (
            "team a number",
            hire_with(&[("/data/employee/team", Some(json!(42)))]),
        ),
        (
            "impossible date",
            hire_with(&[("/data/employee/start_date", Some(json!("2026-13-01")))]),
        ),
        (
            "date a number",
            hire_with(&[("/data/employee/end_date", Some(json!(20261201)))]),
        ),
        (
            "attributes a string",
            hire_with(&[("/data/employee/attributes", Some(json!("x")))]),
        ),
        (
            "time zone a number",
            hire_with(&[("/data/employee/time_zone", Some(json!(2)))]),
        ),
        (
            "time zone with a space",
            hire_with(&[("/data/employee/time_zone", Some(json!("Europe/ Madrid")))]),
        ),
        (
            "time zone of 65 letters",
            hire_with(&[("/data/employee/time_zone", Some(json!("A".repeat(65))))]),
        ),
        (
            "empty time zone",
            hire_with(&[("/data/employee/time_zone", Some(json!("")))]),
        ),
        (
            "immediate a string",
            hire_with(&[
                ("/type", Some(json!("hr.employee.left"))),
                ("/data/immediate", Some(json!("yes"))),
            ]),
        ),
        (
            "an immediate hire",
            hire_with(&[("/data/immediate", Some(json!(true)))]),
        ),
        (
            "an immediate change",
            changed(&[("/data/immediate", Some(json!(true)))]),
        ),
    ];
    for (what, event) in cases {
        assert!(
            !validator.is_valid(&event),
            "{what}: the schema accepts {event}"
        );
        assert!(!parser_accepts(&event), "{what}: the parser accepts it");
    }
}

/// The parser's message for an event it refuses.
fn refusal(event: &Value) -> String {
    let key = event["data"]["employee"]["id"].as_str().map(str::as_bytes);
    let bytes = serde_json::to_vec(event).expect("serialisable");
    match events::parse(key, &bytes, MAX_BYTES) {
        Ok(_) => panic!("the parser accepts {event}"),
        Err(e) => e.0,
    }
}

/// What a schema cannot state: whether a time zone name is in the IANA
/// database. The schema checks its characters and length; every name the
/// parser knows passes them, and a well-formed unknown name is left to the
/// parser, which refuses it with the message CONTRACT §3 shows.
#[test]
fn time_zone_names_are_the_parsers_to_judge() {
    let validator = schema("hr-event.schema.json");
    let zone = |name: &str| hire_with(&[("/data/employee/time_zone", Some(json!(name)))]);
    for tz in chrono_tz::TZ_VARIANTS {
        let event = zone(tz.name());
        assert_eq!(
            errors(&validator, &event),
            Vec::<String>::new(),
            "{}",
            tz.name()
        );
        assert!(parser_accepts(&event), "{}", tz.name());
    }
    for unknown in ["Mars/Olympus", "europe/madrid", "CEST", "UTC+1"] {
        let event = zone(unknown);
        assert!(validator.is_valid(&event), "{unknown}: well-formed");
        assert_eq!(
            refusal(&event),
            format!(
                "data.employee.time_zone: {unknown:?} is not an IANA time zone name \
                 (e.g. \"Europe/Madrid\")"
            )
        );
    }
}

/// CONTRACT §3's table of the new fields' messages is what the parser says.
#[test]
fn the_documented_messages_are_the_parsers() {
    let section = contract_section("## 3.");
    let documented: Vec<String> = crate::table(&section, "case")
        .iter()
        .map(|row| crate::backticked(&row[1]).expect("a message").to_string())
        .collect();
    let left = |edits: &[(&str, Option<Value>)]| {
        let mut all = vec![("/type", Some(json!("hr.employee.left")))];
        all.extend_from_slice(edits);
        hire_with(&all)
    };
    let said: Vec<String> = [
        hire_with(&[("/data/employee/time_zone", Some(json!("Mars/Olympus")))]),
        hire_with(&[("/data/employee/time_zone", Some(json!(2)))]),
        left(&[("/data/immediate", Some(json!("yes")))]),
        hire_with(&[
            ("/type", Some(json!("hr.employee.changed"))),
            ("/data/immediate", Some(json!(true))),
        ]),
    ]
    .iter()
    .map(refusal)
    .collect();
    assert_eq!(documented, said);
}
