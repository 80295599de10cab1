//! The accounts reconciliation never touches: service and break-glass
//! accounts an app needs that no employee owns (`admin@*`, `svc-*`).
//!
//! A pattern is a glob whose only wildcard is `*` (any run of characters,
//! possibly none), matched without case against an account's user name and
//! its e-mail. Matching is linear in the text: the pattern is split at its
//! stars into literal pieces, the first must begin the text, the last must
//! end it, and each piece between is found left to right after the one
//! before (leftmost is always right when the only wildcard is `*`), so no
//! position is ever tried twice, whatever `*a*a*a*a*b` the configuration holds.

use super::{fold, AppAccount};
use crate::config::PatternProblem;

/// Why an ignore pattern was refused. `index` is the pattern's position in
/// the configured list, from 0, as in `ignore[2]`. What is refused is
/// decided by [`PatternProblem`] (in `config`, so that loading the file
/// refuses the same patterns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// An empty or blank pattern: almost certainly a mistake, never useful.
    #[error("ignore[{index}] {}", PatternProblem::Empty.reason())]
    Empty {
        /// Position in the list.
        index: usize,
    },
    /// A pattern of stars alone matches every account, which would silence
    /// reconciliation for the whole app.
    #[error("ignore[{index}] = {pattern:?} {}", PatternProblem::MatchesEverything.reason())]
    MatchesEverything {
        /// Position in the list.
        index: usize,
        /// The pattern as written.
        pattern: String,
    },
}

/// One pattern, kept as written (for the report) and as its folded pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    written: String,
    /// The folded text split at each `*`: `["svc-", ""]` for `svc-*`. Always
    /// at least one piece; more than one means the pattern has a star.
    pieces: Vec<String>,
}

impl Pattern {
    fn is_match(&self, text: &str) -> bool {
        let text = fold(text);
        let text: &str = &text;
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            // `IgnoreList::new` never builds a pattern without pieces.
            None => return false,
        };
        let Some((last, middle)) = rest.split_last() else {
            return text == first; // no star: the whole text
        };
        if text.len() < first.len() + last.len()
            || !text.starts_with(first.as_str())
            || !text.ends_with(last.as_str())
        {
            return false;
        }
        // Both lengths were checked above and each piece is a prefix or
        // suffix of `text`, so these indices are on character boundaries.
        let mut between = &text[first.len()..text.len() - last.len()];
        for piece in middle {
            match between.find(piece.as_str()) {
                Some(at) => between = &between[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

/// An app's ignore list, checked when built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreList {
    patterns: Vec<Pattern>,
}

impl IgnoreList {
    /// The list from the configured strings, refusing an empty pattern and
    /// one made only of `*` (see [`IgnoreError`]).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, IgnoreError> {
        let patterns = patterns
            .iter()
            .enumerate()
            .map(|(index, written)| {
                let written = written.as_ref();
                match PatternProblem::of(written) {
                    Some(PatternProblem::Empty) => return Err(IgnoreError::Empty { index }),
                    Some(PatternProblem::MatchesEverything) => {
                        return Err(IgnoreError::MatchesEverything {
                            index,
                            pattern: written.to_string(),
                        })
                    }
                    None => {}
                }
                let pieces = fold(written).split('*').map(str::to_string).collect();
                Ok(Pattern {
                    written: written.to_string(),
                    pieces,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(IgnoreList { patterns })
    }

    /// Whether no pattern is configured.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The first pattern (as written) matching `text`, without case.
    pub fn matching_text(&self, text: &str) -> Option<&str> {
        self.patterns
            .iter()
            .find(|p| p.is_match(text))
            .map(|p| p.written.as_str())
    }

    /// The first pattern (as written) matching the account's user name or
    /// e-mail, if any: the account is then left alone.
    pub fn matching(&self, account: &AppAccount) -> Option<&str> {
        self.patterns
            .iter()
            .find(|p| {
                p.is_match(&account.user_name)
                    || account.email.as_deref().is_some_and(|e| p.is_match(e))
            })
            .map(|p| p.written.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> IgnoreList {
        IgnoreList::new(patterns).expect("valid patterns")
    }

    fn account(user_name: &str, email: Option<&str>) -> AppAccount {
        AppAccount {
            app_id: "1".into(),
            external_id: None,
            user_name: user_name.into(),
            email: email.map(str::to_string),
            active: true,
            role: None,
            given_name: None,
            family_name: None,
            display_name: None,
        }
    }

    #[test]
    fn globs_match_prefixes_suffixes_and_middles_without_case() {
        let ignore = list(&["admin@*", "svc-*", "*@service.acme.test", "break*glass*"]);
        assert_eq!(ignore.matching_text("admin@acme.test"), Some("admin@*"));
        assert_eq!(ignore.matching_text("ADMIN@ACME.TEST"), Some("admin@*"));
        assert_eq!(ignore.matching_text("svc-"), Some("svc-*"));
        assert_eq!(ignore.matching_text("SVC-backup"), Some("svc-*"));
        assert_eq!(
            ignore.matching_text("ci@Service.Acme.Test"),
            Some("*@service.acme.test")
        );
        assert_eq!(
            ignore.matching_text("break-the-glass-1"),
            Some("break*glass*")
        );
        assert_eq!(ignore.matching_text("ada@acme.test"), None);
        assert_eq!(ignore.matching_text("xadmin@acme.test"), None);
        assert_eq!(ignore.matching_text("ci@service.acme.test.evil"), None);
        assert_eq!(ignore.matching_text("glassbreak"), None);
    }

    #[test]
    fn a_pattern_without_a_star_is_the_whole_text() {
        let ignore = list(&["root"]);
        assert_eq!(ignore.matching_text("Root"), Some("root"));
        assert_eq!(ignore.matching_text("root2"), None);
        assert_eq!(ignore.matching_text("chroot"), None);
    }

    #[test]
    fn prefix_and_suffix_may_not_overlap() {
        // "ab*ba" needs at least "abba": "aba" shares its middle `b`.
        let ignore = list(&["ab*ba"]);
        assert_eq!(ignore.matching_text("aba"), None);
        assert_eq!(ignore.matching_text("abba"), Some("ab*ba"));
        assert_eq!(ignore.matching_text("ab-x-ba"), Some("ab*ba"));
    }

    #[test]
    fn pieces_are_found_in_order() {
        let ignore = list(&["*a*b*c"]);
        assert_eq!(ignore.matching_text("xaxbxc"), Some("*a*b*c"));
        assert_eq!(ignore.matching_text("abc"), Some("*a*b*c"));
        assert_eq!(ignore.matching_text("cbac"), None);
        assert_eq!(ignore.matching_text("bac"), None);
    }

    #[test]
    fn non_ascii_text_folds_too() {
        let ignore = list(&["ÉQUIPE-*"]);
        assert_eq!(ignore.matching_text("équipe-ops"), Some("ÉQUIPE-*"));
        assert_eq!(ignore.matching_text("Équipe-Ops"), Some("ÉQUIPE-*"));
    }

    #[test]
    fn the_user_name_or_the_email_may_match() {
        let ignore = list(&["*@service.acme.test"]);
        assert_eq!(
            ignore.matching(&account("ci-bot", Some("CI@service.acme.test"))),
            Some("*@service.acme.test")
        );
        assert_eq!(
            ignore.matching(&account("ci@service.acme.test", None)),
            Some("*@service.acme.test")
        );
        assert_eq!(
            ignore.matching(&account("ada", Some("ada@acme.test"))),
            None
        );
        assert_eq!(list(&[]).matching(&account("ada", None)), None);
    }

    #[test]
    fn empty_and_star_only_patterns_are_refused_naming_them() {
        assert_eq!(
            IgnoreList::new(&["svc-*", ""]),
            Err(IgnoreError::Empty { index: 1 })
        );
        assert_eq!(
            IgnoreList::new(&["  "]),
            Err(IgnoreError::Empty { index: 0 })
        );
        let err = IgnoreList::new(&["svc-*", "admin@*", "**"]).unwrap_err();
        assert_eq!(
            err,
            IgnoreError::MatchesEverything {
                index: 2,
                pattern: "**".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "ignore[2] = \"**\" matches every account: it would hide the whole app from reconciliation"
        );
        assert!(IgnoreList::new(&["*"]).is_err());
        // A star with anything else is a real pattern.
        assert!(IgnoreList::new(&["*x*"]).is_ok());
    }

    /// A backtracking matcher takes time exponential in the stars here (each
    /// `a` of the pattern can take any of a million positions); the piece
    /// search reads the text once. Not timed: a regression would hang.
    #[test]
    fn hostile_patterns_are_matched_in_one_pass() {
        let text = "a".repeat(1 << 20);
        let ignore = list(&[
            "*a*a*a*a*a*a*b",
            "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab*",
        ]);
        assert_eq!(ignore.matching_text(&text), None);
        let with_b = format!("{text}b");
        assert_eq!(ignore.matching_text(&with_b), Some("*a*a*a*a*a*a*b"));
    }
}
