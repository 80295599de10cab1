//! Is a dead-lettered command older news?
//!
//! A command whose generation is not above the last one its app applied for
//! that employee would, at best, be reported `superseded` by the connector;
//! replay skips it up front and says so. "Applied" is read where the
//! connectors record it: `provisioning.results`, outcomes `applied` and
//! `unchanged` (the same rule the connector worker restores at start-up).
//!
//! Cost: one pass over the whole results topic (`read_committed`, from the
//! beginning to the high watermarks taken at start), bounded by its
//! retention: about 300 bytes a result, so roughly 3 GB per 10 million
//! results, at the broker's fetch speed, before the first record is
//! replayed. Only the apps asked for are kept (`--app`, else all), one entry
//! per (app, employee). `--include-superseded` skips the pass entirely.
//!
//! The pass is a snapshot: a result written while replay runs is not seen.
//! That is safe — the connector repeats the check before it calls the app —
//! but such a command is then counted as replayed, not superseded.

use std::collections::HashMap;
use std::time::Instant;

use rdkafka::error::KafkaError;
use serde::Deserialize;
use tracing::info;

use crate::config::Config;
use crate::ids::{AppName, EmployeeId};
use crate::results::{self, CommandResult};

/// The fields of a command replay needs; the rest is not parsed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommandRef {
    /// The app.
    pub app: String,
    /// The employee.
    pub employee_id: String,
    /// Its generation.
    pub generation: u64,
}

impl CommandRef {
    /// The command in a record value, if it is one.
    pub fn parse(value: Option<&[u8]>) -> Option<CommandRef> {
        serde_json::from_slice(value?).ok()
    }
}

/// Last applied generation per (app, employee).
#[derive(Debug, Default, Clone)]
pub struct Applied {
    last: HashMap<(AppName, EmployeeId), u64>,
}

impl Applied {
    /// The last generation `app` applied for `employee_id`.
    pub fn last(&self, app: &str, employee_id: &str) -> Option<u64> {
        self.last
            .get(&(AppName::from(app), EmployeeId::from(employee_id)))
            .copied()
    }

    /// When `cmd` is older news: the generation applied since.
    pub fn superseded_by(&self, cmd: &CommandRef) -> Option<u64> {
        self.last(&cmd.app, &cmd.employee_id)
            .filter(|&applied| cmd.generation <= applied)
    }

    /// (app, employee) pairs known.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Takes one result into account, when it is of `app` (any app when
    /// `None`) and says the app holds that generation.
    pub fn absorb(&mut self, app: Option<&str>, value: &[u8]) {
        let Ok(result) = serde_json::from_slice::<CommandResult>(value) else {
            return;
        };
        let Some(generation) = result.held_generation() else {
            return;
        };
        if app.is_some_and(|a| a != result.app) {
            return;
        }
        let last = self
            .last
            .entry((result.app, result.employee_id))
            .or_insert(0);
        *last = (*last).max(generation);
    }
}

/// Reads the results topic to its end as it is now and returns what was
/// applied, for `app` or for every app. Blocking. A missing topic is an
/// empty history.
pub fn read(config: &Config, group: &str, app: Option<&str>) -> Result<Applied, KafkaError> {
    let started = Instant::now();
    let mut applied = Applied::default();
    let read = results::read_to_end(config, &format!("{group}-results"), |value| {
        applied.absorb(app, value)
    })?;
    info!(
        message = "Applied generations read from results.",
        topic = %config.topics.results,
        results_read = read,
        known = applied.len(),
        elapsed_ms = started.elapsed().as_millis() as u64
    );
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(app: &str, employee: &str, generation: u64, outcome: &str) -> Vec<u8> {
        serde_json::json!({
            "command_id": format!("{app}:{employee}:{generation}"), "app": app,
            "employee_id": employee, "generation": generation, "outcome": outcome,
            "app_account_id": null, "attempts": 1, "duration_ms": 3, "error": null
        })
        .to_string()
        .into_bytes()
    }

    fn cmd(app: &str, employee: &str, generation: u64) -> CommandRef {
        CommandRef {
            app: app.into(),
            employee_id: employee.into(),
            generation,
        }
    }

    #[test]
    fn applied_and_unchanged_count_for_their_app() {
        let mut a = Applied::default();
        a.absorb(None, &result("slack", "E1", 3, "applied"));
        a.absorb(None, &result("slack", "E1", 2, "unchanged"));
        a.absorb(None, &result("slack", "E2", 9, "dead_lettered"));
        a.absorb(None, &result("slack", "E3", 9, "superseded"));
        a.absorb(None, &result("zendesk", "E1", 5, "unchanged"));
        a.absorb(None, b"not json");
        assert_eq!(a.last("slack", "E1"), Some(3), "never goes backwards");
        assert_eq!(a.last("slack", "E2"), None);
        assert_eq!(a.last("slack", "E3"), None);
        assert_eq!(a.last("zendesk", "E1"), Some(5));
        assert_eq!(a.superseded_by(&cmd("slack", "E1", 2)), Some(3));
        assert_eq!(a.superseded_by(&cmd("slack", "E1", 3)), Some(3), "same one");
        assert_eq!(a.superseded_by(&cmd("slack", "E1", 4)), None);
        assert_eq!(a.superseded_by(&cmd("slack", "E9", 1)), None);
        assert_eq!(a.superseded_by(&cmd("zendesk", "E1", 6)), None);
    }

    #[test]
    fn only_the_asked_app_is_kept() {
        let mut a = Applied::default();
        a.absorb(Some("slack"), &result("slack", "E1", 3, "applied"));
        a.absorb(Some("slack"), &result("zendesk", "E1", 5, "applied"));
        assert_eq!(a.len(), 1);
        assert_eq!(a.last("zendesk", "E1"), None);
    }

    #[test]
    fn command_refs_come_from_command_json() {
        let value = br#"{"command_id":"slack:E1:2","app":"slack","employee_id":"E1",
            "generation":2,"action":"upsert","role":"member"}"#;
        assert_eq!(CommandRef::parse(Some(value)), Some(cmd("slack", "E1", 2)));
        assert_eq!(CommandRef::parse(Some(b"{not json")), None);
        assert_eq!(CommandRef::parse(Some(br#"{"app":"slack"}"#)), None);
        assert_eq!(CommandRef::parse(None), None);
    }
}
