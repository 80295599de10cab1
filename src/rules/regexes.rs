//! The `matches` regexes of a rule set, built within a budget and shared.
//!
//! A regex's compiled size is not its length: `\w{100}` is 7 bytes of YAML
//! and 5.6 MB compiled, so a 1 MiB rule file repeating it once held 1.8 GB
//! and a minute of CPU. Three bounds keep any rules directory small:
//! identical regexes (same pattern and case-insensitivity) are built once
//! and shared; one regex may compile to at most [`MAX_REGEX_BYTES`]; and all
//! the distinct regexes of a rule set together at most
//! [`MAX_RULE_SET_REGEX_BYTES`].

use std::collections::HashMap;
use std::sync::Arc;

use regex_automata::{meta, util::syntax};

/// A compiled `matches` regex, shared by every leaf that wrote it.
pub(crate) type Regex = Arc<meta::Regex>;

/// Largest compiled program (NFA) of one regex, in bytes (1 MiB). Honest
/// rule regexes compile to a few kilobytes.
pub(crate) const MAX_REGEX_BYTES: usize = 1 << 20;

/// Most bytes all the distinct regexes of a rule set may compile to
/// (16 MiB). A regex refused for its size counts as [`MAX_REGEX_BYTES`],
/// since building it cost as much work: a file of distinct oversized
/// regexes stops after a few, not after thousands of refused builds.
pub(crate) const MAX_RULE_SET_REGEX_BYTES: usize = 16 << 20;

/// Memory each regex's lazy DFA may grow to while matching, per thread
/// (256 KiB, not the crate's 2 MiB): a rule set holds many regexes, and
/// beyond this the regex falls back to its slower, smaller matcher.
const MATCH_CACHE_BYTES: usize = 256 << 10;

/// Characters of a pattern quoted in a problem; a hostile pattern may be
/// most of a megabyte.
const QUOTED_CHARS: usize = 60;

/// What building one pattern gave: the regex, or the problem's message.
type Built = Result<Regex, String>;

/// The regexes built so far for one rule set, and the budget they used.
#[derive(Debug, Default)]
pub(crate) struct Regexes {
    /// Pattern -> what building it gave; index 1 holds case-insensitive ones.
    /// Failures are kept too, so a repeated bad pattern costs one build.
    built: [HashMap<Box<str>, Built>; 2],
    /// Compiled bytes counted against [`MAX_RULE_SET_REGEX_BYTES`].
    used: usize,
}

impl Regexes {
    /// The regex for `pattern`, built once per rule set; `Err` is the
    /// one-line problem to report at the leaf's line.
    pub(crate) fn build(&mut self, pattern: &str, case_insensitive: bool) -> Built {
        let slot = usize::from(case_insensitive);
        if let Some(built) = self.built[slot].get(pattern) {
            return built.clone();
        }
        let built = self.compile(pattern, case_insensitive);
        self.built[slot].insert(pattern.into(), built.clone());
        built
    }

    /// Builds a pattern not seen before, charging the budget.
    fn compile(&mut self, pattern: &str, case_insensitive: bool) -> Built {
        let over_budget = || {
            format!(
                "regex {} takes the rule set's regexes past {} bytes (16 MiB) compiled, the \
                 limit for one rule set; reuse identical regexes or simplify them",
                quoted(pattern),
                MAX_RULE_SET_REGEX_BYTES
            )
        };
        if self.used >= MAX_RULE_SET_REGEX_BYTES {
            return Err(over_budget());
        }
        let config = meta::Config::new()
            .nfa_size_limit(Some(MAX_REGEX_BYTES))
            .hybrid_cache_capacity(MATCH_CACHE_BYTES);
        let built = meta::Builder::new()
            .configure(config)
            .syntax(syntax::Config::new().case_insensitive(case_insensitive))
            .build(pattern);
        match built {
            Ok(regex) => {
                self.used += regex.memory_usage();
                if self.used > MAX_RULE_SET_REGEX_BYTES {
                    return Err(over_budget());
                }
                Ok(Arc::new(regex))
            }
            Err(err) if err.size_limit().is_some() => {
                self.used += MAX_REGEX_BYTES;
                Err(format!(
                    "regex {} compiles to more than {} bytes (1 MiB), the limit for one regex; \
                     simplify it (large counted repetitions such as `\\w{{100}}` are the usual cause)",
                    quoted(pattern),
                    MAX_REGEX_BYTES
                ))
            }
            Err(err) => Err(format!(
                "invalid regex {}: {}",
                quoted(pattern),
                reason(&err)
            )),
        }
    }
}

/// `pattern` in quotes, cut to [`QUOTED_CHARS`] characters with a `…`.
fn quoted(pattern: &str) -> String {
    match pattern.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{:?}…", &pattern[..end]),
        None => format!("{pattern:?}"),
    }
}

/// A syntax error's message is several lines (pattern, caret, `error: …`);
/// a problem is one line, so keep the `error:` part.
fn reason(err: &meta::BuildError) -> String {
    let text = match err.syntax_error() {
        Some(syntax) => syntax.to_string(),
        None => err.to_string(),
    };
    let reason: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("error:"))
        .map(str::trim)
        .collect();
    if reason.is_empty() {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        reason.join("; ")
    }
}
