//! `/metrics` of a real engine and a real connector after real traffic:
//! every CONTRACT §8 series with its type, values that match what was sent, and
//! every series the dashboard and the alerts use.

use serde_json::json;

use crate::env::*;
use crate::fake_app::*;

/// CONTRACT §8 by process, with the type each must have (counters without
/// `_total`, as OpenMetrics names the family). `provisioner_replayed` is
/// counted by `provisioner replay`, which serves no endpoint;
/// `provisioner_app_paused` and the reconciliation series (the connector's
/// periodic mode) are our additions.
const ENGINE_SERIES: &[(&str, &str)] = &[
    ("provisioner_events_consumed", "counter"),
    ("provisioner_events_dead_lettered", "counter"),
    ("provisioner_events_stale", "counter"),
    ("provisioner_commands_emitted", "counter"),
    ("provisioner_deprovisions_held", "gauge"),
    ("provisioner_rules_version_info", "gauge"),
    ("provisioner_rules_published_timestamp_seconds", "gauge"),
    ("provisioner_rules_reloads", "counter"),
    ("provisioner_event_processing_seconds", "histogram"),
    ("provisioner_consumer_lag", "gauge"),
    ("provisioner_timers_pending", "gauge"),
    ("provisioner_timers_fired", "counter"),
    ("provisioner_timer_delay_seconds", "histogram"),
];
const CONNECTOR_SERIES: &[(&str, &str)] = &[
    ("provisioner_connector_requests", "counter"),
    ("provisioner_connector_request_seconds", "histogram"),
    ("provisioner_connector_retries", "counter"),
    ("provisioner_commands_dead_lettered", "counter"),
    ("provisioner_consumer_lag", "gauge"),
    ("provisioner_app_paused", "gauge"),
    ("provisioner_reconcile_accounts", "gauge"),
    (
        "provisioner_reconcile_last_success_timestamp_seconds",
        "gauge",
    ),
];

async fn ready(process: &Process) {
    wait_for("/readyz says 200", || async {
        (process.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
}

/// Scrapes until `series` has `value`; returns the whole scrape.
async fn scrape_until(process: &Process, series: &str, value: f64) -> String {
    wait_for(&format!("{series} = {value}"), || async {
        let (_, text) = process.get("/metrics").await;
        (metric(&text, series) == Some(value)).then_some(text)
    })
    .await
}

fn exact(text: &str, series: &str, value: f64) {
    assert_eq!(metric(text, series), Some(value), "{series} in:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spec_series_is_served_with_real_values() {
    let servers = bootstrap();
    let app = FakeApp::start().await;
    app.fail_next("crm", 1);
    let setup = Setup::new(&servers, &app.url, "");
    let engine = setup.spawn(&["engine"], &[]);
    ready(&engine).await;
    let connector = setup.spawn(&["connector", "--all"], &[]);
    ready(&connector).await;

    let mut records: Vec<(&str, Vec<u8>)> = vec![
        (
            "E1",
            event("e1", "hired", 1, hire("E1", "Ann", "One", "Development")),
        ),
        (
            "E2",
            event("e2", "hired", 1, hire("E2", "Bob", "Two", "Development")),
        ),
        (
            "E3",
            event("e3", "hired", 1, hire("E3", "Cat", "Three", "Development")),
        ),
        (
            "E4",
            event("e4", "hired", 1, hire("E4", "Dan", "Four", "Support")),
        ),
        (
            "E5",
            event("e5", "hired", 1, hire("E5", "Eve", "Five", "Support")),
        ),
    ];
    // A change no rule looks at (no command), a stale event, a poison record.
    records.push((
        "E1",
        event("e6", "changed", 2, json!({"id": "E1", "location": "Rome"})),
    ));
    records.push((
        "E2",
        event("e7", "changed", 1, json!({"id": "E2", "team": "Support"})),
    ));
    records.push(("E3", b"{not json".to_vec()));
    produce(&servers, &[], &setup.topic("events"), &records).await;
    // A record on a command topic that is not a command: dead-lettered.
    produce(
        &servers,
        &[],
        &setup.topic("commands.crm"),
        &[("E9", b"?".to_vec())],
    )
    .await;

    let e = scrape_until(
        &engine,
        "provisioner_events_consumed_total{type=\"hired\"}",
        5.0,
    )
    .await;
    let e = if metric(&e, "provisioner_events_consumed_total{type=\"invalid\"}") == Some(1.0) {
        e
    } else {
        scrape_until(
            &engine,
            "provisioner_events_consumed_total{type=\"invalid\"}",
            1.0,
        )
        .await
    };
    exact(
        &e,
        "provisioner_events_consumed_total{type=\"changed\"}",
        2.0,
    );
    exact(
        &e,
        "provisioner_events_dead_lettered_total{reason=\"invalid_event\"}",
        1.0,
    );
    exact(&e, "provisioner_events_stale_total", 1.0);
    exact(
        &e,
        "provisioner_commands_emitted_total{app=\"wiki\",action=\"upsert\"}",
        5.0,
    );
    exact(
        &e,
        "provisioner_commands_emitted_total{app=\"crm\",action=\"upsert\"}",
        2.0,
    );
    exact(&e, "provisioner_deprovisions_held{app=\"wiki\"}", 0.0);
    exact(&e, "provisioner_event_processing_seconds_count", 7.0);
    let (_, body) = engine.get("/readyz").await;
    let readyz: serde_json::Value = serde_json::from_str(&body).expect("readyz json");
    let version = readyz["details"]["rules_version"]
        .as_str()
        .expect("version");
    exact(
        &e,
        &format!("provisioner_rules_version_info{{version=\"{version}\"}}"),
        1.0,
    );
    for p in 0..2 {
        let lag = format!(
            "provisioner_consumer_lag{{topic=\"{}\",partition=\"{p}\"}}",
            setup.topic("events")
        );
        scrape_until(&engine, &lag, 0.0).await;
    }

    let c = scrape_until(
        &connector,
        "provisioner_connector_requests_total{app=\"wiki\",outcome=\"applied\"}",
        5.0,
    )
    .await;
    let c = if metric(
        &c,
        "provisioner_connector_requests_total{app=\"crm\",outcome=\"applied\"}",
    ) == Some(2.0)
    {
        c
    } else {
        scrape_until(
            &connector,
            "provisioner_connector_requests_total{app=\"crm\",outcome=\"applied\"}",
            2.0,
        )
        .await
    };
    let c = if metric(
        &c,
        "provisioner_commands_dead_lettered_total{app=\"crm\",kind=\"permanent\"}",
    ) == Some(1.0)
    {
        c
    } else {
        scrape_until(
            &connector,
            "provisioner_commands_dead_lettered_total{app=\"crm\",kind=\"permanent\"}",
            1.0,
        )
        .await
    };
    // The directory's periodic reconciliation: its one account is an orphan.
    let orphans = "provisioner_reconcile_accounts{app=\"dir\",situation=\"orphan\"}";
    let c = match metric(&c, orphans) {
        Some(1.0) => c,
        _ => scrape_until(&connector, orphans, 1.0).await,
    };
    assert!(
        metric(
            &c,
            "provisioner_reconcile_last_success_timestamp_seconds{app=\"dir\"}"
        )
        .is_some_and(|t| t > 1.7e9),
        "{c}"
    );
    assert_eq!(
        (app.posts("wiki"), app.posts("crm")),
        (5, 3),
        "one crm call failed once"
    );
    exact(
        &c,
        "provisioner_connector_requests_total{app=\"crm\",outcome=\"dead_lettered\"}",
        1.0,
    );
    exact(
        &c,
        "provisioner_connector_request_seconds_count{app=\"wiki\"}",
        5.0,
    );
    exact(
        &c,
        "provisioner_connector_request_seconds_count{app=\"crm\"}",
        3.0,
    );
    exact(&c, "provisioner_connector_retries_total{app=\"crm\"}", 1.0);
    exact(&c, "provisioner_app_paused{app=\"wiki\"}", 0.0);
    for app_name in ["wiki", "crm"] {
        // Written in transactions: the commit markers must not count as lag.
        let topic = setup.topic(&format!("commands.{app_name}"));
        for p in 0..2 {
            let lag = format!("provisioner_consumer_lag{{topic=\"{topic}\",partition=\"{p}\"}}");
            scrape_until(&connector, &lag, 0.0).await;
        }
    }

    // Rules reloads: an invalid change is refused, a valid one applied.
    let rules = setup.rules_dir().join("rules.yaml");
    std::fs::write(
        &rules,
        "- name: Broken\n  target: { field: team, op: frobs, value: x }\n  apps: {}\n",
    )
    .expect("write rules");
    scrape_until(
        &engine,
        "provisioner_rules_reloads_total{result=\"refused\"}",
        1.0,
    )
    .await;
    std::fs::write(&rules, RULES.replace("Dev Team", "Developers")).expect("write rules");
    let e = scrape_until(
        &engine,
        "provisioner_rules_reloads_total{result=\"applied\"}",
        1.0,
    )
    .await;
    assert!(
        !e.contains(version),
        "the old version's series is gone:\n{e}"
    );

    let (status, content_type) = {
        let response = reqwest::get(format!("http://{}/metrics", engine.addr))
            .await
            .expect("get");
        let ct = response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_string();
        (response.status().as_u16(), ct)
    };
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for (text, series) in [(&e, ENGINE_SERIES), (&c, CONNECTOR_SERIES)] {
        for (name, kind) in series {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} {kind}:\n{text}"
            );
        }
        assert!(
            text.trim_end().ends_with("# EOF"),
            "OpenMetrics ends with # EOF"
        );
    }
    assert_eq!(engine.get("/healthz").await.0, 200);

    // Every series the dashboard and the alerts use exists in a real scrape.
    let scraped = format!("{e}\n{c}");
    for file in [
        "deploy/grafana/provisioner.json",
        "deploy/prometheus/alerts.yml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).expect(file);
        let names = crate::deploy::metric_names(&text);
        assert!(names.len() >= 6, "{file} uses {names:?}");
        for name in names {
            assert!(
                crate::deploy::scraped(&scraped, &name),
                "{file} uses {name}, which no scrape serves"
            );
        }
    }
    connector.stop();
    engine.stop();
}
