//! The one transactional producer: the engine commits each batch with it,
//! replay each batch of re-published dead letters. Records and the consumer
//! group's offsets commit together, or nothing of them is visible to
//! `read_committed` readers.
//!
//! librdkafka classifies transactional errors and we follow it: retriable →
//! retry the call; abortable → abort, and the caller redoes (or gives up)
//! the work; fatal → [`TxnError::Fenced`] when a newer producer with the same
//! transactional id took over, else [`TxnError::Fatal`]. Every call blocks:
//! use it from a thread of its own (the engine's loop, replay's), never on
//! the async runtime.

use std::time::{Duration, Instant};

use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;
use tracing::warn;

use super::{client_config, set_default};
use crate::config::{millis, Config};

/// How long one transactional call may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a retriable transactional call is retried.
const RETRIES: u32 = 5;

/// A producer's throughput tuning. Each property is a default:
/// `[kafka.properties]` overrides it.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// `linger.ms`: how long records wait to fill a request.
    pub linger: Option<Duration>,
    /// `compression.type`.
    pub compression: Option<String>,
    /// `queue.buffering.max.kbytes`: the send queue's bound, where
    /// back-pressure starts.
    pub queue_max_kbytes: Option<u64>,
    /// Retry a transaction the broker is still closing
    /// (`CONCURRENT_TRANSACTIONS`) after 10 ms rather than librdkafka's
    /// 100 ms (`retry.backoff.ms`), which idles every such batch.
    pub quick_retry: bool,
    /// Wait for every acknowledgement with librdkafka's own flush before
    /// committing (see [`TxnProducer::commit`]): a commit returns as soon as
    /// the last record is acknowledged instead of up to 100 ms later.
    pub native_flush: bool,
}

impl Tuning {
    fn apply(&self, cc: &mut ClientConfig) {
        let quick_retry = self.quick_retry.then(|| "10".to_string());
        for (key, value) in [
            ("retry.backoff.ms", quick_retry),
            ("linger.ms", self.linger.map(|v| millis::of(v).to_string())),
            ("compression.type", self.compression.clone()),
            (
                "queue.buffering.max.kbytes",
                self.queue_max_kbytes.map(|v| v.to_string()),
            ),
        ] {
            if let Some(value) = value {
                set_default(cc, key, &value);
            }
        }
    }
}

/// Why a transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// A newer producer with the same transactional id took over; this one
    /// cannot go on.
    #[error("fenced by a newer producer with the same transactional id: {0}")]
    Fenced(KafkaError),
    /// Aborted: nothing of the transaction is visible and no offset moved.
    #[error("transaction aborted, nothing of it is visible: {0}")]
    Aborted(KafkaError),
    /// The producer cannot go on (a fatal error, or the abort itself failed).
    #[error("transactional producer failed fatally: {0}")]
    Fatal(KafkaError),
}

/// A transactional producer with at most one transaction open: the first
/// [`send`](TxnProducer::send) (or a [`commit`](TxnProducer::commit) with
/// only offsets) opens it, `commit` closes it, any error aborts it.
pub struct TxnProducer {
    producer: ThreadedProducer<DefaultProducerContext>,
    transactional_id: String,
    native_flush: bool,
    open: bool,
}

/// Where a commit's time went: at a steady trickle nearly all of a
/// transaction is the flush, which grows with the partitions it writes to
/// (one produce request each, in turn on the producer's connection), so
/// the engine logs the phases apart.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitPhases {
    /// Adding the consumer's offsets (`send_offsets_to_transaction`).
    pub offsets: Duration,
    /// Waiting for every record's acknowledgement.
    pub flush: Duration,
    /// `commit_transaction` (EndTxn).
    pub end: Duration,
}

impl TxnProducer {
    /// Creates the producer and initialises transactions, which fences any
    /// older producer with the same transactional id and aborts what it
    /// left open.
    pub fn new(
        config: &Config,
        transactional_id: &str,
        tuning: &Tuning,
    ) -> Result<TxnProducer, KafkaError> {
        let mut cc = client_config(config);
        tuning.apply(&mut cc);
        let producer: ThreadedProducer<DefaultProducerContext> = cc
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true")
            // A process that dies mid-transaction holds back read_committed
            // readers until the broker aborts it; keep that short.
            .set("transaction.timeout.ms", "15000")
            .create()?;
        retry(|| producer.init_transactions(TIMEOUT))?;
        Ok(TxnProducer {
            producer,
            transactional_id: transactional_id.to_string(),
            native_flush: tuning.native_flush,
            open: false,
        })
    }

    fn begin(&mut self) -> Result<(), TxnError> {
        if !self.open {
            self.producer
                .begin_transaction()
                .map_err(|e| self.fail(e))?;
            self.open = true;
        }
        Ok(())
    }

    /// Adds one record to the open transaction (opening one if needed).
    /// When the send queue is full, waits for the producer's thread to drain
    /// it: back-pressure, not an error.
    pub fn send(&mut self, record: BaseRecord<'_, [u8], [u8]>) -> Result<(), TxnError> {
        self.produce(|sender| sender.send(record))
    }

    /// Opens a transaction (if none is open) and lets `produce` add records
    /// to it through a [`Sender`], which several threads may share; an error
    /// it returns aborts the transaction. [`commit`](TxnProducer::commit)
    /// closes it.
    pub fn produce<T>(
        &mut self,
        produce: impl FnOnce(&Sender<'_>) -> Result<T, KafkaError>,
    ) -> Result<T, TxnError> {
        self.begin()?;
        let sender = Sender {
            producer: &self.producer,
        };
        produce(&sender).map_err(|e| self.fail(e))
    }

    /// Commits the open transaction (opening one if nothing was sent) with
    /// `offsets`, when given, as the consumer group's position.
    pub fn commit(
        &mut self,
        offsets: Option<(&TopicPartitionList, &ConsumerGroupMetadata)>,
    ) -> Result<CommitPhases, TxnError> {
        self.begin()?;
        let started = Instant::now();
        if let Some((tpl, group)) = offsets {
            retry(|| {
                self.producer
                    .send_offsets_to_transaction(tpl, group, TIMEOUT)
            })
            .map_err(|e| self.fail(e))?;
        }
        let offsets_done = Instant::now();
        if self.native_flush {
            self.flush().map_err(|e| self.fail(e))?;
        }
        let flushed = Instant::now();
        retry(|| self.producer.commit_transaction(TIMEOUT)).map_err(|e| self.fail(e))?;
        self.open = false;
        Ok(CommitPhases {
            offsets: offsets_done - started,
            flush: flushed - offsets_done,
            end: flushed.elapsed(),
        })
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

    /// Classifies an error; for anything not fatal, aborts the transaction.
    fn fail(&mut self, error: KafkaError) -> TxnError {
        self.open = false;
        if let Some(fatal) = classify_fatal(error.clone()) {
            return fatal;
        }
        warn!(message = "Aborting transaction.", transactional_id = %self.transactional_id, %error);
        match retry(|| self.producer.abort_transaction(TIMEOUT)) {
            Ok(()) => TxnError::Aborted(error),
            Err(abort_error) => TxnError::Fatal(abort_error),
        }
    }
}

/// Where a unit of work's records go: the open transaction ([`Sender`]),
/// or, in tests, a list. Shared by the threads that serialise the records,
/// each sending its own in order.
pub trait Sink: Sync {
    /// A topic named once for many records ([`Sink::send_to`]).
    type Topic<'s>
    where
        Self: 's;

    /// Adds one record (the sink copies its bytes); when the send queue is
    /// full, waits for it to drain: back-pressure, not an error.
    fn send(&self, record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaError>;

    /// Names `topic` for [`Sink::send_to`], on the thread that sends.
    fn topic(&self, topic: &str) -> Result<Self::Topic<'_>, KafkaError>;

    /// [`Sink::send`] of a record with a key and a value and no headers,
    /// to a topic named before: the bulk of a unit's records.
    fn send_to(
        &self,
        topic: &Self::Topic<'_>,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), KafkaError>;
}

/// Adds records to the transaction open while it lives (see
/// [`TxnProducer::produce`]). librdkafka's produce is thread-safe, so the
/// decide pool's threads send through one `&Sender` at once; the records of
/// one thread keep their order.
pub struct Sender<'a> {
    producer: &'a ThreadedProducer<DefaultProducerContext>,
}

/// How long a send waits for a full queue to drain before trying again.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);

impl Sink for Sender<'_> {
    type Topic<'s>
        = TopicHandle<'s>
    where
        Self: 's;

    fn send(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(QUEUE_FULL_WAIT);
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn topic(&self, topic: &str) -> Result<TopicHandle<'_>, KafkaError> {
        let name = std::ffi::CString::new(topic)?;
        // SAFETY: the client handle is the live producer's, which `self`
        // borrows for as long as the handle lives (its lifetime); the name
        // is a valid C string. A null handle is an error, read below.
        let native = unsafe {
            rdsys::rd_kafka_topic_new(
                self.producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        if native.is_null() {
            // SAFETY: reads the calling thread's last librdkafka error.
            let code = unsafe { rdsys::rd_kafka_last_error() };
            return Err(KafkaError::MessageProduction(code.into()));
        }
        Ok(TopicHandle {
            native,
            _producer: std::marker::PhantomData,
        })
    }

    fn send_to(
        &self,
        topic: &TopicHandle<'_>,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        loop {
            // SAFETY: `topic` is a live handle of this producer (see
            // `topic`). With RD_KAFKA_MSG_F_COPY librdkafka copies the key
            // and the value before returning and never writes through the
            // value pointer (the C signature is not const); the delivery
            // opaque is null, which `()`, the producer context's opaque,
            // reads back as itself in the delivery report.
            let failed = unsafe {
                rdsys::rd_kafka_produce(
                    topic.native,
                    partition.unwrap_or(PARTITION_UNASSIGNED),
                    rdsys::RD_KAFKA_MSG_F_COPY,
                    payload.as_ptr().cast_mut().cast(),
                    payload.len(),
                    key.as_ptr().cast(),
                    key.len(),
                    std::ptr::null_mut(),
                )
            } != 0;
            if !failed {
                return Ok(());
            }
            // SAFETY: reads the calling thread's last librdkafka error.
            match RDKafkaErrorCode::from(unsafe { rdsys::rd_kafka_last_error() }) {
                RDKafkaErrorCode::QueueFull => std::thread::sleep(QUEUE_FULL_WAIT),
                code => return Err(KafkaError::MessageProduction(code)),
            }
        }
    }
}

/// librdkafka's `RD_KAFKA_PARTITION_UA`: the partitioner chooses by key.
const PARTITION_UNASSIGNED: i32 = -1;

/// A librdkafka topic handle, for records sent by [`Sink::send_to`]:
/// producing by topic name looks the topic up (under a write lock, which
/// the pool's threads contend for) and copies the name for every record.
/// The handle lives no longer than the producer it came from.
pub struct TopicHandle<'a> {
    native: *mut rdsys::rd_kafka_topic_t,
    _producer: std::marker::PhantomData<&'a Sender<'a>>,
}

impl Drop for TopicHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from rd_kafka_topic_new (one reference,
        // given back here, once) and its producer is still alive.
        unsafe { rdsys::rd_kafka_topic_destroy(self.native) }
    }
}

/// The error as [`TxnError::Fenced`] or [`TxnError::Fatal`] when librdkafka
/// says the producer cannot go on; `None` when aborting may recover.
fn classify_fatal(error: KafkaError) -> Option<TxnError> {
    let KafkaError::Transaction(e) = &error else {
        return None;
    };
    if !e.is_fatal() {
        return None;
    }
    Some(match e.code() {
        RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced => TxnError::Fenced(error),
        _ => TxnError::Fatal(error),
    })
}

/// Retries a transactional call while librdkafka says it is retriable (at
/// most five times, backing off from 200 ms).
fn retry(mut op: impl FnMut() -> Result<(), KafkaError>) -> Result<(), KafkaError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_yields_to_the_operators_properties() {
        let mut cc = ClientConfig::new();
        cc.set("linger.ms", "100");
        Tuning {
            linger: Some(Duration::from_millis(5)),
            compression: Some("lz4".into()),
            queue_max_kbytes: None,
            quick_retry: true,
            native_flush: true,
        }
        .apply(&mut cc);
        assert_eq!(
            cc.get("linger.ms"),
            Some("100"),
            "the operator's value wins"
        );
        assert_eq!(cc.get("compression.type"), Some("lz4"));
        assert_eq!(cc.get("retry.backoff.ms"), Some("10"));
        assert_eq!(
            cc.get("queue.buffering.max.kbytes"),
            None,
            "unset stays unset"
        );
    }

    #[test]
    fn errors_outside_a_transaction_are_not_fatal() {
        let flush = KafkaError::Flush(RDKafkaErrorCode::MessageTimedOut);
        assert!(classify_fatal(flush).is_none(), "aborting may recover");
        let queue = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(classify_fatal(queue).is_none());
    }
}
