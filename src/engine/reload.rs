//! Live rules: the engine checks the rules directory now and then, and a
//! changed directory is compiled into a new rules version or refused whole.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::rules::{RuleErrors, RuleSet};

/// What a check of the rules directory found.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed (or it is not time to look yet).
    Unchanged,
    /// A valid new version.
    Changed(Box<RuleSet>),
    /// The directory changed but the rules are invalid; the old ones stay.
    Refused(RuleErrors),
}

/// Watches the rules directory by content, at an interval.
pub struct Watcher {
    dir: PathBuf,
    interval: Duration,
    next: Instant,
    fingerprint: Option<[u8; 32]>,
}

impl Watcher {
    /// A watcher of `rules.path`; the directory as it is now counts as seen.
    pub fn new(config: &Config) -> Watcher {
        let dir = config.rules.path.clone();
        Watcher {
            fingerprint: fingerprint(&dir),
            dir,
            interval: Duration::from_millis(config.engine.rules_reload_ms),
            next: Instant::now() + Duration::from_millis(config.engine.rules_reload_ms),
        }
    }

    /// Checks the directory if the interval has passed. Each distinct content
    /// is compiled once: a refused version is not retried until it changes.
    pub fn check(&mut self, config: &Config) -> Reload {
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
/// when the directory cannot be read.
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
        hash.update(std::fs::read(&file).unwrap_or_default());
        hash.update([0]);
    }
    Some(hash.finalize().into())
}
