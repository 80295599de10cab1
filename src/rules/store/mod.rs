//! The rules store (CONTRACT §2, `topics.rules`): every published rule set
//! as one immutable record, a [`Revision`], on a single-partition topic that
//! keeps its whole history.
//!
//! A revision carries everything its version is computed from — each rule
//! file's name and text and the catalogue's apps with their role lists — so
//! the version is checked on every read: a record whose content does not
//! hash to the version it names is refused, never applied. Around that it
//! says who published it, why, when, which version it replaced, where it came
//! from (a directory and its git commit, or a rollback) and what the
//! publisher's simulation said it would change ([`Impact`]).
//!
//! This module is the format and the topic's I/O (`topic.rs`); simulating a
//! revision over the employees needs the engine, which sits above and does
//! it (`engine::publish`).

mod diff;
mod output;
mod topic;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{load, version, RuleErrors, RuleSet, MAX_RULE_FILE_BYTES};
use crate::config::AppConfig;
use crate::ids::{EmployeeId, RulesVersion};

pub use diff::{diff_rules, RuleChanges};
pub use output::{write_history, write_impact, write_revision, write_rule_changes};
pub use topic::{
    ensure_topic, publish, read_history, read_latest, Follower, ReadError, Stored, WriteError,
};

/// The format of [`Revision`] records this code writes and reads.
pub const FORMAT: u32 = 1;

/// How many employee ids [`Impact`] keeps per app and kind of change, to
/// show "who" without listing a whole company.
pub const EXAMPLES: usize = 5;

/// One published rule set: the record of the rules topic (JSON, described
/// by `docs/schemas/rules-revision.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    /// [`FORMAT`]; a record of another format is refused by name.
    pub format: u32,
    /// The rules version (`sha256:…`) of `files` and `catalogue`.
    pub version: RulesVersion,
    /// Every rule file, sorted by name (the load order).
    pub files: Vec<RuleFile>,
    /// The catalogue the rules were validated against: app → roles in
    /// ascending privilege (the part of the catalogue the version hashes).
    pub catalogue: BTreeMap<String, Vec<String>>,
    /// Who published it.
    pub author: String,
    /// Why.
    pub message: String,
    /// When it was written.
    pub published_at: DateTime<Utc>,
    /// The version that was the latest when this one was written; `None`
    /// for the first.
    pub replaces: Option<RulesVersion>,
    /// Where the files came from.
    pub origin: Origin,
    /// What the publisher's simulation over the employees said it changes.
    pub impact: Impact,
}

/// One rule file of a [`Revision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The file name (no directory).
    pub name: String,
    /// Its text, as published.
    pub text: String,
}

/// Where a revision's files came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The directory published, as given to `rules publish --rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `git rev-parse HEAD` in that directory, when it is in a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// For `rules rollback`: the version whose content was published again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<RulesVersion>,
}

/// What a new rule set changes for the current employees, per app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    /// Employees simulated (the whole state changelog).
    pub employees: u64,
    /// Per app with at least one change.
    pub apps: BTreeMap<String, AppImpact>,
    /// Why the mass-deprovision guard would hold the change's deprovisions;
    /// empty when it would not.
    pub guard: Vec<String>,
}

/// One app's part of an [`Impact`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppImpact {
    /// Employees who get an account.
    pub gained: u64,
    /// Employees whose account is deprovisioned.
    pub lost: u64,
    /// Employees who keep the account with another role.
    pub role_changed: u64,
    /// The first few employees of each kind (for the printout only; the
    /// record keeps counts).
    #[serde(skip)]
    pub examples: Examples,
}

/// The first [`EXAMPLES`] employee ids (in id order) of each kind of change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Examples {
    /// Who gains the app.
    pub gained: Vec<EmployeeId>,
    /// Who loses it.
    pub lost: Vec<EmployeeId>,
    /// Whose role changes.
    pub role_changed: Vec<EmployeeId>,
}

/// The kinds of change an [`AppImpact`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The employee gets the app.
    Gained,
    /// The employee loses the app.
    Lost,
    /// The employee keeps the app with another role.
    RoleChanged,
}

impl AppImpact {
    /// Counts one employee's change, keeping the first few ids.
    pub fn add(&mut self, kind: ChangeKind, employee: &EmployeeId) {
        let (count, examples) = match kind {
            ChangeKind::Gained => (&mut self.gained, &mut self.examples.gained),
            ChangeKind::Lost => (&mut self.lost, &mut self.examples.lost),
            ChangeKind::RoleChanged => (&mut self.role_changed, &mut self.examples.role_changed),
        };
        *count += 1;
        // The smallest ids, sorted: the same few whatever order the
        // changelog's partitions are read in.
        if let Err(at) = examples.binary_search(employee) {
            if at < EXAMPLES {
                examples.insert(at, employee.clone());
                examples.truncate(EXAMPLES);
            }
        }
    }
}

impl Impact {
    /// Whether nothing changes for anyone.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }
}

/// Why a stored record is not a usable revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionError {
    /// Not JSON of the revision's shape.
    #[error("not a rules revision: {0}")]
    Shape(String),
    /// Written in a format this code does not know (by a newer provisioner).
    #[error(
        "format {found} is not known to this provisioner (it reads format {FORMAT}); upgrade it"
    )]
    Format {
        /// The record's format.
        found: u32,
    },
    /// A content problem: files missing, misnamed, out of order, too large.
    #[error("{0}")]
    Content(String),
    /// The content does not hash to the version the record names.
    #[error("its content hashes to {computed}, not to the version it names ({named})")]
    Version {
        /// The version the record names.
        named: String,
        /// What its files and catalogue hash to.
        computed: String,
    },
}

impl Revision {
    /// A revision of `files` validated against `apps` (the caller fills in
    /// the audit fields). The version is computed here.
    pub fn new(files: Vec<RuleFile>, apps: &BTreeMap<String, AppConfig>) -> Revision {
        let catalogue = apps
            .iter()
            .map(|(app, config)| (app.clone(), config.roles.clone()))
            .collect();
        let mut revision = Revision {
            format: FORMAT,
            version: RulesVersion::from(""),
            files,
            catalogue,
            author: String::new(),
            message: String::new(),
            published_at: Utc::now(),
            replaces: None,
            origin: Origin::default(),
            impact: Impact::default(),
        };
        revision.version = revision.computed_version().into();
        revision
    }

    /// What the files and catalogue hash to.
    fn computed_version(&self) -> String {
        version::compute_from(
            self.files
                .iter()
                .map(|f| (f.name.as_str(), f.text.as_str())),
            self.catalogue
                .iter()
                .map(|(app, roles)| (app.as_str(), roles.as_slice())),
        )
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings, numbers and maps with string keys always
        // serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a record, checking its format, its files and its version.
    pub fn decode(bytes: &[u8]) -> Result<Revision, RevisionError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| RevisionError::Shape(e.to_string()))?;
        // The format first, so a newer record is named as such rather than
        // as a shape this code does not know.
        match value.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(FORMAT) => {}
            Some(found) => {
                return Err(RevisionError::Format {
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                })
            }
            None => return Err(RevisionError::Shape("no numeric `format`".into())),
        }
        let revision: Revision =
            serde_json::from_value(value).map_err(|e| RevisionError::Shape(e.to_string()))?;
        revision.check_files()?;
        let computed = revision.computed_version();
        if computed != revision.version.as_str() {
            return Err(RevisionError::Version {
                named: revision.version.to_string(),
                computed,
            });
        }
        Ok(revision)
    }

    /// The files are what a rules directory can hold, in load order.
    fn check_files(&self) -> Result<(), RevisionError> {
        let bad = |m: String| Err(RevisionError::Content(m));
        if self.files.is_empty() {
            return bad("it holds no rule file".into());
        }
        for pair in self.files.windows(2) {
            if pair[0].name >= pair[1].name {
                return bad(format!(
                    "its files are not sorted by name without repeats ({:?} before {:?})",
                    pair[0].name, pair[1].name
                ));
            }
        }
        for file in &self.files {
            let n = &file.name;
            let plain = !n.is_empty() && !n.starts_with('.') && !n.contains(['/', '\\', '\0']);
            if !plain || !(n.ends_with(".yaml") || n.ends_with(".yml")) {
                return bad(format!(
                    "file name {n:?} is not a plain *.yaml or *.yml name"
                ));
            }
            if file.text.len() > MAX_RULE_FILE_BYTES {
                return bad(format!(
                    "file {n:?} is {} bytes, over the limit of {MAX_RULE_FILE_BYTES}",
                    file.text.len()
                ));
            }
        }
        Ok(())
    }

    /// The rule set, compiled and validated against `apps` (the reader's
    /// catalogue). Its version equals [`Revision::version`] when `apps` has
    /// the same apps and roles as the publisher's.
    pub fn rule_set(&self, apps: &BTreeMap<String, AppConfig>) -> Result<RuleSet, RuleErrors> {
        RuleSet::from_sources(&self.sources(), apps)
    }

    /// The files as the loader takes them: `(name, text)` in load order.
    pub fn sources(&self) -> Vec<(PathBuf, String)> {
        self.files
            .iter()
            .map(|f| (PathBuf::from(&f.name), f.text.clone()))
            .collect()
    }

    /// Writes the files into `dir` (created if missing), which must hold no
    /// rule file yet: mixed with stale files they would be another rule set.
    pub fn write_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        if let Ok(found) = load::read_dir(dir) {
            let names: Vec<String> = found
                .iter()
                .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            return Err(std::io::Error::other(format!(
                "{} already holds rule files ({}); give an empty or new directory",
                dir.display(),
                names.join(", ")
            )));
        }
        for file in &self.files {
            std::fs::write(dir.join(&file.name), &file.text)?;
        }
        Ok(())
    }
}

/// The rule files of `dir`, read as `rules check` reads them (every
/// problem reading them at once), for a revision.
pub fn read_files(dir: &Path) -> Result<Vec<RuleFile>, RuleErrors> {
    let sources = load::read_dir(dir).map_err(RuleErrors)?;
    Ok(sources
        .into_iter()
        .map(|(path, text)| RuleFile {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text,
        })
        .collect())
}

/// The git commit `dir` is checked out at, when it is in a repository and
/// `git` runs.
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}
