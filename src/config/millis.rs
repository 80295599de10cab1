//! Durations written as whole milliseconds: the contract spells every
//! duration key `*_ms` in TOML, while the config structs hold a
//! [`Duration`], so it is converted once here and never at a call site.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `#[serde(deserialize_with = "millis::deserialize")]`: a `u64` of
/// milliseconds (the same type, and so the same errors, as before).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// `deserialize_with = "millis::some"` for an optional duration whose
/// absence means "never" (the field then needs `#[serde(default)]`).
pub fn some<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    deserialize(d).map(Some)
}

/// A duration as whole milliseconds, for the librdkafka `*.ms` properties
/// and messages; saturates (no configured duration comes near).
pub fn of(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
