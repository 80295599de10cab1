//! JSON Merge Patch (RFC 7386), the shape of a `changed` event.
//!
//! HR systems send only what changed: an absent member is unchanged, `null`
//! clears it, an object recurses, anything else replaces. A full snapshot is
//! therefore also a valid patch, which is why producers may always send one.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place, per RFC 7386 §2.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        // A non-object patch replaces the whole target.
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(object) = target {
        apply_members(object, patch);
    }
}

/// Applies an object patch to an object; the common case for snapshots.
pub fn apply_members(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            apply(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn patched(target: Value, patch: Value) -> Value {
        let mut t = target;
        apply(&mut t, &patch);
        t
    }

    /// The test cases of RFC 7386 Appendix A, verbatim.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(
                patched(target.clone(), patch.clone()),
                expected,
                "{target} + {patch}"
            );
        }
    }

    fn flat_object() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(
            "[a-e]",
            prop_oneof![
                Just(Value::Null),
                "[a-z]{0,4}".prop_map(Value::String),
                any::<i32>().prop_map(Value::from),
            ],
            0..5,
        )
        .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        /// Patching twice with the same patch changes nothing the second time.
        #[test]
        fn idempotent(target in flat_object(), patch in flat_object()) {
            let once = patched(Value::Object(target), Value::Object(patch.clone()));
            let twice = patched(once.clone(), Value::Object(patch));
            prop_assert_eq!(once, twice);
        }

        /// A full snapshot without nulls, used as a patch of an empty object, is itself.
        #[test]
        fn snapshot_is_a_patch(snapshot in flat_object()) {
            let clean: Map<String, Value> =
                snapshot.into_iter().filter(|(_, v)| !v.is_null()).collect();
            let result = patched(json!({}), Value::Object(clean.clone()));
            prop_assert_eq!(result, Value::Object(clean));
        }

        /// Every key of the patch ends up with the patch's value, or gone when null.
        #[test]
        fn patch_wins(target in flat_object(), patch in flat_object()) {
            let result = patched(Value::Object(target), Value::Object(patch.clone()));
            for (k, v) in &patch {
                if v.is_null() {
                    prop_assert!(result.get(k).is_none());
                } else {
                    prop_assert_eq!(result.get(k), Some(v));
                }
            }
        }
    }
}
