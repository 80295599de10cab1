//! The SCIM path end to end (CONTRACT §5, §6, §7, §10): commands on a real
//! broker, the real connector worker with the real `ScimConnector` — built
//! from the app's catalogue entry by `connector::build::build`, as
//! `provisioner connector` does — and a real scim2-server, whose users and
//! access log are read back directly.
//!
//! Commands are produced as the engine writes them (the JSON of `Command`,
//! keyed by employee id); one test runs the engine in-process instead.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use provisioner::commands::{Account, Action, Cause, Command};
use provisioner::config::{AppConfig, LeaverPolicy, OutageConfig, RetryConfig};
use provisioner::connector::build::build;
use provisioner::connector::Connector;
use rdkafka::message::Message;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::ScimServer;
use crate::harness::*;

mod failures;
mod verify;

/// The SCIM app of the test catalogue (`leaver = "suspend"`).
const APP: &str = "slack";

/// Fresh topics (`partitions` each, created now) and the `slack` app
/// pointed at `base_url`, reading its bearer token from a variable of its
/// own when `token` is given; a fast rate limit, 3 attempts with short
/// backoff, fast probes, commits every 100 ms. `tune` changes the app's
/// entry last.
async fn scim_env(
    partitions: i32,
    base_url: &str,
    token: Option<&str>,
    tune: impl FnOnce(&mut AppConfig),
) -> WorkerEnv {
    let mut config = worker_config(partitions);
    config.connector.shutdown_timeout = std::time::Duration::from_millis(5_000);
    let app = config.apps.get_mut(APP).expect("slack in the catalogue");
    app.base_url = base_url.into();
    if let Some(token) = token {
        let var = format!("E2E_SCIM_TOKEN_{}", uuid::Uuid::new_v4().simple()).to_uppercase();
        std::env::set_var(&var, token);
        app.token_env = Some(var);
    }
    app.rate_limit_per_second = 1_000.0;
    app.retry = RetryConfig {
        max_attempts: 3,
        initial_delay: std::time::Duration::from_millis(20),
        max_delay: std::time::Duration::from_millis(200),
    };
    app.outage = OutageConfig {
        enabled: true,
        consecutive_failures: 5,
        probe_initial_delay: std::time::Duration::from_millis(100),
        probe_max_delay: std::time::Duration::from_millis(500),
    };
    tune(app);
    WorkerEnv::new(config, APP).await
}

/// An employee's account as the engine sends it.
fn person(employee: &str, given: &str, family: &str) -> Account {
    let email = format!(
        "{}.{}@acme.test",
        given.to_lowercase(),
        family.to_lowercase()
    );
    Account {
        external_id: employee.into(),
        user_name: email.clone(),
        email: Some(email),
        given_name: Some(given.into()),
        family_name: Some(family.into()),
        display_name: Some(format!("{given} {family}")),
    }
}

/// A member of staff named after the employee id.
fn staff(employee: &str) -> Account {
    person(employee, "Staff", employee)
}

fn command(account: &Account, generation: u64, action: Action) -> Command {
    Command {
        command_id: Command::id_for(APP, &account.external_id, generation),
        app: APP.into(),
        employee_id: account.external_id.clone().into(),
        generation,
        action,
        deprovision: None,
        role: None,
        account: account.clone().into(),
        cause: Cause {
            event_id: format!("evt-{}-{generation}", account.external_id).into(),
            event_type: "hr.employee.changed".into(),
            rules: vec!["Dev Team".into()],
            rules_version: "sha256:e2e".into(),
            effective: None,
        },
        issued_at: Utc::now(),
    }
}

fn upsert(account: &Account, generation: u64, role: &str) -> Command {
    let mut cmd = command(account, generation, Action::Upsert);
    cmd.role = Some(role.into());
    cmd
}

fn deprovision(account: &Account, generation: u64, policy: LeaverPolicy) -> Command {
    let mut cmd = command(account, generation, Action::Deprovision);
    cmd.deprovision = Some(policy);
    cmd.cause.event_type = "hr.employee.left".into();
    cmd.cause.rules.clear();
    cmd
}

/// The fields of a result, CONTRACT §6.
const RESULT_FIELDS: [&str; 9] = [
    "app",
    "app_account_id",
    "attempts",
    "command_id",
    "duration_ms",
    "employee_id",
    "error",
    "generation",
    "outcome",
];

/// Checks a result against its command: every CONTRACT §6 field and no other,
/// the outcome and the number of calls.
fn check_result(r: &Value, cmd: &Command, outcome: &str, attempts: u64) {
    let fields: BTreeSet<&str> = r
        .as_object()
        .expect("a result is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, RESULT_FIELDS.into_iter().collect(), "{r}");
    assert_eq!(r["command_id"], cmd.command_id.as_str(), "{r}");
    assert_eq!(r["app"], APP, "{r}");
    assert_eq!(r["employee_id"], cmd.employee_id.as_str(), "{r}");
    assert_eq!(r["generation"], cmd.generation, "{r}");
    assert_eq!(r["outcome"], outcome, "{r}");
    assert_eq!(r["attempts"], attempts, "{r}");
    assert!(r["duration_ms"].is_u64(), "{r}");
    if outcome != "dead_lettered" {
        assert!(r["error"].is_null(), "{r}");
    }
}

/// The results of one command id; there must be exactly one.
fn only_result<'a>(results: &'a [Value], command_id: &str) -> &'a Value {
    let mine: Vec<&Value> = results
        .iter()
        .filter(|r| r["command_id"] == command_id)
        .collect();
    assert_eq!(mine.len(), 1, "results of {command_id}: {mine:?}");
    mine[0]
}

/// Results by employee, each in the order written (one employee's results
/// share a partition).
fn by_employee(results: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in results {
        map.entry(r["employee_id"].as_str().expect("employee_id").into())
            .or_default()
            .push(r.clone());
    }
    map
}

/// The users the server holds, by `externalId`; fails on a duplicate.
async fn users_by_external_id(server: &ScimServer) -> BTreeMap<String, Value> {
    let mut users = BTreeMap::new();
    for user in server.users().await {
        let external_id = user["externalId"].as_str().expect("externalId").to_string();
        assert!(
            users.insert(external_id.clone(), user).is_none(),
            "two users with externalId {external_id}"
        );
    }
    users
}

/// The writes the server served (POST, PUT, PATCH, DELETE), in order.
fn writes(server: &ScimServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET ") && !r.starts_with("HEAD "))
        .collect()
}

fn id_of(user: &Value) -> String {
    user["id"].as_str().expect("id").to_string()
}

/// Hire, role change and leave of one employee, and the deletion of
/// another, each checked on the server and in the results.
#[tokio::test(flavor = "multi_thread")]
async fn hire_role_change_suspend_and_delete_reach_the_scim_server() {
    let token = format!("scim-token-{}", uuid::Uuid::new_v4().simple());
    let server = ScimServer::with_token(&token).await;
    let env = scim_env(3, &server.base_url, Some(&token), |_| {}).await;
    let worker = env.start_worker();
    let ada = person("E1001", "Ada", "Lovelace");
    let grace = person("E1002", "Grace", "Hopper");

    // Hire: the user is created with every CONTRACT §10 attribute.
    let hire = upsert(&ada, 1, "member");
    env.send(std::slice::from_ref(&hire)).await;
    let results = env.results(1).await;
    let user = server.only_user().await;
    let id = id_of(&user);
    check_result(&results[0], &hire, "applied", 1);
    assert_eq!(results[0]["app_account_id"], id.as_str());
    assert_eq!(user["userName"], "ada.lovelace@acme.test");
    assert_eq!(user["externalId"], "E1001");
    assert_eq!(user["name"]["givenName"], "Ada");
    assert_eq!(user["name"]["familyName"], "Lovelace");
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(
        user["emails"],
        json!([{"value": "ada.lovelace@acme.test", "type": "work", "primary": true}])
    );
    assert_eq!(user["active"], true);
    assert_eq!(user["roles"], json!([{"value": "member", "primary": true}]));
    assert_eq!(writes(&server), vec!["POST /Users"]);

    // Role change: the same user, patched.
    let promote = upsert(&ada, 2, "admin");
    env.send(std::slice::from_ref(&promote)).await;
    let results = env.results(2).await;
    let r = only_result(&results, &promote.command_id);
    check_result(r, &promote, "applied", 1);
    assert_eq!(r["app_account_id"], id.as_str());
    let promoted = server.only_user().await;
    assert_eq!(id_of(&promoted), id, "the same user");
    assert_eq!(promoted["meta"]["created"], user["meta"]["created"]);
    assert_eq!(
        promoted["roles"],
        json!([{"value": "admin", "primary": true}])
    );
    assert_eq!(promoted["active"], true);
    assert_eq!(promoted["userName"], "ada.lovelace@acme.test");
    assert_eq!(
        writes(&server),
        vec!["POST /Users".to_string(), format!("PATCH /Users/{id}")]
    );

    // Leave with the app's policy, suspend: the same user, inactive.
    let leave = deprovision(&ada, 3, LeaverPolicy::Suspend);
    env.send(std::slice::from_ref(&leave)).await;
    let results = env.results(3).await;
    let r = only_result(&results, &leave.command_id);
    check_result(r, &leave, "applied", 1);
    assert_eq!(r["app_account_id"], id.as_str());
    let suspended = server.only_user().await;
    assert_eq!(id_of(&suspended), id);
    assert_eq!(suspended["active"], false);
    assert_eq!(suspended["externalId"], "E1001");

    // Another employee, hired then deleted: the user is gone.
    let hire_grace = upsert(&grace, 1, "member");
    let delete_grace = deprovision(&grace, 2, LeaverPolicy::Delete);
    env.send(&[hire_grace.clone(), delete_grace.clone()]).await;
    let results = env.results(5).await;
    let created = only_result(&results, &hire_grace.command_id);
    check_result(created, &hire_grace, "applied", 1);
    let grace_id = created["app_account_id"]
        .as_str()
        .expect("created user's id")
        .to_string();
    let deleted = only_result(&results, &delete_grace.command_id);
    check_result(deleted, &delete_grace, "applied", 1);
    assert_eq!(deleted["app_account_id"], grace_id.as_str());
    let users = users_by_external_id(&server).await;
    assert_eq!(
        users.keys().collect::<Vec<_>>(),
        vec!["E1001"],
        "Grace's user is deleted, Ada's kept"
    );
    assert_eq!(users["E1001"]["active"], false);
    assert!(writes(&server).ends_with(&[
        format!("PATCH /Users/{id}"),
        "POST /Users".to_string(),
        format!("DELETE /Users/{grace_id}"),
    ]));

    env.wait_committed(5).await;
    worker.stop().await;
    // Exactly one result per command, in each employee's order; no dead letter.
    let outcomes: BTreeMap<String, Vec<(String, String)>> = by_employee(&env.all_results())
        .into_iter()
        .map(|(e, rs)| {
            let o = rs
                .iter()
                .map(|r| {
                    (
                        r["command_id"].as_str().unwrap().to_string(),
                        r["outcome"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (e, o)
        })
        .collect();
    let pair = |c: &Command| (c.command_id.clone(), "applied".to_string());
    assert_eq!(
        outcomes,
        BTreeMap::from([
            (
                "E1001".to_string(),
                vec![pair(&hire), pair(&promote), pair(&leave)]
            ),
            (
                "E1002".to_string(),
                vec![pair(&hire_grace), pair(&delete_grace)]
            ),
        ])
    );
    assert!(env.dlq().is_empty());
}

/// Duplicate deliveries and older generations never make a second user or
/// undo newer state.
///
/// Two kinds of duplicate exist. A redelivery after the worker died between
/// the app call and the result (at-least-once: the offset was never
/// committed, and no result records the generation) reaches the app again,
/// which already matches: `unchanged`. A duplicate the running worker knows
/// it applied — its generation is not above the last applied — is never sent
/// at all and reported `superseded` (CONTRACT §5: "applying the same command
/// twice … must never create a second account"); so is an older generation.
#[tokio::test(flavor = "multi_thread")]
async fn duplicates_and_older_generations_make_no_second_user() {
    let server = ScimServer::start().await;
    let env = scim_env(2, &server.base_url, None, |_| {}).await;
    let ada = person("E1001", "Ada", "Lovelace");
    let hire = upsert(&ada, 1, "member");

    // The partition's previous owner applied the hire, then died before
    // writing its result: the app has the user, the results topic nothing.
    let previous_owner = build(APP, &env.config.apps[APP]).expect("build");
    previous_owner
        .apply(&hire)
        .await
        .expect("the first delivery applies");
    let id = id_of(&server.only_user().await);

    let worker = env.start_worker();
    env.send(std::slice::from_ref(&hire)).await;
    let results = env.results(1).await;
    check_result(&results[0], &hire, "unchanged", 1);
    assert_eq!(results[0]["app_account_id"], id.as_str());
    assert_eq!(id_of(&server.only_user().await), id, "still one user");
    assert_eq!(writes(&server), vec!["POST /Users"], "nothing rewritten");

    // A promotion, delivered twice, then the hire once more (older).
    let promote = upsert(&ada, 2, "admin");
    env.send(&[promote.clone(), promote.clone(), hire.clone()])
        .await;
    let results = env.results(4).await;
    let ada_results = &by_employee(&results)["E1001"];
    assert_eq!(ada_results.len(), 4, "{ada_results:?}");
    check_result(&ada_results[1], &promote, "applied", 1);
    assert_eq!(ada_results[1]["app_account_id"], id.as_str());
    check_result(&ada_results[2], &promote, "superseded", 0);
    check_result(&ada_results[3], &hire, "superseded", 0);
    assert!(ada_results[3]["app_account_id"].is_null());

    let user = server.only_user().await;
    assert_eq!(id_of(&user), id);
    assert_eq!(
        user["roles"],
        json!([{"value": "admin", "primary": true}]),
        "the older generation did not undo the promotion"
    );
    assert_eq!(
        writes(&server),
        vec!["POST /Users".to_string(), format!("PATCH /Users/{id}")],
        "superseded commands are never sent"
    );

    env.wait_committed(4).await;
    worker.stop().await;
    assert_eq!(env.all_results().len(), 4, "one result per command");
    assert!(env.dlq().is_empty());
}

/// HR events through the real engine and the real worker to the server:
/// hired (Development → member), changed (Support → admin), left (suspend).
#[tokio::test(flavor = "multi_thread")]
async fn hr_events_through_the_engine_reach_the_scim_server() {
    const RULES_E2E: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    slack: { provisioning: true, role: member }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    slack: { provisioning: true, role: admin }
"#;
    let token = format!("scim-token-{}", uuid::Uuid::new_v4().simple());
    let server = ScimServer::with_token(&token).await;
    let env = scim_env(2, &server.base_url, Some(&token), |_| {}).await;
    let engine = RunningEngine::start(&env.config, rules(RULES_E2E, &env.config.apps));
    let worker = env.start_worker();
    let events = &env.config.topics.events;

    let hired = json!({
        "id": "E1001", "email": "ada@acme.test", "first_name": "Ada",
        "last_name": "Lovelace", "team": "Development", "location": "Barcelona"
    });
    produce(
        &env.servers,
        events,
        &[(Some("E1001"), event("evt-1", "hired", 1, hired))],
    )
    .await;
    let results = env.results(1).await;
    assert_eq!(results[0]["command_id"], "slack:E1001:1");
    assert_eq!(results[0]["outcome"], "applied");
    let user = server.only_user().await;
    let id = id_of(&user);
    assert_eq!(user["userName"], "ada@acme.test");
    assert_eq!(user["externalId"], "E1001");
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(user["roles"], json!([{"value": "member", "primary": true}]));

    let moved = json!({"id": "E1001", "team": "Support"});
    produce(
        &env.servers,
        events,
        &[(Some("E1001"), event("evt-2", "changed", 2, moved))],
    )
    .await;
    let results = env.results(2).await;
    let r = only_result(&results, "slack:E1001:2");
    assert_eq!(r["outcome"], "applied");
    assert_eq!(r["app_account_id"], id.as_str());
    let user = server.only_user().await;
    assert_eq!(id_of(&user), id);
    assert_eq!(user["roles"], json!([{"value": "admin", "primary": true}]));

    let left = json!({"id": "E1001", "end_date": "2020-01-31"});
    produce(
        &env.servers,
        events,
        &[(Some("E1001"), event("evt-3", "left", 3, left))],
    )
    .await;
    let results = env.results(3).await;
    let r = only_result(&results, "slack:E1001:3");
    assert_eq!(r["outcome"], "applied");
    let user = server.only_user().await;
    assert_eq!(id_of(&user), id);
    assert_eq!(user["active"], false);

    engine.stop().await;
    env.wait_committed(3).await;
    worker.stop().await;
    assert_eq!(env.all_results().len(), 3);
    assert!(env.dlq().is_empty());
}
