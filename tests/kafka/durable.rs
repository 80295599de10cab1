//! The durable engine on a real broker: state survives restarts, live rules
//! re-evaluate employees, and the guard holds mass deprovisions until an
//! operator decides.

use chrono::Utc;
use provisioner::engine::control::{self, ControlAction, ControlRequest};
use serde_json::json;

use crate::harness::*;

fn dev(id: &str) -> serde_json::Value {
    json!({"id": id, "email": format!("{id}@acme.test"), "first_name": "A", "last_name": id, "team": "Development"})
}

fn hires(ids: &[String]) -> Vec<(Option<&str>, Vec<u8>)> {
    ids.iter()
        .map(|id| {
            (
                Some(id.as_str()),
                event(&format!("evt-{id}"), "hired", 1, dev(id)),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_state() {
    let config = config(2);
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    produce(
        &servers,
        &config.topics.events,
        &[(Some("E1"), event("e1", "hired", 1, dev("E1")))],
    )
    .await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 1).await;
    engine.stop().await;

    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    produce(
        &servers,
        &config.topics.events,
        &[(
            Some("E1"),
            event("e2", "changed", 2, json!({"id": "E1", "team": "Support"})),
        )],
    )
    .await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 2).await;
    let zendesk = commands_of(&servers, &config, "zendesk");
    let got: Vec<_> = zendesk
        .iter()
        .map(|c| {
            (
                c["generation"].as_u64().unwrap(),
                c["action"].as_str().unwrap(),
                c["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(1, "upsert", "light_agent"), (2, "upsert", "agent")]
    );
    assert_eq!(
        commands_of(&servers, &config, "slack").len(),
        1,
        "slack unchanged: no fresh hire"
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn live_rules_change_emits_exactly_the_diff_and_invalid_change_is_refused() {
    let mut config = config(2);
    let dir = rules_dir(&mut config, RULES);
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(&config, rules(RULES, &config.apps));
    let ids: Vec<String> = (0..3).map(|i| format!("E{i}")).collect();
    let mut events = hires(&ids);
    events.push((
        Some("S1"),
        event(
            "s1",
            "hired",
            1,
            json!({"id": "S1", "email": "s@acme.test", "team": "Support"}),
        ),
    ));
    produce(&servers, &config.topics.events, &events).await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 4).await;
    assert_eq!(commands_of(&servers, &config, "zendesk").len(), 4);

    // Developers become full agents in Zendesk; Slack and Support unchanged.
    let new_rules = RULES.replacen("role: light_agent", "role: agent", 1);
    std::fs::write(dir.path().join("rules.yaml"), &new_rules).unwrap();
    wait_until("the new rules are applied", || {
        metric(
            &engine.metrics.render(),
            "provisioner_rules_reloads_total{result=\"applied\"}",
        ) == Some(1.0)
    })
    .await;
    wait_until("three role changes appear", || {
        commands_of(&servers, &config, "zendesk").len() >= 7
    })
    .await;
    let zendesk = commands_of(&servers, &config, "zendesk");
    assert_eq!(zendesk.len(), 7, "exactly the diff: {zendesk:?}");
    for c in &zendesk[..]
        .iter()
        .filter(|c| c["generation"] == 2)
        .collect::<Vec<_>>()
    {
        assert_eq!(c["role"], "agent");
        assert_eq!(c["cause"]["event_type"], "provisioner.rules.changed");
        assert!(c["employee_id"].as_str().unwrap().starts_with('E'));
    }
    assert_eq!(
        commands_of(&servers, &config, "slack").len(),
        4,
        "slack saw no change"
    );

    // An invalid change is refused whole: a new hire still gets the last good version.
    std::fs::write(dir.path().join("rules.yaml"), "name: [unclosed\n").unwrap();
    wait_until("the broken rules are refused", || {
        metric(
            &engine.metrics.render(),
            "provisioner_rules_reloads_total{result=\"refused\"}",
        ) == Some(1.0)
    })
    .await;
    let version = provisioner::rules::RuleSet::from_sources(
        &[("rules.yaml".into(), new_rules)],
        &config.apps,
    )
    .unwrap()
    .version()
    .to_string();
    assert_eq!(
        metric(
            &engine.metrics.render(),
            &format!("provisioner_rules_version_info{{version=\"{version}\"}}")
        ),
        Some(1.0)
    );
    produce(
        &servers,
        &config.topics.events,
        &[(Some("E9"), event("e9", "hired", 1, dev("E9")))],
    )
    .await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 5).await;
    let e9: Vec<_> = commands_of(&servers, &config, "zendesk")
        .into_iter()
        .filter(|c| c["employee_id"] == "E9")
        .collect();
    assert_eq!(e9.len(), 1);
    assert_eq!(e9[0]["role"], "agent");
    assert_eq!(e9[0]["cause"]["rules_version"], version.as_str());
    engine.stop().await;
}

/// Five developers hired, then a rules change removes every Dev grant:
/// ten deprovisions, over `max_deprovisions = 4`, are held.
async fn hold_ten(config: &mut provisioner::config::Config) -> (RunningEngine, tempfile::TempDir) {
    config.safety.max_deprovisions = 4;
    let dir = rules_dir(config, RULES);
    let servers = config.kafka.bootstrap_servers.clone();
    let engine = RunningEngine::start(config, rules(RULES, &config.apps));
    let ids: Vec<String> = (0..5).map(|i| format!("D{i}")).collect();
    produce(&servers, &config.topics.events, &hires(&ids)).await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 5).await;
    let without_dev = RULES.replace(
        "team, op: is, value: Development",
        "team, op: is, value: Nobody",
    );
    std::fs::write(dir.path().join("rules.yaml"), without_dev).unwrap();
    wait_until("ten deprovisions are held", || {
        let text = engine.metrics.render();
        metric(&text, "provisioner_deprovisions_held{app=\"slack\"}") == Some(5.0)
            && metric(&text, "provisioner_deprovisions_held{app=\"zendesk\"}") == Some(5.0)
    })
    .await;
    (engine, dir)
}

fn deprovisions(servers: &str, config: &provisioner::config::Config) -> usize {
    ["slack", "zendesk"]
        .iter()
        .flat_map(|app| commands_of(servers, config, app))
        .filter(|c| c["action"] == "deprovision")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn guard_holds_and_release_emits_once_even_after_a_restart() {
    let mut config = config(2);
    let servers = config.kafka.bootstrap_servers.clone();
    let (engine, _dir) = hold_ten(&mut config).await;
    assert_eq!(deprovisions(&servers, &config), 0, "held, not emitted");
    let listed = control::list_held(&config).unwrap();
    assert_eq!(listed.len(), 10);
    engine.stop().await;

    // Held decisions survive a restart (with the rules now in the directory).
    let current =
        || provisioner::rules::RuleSet::load_dir(&config.rules.path, &config.apps).unwrap();
    let engine = RunningEngine::start(&config, current());
    wait_until("held deprovisions restored", || {
        metric(
            &engine.metrics.render(),
            "provisioner_deprovisions_held{app=\"zendesk\"}",
        ) == Some(5.0)
    })
    .await;
    let request = ControlRequest {
        action: ControlAction::Release,
        hold_id: Some(listed[0].hold_id.clone()),
        requested_at: Utc::now(),
    };
    control::send(&config, &request).await.unwrap();
    wait_until("released", || deprovisions(&servers, &config) >= 10).await;
    wait_until("nothing held", || {
        metric(
            &engine.metrics.render(),
            "provisioner_deprovisions_held{app=\"zendesk\"}",
        ) == Some(0.0)
    })
    .await;
    // Releasing again, and restarting (which re-reads every request), emits nothing more.
    control::send(&config, &request).await.unwrap();
    engine.stop().await;
    let engine = RunningEngine::start(&config, current());
    produce(
        &servers,
        &config.topics.events,
        &[(Some("D9"), event("d9", "hired", 1, dev("D9")))],
    )
    .await;
    wait_committed(&servers, &config.kafka.group_id, &config.topics.events, 6).await;
    assert_eq!(
        deprovisions(&servers, &config),
        10,
        "each released deprovision exactly once"
    );
    assert!(control::list_held(&config).unwrap().is_empty());
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn discard_emits_nothing() {
    let mut config = config(1);
    let servers = config.kafka.bootstrap_servers.clone();
    let (engine, _dir) = hold_ten(&mut config).await;
    let request = ControlRequest {
        action: ControlAction::Discard,
        hold_id: None,
        requested_at: Utc::now(),
    };
    control::send(&config, &request).await.unwrap();
    wait_until("discarded", || {
        let text = engine.metrics.render();
        metric(&text, "provisioner_deprovisions_held{app=\"zendesk\"}") == Some(0.0)
            && metric(&text, "provisioner_deprovisions_held{app=\"slack\"}") == Some(0.0)
    })
    .await;
    assert!(control::list_held(&config).unwrap().is_empty());
    assert_eq!(deprovisions(&servers, &config), 0);
    engine.stop().await;
}
