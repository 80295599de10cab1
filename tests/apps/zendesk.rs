//! The Zendesk connector against `wiremock`: the exact requests (method,
//! path, JSON body, auth header) for each action, and error classification.

use std::time::Duration;

use provisioner::commands::Command;
use provisioner::config::LeaverPolicy;
use provisioner::connector::build::{build, AnyConnector};
use provisioner::connector::{Connector, ConnectorError};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{account, app_config, applied, deprovision, unchanged, upsert};

/// Set by every test to the same values, so parallel tests agree.
const EMAIL_VAR: &str = "APPS_TEST_ZENDESK_EMAIL";
const TOKEN_VAR: &str = "APPS_TEST_ZENDESK_TOKEN";
/// base64("api@acme.test/token:zd-token")
pub const AUTH: &str = "Basic YXBpQGFjbWUudGVzdC90b2tlbjp6ZC10b2tlbg==";
const CREATE_OR_UPDATE: &str = "/api/v2/users/create_or_update.json";

/// The connector of CONTRACT §9's example catalogue, built from configuration
/// (also the listing tests').
pub fn connector(server: &MockServer, role_map: &str) -> AnyConnector {
    std::env::set_var(EMAIL_VAR, "api@acme.test");
    std::env::set_var(TOKEN_VAR, "zd-token");
    let toml = format!(
        "[apps.zendesk]\nconnector = \"zendesk\"\nbase_url = \"{}\"\n\
         email_env = \"{EMAIL_VAR}\"\ntoken_env = \"{TOKEN_VAR}\"\n\
         roles = [\"end_user\", \"light_agent\", \"agent\", \"admin\"]\n\
         [apps.zendesk.role_map]\n{role_map}\n",
        server.uri()
    );
    build("zendesk", &app_config("zendesk", &toml)).expect("build zendesk")
}

pub const SPEC_ROLE_MAP: &str = r#"
end_user = { role = "end-user" }
light_agent = { role = "agent", custom_role_id = 360000001 }
agent = { role = "agent" }
"#;

fn user(id: u64, suspended: bool) -> ResponseTemplate {
    user_with_status(200, id, suspended)
}

fn user_with_status(status: u16, id: u64, suspended: bool) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"user": {"id": id, "external_id": "E1001", "suspended": suspended}}))
}

async fn expect_create_or_update(server: &MockServer, body: Value, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(CREATE_OR_UPDATE))
        .and(header("authorization", AUTH))
        .and(body_json(body))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

/// Zendesk's upsert of Ada (E1001, ada@acme.test) to `role`.
fn ada_upsert(generation: u64, role: &str) -> Command {
    upsert(
        "zendesk",
        account("E1001", "ada@acme.test"),
        generation,
        role,
    )
}

/// Ada's leave (generation 3) with `policy`.
fn ada_leaves(policy: LeaverPolicy) -> Command {
    deprovision("zendesk", account("E1001", "ada@acme.test"), 3, policy)
}

fn calls(requests: &[wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn a_light_agent_is_an_agent_with_the_custom_role() {
    let server = MockServer::start().await;
    let body = json!({"user": {
        "name": "Ada Lovelace", "email": "ada@acme.test", "external_id": "E1001",
        "role": "agent", "custom_role_id": 360000001, "suspended": false}});
    expect_create_or_update(&server, body, user_with_status(201, 42, false)).await;
    let cmd = ada_upsert(1, "light_agent");
    assert_eq!(
        connector(&server, SPEC_ROLE_MAP).apply(&cmd).await,
        applied("42")
    );
}

#[tokio::test]
async fn a_role_without_custom_role_sends_none_and_unmapped_roles_pass_through() {
    let server = MockServer::start().await;
    for role in ["agent", "admin"] {
        let body = json!({"user": {
            "name": "Ada Lovelace", "email": "ada@acme.test", "external_id": "E1001",
            "role": role, "suspended": false}});
        expect_create_or_update(&server, body, user(42, false)).await;
    }
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    for role in ["agent", "admin"] {
        let cmd = ada_upsert(2, role);
        assert_eq!(zendesk.apply(&cmd).await, applied("42"), "{role}");
    }
}

#[tokio::test]
async fn suspend_downgrades_to_end_user_then_suspends_in_that_order() {
    let server = MockServer::start().await;
    let downgrade = json!({"user": {
        "name": "Ada Lovelace", "email": "ada@acme.test", "external_id": "E1001",
        "role": "end-user"}});
    expect_create_or_update(&server, downgrade, user(42, false)).await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/42.json"))
        .and(header("authorization", AUTH))
        .and(body_json(json!({"user": {"suspended": true}})))
        .respond_with(user(42, true))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = ada_leaves(LeaverPolicy::Suspend);
    assert_eq!(
        connector(&server, SPEC_ROLE_MAP).apply(&cmd).await,
        applied("42")
    );
    let seen = calls(&server.received_requests().await.unwrap());
    assert_eq!(
        seen,
        [
            format!("POST {CREATE_OR_UPDATE}"),
            "PUT /api/v2/users/42.json".into()
        ]
    );
}

#[tokio::test]
async fn the_least_privileged_mapping_is_the_downgrade_target() {
    let server = MockServer::start().await;
    // No mapping for end_user: Zendesk's own "end-user".
    let downgrade = json!({"user": {
        "name": "Ada Lovelace", "email": "ada@acme.test", "external_id": "E1001",
        "role": "end-user"}});
    expect_create_or_update(&server, downgrade, user(42, true)).await;
    // Already suspended: no second request.
    Mock::given(method("PUT"))
        .respond_with(user(42, true))
        .expect(0)
        .mount(&server)
        .await;
    let cmd = ada_leaves(LeaverPolicy::Suspend);
    let zendesk = connector(&server, "agent = { role = \"agent\" }");
    assert_eq!(zendesk.apply(&cmd).await, applied("42"));

    // A mapped least-privileged role (with a custom role) is used as given.
    let server = MockServer::start().await;
    let downgrade = json!({"user": {
        "name": "Ada Lovelace", "email": "ada@acme.test", "external_id": "E1001",
        "role": "end-user", "custom_role_id": 7}});
    expect_create_or_update(&server, downgrade, user(42, true)).await;
    let zendesk = connector(
        &server,
        "end_user = { role = \"end-user\", custom_role_id = 7 }",
    );
    assert_eq!(zendesk.apply(&cmd).await, applied("42"));
}

#[tokio::test]
async fn delete_finds_the_user_by_external_id_then_deletes_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search.json"))
        .and(query_param("external_id", "E1001"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "users": [{"id": 42, "external_id": "E1001"}], "count": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/users/42.json"))
        .and(header("authorization", AUTH))
        .respond_with(user(42, false))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = ada_leaves(LeaverPolicy::Delete);
    assert_eq!(
        connector(&server, SPEC_ROLE_MAP).apply(&cmd).await,
        applied("42")
    );
}

#[tokio::test]
async fn delete_of_an_unknown_user_is_unchanged_without_delete() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"users": [], "count": 0})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let cmd = ada_leaves(LeaverPolicy::Delete);
    assert_eq!(
        connector(&server, SPEC_ROLE_MAP).apply(&cmd).await,
        unchanged(None)
    );
}

async fn upsert_against(status: u16, extra: &[(&str, &str)], body: &str) -> ConnectorError {
    let server = MockServer::start().await;
    let mut answer = ResponseTemplate::new(status).set_body_string(body);
    for (name, value) in extra {
        answer = answer.insert_header(*name, *value);
    }
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    let cmd = ada_upsert(1, "agent");
    connector(&server, SPEC_ROLE_MAP)
        .apply(&cmd)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let err = upsert_against(429, &[("Retry-After", "2")], "").await;
    assert!(
        matches!(err, ConnectorError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_credentials_are_unavailable() {
    for status in [401, 403] {
        let err = upsert_against(status, &[], r#"{"error":"Couldn't authenticate you"}"#).await;
        assert!(
            matches!(err, ConnectorError::Unavailable { .. }),
            "{status}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_invalid_user_is_permanent_and_the_message_holds_no_email() {
    let body = r#"{"error":"RecordInvalid","details":{"email":[{"description":"Email: ada@acme.test is already being used by another user"}]}}"#;
    let err = upsert_against(422, &[], body).await;
    let ConnectorError::Permanent { message } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("422") && message.contains("RecordInvalid"),
        "{message}"
    );
    assert!(
        !message.contains("ada@acme.test") && !message.contains("zd-token"),
        "{message}"
    );
}

#[tokio::test]
async fn probe_reads_users_me_and_refuses_the_anonymous_user() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/me.json"))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user": {"id": 1}})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/me.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user": {"id": null}})))
        .mount(&server)
        .await;
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    assert_eq!(zendesk.probe().await, Ok(()));
    assert!(matches!(
        zendesk.probe().await,
        Err(ConnectorError::Unavailable { .. })
    ));
}
