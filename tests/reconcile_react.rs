//! `provisioner reconcile`'s reactions on the real broker, a real
//! scim2-server and running engine and connector processes (CONTRACT §1,
//! §5, §6, §11): drifted and missing accounts re-asserted through the app's
//! command topic and fixed by the connector; orphans suspended up to the
//! guard, an ignored one never; `--dry-run` changing nothing; a re-assert
//! never undoing a newer command; a partial scan acting on nothing.
//!
//! Needs the broker (`deploy/local/kafka.sh up`, or `KAFKA_BOOTSTRAP_SERVERS`)
//! and the SCIM venv (`deploy/local/scim.sh install`); either missing fails
//! loudly.

use serde_json::{json, Value};

mod support;

use support::reconcile::{hire_all, json_lines, make_ada_admin, scim, text, user, values, Setup};
use support::{bootstrap, event, produce_with, wait_for, Process, ScimServer};

/// The reaction lines of a JSON run: `(reaction, done)`.
fn reactions(lines: &[Value]) -> Vec<(Value, String)> {
    lines
        .iter()
        .filter(|l| l.get("reaction").is_some())
        .map(|l| {
            let done = l["done"].as_str().expect("done").to_string();
            (l["reaction"].clone(), done)
        })
        .collect()
}

/// The server's user named `user_name`, if any.
async fn find(server: &ScimServer, user_name: &str) -> Option<Value> {
    let users = server.users().await;
    users.into_iter().find(|u| u["userName"] == user_name)
}

#[tokio::test(flavor = "multi_thread")]
async fn reactions_fix_drift_recreate_the_missing_and_suspend_orphans_up_to_the_guard() {
    let server = ScimServer::start().await;
    let setup = Setup::new(
        &bootstrap(),
        &server.base_url,
        "reconcile = { ignore = [\"svc-*\"], drifted = \"reapply\", missing = \"reapply\", \
         orphans = \"suspend\", max_suspensions = 2 }",
    );
    let engine = Process::spawn(&setup.config, &["engine"], &[]);
    let _connector = Process::spawn(&setup.config, &["connector", "--app", "slack"], &[]);
    hire_all(
        &setup,
        &server,
        &[
            ("E1", "Ada", "Lovelace"),
            ("E2", "Grace", "Hopper"),
            ("E3", "Linus", "Torvalds"),
        ],
    )
    .await;
    let leave = event(
        "leave-E2",
        "left",
        2,
        json!({"id": "E2", "end_date": "2026-01-31"}),
    );
    produce_with(
        &bootstrap(),
        &[],
        &setup.ns.topic("events"),
        &[(Some("E2"), leave)],
    )
    .await;
    wait_for("Grace suspended as a leaver", || async {
        let grace = find(&server, "grace.hopper@acme.test").await?;
        (grace["active"] == false).then_some(())
    })
    .await;
    engine.stop();

    // Behind provisioning's back: Ada made admin, Linus deleted, Grace
    // re-activated, two strangers and a service account created.
    make_ada_admin(&server).await;
    let linus = user(&server, "linus.torvalds@acme.test").await;
    let linus_url = format!(
        "{}/Users/{}",
        server.base_url,
        linus["id"].as_str().expect("id")
    );
    scim(reqwest::Method::DELETE, linus_url, None).await;
    let grace = user(&server, "grace.hopper@acme.test").await;
    scim(
        reqwest::Method::PATCH,
        format!(
            "{}/Users/{}",
            server.base_url,
            grace["id"].as_str().expect("id")
        ),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": true}],
        })),
    )
    .await;
    for name in ["mallory@acme.test", "trudy@acme.test", "svc-backup"] {
        server
            .create_user(json!({"userName": name, "active": true}))
            .await;
    }
    let commands_topic = setup.ns.topic("commands.slack");
    let commands_before = values(&commands_topic).len();

    // --dry-run: the plan, and nothing done.
    let dry = setup.reconcile(&["--app", "slack", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let table = text(&dry.stdout);
    for row in [
        "reapply drifted (generation 1)  ada.lovelace@acme.test    E1        planned (dry run)",
        "reapply missing (generation 1)  linus.torvalds@acme.test  E3        planned (dry run)",
        "suspend orphan (generation 2)   grace.hopper@acme.test    E2        planned (dry run)",
        "suspend orphan                  mallory@acme.test         -         planned (dry run)",
        "report orphan                   trudy@acme.test           -         reported: over the guard (max_suspensions)",
    ] {
        assert!(table.contains(row), "{row:?} in\n{table}");
    }
    assert_eq!(values(&commands_topic).len(), commands_before, "no command");
    let mallory = find(&server, "mallory@acme.test").await.expect("mallory");
    assert_eq!(mallory["active"], true, "no suspension");

    // The run: three re-asserts written, one stranger suspended by id, one
    // over the guard.
    let out = setup.reconcile(&["--app", "slack", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let done = reactions(&json_lines(&out));
    let expected = [
        (
            json!({"action": "reapply", "situation": "drifted", "employee_id": "E1",
            "generation": 1, "user_name": "ada.lovelace@acme.test"}),
            "command_written",
        ),
        (
            json!({"action": "reapply", "situation": "missing", "employee_id": "E3",
            "generation": 1, "user_name": "linus.torvalds@acme.test"}),
            "command_written",
        ),
    ];
    for (reaction, outcome) in &expected {
        assert!(
            done.iter().any(|(r, d)| r == reaction && d == outcome),
            "{reaction} {outcome} in {done:?}"
        );
    }
    let suspensions: Vec<(&Value, &str)> = done
        .iter()
        .filter(|(r, _)| r["action"] == "suspend")
        .map(|(r, d)| (&r["user_name"], d.as_str()))
        .collect();
    assert_eq!(
        suspensions,
        [
            (&json!("grace.hopper@acme.test"), "command_written"),
            (&json!("mallory@acme.test"), "suspended")
        ],
        "the leaver first: {done:?}"
    );
    assert!(
        done.iter().any(|(r, d)| r["user_name"] == "trudy@acme.test"
            && r["why"] == "over_guard"
            && d == "reported"),
        "{done:?}"
    );

    // The connector applies the re-asserts: Ada a member again, Linus back,
    // Grace suspended again.
    wait_for("Ada and Linus members, Grace suspended", || async {
        let ada = find(&server, "ada.lovelace@acme.test").await?;
        let linus = find(&server, "linus.torvalds@acme.test").await?;
        let grace = find(&server, "grace.hopper@acme.test").await?;
        let member = |u: &Value| u["active"] == true && u["roles"][0]["value"] == "member";
        (member(&ada) && member(&linus) && grace["active"] == false).then_some(())
    })
    .await;
    let active = |u: Option<Value>| u.expect("user")["active"].clone();
    assert_eq!(active(find(&server, "mallory@acme.test").await), false);
    assert_eq!(
        active(find(&server, "trudy@acme.test").await),
        true,
        "over the guard"
    );
    assert_eq!(active(find(&server, "svc-backup").await), true, "ignored");

    // Each re-assert is a command of the generation it re-asserts, and has
    // its result, saying so.
    let commands = values(&commands_topic);
    let reasserts: Vec<(&Value, &Value, &Value, &Value)> = commands
        .iter()
        .filter(|c| c["cause"]["event_type"] == "provisioner.reconcile.reassert")
        .map(|c| {
            (
                &c["employee_id"],
                &c["generation"],
                &c["action"],
                &c["deprovision"],
            )
        })
        .collect();
    let (upsert, deprovision, none) = (json!("upsert"), json!("deprovision"), Value::Null);
    let (one, two, suspend) = (json!(1), json!(2), json!("suspend"));
    for expected in [
        (&json!("E1"), &one, &upsert, &none),
        (&json!("E2"), &two, &deprovision, &suspend),
        (&json!("E3"), &one, &upsert, &none),
    ] {
        assert!(
            reasserts.contains(&expected),
            "{expected:?} in {reasserts:?}"
        );
    }
    assert_eq!(reasserts.len(), 3, "{reasserts:?}");
    let run_id = commands
        .iter()
        .find(|c| c["cause"]["event_type"] == "provisioner.reconcile.reassert")
        .map(|c| c["cause"]["event_id"].clone())
        .expect("a re-assert");
    wait_for("the re-asserts' results", || async {
        let results = values(&setup.ns.topic("results"));
        let applied = results
            .iter()
            .filter(|r| r["reassert"] == run_id && r["outcome"] == "applied")
            .count();
        (applied == 3).then_some(())
    })
    .await;
}

/// A command for E1 (Ada) written straight to the command topic.
fn command(generation: u64, action: Value) -> Vec<u8> {
    let mut command = json!({
        "command_id": format!("slack:E1:{generation}"), "app": "slack", "employee_id": "E1",
        "generation": generation,
        "account": {"external_id": "E1", "user_name": "ada.lovelace@acme.test"},
        "cause": {"event_id": "manual", "event_type": "hr.employee.left", "rules": [],
            "rules_version": format!("sha256:{}", "0".repeat(64))},
        "issued_at": "2026-12-01T09:00:00.000Z"
    });
    let fields = command.as_object_mut().expect("an object");
    fields.extend(action.as_object().expect("an object").clone());
    command.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reassert_never_undoes_a_newer_command_and_a_partial_scan_acts_on_nothing() {
    let mut server = ScimServer::start().await;
    let setup = Setup::new(
        &bootstrap(),
        &server.base_url,
        "reconcile = { drifted = \"reapply\", orphans = \"suspend\" }",
    );
    let engine = Process::spawn(&setup.config, &["engine"], &[]);
    let connector = Process::spawn(&setup.config, &["connector", "--app", "slack"], &[]);
    hire_all(&setup, &server, &[("E1", "Ada", "Lovelace")]).await;
    engine.stop();
    connector.stop();
    make_ada_admin(&server).await;

    // The re-assert of generation 1 is written while the connector is
    // down; then a newer command (2: suspend) lands behind it.
    let out = setup.reconcile(&["--app", "slack", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let done = reactions(&json_lines(&out));
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].1, "command_written");
    let commands_topic = setup.ns.topic("commands.slack");
    let suspend = json!({"action": "deprovision", "deprovision": "suspend"});
    produce_with(
        &bootstrap(),
        &[],
        &commands_topic,
        &[(Some("E1"), command(2, suspend))],
    )
    .await;
    let _connector = Process::spawn(&setup.config, &["connector", "--app", "slack"], &[]);
    let results_topic = setup.ns.topic("results");
    let results = wait_for("both commands' results", || async {
        let results = values(&results_topic);
        let e1: Vec<Value> = results
            .into_iter()
            .filter(|r| r["reassert"].is_string() || r["generation"] == 2)
            .collect();
        (e1.len() == 2).then_some(e1)
    })
    .await;
    assert_eq!(
        (results[0]["reassert"].is_string(), &results[0]["outcome"]),
        (true, &json!("applied")),
        "the re-assert first, over its own generation: {results:?}"
    );
    assert_eq!(results[1]["generation"], 2, "{results:?}");
    let ada = find(&server, "ada.lovelace@acme.test").await.expect("Ada");
    assert_eq!(ada["active"], false, "the newer command wins: {ada}");

    // Reconciled again: the state still says generation 1 (a member), the
    // app holds 2 (suspended). The re-assert of 1 comes after 2 was
    // applied: superseded, and Ada stays suspended.
    let out = setup.reconcile(&["--app", "slack", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(reactions(&json_lines(&out))[0].1, "command_written");
    wait_for("the second re-assert superseded", || async {
        let results = values(&results_topic);
        let superseded = results
            .iter()
            .filter(|r| r["reassert"].is_string() && r["outcome"] == "superseded")
            .count();
        (superseded == 1).then_some(())
    })
    .await;
    let ada = find(&server, "ada.lovelace@acme.test").await.expect("Ada");
    assert_eq!(ada["active"], false, "{ada}");

    // A partial scan (the server stopped) is an error and writes nothing.
    let before = values(&commands_topic).len();
    server.stop();
    let down = setup.reconcile(&["--app", "slack"]);
    assert_eq!(down.status.code(), Some(1), "{}", text(&down.stderr));
    assert!(
        text(&down.stderr).contains("a partial scan is not acted on"),
        "{}",
        text(&down.stderr)
    );
    assert_eq!(values(&commands_topic).len(), before, "no re-assert");
}
