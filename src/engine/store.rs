//! The state store: every owned employee's state, by input partition, backed
//! by the compacted `provisioning.state` changelog.
//!
//! Like a Kafka Streams store: the changelog is co-partitioned with the input
//! (a state record goes to the partition its event came from), so restoring a
//! partition's state means reading one changelog partition to its end. The
//! in-memory map is a cache of committed changelog records only: a batch's new
//! states are put here after its transaction commits, never before.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::state::{Desired, EmployeeState};
use crate::config::Config;
use crate::kafka;

/// Owned employees' states, by partition, with per-app counts kept current.
#[derive(Debug, Default)]
pub struct Store {
    partitions: HashMap<i32, HashMap<String, EmployeeState>>,
    active: HashMap<String, u64>,
    held: BTreeMap<String, u64>,
}

impl Store {
    /// The state of an employee on a partition, if known.
    pub fn get(&self, partition: i32, employee_id: &str) -> Option<&EmployeeState> {
        self.partitions.get(&partition)?.get(employee_id)
    }

    /// Stores a committed state, keeping the counts current.
    pub fn put(&mut self, partition: i32, state: EmployeeState) {
        count(&mut self.active, &mut self.held, &state, 1);
        let map = self.partitions.entry(partition).or_default();
        if let Some(old) = map.insert(state.employee_id.clone(), state) {
            count(&mut self.active, &mut self.held, &old, -1);
        }
    }

    /// Drops a partition's states (revoked: another instance owns them now).
    pub fn drop_partition(&mut self, partition: i32) {
        if let Some(map) = self.partitions.remove(&partition) {
            for state in map.values() {
                count(&mut self.active, &mut self.held, state, -1);
            }
        }
    }

    /// The partitions held.
    pub fn partitions(&self) -> Vec<i32> {
        let mut p: Vec<i32> = self.partitions.keys().copied().collect();
        p.sort_unstable();
        p
    }

    /// The states of one partition.
    pub fn partition(&self, partition: i32) -> impl Iterator<Item = &EmployeeState> {
        self.partitions
            .get(&partition)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// Number of employees held.
    pub fn len(&self) -> usize {
        self.partitions.values().map(HashMap::len).sum()
    }

    /// Whether no employee is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Active accounts per app among owned employees (the guard's ratio base).
    pub fn active_by_app(&self) -> &HashMap<String, u64> {
        &self.active
    }

    /// Held deprovisions per app among owned employees.
    pub fn held_by_app(&self) -> &BTreeMap<String, u64> {
        &self.held
    }
}

fn count(
    active: &mut HashMap<String, u64>,
    held: &mut BTreeMap<String, u64>,
    state: &EmployeeState,
    sign: i64,
) {
    let bump = |n: &mut u64| *n = n.saturating_add_signed(sign);
    for (app, app_state) in &state.apps {
        if matches!(app_state.desired, Desired::Active { .. }) {
            bump(active.entry(app.clone()).or_insert(0));
        }
    }
    for app in state.held.keys() {
        bump(held.entry(app.clone()).or_insert(0));
    }
}

/// Encodes a state as its changelog value.
pub fn encode(state: &EmployeeState) -> Vec<u8> {
    // Plain data structures with string keys always serialise.
    serde_json::to_vec(state).unwrap_or_default()
}

/// Reads one changelog partition from the beginning to its end
/// (`read_committed`: aborted writes of a crashed instance are never seen)
/// and returns the last state of each employee on it.
pub fn restore(config: &Config, partition: i32) -> Result<Vec<EmployeeState>, KafkaError> {
    let topic = &config.topics.state;
    let consumer: BaseConsumer = kafka::client_config(config)
        .set("group.id", format!("{}-restore", config.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
    if high <= low {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let mut states: HashMap<String, EmployeeState> = HashMap::new();
    loop {
        match consumer.poll(Duration::from_secs(1)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(record)) => {
                let Some(key) = record.key() else { continue };
                let key = String::from_utf8_lossy(key).into_owned();
                match record.payload() {
                    None => {
                        states.remove(&key);
                    }
                    Some(value) => match serde_json::from_slice::<EmployeeState>(value) {
                        Ok(state) => {
                            states.insert(key, state);
                        }
                        Err(e) => tracing::error!(
                            message = "Unreadable state record skipped.",
                            partition,
                            offset = record.offset(),
                            error = %e
                        ),
                    },
                }
            }
        }
    }
    Ok(states.into_values().collect())
}
