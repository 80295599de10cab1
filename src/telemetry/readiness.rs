//! The readiness registry behind `/readyz`.
//!
//! The engine and the connector tell the registry what they are doing —
//! starting, restoring partitions, which rules are loaded, whether the broker
//! answered the last check, which apps are paused — and `/readyz` turns that
//! into 200 or 503 with the reasons. The registry is only written to at state
//! changes, so the hot paths never touch it.
//!
//! What makes a process *not ready*:
//! - a component still starting (connecting, joining the group, restoring the
//!   connector's applied generations);
//! - the broker did not answer the last lag/metadata check;
//! - the engine has no rules loaded;
//! - the engine is restoring the state of some partitions;
//! - a connector's app is paused (outage or refused credentials).
//!
//! Held deprovisions do **not** make the engine unready: the engine is
//! healthy and processing everything else, and an unready pod would block the
//! very rollout an operator may need to fix the cause. They appear under
//! `details.held_deprovisions`, in `provisioner_deprovisions_held` and in an
//! alert instead.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::sync::lock;
use crate::telemetry::health::AppHealth;

/// How many readiness transitions [`Readiness::history`] keeps.
const HISTORY: usize = 64;

/// Which kind of process the registry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `provisioner engine`: needs rules and restored partitions.
    Engine,
    /// `provisioner connector`: needs its apps up.
    Connector,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Whether the process is ready (HTTP 200) or not (503).
    pub ready: bool,
    /// Why not, one sentence each; empty when ready.
    pub reasons: Vec<String>,
    /// What an operator wants to see besides (rules version, partitions,
    /// held deprovisions, app states).
    pub details: Value,
}

#[derive(Debug, Default)]
struct State {
    starting: BTreeMap<String, String>,
    broker_error: Option<String>,
    rules_version: Option<String>,
    /// When the rules in force were published to the store (RFC 3339).
    rules_published: Option<String>,
    rules_refused: u64,
    assigned: BTreeSet<i32>,
    restoring: BTreeSet<i32>,
    held: BTreeMap<String, u64>,
    /// Batches aborted in a row, and the last error, while it goes on.
    aborting: Option<(u32, String)>,
}

/// How many aborts in a row make the engine unready.
const ABORTS_UNREADY: u32 = 3;

/// When the engine's loop last moved on (a batch committed, or nothing to
/// read), and how long without that makes it unready.
#[derive(Debug)]
struct Progress {
    at: Instant,
    stall_after: Duration,
}

/// The readiness of one process; shared (`Arc`) by its loops and its HTTP server.
#[derive(Debug)]
pub struct Readiness {
    role: Role,
    state: Mutex<State>,
    apps: Mutex<Vec<Arc<AppHealth>>>,
    history: Mutex<VecDeque<(bool, Vec<String>)>>,
    progress: Mutex<Progress>,
}

fn list(partitions: &BTreeSet<i32>) -> String {
    let items: Vec<String> = partitions.iter().map(i32::to_string).collect();
    format!("[{}]", items.join(","))
}

impl Readiness {
    /// A registry for a process of `role`; it starts not ready: the engine
    /// as "engine starting", the connector until an app worker registers.
    pub fn new(role: Role) -> Readiness {
        let readiness = Readiness {
            role,
            state: Mutex::default(),
            apps: Mutex::default(),
            history: Mutex::default(),
            progress: Mutex::new(Progress {
                at: Instant::now(),
                stall_after: Duration::from_secs(60),
            }),
        };
        if role == Role::Engine {
            readiness.starting("engine", "connecting to Kafka");
        }
        readiness
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut lock(&self.state));
        self.note();
    }

    /// Records the current verdict in the history when it changed. Called
    /// after every change, and by whoever sees an app's health change.
    pub fn note(&self) {
        let report = self.report();
        let mut history = lock(&self.history);
        let entry = (report.ready, report.reasons);
        if history.back() != Some(&entry) {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(entry);
        }
    }

    /// `component` is starting and doing `what` (e.g. "joining the consumer group").
    pub fn starting(&self, component: &str, what: &str) {
        self.update(|s| {
            s.starting.insert(component.to_string(), what.to_string());
        });
    }

    /// `component` has started.
    pub fn started(&self, component: &str) {
        if lock(&self.state).starting.contains_key(component) {
            self.update(|s| {
                s.starting.remove(component);
            });
        }
    }

    /// The broker answered a check.
    pub fn broker_ok(&self) {
        if lock(&self.state).broker_error.is_some() {
            self.update(|s| s.broker_error = None);
        }
    }

    /// The broker did not answer a check.
    pub fn broker_failed(&self, error: &str) {
        self.update(|s| s.broker_error = Some(error.to_string()));
    }

    /// A rules version is in force.
    pub fn rules_loaded(&self, version: &str) {
        self.update(|s| s.rules_version = Some(version.to_string()));
    }

    /// The rules about to be in force were published to the store at `at`
    /// (an RFC 3339 instant); shown beside the version.
    pub fn rules_published(&self, at: &str) {
        self.update(|s| s.rules_published = Some(at.to_string()));
    }

    /// A rules change was refused (the previous version stays in force).
    pub fn rules_refused(&self) {
        self.update(|s| s.rules_refused += 1);
    }

    /// Partitions assigned and being restored.
    pub fn restoring(&self, partitions: &[i32]) {
        self.update(|s| {
            s.assigned.extend(partitions);
            s.restoring.extend(partitions);
        });
    }

    /// Partitions restored; their records flow.
    pub fn restored(&self, partitions: &[i32]) {
        self.update(|s| {
            for p in partitions {
                s.restoring.remove(p);
            }
        });
    }

    /// Partitions no longer owned.
    pub fn revoked(&self, partitions: &[i32]) {
        self.update(|s| {
            for p in partitions {
                s.assigned.remove(p);
                s.restoring.remove(p);
            }
        });
    }

    /// Deprovisions held per app (a detail, not a reason: see the module docs).
    pub fn set_held(&self, held: &BTreeMap<String, u64>) {
        let held: BTreeMap<String, u64> = held
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (a.clone(), *n))
            .collect();
        if lock(&self.state).held != held {
            self.update(|s| s.held = held);
        }
    }

    /// A batch aborted (`streak` in a row): from the third on, the engine is
    /// unready until one commits — its input is not flowing.
    pub fn batch_aborted(&self, streak: u32, error: &str) {
        self.update(|s| s.aborting = Some((streak, error.to_string())));
    }

    /// The engine's loop moved on: a batch committed, or there was nothing to
    /// read. Ends an abort streak.
    pub fn progressed(&self) {
        lock(&self.progress).at = Instant::now();
        if lock(&self.state).aborting.is_some() {
            self.update(|s| s.aborting = None);
        }
    }

    /// How long the engine may hold partitions without progress before it
    /// is unready (`engine.stall_ms`).
    pub fn stall_after(&self, after: Duration) {
        let mut p = lock(&self.progress);
        p.stall_after = after;
        p.at = Instant::now();
    }

    /// An app whose pauses make the connector unready.
    pub fn watch_app(&self, health: Arc<AppHealth>) {
        {
            let mut apps = lock(&self.apps);
            if !apps.iter().any(|h| Arc::ptr_eq(h, &health)) {
                apps.push(health);
            }
        }
        self.note();
    }

    /// The verdict now.
    pub fn report(&self) -> Report {
        let s = lock(&self.state);
        let mut reasons: Vec<String> = s
            .starting
            .iter()
            .map(|(component, what)| format!("{component} starting: {what}"))
            .collect();
        if let Some(error) = &s.broker_error {
            reasons.push(format!("Kafka unreachable: {error}"));
        }
        let mut details = Map::new();
        if self.role == Role::Engine {
            self.engine_verdict(&s, &mut reasons, &mut details);
        }
        drop(s);
        self.apps_verdict(&mut reasons, &mut details);
        Report {
            ready: reasons.is_empty(),
            reasons,
            details: Value::Object(details),
        }
    }

    /// The engine's part of the verdict: rules, restore, aborts, progress.
    fn engine_verdict(
        &self,
        s: &State,
        reasons: &mut Vec<String>,
        details: &mut Map<String, Value>,
    ) {
        match &s.rules_version {
            None => reasons.push("no rules loaded".into()),
            Some(v) => {
                details.insert("rules_version".into(), json!(v));
            }
        }
        if let Some(at) = &s.rules_published {
            details.insert("rules_published_at".into(), json!(at));
        }
        if s.rules_refused > 0 {
            details.insert("rules_reloads_refused".into(), json!(s.rules_refused));
        }
        if !s.restoring.is_empty() {
            reasons.push(format!("restoring partitions {}", list(&s.restoring)));
        }
        if let Some((streak, error)) = s.aborting.as_ref().filter(|(n, _)| *n >= ABORTS_UNREADY) {
            reasons.push(format!("{streak} batches aborted in a row (last: {error})"));
        }
        let progress = lock(&self.progress);
        let idle = progress.at.elapsed();
        if !s.assigned.is_empty() && s.restoring.is_empty() && idle > progress.stall_after {
            reasons.push(format!(
                "no progress for {} s: no batch committed while input waits",
                idle.as_secs()
            ));
        }
        drop(progress);
        details.insert(
            "partitions".into(),
            json!({ "assigned": s.assigned, "restoring": s.restoring }),
        );
        details.insert("held_deprovisions".into(), json!(s.held));
    }

    /// The apps' part of the verdict (a connector's, or an engine's that
    /// watches apps): which are paused, and why.
    fn apps_verdict(&self, reasons: &mut Vec<String>, details: &mut Map<String, Value>) {
        let apps = lock(&self.apps);
        if self.role != Role::Connector && apps.is_empty() {
            return;
        }
        if apps.is_empty() {
            reasons.push("no app worker started yet".into());
        }
        let mut states = Map::new();
        for health in apps.iter() {
            let h = health.snapshot();
            if h.paused {
                let why = h.reason.as_deref().unwrap_or("outage");
                reasons.push(format!("app {} paused: {why}", health.app()));
            }
            states.insert(
                health.app().to_string(),
                json!({ "paused": h.paused, "pauses": h.pauses }),
            );
        }
        details.insert("apps".into(), Value::Object(states));
    }

    /// The verdicts so far, oldest first (at most 64 transitions): what a
    /// test or a post-mortem wants, since `/readyz` only shows the present.
    pub fn history(&self) -> Vec<(bool, Vec<String>)> {
        lock(&self.history).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_ready_once_started_with_rules_and_restored() {
        let r = Readiness::new(Role::Engine);
        assert_eq!(
            r.report().reasons,
            vec!["engine starting: connecting to Kafka", "no rules loaded"]
        );
        r.rules_loaded("sha256:abc");
        r.started("engine");
        r.restoring(&[1, 4]);
        let report = r.report();
        assert!(!report.ready);
        assert_eq!(report.reasons, vec!["restoring partitions [1,4]"]);
        r.restored(&[1, 4]);
        r.set_held(&BTreeMap::from([("slack".to_string(), 60)]));
        let report = r.report();
        assert!(report.ready, "{report:?}");
        assert_eq!(report.details["held_deprovisions"]["slack"], 60);
        assert_eq!(report.details["partitions"]["assigned"], json!([1, 4]));
        r.broker_failed("timed out");
        assert_eq!(r.report().reasons, vec!["Kafka unreachable: timed out"]);
        let ready: Vec<bool> = r.history().iter().map(|(ready, _)| *ready).collect();
        assert_eq!(ready, [false, false, true, false, true, false]);
    }

    #[test]
    fn the_rules_publish_time_is_a_detail_beside_the_version() {
        let r = Readiness::new(Role::Engine);
        r.rules_loaded("sha256:abc");
        assert!(r.report().details.get("rules_published_at").is_none());
        r.rules_published("2026-12-01T17:56:09.280Z");
        let report = r.report();
        assert_eq!(report.details["rules_version"], "sha256:abc");
        assert_eq!(
            report.details["rules_published_at"],
            "2026-12-01T17:56:09.280Z"
        );
    }

    #[test]
    fn aborting_batches_make_the_engine_unready_until_one_commits() {
        let r = Readiness::new(Role::Engine);
        r.rules_loaded("v");
        r.started("engine");
        r.batch_aborted(1, "Broker: Message size too large");
        r.batch_aborted(2, "Broker: Message size too large");
        assert!(r.report().ready, "two aborts are a blip");
        r.batch_aborted(3, "Broker: Message size too large");
        assert_eq!(
            r.report().reasons,
            vec!["3 batches aborted in a row (last: Broker: Message size too large)"]
        );
        r.progressed();
        assert!(r.report().ready);
    }

    #[test]
    fn an_engine_that_makes_no_progress_is_unready() {
        let r = Readiness::new(Role::Engine);
        r.rules_loaded("v");
        r.started("engine");
        r.stall_after(Duration::from_millis(20));
        assert!(r.report().ready, "no partitions, nothing to stall");
        r.restoring(&[0]);
        r.restored(&[0]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.report().ready {
            assert!(Instant::now() < deadline, "never unready");
            std::thread::yield_now();
        }
        assert!(r.report().reasons[0].starts_with("no progress for"));
        r.progressed();
        assert!(r.report().ready);
    }

    #[test]
    fn a_paused_app_makes_the_connector_unready() {
        let r = Readiness::new(Role::Connector);
        assert_eq!(r.report().reasons, vec!["no app worker started yet"]);
        let health = Arc::new(AppHealth::new("slack", 1));
        r.starting("app slack", "restoring applied generations");
        r.watch_app(health.clone());
        assert!(!r.report().ready);
        r.started("app slack");
        assert!(r.report().ready);
        health.pause("unavailable: HTTP 401 Unauthorized");
        let report = r.report();
        assert_eq!(
            report.reasons,
            vec!["app slack paused: unavailable: HTTP 401 Unauthorized"]
        );
        assert_eq!(report.details["apps"]["slack"]["paused"], true);
    }
}
