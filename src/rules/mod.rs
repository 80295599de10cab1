//! TEMPORARY placeholder with the rules API; replaced by the `rules` branch.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::AppConfig;

/// An employee snapshot.
pub use crate::events::Snapshot;

/// Placeholder.
#[derive(Debug, Clone)]
pub struct RuleSet {
    version: String,
}
/// Placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// role
    pub role: String,
    /// rules
    pub rules: Vec<String>,
}
/// Placeholder.
#[derive(Debug)]
pub struct RuleErrors(pub Vec<RuleProblem>);
impl std::fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            writeln!(f, "{}:{}: {}", p.file.display(), p.line, p.message)?;
        }
        Ok(())
    }
}
impl std::error::Error for RuleErrors {}
/// Placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// f
    pub file: PathBuf,
    /// l
    pub line: usize,
    /// m
    pub message: String,
}
impl RuleSet {
    /// Placeholder.
    pub fn load_dir(
        _dir: &Path,
        _apps: &BTreeMap<String, AppConfig>,
    ) -> Result<RuleSet, RuleErrors> {
        Ok(RuleSet {
            version: "sha256:0".into(),
        })
    }
    /// Placeholder.
    pub fn from_sources(
        _s: &[(PathBuf, String)],
        _apps: &BTreeMap<String, AppConfig>,
    ) -> Result<RuleSet, RuleErrors> {
        Ok(RuleSet {
            version: "sha256:0".into(),
        })
    }
    /// Placeholder.
    pub fn len(&self) -> usize {
        0
    }
    /// Placeholder.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Placeholder.
    pub fn grants(&self, _e: &Snapshot) -> BTreeMap<String, Grant> {
        BTreeMap::new()
    }
}
/// Placeholder.
pub mod preview {
    use super::RuleSet;
    use std::io::{BufRead, Write};
    use std::path::Path;
    /// Placeholder.
    pub enum PreviewFormat {
        /// t
        Table,
        /// j
        Json,
    }
    /// Placeholder.
    pub fn preview(
        _i: impl BufRead,
        _n: &Path,
        _r: &RuleSet,
        _b: Option<&RuleSet>,
        _f: PreviewFormat,
        _o: &mut impl Write,
    ) -> Result<(), std::io::Error> {
        Ok(())
    }
}
