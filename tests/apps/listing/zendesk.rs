//! Zendesk listing against `wiremock`: cursor pagination through
//! `links.next` while `meta.has_more`, roles mapped back through
//! `role_map`, suspension as inactivity, and a 429 retried after its
//! `Retry-After`.

use std::time::{Duration, Instant};

use provisioner::config::RetryConfig;
use provisioner::connector::listing::{list_all, ListError, ListOptions, Listing};
use provisioner::connector::ConnectorError;
use provisioner::ratelimit;
use provisioner::reconcile::AppAccount;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::zendesk::{connector, AUTH, SPEC_ROLE_MAP};

const USERS: &str = "/api/v2/users.json";

fn page(server: &MockServer, users: Value, after: Option<&str>) -> ResponseTemplate {
    let next = after.map(|a| {
        format!(
            "{}{USERS}?page%5Bsize%5D=100&page%5Bafter%5D={a}",
            server.uri()
        )
    });
    ResponseTemplate::new(200).set_body_json(json!({
        "users": users,
        "meta": {"has_more": after.is_some(), "after_cursor": after},
        "links": {"next": next}
    }))
}

/// The first page (no cursor) answers `answer`.
async fn first_page(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(USERS))
        .and(header("authorization", AUTH))
        .and(query_param("page[size]", "100"))
        .and(query_param_is_missing("page[after]"))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

/// The page after cursor `after` answers `answer`.
fn page_after(after: &str, answer: ResponseTemplate) -> Mock {
    Mock::given(method("GET"))
        .and(path(USERS))
        .and(header("authorization", AUTH))
        .and(query_param("page[after]", after))
        .respond_with(answer)
}

fn options() -> ListOptions {
    ListOptions {
        retry: RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..ListOptions::default()
    }
}

async fn two_pages(server: &MockServer) {
    let first = json!([
        {"id": 1, "external_id": "E1", "email": "ada@acme.test", "name": "Ada Lovelace",
         "role": "agent", "custom_role_id": 360000001, "suspended": false, "active": true},
        {"id": 2, "external_id": "E2", "email": "alan@acme.test", "name": "Alan Turing",
         "role": "agent", "custom_role_id": null, "suspended": false, "active": true}
    ]);
    let second = json!([
        {"id": 3, "external_id": "E3", "email": "grace@acme.test", "name": "Grace Hopper",
         "role": "end-user", "custom_role_id": null, "suspended": true, "active": true},
        {"id": 4, "external_id": null, "email": "boss@acme.test", "name": "The Owner",
         "role": "admin", "custom_role_id": null, "suspended": false, "active": true}
    ]);
    first_page(server, page(server, first, Some("c2"))).await;
    page_after("c2", page(server, second, None))
        .expect(1)
        .mount(server)
        .await;
}

fn by_id<'a>(listing: &'a Listing, id: &str) -> &'a AppAccount {
    listing
        .accounts
        .iter()
        .find(|a| a.app_id == id)
        .unwrap_or_else(|| panic!("{id} not listed in {listing:#?}"))
}

#[tokio::test]
async fn two_pages_are_followed_and_roles_mapped_back() {
    let server = MockServer::start().await;
    two_pages(&server).await;
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    let listing = list_all(
        &zendesk.lister().expect("Zendesk can be read"),
        &ratelimit::per_second(1000.0),
        &options(),
    )
    .await
    .expect("listing");
    assert_eq!((listing.pages, listing.retries), (2, 0));
    assert_eq!(listing.accounts.len(), 4);
    assert_eq!(
        by_id(&listing, "1"),
        &AppAccount {
            app_id: "1".into(),
            external_id: Some("E1".into()),
            user_name: "ada@acme.test".into(),
            email: Some("ada@acme.test".into()),
            active: true,
            role: Some("light_agent".into()),
            given_name: None,
            family_name: None,
            display_name: Some("Ada Lovelace".into()),
        }
    );
    assert_eq!(by_id(&listing, "2").role.as_deref(), Some("agent"));
    let grace = by_id(&listing, "3");
    assert!(!grace.active, "suspended");
    assert_eq!(grace.role.as_deref(), Some("end_user"));
    let owner = by_id(&listing, "4");
    assert_eq!(
        owner.role.as_deref(),
        Some("admin"),
        "unmapped role, same name"
    );
    assert_eq!(owner.external_id, None);
}

#[tokio::test]
async fn a_429_on_a_page_is_retried_after_its_retry_after() {
    let server = MockServer::start().await;
    two_pages(&server).await;
    // Mounted last, matched first until used: the second page is refused once.
    page_after(
        "c2",
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
    )
    .up_to_n_times(1)
    .expect(1)
    .with_priority(1)
    .mount(&server)
    .await;
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    let started = Instant::now();
    let listing = list_all(
        &zendesk.lister().unwrap(),
        &ratelimit::per_second(1000.0),
        &options(),
    )
    .await
    .expect("listing after the retry");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!((listing.pages, listing.retries), (2, 1));
    assert_eq!(listing.accounts.len(), 4);
}

#[tokio::test]
async fn refused_credentials_fail_the_listing_at_once() {
    let server = MockServer::start().await;
    first_page(&server, ResponseTemplate::new(401)).await;
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    let error = list_all(
        &zendesk.lister().unwrap(),
        &ratelimit::per_second(1000.0),
        &options(),
    )
    .await
    .expect_err("401");
    assert!(
        matches!(
            &error,
            ListError::Partial {
                pages: 0,
                accounts: 0,
                error: ConnectorError::Unavailable { .. },
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    let answer = ResponseTemplate::new(200).set_body_json(json!({
        "users": [{"id": 1, "email": "ada@acme.test", "role": "agent"}],
        "meta": {"has_more": true},
        "links": {"next": "https://elsewhere.test/api/v2/users.json?page%5Bafter%5D=c2"}
    }));
    first_page(&server, answer).await;
    let zendesk = connector(&server, SPEC_ROLE_MAP);
    let error = list_all(
        &zendesk.lister().unwrap(),
        &ratelimit::per_second(1000.0),
        &options(),
    )
    .await
    .expect_err("refused");
    assert!(
        error.to_string().contains("not sending credentials"),
        "{error}"
    );
}
