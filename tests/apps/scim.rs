//! The SCIM connector against a real scim2-server: every outcome is checked
//! by reading the server's users directly.

use provisioner::commands::{Account, Command};
use provisioner::config::LeaverPolicy;
use provisioner::connector::{Connector, ConnectorError, Outcome};
use serde_json::{json, Value};

use crate::common::{account, applied, deprovision, unchanged, upsert};
use crate::support::ScimServer;

fn id_of(user: &Value) -> String {
    user["id"].as_str().expect("id").to_string()
}

/// Ada's account: employee E1001, ada@acme.test.
fn ada() -> Account {
    account("E1001", "ada@acme.test")
}

/// Slack's upsert of Ada to `role`.
fn ada_upsert(generation: u64, role: &str) -> Command {
    upsert("slack", ada(), generation, role)
}

#[tokio::test]
async fn hire_creates_the_user_with_every_spec_attribute() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    let result = scim.apply(&ada_upsert(1, "member")).await;
    let user = server.only_user().await;
    assert_eq!(result, applied(&id_of(&user)));
    assert_eq!(user["userName"], "ada@acme.test");
    assert_eq!(user["externalId"], "E1001");
    assert_eq!(user["name"]["givenName"], "Ada");
    assert_eq!(user["name"]["familyName"], "Lovelace");
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(
        user["emails"],
        json!([{"value": "ada@acme.test", "type": "work", "primary": true}])
    );
    assert_eq!(user["active"], true);
    assert_eq!(user["roles"], json!([{"value": "member", "primary": true}]));
}

#[tokio::test]
async fn same_command_twice_makes_one_user_and_the_second_is_unchanged() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    let cmd = ada_upsert(1, "member");
    let first = scim.apply(&cmd).await.unwrap();
    let second = scim.apply(&cmd).await;
    let user = server.only_user().await;
    assert_eq!(first.outcome, Outcome::Applied);
    assert_eq!(second, unchanged(Some(&id_of(&user))));
    assert_eq!(
        user["meta"]["version"], "W/\"1\"",
        "the second delivery wrote"
    );
}

#[tokio::test]
async fn role_change_patches_the_same_user() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    scim.apply(&ada_upsert(1, "member")).await.unwrap();
    let before = server.only_user().await;
    let result = scim.apply(&ada_upsert(2, "admin")).await;
    let after = server.only_user().await;
    assert_eq!(result, applied(&id_of(&before)));
    assert_eq!(id_of(&after), id_of(&before));
    assert_eq!(after["roles"], json!([{"value": "admin", "primary": true}]));
    assert_eq!(after["meta"]["created"], before["meta"]["created"]);
}

#[tokio::test]
async fn changed_email_and_name_are_patched() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    scim.apply(&ada_upsert(1, "member")).await.unwrap();
    let mut renamed = account("E1001", "ada.king@acme.test");
    renamed.family_name = Some("King".into());
    renamed.display_name = Some("Ada King".into());
    let result = scim
        .apply(&upsert("slack", renamed, 2, "member"))
        .await
        .unwrap();
    let user = server.only_user().await;
    assert_eq!(result.outcome, Outcome::Applied);
    assert_eq!(user["userName"], "ada.king@acme.test");
    assert_eq!(user["name"]["familyName"], "King");
    assert_eq!(user["displayName"], "Ada King");
    assert_eq!(user["emails"][0]["value"], "ada.king@acme.test");
}

#[tokio::test]
async fn suspend_sets_active_false_once_and_rehire_reactivates() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    scim.apply(&ada_upsert(1, "member")).await.unwrap();
    let id = id_of(&server.only_user().await);

    let leave = deprovision("slack", ada(), 2, LeaverPolicy::Suspend);
    assert_eq!(scim.apply(&leave).await, applied(&id));
    assert_eq!(server.only_user().await["active"], false);
    assert_eq!(scim.apply(&leave).await, unchanged(Some(&id)));

    assert_eq!(scim.apply(&ada_upsert(3, "member")).await, applied(&id));
    assert_eq!(server.only_user().await["active"], true);
}

#[tokio::test]
async fn delete_removes_the_user_and_repeats_as_unchanged() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    scim.apply(&ada_upsert(1, "member")).await.unwrap();
    let id = id_of(&server.only_user().await);
    let leave = deprovision("slack", ada(), 2, LeaverPolicy::Delete);
    assert_eq!(scim.apply(&leave).await, applied(&id));
    assert!(server.users().await.is_empty());
    assert_eq!(scim.apply(&leave).await, unchanged(None));
}

#[tokio::test]
async fn deprovisioning_an_unknown_user_changes_nothing() {
    let server = ScimServer::start().await;
    let bob = server
        .create_user(json!({"userName": "bob@acme.test", "externalId": "E2"}))
        .await;
    let scim = server.connector("");
    for policy in [LeaverPolicy::Suspend, LeaverPolicy::Delete] {
        let cmd = deprovision("slack", ada(), 2, policy);
        assert_eq!(scim.apply(&cmd).await, unchanged(None), "{policy:?}");
    }
    let users = server.users().await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], bob["id"]);
    assert_eq!(
        users[0]["active"],
        Value::Null,
        "bob was touched: {users:#?}"
    );
}

#[tokio::test]
async fn a_user_known_only_by_user_name_is_adopted_not_duplicated() {
    let server = ScimServer::start().await;
    let existing = server
        .create_user(json!({"userName": "ada@acme.test", "active": true}))
        .await;
    let scim = server.connector("");
    let result = scim.apply(&ada_upsert(1, "member")).await;
    let user = server.only_user().await;
    assert_eq!(result, applied(&id_of(&existing)));
    assert_eq!(user["externalId"], "E1001");
    assert_eq!(user["roles"], json!([{"value": "member", "primary": true}]));
}

#[tokio::test]
async fn a_user_name_held_by_another_employee_is_a_permanent_conflict() {
    let server = ScimServer::start().await;
    server
        .create_user(json!({"userName": "ada@acme.test", "externalId": "E9999"}))
        .await;
    let scim = server.connector("");
    let result = scim.apply(&ada_upsert(1, "member")).await;
    assert!(
        matches!(&result, Err(ConnectorError::Permanent { message }) if message.contains("E9999")),
        "{result:?}"
    );
    assert_eq!(server.only_user().await["externalId"], "E9999");
}

#[tokio::test]
async fn a_stopped_server_is_transient() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    assert_eq!(scim.probe().await, Ok(()));
    drop(server);
    let result = scim.apply(&ada_upsert(1, "member")).await;
    assert!(
        matches!(&result, Err(ConnectorError::Transient { retry_after: None, message })
            if message.contains("onnect")),
        "{result:?}"
    );
    assert!(matches!(
        scim.probe().await,
        Err(ConnectorError::Transient { .. })
    ));
}

#[tokio::test]
async fn the_bearer_token_is_sent_and_a_wrong_one_is_unavailable() {
    let server = ScimServer::with_token("right-token").await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{token}\n")).unwrap();
        format!("token_file = {:?}", path.display().to_string())
    };
    let cmd = ada_upsert(1, "member");
    for scim in [
        server.connector(""),
        server.connector(&file("wrong", "wrong-token")),
    ] {
        let result = scim.apply(&cmd).await;
        assert!(
            matches!(result, Err(ConnectorError::Unavailable { .. })),
            "{result:?}"
        );
        assert!(matches!(
            scim.probe().await,
            Err(ConnectorError::Unavailable { .. })
        ));
    }
    let scim = server.connector(&file("right", "right-token"));
    assert_eq!(scim.probe().await, Ok(()));
    let result = scim.apply(&cmd).await.unwrap();
    assert_eq!(result.outcome, Outcome::Applied);
    assert_eq!(server.only_user().await["externalId"], "E1001");
}
