//! SCIM paths scim2-server cannot produce — a create that races another
//! writer (409), a server without PATCH, throttling — and the exact shape of
//! our requests, against `wiremock`.

use std::time::Duration;

use provisioner::connector::http::{client, BaseUrl, Secret};
use provisioner::connector::scim::ScimConnector;
use provisioner::connector::{Connector, ConnectorError};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{account, applied, upsert};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const BY_ID: &str = r#"externalId eq "E1001""#;
const BY_NAME: &str = r#"userName eq "ada@acme.test""#;

fn connector(server: &MockServer) -> ScimConnector {
    let base = BaseUrl::parse(&format!("{}/scim/v2", server.uri())).unwrap();
    ScimConnector::new("slack", base, Some(Secret::new("tok")), client().unwrap())
}

fn list(users: &[Value]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": users.len(), "Resources": users,
    }))
}

/// Ada as the server has her, with `role`.
fn ada(role: &str) -> Value {
    json!({
        "schemas": [USER], "id": "u1", "externalId": "E1001", "userName": "ada@acme.test",
        "name": {"givenName": "Ada", "familyName": "Lovelace"}, "displayName": "Ada Lovelace",
        "emails": [{"value": "ada@acme.test", "type": "work", "primary": true}],
        "active": true, "roles": [{"value": role, "primary": true}],
        "title": "Engineer", "meta": {"resourceType": "User", "version": "W/\"3\""},
    })
}

async fn search(server: &MockServer, filter: &str, users: &[Value], times: Option<u64>) {
    let mock = Mock::given(method("GET"))
        .and(path("/scim/v2/Users"))
        .and(query_param("filter", filter))
        .respond_with(list(users));
    match times {
        Some(n) => mock.up_to_n_times(n).with_priority(1).mount(server).await,
        None => mock.with_priority(2).mount(server).await,
    }
}

fn requests_summary(requests: &[wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn a_role_change_is_one_exact_patch_with_scim_media_type_and_token() {
    let server = MockServer::start().await;
    search(&server, BY_ID, &[ada("member")], None).await;
    Mock::given(method("PATCH"))
        .and(path("/scim/v2/Users/u1"))
        .and(header("authorization", "Bearer tok"))
        .and(header("content-type", "application/scim+json"))
        .and(body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "roles",
                            "value": [{"value": "admin", "primary": true}]}]
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 2, "admin");
    assert_eq!(connector(&server).apply(&cmd).await, applied("u1"));
    let seen = requests_summary(&server.received_requests().await.unwrap());
    assert_eq!(seen, ["GET /scim/v2/Users", "PATCH /scim/v2/Users/u1"]);
}

#[tokio::test]
async fn a_conflict_on_create_looks_the_user_up_again_and_updates_it() {
    let server = MockServer::start().await;
    // Nobody at first; after the 409, the user another writer created.
    search(&server, BY_ID, &[], Some(1)).await;
    search(&server, BY_ID, &[ada("member")], None).await;
    search(&server, BY_NAME, &[], None).await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Users"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409", "scimType": "uniqueness"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/scim/v2/Users/u1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ada("admin")))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 2, "admin");
    assert_eq!(connector(&server).apply(&cmd).await, applied("u1"));
    let seen = requests_summary(&server.received_requests().await.unwrap());
    assert_eq!(
        seen,
        [
            "GET /scim/v2/Users",
            "GET /scim/v2/Users",
            "POST /scim/v2/Users",
            "GET /scim/v2/Users",
            "PATCH /scim/v2/Users/u1"
        ]
    );
}

#[tokio::test]
async fn a_conflict_with_nobody_to_find_is_permanent() {
    let server = MockServer::start().await;
    search(&server, BY_ID, &[], None).await;
    search(&server, BY_NAME, &[], None).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409).set_body_string("uniqueness"))
        .mount(&server)
        .await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 1, "member");
    let result = connector(&server).apply(&cmd).await;
    assert!(
        matches!(&result, Err(ConnectorError::Permanent { message }) if message.contains("409")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_server_without_patch_gets_a_put_keeping_its_other_attributes() {
    let server = MockServer::start().await;
    search(&server, BY_ID, &[ada("member")], None).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(501))
        .expect(1)
        .mount(&server)
        .await;
    let mut replaced = ada("admin");
    replaced.as_object_mut().unwrap().remove("meta");
    Mock::given(method("PUT"))
        .and(path("/scim/v2/Users/u1"))
        .and(body_json(&replaced))
        .respond_with(ResponseTemplate::new(200).set_body_json(&replaced))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 2, "admin");
    assert_eq!(connector(&server).apply(&cmd).await, applied("u1"));
}

#[tokio::test]
async fn a_plain_bad_request_on_patch_is_permanent_without_put() {
    let server = MockServer::start().await;
    search(&server, BY_ID, &[ada("member")], None).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"scimType": "invalidValue"})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 2, "admin");
    let result = connector(&server).apply(&cmd).await;
    assert!(
        matches!(result, Err(ConnectorError::Permanent { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3"))
        .mount(&server)
        .await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 1, "member");
    let result = connector(&server).apply(&cmd).await;
    assert!(
        matches!(result, Err(ConnectorError::Transient { retry_after: Some(d), .. })
            if d == Duration::from_secs(3)),
        "{result:?}"
    );
}

#[tokio::test]
async fn several_users_with_our_external_id_are_a_permanent_conflict() {
    let server = MockServer::start().await;
    let mut twin = ada("member");
    twin["id"] = json!("u2");
    search(&server, BY_ID, &[ada("member"), twin], None).await;
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 1, "member");
    let result = connector(&server).apply(&cmd).await;
    assert!(
        matches!(&result, Err(ConnectorError::Permanent { message }) if message.contains("u2")),
        "{result:?}"
    );
}
