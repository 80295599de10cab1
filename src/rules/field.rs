//! Fields a condition can test, resolved once at load time.
//!
//! A field name is checked against the snapshot fields of CONTRACT §3 when the
//! rule loads, so a typo (`departmnet`) is a `rules check` error instead of a
//! condition that silently never matches.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// The top-level snapshot fields a rule may name (CONTRACT §3 `employee`).
pub(crate) use crate::events::SNAPSHOT_FIELDS;
use crate::events::{Fields, Key};

/// Prefix of free-form HR attributes: `attributes.cost_center`.
const ATTRIBUTES: &str = "attributes.";

/// A resolved field: where in a snapshot its value lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    /// A top-level snapshot key (one of [`SNAPSHOT_FIELDS`]).
    Snapshot(Key),
    /// `attributes.<name>`: the key `name` of the snapshot's `attributes`
    /// object. The name is taken whole, dots included: no deeper nesting.
    Attribute(String),
}

/// What a snapshot holds for a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed<'a> {
    /// Absent or `null`.
    Missing,
    /// A list or an object: present, but with no string form to compare.
    Opaque,
    /// A string, or a number or boolean in its JSON string form (`42`, `true`).
    Text(Cow<'a, str>),
}

impl Field {
    /// Resolves a field name; the error lists the valid names.
    pub(crate) fn parse(name: &str) -> Result<Field, String> {
        if let Some(known) = Key::of(name) {
            return Ok(Field::Snapshot(known));
        }
        if let Some(attribute) = name.strip_prefix(ATTRIBUTES) {
            if attribute.is_empty() {
                return Err(format!(
                    "field {name:?} names no attribute; write `attributes.<name>`"
                ));
            }
            return Ok(Field::Attribute(attribute.to_string()));
        }
        Err(format!(
            "unknown field {name:?}; valid fields: {}, attributes.<name>",
            SNAPSHOT_FIELDS.join(", ")
        ))
    }

    /// Looks the field up in a snapshot's fields.
    pub(crate) fn observe<'a>(&self, employee: &Fields<'a>) -> Observed<'a> {
        let value = match self {
            Field::Snapshot(key) => employee.get(*key),
            Field::Attribute(name) => employee
                .attributes()
                .and_then(|attributes| attributes.get(name)),
        };
        match value {
            None | Some(Value::Null) => Observed::Missing,
            Some(Value::String(s)) => Observed::Text(Cow::Borrowed(s)),
            Some(Value::Number(n)) => Observed::Text(Cow::Owned(n.to_string())),
            Some(Value::Bool(b)) => {
                Observed::Text(Cow::Borrowed(if *b { "true" } else { "false" }))
            }
            Some(Value::Array(_) | Value::Object(_)) => Observed::Opaque,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Snapshot(key) => f.write_str(key.name()),
            Field::Attribute(name) => write!(f, "{ATTRIBUTES}{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(value: Value) -> crate::events::Snapshot {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn parses_known_fields_and_attributes() {
        assert_eq!(
            Field::parse("team"),
            Ok(Field::Snapshot(Key::of("team").unwrap()))
        );
        assert_eq!(
            Field::parse("attributes.cost_center"),
            Ok(Field::Attribute("cost_center".into()))
        );
        let err = Field::parse("colour").unwrap_err();
        assert!(
            err.contains("\"colour\"") && err.contains("attributes.<name>"),
            "{err}"
        );
        assert!(Field::parse("attributes.").is_err());
    }

    #[test]
    fn observes_values_by_their_string_form() {
        let e = snapshot(json!({
            "team": "Dev", "manager_id": null, "id": 42,
            "attributes": { "remote": true, "tags": ["a"], "level": 3.5 }
        }));
        let e = Fields::of(&e);
        let text = |f: &str| match Field::parse(f).unwrap().observe(&e) {
            Observed::Text(t) => Some(t.into_owned()),
            _ => None,
        };
        assert_eq!(text("team").as_deref(), Some("Dev"));
        assert_eq!(text("id").as_deref(), Some("42"));
        assert_eq!(text("attributes.remote").as_deref(), Some("true"));
        assert_eq!(text("attributes.level").as_deref(), Some("3.5"));
        let observe = |f: &str| Field::parse(f).unwrap().observe(&e);
        assert_eq!(observe("manager_id"), Observed::Missing);
        assert_eq!(observe("email"), Observed::Missing);
        assert_eq!(observe("attributes.nope"), Observed::Missing);
        assert_eq!(observe("attributes.tags"), Observed::Opaque);
    }
}
