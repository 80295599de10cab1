//! What a replay tells the world, one type per happening whose `emit`
//! updates its metrics (and writes its log line, if it has one) together;
//! see `engine::events`. The replay's counts are of committed batches only.

use std::collections::BTreeMap;

use crate::metrics::Metrics;

/// One replay batch committed: its records re-published, per destination
/// topic.
#[derive(Debug)]
pub struct BatchReplayed<'a> {
    /// Records per destination topic.
    pub by_topic: &'a BTreeMap<String, u64>,
}

impl BatchReplayed<'_> {
    /// Counts `provisioner_replayed_total{topic}`.
    pub fn emit(&self, metrics: &Metrics) {
        for (topic, n) in self.by_topic {
            metrics.replayed(topic, *n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_batch_counts_per_destination() {
        let metrics = Metrics::new();
        let by_topic = BTreeMap::from([
            ("hr.events".to_string(), 3),
            ("provisioning.commands.slack".to_string(), 1),
        ]);
        BatchReplayed {
            by_topic: &by_topic,
        }
        .emit(&metrics);
        BatchReplayed {
            by_topic: &by_topic,
        }
        .emit(&metrics);
        let text = metrics.render();
        assert!(
            text.contains("provisioner_replayed_total{topic=\"hr.events\"} 6"),
            "{text}"
        );
        assert!(
            text.contains("provisioner_replayed_total{topic=\"provisioning.commands.slack\"} 2"),
            "{text}"
        );
    }
}
