//! A unit of work waiting for its transaction: the new states, the commands
//! and the dead letters of one batch of events (or one slice of a rules
//! change, a restore or an operator request), plus the guard's holds.
//!
//! Nothing here touches Kafka: it reads committed states from the [`Store`]
//! and builds what the transaction will write. The store itself changes only
//! after the transaction commits, so an aborted batch leaves no trace.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rdkafka::message::Message;
use tracing::{info, warn};

use super::control::{self, ControlRequest};
use super::decide::{self, Outcome, Trigger};
use super::events::EventDecided;
use super::guard::{self, Budget, Scope};
use super::state::{AppState, EmployeeState, Held};
use super::store::Store;
use super::topics::CommandTopics;
use super::window::Window;
use super::Output;
use crate::commands::{Action, Command};
use crate::config::Config;
use crate::dlq::{self, Failure};
use crate::events;
use crate::ids::{AppName, EmployeeId};
use crate::metrics::{Consumed, DeadLetterKind, Metrics};
use crate::rules::RuleSet;

/// A command with the app state it replaced.
#[derive(Debug, Clone)]
struct Emitted {
    command: Command,
    before: Option<AppState>,
}

/// One transaction's worth of decisions.
#[derive(Debug, Default)]
pub struct Pending {
    /// Final state per employee, with its partition.
    states: HashMap<EmployeeId, (i32, EmployeeState)>,
    emitted: Vec<Emitted>,
    dead_letters: Vec<Output>,
    consumed: Vec<Consumed>,
    stale: u64,
    held: u64,
    /// Events dead-lettered after their decision (`unknown_app`,
    /// `unknown_employee`), one entry each, for the metrics.
    rejected: Vec<DeadLetterKind>,
    /// Employees a re-evaluation left for later, for the same reason.
    waiting: u64,
    /// The guard's windows of the partitions whose deprovisions this unit
    /// emits, with them counted: written in the same transaction.
    windows: BTreeMap<i32, Window>,
}

/// What deciding a batch reads and never changes.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Committed states.
    pub store: &'a Store,
    /// The rules in force.
    pub rules: &'a RuleSet,
    /// The configuration (apps, topics, limits).
    pub config: &'a Config,
    /// Which apps have no command topic.
    pub topics: &'a CommandTopics,
    /// Where decision times are observed.
    pub metrics: &'a Metrics,
    /// The batch's clock reading, for every command it issues.
    pub now: DateTime<Utc>,
}

/// The dead-letter record of an input record, within
/// `limits.max_dead_letter_bytes` (see [`dlq::copy`]).
pub fn dead_letter<M: Message>(record: &M, failure: &Failure, config: &Config) -> Output {
    let max = config
        .limits
        .max_dead_letter_bytes
        .unwrap_or(dlq::DEFAULT_MAX_BYTES);
    let copy = dlq::copy(record, failure, max);
    Output {
        topic: config.topics.events_dlq.as_str().into(),
        partition: None,
        key: copy.key,
        payload: copy.payload,
        headers: Some(copy.headers),
    }
}

/// The span of one input record's decision: where it came from and whose it
/// is (the key is the employee id). Only the rare lines written while
/// deciding (an invalid, stale, unknown-employee or unknown-app event) are
/// written in it, so it is made for them alone: entering a span per record
/// formatted its fields for every event at the default level.
pub(super) fn event_span<M: Message>(record: &M) -> tracing::Span {
    let key = record.key().map(String::from_utf8_lossy);
    tracing::info_span!(
        "event",
        partition = record.partition(),
        offset = record.offset(),
        employee_id = key.as_deref().unwrap_or("")
    )
}

/// One input record parsed as an HR event, and how long that took.
#[derive(Debug)]
pub struct Parsed {
    /// The event, or why the record is not one.
    pub result: Result<events::HrEvent, events::InvalidEvent>,
    /// Time spent parsing (counted in the processing-time histogram).
    pub took: std::time::Duration,
}

impl Parsed {
    /// Parses a record's value, with its key, under `limits.max_event_bytes`.
    pub fn of<M: Message>(record: &M, config: &Config) -> Parsed {
        let started = Instant::now();
        let result = match record.payload() {
            None => Err(events::InvalidEvent("record has no value".into())),
            Some(value) => events::parse(record.key(), value, config.limits.max_event_bytes),
        };
        Parsed {
            result,
            took: started.elapsed(),
        }
    }
}

impl Pending {
    /// An empty unit with room for the decisions of `records` input
    /// records (one state each, about three commands), so a batch's maps
    /// and lists do not grow (rehash, move) while it is decided.
    pub fn with_capacity(records: usize) -> Pending {
        Pending {
            states: HashMap::with_capacity(records),
            emitted: Vec::with_capacity(records * 3),
            ..Pending::default()
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && self.dead_letters.is_empty()
    }

    /// Employees touched so far.
    pub fn employees(&self) -> usize {
        self.states.len()
    }

    /// The latest state of an employee: this unit's, else the store's.
    fn current<'a>(
        &'a self,
        store: &Store,
        partition: i32,
        id: &str,
        rules: &RuleSet,
    ) -> Option<Cow<'a, EmployeeState>> {
        match self.states.get(id) {
            Some((_, state)) => Some(Cow::Borrowed(state)),
            None => store.get(partition, id, rules.version()).map(Cow::Owned),
        }
    }

    #[cfg(test)]
    /// Decides one input record: its commands and new state, or its dead letter.
    ///
    /// An event whose commands need an app without a command topic is
    /// dead-lettered whole as `unknown_app`, its state left as it was: a
    /// replay once the topic exists decides it again from there.
    pub fn add_record<M: Message>(&mut self, record: &M, ctx: &Context<'_>) {
        let parsed = Parsed::of(record, ctx.config);
        self.add_parsed(record, parsed, ctx);
    }

    /// [`Pending::add_record`] for a record already parsed (perhaps on
    /// another thread).
    pub fn add_parsed<M: Message>(&mut self, record: &M, parsed: Parsed, ctx: &Context<'_>) {
        let Context {
            store,
            rules,
            config,
            topics,
            metrics,
            now,
        } = *ctx;
        let started = Instant::now();
        let mut event = match parsed.result {
            Ok(event) => event,
            Err(reason) => return self.reject_invalid(record, reason, config),
        };
        let partition = record.partition();
        let prev = self.current(store, partition, &event.employee_id, rules);
        let decision = decide::decide_from(prev, &mut event, rules, config, now);
        self.consumed.push(event.kind.into());
        EventDecided {
            took: started.elapsed() + parsed.took,
        }
        .emit(metrics);
        match decision.outcome {
            Outcome::Applied => {}
            Outcome::Stale => {
                event_span(record).in_scope(|| {
                    info!(
                        message = "Stale event ignored.",
                        event_id = %event.id,
                        employee_id = %event.employee_id,
                        sequence = ?event.sequence
                    )
                });
                self.stale += 1;
                return;
            }
            Outcome::UnknownEmployee => {
                return self.reject_unknown_employee(record, &event, config)
            }
        }
        let blocking = topics.blocking(&decision.commands);
        if !blocking.is_empty() {
            return self.reject_unknown_app(record, &event, &blocking, config);
        }
        self.add_changes(
            partition,
            decision.state,
            decision.commands,
            decision.before,
        );
    }

    /// Re-evaluates one employee under `rules` (a new version, or a state
    /// restored from an older one).
    ///
    /// An employee whose commands need an app without a command topic is
    /// left as it was (still under its old rules version, so the next
    /// re-evaluation tries again) and counted in [`Pending::waiting`].
    pub fn add_reconcile(
        &mut self,
        partition: i32,
        mut state: EmployeeState,
        rules: &RuleSet,
        config: &Config,
        topics: &CommandTopics,
        now: DateTime<Utc>,
    ) {
        let trigger = Trigger {
            event_id: rules.version(),
            event_type: decide::RULES_CHANGED,
        };
        let changes = decide::reconcile(&mut state, rules, config, &trigger, now);
        if self.waits_for_topics(topics, &changes.commands) {
            return;
        }
        self.add_changes(partition, state, changes.commands, changes.before);
    }

    /// Fires one employee's due timer: re-evaluates it at `now`, under the
    /// trigger [`decide::SCHEDULE_DUE`] (its commands name the date in
    /// `cause.effective`). `false` when it has to wait for an app's command
    /// topic, like a re-evaluation; the state is then left as it was.
    pub fn add_timer(
        &mut self,
        partition: i32,
        mut state: EmployeeState,
        ctx: &Context<'_>,
    ) -> bool {
        let due = state
            .due
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let trigger = Trigger {
            event_id: due.as_deref().unwrap_or_default(),
            event_type: decide::SCHEDULE_DUE,
        };
        let changes = decide::reconcile(&mut state, ctx.rules, ctx.config, &trigger, ctx.now);
        if self.waits_for_topics(ctx.topics, &changes.commands) {
            return false;
        }
        self.add_changes(partition, state, changes.commands, changes.before);
        true
    }

    /// Employees a re-evaluation left for later: an app they need has no
    /// command topic yet.
    pub fn waiting(&self) -> u64 {
        self.waiting
    }

    /// Applies operator requests to one employee's held deprovisions; adds
    /// nothing when no request concerns them.
    ///
    /// A release whose commands need an app without a command topic waits,
    /// like a re-evaluation: requests are applied again on every restore.
    pub fn add_requests(
        &mut self,
        partition: i32,
        mut state: EmployeeState,
        requests: &[ControlRequest],
        topics: &CommandTopics,
    ) {
        if state.held.is_empty() {
            return;
        }
        let held_before = state.held.len();
        let mut commands = Vec::new();
        for request in requests {
            commands.extend(control::apply(&mut state, request));
        }
        if self.waits_for_topics(topics, &commands) {
            return;
        }
        if state.held.len() != held_before {
            self.add_changes(partition, state, commands, BTreeMap::new());
        }
    }

    /// Splits into units of at most `max` employees, each employee's commands
    /// staying with its state (and in order).
    pub fn split(self, max: usize) -> Vec<Pending> {
        let mut by_employee: HashMap<EmployeeId, Vec<Emitted>> = HashMap::new();
        for e in self.emitted {
            by_employee
                .entry(e.command.employee_id.clone())
                .or_default()
                .push(e);
        }
        let mut slices = Vec::new();
        let mut current = Pending {
            windows: self.windows,
            dead_letters: self.dead_letters,
            consumed: self.consumed,
            stale: self.stale,
            held: self.held,
            rejected: self.rejected,
            waiting: self.waiting,
            ..Pending::default()
        };
        for (id, entry) in self.states {
            if let Some(emitted) = by_employee.remove(&id) {
                current.emitted.extend(emitted);
            }
            current.states.insert(id, entry);
            if current.states.len() >= max.max(1) {
                slices.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            slices.push(current);
        }
        slices
    }

    /// Whether `commands` need an app without a command topic; counts the
    /// employee as waiting if so.
    fn waits_for_topics(&mut self, topics: &CommandTopics, commands: &[Command]) -> bool {
        let waits = !topics.blocking(commands).is_empty();
        self.waiting += u64::from(waits);
        waits
    }

    fn add_changes(
        &mut self,
        partition: i32,
        state: EmployeeState,
        commands: Vec<Command>,
        mut before: BTreeMap<AppName, Option<AppState>>,
    ) {
        for command in commands {
            let before = before.remove(&command.app).flatten();
            self.emitted.push(Emitted { command, before });
        }
        self.states
            .insert(state.employee_id.clone(), (partition, state));
    }

    /// Holds the net deprovisions the guard objects to: they are not emitted
    /// but kept in the employees' states, and their apps keep the state
    /// before. The ones let through are counted in their partitions' windows.
    ///
    /// `scope` says how the change is judged: a batch of events deprovision by
    /// deprovision, a rules change whole (see [`guard`]).
    pub fn guard(
        &mut self,
        store: &Store,
        config: &Config,
        scope: Scope,
        hold_id: &str,
        now: DateTime<Utc>,
    ) {
        // The usual batch deprovisions nothing: spare it the copies below.
        if !self
            .emitted
            .iter()
            .any(|e| e.command.action == Action::Deprovision)
        {
            return;
        }
        let net = {
            let commands: Vec<&Command> = self.emitted.iter().map(|e| &e.command).collect();
            guard::net_deprovisions(&commands)
        };
        if net.is_empty() {
            return;
        }
        let safety = &config.safety;
        let (now_ms, window_ms) = (
            now.timestamp_millis(),
            crate::config::millis::of(safety.window),
        );
        let recent = store.recent_deprovisions(now_ms, window_ms);
        let budget = Budget::new(&recent, store.active_by_app(), safety);
        let apps: Vec<&str> = net
            .iter()
            .map(|&i| self.emitted[i].command.app.as_str())
            .collect();
        let verdict = guard::judge(&apps, &budget, scope, safety);
        let held_indexes: HashSet<usize> = verdict
            .hold
            .iter()
            .map(|&position| net[position])
            .filter(|&i| self.hold(i, hold_id, now))
            .collect();
        for &i in net.iter().filter(|i| !held_indexes.contains(i)) {
            // Held commands stay in `emitted` until the end: `i` still names it.
            let c = &self.emitted[i].command;
            let (employee_id, app) = (c.employee_id.clone(), c.app.clone());
            self.count_in_window(store, &employee_id, &app, now_ms, window_ms);
        }
        if held_indexes.is_empty() {
            return;
        }
        self.held = held_indexes.len() as u64;
        warn!(
            message = "Mass deprovision held; an operator must release or discard it.",
            hold_id,
            held = self.held,
            reasons = ?verdict.reasons
        );
        let mut index = 0;
        self.emitted.retain(|_| {
            let keep = !held_indexes.contains(&index);
            index += 1;
            keep
        });
    }

    /// Holds emitted command `i` in its employee's state, whose app goes back
    /// to the state before. False when the employee is not in this unit.
    fn hold(&mut self, i: usize, hold_id: &str, now: DateTime<Utc>) -> bool {
        let e = &self.emitted[i];
        let Some((_, state)) = self.states.get_mut(&e.command.employee_id) else {
            return false;
        };
        match &e.before {
            Some(before) => state.apps.insert(e.command.app.clone(), before.clone()),
            None => state.apps.remove(&e.command.app),
        };
        state.held.insert(
            e.command.app.clone(),
            Held {
                hold_id: hold_id.to_string(),
                held_at: now,
                command: e.command.clone(),
            },
        );
        true
    }

    /// Counts a deprovision let through in its partition's window.
    fn count_in_window(
        &mut self,
        store: &Store,
        employee_id: &EmployeeId,
        app: &AppName,
        now_ms: i64,
        window_ms: u64,
    ) {
        if let Some((p, _)) = self.states.get(employee_id) {
            self.windows
                .entry(*p)
                .or_insert_with(|| store.window(*p))
                .add(now_ms, window_ms, app, 1);
        }
    }

    /// Takes in another unit's decisions, for employees this one has not
    /// touched (a batch decided on several threads, split by employee).
    pub fn absorb(&mut self, other: Pending) {
        // One growth, not a rehash at each doubling (the engine's thread
        // merges every group of a batch here).
        self.states.reserve(other.states.len());
        self.emitted.reserve(other.emitted.len());
        self.states.extend(other.states);
        self.emitted.extend(other.emitted);
        self.dead_letters.extend(other.dead_letters);
        self.consumed.extend(other.consumed);
        self.stale += other.stale;
        self.held += other.held;
        self.rejected.extend(other.rejected);
        self.waiting += other.waiting;
        self.windows.extend(other.windows);
    }

    /// Commands this unit emits (after the guard).
    pub fn command_count(&self) -> usize {
        self.emitted.len()
    }

    /// Deprovisions the guard held in this unit.
    pub fn held_count(&self) -> u64 {
        self.held
    }
}

mod records;
pub use records::Written;
mod reject;

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
