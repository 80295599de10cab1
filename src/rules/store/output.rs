//! What the `rules` store commands print for people: an impact, the rule
//! changes, the history, one revision. Employee ids only, never names or
//! e-mails; every text from a record (author, message) escaped.

use std::io::{self, Write};

use super::{AppImpact, Impact, Revision, RuleChanges, Stored};
use crate::ids::EmployeeId;
use crate::text::{columns, escape, instant};

/// The impact, per app: counts, then the first few employees of each kind;
/// then the guard's verdict.
pub fn write_impact(out: &mut impl Write, impact: &Impact) -> io::Result<()> {
    if impact.is_empty() {
        writeln!(
            out,
            "impact: no account changes for the {} employees on the state changelog",
            impact.employees
        )?;
    } else {
        writeln!(out, "impact over {} employees:", impact.employees)?;
        for (app, i) in &impact.apps {
            writeln!(out, "  {}: {}", escape(app), summary(i))?;
            let kinds = [
                ("gained", &i.examples.gained, i.gained),
                ("lost", &i.examples.lost, i.lost),
                ("role changed", &i.examples.role_changed, i.role_changed),
            ];
            for (kind, ids, count) in kinds {
                if count > 0 {
                    writeln!(out, "    {kind}: {}", listed(ids, count))?;
                }
            }
        }
    }
    for reason in &impact.guard {
        writeln!(
            out,
            "guard: the engine would hold this change's deprovisions: {reason}"
        )?;
    }
    Ok(())
}

/// `+G gained, -L lost, R role changed`.
fn summary(i: &AppImpact) -> String {
    format!(
        "+{} gained, -{} lost, {} role changed",
        i.gained, i.lost, i.role_changed
    )
}

/// The ids shown, and how many more there are.
fn listed(ids: &[EmployeeId], count: u64) -> String {
    let shown: Vec<String> = ids
        .iter()
        .map(|id| escape(id.as_str()).into_owned())
        .collect();
    let more = count.saturating_sub(ids.len() as u64);
    match more {
        0 => shown.join(", "),
        n => format!("{} and {n} more", shown.join(", ")),
    }
}

/// The rules added, removed and changed, one line each kind present.
pub fn write_rule_changes(out: &mut impl Write, changes: &RuleChanges) -> io::Result<()> {
    if changes.is_empty() {
        return writeln!(out, "rules: no rule changed");
    }
    for (kind, names) in [
        ("added", &changes.added),
        ("removed", &changes.removed),
        ("changed", &changes.changed),
    ] {
        if !names.is_empty() {
            let quoted: Vec<String> = names.iter().map(|n| format!("{:?}", escape(n))).collect();
            writeln!(out, "rules {kind}: {}", quoted.join(", "))?;
        }
    }
    Ok(())
}

/// One line per revision, newest first: version, time, author, impact
/// summary, message.
pub fn write_history(out: &mut impl Write, history: &[Stored]) -> io::Result<()> {
    let rows: Vec<[String; 5]> = history
        .iter()
        .rev()
        .map(|s| {
            let r = &s.revision;
            [
                r.version.to_string(),
                instant(r.published_at),
                r.author.clone(),
                impact_summary(&r.impact),
                r.message.clone(),
            ]
        })
        .collect();
    for line in columns(
        ["VERSION", "PUBLISHED", "AUTHOR", "IMPACT", "MESSAGE"],
        &rows,
    ) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `slack +1/-2/~0, zendesk …`, `none`, with `held` when the guard objected.
fn impact_summary(impact: &Impact) -> String {
    let mut parts: Vec<String> = impact
        .apps
        .iter()
        .map(|(app, i)| format!("{app} +{}/-{}/~{}", i.gained, i.lost, i.role_changed))
        .collect();
    if parts.is_empty() {
        parts.push("none".into());
    }
    if !impact.guard.is_empty() {
        parts.push("guard".into());
    }
    parts.join(", ")
}

/// A revision's audit fields, then its files' names (`rules show`).
pub fn write_revision(out: &mut impl Write, stored: &Stored) -> io::Result<()> {
    let r: &Revision = &stored.revision;
    writeln!(out, "version:      {}", r.version)?;
    writeln!(out, "offset:       {}", stored.offset)?;
    writeln!(out, "published:    {}", instant(r.published_at))?;
    writeln!(out, "author:       {}", escape(&r.author))?;
    writeln!(out, "message:      {}", escape(&r.message))?;
    let replaces = r.replaces.as_ref().map_or("-".into(), |v| v.to_string());
    writeln!(out, "replaces:     {replaces}")?;
    if let Some(path) = &r.origin.path {
        writeln!(out, "origin:       {}", escape(path))?;
    }
    if let Some(commit) = &r.origin.git_commit {
        writeln!(out, "git commit:   {}", escape(commit))?;
    }
    if let Some(version) = &r.origin.rollback_of {
        writeln!(out, "rollback of:  {version}")?;
    }
    writeln!(out, "impact:       {}", impact_summary(&r.impact))?;
    for reason in &r.impact.guard {
        writeln!(out, "guard:        {reason}")?;
    }
    for file in &r.files {
        writeln!(
            out,
            "file:         {} ({} bytes)",
            escape(&file.name),
            file.text.len()
        )?;
    }
    Ok(())
}
