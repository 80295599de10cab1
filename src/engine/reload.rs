//! Live rules, from one of two sources (`rules.source`): the rules
//! directory, checked now and then, whose changed content is compiled into
//! a new rules version or refused whole; or the rules store, a topic every
//! instance follows, whose revisions are compiled as they arrive. Either way
//! the engine sees one [`Reload`] per turn and applies it the same way.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::events::RulesPublished;
use super::EngineError;
use crate::config::{Config, RulesSource};
use crate::rules::store::{self, Follower, Stored};
use crate::rules::{RuleErrors, RuleSet, MAX_RULE_FILE_BYTES};
use crate::telemetry::Telemetry;

/// What a check of the rules source found.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed (or it is not time to look yet).
    Unchanged,
    /// A valid new version.
    Changed(Box<RuleSet>),
    /// The source changed but the rules are invalid; the old ones stay.
    Refused(RuleErrors),
}

/// Watches the configured rules source.
pub enum Watcher {
    /// `rules.source = "dir"`.
    Dir(DirWatcher),
    /// `rules.source = "kafka"`.
    Store(StoreWatcher),
}

impl Watcher {
    /// A watcher of `rules.source`. The directory as it is now counts as
    /// seen; the store is followed from its latest revision on (included,
    /// so one published since the engine loaded its rules is not missed).
    pub fn new(config: &Config, telemetry: &Telemetry) -> Result<Watcher, EngineError> {
        Ok(match config.rules.source {
            RulesSource::Dir => Watcher::Dir(DirWatcher::new(config)),
            RulesSource::Kafka => Watcher::Store(StoreWatcher::new(config, telemetry)?),
        })
    }

    /// Looks for a new version: the directory once `engine.rules_reload_ms`
    /// has passed, the store every turn (it never waits).
    pub fn check(&mut self, config: &Config) -> Reload {
        match self {
            Watcher::Dir(dir) => dir.check(config),
            Watcher::Store(store) => store.check(config),
        }
    }
}

/// The rules in force at start-up with `rules.source = "kafka"`: the latest
/// revision on the rules topic, compiled against this catalogue. None
/// published, or one invalid here, stops the engine: running without rules
/// would deprovision everyone.
pub fn stored_rules(config: &Config) -> Result<RuleSet, EngineError> {
    let topic = config.topics.rules.clone();
    let latest = store::read_latest(config).map_err(|source| EngineError::RulesStore {
        topic: topic.clone(),
        source: Box::new(source),
    })?;
    let Some(latest) = latest else {
        return Err(EngineError::NoStoredRules { topic });
    };
    compile(config, &latest).map_err(|errors| EngineError::InvalidStoredRules {
        topic,
        version: latest.revision.version.to_string(),
        errors,
    })
}

/// A stored revision's rules under this engine's catalogue. A version that
/// differs from the stored one means the catalogues' apps or roles differ:
/// the engine's own is what decides, so its version is the one in force.
fn compile(config: &Config, stored: &Stored) -> Result<RuleSet, RuleErrors> {
    let rules = stored.revision.rule_set(&config.apps)?;
    if rules.version() != &stored.revision.version {
        tracing::warn!(
            message = "This engine's catalogue (apps and roles) differs from the publisher's; the rules version in force is computed with this engine's.",
            published = %stored.revision.version,
            in_force = %rules.version()
        );
    }
    Ok(rules)
}

/// Follows the rules topic.
pub struct StoreWatcher {
    follower: Follower,
    telemetry: Telemetry,
}

impl StoreWatcher {
    fn new(config: &Config, telemetry: &Telemetry) -> Result<StoreWatcher, EngineError> {
        let topic = config.topics.rules.clone();
        let latest = store::read_latest(config).map_err(|source| EngineError::RulesStore {
            topic: topic.clone(),
            source: Box::new(source),
        })?;
        let from = latest.map_or(0, |s| s.offset);
        Ok(StoreWatcher {
            follower: Follower::new(config, from)?,
            telemetry: telemetry.clone(),
        })
    }

    /// The latest of the revisions that arrived since the last check: the
    /// engine goes straight to it (one re-evaluation, not one per version
    /// that arrived together).
    fn check(&mut self, config: &Config) -> Reload {
        let Some(latest) = self.follower.poll().pop() else {
            return Reload::Unchanged;
        };
        match compile(config, &latest) {
            Ok(rules) => {
                RulesPublished {
                    version: rules.version(),
                    offset: latest.offset,
                    published_at: latest.revision.published_at,
                    author: &latest.revision.author,
                }
                .emit(&self.telemetry);
                Reload::Changed(Box::new(rules))
            }
            Err(errors) => Reload::Refused(errors),
        }
    }
}

/// Watches the rules directory by content, at an interval.
pub struct DirWatcher {
    dir: PathBuf,
    interval: Duration,
    next: Instant,
    fingerprint: Option<[u8; 32]>,
}

impl DirWatcher {
    /// A watcher of `rules.path`; the directory as it is now counts as seen.
    fn new(config: &Config) -> DirWatcher {
        let dir = config.rules.path.clone();
        DirWatcher {
            fingerprint: fingerprint(&dir),
            dir,
            interval: config.engine.rules_reload,
            next: Instant::now() + config.engine.rules_reload,
        }
    }

    /// Checks the directory if the interval has passed. Each distinct content
    /// is compiled once: a refused version is not retried until it changes.
    fn check(&mut self, config: &Config) -> Reload {
        let now = Instant::now();
        if now < self.next {
            return Reload::Unchanged;
        }
        self.next = now + self.interval;
        let current = fingerprint(&self.dir);
        if current == self.fingerprint {
            return Reload::Unchanged;
        }
        self.fingerprint = current;
        match RuleSet::load_dir(&self.dir, &config.apps) {
            Ok(rules) => Reload::Changed(Box::new(rules)),
            Err(errors) => Reload::Refused(errors),
        }
    }
}

/// A hash of the names and contents of the directory's YAML files; `None`
/// when the directory cannot be read. Files are streamed into the hash, and
/// one over the rules' size limit is hashed by size and modification time
/// only: the loader refuses it unread, and the watcher, which runs on the
/// engine's thread every interval, must not read (or hold) a huge file either.
fn fingerprint(dir: &Path) -> Option<[u8; 32]> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.to_string_lossy().as_bytes());
        hash.update([0]);
        hash_content(&mut hash, &file);
        hash.update([0]);
    }
    Some(hash.finalize().into())
}

/// Adds one file's content to `hash` (nothing when it cannot be read).
fn hash_content(hash: &mut Sha256, file: &Path) {
    let Ok(mut handle) = File::open(file) else {
        return;
    };
    let Ok(meta) = handle.metadata() else {
        return;
    };
    let limit = MAX_RULE_FILE_BYTES as u64;
    if meta.len() > limit {
        hash.update(b"too large");
        hash.update(meta.len().to_le_bytes());
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        hash.update(modified.unwrap_or_default().as_nanos().to_le_bytes());
        return;
    }
    // A read error leaves what was hashed so far: the content differs from
    // a good read's, so the directory is looked at again when it is fixed.
    let _ = std::io::copy(&mut (&mut handle).take(limit + 1), hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_rule_file_is_fingerprinted_by_size_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "name: a\n").unwrap();
        let huge = File::create(dir.path().join("huge.yaml")).unwrap();
        // Sparse: 64 GiB on paper, nothing on disk; reading it would not end well.
        huge.set_len(64 << 30).unwrap();
        let before = fingerprint(dir.path()).unwrap();
        assert_eq!(fingerprint(dir.path()), Some(before));
        huge.set_len((64 << 30) + 1).unwrap();
        assert_ne!(fingerprint(dir.path()), Some(before));
    }

    #[test]
    fn content_changes_change_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "name: a\n").unwrap();
        let before = fingerprint(dir.path()).unwrap();
        std::fs::write(&file, "name: b\n").unwrap();
        assert_ne!(fingerprint(dir.path()), Some(before));
    }
}
