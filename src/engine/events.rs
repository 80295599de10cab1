//! What the engine tells the world: one type per notable thing that happens,
//! whose `emit` writes its log line and updates its metrics together (the
//! `internal_events` pattern of Vector). The engine's business code builds
//! these and never calls [`Metrics`] itself, so a log line and the series
//! counting the same happening cannot drift apart.
//!
//! Metrics count committed work only: the counts of a unit of work travel in
//! its [`Tally`] and are added when its transaction has committed. Lines
//! written while deciding (an invalid event, a stale one, a mass deprovision
//! held) stay in `pending.rs`, inside the record's span.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::error::KafkaError;
use tracing::{debug, error, info, warn};

use crate::commands::{self, Command};
use crate::events::EventType;
use crate::kafka::CommitPhases;
use crate::metrics::{Action, Consumed, DeadLetterKind, Metrics, ReloadResult};

mod timers;
pub use timers::{RoundTimes, TimersFired};

impl From<EventType> for Consumed {
    fn from(kind: EventType) -> Consumed {
        match kind {
            EventType::Hired => Consumed::Hired,
            EventType::Changed => Consumed::Changed,
            EventType::Left => Consumed::Left,
        }
    }
}

impl From<commands::Action> for Action {
    fn from(action: commands::Action) -> Action {
        match action {
            commands::Action::Upsert => Action::Upsert,
            commands::Action::Deprovision => Action::Deprovision,
        }
    }
}

/// What a committed unit of work counts.
#[derive(Debug, Default)]
pub struct Tally {
    /// Input records consumed, one entry each.
    pub consumed: Vec<Consumed>,
    /// Stale events ignored.
    pub stale: u64,
    /// Events dead-lettered after their decision (`unknown_app`,
    /// `unknown_employee`), one entry each; invalid ones are counted from
    /// `consumed`.
    pub rejected: Vec<DeadLetterKind>,
    /// Commands emitted, per app and action.
    pub emitted: Vec<(String, Action, u64)>,
}

impl Tally {
    /// Adds the counts to the series, one update per label set (a labelled
    /// series is a lookup: not one per record).
    fn count(&self, metrics: &Metrics) {
        for (app, action, n) in &self.emitted {
            metrics.commands_emitted(app, *action, *n);
        }
        for &kind in Consumed::ALL {
            let n = self.consumed.iter().filter(|&&k| k == kind).count() as u64;
            if n > 0 {
                metrics.events_consumed(kind, n);
                if kind == Consumed::Invalid {
                    metrics.events_dead_lettered(DeadLetterKind::InvalidEvent, n);
                }
            }
        }
        if self.stale > 0 {
            metrics.events_stale(self.stale);
        }
        let mut rejected: HashMap<DeadLetterKind, u64> = HashMap::new();
        for &kind in &self.rejected {
            *rejected.entry(kind).or_insert(0) += 1;
        }
        for (kind, n) in rejected {
            metrics.events_dead_lettered(kind, n);
        }
    }
}

/// A batch of input records committed with its offsets.
#[derive(Debug)]
pub struct BatchCommitted {
    /// What it counts.
    pub tally: Tally,
    /// Input records.
    pub records: usize,
    /// Commands written.
    pub commands: usize,
    /// Employee states written.
    pub states: usize,
    /// Deprovisions the guard held.
    pub held: u64,
    /// Parsing, deciding and the guard.
    pub decide: Duration,
    /// The transaction: serialising and sending from the decide pool,
    /// flush, commit.
    pub commit: Duration,
    /// Of `commit`: adding the offsets, the flush, the EndTxn.
    pub phases: CommitPhases,
    /// The store update.
    pub store: Duration,
}

impl BatchCommitted {
    /// Counts the batch and says where its time went.
    pub fn emit(&self, metrics: &Metrics) {
        self.tally.count(metrics);
        info!(
            message = "Batch committed.",
            records = self.records,
            commands = self.commands,
            states = self.states,
            held = self.held,
            decide_ms = self.decide.as_millis() as u64,
            commit_ms = self.commit.as_millis() as u64,
            offsets_ms = self.phases.offsets.as_millis() as u64,
            flush_ms = self.phases.flush.as_millis() as u64,
            end_ms = self.phases.end.as_millis() as u64,
            store_ms = self.store.as_millis() as u64
        );
    }
}

/// A unit of work committed that has no line of its own (a slice of a
/// re-evaluation or of operator requests): only its commands are logged.
#[derive(Debug)]
pub struct UnitCommitted(pub Tally);

impl UnitCommitted {
    /// Counts the slice.
    pub fn emit(&self, metrics: &Metrics) {
        self.0.count(metrics);
    }
}

/// One command written in a committed transaction. Counted in its unit's
/// [`Tally`] (per batch, not per command). Logged at `debug`, under a target
/// of its own, [`COMMANDS_TARGET`]: one line per command was most of the
/// engine's logging and a fifth of its CPU per event at `info`, so the
/// default level formats nothing per record; an operator who wants the
/// lines turns them on alone with
/// `RUST_LOG=info,provisioner::engine::commands=debug` (docs/OPERATIONS.md).
#[derive(Debug)]
pub struct CommandEmitted<'a>(pub &'a Command);

/// The log target of [`CommandEmitted`].
pub const COMMANDS_TARGET: &str = "provisioner::engine::commands";

impl CommandEmitted<'_> {
    /// Logs the command's ids (its account holds personal data).
    pub fn emit(&self) {
        let c = self.0;
        debug!(
            target: COMMANDS_TARGET,
            message = "Command emitted.",
            event_id = %c.cause.event_id,
            employee_id = %c.employee_id,
            app = %c.app,
            command_id = %c.command_id,
            action = c.action.as_str()
        );
    }
}

/// One HR event decided (committed or not: the histogram is of work done).
#[derive(Debug)]
pub struct EventDecided {
    /// Parsing and deciding.
    pub took: Duration,
}

impl EventDecided {
    /// Observes the processing time.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.observe_event_processing(self.took.as_secs_f64());
    }
}

/// A batch's transaction aborted; it is read again.
#[derive(Debug)]
pub struct BatchAborted<'a> {
    /// Why.
    pub error: &'a KafkaError,
    /// Aborts of the same batch in a row.
    pub streak: u32,
    /// Records in the batch.
    pub records: usize,
}

impl BatchAborted<'_> {
    /// Logs the abort.
    pub fn emit(&self) {
        warn!(
            message = "Batch aborted.",
            error = %self.error,
            streak = self.streak,
            records = self.records
        );
    }
}

/// A record whose outputs fail every transaction, dead-lettered alone with
/// its offset.
#[derive(Debug)]
pub struct RecordIsolated<'a> {
    /// Where it was read.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// What it was (or `invalid`).
    pub kind: Consumed,
    /// The abort it kept causing.
    pub error: &'a KafkaError,
}

impl RecordIsolated<'_> {
    /// Counts it consumed and dead-lettered (`retries_exhausted`).
    pub fn emit(&self, metrics: &Metrics) {
        metrics.events_consumed(self.kind, 1);
        metrics.events_dead_lettered(DeadLetterKind::RetriesExhausted, 1);
        error!(
            message = "Record dead-lettered: its outputs fail every transaction.",
            partition = self.partition,
            offset = self.offset,
            error = %self.error
        );
    }
}

/// The transactional producer failed for good; the engine stops.
#[derive(Debug)]
pub struct ProducerFailed<'a>(pub &'a KafkaError);

impl ProducerFailed<'_> {
    /// Logs the failure.
    pub fn emit(&self) {
        error!(message = "Transactional producer failed; stopping.", error = %self.0);
    }
}

/// The rules in force when the engine starts.
#[derive(Debug)]
pub struct EngineStarted<'a> {
    /// The input topic.
    pub topic: &'a str,
    /// This instance's transactional id.
    pub transactional_id: &'a str,
    /// The rules version.
    pub rules_version: &'a str,
}

impl EngineStarted<'_> {
    /// Publishes the rules version and says the engine waits for partitions.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.set_rules_version(None, self.rules_version);
        info!(
            message = "Engine started; waiting for partitions.",
            topic = %self.topic,
            transactional_id = %self.transactional_id,
            rules_version = %self.rules_version
        );
    }
}

/// A rules change applied: every owned employee is re-evaluated.
#[derive(Debug)]
pub struct RulesApplied<'a> {
    /// The version that was in force.
    pub from: &'a str,
    /// The new one.
    pub to: &'a str,
}

impl RulesApplied<'_> {
    /// Counts the reload and swaps the version series.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.rules_reload(ReloadResult::Applied);
        metrics.set_rules_version(Some(self.from), self.to);
        info!(
            message = "Rules changed; re-evaluating every owned employee.",
            from = %self.from,
            to = %self.to
        );
    }
}

/// A revision read from the rules store, about to be applied.
#[derive(Debug)]
pub struct RulesPublished<'a> {
    /// Its rules version (as compiled here).
    pub version: &'a str,
    /// Its offset on the rules topic.
    pub offset: i64,
    /// When it was published.
    pub published_at: chrono::DateTime<chrono::Utc>,
    /// Who published it.
    pub author: &'a str,
}

impl RulesPublished<'_> {
    /// Shows the publish time beside the version (metrics, `/readyz`).
    pub fn emit(&self, telemetry: &crate::telemetry::Telemetry) {
        let at = crate::text::instant(self.published_at);
        telemetry
            .metrics
            .set_rules_published(self.published_at.timestamp());
        telemetry.readiness.rules_published(&at);
        info!(
            message = "Rules read from the rules store.",
            version = %self.version,
            offset = self.offset,
            published_at = %at,
            author = %crate::text::escape(self.author)
        );
    }
}

/// A rules change refused; the previous version stays in force.
#[derive(Debug)]
pub struct RulesRefused<'a> {
    /// The version that stays.
    pub version: &'a str,
    /// What is wrong with the new files.
    pub problems: &'a str,
}

impl RulesRefused<'_> {
    /// Counts the refusal and says why.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.rules_reload(ReloadResult::Refused);
        error!(
            message = "Rules change refused; the previous version stays in force.",
            version = %self.version,
            problems = %self.problems
        );
    }
}

/// An app's command topic as last seen: missing or present, and whether
/// that changed.
#[derive(Debug)]
pub struct CommandTopicSeen<'a> {
    /// The app.
    pub app: &'a str,
    /// Its command topic.
    pub topic: &'a str,
    /// Missing at the previous look.
    pub was_missing: bool,
    /// Missing now.
    pub missing: bool,
}

impl CommandTopicSeen<'_> {
    /// Sets `provisioner_command_topic_missing{app}`; logs a change.
    pub fn emit(&self, metrics: &Metrics) {
        let (app, topic) = (self.app, self.topic);
        if self.missing && !self.was_missing {
            warn!(
                message = "App has no command topic; events needing it are dead-lettered as unknown_app until it exists.",
                app = %app,
                topic = %topic
            );
        } else if self.was_missing && !self.missing {
            info!(message = "Command topic now exists; app served again.", app = %app, topic = %topic);
        }
        metrics.set_command_topic_missing(app, self.missing);
    }
}

/// The deprovisions held per app, after a change to the holds (or to the
/// partitions owned).
#[derive(Debug)]
pub struct DeprovisionsHeld<'a> {
    /// Every app of the catalogue (an app without holds shows 0).
    pub apps: Vec<&'a str>,
    /// Held deprovisions per app.
    pub held: &'a std::collections::BTreeMap<String, u64>,
}

impl DeprovisionsHeld<'_> {
    /// Sets `provisioner_deprovisions_held{app}`.
    pub fn emit(&self, metrics: &Metrics) {
        for app in &self.apps {
            metrics.set_deprovisions_held(app, self.held.get(*app).copied().unwrap_or(0));
        }
    }
}

/// Input partitions revoked: their lag is no longer this process's to say.
#[derive(Debug)]
pub struct PartitionsRevoked<'a> {
    /// The input topic.
    pub topic: &'a str,
    /// The partitions.
    pub partitions: &'a [i32],
}

impl PartitionsRevoked<'_> {
    /// Forgets the partitions' lag.
    pub fn emit(&self, metrics: &Metrics) {
        for &p in self.partitions {
            metrics.remove_consumer_lag(self.topic, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally() -> Tally {
        Tally {
            consumed: vec![Consumed::Hired, Consumed::Invalid, Consumed::Hired],
            stale: 1,
            rejected: vec![DeadLetterKind::UnknownApp, DeadLetterKind::UnknownApp],
            emitted: vec![("slack".into(), Action::Deprovision, 2)],
        }
    }

    #[test]
    fn a_committed_batch_counts_what_it_committed() {
        let metrics = Metrics::new();
        BatchCommitted {
            tally: tally(),
            records: 4,
            commands: 2,
            states: 2,
            held: 0,
            decide: Duration::ZERO,
            commit: Duration::ZERO,
            phases: CommitPhases::default(),
            store: Duration::ZERO,
        }
        .emit(&metrics);
        let text = metrics.render();
        for series in [
            "provisioner_events_consumed_total{type=\"hired\"} 2",
            "provisioner_events_consumed_total{type=\"invalid\"} 1",
            "provisioner_events_dead_lettered_total{reason=\"invalid_event\"} 1",
            "provisioner_events_dead_lettered_total{reason=\"unknown_app\"} 2",
            "provisioner_events_stale_total 1",
            "provisioner_commands_emitted_total{app=\"slack\",action=\"deprovision\"} 2",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
        assert!(
            !text.contains("type=\"left\""),
            "no zero series created: {text}"
        );
    }

    #[test]
    fn rules_events_count_reloads_and_swap_the_version() {
        let metrics = Metrics::new();
        RulesApplied {
            from: "sha256:a",
            to: "sha256:b",
        }
        .emit(&metrics);
        RulesRefused {
            version: "sha256:b",
            problems: "x.yaml: line 1",
        }
        .emit(&metrics);
        RulesRefused {
            version: "sha256:b",
            problems: "x.yaml: line 1",
        }
        .emit(&metrics);
        let text = metrics.render();
        assert!(
            text.contains("provisioner_rules_reloads_total{result=\"applied\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("provisioner_rules_reloads_total{result=\"refused\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("provisioner_rules_version_info{version=\"sha256:b\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn an_isolated_record_is_consumed_and_dead_lettered_as_retries_exhausted() {
        let metrics = Metrics::new();
        let error = KafkaError::Canceled;
        RecordIsolated {
            partition: 0,
            offset: 7,
            kind: Consumed::Left,
            error: &error,
        }
        .emit(&metrics);
        let text = metrics.render();
        assert!(
            text.contains("provisioner_events_consumed_total{type=\"left\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("provisioner_events_dead_lettered_total{reason=\"retries_exhausted\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_command_topic_gauge_follows_what_was_seen() {
        let metrics = Metrics::new();
        let seen = |was_missing, missing| CommandTopicSeen {
            app: "jira",
            topic: "provisioning.commands.jira",
            was_missing,
            missing,
        };
        seen(false, true).emit(&metrics);
        assert!(metrics
            .render()
            .contains("provisioner_command_topic_missing{app=\"jira\"} 1"));
        seen(true, false).emit(&metrics);
        assert!(metrics
            .render()
            .contains("provisioner_command_topic_missing{app=\"jira\"} 0"));
    }
}
