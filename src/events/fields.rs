//! An employee snapshot's known fields, found in one pass.
//!
//! A snapshot is a `serde_json::Map` (an `IndexMap` keeping the HR
//! platform's field order, which the state codec and `rules preview` show),
//! so each `get` hashes the field's name with SipHash. One decision reads a
//! dozen fields — the rules' conditions and index, the dates, the time zone,
//! the account — which was a fifth of its time (#15). [`Fields::of`] walks
//! the map once and files each CONTRACT §3 field in a slot; reading a field
//! is then an array access.

use serde_json::{Map, Value};

use super::{Snapshot, SNAPSHOT_FIELDS};

/// The object of free-form HR attributes.
const ATTRIBUTES: &str = "attributes";

/// A top-level snapshot field of CONTRACT §3: its place in
/// [`SNAPSHOT_FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(u8);

impl Key {
    /// `email`.
    pub(crate) const EMAIL: Key = Key(1);
    /// `first_name`.
    pub(crate) const FIRST_NAME: Key = Key(2);
    /// `last_name`.
    pub(crate) const LAST_NAME: Key = Key(3);
    /// `start_date`.
    pub(crate) const START_DATE: Key = Key(10);
    /// `end_date`.
    pub(crate) const END_DATE: Key = Key(11);
    /// `time_zone`.
    pub(crate) const TIME_ZONE: Key = Key(12);

    /// The field called `name`, if it is one of [`SNAPSHOT_FIELDS`] (a
    /// `match`, which compiles to a length switch: no hashing).
    pub(crate) fn of(name: &str) -> Option<Key> {
        let slot = match name {
            "id" => 0,
            "email" => 1,
            "first_name" => 2,
            "last_name" => 3,
            "team" => 4,
            "department" => 5,
            "location" => 6,
            "job_title" => 7,
            "employment_type" => 8,
            "manager_id" => 9,
            "start_date" => 10,
            "end_date" => 11,
            "time_zone" => 12,
            _ => return None,
        };
        Some(Key(slot))
    }

    /// The field's name.
    pub(crate) fn name(self) -> &'static str {
        // A `Key` is only made by `of` or the constants above, all below
        // `SNAPSHOT_FIELDS.len()` (the tests check the table).
        SNAPSHOT_FIELDS[usize::from(self.0)]
    }
}

/// The fields of one snapshot, each looked up once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    /// By [`Key`]: the value, if the snapshot has the field.
    slots: [Option<&'a Value>; SNAPSHOT_FIELDS.len()],
    /// The `attributes` member, if any.
    attributes: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    /// Files each known field of `snapshot`; other members are left out
    /// (nothing reads them by name).
    pub(crate) fn of(snapshot: &'a Snapshot) -> Fields<'a> {
        let mut fields = Fields {
            slots: [None; SNAPSHOT_FIELDS.len()],
            attributes: None,
        };
        for (name, value) in snapshot {
            if let Some(Key(slot)) = Key::of(name) {
                if let Some(place) = fields.slots.get_mut(usize::from(slot)) {
                    *place = Some(value);
                }
            } else if name == ATTRIBUTES {
                fields.attributes = Some(value);
            }
        }
        fields
    }

    /// The value of a field, as `snapshot.get(key.name())` would give it.
    pub(crate) fn get(&self, key: Key) -> Option<&'a Value> {
        self.slots.get(usize::from(key.0)).copied().flatten()
    }

    /// A field's value when it is a string.
    pub(crate) fn text(&self, key: Key) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The `attributes` object, when the snapshot has one.
    pub(crate) fn attributes(&self) -> Option<&'a Map<String, Value>> {
        self.attributes.and_then(Value::as_object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_name_the_snapshot_fields_in_order() {
        for (slot, name) in SNAPSHOT_FIELDS.iter().enumerate() {
            let key = Key::of(name).expect("a snapshot field");
            assert_eq!(usize::from(key.0), slot, "{name}");
            assert_eq!(key.name(), *name);
        }
        assert_eq!(Key::of("attributes"), None);
        assert_eq!(Key::of("Email"), None);
        assert_eq!(Key::EMAIL.name(), "email");
        assert_eq!(Key::FIRST_NAME.name(), "first_name");
        assert_eq!(Key::LAST_NAME.name(), "last_name");
        assert_eq!(Key::START_DATE.name(), "start_date");
        assert_eq!(Key::END_DATE.name(), "end_date");
        assert_eq!(Key::TIME_ZONE.name(), "time_zone");
    }

    #[test]
    fn finds_what_get_finds() {
        let Value::Object(snapshot) = json!({
            "id": "E1", "email": "a@b.c", "team": null, "extra": "x",
            "start_date": "2026-12-01", "attributes": {"remote": true}
        }) else {
            panic!("an object")
        };
        let fields = Fields::of(&snapshot);
        for name in SNAPSHOT_FIELDS {
            let key = Key::of(name).expect("a snapshot field");
            assert_eq!(fields.get(key), snapshot.get(name), "{name}");
        }
        assert_eq!(fields.text(Key::EMAIL), Some("a@b.c"));
        assert_eq!(fields.text(Key::of("team").expect("team")), None);
        assert_eq!(
            fields.attributes().and_then(|a| a.get("remote")),
            Some(&json!(true))
        );
        let none = Snapshot::new();
        assert!(Fields::of(&none).attributes().is_none());
    }
}
