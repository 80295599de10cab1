//! The worker's consumer context: what happens when partitions move.
//!
//! librdkafka calls these hooks from inside `recv()`, on the worker's own
//! task, so they share state with the loop through a mutex the loop never
//! holds across an `.await`.
//!
//! - **Revoke**: before the partitions go, commit what finished on them
//!   (synchronously — we still own them), stop tracking them and list them
//!   for the loop, which aborts their in-flight commands and drops their
//!   waiting ones. Nothing is committed for them afterwards; the new owner
//!   starts from the committed point and redoes the rest, which is harmless
//!   (idempotent commands).
//! - **Assign**: if the app is paused, pause the new partitions too, so an
//!   outage holds across rebalances.
//! - **Commit callback**: a failed asynchronous commit is retried with the
//!   next one.

use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{info, warn};

use crate::connector::offsets::OffsetTracker;
use crate::sync::lock;

/// State shared between the worker loop and the rebalance hooks.
#[derive(Debug, Default)]
pub struct Shared {
    /// Commit points of the owned partitions.
    pub offsets: OffsetTracker,
    /// Partitions revoked since the loop last looked.
    pub revoked: Vec<i32>,
    /// Whether the loop wants consumption paused (outage or back-pressure).
    pub paused: bool,
}

/// The consumer context of one app's worker.
pub struct WorkerContext {
    app: String,
    topic: String,
    shared: Arc<Mutex<Shared>>,
}

impl WorkerContext {
    /// A context for `app`'s command `topic`.
    pub fn new(app: &str, topic: &str, shared: Arc<Mutex<Shared>>) -> Self {
        WorkerContext {
            app: app.to_string(),
            topic: topic.to_string(),
            shared,
        }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

impl ClientContext for WorkerContext {}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let mut commits = TopicPartitionList::new();
        let mut revoked = Vec::new();
        {
            let mut shared = self.shared();
            for element in tpl.elements_for_topic(&self.topic) {
                let partition = element.partition();
                revoked.push(partition);
                if let Some(point) = shared.offsets.remove(partition) {
                    // Adding a valid offset to a fresh list cannot fail.
                    let _ =
                        commits.add_partition_offset(&self.topic, partition, Offset::Offset(point));
                }
            }
            shared.revoked.extend(revoked.iter().copied());
        }
        if commits.count() > 0 {
            if let Err(error) = consumer.commit(&commits, CommitMode::Sync) {
                warn!(
                    message = "Commit on revocation failed; the new owner redoes those commands.",
                    app = %self.app,
                    %error
                );
            }
        }
        info!(message = "Partitions revoked.", app = %self.app, partitions = ?revoked);
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions: Vec<i32> = tpl
                    .elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                info!(message = "Partitions assigned.", app = %self.app, ?partitions);
                if self.shared().paused {
                    if let Err(error) = consumer.pause(tpl) {
                        warn!(message = "Cannot pause new partitions.", app = %self.app, %error);
                    }
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                warn!(message = "Rebalance error.", app = %self.app, %error);
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            warn!(message = "Offset commit failed; will retry.", app = %self.app, %error);
            let mut shared = self.shared();
            for element in offsets.elements_for_topic(&self.topic) {
                shared.offsets.forget_commit(element.partition());
            }
        }
    }
}
