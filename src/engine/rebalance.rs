//! Partition assignment, seen from the engine's loop.
//!
//! librdkafka reports assignment changes from inside `poll`. The context
//! records them for the loop and pauses newly assigned partitions at once, so
//! no record of a partition is delivered before its state is restored; the
//! loop resumes each partition when its restore is done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tracing::{info, warn};

use crate::sync::lock;

/// An assignment change of the input topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Partitions now ours, paused until restored.
    Assigned(Vec<i32>),
    /// Partitions no longer ours: drop their state and unfinished work.
    Revoked(Vec<i32>),
}

/// The consumer context of the engine.
#[derive(Debug, Default)]
pub struct EngineContext {
    changes: Mutex<Vec<Change>>,
    assigned_once: AtomicBool,
}

impl EngineContext {
    /// Takes the changes recorded since the last call, oldest first.
    pub fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *lock(&self.changes))
    }

    /// Whether the group has given this member an assignment yet (possibly
    /// empty: more instances than partitions). Readiness waits for it.
    pub fn assigned_once(&self) -> bool {
        self.assigned_once.load(Ordering::SeqCst)
    }

    /// Whether a change is waiting.
    pub fn pending(&self) -> bool {
        !lock(&self.changes).is_empty()
    }

    fn push(&self, change: Change) {
        lock(&self.changes).push(change);
    }
}

impl ClientContext for EngineContext {}

impl ConsumerContext for EngineContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            info!(message = "Partitions revoked.", ?partitions);
            self.push(Change::Revoked(partitions));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                if partitions.is_empty() {
                    self.assigned_once.store(true, Ordering::SeqCst);
                    return;
                }
                if let Err(error) = consumer.pause(tpl) {
                    warn!(message = "Cannot pause newly assigned partitions.", %error);
                }
                info!(
                    message = "Partitions assigned; restoring their state.",
                    ?partitions
                );
                self.push(Change::Assigned(partitions));
                self.assigned_once.store(true, Ordering::SeqCst);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => warn!(message = "Rebalance error.", %error),
        }
    }
}
