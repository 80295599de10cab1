//! Key-ordered parallelism: one employee's commands strictly one after the
//! other, in arrival order; different employees side by side.
//!
//! [`KeyedQueue`] holds the commands read from Kafka but not yet started.
//! [`KeyedQueue::pop_ready`] hands out the oldest command of a key that has
//! nothing in flight and marks the key busy; [`KeyedQueue::complete`] frees
//! it. So a slow SaaS call for one employee holds up only that employee's
//! later commands, never the partition. Keys that become ready are served
//! first come, first served, so no employee starves.
//!
//! The structure knows nothing of Kafka; the worker decides how many keys
//! may be busy at once (the app's `concurrency`).

use std::collections::{HashMap, HashSet, VecDeque};

/// Items waiting, grouped by key, with at most one item per key in flight.
#[derive(Debug)]
pub struct KeyedQueue<T> {
    /// Waiting items of each key, oldest first. A key is present only while
    /// it has at least one waiting item.
    pending: HashMap<String, VecDeque<T>>,
    /// Keys with waiting items and nothing in flight, in the order they
    /// became so. Invariant: a key is here exactly when it is in `pending`
    /// and not in `busy`.
    ready: VecDeque<String>,
    /// Keys with an item in flight.
    busy: HashSet<String>,
    /// Waiting items in all.
    len: usize,
}

impl<T> Default for KeyedQueue<T> {
    fn default() -> Self {
        KeyedQueue {
            pending: HashMap::new(),
            ready: VecDeque::new(),
            busy: HashSet::new(),
            len: 0,
        }
    }
}

impl<T> KeyedQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Items waiting (not in flight); the worker's read-ahead, which it
    /// bounds by pausing consumption.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Keys with an item in flight.
    pub fn busy(&self) -> usize {
        self.busy.len()
    }

    /// Queues `item` behind every earlier item of `key`.
    pub fn push(&mut self, key: &str, item: T) {
        let queue = self.pending.entry(key.to_string()).or_default();
        queue.push_back(item);
        self.len += 1;
        if queue.len() == 1 && !self.busy.contains(key) {
            self.ready.push_back(key.to_string());
        }
    }

    /// The oldest item of the key that has waited longest for its turn, if
    /// any key may go now; the key is busy until [`complete`](Self::complete).
    pub fn pop_ready(&mut self) -> Option<(String, T)> {
        let key = self.ready.pop_front()?;
        let queue = self.pending.get_mut(&key)?;
        let item = queue.pop_front()?;
        if queue.is_empty() {
            self.pending.remove(&key);
        }
        self.len -= 1;
        self.busy.insert(key.clone());
        Some((key, item))
    }

    /// The in-flight item of `key` is done (finished, abandoned or dropped):
    /// the key's next item, if any, may go.
    pub fn complete(&mut self, key: &str) {
        if self.busy.remove(key) && self.pending.contains_key(key) {
            self.ready.push_back(key.to_string());
        }
    }

    /// Drops every waiting item for which `keep` is false (the records of
    /// revoked partitions); items in flight are the caller's business.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut len = 0;
        self.pending.retain(|_, queue| {
            queue.retain(&mut keep);
            len += queue.len();
            !queue.is_empty()
        });
        self.len = len;
        let pending = &self.pending;
        self.ready.retain(|key| pending.contains_key(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_key_goes_in_order_one_at_a_time() {
        let mut q = KeyedQueue::new();
        q.push("E1", 1);
        q.push("E1", 2);
        q.push("E2", 10);
        assert_eq!(q.pop_ready(), Some(("E1".into(), 1)));
        assert_eq!(q.pop_ready(), Some(("E2".into(), 10)));
        assert_eq!(q.pop_ready(), None, "E1 is busy");
        q.complete("E1");
        assert_eq!(q.pop_ready(), Some(("E1".into(), 2)));
        assert_eq!(q.len(), 0);
        assert_eq!(q.busy(), 2);
    }

    #[test]
    fn retain_drops_waiting_items_and_keeps_order() {
        let mut q = KeyedQueue::new();
        for (key, item) in [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)] {
            q.push(key, item);
        }
        q.retain(|item| *item != 1 && *item != 2 && *item != 4);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_ready(), Some(("a".into(), 3)));
        assert_eq!(q.pop_ready(), None);
        q.complete("a");
        assert_eq!(q.pop_ready(), Some(("a".into(), 5)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        Pop,
        Complete(u8),
        RetainOdd,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..5).prop_map(Op::Push),
            3 => Just(Op::Pop),
            2 => (0u8..5).prop_map(Op::Complete),
            1 => Just(Op::RetainOdd),
        ]
    }

    proptest! {
        /// Whatever the interleaving: a key never has two items in flight,
        /// each key's items come out in the order they went in, nothing is
        /// lost or duplicated, and a free key with waiting items is served.
        #[test]
        fn per_key_fifo_and_exclusive(ops in proptest::collection::vec(op(), 0..200)) {
            let mut q: KeyedQueue<(u8, u32)> = KeyedQueue::new();
            let mut seq = 0u32;
            let mut in_flight: HashMap<u8, (u8, u32)> = HashMap::new();
            let mut last_out: HashMap<u8, u32> = HashMap::new();
            let mut waiting: HashMap<u8, Vec<u32>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Push(k) => {
                        seq += 1;
                        q.push(&k.to_string(), (k, seq));
                        waiting.entry(k).or_default().push(seq);
                    }
                    Op::Pop => match q.pop_ready() {
                        Some((key, (k, s))) => {
                            prop_assert_eq!(key, k.to_string());
                            prop_assert!(!in_flight.contains_key(&k), "two in flight for {}", k);
                            if let Some(prev) = last_out.get(&k) {
                                prop_assert!(*prev < s, "out of order for {}", k);
                            }
                            let w = waiting.get_mut(&k).unwrap();
                            prop_assert_eq!(w.remove(0), s, "not the oldest of its key");
                            last_out.insert(k, s);
                            in_flight.insert(k, (k, s));
                        }
                        None => {
                            // Nothing may go: every key with waiting items is busy.
                            for (k, w) in &waiting {
                                prop_assert!(w.is_empty() || in_flight.contains_key(k));
                            }
                        }
                    },
                    Op::Complete(k) => {
                        in_flight.remove(&k);
                        q.complete(&k.to_string());
                    }
                    Op::RetainOdd => {
                        q.retain(|(_, s)| s % 2 == 1);
                        for w in waiting.values_mut() {
                            w.retain(|s| s % 2 == 1);
                        }
                    }
                }
                let total: usize = waiting.values().map(Vec::len).sum();
                prop_assert_eq!(q.len(), total);
                prop_assert_eq!(q.busy(), in_flight.len());
            }
        }
    }
}
