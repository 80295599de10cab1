//! Reconciliation's reactions (`provisioner reconcile` without `--dry-run`,
//! #13): carrying out an app's [`Plan`].
//!
//! - A correction (`drifted`, `missing`) and a leaver's still-active
//!   account are **re-asserts**: the employee's last command again, with
//!   the generation it had, on the app's command topic keyed by the
//!   employee. They travel with the employee's other commands, so the
//!   connector applies them through its normal path, and a command applied
//!   after the listing (a newer generation) makes the re-assert `superseded`
//!   (`generations`). A leaver's is a deprovision that always suspends,
//!   whatever the app's leaver policy: reconciliation never deletes.
//!   One app's re-asserts are written in one transaction; a re-run writes
//!   them again, which is harmless (idempotent commands).
//! - An orphan nobody owns has no employee, so no command can name it: it
//!   is suspended by the app's id ([`SuspendListed`]), paced by the app's
//!   token bucket, at most the plan's guard per run.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rdkafka::producer::BaseRecord;

use super::build::AnyLister;
use super::listing::SuspendListed;
use super::Outcome;
use crate::commands::{Action as CommandAction, Cause, Command, REASSERT_EVENT_TYPE};
use crate::config::{Config, LeaverPolicy};
use crate::ids::RoleName;
use crate::kafka::txn::{Tuning, TxnProducer};
use crate::kafka::{self, TopicSpec};
use crate::ratelimit::Limiter;
use crate::reconcile::output::{Done, Entry, Reaction};
use crate::reconcile::{Action, AppAccount, DesiredAccount, Plan, Report};

/// One reconciliation run: its id names it in every re-assert's cause.
#[derive(Debug, Clone)]
pub struct Run {
    /// `reconcile-<uuid>`: the re-asserts' `cause.event_id`, and their
    /// results' `reassert`.
    pub id: String,
    /// When it started: the re-asserts' `issued_at`.
    pub at: DateTime<Utc>,
}

impl Run {
    /// A run starting now.
    pub fn start() -> Run {
        Run {
            id: format!("reconcile-{}", uuid::Uuid::new_v4()),
            at: Utc::now(),
        }
    }
}

/// The command re-asserting `desired` in `app`: its generation and account
/// again, an upsert with its role, or (deprovisioned) a suspension.
pub fn reassert(app: &str, desired: &DesiredAccount, run: &Run) -> Command {
    let (action, deprovision) = match desired.role {
        Some(_) => (CommandAction::Upsert, None),
        None => (CommandAction::Deprovision, Some(LeaverPolicy::Suspend)),
    };
    Command {
        command_id: Command::id_for(app, &desired.employee_id, desired.generation),
        app: app.into(),
        employee_id: desired.employee_id.clone(),
        generation: desired.generation,
        action,
        deprovision,
        role: desired.role.as_deref().map(RoleName::from),
        account: Arc::new(desired.account.clone()),
        cause: Cause {
            event_id: run.id.as_str().into(),
            event_type: REASSERT_EVENT_TYPE.into(),
            rules: Vec::new(),
            rules_version: desired.rules_version.clone(),
            effective: None,
        },
        issued_at: run.at,
    }
}

/// `plan` as `--dry-run` shows it: every action planned, nothing done.
pub fn planned(plan: &Plan) -> Vec<Reaction> {
    let actions = plan.actions.iter().cloned().map(Entry::Action);
    let actions = actions.map(|entry| Reaction::new(entry, Done::Planned));
    let left = plan.reported.iter().cloned().map(Entry::Reported);
    actions
        .chain(left.map(|entry| Reaction::new(entry, Done::Reported)))
        .collect()
}

/// Why reconciliation's records (re-asserts, findings) could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The topic could not be created.
    #[error("cannot create the topic: {0}")]
    Topic(#[from] kafka::KafkaSetupError),
    /// The producer could not start.
    #[error("cannot start the producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// The transaction did not commit: none of them is visible.
    #[error(transparent)]
    Txn(#[from] kafka::txn::TxnError),
    /// The writing thread failed.
    #[error("the writing thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Carries out `plan` for `app` (whose listing gave `report`, against
/// `desired`) and says what became of each entry, actions first.
pub async fn carry_out(
    config: &Config,
    app: &str,
    lister: &AnyLister<'_>,
    limiter: &Limiter,
    (report, desired): (&Report, &[DesiredAccount]),
    plan: &Plan,
    run: &Run,
) -> Vec<Reaction> {
    let by_employee: HashMap<&str, &DesiredAccount> = desired
        .iter()
        .map(|d| (d.employee_id.as_str(), d))
        .collect();
    let by_app_id: HashMap<&str, &AppAccount> = report
        .findings
        .iter()
        .filter_map(|f| f.account.as_ref())
        .map(|a| (a.app_id.as_str(), a))
        .collect();
    let mut commands = Vec::new();
    let mut reactions: Vec<Reaction> = Vec::new();
    let mut by_id = Vec::new();
    for action in &plan.actions {
        let (employee, generation) = match action {
            Action::Reapply {
                employee_id,
                generation,
                ..
            } => (Some(employee_id), Some(*generation)),
            Action::Suspend {
                employee_id,
                generation,
                ..
            } => (employee_id.as_ref(), *generation),
        };
        let mut reaction = Reaction::new(Entry::Action(action.clone()), Done::CommandWritten);
        match (employee, generation) {
            (Some(employee), Some(generation)) => {
                match by_employee.get(employee.as_str()) {
                    Some(d) if d.generation == generation => {
                        commands.push(reassert(app, d, run));
                    }
                    // The plan comes from `desired`: a mismatch is a bug,
                    // and nothing is re-asserted blindly.
                    _ => fail(&mut reaction, "not in the engine's state as planned"),
                }
                reactions.push(reaction);
            }
            _ => by_id.push(action),
        }
    }
    if !commands.is_empty() {
        if let Err(error) = write(config, app, commands).await {
            let message = crate::text::error_chain(&error);
            reactions
                .iter_mut()
                .filter(|r| r.done == Done::CommandWritten)
                .for_each(|r| fail(r, &message));
        }
    }
    for action in by_id {
        let mut reaction = Reaction::new(Entry::Action(action.clone()), Done::Suspended);
        let account = match action {
            Action::Suspend { app_id, .. } => by_app_id.get(app_id.as_str()),
            Action::Reapply { .. } => None,
        };
        match account {
            Some(account) => suspend(lister, limiter, account, &mut reaction).await,
            None => fail(&mut reaction, "not in the listing as planned"),
        }
        reactions.push(reaction);
    }
    let left = planned(&Plan {
        actions: Vec::new(),
        reported: plan.reported.clone(),
    });
    reactions.extend(left);
    reactions
}

fn fail(reaction: &mut Reaction, message: &str) {
    reaction.done = Done::Failed;
    reaction.error = Some(message.to_string());
}

/// Suspends one unowned orphan: two requests (read, write), each after
/// the app's bucket.
async fn suspend(
    lister: &AnyLister<'_>,
    limiter: &Limiter,
    account: &AppAccount,
    reaction: &mut Reaction,
) {
    limiter.until_ready().await;
    limiter.until_ready().await;
    match lister.suspend_listed(account).await {
        Ok(applied) if applied.outcome == Outcome::Unchanged => {
            reaction.done = Done::AlreadyInactive
        }
        Ok(_) => reaction.done = Done::Suspended,
        Err(error) => fail(reaction, &error.to_string()),
    }
}

/// Writes `commands` to `app`'s command topic, keyed by employee, in one
/// transaction (transactional id `<group_id>-reconcile-<app>`, so two runs
/// on one app at once fence each other rather than interleave).
async fn write(config: &Config, app: &str, commands: Vec<Command>) -> Result<(), WriteError> {
    let records = commands
        .iter()
        .map(|c| (c.employee_id.as_str().to_string(), c.to_json()))
        .collect();
    let transactional_id = format!("{}-reconcile-{app}", config.kafka.group_id);
    write_keyed(
        config,
        config.topics.commands(app),
        transactional_id,
        records,
    )
    .await
}

/// Writes `(key, value)` records to `topic` in one transaction, creating
/// the topic first when `kafka.create_topics` says so: reconciliation's
/// one way of writing (re-asserts here, findings in `findings`).
pub(super) async fn write_keyed(
    config: &Config,
    topic: String,
    transactional_id: String,
    records: Vec<(String, Vec<u8>)>,
) -> Result<(), WriteError> {
    if config.kafka.create_topics {
        let spec = TopicSpec {
            name: topic.clone(),
            compact: false,
        };
        kafka::ensure_topics(config, &[spec]).await?;
    }
    let config = config.clone();
    tokio::task::spawn_blocking(move || -> Result<(), WriteError> {
        let mut producer = TxnProducer::new(&config, &transactional_id, &Tuning::default())?;
        for (key, value) in &records {
            let record = BaseRecord::to(&topic)
                .key(key.as_bytes())
                .payload(value.as_slice());
            producer.send(record)?;
        }
        producer.commit(None)?;
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Account;

    fn desired(role: Option<&str>) -> DesiredAccount {
        DesiredAccount {
            employee_id: "E1".into(),
            account: Account {
                external_id: "E1".into(),
                user_name: "ada@acme.test".into(),
                email: None,
                given_name: None,
                family_name: None,
                display_name: None,
            },
            role: role.map(String::from),
            generation: 4,
            rules_version: "sha256:ab".into(),
        }
    }

    #[test]
    fn a_reassert_repeats_the_generation_and_says_why() {
        let run = Run::start();
        let cmd = reassert("slack", &desired(Some("member")), &run);
        assert_eq!(cmd.command_id, "slack:E1:4");
        assert_eq!((cmd.generation, cmd.action), (4, CommandAction::Upsert));
        assert_eq!(
            (cmd.role.as_deref(), cmd.deprovision),
            (Some("member"), None)
        );
        assert!(cmd.is_reassert());
        assert_eq!(cmd.cause.event_id, run.id);
        assert_eq!(cmd.cause.rules_version.as_str(), "sha256:ab");
        assert!(run.id.starts_with("reconcile-"));
    }

    #[test]
    fn a_leavers_reassert_suspends_whatever_the_leaver_policy() {
        let cmd = reassert("slack", &desired(None), &Run::start());
        assert_eq!(cmd.action, CommandAction::Deprovision);
        assert_eq!(cmd.deprovision, Some(LeaverPolicy::Suspend));
        assert_eq!(cmd.role, None);
    }
}
