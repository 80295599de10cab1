//! Operator requests to the engine: release or discard held deprovisions.
//!
//! `provisioner held release|discard` writes a request to the control topic;
//! every engine instance reads that topic from the beginning (no consumer
//! group) and applies each request to the employees it owns, in the same
//! transaction as the commands a release emits. Requests are idempotent — a
//! hold, once released or discarded, is gone — so re-reading them after a
//! restart is harmless, and an instance that takes over a partition applies
//! the requests its previous owner may not have.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::state::{AppState, Desired, EmployeeState};
use crate::commands::Command;
use crate::config::Config;
use crate::ids::{AppName, EmployeeId};
use crate::kafka;
use crate::text::escape;

/// What to do with held deprovisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlAction {
    /// Emit them.
    Release,
    /// Drop them; the accounts stay.
    Discard,
}

/// One operator request, as written to the control topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// Release or discard.
    pub action: ControlAction,
    /// One hold; `None` means every hold created before `requested_at`.
    pub hold_id: Option<String>,
    /// When the operator asked.
    pub requested_at: DateTime<Utc>,
}

impl ControlRequest {
    fn matches(&self, hold_id: &str, held_at: DateTime<Utc>) -> bool {
        match &self.hold_id {
            Some(id) => id == hold_id,
            None => held_at <= self.requested_at,
        }
    }
}

/// Applies a request to one employee; returns the commands a release emits.
pub fn apply(state: &mut EmployeeState, request: &ControlRequest) -> Vec<Command> {
    let apps: Vec<AppName> = state
        .held
        .iter()
        .filter(|(_, h)| request.matches(&h.hold_id, h.held_at))
        .map(|(app, _)| app.clone())
        .collect();
    let mut commands = Vec::new();
    for app in apps {
        let Some(held) = state.held.remove(&app) else {
            continue;
        };
        if request.action == ControlAction::Release {
            state.apps.insert(
                app,
                AppState {
                    generation: held.command.generation,
                    desired: Desired::Deprovisioned {
                        account: held.command.account.clone(),
                    },
                },
            );
            commands.push(held.command);
        }
    }
    commands
}

/// Reads the control topic: everything at start, then what arrives.
pub struct ControlReader {
    consumer: BaseConsumer,
}

impl ControlReader {
    /// Assigns every partition of the control topic from the beginning.
    pub fn new(config: &Config) -> Result<ControlReader, KafkaError> {
        let topic = &config.topics.control;
        let consumer: BaseConsumer = kafka::client_config(config)
            .set("group.id", format!("{}-control", config.kafka.group_id))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut tpl = TopicPartitionList::new();
        for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        Ok(ControlReader { consumer })
    }

    /// The requests that arrived since the last call (waiting at most `wait`
    /// for the first one).
    pub fn poll(&self, wait: Duration) -> Vec<ControlRequest> {
        let mut requests = Vec::new();
        let mut timeout = wait;
        while let Some(result) = self.consumer.poll(timeout) {
            timeout = Duration::ZERO;
            match result {
                Ok(record) => match record.payload().map(serde_json::from_slice) {
                    Some(Ok(request)) => requests.push(request),
                    _ => warn!(
                        message = "Unreadable control record ignored.",
                        offset = record.offset()
                    ),
                },
                Err(error) => warn!(message = "Control topic read error.", %error),
            }
        }
        requests
    }
}

/// Writes an operator request to the control topic. Every request uses one
/// key, so all land in one partition and are applied in the order given.
///
/// An unreachable broker fails within [`SEND_TIMEOUT`], not librdkafka's
/// default five minutes: an operator is waiting at a terminal.
pub async fn send(config: &Config, request: &ControlRequest) -> Result<(), KafkaError> {
    let timeout_ms = SEND_TIMEOUT.as_millis().to_string();
    let producer: rdkafka::producer::FutureProducer = kafka::client_config(config)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", &timeout_ms)
        .create()?;
    let payload = serde_json::to_vec(request).unwrap_or_default();
    let record = rdkafka::producer::FutureRecord::to(&config.topics.control)
        .key("control")
        .payload(&payload);
    producer
        .send(record, SEND_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// How long an operator request may take to reach the broker.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// One held deprovision, as `held list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldEntry {
    /// The hold.
    pub hold_id: String,
    /// The app.
    pub app: AppName,
    /// The employee.
    pub employee_id: EmployeeId,
    /// When it was held.
    pub held_at: DateTime<Utc>,
}

/// Every held deprovision, read from the state changelog (so it works while
/// the engine is down), sorted by hold, app and employee.
///
/// An unreachable broker and a missing state topic are errors that say so.
pub fn list_held(config: &Config) -> Result<Vec<HeldEntry>, super::EngineError> {
    let mut held = Vec::new();
    super::store::each_state(
        config,
        |summary| summary.held,
        |state| {
            for (app, h) in &state.held {
                held.push(HeldEntry {
                    hold_id: h.hold_id.clone(),
                    app: app.clone(),
                    employee_id: state.employee_id.clone(),
                    held_at: h.held_at,
                });
            }
        },
    )?;
    held.sort();
    Ok(held)
}

/// `held list`'s output (CONTRACT §1): `HOLD APP EMPLOYEE HELD AT`, one
/// held deprovision a line (cells escaped), then `N held deprovision(s)`.
pub fn write_held(out: &mut impl std::io::Write, held: &[HeldEntry]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<36} {:<14} {:<14} HELD AT",
        "HOLD", "APP", "EMPLOYEE"
    )?;
    for h in held {
        writeln!(
            out,
            "{:<36} {:<14} {:<14} {}",
            escape(&h.hold_id),
            escape(&h.app),
            escape(&h.employee_id),
            h.held_at.to_rfc3339()
        )?;
    }
    writeln!(out, "{} held deprovision(s)", held.len())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Account, Action, Cause};
    use crate::engine::state::Held;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn held_state() -> EmployeeState {
        let account = std::sync::Arc::new(Account {
            external_id: "E1".into(),
            user_name: "a@b".into(),
            email: None,
            given_name: None,
            family_name: None,
            display_name: None,
        });
        let mut state = EmployeeState::new("E1");
        state.apps.insert(
            "slack".into(),
            AppState {
                generation: 1,
                desired: Desired::Active {
                    role: "member".into(),
                    account: account.clone(),
                },
            },
        );
        state.held.insert(
            "slack".into(),
            Held {
                hold_id: "h1".into(),
                held_at: t("2026-11-26T10:00:00Z"),
                command: Command {
                    command_id: "slack:E1:2".into(),
                    app: "slack".into(),
                    employee_id: "E1".into(),
                    generation: 2,
                    action: Action::Deprovision,
                    deprovision: Some(crate::config::LeaverPolicy::Suspend),
                    role: None,
                    account,
                    cause: Cause {
                        event_id: "e".into(),
                        event_type: "t".into(),
                        rules: vec![],
                        rules_version: "v".into(),
                        effective: None,
                    },
                    issued_at: t("2026-11-26T10:00:00Z"),
                },
            },
        );
        state
    }

    fn request(action: ControlAction, hold: Option<&str>, at: &str) -> ControlRequest {
        ControlRequest {
            action,
            hold_id: hold.map(str::to_string),
            requested_at: t(at),
        }
    }

    #[test]
    fn release_emits_once_and_consumes_the_generation() {
        let mut state = held_state();
        let req = request(ControlAction::Release, Some("h1"), "2026-11-26T11:00:00Z");
        let cmds = apply(&mut state, &req);
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].command_id, "slack:E1:2");
        assert_eq!(state.apps["slack"].generation, 2);
        assert!(state.held.is_empty());
        assert!(
            apply(&mut state, &req).is_empty(),
            "a second release emits nothing"
        );
    }

    #[test]
    fn discard_keeps_the_account() {
        let mut state = held_state();
        let cmds = apply(
            &mut state,
            &request(ControlAction::Discard, None, "2026-11-26T11:00:00Z"),
        );
        assert!(cmds.is_empty());
        assert!(state.held.is_empty());
        assert!(matches!(
            state.apps["slack"].desired,
            Desired::Active { .. }
        ));
    }

    #[test]
    fn requests_match_their_hold_or_earlier_holds() {
        let mut state = held_state();
        assert!(apply(
            &mut state,
            &request(ControlAction::Release, Some("h2"), "2026-11-26T11:00:00Z")
        )
        .is_empty());
        assert!(apply(
            &mut state,
            &request(ControlAction::Release, None, "2026-11-26T09:00:00Z")
        )
        .is_empty());
        assert_eq!(
            state.held.len(),
            1,
            "a request older than the hold does not touch it"
        );
    }

    #[test]
    fn held_list_is_a_table_with_escaped_cells_and_a_count() {
        let held = [HeldEntry {
            hold_id: "h1".into(),
            app: "slack".into(),
            employee_id: "E1\u{1b}[2J".into(),
            held_at: t("2026-11-26T10:00:00Z"),
        }];
        let mut out = Vec::new();
        write_held(&mut out, &held).unwrap();
        let pad = |s: &str, n: usize| format!("{s:<n$}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{} {} {} HELD AT\n{} {} {} 2026-11-26T10:00:00+00:00\n1 held deprovision(s)\n",
                pad("HOLD", 36),
                pad("APP", 14),
                pad("EMPLOYEE", 14),
                pad("h1", 36),
                pad("slack", 14),
                pad("E1\\x1b[2J", 14)
            )
        );
    }
}
