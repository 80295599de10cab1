//! The in-memory index of employees' timers: who is due when.
//!
//! The timer itself is durable: each employee's next due instant is part of
//! its state on the `provisioning.state` changelog (`EmployeeState::due`),
//! written in the same transaction as the commands that set it. This index
//! only finds the due ones without scanning every state; the [`Store`] keeps
//! it in step with every committed state and rebuilds it from the states'
//! summaries on a restore, so timers move with their partitions on a
//! rebalance, and one that fell due while no engine ran is found due at once.
//!
//! [`Store`]: super::store::Store

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

/// One partition's timers, soonest first.
type Queue = BTreeSet<(DateTime<Utc>, Box<str>)>;

/// Timers by partition.
#[derive(Debug, Default)]
pub struct Timers {
    partitions: HashMap<i32, Queue>,
    /// Due timers that could not fire (an app they need has no command
    /// topic yet), not to be tried again before the instant given. In
    /// memory only: a restart tries them at once.
    deferred: HashMap<Box<str>, DateTime<Utc>>,
}

impl Timers {
    /// Sets a timer (a state with `due` committed).
    pub fn insert(&mut self, partition: i32, due: DateTime<Utc>, employee_id: &str) {
        self.deferred.remove(employee_id);
        self.partitions
            .entry(partition)
            .or_default()
            .insert((due, employee_id.into()));
    }

    /// Clears a timer (its state replaced).
    pub fn remove(&mut self, partition: i32, due: DateTime<Utc>, employee_id: &str) {
        self.deferred.remove(employee_id);
        if let Some(queue) = self.partitions.get_mut(&partition) {
            queue.remove(&(due, Box::from(employee_id)));
        }
    }

    /// Forgets a partition's timers (revoked, or about to be restored).
    pub fn drop_partition(&mut self, partition: i32) {
        if let Some(queue) = self.partitions.remove(&partition) {
            for (_, id) in queue {
                self.deferred.remove(&id);
            }
        }
    }

    /// Leaves a due timer alone until `until` (its firing has to wait).
    pub fn defer(&mut self, employee_id: &str, until: DateTime<Utc>) {
        self.deferred.insert(employee_id.into(), until);
    }

    /// Up to `max` timers due at `now`, soonest first, with their partitions
    /// and due instants.
    pub fn due(&self, now: DateTime<Utc>, max: usize) -> Vec<(i32, DateTime<Utc>, Box<str>)> {
        let mut out: Vec<(i32, DateTime<Utc>, Box<str>)> = Vec::new();
        for (&p, queue) in &self.partitions {
            out.extend(
                queue
                    .iter()
                    .take_while(|(due, _)| *due <= now)
                    .filter(|(_, id)| self.deferred.get(id).is_none_or(|until| *until <= now))
                    .take(max)
                    .map(|(due, id)| (p, *due, id.clone())),
            );
        }
        out.sort_unstable_by(|a, b| a.1.cmp(&b.1).then_with(|| a.2.cmp(&b.2)));
        out.truncate(max);
        out
    }

    /// The soonest timer of all, deferred ones at their new instant.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        let first = |q: &Queue| {
            q.iter()
                .find(|(_, id)| !self.deferred.contains_key(id))
                .map(|(due, _)| *due)
        };
        let deferred = self.deferred.values().min().copied();
        self.partitions
            .values()
            .filter_map(first)
            .chain(deferred)
            .min()
    }

    /// Timers set.
    pub fn len(&self) -> usize {
        self.partitions.values().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn due_ones_come_soonest_first_across_partitions_up_to_max() {
        let mut t = Timers::default();
        t.insert(0, at(30), "C");
        t.insert(1, at(10), "A");
        t.insert(0, at(20), "B");
        t.insert(1, at(99), "Z");
        let due = t.due(at(30), 10);
        let ids: Vec<&str> = due.iter().map(|(_, _, id)| &**id).collect();
        assert_eq!(ids, ["A", "B", "C"]);
        assert_eq!(t.due(at(30), 2).len(), 2);
        assert!(t.due(at(9), 10).is_empty());
        assert_eq!(t.next(), Some(at(10)));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn a_deferred_timer_waits_until_its_new_instant() {
        let mut t = Timers::default();
        t.insert(0, at(10), "A");
        t.defer("A", at(50));
        assert!(t.due(at(20), 10).is_empty());
        assert_eq!(t.next(), Some(at(50)));
        assert_eq!(t.due(at(50), 10).len(), 1);
        // A new state sets a new timer and forgets the deferral.
        t.remove(0, at(10), "A");
        t.insert(0, at(15), "A");
        assert_eq!(t.due(at(20), 10).len(), 1);
    }

    #[test]
    fn removed_and_dropped_timers_are_gone() {
        let mut t = Timers::default();
        t.insert(0, at(10), "A");
        t.insert(1, at(10), "B");
        t.remove(0, at(10), "A");
        t.remove(0, at(11), "B"); // not there: nothing happens
        assert_eq!(t.len(), 1);
        t.drop_partition(1);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next(), None);
    }
}
