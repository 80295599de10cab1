//! `provisioner schedule list` (CONTRACT §1): what the engine's timers will
//! do and when, read from the state changelog like `held list` (so it works
//! while the engine is down).
//!
//! Every employee with a timer (`due`) is listed with the transitions its
//! dates and the current rules make, one row per app and instant, computed
//! with the same [`Calendar`] the engine decides with: a row is what the
//! engine will do at that instant unless an HR event or a rules change comes
//! first. Rows carry employee ids, never names or e-mails.

use std::collections::BTreeSet;
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::state::codec::Summary;
use super::state::EmployeeState;
use super::EngineError;
use crate::config::Config;
use crate::events::{date, Fields};
use crate::ids::EmployeeId;
use crate::lifecycle::{Calendar, Transition};
use crate::rules::{PreviewFormat, RuleSet};

/// The change of a row whose employee's timer changes no app under the
/// current rules: the engine re-decides the employee then, and may change
/// nothing.
pub const REEVALUATE: &str = "re-evaluate";

/// One pending transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// When it takes effect (in the past for a timer the engine has not
    /// fired yet, e.g. while it was down).
    pub due: DateTime<Utc>,
    /// The employee.
    pub employee_id: EmployeeId,
    /// What happens to which app; `None` for a [`REEVALUATE`] row.
    pub transition: Option<Transition>,
}

impl Scheduled {
    /// `provision`, `deprovision` or [`REEVALUATE`].
    pub fn change(&self) -> &'static str {
        self.transition
            .as_ref()
            .map_or(REEVALUATE, Transition::change)
    }

    /// The app, if one changes.
    pub fn app(&self) -> Option<&str> {
        self.transition.as_ref().map(|t| t.app.as_str())
    }
}

/// Which rows `schedule list` keeps.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this employee.
    pub employee: Option<String>,
    /// Only transitions strictly before this instant.
    pub before: Option<DateTime<Utc>>,
}

/// The pending transitions of one employee at `calendar.now`, soonest
/// first: none without a timer; else those of the apps the rules grant
/// (nothing after access ended), or one [`REEVALUATE`] row at the timer
/// when they make none.
///
/// A timer already due (the engine has not fired it yet) has not acted: its
/// transitions are listed from its instant on, not from now.
pub fn of_state(state: &EmployeeState, rules: &RuleSet, calendar: &Calendar<'_>) -> Vec<Scheduled> {
    let Some(due) = state.due else {
        return Vec::new();
    };
    let fields = Fields::of(&state.snapshot);
    let granted = super::decide::granted(state, rules, &fields);
    let mut since = *calendar;
    if due <= calendar.now {
        since.now = due - chrono::Duration::milliseconds(1);
    }
    let transitions = since.pending(&state.snapshot, granted.apps().map(|g| g.app().as_str()));
    if transitions.is_empty() {
        return vec![Scheduled {
            due,
            employee_id: state.employee_id.clone(),
            transition: None,
        }];
    }
    transitions
        .into_iter()
        .map(|t| Scheduled {
            due: t.at,
            employee_id: state.employee_id.clone(),
            transition: Some(t),
        })
        .collect()
}

/// Every pending transition on the changelog that `filter` keeps, soonest
/// first (then by employee and app), under `rules` at `now`.
///
/// An unreachable broker and a missing state topic are errors that say so.
pub fn list(
    config: &Config,
    rules: &RuleSet,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Scheduled>, EngineError> {
    let calendar = Calendar::new(config, now);
    let mut rows = Vec::new();
    let timed = |summary: &Summary<'_>| summary.due.is_some();
    super::store::each_state(config, timed, |state| {
        if let Some(id) = &filter.employee {
            if state.employee_id.as_str() != id {
                return;
            }
        }
        let kept = of_state(&state, rules, &calendar)
            .into_iter()
            .filter(|row| filter.before.is_none_or(|before| row.due < before));
        rows.extend(kept);
    })?;
    rows.sort_by(|a, b| (a.due, &a.employee_id, a.app()).cmp(&(b.due, &b.employee_id, b.app())));
    Ok(rows)
}

/// Parses `--before`: an RFC 3339 instant, or a `YYYY-MM-DD` day meaning
/// its midnight UTC. The error says what would be right; the command line
/// parser leads with the flag and the value.
pub fn parse_before(value: &str) -> Result<DateTime<Utc>, String> {
    date::parse(value.trim()).ok_or_else(|| {
        "not an RFC 3339 time or a YYYY-MM-DD date; \
         write e.g. 2026-12-31 or 2026-12-31T17:00:00Z"
            .to_string()
    })
}

/// Writes `rows`: a table and the line `N pending transition(s) for M
/// employee(s)`, or one JSON object a line and no summary.
pub fn write(out: &mut impl Write, rows: &[Scheduled], format: PreviewFormat) -> io::Result<()> {
    match format {
        PreviewFormat::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, &JsonRow::of(row))?;
                out.write_all(b"\n")?;
            }
        }
        PreviewFormat::Table => {
            if !rows.is_empty() {
                let cells: Vec<[String; 5]> = rows.iter().map(table_row).collect();
                let header = ["DUE", "EMPLOYEE", "APP", "CHANGE", "DATE"];
                for line in crate::text::columns(header, &cells) {
                    writeln!(out, "{line}")?;
                }
            }
            let employees: BTreeSet<&EmployeeId> = rows.iter().map(|r| &r.employee_id).collect();
            writeln!(
                out,
                "{} pending transition(s) for {} employee(s)",
                rows.len(),
                employees.len()
            )?;
        }
    }
    out.flush()
}

/// The cells of one row (escaped when the table is laid out).
fn table_row(row: &Scheduled) -> [String; 5] {
    let (app, date) = match &row.transition {
        Some(t) => (t.app.clone(), format!("{}={}", t.field.as_str(), t.date)),
        None => ("-".to_string(), "-".to_string()),
    };
    [
        crate::text::instant(row.due),
        row.employee_id.to_string(),
        app,
        row.change().to_string(),
        date,
    ]
}

/// `{"due":…,"employee_id":…,"app":…,"change":…,"field":…,"date":…}`;
/// `app`, `field` and `date` are `null` in a [`REEVALUATE`] row.
#[derive(Serialize)]
struct JsonRow<'a> {
    due: String,
    employee_id: &'a str,
    app: Option<&'a str>,
    change: &'static str,
    field: Option<&'static str>,
    date: Option<&'a str>,
}

impl<'a> JsonRow<'a> {
    fn of(row: &'a Scheduled) -> JsonRow<'a> {
        let t = row.transition.as_ref();
        JsonRow {
            due: crate::text::instant(row.due),
            employee_id: row.employee_id.as_str(),
            app: row.app(),
            change: row.change(),
            field: t.map(|t| t.field.as_str()),
            date: t.map(|t| t.date.as_str()),
        }
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
