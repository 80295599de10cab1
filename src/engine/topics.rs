//! Which catalogue apps have no command topic on the broker.
//!
//! With `kafka.create_topics = false` the operator owns the topics, and an
//! app can be in the catalogue (and the rules) before its command topic
//! exists. A transaction writing to a missing topic can only abort, and the
//! batch would be read again forever; instead, an event whose decision needs
//! such an app is dead-lettered as `unknown_app` (its state unchanged, so a
//! replay decides it again), and the rest keeps flowing. The engine looks
//! again every `engine.topic_refresh_ms` while something is missing, and at
//! once after an aborted batch (a topic deleted under it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::commands::Command;
use crate::config::Config;
use crate::kafka::{self, KafkaSetupError};

/// The apps whose command topic is missing, as last seen on the broker.
#[derive(Debug, Clone, Default)]
pub struct CommandTopics {
    missing: BTreeSet<String>,
    checked: Option<Instant>,
}

impl CommandTopics {
    /// Every app has its topic (the engine created them, or a unit test).
    pub fn all_present() -> CommandTopics {
        CommandTopics::default()
    }

    #[cfg(test)]
    /// A set naming `apps` as missing.
    pub fn missing_apps<I: IntoIterator<Item = S>, S: Into<String>>(apps: I) -> CommandTopics {
        CommandTopics {
            missing: apps.into_iter().map(Into::into).collect(),
            checked: None,
        }
    }

    /// Asks the broker which catalogue apps have no command topic.
    pub fn check(config: &Config) -> Result<CommandTopics, KafkaSetupError> {
        let existing = kafka::existing_topics(config)?;
        Ok(CommandTopics {
            missing: config
                .apps
                .keys()
                .filter(|app| !existing.contains(&config.topics.commands(app)))
                .cloned()
                .collect(),
            checked: Some(Instant::now()),
        })
    }

    /// Whether a look at the broker is due: something is missing and the
    /// last look is older than `interval`.
    pub fn refresh_due(&self, interval: Duration) -> bool {
        !self.missing.is_empty() && self.checked.is_none_or(|at| at.elapsed() >= interval)
    }

    /// The apps missing their topic.
    pub fn missing(&self) -> &BTreeSet<String> {
        &self.missing
    }

    /// The apps among `commands` that have no topic, in app-name order.
    pub fn blocking<'a>(&self, commands: &'a [Command]) -> Vec<&'a str> {
        if self.missing.is_empty() {
            return Vec::new();
        }
        let apps: BTreeSet<&str> = commands
            .iter()
            .map(|c| c.app.as_str())
            .filter(|app| self.missing.contains(*app))
            .collect();
        apps.into_iter().collect()
    }
}
