//! The fast path of [`super::parse`]: a well-formed event read without
//! building a JSON tree for its envelope.
//!
//! The engine parses every event, and a `serde_json::Value` tree of the
//! envelope (keys, strings, maps) cost more than deciding it. Here the
//! envelope's and `data`'s fields are located as raw JSON text, borrowed
//! from the record, and only `data.employee` (which the state keeps) is
//! built. Anything this path is not sure of — an error, an escaped key or
//! string, a duplicate field, deep nesting — makes it give up (`None`),
//! and the full parser in `super` decides, with its messages naming the
//! field. So both paths accept the same events with the same result; a
//! property test compares them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{check_employee, is_json_content_type, EventType, HrEvent, InvalidEvent, Snapshot};

/// Parses `value` as an event, or `None` for the full parser to decide.
/// Errors from the employee checks, which both paths share, are final.
pub(super) fn parse(key: Option<&[u8]>, value: &[u8]) -> Option<Result<HrEvent, InvalidEvent>> {
    // serde_json skips ignored fields without its recursion limit, and
    // `data.employee` is parsed here from depth 0: deep records go to the
    // full parser, whose limit then decides.
    if nesting(value) > MAX_NESTING {
        return None;
    }
    let json = std::str::from_utf8(value).ok()?;
    let [specversion, id, source, kind, time, content_type, subject, data] = fields(
        json,
        [
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "datacontenttype",
            "subject",
            "data",
        ],
    )?;
    if text(specversion?)? != "1.0" || text(source?)?.is_empty() {
        return None;
    }
    let id = text(id?).filter(|id| !id.is_empty())?;
    let kind = EventType::parse(text(kind?)?)?;
    let time = event_time(time)?;
    if let Some(raw) = content_type {
        if !is_json_content_type(text(raw)?) {
            return None;
        }
    }
    let subject = optional_text(subject)?;
    let (sequence, immediate, employee) = event_data(data?)?;
    if let Err(e) = super::check_immediate(kind, immediate) {
        return Some(Err(e));
    }
    Some(
        check_employee(key, subject, kind, &employee).map(|employee_id| HrEvent {
            id: id.to_string(),
            kind,
            time,
            sequence,
            employee_id,
            employee: std::sync::Arc::new(employee),
            immediate: immediate.unwrap_or(false),
        }),
    )
}

/// The optional `time` (`Some(None)` when absent or `null`), or `None` to
/// give up on one that is not an RFC 3339 string.
#[inline]
fn event_time(raw: Option<&RawValue>) -> Option<Option<DateTime<Utc>>> {
    match non_null(raw) {
        None => Some(None),
        Some(raw) => Some(Some(
            DateTime::parse_from_rfc3339(text(raw)?)
                .ok()?
                .with_timezone(&Utc),
        )),
    }
}

/// An optional string field (`Some(None)` when absent or `null`), or `None`
/// to give up on one that is not a plain string.
#[inline]
fn optional_text(raw: Option<&RawValue>) -> Option<Option<&str>> {
    match non_null(raw) {
        None => Some(None),
        Some(raw) => text(raw).map(Some),
    }
}

/// `data.sequence`, `data.immediate` and the built `data.employee`, or
/// `None` to give up.
#[inline]
fn event_data(data: &RawValue) -> Option<super::Data> {
    let [sequence, immediate, employee] =
        fields(data.get(), ["sequence", "immediate", "employee"])?;
    let immediate = match non_null(immediate) {
        None => None,
        Some(raw) => Some(serde_json::from_str::<bool>(raw.get()).ok()?),
    };
    let sequence = match non_null(sequence) {
        None => None,
        // A negative one is refused by the full parser, with its message.
        Some(raw) => Some(
            serde_json::from_str::<i64>(raw.get())
                .ok()
                .filter(|n| *n >= 0)?,
        ),
    };
    let Employee(employee) = serde_json::from_str(employee?.get()).ok()?;
    Some((sequence, immediate, employee))
}

/// How many fields `data.employee`'s map has room for from the start: an
/// employee has a dozen or so, and growing the map from empty moved and
/// rehashed them three times per event.
const EMPLOYEE_FIELDS: usize = 16;

/// `data.employee` built as serde_json builds a [`Snapshot`] (each entry
/// inserted in turn, so a repeated key keeps its first place and its last
/// value), into a map sized for [`EMPLOYEE_FIELDS`].
struct Employee(Snapshot);

impl<'de> de::Deserialize<'de> for Employee {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EmployeeVisitor)
    }
}

struct EmployeeVisitor;

impl<'de> Visitor<'de> for EmployeeVisitor {
    type Value = Employee;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a map")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Employee, E> {
        Ok(Employee(Snapshot::new()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Employee, A::Error> {
        let mut values = Snapshot::with_capacity(EMPLOYEE_FIELDS);
        while let Some((key, value)) = map.next_entry()? {
            values.insert(key, value);
        }
        Ok(Employee(values))
    }
}

/// Deeper than any event needs, far below serde_json's limit (128).
const MAX_NESTING: usize = 32;

/// How deep objects and arrays nest in `json` (brackets inside strings
/// do not count).
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    deepest
}

/// The raw values of the object `json`'s fields `names`, or `None` if
/// `json` is not an object, names a field twice or escapes a key.
fn fields<'a, const N: usize>(
    json: &'a str,
    names: [&'static str; N],
) -> Option<[Option<&'a RawValue>; N]> {
    let mut de = serde_json::Deserializer::from_str(json);
    let values = de.deserialize_map(Fields { names }).ok()?;
    de.end().ok()?;
    Some(values)
}

struct Fields<const N: usize> {
    names: [&'static str; N],
}

impl<'de, const N: usize> Visitor<'de> for Fields<N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = [None; N];
        // A borrowed key fails on escapes: then the full parser decides.
        while let Some(key) = map.next_key::<&'de str>()? {
            match self.names.iter().position(|name| *name == key) {
                Some(i) if values[i].is_none() => values[i] = Some(map.next_value()?),
                Some(_) => return Err(de::Error::custom("duplicate field")),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A JSON string without escapes, borrowed; `None` for anything else.
fn text(raw: &RawValue) -> Option<&str> {
    serde_json::from_str(raw.get()).ok()
}

/// A field that is present and not `null` (optional fields may be either).
fn non_null(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|raw| raw.get() != "null")
}
