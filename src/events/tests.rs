use super::*;
use proptest::prelude::*;
use serde_json::json;

const MAX: usize = 1 << 20;

fn hired() -> Value {
    json!({
        "specversion": "1.0",
        "id": "evt-0001",
        "source": "hris://acme",
        "type": "hr.employee.hired",
        "time": "2026-11-26T09:00:00Z",
        "subject": "E1001",
        "datacontenttype": "application/json",
        "data": {
            "sequence": 1,
            "employee": {
                "id": "E1001",
                "email": "ada@acme.test",
                "first_name": "Ada",
                "team": "Development",
                "start_date": "2026-12-01",
                "end_date": null,
                "attributes": { "cost_center": "RND" }
            }
        }
    })
}

/// Parses `v`, checking that the fast path and the full parser agree.
fn parse_value(v: &Value, key: Option<&str>) -> Result<HrEvent, InvalidEvent> {
    parse_text(&v.to_string(), key)
}

fn parse_text(text: &str, key: Option<&str>) -> Result<HrEvent, InvalidEvent> {
    let key = key.map(str::as_bytes);
    let result = parse(key, text.as_bytes(), MAX);
    assert_eq!(
        result,
        parse_tree(key, text.as_bytes()),
        "paths disagree on {text}"
    );
    result
}

/// Where a field of [`hired`] may be changed or removed.
const PATHS: [&[&str]; 20] = [
    &["specversion"],
    &["id"],
    &["source"],
    &["type"],
    &["time"],
    &["datacontenttype"],
    &["subject"],
    &["data"],
    &["data", "sequence"],
    &["data", "immediate"],
    &["data", "employee"],
    &["data", "employee", "id"],
    &["data", "employee", "email"],
    &["data", "employee", "start_date"],
    &["data", "employee", "end_date"],
    &["data", "employee", "time_zone"],
    &["data", "employee", "first_name"],
    &["data", "employee", "team"],
    &["data", "employee", "attributes"],
    &["data", "extra"],
];

/// Values a field may take: right ones, near misses and wrong kinds.
fn any_field() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(json!(b))),
        any::<i64>().prop_map(|n| Some(json!(n))),
        Just(Some(json!(1.5))),
        Just(Some(json!(u64::MAX))),
        Just(Some(json!({}))),
        Just(Some(json!([]))),
        Just(Some(json!({"id": "E1001", "email": "ada@acme.test"}))),
        prop::sample::select(vec![
            "",
            " ",
            "1.0",
            "0.3",
            "E1001",
            "E1002",
            "evt-9",
            "hris://x",
            "hr.employee.hired",
            "hr.employee.changed",
            "hr.employee.left",
            "hr.employee.fired",
            "2026-11-26T09:00:00Z",
            "2026-11-26T09:00:00+02:00",
            "yesterday",
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "quo\"ted",
            "tab\there",
            "ada@acme.test",
            "2026-12-01",
            "2026-12-14T17:00:00Z",
            "2026-13-01",
            "Europe/Madrid",
            "Mars/Olympus",
            "20261201",
            "E1001\u{0}",
            "\u{1b}[31mred",
            "Ada\nLovelace",
        ])
        .prop_map(|s| Some(json!(s))),
    ]
}

fn set_path(v: &mut Value, path: &[&str], to: Option<Value>) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut at = v;
    for p in parents {
        match at.get_mut(*p) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(object) = at.as_object_mut() {
        match to {
            Some(value) => object.insert(last.to_string(), value),
            None => object.remove(*last),
        };
    }
}

#[test]
fn fast_path_gives_up_on_duplicates_and_escapes_and_agrees() {
    let text = hired().to_string();
    // The usual event takes the fast path (else it would buy nothing).
    assert!(super::envelope::parse(Some(b"E1001"), text.as_bytes()).is_some());
    let dup_key = text.replacen("\"id\":\"evt-0001\"", "\"id\":\"a\",\"id\":\"evt-0001\"", 1);
    assert!(super::envelope::parse(Some(b"E1001"), dup_key.as_bytes()).is_none());
    // A duplicate field: the last one wins, as in the full parser.
    let dup = text.replacen(
        "\"id\":\"evt-0001\"",
        "\"id\":\"evt-0000\",\"id\":\"evt-0001\"",
        1,
    );
    assert_eq!(parse_text(&dup, Some("E1001")).unwrap().id, "evt-0001");
    // An escaped key and an escaped value.
    let escaped = text.replacen("\"source\"", "\"sour\\u0063e\"", 1);
    assert!(parse_text(&escaped, Some("E1001")).is_ok());
    let escaped = text.replacen("evt-0001", "evt\\u002d0001", 1);
    assert_eq!(parse_text(&escaped, Some("E1001")).unwrap().id, "evt-0001");
    // Trailing garbage, and a valid JSON value that is not an object.
    assert!(parse_text(&format!("{text} x"), None).is_err());
    assert!(parse_text("[1]", None).is_err());
}

fn error_of(v: &Value) -> String {
    parse_value(v, Some("E1001")).unwrap_err().0
}

#[test]
fn spec_example_parses() {
    let e = parse_value(&hired(), Some("E1001")).unwrap();
    assert_eq!(e.id, "evt-0001");
    assert_eq!(e.kind, EventType::Hired);
    assert_eq!(e.sequence, Some(1));
    assert_eq!(e.employee_id, "E1001");
    assert_eq!(e.time.unwrap().to_rfc3339(), "2026-11-26T09:00:00+00:00");
    assert_eq!(e.employee["team"], "Development");
}

#[test]
fn key_and_subject_are_optional() {
    let mut v = hired();
    v.as_object_mut().unwrap().remove("subject");
    assert!(parse_value(&v, None).is_ok());
}

#[test]
fn not_json() {
    let err = parse(Some(b"E1"), b"\xff{nope", MAX).unwrap_err().0;
    assert!(err.starts_with("value is not JSON"), "{err}");
}

#[test]
fn oversized_record_is_refused_before_parsing() {
    let err = parse(None, &[b' '; 100], 99).unwrap_err().0;
    assert!(err.contains("100 bytes") && err.contains("(99)"), "{err}");
}

#[test]
fn unknown_type_named() {
    let mut v = hired();
    v["type"] = json!("hr.employee.promoted");
    assert!(error_of(&v).contains("hr.employee.promoted"));
}

#[test]
fn wrong_specversion() {
    let mut v = hired();
    v["specversion"] = json!("0.3");
    assert!(error_of(&v).contains("specversion"));
}

#[test]
fn missing_fields_are_named() {
    for field in ["id", "source", "type", "specversion", "data"] {
        let mut v = hired();
        v.as_object_mut().unwrap().remove(field);
        let err = error_of(&v);
        assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
    }
    let mut v = hired();
    v["data"].as_object_mut().unwrap().remove("employee");
    assert!(error_of(&v).contains("data.employee"));
    let mut v = hired();
    v["data"]["employee"].as_object_mut().unwrap().remove("id");
    assert!(error_of(&v).contains("data.employee.id"));
}

#[test]
fn email_required_on_hired_only() {
    let mut v = hired();
    v["data"]["employee"]
        .as_object_mut()
        .unwrap()
        .remove("email");
    assert!(error_of(&v).contains("email"));
    v["type"] = json!("hr.employee.changed");
    assert!(parse_value(&v, Some("E1001")).is_ok());
    v["type"] = json!("hr.employee.left");
    assert!(parse_value(&v, Some("E1001")).is_ok());
}

#[test]
fn key_must_match_employee_id() {
    let err = parse_value(&hired(), Some("E9999")).unwrap_err().0;
    assert!(err.contains("E9999") && err.contains("E1001"), "{err}");
}

#[test]
fn subject_must_match_employee_id() {
    let mut v = hired();
    v["subject"] = json!("E2");
    assert!(error_of(&v).contains("subject"));
}

#[test]
fn bad_time_and_sequence() {
    let mut v = hired();
    v["time"] = json!("yesterday");
    assert!(error_of(&v).contains("time"));
    let mut v = hired();
    v["data"]["sequence"] = json!("7");
    assert!(error_of(&v).contains("data.sequence"));
    let mut v = hired();
    v["data"]["sequence"] = json!(1.5);
    assert!(error_of(&v).contains("data.sequence"));
}

#[test]
fn wrong_content_type() {
    let mut v = hired();
    v["datacontenttype"] = json!("text/xml");
    assert!(error_of(&v).contains("datacontenttype"));
}

#[test]
fn time_and_sequence_optional() {
    let mut v = hired();
    v.as_object_mut().unwrap().remove("time");
    v["data"].as_object_mut().unwrap().remove("sequence");
    let e = parse_value(&v, None).unwrap();
    assert_eq!((e.time, e.sequence), (None, None));
}

proptest! {
    /// Whatever the fields hold, the fast path and the full parser give the
    /// same event or the same error (`parse_value` compares them).
    #[test]
    fn both_parsers_agree(
        changes in prop::collection::vec((0..PATHS.len(), any_field()), 0..4),
        key in prop::sample::select(vec![None, Some("E1001"), Some("E1002")]),
    ) {
        let mut v = hired();
        for (path, to) in changes {
            set_path(&mut v, PATHS[path], to);
        }
        let _ = parse_value(&v, key);
    }

    /// Arbitrary bytes never panic the parser; they parse or are refused.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let fast = parse(None, &bytes, MAX);
        prop_assert_eq!(fast, parse_tree(None, &bytes));
    }

    /// Any employee id round-trips, and a different key is always refused.
    #[test]
    fn key_check(id in "[A-Za-z0-9-]{1,12}", other in "[A-Za-z0-9-]{1,12}") {
        let mut v = hired();
        v["subject"] = json!(id);
        v["data"]["employee"]["id"] = json!(id);
        prop_assert_eq!(parse_value(&v, Some(&id)).unwrap().employee_id, id.clone());
        prop_assert_eq!(parse_value(&v, Some(&other)).is_ok(), other == id);
    }
}

#[test]
fn errors_never_repeat_personal_data() {
    let mut errors = Vec::new();
    let mut v = hired();
    v["data"]["employee"] = json!("Ada Lovelace <ada@acme.test>");
    errors.push(error_of(&v));
    let mut v = hired();
    v["data"] = json!([{"email": "ada@acme.test", "first_name": "Ada"}]);
    errors.push(error_of(&v));
    let mut v = hired();
    v["data"]["employee"]["id"] = json!({"email": "ada@acme.test"});
    errors.push(error_of(&v));
    let mut v = hired();
    v["data"]["employee"]["email"] = json!(["ada@acme.test"]);
    errors.push(error_of(&v));
    assert!(errors[0].contains("data.employee") && errors[0].contains("a string"));
    assert!(errors[1].contains("an array"), "{}", errors[1]);
    for err in &errors {
        assert!(!err.contains("ada") && !err.contains("Ada"), "{err}");
    }
}

#[test]
fn deep_nesting_is_left_to_the_full_parser() {
    // serde_json skips an ignored field without its recursion limit, and
    // the fast path parses `data.employee` from depth 0: past a sane depth
    // it gives up, so both refuse (or accept) the same records.
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let text = hired().to_string();
    let extra = text.replacen('{', &format!("{{\"extra\":{},", deep(200)), 1);
    assert!(parse_text(&extra, Some("E1001")).is_err());
    let attribute = text.replacen("\"team\"", &format!("\"deep\":{},\"team\"", deep(126)), 1);
    assert!(parse_text(&attribute, Some("E1001")).is_err());
    let fine = text.replacen("\"team\"", &format!("\"deep\":{},\"team\"", deep(20)), 1);
    assert!(parse_text(&fine, Some("E1001")).is_ok());
    let fast = |text: &str| super::envelope::parse(Some(b"E1001"), text.as_bytes()).is_some();
    assert!(fast(&fine) && !fast(&extra));
    // Brackets inside strings are not nesting.
    let in_string = text.replacen("\"Ada\"", &format!("\"{}\\\"]\"", "[".repeat(100)), 1);
    assert!(fast(&in_string) && parse_text(&in_string, Some("E1001")).is_ok());
}

mod dates;
mod semantic;
