//! Names that cross every layer: employee ids, app names, rules versions,
//! roles and rule names.
//!
//! Each is a newtype so a signature says which string it takes (an app name
//! cannot be passed where an employee id is meant), over an `Arc<str>` so the
//! engine's hot path clones a pointer, not the text. They serialise as the
//! bare string, so commands, results, the state codec, headers and metric
//! labels are byte-for-byte what they were with `String`s.
//!
//! They are checked where they enter (event parsing, the config catalogue,
//! rules loading); inside the library they are trusted, so building one from
//! a string is infallible.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.into())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s.into())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.as_str().into())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                *self.0 == **other
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == &*other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                **self == *other.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <std::borrow::Cow<'de, str>>::deserialize(d).map(|s| $name(s.as_ref().into()))
            }
        }
    };
}

id_type!(
    /// An employee id (`data.employee.id`, the record key of events, state
    /// and commands).
    EmployeeId
);

id_type!(
    /// An app name: a key of the `[apps]` catalogue.
    AppName
);

id_type!(
    /// A rules version, `sha256:<hex>` (see `rules::version`).
    RulesVersion
);

id_type!(
    /// What a command was issued for (`cause.event_id`): the HR event's id,
    /// the rules version or the timer's instant. Shared by the commands of
    /// one decision.
    EventId
);

id_type!(
    /// A role in an app: one of the catalogue's `roles` for it. Shared by
    /// the rule that gives it and every state and command holding it.
    RoleName
);

id_type!(
    /// A rule's name, unique in its rule set; commands carry it in
    /// `cause.rules`.
    RuleName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_bare_string() {
        let id = EmployeeId::from("E1001");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"E1001\"");
        let back: EmployeeId = serde_json::from_str("\"E1001\"").unwrap();
        assert_eq!(back, id);
        let escaped: AppName = serde_json::from_str("\"a\\u0062\"").unwrap();
        assert_eq!(escaped, "ab");
    }

    #[test]
    fn looks_up_by_str() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(AppName::from("github"), 1);
        assert_eq!(map.get("github"), Some(&1));
        assert_eq!(format!("{:?}", AppName::from("x")), "\"x\"");
    }
}
