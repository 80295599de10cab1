//! Consumer lag (`provisioner_consumer_lag{topic,partition}`).
//!
//! The consuming loops only *publish* their consumers' positions
//! ([`Positions::publish`], a local call, at most twice a second); a monitor
//! thread of its own does the network calls every `metrics.lag_interval_ms`:
//! the high watermark of each owned partition, and the group's committed
//! offsets. Lag is `high watermark − position`, where the position is the
//! consumer's (next offset to read) or, before it has read anything from a
//! partition, the group's committed offset — so an idle partition reports its
//! real backlog, not zero, and a restart does not spike the gauge.
//!
//! Only partitions this process owns are reported, so summing the gauge over
//! instances never counts a partition twice. Whether the broker answers at
//! all is the [`super::probe`]'s business, which checks far more often.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::config::Config;
use crate::kafka;
use crate::metrics::Metrics;
use crate::sync::lock;

/// The least time between two publications of one topic's positions.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);
/// Longest wait for one broker answer in the monitor.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Topic {
    group: String,
    /// Per owned partition, the next offset to read, if the consumer has one.
    positions: BTreeMap<i32, Option<i64>>,
    published: Option<Instant>,
}

/// The positions of the consumers of this process, by topic.
#[derive(Debug, Default)]
pub struct Positions {
    topics: Mutex<BTreeMap<String, Topic>>,
}

/// A concrete offset; `None` for the logical ones (none yet, end, stored…).
fn offset(o: Offset) -> Option<i64> {
    match o {
        Offset::Offset(n) => Some(n),
        _ => None,
    }
}

impl Positions {
    /// Declares that this process consumes `topic` in consumer group `group`.
    pub fn register(&self, topic: &str, group: &str) {
        let mut topics = lock(&self.topics);
        topics.entry(topic.to_string()).or_default().group = group.to_string();
    }

    /// Records the consumer's assignment and positions for its registered
    /// topics; cheap (no network), and does nothing if called again within
    /// half a second.
    pub fn publish<C: ConsumerContext, K: Consumer<C>>(&self, consumer: &K) {
        let mut topics = lock(&self.topics);
        let due = topics
            .values()
            .any(|t| t.published.is_none_or(|at| at.elapsed() >= PUBLISH_EVERY));
        if !due {
            return;
        }
        let Ok(tpl) = consumer.position() else { return };
        for (name, topic) in topics.iter_mut() {
            topic.positions = tpl
                .elements_for_topic(name)
                .iter()
                .map(|e| (e.partition(), offset(e.offset())))
                .collect();
            topic.published = Some(Instant::now());
        }
    }

    fn snapshot(&self) -> Vec<(String, String, BTreeMap<i32, Option<i64>>)> {
        let topics = lock(&self.topics);
        topics
            .iter()
            .map(|(name, t)| (name.clone(), t.group.clone(), t.positions.clone()))
            .collect()
    }
}

/// Starts the monitor thread; it stops when `shutdown` is cancelled.
pub fn spawn_monitor(
    config: &Config,
    positions: Arc<Positions>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let config = config.clone();
    let every = config.metrics.lag_interval;
    std::thread::Builder::new()
        .name("lag-monitor".into())
        .spawn(move || {
            let mut monitor = Monitor {
                config,
                clients: BTreeMap::new(),
                reported: BTreeSet::new(),
            };
            while !shutdown.is_cancelled() {
                if let Err(error) = monitor.round(&positions, &metrics) {
                    warn!(message = "Consumer lag not measured.", %error);
                }
                let deadline = Instant::now() + every;
                while !shutdown.is_cancelled() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50).min(every));
                }
            }
        })
}

struct Monitor {
    config: Config,
    /// One client per consumer group (committed offsets are asked of the group).
    clients: BTreeMap<String, BaseConsumer>,
    reported: BTreeSet<(String, i32)>,
}

impl Monitor {
    fn client(&mut self, group: &str) -> Result<&BaseConsumer, String> {
        if !self.clients.contains_key(group) {
            let client: BaseConsumer = kafka::client_config(&self.config)
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .set("isolation.level", "read_committed")
                .create()
                .map_err(|e| e.to_string())?;
            self.clients.insert(group.to_string(), client);
        }
        self.clients
            .get(group)
            .ok_or_else(|| "no client".to_string())
    }

    /// One measurement of every owned partition; `Err` when the broker did
    /// not answer.
    fn round(&mut self, positions: &Positions, metrics: &Metrics) -> Result<(), String> {
        let snapshot = positions.snapshot();
        let mut seen = BTreeSet::new();
        let mut checked = false;
        for (topic, group, owned) in snapshot {
            if owned.is_empty() {
                continue;
            }
            let client = self.client(&group)?;
            let mut tpl = TopicPartitionList::new();
            for p in owned.keys() {
                tpl.add_partition(&topic, *p);
            }
            let committed: BTreeMap<i32, Option<i64>> = client
                .committed_offsets(tpl, CALL_TIMEOUT)
                .map_err(|e| format!("committed offsets of group {group}: {e}"))?
                .elements()
                .iter()
                .map(|e| (e.partition(), offset(e.offset())))
                .collect();
            for (&partition, &position) in &owned {
                let (low, high) = client
                    .fetch_watermarks(&topic, partition, CALL_TIMEOUT)
                    .map_err(|e| format!("watermarks of {topic}/{partition}: {e}"))?;
                let read = position.max(committed.get(&partition).copied().flatten());
                let from = read.unwrap_or(low);
                metrics.set_consumer_lag(&topic, partition, (high - from).max(0));
                seen.insert((topic.clone(), partition));
            }
            checked = true;
        }
        if !checked {
            // Nothing owned: still prove the broker answers.
            let (group, topic) = (
                self.config.kafka.group_id.clone(),
                self.config.topics.events.clone(),
            );
            self.client(&group)?
                .fetch_metadata(Some(&topic), CALL_TIMEOUT)
                .map_err(|e| e.to_string())?;
        }
        for (topic, partition) in self.reported.difference(&seen) {
            metrics.remove_consumer_lag(topic, *partition);
        }
        self.reported = seen;
        Ok(())
    }
}
