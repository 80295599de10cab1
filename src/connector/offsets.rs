//! Which offsets are safe to commit when records finish out of order.
//!
//! With key-ordered parallelism a partition's records finish in any order:
//! employee B's command at offset 7 may be done while A's at offset 5 is still
//! waiting for a slow app. Committing 8 then would lose A's command if the
//! process crashed, so a partition's commit point is its *lowest unfinished*
//! offset (or one past the last record read, when all are finished). A crash
//! then redoes at most the finished records above that point, which is
//! harmless: commands are idempotent and an older generation is superseded.
//!
//! "Finished" means the record's result (and dead letter, if any) has been
//! acknowledged by the broker, so nothing a committed offset covers can be
//! lost.

use std::collections::{BTreeMap, BTreeSet};

/// The offsets in flight of one partition.
#[derive(Debug, Default, Clone)]
struct Partition {
    /// Read but not finished.
    unfinished: BTreeSet<i64>,
    /// One past the highest offset read.
    next: Option<i64>,
    /// The last offset committed (or being committed).
    committed: Option<i64>,
}

impl Partition {
    /// The offset to commit: everything below it is finished.
    fn commit_point(&self) -> Option<i64> {
        self.unfinished.first().copied().or(self.next)
    }
}

/// Commit points of every partition the worker owns.
#[derive(Debug, Default, Clone)]
pub struct OffsetTracker {
    partitions: BTreeMap<i32, Partition>,
}

impl OffsetTracker {
    /// Tracks nothing yet.
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    /// A record was read and handed to processing. Offsets of one partition
    /// arrive in increasing order within one assignment.
    pub fn received(&mut self, partition: i32, offset: i64) {
        let p = self.partitions.entry(partition).or_default();
        p.unfinished.insert(offset);
        p.next = Some(p.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// A record is done (its result is on the broker). Unknown partitions
    /// (revoked meanwhile) are ignored.
    pub fn finished(&mut self, partition: i32, offset: i64) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.unfinished.remove(&offset);
        }
    }

    /// The commit point of a partition: every record below it is finished.
    #[cfg(test)]
    pub fn commit_point(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition)?.commit_point()
    }

    /// Records read but not finished, over all partitions.
    pub fn unfinished(&self) -> usize {
        self.partitions.values().map(|p| p.unfinished.len()).sum()
    }

    /// The (partition, offset) pairs whose commit point moved since they were
    /// last committed; they are marked committed, so call this only when
    /// about to commit them (and [`forget_commit`](Self::forget_commit) if
    /// the commit fails).
    pub fn take_commits(&mut self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (id, p) in &mut self.partitions {
            if let Some(point) = p.commit_point() {
                if p.committed.is_none_or(|c| point > c) {
                    p.committed = Some(point);
                    out.push((*id, point));
                }
            }
        }
        out
    }

    /// A commit of `partition` failed: commit it again next time.
    pub fn forget_commit(&mut self, partition: i32) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.committed = None;
        }
    }

    /// Stops tracking a revoked partition; returns its commit point when
    /// it moved since the last commit, for a last commit before the
    /// partition goes to another consumer.
    pub fn remove(&mut self, partition: i32) -> Option<i64> {
        let p = self.partitions.remove(&partition)?;
        let point = p.commit_point()?;
        p.committed.is_none_or(|c| point > c).then_some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commit_stops_below_the_lowest_unfinished() {
        let mut t = OffsetTracker::new();
        for o in 10..15 {
            t.received(0, o);
        }
        t.finished(0, 11);
        t.finished(0, 12);
        assert_eq!(t.commit_point(0), Some(10));
        t.finished(0, 10);
        assert_eq!(t.commit_point(0), Some(13));
        t.finished(0, 13);
        t.finished(0, 14);
        assert_eq!(t.commit_point(0), Some(15));
        assert_eq!(t.unfinished(), 0);
    }

    #[test]
    fn take_commits_reports_only_progress() {
        let mut t = OffsetTracker::new();
        t.received(0, 0);
        t.received(1, 5);
        assert_eq!(t.take_commits(), vec![(0, 0), (1, 5)]);
        assert_eq!(t.take_commits(), vec![]);
        t.finished(1, 5);
        assert_eq!(t.take_commits(), vec![(1, 6)]);
        t.forget_commit(1);
        assert_eq!(t.take_commits(), vec![(1, 6)]);
        assert_eq!(t.remove(1), None, "already committed");
        t.finished(0, 0);
        assert_eq!(t.remove(0), Some(1));
        t.finished(0, 0); // after revocation: ignored
        assert_eq!(t.commit_point(0), None);
    }

    #[test]
    fn gaps_in_offsets_are_fine() {
        // Transaction markers and compaction leave gaps.
        let mut t = OffsetTracker::new();
        t.received(0, 3);
        t.received(0, 7);
        t.finished(0, 7);
        assert_eq!(t.commit_point(0), Some(3));
        t.finished(0, 3);
        assert_eq!(t.commit_point(0), Some(8));
    }

    proptest! {
        /// Whatever order records finish in, the commit point never passes
        /// an unfinished record, never goes backwards, and reaches the end
        /// once all are finished.
        #[test]
        fn never_commits_past_unfinished(
            gaps in proptest::collection::vec(1i64..4, 1..60),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
        ) {
            let mut t = OffsetTracker::new();
            let mut offsets = Vec::new();
            let mut o = 0;
            for g in gaps {
                o += g;
                offsets.push(o);
                t.received(0, o);
            }
            let mut unfinished: BTreeSet<i64> = offsets.iter().copied().collect();
            let mut last = None;
            for idx in order {
                let victim = offsets[idx.index(offsets.len())];
                unfinished.remove(&victim);
                t.finished(0, victim);
                let point = t.commit_point(0).unwrap();
                if let Some(low) = unfinished.first() {
                    prop_assert_eq!(point, *low);
                }
                prop_assert!(unfinished.iter().all(|u| *u >= point));
                if let Some(l) = last {
                    prop_assert!(point >= l);
                }
                last = Some(point);
            }
            for off in &offsets {
                t.finished(0, *off);
            }
            prop_assert_eq!(t.commit_point(0), Some(o + 1));
        }
    }
}
