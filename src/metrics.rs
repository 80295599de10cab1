//! Prometheus metrics (CONTRACT §8), one registry per process.
//!
//! Names are the contract: dashboards and alerts are written against them.
//! `prometheus-client` appends `_total` to counters itself, so counters are
//! registered without it. Labels carry apps, actions, outcomes and reasons —
//! never an employee id, an e-mail or any other personal data.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

mod labels;
pub use labels::{Action, Consumed, DeadLetterKind, Outcome, ReloadResult, Situation};

/// A label set: (name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Every series of CONTRACT §8.
pub struct Metrics {
    registry: Registry,
    events_consumed: Family<Labels, Counter>,
    events_dead_lettered: Family<Labels, Counter>,
    events_stale: Counter,
    commands_emitted: Family<Labels, Counter>,
    deprovisions_held: Family<Labels, Gauge>,
    rules_version_info: Family<Labels, Gauge>,
    rules_published: Gauge,
    rules_reloads: Family<Labels, Counter>,
    event_processing: Histogram,
    consumer_lag: Family<Labels, Gauge>,
    connector_requests: Family<Labels, Counter>,
    connector_request_seconds: Family<Labels, Histogram>,
    connector_retries: Family<Labels, Counter>,
    commands_dead_lettered: Family<Labels, Counter>,
    replayed: Family<Labels, Counter>,
    app_paused: Family<Labels, Gauge>,
    command_topic_missing: Family<Labels, Gauge>,
    timers_pending: Gauge,
    timers_fired: Counter,
    timer_delay: Histogram,
    reconcile_accounts: Family<Labels, Gauge>,
    reconcile_last_success: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every series registered (and none yet observed).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            events_consumed: Family::default(),
            events_dead_lettered: Family::default(),
            events_stale: Counter::default(),
            commands_emitted: Family::default(),
            deprovisions_held: Family::default(),
            rules_version_info: Family::default(),
            rules_published: Gauge::default(),
            rules_reloads: Family::default(),
            // 100 µs .. ~6.5 s: one event is normally sub-millisecond.
            event_processing: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            consumer_lag: Family::default(),
            connector_requests: Family::default(),
            connector_request_seconds: Family::new_with_constructor(|| {
                // 5 ms .. ~41 s: SaaS APIs answer in tens to thousands of ms.
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
            connector_retries: Family::default(),
            commands_dead_lettered: Family::default(),
            replayed: Family::default(),
            app_paused: Family::default(),
            command_topic_missing: Family::default(),
            timers_pending: Gauge::default(),
            timers_fired: Counter::default(),
            // 1 ms .. ~131 s; a timer that fell due while no engine ran
            // lands in +Inf.
            timer_delay: Histogram::new(exponential_buckets(0.001, 2.0, 18)),
            reconcile_accounts: Family::default(),
            reconcile_last_success: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "provisioner_events_consumed",
            "HR events consumed, by type",
            m.events_consumed.clone(),
        );
        registry.register(
            "provisioner_events_dead_lettered",
            "HR event records sent to the events dead-letter topic, by reason",
            m.events_dead_lettered.clone(),
        );
        registry.register(
            "provisioner_timers_pending",
            "Employees of this instance with a date still to take effect (a timer set)",
            m.timers_pending.clone(),
        );
        registry.register(
            "provisioner_timers_fired",
            "Timers fired: employees re-evaluated because a date took effect",
            m.timers_fired.clone(),
        );
        registry.register(
            "provisioner_timer_delay_seconds",
            "Time from a timer's due instant to the commit of its firing",
            m.timer_delay.clone(),
        );
        registry.register(
            "provisioner_events_stale",
            "HR events ignored because they were not newer than the last one applied",
            m.events_stale.clone(),
        );
        registry.register(
            "provisioner_commands_emitted",
            "Provisioning commands emitted, by app and action",
            m.commands_emitted.clone(),
        );
        registry.register(
            "provisioner_deprovisions_held",
            "Deprovisions held by the mass-deprovision guard, by app",
            m.deprovisions_held.clone(),
        );
        registry.register(
            "provisioner_rules_version_info",
            "The rules version in force (value 1)",
            m.rules_version_info.clone(),
        );
        registry.register(
            "provisioner_rules_published_timestamp_seconds",
            "When the rules version in force was published to the rules store (Unix seconds; 0 with rules.source = dir)",
            m.rules_published.clone(),
        );
        registry.register(
            "provisioner_rules_reloads",
            "Rules reloads, by result (applied or refused)",
            m.rules_reloads.clone(),
        );
        registry.register(
            "provisioner_event_processing_seconds",
            "Time to decide one HR event",
            m.event_processing.clone(),
        );
        registry.register(
            "provisioner_consumer_lag",
            "Records between the consumer group's position and the high watermark",
            m.consumer_lag.clone(),
        );
        registry.register(
            "provisioner_connector_requests",
            "Commands handled by connectors, by app and outcome",
            m.connector_requests.clone(),
        );
        registry.register(
            "provisioner_connector_request_seconds",
            "Duration of one call to an app's API",
            m.connector_request_seconds.clone(),
        );
        registry.register(
            "provisioner_connector_retries",
            "Retried calls to an app's API",
            m.connector_retries.clone(),
        );
        registry.register(
            "provisioner_commands_dead_lettered",
            "Commands sent to the commands dead-letter topic, by app and error kind",
            m.commands_dead_lettered.clone(),
        );
        registry.register(
            "provisioner_replayed",
            "Dead-lettered records re-published by replay, by destination topic",
            m.replayed.clone(),
        );
        // An addition to CONTRACT §8's original list, so alerts can tell "app down" from "slow".
        registry.register(
            "provisioner_app_paused",
            "1 while a connector has paused an app's commands because the app looks down",
            m.app_paused.clone(),
        );
        // Also an addition (CONTRACT §8): why events go to the DLQ as `unknown_app`.
        registry.register(
            "provisioner_command_topic_missing",
            "1 while an app in the catalogue has no command topic on the broker",
            m.command_topic_missing.clone(),
        );
        // Additions of #13 (CONTRACT §8): reconciliation's last complete run.
        registry.register(
            "provisioner_reconcile_accounts",
            "Accounts (and missing ones) per situation in an app's last complete reconciliation",
            m.reconcile_accounts.clone(),
        );
        registry.register(
            "provisioner_reconcile_last_success_timestamp_seconds",
            "When an app's last complete reconciliation finished (Unix seconds)",
            m.reconcile_last_success.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Creates the engine's series at zero for every known label value, so
    /// they are scraped from the start and `rate()`/`increase()` see the
    /// first event, dead letter or refused reload (a series that appears
    /// with value 1 has no increase).
    pub fn init_engine<'a>(&self, apps: impl IntoIterator<Item = &'a String>) {
        for kind in Consumed::ALL {
            drop(
                self.events_consumed
                    .get_or_create(&labels([("type", kind.as_str())])),
            );
        }
        for reason in DeadLetterKind::EVENTS {
            drop(
                self.events_dead_lettered
                    .get_or_create(&labels([("reason", reason.as_str())])),
            );
        }
        for result in ReloadResult::ALL {
            drop(
                self.rules_reloads
                    .get_or_create(&labels([("result", result.as_str())])),
            );
        }
        for app in apps {
            for action in Action::ALL {
                drop(
                    self.commands_emitted
                        .get_or_create(&labels([("app", app), ("action", action.as_str())])),
                );
            }
            drop(
                self.deprovisions_held
                    .get_or_create(&labels([("app", app)])),
            );
            drop(
                self.command_topic_missing
                    .get_or_create(&labels([("app", app)])),
            );
        }
    }

    /// Creates one app's connector series at zero (see [`Metrics::init_engine`]).
    pub fn init_connector(&self, app: &str) {
        for outcome in Outcome::ALL {
            drop(
                self.connector_requests
                    .get_or_create(&labels([("app", app), ("outcome", outcome.as_str())])),
            );
        }
        for kind in DeadLetterKind::COMMANDS {
            drop(
                self.commands_dead_lettered
                    .get_or_create(&labels([("app", app), ("kind", kind.as_str())])),
            );
        }
        drop(
            self.connector_request_seconds
                .get_or_create(&labels([("app", app)])),
        );
        drop(
            self.connector_retries
                .get_or_create(&labels([("app", app)])),
        );
        drop(self.app_paused.get_or_create(&labels([("app", app)])));
    }

    /// The Prometheus/OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// HR event records consumed (counted when their transaction committed).
    pub fn events_consumed(&self, kind: Consumed, n: u64) {
        self.events_consumed
            .get_or_create(&labels([("type", kind.as_str())]))
            .inc_by(n);
    }

    /// HR event records dead-lettered (counted when their transaction
    /// committed).
    pub fn events_dead_lettered(&self, reason: DeadLetterKind, n: u64) {
        self.events_dead_lettered
            .get_or_create(&labels([("reason", reason.as_str())]))
            .inc_by(n);
    }

    /// Timers set among the employees this instance owns.
    pub fn set_timers_pending(&self, n: u64) {
        self.timers_pending
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts timers fired in a committed transaction.
    pub fn timers_fired(&self, n: u64) {
        self.timers_fired.inc_by(n);
    }

    /// Observes one timer's delay from due to fired.
    pub fn observe_timer_delay(&self, seconds: f64) {
        self.timer_delay.observe(seconds);
    }

    /// Stale events ignored.
    pub fn events_stale(&self, n: u64) {
        self.events_stale.inc_by(n);
    }

    /// Commands emitted (counted when their transaction committed).
    pub fn commands_emitted(&self, app: &str, action: Action, n: u64) {
        self.commands_emitted
            .get_or_create(&labels([("app", app), ("action", action.as_str())]))
            .inc_by(n);
    }

    /// The number of held deprovisions of an app.
    pub fn set_deprovisions_held(&self, app: &str, n: u64) {
        self.deprovisions_held
            .get_or_create(&labels([("app", app)]))
            .set(n as i64);
    }

    /// The rules version now in force; the previous one's series is removed.
    pub fn set_rules_version(&self, previous: Option<&str>, version: &str) {
        if let Some(previous) = previous {
            self.rules_version_info
                .remove(&labels([("version", previous)]));
        }
        self.rules_version_info
            .get_or_create(&labels([("version", version)]))
            .set(1);
    }

    /// When the rules in force were published (Unix seconds).
    pub fn set_rules_published(&self, at_seconds: i64) {
        self.rules_published.set(at_seconds);
    }

    /// A rules reload, applied or refused.
    pub fn rules_reload(&self, result: ReloadResult) {
        self.rules_reloads
            .get_or_create(&labels([("result", result.as_str())]))
            .inc();
    }

    /// Time spent deciding one event.
    pub fn observe_event_processing(&self, seconds: f64) {
        self.event_processing.observe(seconds);
    }

    /// Lag of one partition.
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .get_or_create(&labels([
                ("topic", topic),
                ("partition", &partition.to_string()),
            ]))
            .set(lag);
    }

    /// Forgets the lag of a partition this process no longer owns.
    pub fn remove_consumer_lag(&self, topic: &str, partition: i32) {
        self.consumer_lag.remove(&labels([
            ("topic", topic),
            ("partition", &partition.to_string()),
        ]));
    }

    /// A command handled by a connector, with its outcome.
    pub fn connector_request(&self, app: &str, outcome: Outcome) {
        self.connector_requests
            .get_or_create(&labels([("app", app), ("outcome", outcome.as_str())]))
            .inc();
    }

    /// Duration of one API call.
    pub fn observe_connector_request(&self, app: &str, seconds: f64) {
        self.connector_request_seconds
            .get_or_create(&labels([("app", app)]))
            .observe(seconds);
    }

    /// One retried API call.
    pub fn connector_retry(&self, app: &str) {
        self.connector_retries
            .get_or_create(&labels([("app", app)]))
            .inc();
    }

    /// One command dead-lettered.
    pub fn command_dead_lettered(&self, app: &str, kind: DeadLetterKind) {
        self.commands_dead_lettered
            .get_or_create(&labels([("app", app), ("kind", kind.as_str())]))
            .inc();
    }

    /// Whether an app's consumption is paused by an outage (1) or not (0).
    pub fn set_app_paused(&self, app: &str, paused: bool) {
        self.app_paused
            .get_or_create(&labels([("app", app)]))
            .set(i64::from(paused));
    }

    /// Whether an app's command topic is missing on the broker (1) or not (0).
    pub fn set_command_topic_missing(&self, app: &str, missing: bool) {
        self.command_topic_missing
            .get_or_create(&labels([("app", app)]))
            .set(i64::from(missing));
    }

    /// One app's complete reconciliation: how many accounts are in each
    /// situation (`counts`, every situation given, zeros included, so a
    /// situation that cleared reads 0 rather than its old value), finished
    /// at `finished_at` (Unix seconds). A partial scan is not reported here.
    pub fn reconciled(&self, app: &str, counts: &[(Situation, u64)], finished_at: i64) {
        for (situation, n) in counts {
            self.reconcile_accounts
                .get_or_create(&labels([("app", app), ("situation", situation.as_str())]))
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.reconcile_last_success
            .get_or_create(&labels([("app", app)]))
            .set(finished_at);
    }

    /// Records replayed to a topic.
    pub fn replayed(&self, topic: &str, n: u64) {
        self.replayed
            .get_or_create(&labels([("topic", topic)]))
            .inc_by(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_render() {
        let m = Metrics::new();
        m.events_consumed(Consumed::Hired, 2);
        m.events_stale(1);
        m.commands_emitted("zendesk", Action::Upsert, 3);
        m.set_rules_version(None, "sha256:a");
        m.set_rules_version(Some("sha256:a"), "sha256:b");
        let text = m.render();
        assert!(
            text.contains("provisioner_events_consumed_total{type=\"hired\"} 2"),
            "{text}"
        );
        assert!(text.contains("provisioner_events_stale_total 1"), "{text}");
        assert!(
            text.contains(
                "provisioner_commands_emitted_total{app=\"zendesk\",action=\"upsert\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("provisioner_rules_version_info{version=\"sha256:b\"} 1"));
        assert!(!text.contains("sha256:a"), "old version removed: {text}");
        assert!(text.contains("# TYPE provisioner_event_processing_seconds histogram"));
    }
}
