//! What becomes of one dead-letter record: replayed (and where to), skipped
//! as superseded, filtered out, or unroutable. Pure: the topic metadata it
//! needs comes in as a function, so every rule is unit-tested.
//!
//! Routing: a record goes back to `dlq.original.topic`, to the partition it
//! came from (`dlq.original.partition`) while that partition exists — the
//! consumers keep per-key state by partition (the engine's state changelog
//! is co-partitioned with its input), and the original producer's
//! partitioner may not be ours (Java clients hash keys with murmur2,
//! librdkafka with CRC32). Without a usable partition the key decides.
//!
//! Only topics the record could have come from are accepted: the events
//! topic for the events dead-letter topic, a command topic
//! (`topics.commands_prefix` + app) for the commands one. Anything else —
//! no `dlq.original.topic`, a foreign topic, a topic that no longer exists —
//! is unroutable: reported and skipped, never fatal, so one odd record does
//! not block the others. Writing a dead letter into, say, the state
//! changelog would do far more harm than skipping it.

use super::filter::Filter;
use super::record::DlqInfo;
use super::superseded::{Applied, CommandRef};
use crate::config::TopicsConfig;

/// Which dead-letter topic is being replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `topics.events_dlq`: HR events go back to `topics.events`.
    Events,
    /// `topics.commands_dlq`: commands go back to their app's command topic.
    Commands,
}

impl Source {
    /// The source `topic` is, for this configuration.
    pub fn of(topics: &TopicsConfig, topic: &str) -> Option<Source> {
        if topic == topics.events_dlq {
            Some(Source::Events)
        } else if topic == topics.commands_dlq {
            Some(Source::Commands)
        } else {
            None
        }
    }
}

/// Where a replayed record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `dlq.original.topic`.
    pub topic: String,
    /// The original partition; `None` lets the key decide.
    pub partition: Option<i32>,
}

/// The fate of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Re-publish it.
    Replay(Route),
    /// A newer (or the same) generation is already applied.
    Superseded {
        /// The dead-lettered command's generation.
        generation: u64,
        /// The generation the app applied since.
        applied: u64,
    },
    /// Not selected by the filters.
    Filtered,
    /// Cannot be sent back; the reason says why.
    Unroutable(String),
}

impl Decision {
    /// A short label: `replay`, `superseded`, `filtered`, `unroutable`.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Replay(_) => "replay",
            Decision::Superseded { .. } => "superseded",
            Decision::Filtered => "filtered",
            Decision::Unroutable(_) => "unroutable",
        }
    }

    /// The label with its detail, for people.
    pub fn describe(&self) -> String {
        match self {
            Decision::Superseded {
                generation,
                applied,
            } => format!("superseded (generation {generation}, applied {applied})"),
            Decision::Unroutable(reason) => format!("unroutable: {reason}"),
            other => other.label().to_string(),
        }
    }
}

/// Decides records of one dead-letter topic.
pub struct Selector<'a> {
    /// Which topic.
    pub source: Source,
    /// The operator's filters.
    pub filter: &'a Filter,
    /// Topic names.
    pub topics: &'a TopicsConfig,
    /// Applied generations; `None` replays superseded commands too.
    pub applied: Option<&'a Applied>,
}

impl Selector<'_> {
    /// The fate of a record with these headers, key and value.
    /// `partitions(topic)` is the partition count of a topic (0: missing).
    pub fn decide(
        &self,
        info: &DlqInfo,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: &mut impl FnMut(&str) -> usize,
    ) -> Decision {
        if !self.filter.matches(info, key) {
            return Decision::Filtered;
        }
        if info.value_dropped.is_some() {
            // Re-publishing it would send an empty record in its place.
            return Decision::Unroutable(
                "its value was not kept (dlq.value.dropped); re-publish the original, \
                 at dlq.original.topic/partition/offset, by hand"
                    .into(),
            );
        }
        let route = match self.route(info, partitions) {
            Ok(route) => route,
            Err(reason) => return Decision::Unroutable(reason),
        };
        if let (Source::Commands, Some(applied)) = (self.source, self.applied) {
            if let Some(cmd) = CommandRef::parse(value) {
                if let Some(last) = applied.superseded_by(&cmd) {
                    return Decision::Superseded {
                        generation: cmd.generation,
                        applied: last,
                    };
                }
            }
        }
        Decision::Replay(route)
    }

    fn route(
        &self,
        info: &DlqInfo,
        partitions: &mut impl FnMut(&str) -> usize,
    ) -> Result<Route, String> {
        let Some(topic) = info.original_topic.clone() else {
            return Err("no dlq.original.topic header".into());
        };
        match self.source {
            Source::Events if topic != self.topics.events => {
                return Err(format!(
                    "{topic} is not the events topic {}",
                    self.topics.events
                ))
            }
            Source::Commands
                if topic.len() <= self.topics.commands_prefix.len()
                    || !topic.starts_with(&self.topics.commands_prefix) =>
            {
                return Err(format!(
                    "{topic} is not a command topic ({}<app>)",
                    self.topics.commands_prefix
                ))
            }
            _ => {}
        }
        let count = partitions(&topic);
        if count == 0 {
            return Err(format!("topic {topic} does not exist"));
        }
        let partition = info
            .original_partition
            .filter(|&p| p >= 0 && (p as usize) < count);
        Ok(Route { topic, partition })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMD: &[u8] = br#"{"app":"slack","employee_id":"E1","generation":2}"#;

    fn info(topic: Option<&str>, partition: Option<i32>, app: Option<&str>) -> DlqInfo {
        DlqInfo {
            original_topic: topic.map(String::from),
            original_partition: partition,
            app: app.map(String::from),
            kind: Some("retries_exhausted".into()),
            ..DlqInfo::default()
        }
    }

    fn three(topic: &str) -> usize {
        if topic.ends_with(".jira") {
            0
        } else {
            3
        }
    }

    fn applied(generation: u64) -> Applied {
        let mut a = Applied::default();
        let result = serde_json::json!({
            "command_id": "x", "app": "slack", "employee_id": "E1", "generation": generation,
            "outcome": "applied", "app_account_id": null, "attempts": 1, "duration_ms": 1,
            "error": null
        });
        a.absorb(None, result.to_string().as_bytes());
        a
    }

    fn decide(selector: &Selector<'_>, info: &DlqInfo, value: &[u8]) -> Decision {
        selector.decide(info, Some(b"E1"), Some(value), &mut three)
    }

    #[test]
    fn sources_are_the_configured_dlq_topics() {
        let topics = TopicsConfig::default();
        assert_eq!(
            Source::of(&topics, "provisioning.events.dlq"),
            Some(Source::Events)
        );
        assert_eq!(
            Source::of(&topics, "provisioning.commands.dlq"),
            Some(Source::Commands)
        );
        assert_eq!(Source::of(&topics, "provisioning.results"), None);
    }

    #[test]
    fn commands_go_back_to_their_partition_unless_superseded() {
        let topics = TopicsConfig::default();
        let filter = Filter::default();
        let newer = applied(2);
        let s = Selector {
            source: Source::Commands,
            filter: &filter,
            topics: &topics,
            applied: Some(&newer),
        };
        let i = info(Some("provisioning.commands.slack"), Some(2), Some("slack"));
        assert_eq!(
            decide(&s, &i, CMD),
            Decision::Superseded {
                generation: 2,
                applied: 2
            }
        );
        let older = applied(1);
        let s = Selector {
            applied: Some(&older),
            ..s
        };
        let d = decide(&s, &i, CMD);
        assert_eq!(
            d,
            Decision::Replay(Route {
                topic: "provisioning.commands.slack".into(),
                partition: Some(2)
            })
        );
        assert_eq!(d.label(), "replay");
        // --include-superseded: no applied map.
        let s = Selector { applied: None, ..s };
        assert_eq!(decide(&s, &i, CMD).label(), "replay");
        // A partition that does not exist (any more): the key decides.
        let far = info(Some("provisioning.commands.slack"), Some(7), None);
        assert_eq!(
            decide(&s, &far, b"{}"),
            Decision::Replay(Route {
                topic: "provisioning.commands.slack".into(),
                partition: None
            })
        );
    }

    #[test]
    fn filters_come_first_then_routing() {
        let topics = TopicsConfig::default();
        let filter = Filter {
            app: Some("slack".into()),
            ..Filter::default()
        };
        let s = Selector {
            source: Source::Commands,
            filter: &filter,
            topics: &topics,
            applied: None,
        };
        let other = info(
            Some("provisioning.commands.zendesk"),
            Some(0),
            Some("zendesk"),
        );
        assert_eq!(decide(&s, &other, CMD), Decision::Filtered);
        let lost = info(None, Some(0), Some("slack"));
        assert_eq!(
            decide(&s, &lost, CMD).describe(),
            "unroutable: no dlq.original.topic header"
        );
    }

    #[test]
    fn only_topics_a_record_can_come_from_are_accepted() {
        let topics = TopicsConfig::default();
        let filter = Filter::default();
        let commands = Selector {
            source: Source::Commands,
            filter: &filter,
            topics: &topics,
            applied: None,
        };
        for (topic, reason) in [
            (
                "provisioning.state",
                "provisioning.state is not a command topic (provisioning.commands.<app>)",
            ),
            (
                "provisioning.commands.",
                "provisioning.commands. is not a command topic (provisioning.commands.<app>)",
            ),
            (
                "provisioning.commands.jira",
                "topic provisioning.commands.jira does not exist",
            ),
        ] {
            assert_eq!(
                decide(&commands, &info(Some(topic), Some(0), None), CMD),
                Decision::Unroutable(reason.into())
            );
        }
        let events = Selector {
            source: Source::Events,
            ..commands
        };
        assert_eq!(
            decide(
                &events,
                &info(Some("hr.employee.events"), Some(1), None),
                b"{"
            )
            .label(),
            "replay"
        );
        assert_eq!(
            decide(
                &events,
                &info(Some("provisioning.commands.slack"), Some(1), None),
                CMD
            ),
            Decision::Unroutable(
                "provisioning.commands.slack is not the events topic hr.employee.events".into()
            )
        );
    }

    #[test]
    fn a_dead_letter_without_its_value_is_not_replayed() {
        let topics = TopicsConfig::default();
        let filter = Filter::default();
        let selector = Selector {
            source: Source::Events,
            filter: &filter,
            topics: &topics,
            applied: None,
        };
        let mut info = info(Some(&topics.events), Some(0), None);
        info.value_dropped = Some("value left out: too large".into());
        let decision = selector.decide(&info, Some(b"P1"), None, &mut |_| 1);
        assert!(
            matches!(&decision, Decision::Unroutable(r) if r.contains("dlq.value.dropped")),
            "{decision:?}"
        );
    }

    #[test]
    fn events_are_never_superseded_here() {
        // The engine's own staleness check handles old events.
        let topics = TopicsConfig::default();
        let filter = Filter::default();
        let newer = applied(9);
        let s = Selector {
            source: Source::Events,
            filter: &filter,
            topics: &topics,
            applied: Some(&newer),
        };
        assert_eq!(
            decide(&s, &info(Some("hr.employee.events"), Some(0), None), CMD).label(),
            "replay"
        );
    }
}
