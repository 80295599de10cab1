//! `provisioner rules preview` (CONTRACT §1): what each employee of a JSON-lines
//! file gets under a rule set, with the transitions its dates still make
//! ([`crate::lifecycle::Calendar::pending`]), or what would change between
//! two rule sets.
//!
//! Offline and pure apart from its reader and writer, so a rules change can
//! be reviewed — "who loses Zendesk?" — before it reaches the engine. JSON
//! output streams one line per employee; the table for people is aligned, so
//! it is written once the input has been read.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::{Grant, RuleSet, Snapshot};
use crate::lifecycle::{Calendar, Transition};

/// How the preview is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreviewFormat {
    /// Aligned columns and a summary line, for people (the default).
    #[default]
    Table,
    /// One JSON object a line, for scripts (CONTRACT §1 shapes).
    Json,
}

impl FromStr for PreviewFormat {
    type Err = String;

    /// `table` or `json`, as given to `--format`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(PreviewFormat::Table),
            "json" => Ok(PreviewFormat::Json),
            other => Err(format!("unknown format {other:?}; use table or json")),
        }
    }
}

/// Counts of one preview run; the diff counts are 0 without a baseline.
///
/// Returned so the command line can report or act on them (e.g. a CI job
/// that fails when a change removes accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PreviewSummary {
    /// Employees read (blank lines are not employees).
    pub employees: usize,
    /// Employees with at least one app change.
    pub changed: usize,
    /// App changes where the employee gains the app.
    pub gained: usize,
    /// App changes where the employee loses the app.
    pub lost: usize,
    /// App changes where the employee keeps the app with another role.
    pub role_changed: usize,
}

/// Why a preview could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// A line of the employees file is not a usable snapshot.
    #[error("{}:{line}: {message}", file.display())]
    Input {
        /// The employees file, as named by the caller.
        file: PathBuf,
        /// 1-based line of the bad record.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The employees file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        /// The employees file, as named by the caller.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write the preview: {0}")]
    Write(#[source] std::io::Error),
}

/// Reads JSON-lines employee snapshots from `input` and writes the CONTRACT §1
/// preview of `rules` to `out`.
///
/// With a `baseline` (the OLD rule set; `rules` is the NEW one) only
/// employees whose grants differ are printed — a grant differs when the app
/// is gained, lost or its role changes; a different deciding rule alone is
/// not a change, since the app sees nothing of it — followed by a summary.
/// Blank lines are skipped; a bad line stops the preview with an error
/// naming `input_name` and the line.
///
/// Without a baseline each employee's grants are followed by its pending
/// transitions: when, by `calendar` (its `now` is the time of the preview),
/// each granted app's window opens or closes. The grants are what the rules
/// give, whatever the dates; the engine makes an account only while its
/// window is open, so an employee not yet started has none of them *now*,
/// and its `provision` transitions say when it will.
pub fn preview(
    mut input: impl BufRead,
    input_name: &Path,
    rules: &RuleSet,
    baseline: Option<&RuleSet>,
    calendar: &Calendar<'_>,
    format: PreviewFormat,
    out: &mut impl Write,
) -> Result<PreviewSummary, PreviewError> {
    let mut summary = PreviewSummary::default();
    let mut with_apps = 0;
    let mut table = Table::default();
    let mut buf = Vec::new();
    let mut line = 0;
    while next_line(&mut input, input_name, &mut buf)? {
        line += 1;
        let Some((id, employee)) = parse_line(&buf).map_err(|message| PreviewError::Input {
            file: input_name.to_path_buf(),
            line,
            message,
        })?
        else {
            continue;
        };
        summary.employees += 1;
        let grants = rules.grants(&employee);
        if let Some(old_rules) = baseline {
            let old = old_rules.grants(&employee);
            let changes = diff(&old, &grants);
            if changes.is_empty() {
                continue;
            }
            count_changes(&mut summary, &changes);
            match format {
                PreviewFormat::Json => json_line(
                    out,
                    &ChangesLine {
                        employee_id: &id,
                        changes,
                    },
                )?,
                PreviewFormat::Table => table.changes(&id, &changes),
            }
        } else {
            with_apps += usize::from(!grants.is_empty());
            let pending = calendar.pending(&employee, grants.keys().map(String::as_str));
            match format {
                PreviewFormat::Json => json_line(out, &GrantsLine::new(&id, &grants, &pending))?,
                PreviewFormat::Table => table.grants(&id, &grants, &pending),
            }
        }
    }
    write_end(out, format, baseline.is_some(), &table, &summary, with_apps)?;
    out.flush().map_err(PreviewError::Write)?;
    Ok(summary)
}

/// Reads the next line of `input` into `buf`; false at the end.
fn next_line(
    input: &mut impl BufRead,
    input_name: &Path,
    buf: &mut Vec<u8>,
) -> Result<bool, PreviewError> {
    buf.clear();
    let read = input
        .read_until(b'\n', buf)
        .map_err(|source| PreviewError::Read {
            file: input_name.to_path_buf(),
            source,
        })?;
    Ok(read > 0)
}

/// Adds one changed employee's `changes` to the summary.
fn count_changes(summary: &mut PreviewSummary, changes: &[Change<'_>]) {
    summary.changed += 1;
    for change in changes {
        match (change.from, change.to) {
            (None, _) => summary.gained += 1,
            (_, None) => summary.lost += 1,
            _ => summary.role_changed += 1,
        }
    }
}

/// What follows the employees: the summary line (JSON, with a baseline), or
/// the table and its count line.
fn write_end(
    out: &mut impl Write,
    format: PreviewFormat,
    with_baseline: bool,
    table: &Table,
    summary: &PreviewSummary,
    with_apps: usize,
) -> Result<(), PreviewError> {
    match (format, with_baseline) {
        (PreviewFormat::Json, true) => json_line(out, &SummaryLine { summary: *summary }),
        (PreviewFormat::Json, false) => Ok(()),
        (PreviewFormat::Table, true) => {
            table.write(out, ["EMPLOYEE", "APP", "FROM", "TO"])?;
            writeln!(
                out,
                "{} employees, {} changed: {} gained, {} lost, {} role changed",
                summary.employees,
                summary.changed,
                summary.gained,
                summary.lost,
                summary.role_changed
            )
            .map_err(PreviewError::Write)
        }
        (PreviewFormat::Table, false) => {
            table.write(out, ["EMPLOYEE", "APP", "ROLE", "RULES"])?;
            writeln!(
                out,
                "{} employees, {with_apps} with at least one app",
                summary.employees
            )
            .map_err(PreviewError::Write)
        }
    }
}

/// One line of input: `Ok(None)` when blank, else the employee id and snapshot.
fn parse_line(bytes: &[u8]) -> Result<Option<(String, Snapshot)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the line is not UTF-8: {e}"))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_json appends "at line 1 column N"; the line is ours to give.
        let reason = message
            .rfind(" at line ")
            .map_or(message.as_str(), |at| &message[..at]);
        format!("invalid JSON at column {}: {reason}", e.column())
    })?;
    let Value::Object(employee) = value else {
        return Err(format!(
            "an employee snapshot must be a JSON object, found {}",
            kind(&value)
        ));
    };
    let id = match employee.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        None | Some(Value::Null) => return Err("the employee snapshot has no `id`".to_string()),
        Some(other) => {
            return Err(format!(
                "`id` must be a non-empty string, found {}",
                kind(other)
            ))
        }
    };
    Ok(Some((id, employee)))
}

/// A JSON value's kind and, for scalars, the value itself.
fn kind(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
        other => other.to_string(),
    }
}

/// One app's change between the old and the new grants.
#[derive(Debug, Serialize)]
struct Change<'a> {
    app: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
}

/// Role changes per app, in app name order.
fn diff<'a>(old: &'a BTreeMap<String, Grant>, new: &'a BTreeMap<String, Grant>) -> Vec<Change<'a>> {
    let mut apps: Vec<&'a str> = old.keys().chain(new.keys()).map(String::as_str).collect();
    apps.sort_unstable();
    apps.dedup();
    apps.into_iter()
        .filter_map(|app| {
            let from = old.get(app).map(|g| g.role.as_str());
            let to = new.get(app).map(|g| g.role.as_str());
            (from != to).then_some(Change { app, from, to })
        })
        .collect()
}

/// `{"employee_id":…,"apps":{…}}`, and `"pending":[…]` when there are
/// pending transitions (absent otherwise, so lines without dates are as
/// they always were).
#[derive(Serialize)]
struct GrantsLine<'a> {
    employee_id: &'a str,
    apps: BTreeMap<&'a str, AppLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pending: Vec<PendingLine<'a>>,
}

/// `{"app":…,"change":…,"at":…,"field":…,"date":…}`
#[derive(Serialize)]
struct PendingLine<'a> {
    app: &'a str,
    change: &'static str,
    at: String,
    field: &'static str,
    date: &'a str,
}

/// `{"role":…,"rules":[…]}`
#[derive(Serialize)]
struct AppLine<'a> {
    role: &'a str,
    rules: &'a [String],
}

impl<'a> GrantsLine<'a> {
    fn new(
        employee_id: &'a str,
        grants: &'a BTreeMap<String, Grant>,
        pending: &'a [Transition],
    ) -> Self {
        let apps = grants
            .iter()
            .map(|(app, g)| {
                (
                    app.as_str(),
                    AppLine {
                        role: &g.role,
                        rules: &g.rules,
                    },
                )
            })
            .collect();
        let pending = pending
            .iter()
            .map(|t| PendingLine {
                app: &t.app,
                change: t.change(),
                at: crate::text::instant(t.at),
                field: t.field.as_str(),
                date: &t.date,
            })
            .collect();
        GrantsLine {
            employee_id,
            apps,
            pending,
        }
    }
}

/// `{"employee_id":…,"changes":[…]}`
#[derive(Serialize)]
struct ChangesLine<'a> {
    employee_id: &'a str,
    changes: Vec<Change<'a>>,
}

/// `{"summary":{…}}`
#[derive(Serialize)]
struct SummaryLine {
    summary: PreviewSummary,
}

/// Writes one compact JSON object and a newline.
fn json_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), PreviewError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| PreviewError::Write(e.into()))?;
    out.write_all(b"\n").map_err(PreviewError::Write)
}

/// Rows of the people-readable table, aligned when written, and the
/// pending transitions written under an employee's last row.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
    /// Index of a row → the indented lines that follow it.
    notes: BTreeMap<usize, Vec<String>>,
}

impl Table {
    /// One row per app; an employee without apps gets one row of dashes;
    /// then a line per pending transition.
    fn grants(&mut self, id: &str, grants: &BTreeMap<String, Grant>, pending: &[Transition]) {
        if grants.is_empty() {
            self.rows
                .push([id.into(), "-".into(), "-".into(), "-".into()]);
        }
        for (app, grant) in grants {
            self.rows.push([
                id.into(),
                app.clone(),
                grant.role.clone(),
                grant.rules.join(", "),
            ]);
        }
        if !pending.is_empty() {
            let lines = pending
                .iter()
                .map(|t| {
                    format!(
                        "  pending: {} {} at {} ({}={})",
                        crate::text::escape(&t.app),
                        t.change(),
                        crate::text::instant(t.at),
                        t.field.as_str(),
                        crate::text::escape(&t.date)
                    )
                })
                .collect();
            self.notes.insert(self.rows.len() - 1, lines);
        }
    }

    /// One row per changed app; `-` for a side without the app.
    fn changes(&mut self, id: &str, changes: &[Change<'_>]) {
        for c in changes {
            self.rows.push([
                id.into(),
                c.app.into(),
                c.from.unwrap_or("-").into(),
                c.to.unwrap_or("-").into(),
            ]);
        }
    }

    /// Header and rows with columns padded to their widest cell
    /// ([`crate::text::columns`], which escapes them: they come from the
    /// employees file and the rules); nothing when there are no rows (the
    /// summary line says so).
    fn write(&self, out: &mut impl Write, header: [&str; 4]) -> Result<(), PreviewError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let lines = crate::text::columns(header, &self.rows);
        let notes = |row: usize| self.notes.get(&row).into_iter().flatten();
        // Line 0 is the header; line i + 1 is row i.
        for (i, line) in lines.iter().enumerate() {
            writeln!(out, "{line}").map_err(PreviewError::Write)?;
            for note in i.checked_sub(1).into_iter().flat_map(notes) {
                writeln!(out, "{note}").map_err(PreviewError::Write)?;
            }
        }
        Ok(())
    }
}
