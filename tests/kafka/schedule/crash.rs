//! Timers are exactly once whatever happens to the engine around their due
//! moment: kill -9 before, during and after the firing, or a rebalance that
//! moves their partitions to another instance.

use chrono::Utc;

use super::*;

/// A configuration whose guard stays out of the way (exactly-once is about
/// every decision) and whose timers fire in small rounds, so a kill can
/// land between them.
fn crash_config(partitions: i32) -> Config {
    let mut config = config(partitions);
    config.engine.batch_max_records = 20;
    config.safety.max_deprovisions = 1_000_000;
    config.safety.max_deprovision_ratio = 1.0;
    config
}

/// Development hires of `ids`, each leaving at `end`.
fn leaving_at(ids: &[String], end: chrono::DateTime<Utc>) -> Vec<(String, Vec<u8>)> {
    ids.iter()
        .map(|id| hire(id, "Development", Some(end)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_around_the_due_moment_deprovisions_each_exactly_once() {
    const EMPLOYEES: usize = 300;
    let mut config = crash_config(3);
    let dir = rules_dir(&mut config, RULES);
    let path = write_config(&config, dir.path());
    let log = dir.path().join("engine.log");
    let ids: Vec<String> = (0..EMPLOYEES).map(|i| format!("K{i:03}")).collect();
    let fired = || log_lines_with(&log, "Timers fired.");

    create_topics(&config).await;
    let mut engine = EngineProcess::spawn(&path, "timers", &log);
    let end = ahead(12);
    process(&config, &leaving_at(&ids, end), EMPLOYEES as i64).await;

    // 1: before the due moment, every timer set and none fired.
    let killed_at = Utc::now();
    assert!(
        killed_at < end,
        "premise: the hires were committed before their end ({killed_at} >= {end})"
    );
    engine.kill9();
    assert_eq!(fired(), 0, "a timer fired before its instant");
    engine = EngineProcess::spawn(&path, "timers", &log);

    // 2: as soon as the first round of firings has committed.
    wait_past(end).await;
    wait_until("a first round of timers fired", || fired() >= 1).await;
    engine.kill9();
    let partial = deprovisions(&config, &DEV_APPS).await.len();
    println!("killed after {partial} of {} deprovisions", 2 * EMPLOYEES);
    engine = EngineProcess::spawn(&path, "timers", &log);

    // 3: after every timer fired.
    wait_deprovisions(&config, &DEV_APPS, 2 * EMPLOYEES).await;
    engine.kill9();
    let rounds = fired();
    engine = EngineProcess::spawn(&path, "timers", &log);
    // The restarted engine fires due timers at the start of each turn,
    // before it reads input: once it has processed a later event, any timer
    // it found due again has fired.
    let marker = hire("M0", "Development", None);
    process(&config, &[marker], EMPLOYEES as i64 + 1).await;
    engine.terminate().await;

    assert_eq!(fired(), rounds, "timers fired again after the last restart");
    assert_one_deprovision_each(&config, &DEV_APPS, &ids);
    delete_topics(&config, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timers_move_with_their_partitions_to_the_surviving_instance() {
    const EMPLOYEES: usize = 40;
    let mut config = crash_config(4);
    // Detect the stopped static member quickly (the broker's minimum is 6 s).
    config
        .kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    let servers = config.kafka.bootstrap_servers.clone();
    let instance = |name: &str| {
        let mut c = config.clone();
        c.engine.instance_id = Some(name.into());
        c
    };
    let a = RunningEngine::start(&instance("a"), rules(RULES, &config.apps));
    let b = RunningEngine::start(&instance("b"), rules(RULES, &config.apps));
    let (a_metrics, b_metrics) = (a.metrics.clone(), b.metrics.clone());
    wait_until("both instances are in the group", || {
        group_members(&servers, &config.kafka.group_id) == 2
    })
    .await;

    let ids: Vec<String> = (0..EMPLOYEES).map(|i| format!("R{i:02}")).collect();
    let end = ahead(15);
    process(&config, &leaving_at(&ids, end), EMPLOYEES as i64).await;
    let pending =
        |m: &std::sync::Arc<provisioner::metrics::Metrics>| series(m, "provisioner_timers_pending");
    wait_until(
        "each instance holds some of the timers, all of them together",
        || {
            let (a, b) = (pending(&a_metrics), pending(&b_metrics));
            a > 0.0 && b > 0.0 && a + b == EMPLOYEES as f64
        },
    )
    .await;
    let a_held = pending(&a_metrics);

    a.stop().await;
    let stopped_at = Utc::now();
    assert!(
        stopped_at < end,
        "premise: the instance stopped before the timers were due ({stopped_at} >= {end})"
    );
    wait_deprovisions(&config, &DEV_APPS, 2 * EMPLOYEES).await;
    wait_until("the survivor counts every firing", || {
        series(&b_metrics, "provisioner_timers_fired_total") == EMPLOYEES as f64
    })
    .await;
    assert_eq!(
        series(&a_metrics, "provisioner_timers_fired_total"),
        0.0,
        "the stopped instance fired {a_held} timers it held"
    );
    assert_eq!(pending(&b_metrics), 0.0);
    assert_one_deprovision_each(&config, &DEV_APPS, &ids);
    b.stop().await;
    delete_topics(&config, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_paused_past_its_session_fires_none_of_the_timers_it_lost() {
    const EMPLOYEES: usize = 40;
    let mut config = crash_config(2);
    config
        .kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    let dir = rules_dir(&mut config, RULES);
    let path = write_config(&config, dir.path());
    let (a_log, b_log) = (dir.path().join("a.log"), dir.path().join("b.log"));
    create_topics(&config).await;
    let a = EngineProcess::spawn(&path, "a", &a_log);
    let b = EngineProcess::spawn(&path, "b", &b_log);
    wait_until("both instances own partitions", || {
        log_lines_with(&a_log, "Engine ready") > 0 && log_lines_with(&b_log, "Engine ready") > 0
    })
    .await;

    let ids: Vec<String> = (0..EMPLOYEES).map(|i| format!("P{i:02}")).collect();
    let end = ahead(8);
    process(&config, &leaving_at(&ids, end), EMPLOYEES as i64).await;
    // The log line follows the commit the offsets show: wait for it.
    wait_until("both instances hold some of the timers", || {
        log_lines_with(&a_log, "Batch committed.") > 0
            && log_lines_with(&b_log, "Batch committed.") > 0
    })
    .await;
    // A freezes (a long GC pause, a stopped VM) before the timers are due;
    // its session expires and B takes its partition and fires its timers.
    a.signal("STOP");
    let paused_at = Utc::now();
    assert!(paused_at < end, "premise: paused before the instant");
    wait_deprovisions(&config, &DEV_APPS, 2 * EMPLOYEES).await;
    // A wakes up with its old partition's timers due: it must not fire them.
    a.signal("CONT");
    wait_until("the woken instance gives up its old partitions", || {
        log_lines_with(&a_log, "Partitions revoked.") > 0
    })
    .await;
    let marker = hire("M0", "Development", None);
    process(&config, &[marker], EMPLOYEES as i64 + 1).await;
    a.terminate().await;
    b.terminate().await;

    assert_one_deprovision_each(&config, &DEV_APPS, &ids);
    delete_topics(&config, &[]).await;
}
