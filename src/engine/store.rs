//! The state store: every owned employee's state, by input partition, backed
//! by the compacted `provisioning.state` changelog.
//!
//! Like a Kafka Streams store: the changelog is co-partitioned with the input
//! (a state record goes to the partition its event came from), so restoring a
//! partition's state means reading one changelog partition to its end. The
//! in-memory map is a cache of committed changelog records only: a batch's new
//! states are put here after its transaction commits, never before.
//!
//! States are held as their changelog bytes ([`codec`]), a few hundred bytes
//! each, and decoded only when an event (or a rules change) needs one: a
//! million employees fit in a few hundred megabytes, and restoring them copies
//! bytes instead of building a million object trees.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::error;

use super::state::codec::{self, Summary};
use super::state::EmployeeState;
use super::timers::Timers;
use super::window::{Window, WINDOW_KEY};
use crate::config::Config;
use crate::ids::RulesVersion;
use crate::kafka;
use crate::kafka::EofContext;

/// One partition's states: employee id → encoded state.
type Partition = HashMap<Box<str>, Box<[u8]>>;

/// One changelog partition as restored: its employees' states and the
/// guard's window (kept under [`WINDOW_KEY`], never an employee).
#[derive(Debug, Default)]
pub struct Restored {
    /// Employee id → encoded state.
    pub states: Partition,
    /// Deprovisions emitted recently from this partition.
    pub window: Window,
}

/// Owned employees' states, by partition, with per-app counts kept current.
#[derive(Debug, Default)]
pub struct Store {
    partitions: HashMap<i32, Partition>,
    windows: HashMap<i32, Window>,
    active: HashMap<String, u64>,
    held: BTreeMap<String, u64>,
    timers: Timers,
}

impl Store {
    /// The state of an employee on a partition, if known, decoded under the
    /// rules version in force (see [`codec::decode`]).
    ///
    /// A value that cannot be decoded is logged and treated as unknown, as a
    /// restore treats an unreadable changelog record.
    pub fn get(
        &self,
        partition: i32,
        employee_id: &str,
        rules: &RulesVersion,
    ) -> Option<EmployeeState> {
        let bytes = self.partitions.get(&partition)?.get(employee_id)?;
        decode_logged(employee_id, bytes, Some(rules))
    }

    /// Stores a committed state, keeping the counts current.
    pub fn put(&mut self, partition: i32, state: &EmployeeState) {
        let bytes = codec::encode(state).into_boxed_slice();
        self.put_encoded(partition, &state.employee_id, bytes);
    }

    /// Stores a committed state already encoded by [`encode_into`].
    pub fn put_encoded(&mut self, partition: i32, employee_id: &str, bytes: Box<[u8]>) {
        let (active, held) = (&mut self.active, &mut self.held);
        let due = count(active, held, employee_id, &bytes, 1);
        let map = self.partitions.entry(partition).or_default();
        // A known employee's entry takes the new value in place: inserting
        // would allocate a key only to drop it.
        let old = match map.get_mut(employee_id) {
            Some(value) => Some(std::mem::replace(value, bytes)),
            None => map.insert(employee_id.into(), bytes),
        };
        if let Some(old) = old {
            if let Some(old_due) = count(active, held, employee_id, &old, -1) {
                self.timers.remove(partition, old_due, employee_id);
            }
        }
        if let Some(due) = due {
            self.timers.insert(partition, due, employee_id);
        }
    }

    /// Drops a partition's states (revoked: another instance owns them now).
    pub fn drop_partition(&mut self, partition: i32) {
        self.windows.remove(&partition);
        self.timers.drop_partition(partition);
        if let Some(map) = self.partitions.remove(&partition) {
            for (id, bytes) in &map {
                count(&mut self.active, &mut self.held, id, bytes, -1);
            }
        }
    }

    /// Replaces a partition's states (and window) with restored ones.
    pub fn load(&mut self, partition: i32, restored: Restored) {
        self.drop_partition(partition);
        let Restored { states, window } = restored;
        for (id, bytes) in &states {
            if let Some(due) = count(&mut self.active, &mut self.held, id, bytes, 1) {
                self.timers.insert(partition, due, id);
            }
        }
        self.partitions.insert(partition, states);
        self.windows.insert(partition, window);
    }

    /// The guard's window of one partition (empty if none was written).
    pub fn window(&self, partition: i32) -> Window {
        self.windows.get(&partition).cloned().unwrap_or_default()
    }

    /// Deprovisions per app emitted within `window_ms` of `now_ms` from every
    /// owned partition.
    pub fn recent_deprovisions(&self, now_ms: i64, window_ms: u64) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for window in self.windows.values() {
            for (app, n) in window.recent(now_ms, window_ms) {
                *total.entry(app).or_insert(0) += n;
            }
        }
        total
    }

    /// Stores a partition's committed window.
    pub fn put_window(&mut self, partition: i32, window: Window) {
        self.windows.insert(partition, window);
    }

    /// The partitions held.
    pub fn partitions(&self) -> Vec<i32> {
        let mut p: Vec<i32> = self.partitions.keys().copied().collect();
        p.sort_unstable();
        p
    }

    /// The states of one partition that were not reconciled under `rules`,
    /// decoded; the others are skipped without decoding.
    pub fn outdated<'a>(
        &'a self,
        partition: i32,
        rules: &'a RulesVersion,
    ) -> impl Iterator<Item = EmployeeState> + 'a {
        self.filtered(partition, rules, |s| !s.current)
    }

    /// The states of one partition that hold deprovisions, decoded.
    pub fn holding<'a>(
        &'a self,
        partition: i32,
        rules: &'a RulesVersion,
    ) -> impl Iterator<Item = EmployeeState> + 'a {
        self.filtered(partition, rules, |s| s.held)
    }

    fn filtered<'a>(
        &'a self,
        partition: i32,
        rules: &'a RulesVersion,
        keep: impl Fn(&Summary<'_>) -> bool + 'a,
    ) -> impl Iterator<Item = EmployeeState> + 'a {
        self.partitions
            .get(&partition)
            .into_iter()
            .flatten()
            .filter(move |(_, bytes)| codec::summary(bytes, Some(rules)).is_ok_and(|s| keep(&s)))
            .filter_map(move |(id, bytes)| decode_logged(id, bytes, Some(rules)))
    }

    /// Number of employees held.
    pub fn len(&self) -> usize {
        self.partitions.values().map(HashMap::len).sum()
    }

    /// Bytes of encoded state held (keys and values, without map overhead).
    pub fn bytes(&self) -> usize {
        self.partitions
            .values()
            .flatten()
            .map(|(k, v)| k.len() + v.len())
            .sum()
    }

    /// Active accounts per app among owned employees (the guard's ratio base).
    pub fn active_by_app(&self) -> &HashMap<String, u64> {
        &self.active
    }

    /// Held deprovisions per app among owned employees.
    pub fn held_by_app(&self) -> &BTreeMap<String, u64> {
        &self.held
    }

    /// The timers of owned employees.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Leaves a due timer alone until `until` (see [`Timers::defer`]).
    pub fn defer_timer(&mut self, employee_id: &str, until: chrono::DateTime<chrono::Utc>) {
        self.timers.defer(employee_id, until);
    }
}

fn decode_logged(
    employee_id: &str,
    bytes: &[u8],
    rules: Option<&RulesVersion>,
) -> Option<EmployeeState> {
    match codec::decode(employee_id, bytes, rules) {
        Ok(state) => Some(state),
        Err(e) => {
            error!(message = "Unreadable state skipped.", employee_id, error = %e);
            None
        }
    }
}

/// Counts (or uncounts) a state's active accounts and held deprovisions;
/// returns its timer, read from the same summary.
fn count(
    active: &mut HashMap<String, u64>,
    held: &mut BTreeMap<String, u64>,
    employee_id: &str,
    bytes: &[u8],
    sign: i64,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let bump = |n: &mut u64| *n = n.saturating_add_signed(sign);
    // The rules version does not matter for counting.
    let Ok(summary) = codec::summary(bytes, None) else {
        return None;
    };
    for app in summary.active {
        match active.get_mut(app) {
            Some(n) => bump(n),
            None => bump(active.entry(app.to_string()).or_insert(0)),
        }
    }
    if summary.held {
        if let Some(state) = decode_logged(employee_id, bytes, None) {
            for app in state.held.keys() {
                bump(held.entry(app.to_string()).or_insert(0));
            }
        }
    }
    summary.due
}

/// The memory bounds of the engine's consumers (`[engine]`): librdkafka's
/// defaults let one consumer prefetch 64 MB and fetch 50 MB at a time.
pub(super) fn consumer_bounds(config: &Config) -> [(&'static str, String); 3] {
    let e = &config.engine;
    [
        (
            "queued.max.messages.kbytes",
            e.consumer_queue_max_kbytes.to_string(),
        ),
        ("fetch.max.bytes", e.consumer_fetch_max_bytes.to_string()),
        // With the prefetch bounded, the queue is often full; librdkafka then
        // waits this long before fetching again (default 1 s). A restore of
        // a million states spent 6 of its 8 s in such waits.
        ("fetch.queue.backoff.ms", "20".to_string()),
    ]
}

/// Appends a state's changelog value to `out`.
pub fn encode_into(out: &mut Vec<u8>, state: &EmployeeState) {
    codec::encode_into(out, state);
}

/// Reads changelog partitions from the beginning to their end, all with one
/// consumer (`read_committed`: aborted writes of a crashed instance are never
/// seen), and returns the last state of each employee on each partition, as
/// the store holds them. Values of an older format are re-encoded; unreadable
/// ones are logged and skipped.
pub fn restore_encoded(
    config: &Config,
    partitions: &[i32],
) -> Result<HashMap<i32, Restored>, KafkaError> {
    let consumer = restore_consumer(config)?;
    let mut restored: HashMap<i32, Restored> = partitions
        .iter()
        .map(|&p| (p, Restored::default()))
        .collect();
    let mut open = assign_non_empty(&consumer, config, partitions)?;
    while !open.is_empty() {
        match consumer.poll(Duration::from_secs(1)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(record)) => {
                if let Some(partition) = restored.get_mut(&record.partition()) {
                    partition.apply(&record);
                }
            }
        }
    }
    Ok(restored)
}

/// The restore's consumer: bounded like the engine's, no group offsets, and
/// an end-of-partition event at once.
fn restore_consumer(config: &Config) -> Result<BaseConsumer<EofContext>, KafkaError> {
    let mut cc = kafka::client_config(config);
    for (key, value) in consumer_bounds(config).into_iter().chain([
        // Nothing waits for more data: at the end, EOF must come at once.
        ("fetch.wait.max.ms", "10".to_string()),
    ]) {
        kafka::set_default(&mut cc, key, &value);
    }
    cc.set("group.id", format!("{}-restore", config.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create_with_context(EofContext)
}

/// Assigns the partitions that hold records, from their beginning, and
/// returns them: an empty one would never report its end.
fn assign_non_empty(
    consumer: &BaseConsumer<EofContext>,
    config: &Config,
    partitions: &[i32],
) -> Result<HashSet<i32>, KafkaError> {
    let topic = &config.topics.state;
    let mut tpl = TopicPartitionList::new();
    let mut open: HashSet<i32> = HashSet::new();
    for &p in partitions {
        // A changelog partition created a moment ago (or changing leader)
        // answers NotLeaderForPartition for a while: retried, not fatal.
        let (low, high) = kafka::retry_transient(
            "reading a state partition's offsets",
            config.kafka.startup_timeout,
            || consumer.fetch_watermarks(topic, p, Duration::from_secs(10)),
        )?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            open.insert(p);
        }
    }
    if !open.is_empty() {
        consumer.assign(&tpl)?;
    }
    Ok(open)
}

impl Restored {
    /// Applies one changelog record: the window, a state, or a tombstone.
    fn apply(&mut self, record: &impl Message) {
        let Some(key) = record.key() else { return };
        if key == WINDOW_KEY.as_bytes() {
            self.window = window_of(record.payload(), record.offset());
            return;
        }
        let key = String::from_utf8_lossy(key);
        let map = &mut self.states;
        match record.payload() {
            None => {
                map.remove(key.as_ref());
            }
            Some(value) => match readable(&key, value) {
                Ok(bytes) => {
                    map.insert(key.into(), bytes);
                }
                Err(e) => error!(
                    message = "Unreadable state record skipped.",
                    partition = record.partition(),
                    offset = record.offset(),
                    error = %e
                ),
            },
        }
    }
}

/// A restored window record; an unreadable one counts as empty (logged): the
/// guard then judges from fresh, as it did before windows existed.
fn window_of(value: Option<&[u8]>, offset: i64) -> Window {
    match value.map(Window::decode) {
        None => Window::default(),
        Some(Ok(window)) => window,
        Some(Err(e)) => {
            error!(message = "Unreadable guard window skipped.", offset, error = %e);
            Window::default()
        }
    }
}

/// A changelog value as the store holds it: this format as it is (checked
/// by reading its summary), an older one re-encoded.
fn readable(employee_id: &str, value: &[u8]) -> Result<Box<[u8]>, codec::DecodeError> {
    if value.first() == Some(&codec::VERSION) {
        codec::summary(value, None)?;
        return Ok(value.into());
    }
    let state = codec::decode_any(employee_id, value, None)?;
    Ok(codec::encode(&state).into_boxed_slice())
}

/// Reads the changelog to its end, partition by partition, and passes the
/// last state of each employee whose [`Summary`] is `wanted`, decoded, to
/// `visit`: what the operator commands (`held list`, `schedule list`) read,
/// so they work while the engine is down. One partition is in memory at a
/// time; the summary spares decoding the states a command does not show.
///
/// An unreachable broker and a missing state topic are errors that say so.
pub fn each_state(
    config: &Config,
    wanted: impl Fn(&Summary<'_>) -> bool,
    mut visit: impl FnMut(EmployeeState),
) -> Result<(), super::EngineError> {
    let partitions = kafka::partition_count(config, &config.topics.state)?;
    if partitions == 0 {
        return Err(super::EngineError::MissingTopic {
            topic: config.topics.state.clone(),
        });
    }
    // Partition counts are far below i32::MAX (Kafka's own type for them).
    for p in 0..i32::try_from(partitions).unwrap_or(i32::MAX) {
        let mut restored = restore_encoded(config, &[p])?;
        let states = restored.remove(&p).unwrap_or_default().states;
        for (id, bytes) in &states {
            // Restored values are of this format, so they have a summary.
            if !codec::summary(bytes, None).is_ok_and(|s| wanted(&s)) {
                continue;
            }
            if let Some(state) = decode_logged(id, bytes, None) {
                visit(state);
            }
        }
    }
    Ok(())
}
