//! A future leave takes effect at its instant, not before and not late,
//! whether the engine runs through it or is stopped across it.

use chrono::Utc;

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_future_leave_deprovisions_within_a_second_of_its_instant() {
    let config = config(2);
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let metrics = engine.metrics.clone();
    process(&config, &[hire("E1", "Development", None)], 1).await;
    assert_eq!(
        series(&metrics, "provisioner_timers_pending"),
        0.0,
        "a hire with no dates sets no timer"
    );

    let end = ahead(5);
    process(&config, &[leave("E1", end)], 2).await;
    wait_until("the leave's timer is counted as pending", || {
        series(&metrics, "provisioner_timers_pending") == 1.0
    })
    .await;
    let early = deprovisions(&config, &DEV_APPS).await;
    let read_at = Utc::now();
    assert!(
        read_at < end,
        "premise: the leave was committed and read before its instant ({read_at} >= {end})"
    );
    assert!(early.is_empty(), "deprovisioned before {end}: {early:?}");

    let commands = wait_deprovisions(&config, &DEV_APPS, 2).await;
    assert_eq!(commands.len(), 2, "{commands:?}");
    for c in &commands {
        let issued = issued_at(c);
        assert!(
            issued >= end && issued - end < chrono::Duration::seconds(1),
            "issued at {issued}, due at {end}: {c}"
        );
        assert_eq!(c["employee_id"], "E1");
        assert_eq!(c["generation"], 2, "{c}");
        assert_eq!(c["cause"]["event_type"], SCHEDULE_DUE, "{c}");
        assert_eq!(c["cause"]["effective"]["field"], "end_date", "{c}");
        assert_eq!(c["cause"]["effective"]["date"], rfc3339(end), "{c}");
        let at = c["cause"]["effective"]["at"]
            .as_str()
            .expect("effective.at");
        let at = chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
        assert_eq!(at, end, "{c}");
    }
    wait_until("the fired timer is no longer pending", || {
        series(&metrics, "provisioner_timers_pending") == 0.0
    })
    .await;
    assert_eq!(series(&metrics, "provisioner_timers_fired_total"), 1.0);
    assert_eq!(
        series(&metrics, "provisioner_timer_delay_seconds_count"),
        1.0
    );
    let delay = series(&metrics, "provisioner_timer_delay_seconds_sum");
    assert!(
        (0.0..1.0).contains(&delay),
        "committed {delay} s after it was due"
    );
    engine.stop().await;
    delete_topics(&config, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timer_due_while_no_engine_runs_fires_after_restart() {
    let config = config(2);
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let end = ahead(4);
    process(
        &config,
        &[hire("E1", "Development", None), leave("E1", end)],
        2,
    )
    .await;
    wait_until("the leave's timer is set", || {
        series(&engine.metrics, "provisioner_timers_pending") == 1.0
    })
    .await;
    engine.stop().await;
    let stopped_at = Utc::now();
    assert!(
        stopped_at < end,
        "premise: the engine stopped before the instant ({stopped_at} >= {end})"
    );

    wait_past(end).await;
    let early = deprovisions(&config, &DEV_APPS).await;
    assert!(early.is_empty(), "deprovisioned with no engine: {early:?}");

    let restarted_at = Utc::now();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let commands = wait_deprovisions(&config, &DEV_APPS, 2).await;
    for c in &commands {
        assert!(issued_at(c) >= restarted_at, "{c}");
        assert_eq!(c["cause"]["event_type"], SCHEDULE_DUE, "{c}");
        assert_eq!(c["cause"]["effective"]["field"], "end_date", "{c}");
    }
    assert_one_deprovision_each(&config, &DEV_APPS, &["E1".to_string()]);
    let metrics = &engine.metrics;
    wait_until("the restarted engine counts the firing", || {
        series(metrics, "provisioner_timers_fired_total") == 1.0
    })
    .await;
    let late = (restarted_at - end).as_seconds_f64();
    let delay = series(metrics, "provisioner_timer_delay_seconds_sum");
    assert!(
        delay >= late,
        "delay {delay} s, but it fired after {late} s"
    );
    engine.stop().await;
    delete_topics(&config, &[]).await;
}
