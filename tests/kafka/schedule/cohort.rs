//! A cohort whose contracts all end at one instant: its timers fire in
//! batches behind the guard, which lets the threshold through and holds the
//! rest for an operator.

use std::time::Duration;

use chrono::Utc;
use provisioner::engine::control;

use super::*;

/// One app per employee, so one leaver is one deprovision.
const OPS: &str = r#"
- name: Ops
  target: { field: team, op: is, value: Ops }
  apps:
    slack: { provisioning: true, role: member }
"#;

const COHORT: usize = 10_000;
const THRESHOLD: u64 = 50;

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_timers_due_at_one_instant_are_held_past_the_threshold() {
    let mut config = config(3);
    config.safety.max_deprovisions = THRESHOLD;
    config.safety.max_deprovision_ratio = 1.0;
    config.safety.window = Duration::from_secs(3600);
    config.engine.batch_max = Duration::from_millis(20);
    let engine = RunningEngine::start(&config, rules(OPS, &config.apps));
    let metrics = engine.metrics.clone();

    let end = ahead(30);
    let hires: Vec<(String, Vec<u8>)> = (0..COHORT)
        .map(|i| hire(&format!("C{i:05}"), "Ops", Some(end)))
        .collect();
    process(&config, &hires, COHORT as i64).await;
    let committed_at = Utc::now();
    assert!(
        committed_at < end,
        "premise: the cohort was hired before its end ({committed_at} >= {end})"
    );
    wait_until("every timer is pending", || {
        series(&metrics, "provisioner_timers_pending") == COHORT as f64
    })
    .await;
    assert_eq!(series(&metrics, "provisioner_timers_fired_total"), 0.0);

    wait_past(end).await;
    wait_until("every timer fired", || {
        series(&metrics, "provisioner_timers_fired_total") == COHORT as f64
    })
    .await;
    let held = COHORT as u64 - THRESHOLD;
    let emitted = deprovisions(&config, &["slack"]).await;
    assert_eq!(emitted.len() as u64, THRESHOLD, "deprovisions emitted");
    for c in &emitted {
        assert_eq!(c["cause"]["event_type"], SCHEDULE_DUE, "{c}");
    }
    assert_eq!(
        series(&metrics, "provisioner_deprovisions_held{app=\"slack\"}"),
        held as f64
    );
    let listed = control::list_held(&config).expect("held list");
    assert_eq!(listed.len() as u64, held, "held list");
    wait_until("no timer is pending", || {
        series(&metrics, "provisioner_timers_pending") == 0.0
    })
    .await;
    assert_eq!(
        series(&metrics, "provisioner_timer_delay_seconds_count"),
        COHORT as f64
    );
    println!(
        "{COHORT} timers fired, mean delay from due to commit {:.3} s",
        metric(
            &engine.metrics.render(),
            "provisioner_timer_delay_seconds_sum"
        )
        .map_or(0.0, |sum| sum / COHORT as f64)
    );
    engine.stop().await;
    delete_topics(&config, &[]).await;
}
