//! Replay's side of the shared transactional producer
//! ([`crate::kafka::txn`]): each batch's re-published records and the replay
//! group's offsets for the records it handled commit together, or not at
//! all.
//!
//! The transactional id is fixed per dead-letter topic (the replay group's
//! name). Starting a replay therefore fences any earlier one of the same
//! topic: `init_transactions` aborts what a crashed (or still running) run
//! left open before this one reads where the group got to, so a rerun after
//! `kill -9` neither loses nor repeats a record. A run fenced this way stops
//! with an error at its next commit.
//!
//! Any error other than a retriable one aborts the transaction and ends the
//! run (exit 1) — nothing of that batch is visible to `read_committed`
//! readers, and a rerun redoes it.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::BaseRecord;

use super::select::Route;
use crate::config::Config;
use crate::kafka::{Tuning, TxnProducer};

/// Creates replay's producer with `transactional_id`, fencing (and
/// aborting the open transaction of) any earlier replay with this id.
pub fn publisher(config: &Config, transactional_id: &str) -> Result<TxnProducer, KafkaError> {
    let tuning = Tuning {
        linger: Some(Duration::from_millis(5)),
        ..Tuning::default()
    };
    TxnProducer::new(config, transactional_id, &tuning)
}

/// The record that re-publishes a dead letter along `route`.
pub fn record<'a>(
    route: &'a Route,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: OwnedHeaders,
) -> BaseRecord<'a, [u8], [u8]> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&route.topic).headers(headers);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(value) = value {
        record = record.payload(value);
    }
    if let Some(partition) = route.partition {
        record = record.partition(partition);
    }
    record
}
