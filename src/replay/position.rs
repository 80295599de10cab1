//! Where a replay starts and stops reading, and the topic metadata it needs.
//!
//! The end of each partition is its high watermark when the run starts:
//! records dead-lettered meanwhile wait for the next run. A partition whose
//! last offset is a transaction marker (never delivered) ends at its
//! end-of-partition event instead.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

pub(super) const TIMEOUT: Duration = Duration::from_secs(30);

/// The partition count of `topic` (0 when it does not exist). Any other
/// metadata error is an error: taking a broker hiccup for a missing topic
/// would skip records for good.
pub(super) fn partitions_of(consumer: &BaseConsumer, topic: &str) -> Result<usize, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(0);
    };
    match t.error().map(RDKafkaErrorCode::from) {
        None => Ok(t.partitions().len()),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => Ok(0),
        Some(code) => Err(KafkaError::MetadataFetch(code)),
    }
}

/// Per partition with something to read: (start, end) offsets. The end is
/// the high watermark now; the start the group's committed offset, or the
/// low watermark (`--from-beginning`, nothing committed, or records
/// committed up to were deleted by retention).
pub(super) fn ranges(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: usize,
    from_beginning: bool,
) -> Result<BTreeMap<i32, (i64, i64)>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
    let mut ranges = BTreeMap::new();
    for p in 0..partitions as i32 {
        let (low, high) = consumer.fetch_watermarks(topic, p, TIMEOUT)?;
        let position = match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) if !from_beginning => o,
            _ => low,
        };
        if position > high {
            warn!(
                message = "The replay group's position is past the end of the partition \
                           (was the topic recreated?); nothing read there. \
                           --from-beginning reads it from the start.",
                topic,
                partition = p,
                position,
                end = high
            );
        }
        let start = position.max(low);
        if start < high {
            ranges.insert(p, (start, high));
        }
    }
    Ok(ranges)
}
