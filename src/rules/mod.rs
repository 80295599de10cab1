//! Rules: who gets which app with which role (CONTRACT §4).
//!
//! A rules directory holds YAML files, each with one rule or a list of rules.
//! [`RuleSet`] loads and validates them all against the app catalogue, then
//! answers one question, purely and quickly: [`RuleSet::grants`] — what does
//! this employee get? The engine calls it for every event and, on a rules
//! change, for every employee; `rules preview` calls it offline.
//!
//! Loading happens once per rules version and does all the work that can be
//! done up front (regexes built, fields resolved, `in` lists hashed): matching
//! only walks a compiled tree. Invalid rules are refused whole with every problem listed
//! ([`RuleErrors`]), so a half-valid directory never becomes a version.
//!
//! Layout, following the data: `yaml` (marked YAML tree) → `check` (shape
//! checks) → `compile_condition` / `rule` (compile, reporting problems; `regexes`
//! builds and shares the `matches` regexes within a budget) →
//! `load` (files, cross-file checks) → `condition` / `grant` (matching,
//! precedence) → `preview` (the offline report).

mod check;
mod compile_condition;
mod condition;
mod date;
mod field;
mod grant;
mod index;
mod load;
pub mod preview;
mod problem;
mod regexes;
mod rule;
pub mod store;
mod version;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::AppConfig;
use crate::events::Fields;
use crate::ids::RulesVersion;

pub use grant::Grant;
pub(crate) use grant::{AppGrant, Granted};
pub use preview::{preview, PreviewError, PreviewFormat, PreviewSummary};
pub use problem::{RuleErrors, RuleProblem};
pub use yaml::MAX_FILE_BYTES as MAX_RULE_FILE_BYTES;

/// An employee snapshot: the `employee` object of an HR event (CONTRACT §3).
///
/// Kept as a JSON map rather than a struct so rules can test any field the
/// HR platform sends, including free-form `attributes`, without this module
/// deciding the event schema.
pub type Snapshot = serde_json::Map<String, serde_json::Value>;

/// A validated, compiled set of rules: one rules version.
///
/// Cheap to clone (the rules are shared), and `Send + Sync`, so the engine
/// can swap versions atomically and hand one to every worker.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// In load order: files sorted by name, rules in file order. Load order
    /// breaks precedence ties.
    rules: Arc<[rule::Rule]>,
    /// Which rules can match whom (shared like the rules).
    index: Arc<index::Index>,
    /// See [`RuleSet::version`].
    version: RulesVersion,
}

impl RuleSet {
    /// Loads every `*.yaml` / `*.yml` file in `dir` (sorted by file name,
    /// not recursive, hidden files skipped), validated against the catalogue.
    ///
    /// All problems are reported at once. A missing or empty directory is a
    /// problem at line 0 of the directory itself: running with no rules would
    /// deprovision everyone, so it must be a deliberate act, never a typo.
    pub fn load_dir(dir: &Path, apps: &BTreeMap<String, AppConfig>) -> Result<RuleSet, RuleErrors> {
        let sources = load::read_dir(dir).map_err(RuleErrors)?;
        RuleSet::from_sources(&sources, apps)
    }

    /// Same as [`RuleSet::load_dir`] from in-memory `(file label, text)`
    /// pairs, loaded in the given order (for tests and the live reloader).
    ///
    /// The labels name files in problems; only their last component counts
    /// for the version. An empty slice is a problem (with an empty label).
    pub fn from_sources(
        sources: &[(PathBuf, String)],
        apps: &BTreeMap<String, AppConfig>,
    ) -> Result<RuleSet, RuleErrors> {
        let rules = load::compile_sources(sources, apps).map_err(RuleErrors)?;
        Ok(RuleSet {
            index: Arc::new(index::Index::build(&rules)),
            rules: rules.into(),
            version: version::compute(sources, apps).into(),
        })
    }

    /// The rules version, `sha256:<hex>`, over the file names and contents
    /// in load order and the catalogue's app names and role lists (role order
    /// is precedence). Equal inputs give equal versions on every host.
    pub fn version(&self) -> &RulesVersion {
        &self.version
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set has no rule. Never true for a loaded set — the loader
    /// refuses a directory or file without rules — but kept so callers need
    /// not know that.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What one employee gets: app → [`Grant`], for every app some matching
    /// rule gives with `provisioning: true`. The most privileged role wins;
    /// ties go to the earliest rule in load order.
    pub fn grants(&self, employee: &Snapshot) -> BTreeMap<String, Grant> {
        owned(&self.granted(&Fields::of(employee)))
    }

    /// [`RuleSet::grants`] as the engine takes it: from fields already
    /// looked up, borrowing the rule set's names.
    pub(crate) fn granted(&self, employee: &Fields<'_>) -> Granted<'_> {
        Granted::decide(self.candidates(employee), employee)
    }

    /// Rules that may match `employee`, with their place in load order:
    /// those the index files under the employee's values, and those it
    /// cannot file.
    fn candidates<'a: 'e, 'e>(
        &'a self,
        employee: &'e Fields<'e>,
    ) -> impl Iterator<Item = (usize, &'a rule::Rule)> + 'e {
        let rules = &self.rules;
        self.index
            .candidates(employee)
            .filter_map(move |i| Some((i, rules.get(i)?)))
    }

    /// [`RuleSet::grants`] testing every rule: what the index must agree with.
    #[cfg(test)]
    pub(crate) fn grants_scanning_all(&self, employee: &Snapshot) -> BTreeMap<String, Grant> {
        owned(&Granted::decide(
            self.rules.iter().enumerate(),
            &Fields::of(employee),
        ))
    }
}

/// Grants by app name, owned.
fn owned(granted: &Granted<'_>) -> BTreeMap<String, Grant> {
    granted
        .apps()
        .map(|g| (g.app().to_string(), g.to_grant()))
        .collect()
}
