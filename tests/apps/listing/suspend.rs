//! Suspending an account reconciliation listed and nobody owns
//! (`SuspendListed`), Zendesk against `wiremock`: re-read first, then
//! `suspended: true` alone; an account claimed since the listing (another
//! external id) or already suspended is not written. (SCIM's runs against
//! the real scim2-server in `tests/reconcile_react.rs`.)

use provisioner::connector::listing::SuspendListed;
use provisioner::connector::{ConnectorError, Outcome};
use provisioner::reconcile::AppAccount;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::zendesk::{connector, AUTH, SPEC_ROLE_MAP};

const USER: &str = "/api/v2/users/42.json";

fn listed(external_id: Option<&str>) -> AppAccount {
    AppAccount {
        app_id: "42".into(),
        external_id: external_id.map(String::from),
        user_name: "mallory@acme.test".into(),
        email: Some("mallory@acme.test".into()),
        active: true,
        role: Some("agent".into()),
        given_name: None,
        family_name: None,
        display_name: None,
    }
}

/// The user as a GET answers it now.
async fn now(server: &MockServer, external_id: Option<&str>, suspended: bool) {
    Mock::given(method("GET"))
        .and(path(USER))
        .and(header("authorization", AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user": {
            "id": 42, "suspended": suspended, "external_id": external_id, "role": "agent"
        }})))
        .expect(1)
        .mount(server)
        .await;
}

/// The PUT, expected `times` times.
async fn put(server: &MockServer, times: u64) {
    Mock::given(method("PUT"))
        .and(path(USER))
        .and(body_json(json!({"user": {"suspended": true}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user": {"id": 42}})))
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_unowned_zendesk_account_is_suspended_after_a_re_read() {
    let server = MockServer::start().await;
    now(&server, None, false).await;
    put(&server, 1).await;
    let lister = connector(&server, SPEC_ROLE_MAP);
    let applied = lister
        .lister()
        .expect("zendesk lists")
        .suspend_listed(&listed(None))
        .await
        .expect("suspended");
    assert_eq!(applied.outcome, Outcome::Applied);
    assert_eq!(applied.app_account_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn an_account_claimed_since_the_listing_or_already_suspended_is_not_written() {
    let server = MockServer::start().await;
    now(&server, Some("E7"), false).await;
    put(&server, 0).await;
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    let lister = zendesk.lister().expect("zendesk lists");
    let err = lister.suspend_listed(&listed(None)).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent { message }
            if message.contains("now has external id Some(\"E7\")")),
        "{err}"
    );
    server.reset().await;
    now(&server, None, true).await;
    put(&server, 0).await;
    let applied = lister
        .suspend_listed(&listed(None))
        .await
        .expect("answered");
    assert_eq!(applied.outcome, Outcome::Unchanged);
}
