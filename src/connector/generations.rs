//! The last generation applied per employee, for `superseded` detection.
//!
//! A command whose generation is not above the last one applied for that
//! employee in that app is older news: applying it could undo newer state, so
//! it is reported `superseded` and never sent. A re-assert written by
//! reconciliation (`cause.event_type` `provisioner.reconcile.reassert`)
//! carries the generation it re-asserts, so it is applied over that same
//! generation, and superseded only by a newer one. The worker keeps the map in
//! memory and rebuilds it at start-up from `provisioning.results` — the
//! connectors' own audit trail — so the check survives restarts without a
//! store of its own.
//!
//! Cost: the start-up read is one pass over the whole results topic (every
//! app's results; this app's are kept), bounded by its retention. At roughly
//! 300 bytes a result that is about 3 GB per 10 million results, read at the
//! broker's fetch speed before the worker takes its first command; memory is
//! one entry per employee ever applied (tens of bytes each). When that grows
//! too slow, a compacted per-app "applied generation" topic keyed by employee
//! is the natural next step.

use std::collections::HashMap;
use std::time::Instant;

use rdkafka::error::KafkaError;
use tracing::{info, warn};

use crate::commands::Command;
use crate::config::Config;
use crate::results::{self, CommandResult};

/// Last applied generation by employee id, for one app.
#[derive(Debug, Default, Clone)]
pub struct Generations {
    applied: HashMap<String, u64>,
}

impl Generations {
    /// Nothing applied yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last generation applied for `employee_id`.
    pub fn last_applied(&self, employee_id: &str) -> Option<u64> {
        self.applied.get(employee_id).copied()
    }

    /// Whether `cmd` is older news: a generation not above the last
    /// applied, or for a re-assert, below it.
    pub fn supersedes(&self, cmd: &Command) -> bool {
        match self.last_applied(&cmd.employee_id) {
            Some(last) if cmd.is_reassert() => cmd.generation < last,
            Some(last) => cmd.generation <= last,
            None => false,
        }
    }

    /// Records an applied (or unchanged) generation; never goes backwards.
    pub fn record(&mut self, employee_id: &str, generation: u64) {
        let last = self.applied.entry(employee_id.to_string()).or_insert(0);
        *last = (*last).max(generation);
    }

    /// Employees known.
    pub fn len(&self) -> usize {
        self.applied.len()
    }

    /// Takes one result record into account: only this app's `applied` and
    /// `unchanged` outcomes say what the app holds.
    fn absorb(&mut self, app: &str, value: &[u8]) -> bool {
        let Ok(result) = serde_json::from_slice::<CommandResult>(value) else {
            return false;
        };
        if let (true, Some(generation)) = (result.app == app, result.held_generation()) {
            self.record(&result.employee_id, generation);
        }
        true
    }
}

/// Reads the results topic from the beginning to its current end
/// (`read_committed`) and returns what `app` last applied for each employee.
/// Blocking: run it off the async runtime. A missing topic is an empty history.
pub fn restore(config: &Config, app: &str) -> Result<Generations, KafkaError> {
    let started = Instant::now();
    let mut generations = Generations::new();
    let mut unreadable = 0u64;
    let group = format!("{}-{app}-restore", config.kafka.group_id);
    let read = results::read_to_end(config, &group, |value| {
        if !generations.absorb(app, value) {
            unreadable += 1;
        }
    })?;
    if unreadable > 0 {
        warn!(
            message = "Some result records are not valid results; ignored.",
            app, unreadable
        );
    }
    info!(
        message = "Applied generations restored from results.",
        app,
        results_read = read,
        employees = generations.len(),
        elapsed_ms = started.elapsed().as_millis() as u64
    );
    Ok(generations)
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

    #[test]
    fn only_this_apps_applied_outcomes_count() {
        let mut g = Generations::new();
        assert!(g.absorb("slack", &result("slack", "E1", 3, "applied")));
        assert!(g.absorb("slack", &result("slack", "E1", 2, "unchanged")));
        assert!(g.absorb("slack", &result("slack", "E2", 9, "dead_lettered")));
        assert!(g.absorb("slack", &result("slack", "E3", 9, "superseded")));
        assert!(g.absorb("slack", &result("zendesk", "E4", 5, "applied")));
        assert!(!g.absorb("slack", b"not json"));
        assert_eq!(g.last_applied("E1"), Some(3));
        assert_eq!(g.last_applied("E2"), None);
        assert_eq!(g.last_applied("E3"), None);
        assert_eq!(g.last_applied("E4"), None);
        assert!(g.supersedes(&command("E1", 3, "hr.employee.changed")));
        assert!(g.supersedes(&command("E1", 1, "hr.employee.changed")));
        assert!(!g.supersedes(&command("E1", 4, "hr.employee.changed")));
        assert!(!g.supersedes(&command("E9", 1, "hr.employee.changed")));
    }

    #[test]
    fn a_reassert_applies_over_its_own_generation_but_never_over_a_newer_one() {
        let mut g = Generations::new();
        g.record("E1", 3);
        let reassert = |generation| command("E1", generation, crate::commands::REASSERT_EVENT_TYPE);
        assert!(!g.supersedes(&reassert(3)));
        assert!(!g.supersedes(&reassert(4)));
        assert!(g.supersedes(&reassert(2)));
        assert!(!g.supersedes(&command("E2", 1, crate::commands::REASSERT_EVENT_TYPE)));
        assert!(g.supersedes(&command("E1", 3, "provisioner.rules.changed")));
    }

    fn command(employee: &str, generation: u64, event_type: &str) -> Command {
        serde_json::from_value(serde_json::json!({
            "command_id": format!("slack:{employee}:{generation}"), "app": "slack",
            "employee_id": employee, "generation": generation, "action": "upsert",
            "role": "member", "account": {"external_id": employee, "user_name": "u"},
            "cause": {"event_id": "e", "event_type": event_type, "rules": [], "rules_version": "v"},
            "issued_at": "2026-11-26T09:00:00.000Z"
        }))
        .expect("a command")
    }
}
