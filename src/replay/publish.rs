//! The transactional producer of a replay: each batch's re-published
//! records and the replay group's offsets for the records it handled commit
//! together, or not at all.
//!
//! The transactional id is fixed per dead-letter topic (the replay group's
//! name). Starting a replay therefore fences any earlier one of the same
//! topic: `init_transactions` aborts what a crashed (or still running) run
//! left open before this one reads where the group got to, so a rerun after
//! `kill -9` neither loses nor repeats a record. A run fenced this way stops
//! with an error at its next commit.
//!
//! Errors follow librdkafka's classification: retriable calls are retried;
//! anything else aborts the transaction and ends the run (exit 1) — nothing
//! of that batch is visible to `read_committed` readers, and a rerun redoes
//! it.

use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;
use tracing::warn;

use super::select::Route;
use crate::config::Config;
use crate::engine::txn::retry;
use crate::kafka;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a batch did not commit.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Another replay of the same topic started (same transactional id).
    #[error("fenced by another replay of the same topic: {0}")]
    Fenced(KafkaError),
    /// Aborted: nothing of the batch is visible and no offset moved.
    #[error("transaction aborted, nothing of the batch published: {0}")]
    Aborted(KafkaError),
    /// The abort itself failed, or a fatal producer error.
    #[error("transactional producer failed: {0}")]
    Fatal(KafkaError),
}

/// A transactional producer with at most one transaction open.
pub struct Publisher {
    producer: ThreadedProducer<DefaultProducerContext>,
    open: bool,
}

impl Publisher {
    /// Creates the producer and initialises transactions, fencing (and
    /// aborting the open transaction of) any earlier replay with this id.
    pub fn new(config: &Config, transactional_id: &str) -> Result<Publisher, KafkaError> {
        let producer: ThreadedProducer<DefaultProducerContext> = kafka::client_config(config)
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            // A replay killed mid-batch holds back read_committed readers of
            // the original topics until the broker aborts its transaction
            // (or a rerun fences it); keep that short.
            .set("transaction.timeout.ms", "15000")
            .create()?;
        retry(|| producer.init_transactions(TIMEOUT))?;
        Ok(Publisher {
            producer,
            open: false,
        })
    }

    fn begin(&mut self) -> Result<(), PublishError> {
        if !self.open {
            self.producer
                .begin_transaction()
                .map_err(|e| self.fail(e))?;
            self.open = true;
        }
        Ok(())
    }

    /// Adds one record to the open transaction (opening one if needed).
    pub fn send(
        &mut self,
        route: &Route,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> Result<(), PublishError> {
        self.begin()?;
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
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The producer's thread drains the queue; give it a moment.
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(self.fail(e)),
            }
        }
    }

    /// Commits the open transaction (opening one if only offsets move) with
    /// `offsets` as the replay group's consumed position.
    pub fn commit(
        &mut self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), PublishError> {
        self.begin()?;
        retry(|| {
            self.producer
                .send_offsets_to_transaction(offsets, group, TIMEOUT)
        })
        .map_err(|e| self.fail(e))?;
        retry(|| self.producer.commit_transaction(TIMEOUT)).map_err(|e| self.fail(e))?;
        self.open = false;
        Ok(())
    }

    /// Classifies an error; for anything not fatal, aborts the transaction.
    fn fail(&mut self, error: KafkaError) -> PublishError {
        self.open = false;
        if let KafkaError::Transaction(e) = &error {
            if e.is_fatal() {
                return match e.code() {
                    RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced => {
                        PublishError::Fenced(error)
                    }
                    _ => PublishError::Fatal(error),
                };
            }
        }
        warn!(message = "Aborting the replay transaction.", %error);
        match retry(|| self.producer.abort_transaction(TIMEOUT)) {
            Ok(()) => PublishError::Aborted(error),
            Err(abort_error) => PublishError::Fatal(abort_error),
        }
    }
}
