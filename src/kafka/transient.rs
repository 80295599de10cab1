//! Errors that pass by themselves, retried until a deadline.
//!
//! Start-up meets a cluster that is still settling: a topic created a moment
//! ago has no leader for a while (its partitions answer `NotLeaderForPartition`
//! or `LeaderNotAvailable`, or are unknown to the broker asked), a group or
//! transaction coordinator is loading, a broker is restarting. librdkafka
//! reports these as the failure of whichever call met them; they clear within
//! seconds. Everything else — credentials refused, a configuration the broker
//! rejects, a topic nobody will create — cannot clear by waiting and fails at
//! once. A broker that stays unreachable fails when the deadline
//! (`kafka.startup_timeout_ms`) passes.

use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, info};

/// The first pause between attempts; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// The longest pause between attempts.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Whether an error with this code can clear by itself, so that retrying
/// (within a deadline) is right.
pub fn is_transient_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        // A partition without a leader yet (just created) or between leaders.
        C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::ReplicaNotAvailable
            | C::PreferredLeaderNotAvailable
            | C::EligibleLeadersNotAvailable
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::KafkaStorageError
            // A topic or partition the broker asked does not know yet.
            | C::UnknownTopicOrPartition
            | C::UnknownTopicId
            | C::UnknownPartition
            | C::UnknownTopic
            // Coordinators and controllers being elected or loading.
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::WaitingForCoordinator
            | C::ConcurrentTransactions
            | C::RebalanceInProgress
            | C::NotController
            // A broker briefly away, slow or asking us to back off.
            | C::RequestTimedOut
            | C::NetworkException
            | C::BrokerNotAvailable
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::ThrottlingQuotaExceeded
            | C::Retry
    )
}

/// Whether a client error can clear by itself (see [`is_transient_code`]);
/// a transactional error counts when librdkafka says it is retriable.
pub fn is_transient(error: &KafkaError) -> bool {
    if let KafkaError::Transaction(e) = error {
        if e.is_retriable() {
            return true;
        }
    }
    error.rdkafka_error_code().is_some_and(is_transient_code)
}

/// Pauses between attempts at something transient-failing, until a deadline:
/// 50 ms, doubling up to 1 s.
#[derive(Debug)]
pub struct Backoff {
    deadline: Instant,
    delay: Duration,
}

impl Backoff {
    /// Attempts may go on for `timeout` from now.
    pub fn new(timeout: Duration) -> Backoff {
        Backoff {
            deadline: Instant::now() + timeout,
            delay: FIRST_DELAY,
        }
    }

    /// The pause before the next attempt, or `None` when that attempt would
    /// start past the deadline (give up).
    pub fn next_delay(&mut self) -> Option<Duration> {
        let delay = self.delay;
        if Instant::now() + delay >= self.deadline {
            return None;
        }
        self.delay = (delay * 2).min(MAX_DELAY);
        Some(delay)
    }
}

/// Runs `op` until it succeeds, fails with an error that is not transient,
/// or `timeout` has passed; then returns its last result. Pauses between
/// attempts follow [`Backoff`]. Blocks: call it off the async runtime or
/// where blocking is already accepted (start-up, the engine's own thread).
///
/// `what` names the operation in the log line of the first retry.
pub fn retry_transient<T>(
    what: &str,
    timeout: Duration,
    mut op: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, KafkaError> {
    let mut backoff = Backoff::new(timeout);
    let mut attempt: u32 = 0;
    loop {
        let error = match op() {
            Err(error) if is_transient(&error) => error,
            other => return other,
        };
        let Some(delay) = backoff.next_delay() else {
            return Err(error);
        };
        attempt += 1;
        if attempt == 1 {
            info!(
                message = "Kafka not ready yet; retrying.",
                operation = what,
                %error,
                timeout_ms = timeout.as_millis() as u64
            );
        } else {
            debug!(message = "Retrying.", operation = what, %error, attempt);
        }
        std::thread::sleep(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settling_cluster_is_transient() {
        for code in [
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::UnknownPartition,
            RDKafkaErrorCode::CoordinatorLoadInProgress,
            RDKafkaErrorCode::CoordinatorNotAvailable,
            RDKafkaErrorCode::NotCoordinator,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::RequestTimedOut,
        ] {
            assert!(is_transient_code(code), "{code:?}");
            // As the calls report them: watermarks and metadata, consumer polls.
            assert!(is_transient(&KafkaError::MetadataFetch(code)), "{code:?}");
            assert!(is_transient(&KafkaError::MessageConsumption(code)));
        }
    }

    #[test]
    fn refusals_and_bad_configuration_are_not() {
        for code in [
            RDKafkaErrorCode::Authentication,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::SSL,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::GroupAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
            RDKafkaErrorCode::InvalidConfig,
            RDKafkaErrorCode::InvalidReplicationFactor,
            RDKafkaErrorCode::InvalidPartitions,
            RDKafkaErrorCode::PolicyViolation,
            RDKafkaErrorCode::InvalidArgument,
            RDKafkaErrorCode::Fenced,
            RDKafkaErrorCode::ProducerFenced,
        ] {
            assert!(!is_transient_code(code), "{code:?}");
            assert!(!is_transient(&KafkaError::MetadataFetch(code)), "{code:?}");
        }
        // Errors without a broker code (a client that cannot be created)
        // are not either.
        assert!(!is_transient(&KafkaError::ClientCreation("bad".into())));
    }

    #[test]
    fn retries_a_transient_error_until_it_clears() {
        let mut calls = 0;
        let result = retry_transient("test", Duration::from_secs(10), || {
            calls += 1;
            if calls < 3 {
                Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::NotLeaderForPartition,
                ))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result.unwrap(), 3);
    }

    #[test]
    fn a_refusal_fails_at_once() {
        let mut calls = 0;
        let result: Result<(), _> = retry_transient("test", Duration::from_secs(10), || {
            calls += 1;
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::TopicAuthorizationFailed,
            ))
        });
        assert_eq!(calls, 1);
        assert_eq!(
            result.unwrap_err().rdkafka_error_code(),
            Some(RDKafkaErrorCode::TopicAuthorizationFailed)
        );
    }

    #[test]
    fn a_transient_error_that_stays_fails_at_the_deadline() {
        let started = Instant::now();
        let mut calls = 0;
        let result: Result<(), _> = retry_transient("test", Duration::from_millis(300), || {
            calls += 1;
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::LeaderNotAvailable,
            ))
        });
        assert_eq!(
            result.unwrap_err().rdkafka_error_code(),
            Some(RDKafkaErrorCode::LeaderNotAvailable)
        );
        assert!(calls > 1, "retried before giving up");
        // Never past the deadline (with room for a slow machine).
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
