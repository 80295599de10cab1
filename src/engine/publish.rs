//! Publishing rules to the store (`rules publish`, `rules rollback`) and
//! comparing stored versions (`rules diff`): the rule set is validated
//! against the catalogue, then simulated over the engine's changelog
//! ([`super::impact`]) against the latest stored version, and written only
//! if that version is still the latest ([`store::publish`]).
//!
//! It lives in the engine because the simulation is the engine's decision;
//! the store's format and I/O are below, in `rules::store`. Nothing here
//! prints: the command line shows the [`Plan`] and decides with it.

use std::path::Path;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::{impact, EngineError};
use crate::config::Config;
use crate::kafka::KafkaSetupError;
use crate::rules::store::{
    self, diff_rules, Impact, Origin, ReadError, Revision, RuleChanges, RuleFile, Stored,
    WriteError,
};
use crate::rules::{RuleErrors, RuleSet};

/// Why a publish, rollback or diff did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The rule set is not valid against this catalogue: nothing is written.
    #[error("invalid rules in {label}; nothing was published:\n{errors}")]
    Invalid {
        /// The directory or version the rules came from.
        label: String,
        /// Every problem.
        errors: RuleErrors,
    },
    /// The rules topic could not be read.
    #[error("cannot read {topic}: {source}")]
    Read {
        /// The topic.
        topic: String,
        /// Why.
        source: Box<ReadError>,
    },
    /// The simulation could not read the state changelog.
    #[error("cannot simulate over {topic}: {source}")]
    State {
        /// The changelog topic.
        topic: String,
        /// Why.
        source: Box<EngineError>,
    },
    /// The rules topic could not be created.
    #[error(transparent)]
    Setup(#[from] Box<KafkaSetupError>),
    /// Writing was refused or failed.
    #[error(transparent)]
    Write(#[from] Box<WriteError>),
    /// No stored revision has this version.
    #[error("no version {wanted} on {topic}; `provisioner rules history` lists them")]
    Unknown {
        /// As given.
        wanted: String,
        /// The rules topic.
        topic: String,
    },
    /// Several stored versions start with what was given.
    #[error("{wanted} names several versions ({}); give more of it", .candidates.join(", "))]
    Ambiguous {
        /// As given.
        wanted: String,
        /// The versions it could be.
        candidates: Vec<String>,
    },
    /// The blocking write's thread failed.
    #[error("the publish thread failed: {0}")]
    Thread(String),
}

/// What is to be published, before it is checked.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The rule files, in load order.
    pub files: Vec<RuleFile>,
    /// Who publishes.
    pub author: String,
    /// Why.
    pub message: String,
    /// Where the files came from.
    pub origin: Origin,
    /// Names the files' source in problems (a directory, a version).
    pub label: String,
}

impl Draft {
    /// The rule files of `dir` (a problem with reading one is an invalid
    /// rule set), with its git commit when it is in a repository.
    pub fn from_dir(dir: &Path, author: String, message: String) -> Result<Draft, PublishError> {
        let label = dir.display().to_string();
        let files = store::read_files(dir).map_err(|errors| PublishError::Invalid {
            label: label.clone(),
            errors,
        })?;
        Ok(Draft {
            files,
            author,
            message,
            origin: Origin {
                path: Some(label.clone()),
                git_commit: store::git_commit(dir),
                rollback_of: None,
            },
            label,
        })
    }
}

/// A checked, simulated revision and what it would replace.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The revision that would be written (impact filled in).
    pub revision: Revision,
    /// The latest stored revision when the plan was made.
    pub current: Option<Stored>,
    /// The rules that differ from the current revision's (all added when
    /// there is none).
    pub rules: RuleChanges,
}

impl Plan {
    /// Whether the rules are already the latest version: nothing to write.
    pub fn unchanged(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.revision.version == self.revision.version)
    }

    /// Whether the engine's guard would hold the change's deprovisions
    /// (publishing then needs `--yes`).
    pub fn trips_guard(&self) -> bool {
        !self.revision.impact.guard.is_empty()
    }
}

/// Validates `draft` against the catalogue, reads the latest stored
/// revision and simulates the change from it over the changelog at `now`.
/// Writes nothing.
pub fn plan(config: &Config, draft: Draft, now: DateTime<Utc>) -> Result<Plan, PublishError> {
    let mut revision = Revision::new(draft.files, &config.apps);
    let rules = revision
        .rule_set(&config.apps)
        .map_err(|errors| PublishError::Invalid {
            label: draft.label,
            errors,
        })?;
    let current = store::read_latest(config).map_err(|source| read_error(config, source))?;
    let old = current.as_ref().and_then(|c| rules_of(config, &c.revision));
    revision.impact = simulate(config, old.as_ref(), &rules, now)?;
    revision.author = draft.author;
    revision.message = draft.message;
    revision.origin = draft.origin;
    revision.published_at = now;
    revision.replaces = current.as_ref().map(|c| c.revision.version.clone());
    let rules = match &current {
        Some(c) => diff_rules(&c.revision, &revision),
        None => RuleChanges::all_added(&revision),
    };
    Ok(Plan {
        revision,
        current,
        rules,
    })
}

/// Writes the plan's revision, creating the rules topic if allowed, unless
/// someone published since the plan was made.
pub async fn commit(config: &Config, plan: &Plan) -> Result<(), PublishError> {
    store::ensure_topic(config).await.map_err(Box::new)?;
    let (config, revision) = (config.clone(), plan.revision.clone());
    let expected = plan.current.as_ref().map(|c| c.revision.version.clone());
    tokio::task::spawn_blocking(move || store::publish(&config, &revision, expected.as_ref()))
        .await
        .map_err(|e| PublishError::Thread(e.to_string()))?
        .map_err(Box::new)?;
    Ok(())
}

/// A draft republishing the content of stored version `wanted` (a unique
/// prefix is enough), found in `history`.
pub fn rollback_draft(
    config: &Config,
    history: &[Stored],
    wanted: &str,
    author: String,
    message: Option<String>,
) -> Result<Draft, PublishError> {
    let old = &find(config, history, wanted)?.revision;
    Ok(Draft {
        files: old.files.clone(),
        author,
        message: message.unwrap_or_else(|| format!("rollback to {}", old.version)),
        origin: Origin {
            rollback_of: Some(old.version.clone()),
            ..Origin::default()
        },
        label: old.version.to_string(),
    })
}

/// The rule changes from stored version `a` to `b` and their impact over
/// the changelog at `now`.
pub fn diff(
    config: &Config,
    history: &[Stored],
    a: &str,
    b: &str,
    now: DateTime<Utc>,
) -> Result<(RuleChanges, Impact), PublishError> {
    let (a, b) = (
        &find(config, history, a)?.revision,
        &find(config, history, b)?.revision,
    );
    let compile = |r: &Revision| {
        r.rule_set(&config.apps)
            .map_err(|errors| PublishError::Invalid {
                label: r.version.to_string(),
                errors,
            })
    };
    let (old, new) = (compile(a)?, compile(b)?);
    Ok((diff_rules(a, b), simulate(config, Some(&old), &new, now)?))
}

/// The whole history of the rules topic, oldest first.
pub fn history(config: &Config) -> Result<Vec<Stored>, PublishError> {
    store::read_history(config).map_err(|source| read_error(config, source))
}

/// The latest stored revision with version `wanted`, or with a version that
/// starts with it (with or without `sha256:`) when only one does.
pub fn find<'a>(
    config: &Config,
    history: &'a [Stored],
    wanted: &str,
) -> Result<&'a Stored, PublishError> {
    let bare = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    let matches = |s: &&Stored| {
        let v = s.revision.version.as_str();
        v == wanted || (!bare.is_empty() && v.trim_start_matches("sha256:").starts_with(bare))
    };
    let mut candidates: Vec<&Stored> = history.iter().rev().filter(matches).collect();
    let mut versions: Vec<String> = candidates
        .iter()
        .map(|s| s.revision.version.to_string())
        .collect();
    versions.sort();
    versions.dedup();
    match versions.len() {
        0 => Err(PublishError::Unknown {
            wanted: wanted.to_string(),
            topic: config.topics.rules.clone(),
        }),
        1 => Ok(candidates.remove(0)),
        _ => Err(PublishError::Ambiguous {
            wanted: wanted.to_string(),
            candidates: versions,
        }),
    }
}

fn simulate(
    config: &Config,
    old: Option<&RuleSet>,
    new: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Impact, PublishError> {
    impact::simulate(config, old, new, now).map_err(|source| PublishError::State {
        topic: config.topics.state.clone(),
        source: Box::new(source),
    })
}

/// The stored revision's rules under this catalogue; `None` (the states'
/// own outcome is the baseline) when they are not valid for it.
fn rules_of(config: &Config, revision: &Revision) -> Option<RuleSet> {
    match revision.rule_set(&config.apps) {
        Ok(rules) => Some(rules),
        Err(errors) => {
            warn!(
                message = "The latest stored rules are not valid for this catalogue; simulating from the employees' stored state.",
                version = %revision.version,
                problems = %errors
            );
            None
        }
    }
}

fn read_error(config: &Config, source: ReadError) -> PublishError {
    PublishError::Read {
        topic: config.topics.rules.clone(),
        source: Box::new(source),
    }
}
