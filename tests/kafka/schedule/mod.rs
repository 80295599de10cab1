//! Effective dating on a real broker: timers set by future end dates fire
//! on time, exactly once across kill -9, after a stop, on the instance a
//! rebalance moves them to, and behind the guard when a whole cohort ends
//! at one instant.
//!
//! End dates here are RFC 3339 instants a few seconds ahead, so the tests
//! wait on the clock; every wait polls for its condition under the shared
//! deadline, and each test first checks that its premise held (e.g. that
//! the events were committed before the instant), failing loudly if the
//! machine was too slow for it rather than asserting something else.

mod cohort;
mod crash;
mod timing;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use provisioner::config::Config;
use serde_json::json;

use crate::harness::*;

/// `cause.event_type` of a command issued because a date took effect.
const SCHEDULE_DUE: &str = "provisioner.schedule.due";

/// The apps every Development employee gets under [`RULES`].
const DEV_APPS: [&str; 2] = ["slack", "zendesk"];

/// An instant `secs` from now, in whole seconds.
fn ahead(secs: i64) -> DateTime<Utc> {
    (Utc::now() + chrono::Duration::seconds(secs)).trunc_subsecs(0)
}

/// An instant as HR writes it: RFC 3339, UTC.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A hire into `team`, leaving at `end` when given (a fixed-term contract).
fn hire(id: &str, team: &str, end: Option<DateTime<Utc>>) -> (String, Vec<u8>) {
    let mut employee = json!({
        "id": id, "email": format!("{id}@acme.test"), "first_name": "T",
        "last_name": id, "team": team
    });
    if let Some(end) = end {
        employee["end_date"] = json!(rfc3339(end));
    }
    (
        id.into(),
        event(&format!("hire-{id}"), "hired", 1, employee),
    )
}

/// A `left` (sequence 2) whose leave takes effect at `end`.
fn leave(id: &str, end: DateTime<Utc>) -> (String, Vec<u8>) {
    let employee = json!({"id": id, "end_date": rfc3339(end)});
    (id.into(), event(&format!("left-{id}"), "left", 2, employee))
}

/// Produces `(employee id, event)` records keyed by the employee id.
async fn produce_keyed(config: &Config, events: &[(String, Vec<u8>)]) {
    let records: Vec<(Option<&str>, Vec<u8>)> = events
        .iter()
        .map(|(k, v)| (Some(k.as_str()), v.clone()))
        .collect();
    produce(
        &config.kafka.bootstrap_servers,
        &config.topics.events,
        &records,
    )
    .await;
}

/// Produces `events` and waits until the engine has committed `total`
/// events of the topic (those before included).
async fn process(config: &Config, events: &[(String, Vec<u8>)], total: i64) {
    produce_keyed(config, events).await;
    let servers = &config.kafka.bootstrap_servers;
    wait_committed(
        servers,
        &config.kafka.group_id,
        &config.topics.events,
        total,
    )
    .await;
}

/// The committed deprovision commands of `apps` right now.
async fn deprovisions(config: &Config, apps: &[&str]) -> Vec<serde_json::Value> {
    let config = config.clone();
    let apps: Vec<String> = apps.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        apps.iter()
            .flat_map(|app| commands_of(&config.kafka.bootstrap_servers, &config, app))
            .filter(|c| c["action"] == "deprovision")
            .collect()
    })
    .await
    .expect("reader")
}

/// Waits until `apps` hold at least `count` deprovisions; returns them.
async fn wait_deprovisions(config: &Config, apps: &[&str], count: usize) -> Vec<serde_json::Value> {
    wait_for(&format!("{count} deprovisions are committed"), || async {
        let found = deprovisions(config, apps).await;
        (found.len() >= count).then_some(found)
    })
    .await
}

/// Waits until the clock has passed `t`.
async fn wait_past(t: DateTime<Utc>) {
    wait_until(&format!("the clock passes {t}"), || Utc::now() > t).await;
}

/// One series of an in-process engine's metrics; absent is a failure.
fn series(engine: &std::sync::Arc<provisioner::metrics::Metrics>, name: &str) -> f64 {
    metric(&engine.render(), name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// When a command was issued.
fn issued_at(command: &serde_json::Value) -> DateTime<Utc> {
    let text = command["issued_at"].as_str().expect("issued_at");
    DateTime::parse_from_rfc3339(text)
        .expect("issued_at is RFC 3339")
        .with_timezone(&Utc)
}

/// The command topics of `apps` hold exactly one deprovision for each of
/// `ids`, issued by a scheduled transition of their `end_date`, and no
/// command id twice.
fn assert_one_deprovision_each(config: &Config, apps: &[&str], ids: &[String]) {
    let servers = &config.kafka.bootstrap_servers;
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    for app in apps {
        let commands = commands_of(servers, config, app);
        let mut seen = std::collections::BTreeSet::new();
        for c in &commands {
            let id = c["command_id"].as_str().expect("command_id");
            assert!(seen.insert(id.to_string()), "command {id} emitted twice");
        }
        let mut got: Vec<&str> = commands
            .iter()
            .filter(|c| c["action"] == "deprovision")
            .inspect(|c| {
                assert_eq!(c["cause"]["event_type"], SCHEDULE_DUE, "{c}");
                assert_eq!(c["cause"]["effective"]["field"], "end_date", "{c}");
            })
            .map(|c| c["employee_id"].as_str().expect("employee_id"))
            .collect();
        got.sort_unstable();
        let missing: Vec<_> = want.iter().filter(|id| !got.contains(id)).take(5).collect();
        assert!(
            got.len() == want.len() && missing.is_empty(),
            "{app}: {} deprovisions for {} employees; missing {missing:?}",
            got.len(),
            want.len()
        );
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(
            unique.len(),
            got.len(),
            "{app}: an employee deprovisioned twice"
        );
    }
}
