//! What can be wrong with a rule set, in the `FILE:LINE: message` shape that
//! `provisioner rules check` prints (CONTRACT §4).
//!
//! Loading never stops at the first problem: every stage pushes into one
//! [`Problems`] list so an operator fixes a whole directory in one pass.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one rule file.
///
/// `line` is 1-based and points at the offending YAML node (the key for an
/// unknown key, the value for a bad value). Line `0` means the problem
/// belongs to the whole file or directory rather than to a line of it: an
/// unreadable or empty file, a missing or empty rules directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// The file (or directory) at fault, as it was named to the loader.
    pub file: PathBuf,
    /// 1-based line of the offending node; 0 for the whole file or directory.
    pub line: usize,
    /// What is wrong, starting lowercase and naming the offending value.
    pub message: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every problem found while loading a rule set; the set is refused whole.
///
/// Kept as a list rather than the first error so that `rules check` and the
/// engine's reload log report everything at once. `Display` prints one
/// problem per line, in file load order and then line order.
#[derive(Debug)]
pub struct RuleErrors(pub Vec<RuleProblem>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

/// Collector of problems for one file: stages report and carry on.
#[derive(Debug)]
pub(crate) struct Problems<'a> {
    file: &'a Path,
    found: Vec<RuleProblem>,
}

impl<'a> Problems<'a> {
    /// An empty list for `file`.
    pub(crate) fn new(file: &'a Path) -> Self {
        Problems {
            file,
            found: Vec::new(),
        }
    }

    /// The file these problems belong to.
    pub(crate) fn file(&self) -> &'a Path {
        self.file
    }

    /// Records one problem at `line`.
    pub(crate) fn report(&mut self, line: usize, message: impl Into<String>) {
        self.found.push(RuleProblem {
            file: self.file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    /// How many problems were recorded so far (to tell whether a part was clean).
    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    /// The recorded problems, in the order found.
    pub(crate) fn into_vec(self) -> Vec<RuleProblem> {
        self.found
    }
}

/// Joins names for "valid ones are …" hints: `a, b, c`.
pub(crate) fn list(names: &[&str]) -> String {
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_problem_per_line() {
        let errors = RuleErrors(vec![
            RuleProblem {
                file: "a.yaml".into(),
                line: 3,
                message: "unknown key \"x\"".into(),
            },
            RuleProblem {
                file: "b.yaml".into(),
                line: 0,
                message: "the file holds no rule".into(),
            },
        ]);
        assert_eq!(
            errors.to_string(),
            "a.yaml:3: unknown key \"x\"\nb.yaml:0: the file holds no rule"
        );
    }
}
