//! The guard's memory: deprovisions emitted over a rolling time window.
//!
//! A broken HR export rarely arrives as one batch: it trickles, a few
//! leavers per batch, or floods in while the engine catches up after a
//! restart. Counting per batch made the guard's verdict depend on those
//! accidents, so the guard counts what it let through over the last
//! `safety.window_ms` instead, per app.
//!
//! Each input partition keeps its own window, written to the state changelog
//! in the same transaction as the batch that emitted the deprovisions (under
//! [`WINDOW_KEY`], which no employee id can take: ids with control characters
//! are refused at the edge). So the counts survive a restart and move with the
//! partition to its next owner; an instance judges against the sum over the
//! partitions it owns.
//!
//! Counts are kept in buckets of a sixtieth of the window. A bucket counts
//! while any part of it is inside the window, so a count is forgotten up to
//! one bucket late, never early: the guard errs on the side of holding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The changelog key of a partition's window. It starts with a NUL byte, which
/// no employee id may contain.
pub const WINDOW_KEY: &str = "\u{0}provisioner.guard.window";

/// Buckets per window.
const BUCKETS: u64 = 60;

/// Deprovisions emitted per app, bucketed by time (milliseconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Width of one bucket, in milliseconds.
    bucket_ms: u64,
    /// Bucket start → app → deprovisions emitted in it.
    buckets: BTreeMap<i64, BTreeMap<String, u64>>,
}

/// Why a changelog window record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable guard window record: {0}")]
pub struct WindowError(#[from] serde_json::Error);

impl Window {
    /// Deprovisions per app emitted after `now_ms - window_ms` (conservatively:
    /// whole buckets that reach into the window).
    pub fn recent(&self, now_ms: i64, window_ms: u64) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (_, apps) in self.live(now_ms, window_ms) {
            for (app, n) in apps {
                *counts.entry(app.clone()).or_insert(0) += n;
            }
        }
        counts
    }

    /// Adds `n` deprovisions of `app` emitted at `now_ms`, and forgets buckets
    /// that left the window.
    pub fn add(&mut self, now_ms: i64, window_ms: u64, app: &str, n: u64) {
        let width = bucket_ms(window_ms);
        if self.bucket_ms != width {
            // A changed window size: re-file the old counts at their bucket
            // starts under the new width (still conservative).
            let old = std::mem::take(&mut self.buckets);
            self.bucket_ms = width;
            for (start, apps) in old {
                for (a, count) in apps {
                    self.file(start, &a, count);
                }
            }
        }
        self.file(now_ms, app, n);
        let (since, width) = self.bounds(now_ms, window_ms);
        self.buckets
            .retain(|start, _| reaches(*start, width, since));
    }

    /// The changelog value.
    pub fn encode(&self) -> Vec<u8> {
        // Plain maps of strings and integers always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a changelog value written by [`Window::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Window, WindowError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    fn file(&mut self, at_ms: i64, app: &str, n: u64) {
        let width = i64::try_from(self.bucket_ms.max(1)).unwrap_or(i64::MAX);
        let start = at_ms.div_euclid(width) * width;
        *self
            .buckets
            .entry(start)
            .or_default()
            .entry(app.to_string())
            .or_insert(0) += n;
    }

    fn live(
        &self,
        now_ms: i64,
        window_ms: u64,
    ) -> impl Iterator<Item = (&i64, &BTreeMap<String, u64>)> {
        let (since, width) = self.bounds(now_ms, window_ms);
        self.buckets
            .iter()
            .filter(move |(start, _)| reaches(**start, width, since))
    }

    /// Where the window starts, and this window's bucket width.
    fn bounds(&self, now_ms: i64, window_ms: u64) -> (i64, i64) {
        let since = now_ms.saturating_sub(i64::try_from(window_ms).unwrap_or(i64::MAX));
        (since, i64::try_from(self.bucket_ms).unwrap_or(i64::MAX))
    }
}

/// Whether a bucket starting at `start` reaches into a window starting at
/// `since`: it counts while any part of it is inside.
fn reaches(start: i64, width: i64, since: i64) -> bool {
    start.saturating_add(width) > since
}

/// The bucket width for a window: a sixtieth of it, at least a millisecond.
fn bucket_ms(window_ms: u64) -> u64 {
    (window_ms / BUCKETS).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn counts_stay_for_the_window_then_go() {
        let mut w = Window::default();
        let t0 = 1_700_000_000_000;
        w.add(t0, HOUR, "slack", 3);
        w.add(t0 + 1_000, HOUR, "zendesk", 1);
        assert_eq!(w.recent(t0 + 1_000, HOUR).get("slack"), Some(&3));
        // Still counted just before the hour is up...
        assert_eq!(w.recent(t0 + HOUR as i64 - 1, HOUR).get("slack"), Some(&3));
        // ...and up to one bucket (a minute) late, never early.
        let after = t0 + HOUR as i64 + 60_000 + 1;
        assert!(
            w.recent(after, HOUR).is_empty(),
            "{:?}",
            w.recent(after, HOUR)
        );
        // Adding later forgets the old buckets.
        w.add(after, HOUR, "slack", 1);
        assert_eq!(w.recent(after, HOUR).get("slack"), Some(&1));
        assert_eq!(w.buckets.len(), 1);
    }

    #[test]
    fn survives_its_encoding() {
        let mut w = Window::default();
        w.add(1_000_000, HOUR, "slack", 2);
        let back = Window::decode(&w.encode()).unwrap();
        assert_eq!(back, w);
        assert!(Window::decode(b"{nope").is_err());
    }

    #[test]
    fn a_shorter_window_refiles_old_counts() {
        let mut w = Window::default();
        w.add(1_000_000, HOUR, "slack", 2);
        w.add(1_000_500, 60_000, "slack", 1);
        assert_eq!(w.recent(1_000_500, 60_000).get("slack"), Some(&3));
    }
}
