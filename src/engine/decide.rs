//! The pure core: given what we know of an employee and a new event (or a new
//! rules version), what must every app's account look like, and which
//! commands does that take?
//!
//! No I/O, no clock (`now` is passed in), no Kafka: everything hard about
//! provisioning is decided here and tested here. The Kafka plumbing in
//! `engine::run` only feeds it records and writes out what it returns.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::state::{account_of, AppState, Desired, EmployeeState};
use crate::commands::{Action, Cause, Command, Effective};
use crate::config::{AppConfig, Config};
use crate::events::{merge_patch, EventType, Fields, HrEvent, Snapshot};
use crate::ids::{AppName, EmployeeId, EventId};
use crate::lifecycle::{Dates, Field, Phase, Window};
use crate::rules::{AppGrant, Granted, RuleSet};

/// `cause.event_type` of commands issued because the rules changed.
pub const RULES_CHANGED: &str = "provisioner.rules.changed";

/// `cause.event_type` of commands issued because a date took effect (an
/// employee's timer fired); `cause.effective` names the date.
pub const SCHEDULE_DUE: &str = "provisioner.schedule.due";

/// The result of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The employee's state after the event.
    pub state: EmployeeState,
    /// The commands to emit, in app-name order; empty when nothing an app
    /// sees has changed.
    pub commands: Vec<Command>,
    /// The app states the commands replaced (`None`: the app was new to the
    /// employee), so a guard holding a command can put the old one back.
    pub before: BTreeMap<AppName, Option<AppState>>,
    /// What became of the event.
    pub outcome: Outcome,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied: the decision's state and commands are its result.
    Applied,
    /// Not newer than the last event applied: nothing changed (CONTRACT §3).
    Stale,
    /// A `changed` for an employee of whom nothing is known (no state at
    /// all). Applied to an empty snapshot it would make accounts from a
    /// patch — no e-mail, the HR id as user name — so it is not applied:
    /// the engine dead-letters it as `unknown_employee`, to be replayed once
    /// the hire has arrived. The decision's state is an empty one, not to be
    /// kept.
    UnknownEmployee,
}

/// What [`reconcile`] changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    /// The commands to emit, in app-name order.
    pub commands: Vec<Command>,
    /// The app states the commands replaced.
    pub before: BTreeMap<AppName, Option<AppState>>,
}

/// What triggered a re-evaluation, for the commands' `cause`.
#[derive(Debug, Clone)]
pub struct Trigger<'a> {
    /// The HR event id, or the rules version.
    pub event_id: &'a str,
    /// The HR event type, [`RULES_CHANGED`] or [`SCHEDULE_DUE`].
    pub event_type: &'static str,
}

impl Trigger<'_> {
    fn scheduled(&self) -> bool {
        self.event_type == SCHEDULE_DUE
    }
}

/// Applies one HR event to an employee's state and decides the commands.
///
/// `prev` is `None` for an employee never seen before. A stale event (CONTRACT §3)
/// returns the state unchanged with no commands; so does a `changed` for an
/// employee never seen ([`Outcome::UnknownEmployee`]). A `left` for an
/// employee never seen is applied: it deprovisions nothing, and its state
/// records the leaver, so a hire arriving after it with an older sequence
/// or time is stale rather than creating accounts.
pub fn decide(
    prev: Option<&EmployeeState>,
    event: &HrEvent,
    rules: &RuleSet,
    config: &Config,
    now: DateTime<Utc>,
) -> Decision {
    match start(prev.map(Cow::Borrowed), event, now) {
        Ok(state) => applied(state, event, None, rules, config, now),
        Err(unchanged) => *unchanged,
    }
}

/// [`decide`] for the engine's hot path: an owned `prev` is updated in
/// place rather than copied, and a hire's snapshot is taken out of `event`
/// (left empty) rather than cloned.
pub fn decide_from(
    prev: Option<Cow<'_, EmployeeState>>,
    event: &mut HrEvent,
    rules: &RuleSet,
    config: &Config,
    now: DateTime<Utc>,
) -> Decision {
    let state = match start(prev, event, now) {
        Ok(state) => state,
        Err(unchanged) => return *unchanged,
    };
    // Only a hire's snapshot becomes the state's; a patch is read in place.
    let hired = (event.kind == EventType::Hired).then(|| std::mem::take(&mut event.employee));
    applied(state, event, hired, rules, config, now)
}

/// The state an event applies to, or the decision when it applies to none
/// (stale, or a change for an unknown employee: rare, hence boxed).
fn start(
    prev: Option<Cow<'_, EmployeeState>>,
    event: &HrEvent,
    now: DateTime<Utc>,
) -> Result<EmployeeState, Box<Decision>> {
    let unchanged = |state: EmployeeState, outcome: Outcome| {
        Box::new(Decision {
            state,
            commands: Vec::new(),
            before: BTreeMap::new(),
            outcome,
        })
    };
    match prev {
        Some(prev) if prev.is_stale(event) => Err(unchanged(prev.into_owned(), Outcome::Stale)),
        Some(prev) => Ok(prev.into_owned()),
        None if event.kind == EventType::Changed => Err(unchanged(
            EmployeeState::new(event.employee_id.clone()),
            Outcome::UnknownEmployee,
        )),
        None => {
            let mut state = EmployeeState::new(event.employee_id.clone());
            if event.kind == EventType::Left {
                // Never hired: recorded, and nothing granted whatever the
                // leave's end date says (a patch is no snapshot to provision).
                state.ended = Some(now);
            }
            Ok(state)
        }
    }
}

/// Applies `event` to `state` and reconciles; `hired` is a hire's snapshot
/// when the caller took it out of the event (else the event's is shared).
fn applied(
    mut state: EmployeeState,
    event: &HrEvent,
    hired: Option<Arc<Snapshot>>,
    rules: &RuleSet,
    config: &Config,
    now: DateTime<Utc>,
) -> Decision {
    apply_event(&mut state, event, hired, config, now);
    if event.sequence.is_some() {
        state.last_sequence = event.sequence;
    }
    if event.time.is_some() {
        state.last_time = event.time;
    }
    let trigger = Trigger {
        event_id: &event.id,
        event_type: event.kind.as_str(),
    };
    let changes = reconcile(&mut state, rules, config, &trigger, now);
    Decision {
        state,
        commands: changes.commands,
        before: changes.before,
        outcome: Outcome::Applied,
    }
}

/// Merges an event into the state, with what it says of the dates
/// (CONTRACT §3, "Dates"):
///
/// - a hire starts clean (re-hires too): its snapshot replaces the old one;
/// - a `left` is immediate when it says so, when no end date is known, or
///   when it comes before the start date (a rescinded hire); else it waits
///   for its end date;
/// - a change that clears a leaver's end date before it took effect
///   withdraws the leave; once an end date has passed, the leave stands
///   whatever later changes or leaves say of it.
fn apply_event(
    state: &mut EmployeeState,
    event: &HrEvent,
    hired: Option<Arc<Snapshot>>,
    config: &Config,
    now: DateTime<Utc>,
) {
    match event.kind {
        EventType::Hired => {
            state.snapshot = hired.unwrap_or_else(|| event.employee.clone());
            state.employed = true;
            state.ended = None;
        }
        EventType::Changed | EventType::Left => {
            // Read here, not for hires: the zone's name is parsed each time.
            let zone = config.lifecycle.zone();
            let leaver = !state.employed;
            let passed = leaver
                && state.ended.is_none()
                && Dates::of(&state.snapshot, zone)
                    .end
                    .is_some_and(|end| end <= now);
            let end_before = passed
                .then(|| state.snapshot.get(Field::EndDate.as_str()).cloned())
                .flatten();
            let snapshot = Arc::make_mut(&mut state.snapshot);
            merge_patch::apply_members(snapshot, &event.employee);
            if let Some(end) = end_before {
                // A leave whose end date passed stands, whatever this says:
                // its end date is kept, so each app's `post_end_ms` handover
                // still runs its course.
                snapshot.insert(Field::EndDate.as_str().to_string(), end);
            }
            if event.kind == EventType::Changed {
                if leaver && state.ended.is_none() && Dates::of(&state.snapshot, zone).end.is_none()
                {
                    state.employed = true; // the leave is withdrawn
                }
                return;
            }
            let dates = Dates::of(&state.snapshot, zone);
            state.employed = false;
            let rescinded = dates.start.is_some_and(|start| now < start);
            if state.ended.is_none() && (event.immediate || dates.end.is_none() || rescinded) {
                state.ended = Some(now);
            }
        }
    }
}

/// Brings every app account of one employee in line with `rules` and the
/// dates at `now`, updating `state` (its timer too) and returning a command
/// for each account whose desired state changed. Used for events, rules
/// changes and timers alike, so all follow the same logic.
///
/// Only apps whose window is open at `now` are granted (see
/// [`crate::lifecycle`]); the next window edge of a granted app becomes the
/// state's `due`. Apps no longer in the catalogue are left untouched:
/// without their leaver policy we cannot say how to deprovision them. A
/// deprovision already held by the guard is not decided again; a grant that
/// makes it moot drops it.
pub fn reconcile(
    state: &mut EmployeeState,
    rules: &RuleSet,
    config: &Config,
    trigger: &Trigger<'_>,
    now: DateTime<Utc>,
) -> Changes {
    state.rules_version = rules.version().clone();
    state.due = None;
    // Each snapshot field is looked up once, here, for the rules, the dates
    // and the account alike.
    let fields = Fields::of(&state.snapshot);
    let dates = Dates::of_fields(&fields, config.lifecycle.zone());
    let granted = granted(state, rules, &fields);
    let mut account = None;
    let mut event_id = None;
    let mut changes = Changes::default();
    for (app, grant) in apps_in_view(&state.apps, &granted) {
        let Some(app_config) = config.apps.get(app.as_str()) else {
            continue;
        };
        // A granted app's window: its next edge is a timer, and outside it
        // nothing is granted. Only a timer's commands name their date
        // (`cause.effective`).
        let mut window = None;
        let grant = grant.filter(|_| {
            let open = dates.window(app_config);
            if let Some(next) = open.next_change(now) {
                state.due = Some(state.due.map_or(next, |due| due.min(next)));
            }
            window = Some(open);
            open.phase(now) == Phase::Active
        });
        let prev = state.apps.get(&app);
        // Active with the granted role; deprovisioned when no longer granted
        // but still active; nothing when neither (nothing to take away).
        let next = match (grant, prev.map(|p| &p.desired)) {
            (Some(grant), _) => Desired::Active {
                role: grant.role().clone(),
                account: account
                    .get_or_insert_with(|| account_of(&state.employee_id, &fields))
                    .clone(),
            },
            (None, Some(Desired::Active { account, .. })) => Desired::Deprovisioned {
                account: account.clone(),
            },
            (None, _) => continue,
        };
        if state.held.contains_key(&app) {
            if matches!(next, Desired::Deprovisioned { .. }) {
                continue; // already decided, waiting for an operator
            }
            state.held.remove(&app);
        }
        if prev.is_some_and(|p| p.desired == next)
            || (prev.is_none() && matches!(next, Desired::Deprovisioned { .. }))
        {
            continue;
        }
        let generation = prev.map_or(0, |p| p.generation) + 1;
        changes.before.insert(app.clone(), prev.cloned());
        let effective = trigger
            .scheduled()
            .then(|| effective(state, &next, window.as_ref()))
            .flatten();
        changes.commands.push(command(
            &app,
            &state.employee_id,
            generation,
            &next,
            app_config,
            Cause {
                event_id: event_id
                    .get_or_insert_with(|| EventId::from(trigger.event_id))
                    .clone(),
                event_type: Cow::Borrowed(trigger.event_type),
                rules: grant.map_or_else(Vec::new, |g| g.rules().cloned().collect()),
                rules_version: rules.version().clone(),
                effective,
            },
            now,
        ));
        state.apps.insert(
            app,
            AppState {
                generation,
                desired: next,
            },
        );
    }
    changes
}

/// What the rules grant the employee, whatever the dates: nothing once
/// access has ended outside them (`ended`).
pub(crate) fn granted<'r>(
    state: &EmployeeState,
    rules: &'r RuleSet,
    fields: &Fields<'_>,
) -> Granted<'r> {
    if state.ended.is_none() {
        rules.granted(fields)
    } else {
        Granted::default()
    }
}

/// The date a scheduled command follows: the start for an account made, the
/// end (or the moment access ended outside the dates) for one taken away.
fn effective(state: &EmployeeState, next: &Desired, window: Option<&Window>) -> Option<Effective> {
    let (field, at) = match next {
        Desired::Active { .. } => (Field::StartDate, window?.from?),
        Desired::Deprovisioned { .. } => match (state.ended, window.and_then(|w| w.until)) {
            (Some(ended), _) => (Field::EndDate, ended),
            (None, Some(until)) => (Field::EndDate, until),
            (None, None) => return None,
        },
    };
    Some(Effective {
        field: field.as_str().to_string(),
        date: field.written_in(&state.snapshot),
        at,
    })
}

/// Every granted app and every app the employee has, in name order: the
/// two lists are sorted, so they are merged.
fn apps_in_view<'g, 'r>(
    had: &BTreeMap<AppName, AppState>,
    granted: &'g Granted<'r>,
) -> Vec<(AppName, Option<AppGrant<'g, 'r>>)> {
    let mut apps = Vec::with_capacity(had.len() + granted.most_apps());
    let mut had = had.keys().peekable();
    for grant in granted.apps() {
        while let Some(app) = had.next_if(|app| app.as_str() < grant.app().as_str()) {
            apps.push((app.clone(), None));
        }
        had.next_if(|app| app.as_str() == grant.app().as_str());
        apps.push((grant.app().clone(), Some(grant)));
    }
    apps.extend(had.map(|app| (app.clone(), None)));
    apps
}

fn command(
    app: &AppName,
    employee_id: &EmployeeId,
    generation: u64,
    desired: &Desired,
    app_config: &AppConfig,
    cause: Cause,
    now: DateTime<Utc>,
) -> Command {
    let (action, role, deprovision, account) = match desired {
        Desired::Active { role, account } => {
            (Action::Upsert, Some(role.clone()), None, account.clone())
        }
        Desired::Deprovisioned { account } => (
            Action::Deprovision,
            None,
            Some(app_config.leaver),
            account.clone(),
        ),
    };
    Command {
        command_id: Command::id_for(app, employee_id, generation),
        app: app.clone(),
        employee_id: employee_id.clone(),
        generation,
        action,
        deprovision,
        role,
        account,
        cause,
        issued_at: now,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "decide_dates_tests.rs"]
mod dates_tests;
