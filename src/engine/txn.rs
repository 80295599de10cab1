//! One Kafka transaction per batch: the commands, the dead letters, the state
//! writes and the input offsets commit together or not at all.
//!
//! librdkafka classifies transactional errors; we follow it: retriable →
//! retry the call; abortable → abort, and the caller rewinds and redoes the
//! batch; fatal (e.g. fenced by a newer instance with our transactional id)
//! → stop the process. These calls block, so they run on the engine's own
//! thread, never on the async runtime.

use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;
use tracing::warn;

use super::store::set_default;
use super::Output;
use crate::config::Config;
use crate::kafka;

const TIMEOUT: Duration = Duration::from_secs(30);
const RETRIES: u32 = 5;

/// Why a transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// Aborted: nothing of it is visible; redo the batch.
    #[error("transaction aborted: {0}")]
    Aborted(KafkaError),
    /// The producer cannot continue (fenced, or a fatal broker error).
    #[error("transactional producer failed fatally: {0}")]
    Fatal(KafkaError),
}

/// The engine's transactional producer.
pub struct Transactional {
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl Transactional {
    /// Creates the producer and initialises transactions, fencing any older
    /// producer with the same transactional id and aborting what it left open.
    pub fn new(config: &Config, transactional_id: &str) -> Result<Transactional, KafkaError> {
        let e = &config.engine;
        let mut cc = kafka::client_config(config);
        for (key, value) in [
            // A transaction that starts while the broker still writes the
            // previous one's markers is told to retry (CONCURRENT_TRANSACTIONS);
            // librdkafka's default backoff of 100 ms idles every such batch.
            ("retry.backoff.ms", "10".to_string()),
            ("linger.ms", e.producer_linger_ms.to_string()),
            ("compression.type", e.producer_compression.clone()),
            (
                "queue.buffering.max.kbytes",
                e.producer_queue_max_kbytes.to_string(),
            ),
        ] {
            set_default(&mut cc, key, &value);
        }
        let producer: ThreadedProducer<DefaultProducerContext> = cc
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true")
            // An instance that dies mid-transaction holds back read_committed
            // readers until the broker aborts it; keep that short.
            .set("transaction.timeout.ms", "15000")
            .create()?;
        retry(|| producer.init_transactions(TIMEOUT))?;
        Ok(Transactional { producer })
    }

    /// Produces `outputs` and, when given, commits `offsets` for the consumer
    /// group — all in one transaction.
    pub fn commit(
        &self,
        outputs: &[Output],
        offsets: Option<(&TopicPartitionList, &ConsumerGroupMetadata)>,
    ) -> Result<(), TxnError> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.fail(e))?;
        for out in outputs {
            self.send(out).map_err(|e| self.fail(e))?;
        }
        if let Some((tpl, group)) = offsets {
            retry(|| {
                self.producer
                    .send_offsets_to_transaction(tpl, group, TIMEOUT)
            })
            .map_err(|e| self.fail(e))?;
        }
        self.flush().map_err(|e| self.fail(e))?;
        retry(|| self.producer.commit_transaction(TIMEOUT)).map_err(|e| self.fail(e))
    }

    /// Waits until every record sent is acknowledged.
    ///
    /// `commit_transaction` flushes first, but rdkafka's `flush` polls in a
    /// loop that never returns before its timeout step (each transaction
    /// idled up to 100 ms after its last acknowledgement), and short steps
    /// spin, taking CPU from a broker on the same host. librdkafka's own
    /// flush, with delivery reports as events (rdkafka's mode), waits on a
    /// condition variable until the producer's polling thread has served
    /// every report: no idling, no spinning.
    fn flush(&self) -> Result<(), KafkaError> {
        let timeout_ms = i32::try_from(TIMEOUT.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: the handle is the live producer's, valid for as long as
        // `self.producer` is; rd_kafka_flush is thread-safe.
        let code = unsafe {
            rdkafka::bindings::rd_kafka_flush(self.producer.client().native_ptr(), timeout_ms)
        };
        match RDKafkaErrorCode::from(code) {
            RDKafkaErrorCode::NoError => Ok(()),
            other => Err(KafkaError::Flush(other)),
        }
    }

    fn send(&self, out: &Output) -> Result<(), KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&out.topic);
        if let Some(key) = &out.key {
            record = record.key(key);
        }
        if let Some(payload) = &out.payload {
            record = record.payload(payload);
        }
        if let Some(partition) = out.partition {
            record = record.partition(partition);
        }
        if let Some(headers) = &out.headers {
            record = record.headers(headers.clone());
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The background thread drains the queue; give it a moment.
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Classifies an error; for anything not fatal, aborts the transaction.
    fn fail(&self, error: KafkaError) -> TxnError {
        if is_fatal(&error) {
            return TxnError::Fatal(error);
        }
        warn!(message = "Aborting transaction.", %error);
        match retry(|| self.producer.abort_transaction(TIMEOUT)) {
            Ok(()) => TxnError::Aborted(error),
            Err(abort_error) => TxnError::Fatal(abort_error),
        }
    }
}

fn is_fatal(error: &KafkaError) -> bool {
    match error {
        KafkaError::Transaction(e) => e.is_fatal(),
        _ => false,
    }
}

/// Retries a transactional call while librdkafka says it is retriable (at
/// most five times, backing off from 200 ms). Shared by every transactional
/// producer: the engine's and replay's.
pub fn retry(mut op: impl FnMut() -> Result<(), KafkaError>) -> Result<(), KafkaError> {
    let mut attempt = 0;
    loop {
        match op() {
            Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < RETRIES => {
                attempt += 1;
                warn!(message = "Retrying transactional call.", error = %e, attempt);
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            other => return other,
        }
    }
}
