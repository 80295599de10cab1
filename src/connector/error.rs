//! Why a worker stops: shared by the set-up in `worker.rs` and the loop in
//! `consume.rs`, so neither imports the other's internals.

use rdkafka::error::KafkaError;
use tokio::task::JoinError;

use crate::kafka::KafkaSetupError;

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The app is not in the catalogue.
    #[error("app {0:?} is not in the catalogue ([apps.<name>] of the configuration)")]
    UnknownApp(String),
    /// Start-up: broker, clients or topics.
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    /// A Kafka operation failed while running (consuming, committing, or the
    /// broker refusing a result or dead letter).
    #[error("Kafka error: {0}")]
    Kafka(#[from] KafkaError),
    /// A command task panicked: a bug. The process stops rather than leave
    /// an offset unfinished forever.
    #[error("a command task failed: {0}")]
    Task(#[from] JoinError),
}
