//! The checks on `data.employee` that both parsers share (CONTRACT §3): its id,
//! which the record key and `subject` must match; the e-mail a hire needs;
//! and the typed fields, so that a value the engine cannot use (a date that
//! is a number, a name holding control characters) is refused here, with the
//! field and value named, instead of being kept and silently ignored.

use serde_json::Value;

use super::{date, describe, invalid, EventType, InvalidEvent, Snapshot};
use crate::ids::EmployeeId;

/// The top-level fields of an employee snapshot (CONTRACT §3 `employee`),
/// besides `attributes`: what events carry and what rules may name.
pub(crate) const SNAPSHOT_FIELDS: [&str; 13] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "team",
    "department",
    "location",
    "job_title",
    "employment_type",
    "manager_id",
    "start_date",
    "end_date",
    "time_zone",
];

/// Fields holding text: a string, or `null` (cleared, in a patch) — the
/// snapshot fields between the e-mail and the dates.
const TEXT_FIELDS: &[&str] = {
    let (_, rest) = SNAPSHOT_FIELDS.split_at(2);
    rest.split_at(8).0
};

/// Fields holding a date: `YYYY-MM-DD` or an RFC 3339 instant, or `null`.
const DATE_FIELDS: [&str; 2] = ["start_date", "end_date"];

/// Checks `data.employee` and returns the employee id.
pub(super) fn check_employee(
    key: Option<&[u8]>,
    subject: Option<&str>,
    kind: EventType,
    employee: &Snapshot,
) -> Result<EmployeeId, InvalidEvent> {
    let employee_id = employee_id(employee)?;
    check_matches(key, subject, &employee_id)?;
    check_email(kind, employee.get("email"))?;
    check_typed_fields(employee)?;
    Ok(employee_id.into())
}

/// `data.employee.id`: a non-empty string without control characters.
fn employee_id(employee: &Snapshot) -> Result<String, InvalidEvent> {
    let employee_id = match employee.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "field `data.employee.id` is {}, expected a non-empty string",
                describe(other)
            )))
        }
        None => return Err(invalid("missing field `data.employee.id`")),
    };
    // The engine keys internal records with a leading NUL byte: an id with
    // control characters could collide with them, and garbles every log.
    no_control_characters("id", &employee_id)?;
    Ok(employee_id)
}

/// The record key and `subject`, when given, must name the same employee.
fn check_matches(
    key: Option<&[u8]>,
    subject: Option<&str>,
    employee_id: &str,
) -> Result<(), InvalidEvent> {
    if let Some(key) = key {
        if key != employee_id.as_bytes() {
            return Err(invalid(format!(
                "record key {:?} does not match data.employee.id {employee_id:?}",
                String::from_utf8_lossy(key)
            )));
        }
    }
    if let Some(subject) = subject {
        if subject != employee_id {
            return Err(invalid(format!(
                "field `subject` {subject:?} does not match data.employee.id {employee_id:?}"
            )));
        }
    }
    Ok(())
}

/// The text and date fields and `attributes`, each of its type or `null`.
fn check_typed_fields(employee: &Snapshot) -> Result<(), InvalidEvent> {
    for &field in TEXT_FIELDS {
        match employee.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => no_control_characters(field, s)?,
            Some(other) => {
                return Err(invalid(format!(
                    "data.employee.{field}: expected a string or null, found {}",
                    describe(other)
                )))
            }
        }
    }
    for field in DATE_FIELDS {
        match employee.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if date::parse(s).is_some() => {}
            Some(other) => {
                return Err(invalid(format!(
                    "data.employee.{field}: expected an ISO date (YYYY-MM-DD) or an RFC 3339 \
                     instant, found {}",
                    describe(other)
                )))
            }
        }
    }
    match employee.get("time_zone") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.parse::<chrono_tz::Tz>().is_ok() => {}
        Some(Value::String(s)) if looks_like_a_zone(s) => {
            return Err(invalid(format!(
                "data.employee.time_zone: {s:?} is not an IANA time zone name \
                 (e.g. \"Europe/Madrid\")"
            )))
        }
        Some(other) => {
            return Err(invalid(format!(
                "data.employee.time_zone: expected an IANA time zone name or null, found {}",
                describe(other)
            )))
        }
    }
    match employee.get("attributes") {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(other) => Err(invalid(format!(
            "data.employee.attributes: expected an object or null, found {}",
            describe(other)
        ))),
    }
}

/// Whether a wrong `time_zone` is worth showing: short, and made only of
/// what zone names are made of. Anything else (a misplaced e-mail or name)
/// is described by its length, never repeated.
fn looks_like_a_zone(s: &str) -> bool {
    s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-:".contains(&b))
}

/// A hire needs an e-mail (the accounts' user name); on any event, an
/// e-mail given is a non-empty string: clearing it (`null`) would turn every
/// account's user name into the HR id.
fn check_email(kind: EventType, email: Option<&Value>) -> Result<(), InvalidEvent> {
    match email {
        Some(Value::String(s)) if !s.trim().is_empty() => no_control_characters("email", s),
        None if kind != EventType::Hired => Ok(()),
        None => Err(invalid(
            "missing field `data.employee.email` (required on hired)",
        )),
        Some(Value::Null) if kind != EventType::Hired => Err(invalid(
            "data.employee.email: expected a non-empty string, found null \
             (an e-mail cannot be cleared)",
        )),
        Some(other) => Err(invalid(format!(
            "field `data.employee.email` is {}, expected a non-empty string",
            describe(other)
        ))),
    }
}

/// Refuses text holding a control character (U+0000–U+001F, U+007F–U+009F),
/// naming the first one and where it is, never the text.
fn no_control_characters(field: &str, text: &str) -> Result<(), InvalidEvent> {
    match text.chars().enumerate().find(|(_, c)| c.is_control()) {
        None => Ok(()),
        Some((at, c)) => Err(invalid(format!(
            "data.employee.{field}: expected a string without control characters, \
             found U+{:04X} at character {}",
            u32::from(c),
            at + 1
        ))),
    }
}
