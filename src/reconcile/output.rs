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

use super::{Counts, Finding, Report, Situation};
use crate::rules::PreviewFormat;
use crate::text::{columns, escape};

/// One finding as a JSON line: the finding's own fields after `app`.
#[derive(Serialize)]
struct FindingLine<'a> {
    app: &'a str,
    #[serde(flatten)]
    finding: &'a Finding,
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

/// One app's report: table — a header line, one row per finding, then the
/// counts per situation; JSON — one object per finding with an `app`
/// field, then `{"app":…,"counts":{…},"partial":false}`. `accounts` is how
/// many accounts the listing read.
pub fn write_report(
    out: &mut impl Write,
    app: &str,
    accounts: usize,
    report: &Report,
    format: PreviewFormat,
) -> io::Result<()> {
    match format {
        PreviewFormat::Json => {
            for finding in &report.findings {
                json_line(out, &FindingLine { app, finding })?;
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
