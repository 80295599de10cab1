//! What `provisioner reconcile` prints for each app (CONTRACT §1): a block
//! per app for people, or JSON lines for scripts.
//!
//! The output is an operator's report, so it names accounts (user names,
//! e-mails) and employees; it goes to stdout only, never to a log line or a
//! metric label. Table cells pass through `text::columns`, which escapes
//! what an app or HR wrote (a user name cannot drive the terminal); JSON
//! escapes by itself.

use std::io::{self, Write};

use serde::Serialize;

use super::{Action, Counts, Finding, Report, Reported, Situation, Why};
use crate::rules::PreviewFormat;
use crate::text::{columns, escape};

/// One finding as a JSON line: the finding's own fields after `app`.
#[derive(Serialize)]
struct FindingLine<'a> {
    app: &'a str,
    #[serde(flatten)]
    finding: &'a Finding,
}

/// What became of one entry of a run's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Done {
    /// `--dry-run`: nothing was done.
    Planned,
    /// A re-assert is on the app's command topic; its connector applies it
    /// (its result record tells how it went).
    CommandWritten,
    /// The app suspended the account.
    Suspended,
    /// The account was already inactive, or gone.
    AlreadyInactive,
    /// It failed: the error says why. Nothing else depends on it.
    Failed,
    /// Left to people, for the entry's `why`.
    Reported,
}

/// An entry of the plan: an action, or a finding left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// A correction or a suspension.
    Action(Action),
    /// A finding left to people.
    Reported(Reported),
}

/// One entry of the plan and what became of it: a JSON line
/// `{"app":…,"reaction":{…},"done":…}` (`error` when failed), a table row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reaction {
    /// The entry, as the plan has it.
    #[serde(rename = "reaction")]
    pub entry: Entry,
    /// What became of it.
    pub done: Done,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reaction {
    /// The column names of [`Reaction::describe`].
    pub const HEADER: [&'static str; 4] = ["REACTION", "ACCOUNT", "EMPLOYEE", "DONE"];

    /// An entry with nothing done to it (yet).
    pub fn new(entry: Entry, done: Done) -> Reaction {
        Reaction {
            entry,
            done,
            error: None,
        }
    }

    /// The reaction as a table row (cells unescaped: `text::columns` does it).
    pub fn describe(&self) -> [String; 4] {
        let who = |id: &Option<crate::ids::EmployeeId>| {
            id.as_ref()
                .map_or_else(|| "-".to_string(), |id| id.to_string())
        };
        let (what, user_name, employee) = match &self.entry {
            Entry::Action(Action::Reapply {
                situation,
                employee_id,
                generation,
                user_name,
            }) => (
                format!("reapply {} (generation {generation})", situation.as_str()),
                user_name,
                employee_id.to_string(),
            ),
            Entry::Action(Action::Suspend {
                user_name,
                employee_id,
                generation,
                ..
            }) => (
                match generation {
                    Some(g) => format!("suspend orphan (generation {g})"),
                    None => "suspend orphan".to_string(),
                },
                user_name,
                who(employee_id),
            ),
            Entry::Reported(r) => (
                format!("report {}", r.situation.as_str()),
                &r.user_name,
                who(&r.employee_id),
            ),
        };
        let done = match (self.done, &self.entry) {
            (Done::Planned, _) => "planned (dry run)".to_string(),
            (Done::CommandWritten, _) => "re-assert written to the command topic".to_string(),
            (Done::Suspended, _) => "suspended".to_string(),
            (Done::AlreadyInactive, _) => "already inactive".to_string(),
            (Done::Failed, _) => format!("failed: {}", self.error.as_deref().unwrap_or("?")),
            (Done::Reported, Entry::Reported(r)) => match r.why {
                Why::Policy => "reported (policy)",
                Why::OverGuard => "reported: over the guard (max_suspensions)",
                Why::PartialScan => "reported: partial scan",
                Why::NeedsAPerson => "reported: needs a person",
            }
            .to_string(),
            (Done::Reported, Entry::Action(_)) => "reported".to_string(),
        };
        [what, user_name.clone(), employee, done]
    }
}

/// One reaction as a JSON line.
#[derive(Serialize)]
struct ReactionLine<'a> {
    app: &'a str,
    #[serde(flatten)]
    reaction: &'a Reaction,
}

/// An app's last JSON line: its counts, or why it has none.
#[derive(Serialize)]
struct SummaryLine<'a> {
    app: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<&'a Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl<'a> SummaryLine<'a> {
    fn of(app: &'a str) -> Self {
        SummaryLine {
            app,
            counts: None,
            partial: None,
            skipped: None,
            error: None,
        }
    }
}

fn json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// One app's report: table — a header line, one row per finding, the
/// reactions (when the app has any configured), then the counts per
/// situation; JSON — one object per finding with an `app` field, one per
/// reaction, then `{"app":…,"counts":{…},"partial":false}`. `accounts` is
/// how many accounts the listing read.
pub fn write_report(
    out: &mut impl Write,
    app: &str,
    accounts: usize,
    report: &Report,
    reactions: Option<&[Reaction]>,
    format: PreviewFormat,
) -> io::Result<()> {
    match format {
        PreviewFormat::Json => {
            for finding in &report.findings {
                json_line(out, &FindingLine { app, finding })?;
            }
            for reaction in reactions.unwrap_or_default() {
                json_line(out, &ReactionLine { app, reaction })?;
            }
            let summary = SummaryLine {
                counts: Some(&report.counts),
                partial: Some(report.partial),
                ..SummaryLine::of(app)
            };
            json_line(out, &summary)?;
        }
        PreviewFormat::Table => {
            writeln!(
                out,
                "{}: {accounts} account(s) read, {} finding(s)",
                escape(app),
                report.findings.len()
            )?;
            if !report.findings.is_empty() {
                let rows: Vec<[String; 4]> =
                    report.findings.iter().map(Finding::describe).collect();
                for line in columns(Finding::HEADER, &rows) {
                    writeln!(out, "{line}")?;
                }
            }
            if let Some(reactions) = reactions.filter(|r| !r.is_empty()) {
                writeln!(out, "{}: {} reaction(s)", escape(app), reactions.len())?;
                let rows: Vec<[String; 4]> = reactions.iter().map(Reaction::describe).collect();
                for line in columns(Reaction::HEADER, &rows) {
                    writeln!(out, "{line}")?;
                }
            }
            writeln!(out, "{}: {}", escape(app), counts_line(&report.counts))?;
        }
    }
    out.flush()
}

/// `orphan 1, drifted 0, …, linked 3, unlinked inactive 0`.
fn counts_line(counts: &Counts) -> String {
    let mut parts: Vec<String> = Situation::ALL
        .iter()
        .map(|s| format!("{} {}", s.as_str(), counts.of(*s)))
        .collect();
    parts.push(format!("unlinked inactive {}", counts.unlinked_inactive));
    parts.join(", ")
}

/// An app that cannot be read (a webhook): a line saying so, not an error.
pub fn write_skipped(
    out: &mut impl Write,
    app: &str,
    reason: &str,
    format: PreviewFormat,
) -> io::Result<()> {
    match format {
        PreviewFormat::Json => json_line(
            out,
            &SummaryLine {
                skipped: Some(reason),
                ..SummaryLine::of(app)
            },
        )?,
        PreviewFormat::Table => writeln!(out, "{}: skipped: {}", escape(app), escape(reason))?,
    }
    out.flush()
}

/// An app that could not be reconciled: in JSON, its summary line says so
/// (`partial` when the listing failed midway), so a script reading stdout
/// alone sees it; the table leaves it to the error line on stderr.
pub fn write_failed(
    out: &mut impl Write,
    app: &str,
    partial: bool,
    error: &str,
    format: PreviewFormat,
) -> io::Result<()> {
    if format == PreviewFormat::Json {
        let summary = SummaryLine {
            partial: Some(partial),
            error: Some(error),
            ..SummaryLine::of(app)
        };
        json_line(out, &summary)?;
    }
    out.flush()
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
