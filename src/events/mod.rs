//! HR events (CONTRACT §3): CloudEvents 1.0 in JSON structured mode.
//!
//! `parse` is the only way to get an [`HrEvent`]: every rule of CONTRACT §3 is
//! checked here, once, so the engine never sees a half-valid event. What fails
//! becomes an [`InvalidEvent`] whose message names the field and value; the
//! engine dead-letters the original bytes with that message.

pub(crate) mod date;
mod employee;
pub(crate) use employee::SNAPSHOT_FIELDS;
mod envelope;
mod fields;
pub(crate) use fields::{Fields, Key};
pub(crate) mod merge_patch;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ids::EmployeeId;
use employee::check_employee;

/// An employee snapshot, or a merge patch of one: the `employee` object of §3.
pub type Snapshot = Map<String, Value>;

/// The three things HR can tell us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A new employee; `employee` is the full snapshot.
    Hired,
    /// `employee` is a JSON Merge Patch of the snapshot.
    Changed,
    /// The employee leaves; every app is deprovisioned.
    Left,
}

impl EventType {
    /// The CloudEvents `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Hired => "hr.employee.hired",
            EventType::Changed => "hr.employee.changed",
            EventType::Left => "hr.employee.left",
        }
    }

    fn parse(s: &str) -> Option<EventType> {
        match s {
            "hr.employee.hired" => Some(EventType::Hired),
            "hr.employee.changed" => Some(EventType::Changed),
            "hr.employee.left" => Some(EventType::Left),
            _ => None,
        }
    }
}

/// A validated HR event.
#[derive(Debug, Clone, PartialEq)]
pub struct HrEvent {
    /// CloudEvents `id`; carried into each command's `cause`.
    pub id: String,
    /// What happened.
    pub kind: EventType,
    /// CloudEvents `time`, the ordering fallback when `sequence` is absent.
    pub time: Option<DateTime<Utc>>,
    /// `data.sequence`, the preferred ordering of one employee's events.
    pub sequence: Option<i64>,
    /// `data.employee.id`.
    pub employee_id: EmployeeId,
    /// `data.employee`: a full snapshot (`hired`) or a merge patch. Shared,
    /// so a hire's state can hold the snapshot without copying it.
    pub employee: Arc<Snapshot>,
    /// `data.immediate` of a `left`: access ends when the event is decided,
    /// whatever `end_date` says (an involuntary termination).
    pub immediate: bool,
}

/// Why a record is not a valid HR event; the text goes to `dlq.error.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(pub String);

fn invalid(msg: impl Into<String>) -> InvalidEvent {
    InvalidEvent(msg.into())
}

/// Parses and validates one Kafka record as an HR event.
///
/// `key` is the record key (the employee id, when present) and `max_bytes`
/// the `limits.max_event_bytes` bound, checked before any parsing.
pub fn parse(key: Option<&[u8]>, value: &[u8], max_bytes: usize) -> Result<HrEvent, InvalidEvent> {
    if value.len() > max_bytes {
        return Err(invalid(format!(
            "record of {} bytes exceeds limits.max_event_bytes ({max_bytes})",
            value.len()
        )));
    }
    match envelope::parse(key, value) {
        Some(result) => result,
        None => parse_tree(key, value),
    }
}

/// The full parser: the whole record as a JSON tree, every rule checked in
/// turn, the first failure named. Decides whatever the fast path in
/// `envelope` gives up on (and is what it must agree with).
fn parse_tree(key: Option<&[u8]>, value: &[u8]) -> Result<HrEvent, InvalidEvent> {
    let root: Value =
        serde_json::from_slice(value).map_err(|e| invalid(format!("value is not JSON: {e}")))?;
    let Value::Object(mut root) = root else {
        return Err(invalid("value is not a JSON object"));
    };
    let (id, kind) = tree_header(&root)?;
    let time = tree_time(&root)?;
    tree_content_type(&root)?;
    let subject = optional_str(&root, "subject")?.map(str::to_owned);
    let (sequence, immediate, employee) = tree_data(&mut root)?;
    check_immediate(kind, immediate)?;
    let employee_id = check_employee(key, subject.as_deref(), kind, &employee)?;
    Ok(HrEvent {
        id,
        kind,
        time,
        sequence,
        employee_id,
        employee: Arc::new(employee),
        immediate: immediate.unwrap_or(false),
    })
}

/// `specversion`, `id`, `source` and `type`, checked in that order; returns
/// the id and the event type.
fn tree_header(root: &Map<String, Value>) -> Result<(String, EventType), InvalidEvent> {
    let specversion = required_str(root, "specversion")?;
    if specversion != "1.0" {
        return Err(invalid(format!(
            "field `specversion` is {specversion:?}, expected \"1.0\""
        )));
    }
    let id = required_str(root, "id")?.to_string();
    required_str(root, "source")?;
    let type_str = required_str(root, "type")?;
    let kind = EventType::parse(type_str).ok_or_else(|| {
        invalid(format!(
            "field `type` is {type_str:?}, expected one of hr.employee.hired, hr.employee.changed, hr.employee.left"
        ))
    })?;
    Ok((id, kind))
}

/// The optional `time`: absent or `null`, or an RFC 3339 string.
fn tree_time(root: &Map<String, Value>) -> Result<Option<DateTime<Utc>>, InvalidEvent> {
    match root.get("time") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| invalid(format!("field `time` is {s:?}, not RFC 3339: {e}")))?
                .with_timezone(&Utc),
        )),
        Some(other) => Err(invalid(format!(
            "field `time` is {}, not a string",
            describe(other)
        ))),
    }
}

/// The optional `datacontenttype`, which must say JSON when given.
fn tree_content_type(root: &Map<String, Value>) -> Result<(), InvalidEvent> {
    match root.get("datacontenttype") {
        Some(ct) if !ct.as_str().is_some_and(is_json_content_type) => Err(invalid(format!(
            "field `datacontenttype` is {}, expected \"application/json\"",
            describe(ct)
        ))),
        _ => Ok(()),
    }
}

/// `data.sequence` and `data.employee`. The employee is taken out of the
/// tree, not cloned: the snapshot is the event's bulk.
/// `data.sequence`, `data.immediate` and `data.employee`.
type Data = (Option<i64>, Option<bool>, Snapshot);

fn tree_data(root: &mut Map<String, Value>) -> Result<Data, InvalidEvent> {
    let mut data = match root.remove("data") {
        Some(Value::Object(d)) => d,
        Some(other) => {
            return Err(invalid(format!(
                "field `data` is {}, not an object",
                describe(&other)
            )))
        }
        None => return Err(invalid("missing field `data`")),
    };
    let sequence = match data.get("sequence") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
            invalid(format!(
                "data.sequence: expected an integer >= 0, found {}",
                describe(v)
            ))
        })?),
    };
    let immediate = match data.get("immediate") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(invalid(format!(
                "data.immediate: expected true or false, found {}",
                describe(v)
            )))
        }
    };
    let employee = match data.remove("employee") {
        Some(Value::Object(e)) => e,
        Some(other) => {
            return Err(invalid(format!(
                "field `data.employee` is {}, not an object",
                describe(&other)
            )))
        }
        None => return Err(invalid("missing field `data.employee`")),
    };
    Ok((sequence, immediate, employee))
}

/// `data.immediate` is a `left`'s: on a hire or a change it would mean
/// nothing, and silently ignoring it would hide a producer's mistake.
fn check_immediate(kind: EventType, immediate: Option<bool>) -> Result<(), InvalidEvent> {
    match immediate {
        Some(true) if kind != EventType::Left => Err(invalid(format!(
            "data.immediate: only a hr.employee.left may be immediate, not a {}",
            kind.as_str()
        ))),
        _ => Ok(()),
    }
}

/// Whether a `datacontenttype` says JSON (CONTRACT §3), parameters allowed.
fn is_json_content_type(ct: &str) -> bool {
    ct == "application/json" || ct.starts_with("application/json;")
}

/// A wrong value, described without repeating what may be personal data:
/// objects and arrays by their kind, strings by their length (a misplaced
/// snapshot or name must not reach logs) unless blank or made only of the
/// digits and signs of a date or number (`"2026-13-01"`, a date that is
/// wrong, is worth showing), scalars with their kind and value.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "an array".into(),
        Value::String(s) if s.trim().is_empty() || is_numeric_text(s) => format!("{s:?}"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
    }
}

/// Short text of digits and the signs dates, times and numbers use.
fn is_numeric_text(s: &str) -> bool {
    s.len() <= 40
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"-+:./ TZtz".contains(&b))
}

fn required_str<'a>(root: &'a Map<String, Value>, field: &str) -> Result<&'a str, InvalidEvent> {
    match root.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) => Err(invalid(format!(
            "field `{field}` is {}, expected a non-empty string",
            describe(other)
        ))),
        None => Err(invalid(format!("missing field `{field}`"))),
    }
}

fn optional_str<'a>(
    root: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, InvalidEvent> {
    match root.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(format!(
            "field `{field}` is {}, not a string",
            describe(other)
        ))),
    }
}

#[cfg(test)]
mod tests;
