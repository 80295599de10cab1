//! The log of a full run holds no personal data and no secret: the engine
//! and a connector process events full of names and e-mails — including
//! poison records with an e-mail in the body or the key, and an app that
//! repeats the account's name and address in its error — and the captured
//! JSON log is searched for every one of them.

use serde_json::{json, Value};

use crate::env::*;
use crate::fake_app::*;

/// Names no other test, library or log line would contain.
const PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("Z1", "Zephyrine", "Marrowby", "Development"),
    ("Q1", "Quillon", "Thistlewood", "Support"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_of_a_full_run_holds_no_personal_data_or_secret() {
    let servers = bootstrap();
    let app = FakeApp::start().await;
    app.refuse("crm");
    app.fail_next("wiki", 1);
    let setup = Setup::new(&servers, &app.url, "");
    // The engine first: it creates the topics the connector reads.
    // The per-command lines are `debug` (none per record at the default
    // level): turned on here, as an operator would, so they are checked too.
    let engine = setup.spawn(
        &["engine"],
        &[("RUST_LOG", "info,provisioner::engine::commands=debug")],
    );
    wait_for("engine ready", || async {
        (engine.get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let connector = setup.spawn(&["connector", "--all"], &[]);
    wait_for("connector ready", || async {
        (connector.get("/readyz").await.0 == 200).then_some(())
    })
    .await;

    let mut records: Vec<(&str, Vec<u8>)> = PEOPLE
        .iter()
        .map(|(id, first, last, team)| {
            (
                *id,
                event(&format!("ev-{id}"), "hired", 1, hire(id, first, last, team)),
            )
        })
        .collect();
    // A change of name and address, which every app sees.
    records.push((
        "Z1",
        event(
            "ev-Z1-2",
            "changed",
            2,
            json!({"id": "Z1", "last_name": "Marrowby-Quince",
            "email": "zephyrine.quince@acme.test"}),
        ),
    ));
    // Poison: a snapshot that is a string holding a name and an address, bytes
    // that are not JSON around an address, and an address as the record key.
    let bad = json!("Zephyrine Marrowby <zephyrine.marrowby@acme.test>");
    records.push(("Z1", event("ev-bad-1", "hired", 3, bad)));
    records.push((
        "Z1",
        b"{\"email\": \"zephyrine.marrowby@acme.test\", oops".to_vec(),
    ));
    records.push((
        "quillon.thistlewood@acme.test",
        event(
            "ev-bad-3",
            "hired",
            4,
            hire("Q1", "Quillon", "Thistlewood", "Support"),
        ),
    ));
    produce(&servers, &[], &setup.topic("events"), &records).await;

    // Z1: wiki upsert, then its change; Q1: wiki + crm (refused, dead-lettered).
    wait_for("every command handled", || async {
        let (_, text) = connector.get("/metrics").await;
        let wiki = metric(
            &text,
            "provisioner_connector_requests_total{app=\"wiki\",outcome=\"applied\"}",
        );
        let crm = metric(
            &text,
            "provisioner_commands_dead_lettered_total{app=\"crm\",kind=\"permanent\"}",
        );
        (wiki == Some(3.0) && crm == Some(1.0)).then_some(())
    })
    .await;
    wait_for("every event consumed", || async {
        let (_, text) = engine.get("/metrics").await;
        (metric(
            &text,
            "provisioner_events_dead_lettered_total{reason=\"invalid_event\"}",
        ) == Some(3.0))
        .then_some(())
    })
    .await;
    let log = format!("{}\n{}", connector.stop(), engine.stop());

    let email = regex::Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+").unwrap();
    let mut saw = (false, false, false);
    for line in log.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            !email.is_match(line),
            "an e-mail address in the log: {line}"
        );
        let lower = line.to_lowercase();
        for (_, first, last, _) in PEOPLE {
            assert!(
                !lower.contains(&first.to_lowercase()),
                "a first name in the log: {line}"
            );
            assert!(
                !lower.contains(&last.to_lowercase()),
                "a last name in the log: {line}"
            );
        }
        assert!(
            !line.contains(WIKI_SECRET),
            "the webhook secret in the log: {line}"
        );
        // The ids that make a log useful are there.
        saw.0 |= v["message"] == "Command emitted."
            && v["event_id"].is_string()
            && v["command_id"].is_string()
            && v["employee_id"].is_string();
        saw.1 |= v["span"]["name"] == "command"
            && v["span"]["command_id"].is_string()
            && v["span"]["app"].is_string();
        saw.2 |= v["message"] == "Invalid HR event dead-lettered." && v["span"]["name"] == "event";
    }
    assert!(saw.0, "no 'Command emitted.' line with ids:\n{log}");
    assert!(saw.1, "no line in a command span:\n{log}");
    assert!(
        saw.2,
        "no dead-lettered event line in an event span:\n{log}"
    );
    assert!(
        log.contains("***"),
        "the refusal and the poison key were logged, masked:\n{log}"
    );
}
