//! The SCIM User we manage (CONTRACT §10), as a list of attributes, and the pure
//! comparisons behind idempotency: what to POST, which PATCH operations bring
//! an existing user in line, and the PUT body when PATCH is not supported.
//!
//! Only the attributes the command sets are compared or written; everything
//! else on the user (phone numbers, groups, app-side extensions) is left alone.
//! An account field the command leaves empty (`email: None`, say) is not
//! managed at all rather than erased.

use serde_json::{json, Map, Value};

use crate::commands::Account;

/// The core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The PATCH request message schema (RFC 7644 §3.5.2).
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Attributes a command wants, as (SCIM attribute path, value) pairs; a path is
/// `attr` or `attr.subAttr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted(Vec<(&'static str, Value)>);

impl Wanted {
    /// The whole managed User of an upsert: CONTRACT §10's attributes, active.
    pub fn upsert(account: &Account, role: &str) -> Wanted {
        let mut attrs = vec![
            ("userName", json!(account.user_name)),
            ("externalId", json!(account.external_id)),
        ];
        let optional = [
            ("name.givenName", &account.given_name),
            ("name.familyName", &account.family_name),
            ("displayName", &account.display_name),
        ];
        for (path, value) in optional {
            if let Some(value) = value {
                attrs.push((path, json!(value)));
            }
        }
        if let Some(email) = &account.email {
            attrs.push((
                "emails",
                json!([{"value": email, "type": "work", "primary": true}]),
            ));
        }
        attrs.push(("active", json!(true)));
        attrs.push(("roles", json!([{"value": role, "primary": true}])));
        Wanted(attrs)
    }

    /// A suspension touches `active` only.
    pub fn suspended() -> Wanted {
        Wanted(vec![("active", json!(false))])
    }

    /// The POST body creating the user.
    pub fn resource(&self) -> Value {
        let mut user = json!({ "schemas": [USER_SCHEMA] });
        self.write_into(&mut user);
        user
    }

    /// `replace` operations for the attributes `existing` does not already
    /// have; empty means the user matches and nothing is written.
    pub fn patch_ops(&self, existing: &Value) -> Vec<Value> {
        self.0
            .iter()
            .filter(|(path, value)| !matches(value, lookup(existing, path)))
            .map(|(path, value)| json!({"op": "replace", "path": path, "value": value}))
            .collect()
    }

    /// The PATCH request for `ops`.
    pub fn patch_body(ops: Vec<Value>) -> Value {
        json!({ "schemas": [PATCH_SCHEMA], "Operations": ops })
    }

    /// The PUT body: the existing user with our attributes set, so that the
    /// replacement keeps whatever else the app stores. `meta` is read-only and
    /// dropped.
    pub fn replacement(&self, existing: &Value) -> Value {
        let mut user = existing.clone();
        if let Some(object) = user.as_object_mut() {
            object.remove("meta");
            if !object.contains_key("schemas") {
                object.insert("schemas".into(), json!([USER_SCHEMA]));
            }
        }
        self.write_into(&mut user);
        user
    }

    fn write_into(&self, user: &mut Value) {
        for (path, value) in &self.0 {
            let (attr, sub) = match path.split_once('.') {
                Some((attr, sub)) => (attr, Some(sub)),
                None => (*path, None),
            };
            let Some(object) = user.as_object_mut() else {
                return;
            };
            match sub {
                None => {
                    object.insert(attr.to_string(), value.clone());
                }
                Some(sub) => {
                    let parent = object
                        .entry(attr.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !parent.is_object() {
                        *parent = Value::Object(Map::new());
                    }
                    if let Some(parent) = parent.as_object_mut() {
                        parent.insert(sub.to_string(), value.clone());
                    }
                }
            }
        }
    }
}

/// The value at `attr` or `attr.subAttr`, if any.
fn lookup<'a>(user: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(user, |value, key| value.get(key))
}

/// Does the app's value satisfy ours? Objects may carry extra keys (`display`,
/// `$ref`), a missing boolean counts as `false` (RFC 7643 says `primary` is
/// false unless given), arrays must match element by element.
fn matches(wanted: &Value, actual: Option<&Value>) -> bool {
    match (wanted, actual) {
        (Value::Bool(false), None | Some(Value::Null)) => true,
        (Value::Object(want), Some(Value::Object(have))) => {
            want.iter().all(|(k, v)| matches(v, have.get(k)))
        }
        (Value::Array(want), Some(Value::Array(have))) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| matches(w, Some(h)))
        }
        (want, Some(have)) => want == have,
        (_, None) => false,
    }
}

/// A SCIM filter `attr eq "value"` (RFC 7644 §3.4.2.2). The value is a JSON
/// string literal, which escapes quotes and backslashes as the grammar wants.
pub fn eq_filter(attr: &str, value: &str) -> String {
    format!("{attr} eq {}", Value::String(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            external_id: "E1001".into(),
            user_name: "ada@acme.test".into(),
            email: Some("ada@acme.test".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
        }
    }

    #[test]
    fn resource_has_every_spec_attribute() {
        let user = Wanted::upsert(&account(), "member").resource();
        assert_eq!(
            user,
            json!({
                "schemas": [USER_SCHEMA],
                "userName": "ada@acme.test",
                "externalId": "E1001",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "displayName": "Ada Lovelace",
                "emails": [{"value": "ada@acme.test", "type": "work", "primary": true}],
                "active": true,
                "roles": [{"value": "member", "primary": true}]
            })
        );
    }

    #[test]
    fn a_matching_user_needs_no_operation() {
        let wanted = Wanted::upsert(&account(), "member");
        let mut existing = wanted.resource();
        existing["id"] = json!("u1");
        existing["meta"] = json!({"version": "W/\"1\""});
        existing["roles"][0]["display"] = json!("Member");
        existing["phoneNumbers"] = json!([{"value": "+1"}]);
        assert!(wanted.patch_ops(&existing).is_empty());
    }

    #[test]
    fn only_differing_attributes_are_replaced() {
        let mut existing = Wanted::upsert(&account(), "member").resource();
        existing["active"] = json!(false);
        existing["name"] = json!({"givenName": "Ada"});
        let ops = Wanted::upsert(&account(), "admin").patch_ops(&existing);
        assert_eq!(
            ops,
            vec![
                json!({"op": "replace", "path": "name.familyName", "value": "Lovelace"}),
                json!({"op": "replace", "path": "active", "value": true}),
                json!({"op": "replace", "path": "roles", "value": [{"value": "admin", "primary": true}]}),
            ]
        );
    }

    #[test]
    fn missing_primary_is_false_and_extra_values_differ() {
        let wanted = Wanted::upsert(&account(), "member");
        let mut existing = wanted.resource();
        existing["roles"] = json!([{"value": "member"}]);
        assert_eq!(wanted.patch_ops(&existing).len(), 1);
        existing["roles"] = json!([{"value": "member", "primary": true}, {"value": "admin"}]);
        assert_eq!(wanted.patch_ops(&existing).len(), 1);
        assert!(Wanted::suspended()
            .patch_ops(&json!({"active": false}))
            .is_empty());
        assert!(Wanted::suspended().patch_ops(&json!({})).is_empty());
        assert_eq!(
            Wanted::suspended()
                .patch_ops(&json!({"active": true}))
                .len(),
            1
        );
    }

    #[test]
    fn unset_account_fields_are_not_managed() {
        let bare = Account {
            email: None,
            given_name: None,
            family_name: None,
            display_name: None,
            ..account()
        };
        let user = Wanted::upsert(&bare, "member").resource();
        assert_eq!(user.get("emails"), None);
        assert_eq!(user.get("name"), None);
        let existing = json!({"userName": "ada@acme.test", "externalId": "E1001",
            "emails": [{"value": "old@acme.test"}], "active": true,
            "roles": [{"value": "member", "primary": true}]});
        assert!(Wanted::upsert(&bare, "member")
            .patch_ops(&existing)
            .is_empty());
    }

    #[test]
    fn replacement_keeps_other_attributes_and_drops_meta() {
        let existing = json!({"schemas": [USER_SCHEMA], "id": "u1", "userName": "old",
            "meta": {"version": "1"}, "title": "Engineer", "name": {"middleName": "B"}});
        let put = Wanted::upsert(&account(), "member").replacement(&existing);
        assert_eq!(put["id"], "u1");
        assert_eq!(put["title"], "Engineer");
        assert_eq!(put["userName"], "ada@acme.test");
        assert_eq!(
            put["name"],
            json!({"middleName": "B", "givenName": "Ada", "familyName": "Lovelace"})
        );
        assert_eq!(put.get("meta"), None);
    }

    #[test]
    fn filter_values_are_quoted_and_escaped() {
        assert_eq!(eq_filter("externalId", "E1"), r#"externalId eq "E1""#);
        assert_eq!(
            eq_filter("userName", r#"a"b\c"#),
            r#"userName eq "a\"b\\c""#
        );
    }
}
