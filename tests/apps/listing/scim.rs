//! SCIM listing against a real scim2-server: users made directly in the
//! server are all read, page by page, at the app's rate; a server that dies
//! midway fails the whole listing.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use provisioner::config::RetryConfig;
use provisioner::connector::listing::{list_all, ListError, ListOptions, Listing};
use provisioner::connector::{Connector, ConnectorError};
use provisioner::ratelimit;
use provisioner::reconcile::AppAccount;
use serde_json::{json, Value};

use crate::common::{account, upsert};
use crate::support::{wait_until, ScimServer};

/// Pages of two, few quick retries.
fn options() -> ListOptions {
    ListOptions {
        page_size: NonZeroU32::new(2).unwrap(),
        retry: RetryConfig {
            max_attempts: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        rate: None,
    }
}

/// A plain user `n` as another tool would have made it.
fn someone(n: usize) -> Value {
    json!({"userName": format!("user{n}@acme.test"), "externalId": format!("E{n}"),
           "emails": [{"value": format!("user{n}@acme.test"), "primary": true}],
           "roles": [{"value": "member", "primary": true}]})
}

/// Seven users in all: five plain ones and two with every oddity the mapping
/// must handle.
async fn seven_users(server: &ScimServer) {
    for n in 1..=5 {
        server.create_user(someone(n)).await;
    }
    server
        .create_user(json!({
            "userName": "grace", "externalId": "E6", "active": false,
            "name": {"givenName": "Grace", "familyName": "Hopper"}, "displayName": "Grace Hopper",
            "emails": [{"value": "home@hopper.test"}, {"value": "grace@acme.test", "primary": true}],
            "roles": [{"value": "member"}, {"value": "admin", "primary": true}]
        }))
        .await;
    server
        .create_user(json!({"userName": "svc-backup", "emails": [{"value": "ops@acme.test"}]}))
        .await;
}

fn by_name<'a>(listing: &'a Listing, user_name: &str) -> &'a AppAccount {
    listing
        .accounts
        .iter()
        .find(|a| a.user_name == user_name)
        .unwrap_or_else(|| panic!("{user_name} not listed in {listing:#?}"))
}

/// The listing's requests the server served, as their query strings.
fn list_requests(server: &ScimServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter_map(|r| r.strip_prefix("GET /Users?").map(String::from))
        .filter(|query| query.starts_with("startIndex="))
        .collect()
}

/// [`list_requests`] once the server has logged at least `n` (it writes its
/// access log after answering).
/// The listing requests the server logged, sorted: the server writes each
/// access-log line after answering, from its worker threads, so the log's
/// order is not the order of the requests (which are sent one at a time;
/// `list_all`'s unit tests check the cursor order).
async fn logged_list_requests(server: &ScimServer, n: usize) -> Vec<String> {
    wait_until(&format!("the server logged {n} listing requests"), || {
        list_requests(server).len() >= n
    })
    .await;
    let mut requests = list_requests(server);
    requests.sort_by_key(|r| start_index(r));
    requests
}

/// The `startIndex` of a logged request's query, for ordering.
fn start_index(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("startIndex="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn every_user_is_listed_in_pages_with_its_fields_mapped() {
    let server = ScimServer::start().await;
    seven_users(&server).await;
    let scim = server.connector("");
    let listing = list_all(
        &scim.lister().expect("SCIM can be read"),
        &ratelimit::per_second(1000.0),
        &options(),
    )
    .await
    .expect("listing");

    assert_eq!(listing.accounts.len(), 7, "{listing:#?}");
    assert_eq!((listing.pages, listing.retries), (4, 0));
    assert_eq!(
        logged_list_requests(&server, 4).await,
        [
            "startIndex=1&count=2",
            "startIndex=3&count=2",
            "startIndex=5&count=2",
            "startIndex=7&count=2"
        ]
    );
    let ids: Vec<String> = server
        .users()
        .await
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let mut listed: Vec<String> = listing.accounts.iter().map(|a| a.app_id.clone()).collect();
    listed.sort();
    let mut ids = ids;
    ids.sort();
    assert_eq!(listed, ids, "each user once, by the server's id");

    let grace = by_name(&listing, "grace");
    assert_eq!(
        grace,
        &AppAccount {
            app_id: grace.app_id.clone(),
            external_id: Some("E6".into()),
            user_name: "grace".into(),
            email: Some("grace@acme.test".into()),
            active: false,
            role: Some("admin".into()),
            given_name: Some("Grace".into()),
            family_name: Some("Hopper".into()),
            display_name: Some("Grace Hopper".into()),
        }
    );
    let service = by_name(&listing, "svc-backup");
    assert!(service.active, "no `active` means active");
    assert_eq!(service.email.as_deref(), Some("ops@acme.test"));
    assert_eq!((&service.external_id, &service.role), (&None, &None));
    let plain = by_name(&listing, "user3@acme.test");
    assert_eq!(plain.external_id.as_deref(), Some("E3"));
    assert_eq!(plain.role.as_deref(), Some("member"));
}

#[tokio::test]
async fn an_account_our_connector_wrote_reads_back_as_written() {
    let server = ScimServer::start().await;
    let scim = server.connector("");
    let cmd = upsert("slack", account("E1001", "ada@acme.test"), 1, "admin");
    scim.apply(&cmd).await.expect("applied");
    let listing = list_all(
        &scim.lister().unwrap(),
        &ratelimit::per_second(1000.0),
        &ListOptions::default(),
    )
    .await
    .expect("listing");
    let ada = by_name(&listing, "ada@acme.test");
    assert_eq!(ada.external_id.as_deref(), Some("E1001"));
    assert_eq!(ada.email.as_deref(), Some("ada@acme.test"));
    assert_eq!(ada.role.as_deref(), Some("admin"));
    assert!(ada.active);
    assert_eq!(
        (ada.given_name.as_deref(), ada.family_name.as_deref()),
        (Some("Ada"), Some("Lovelace"))
    );
    assert_eq!(ada.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        logged_list_requests(&server, 1).await,
        ["startIndex=1&count=100"]
    );
}

#[tokio::test]
async fn the_listing_keeps_to_the_apps_rate_limit() {
    let server = ScimServer::start().await;
    seven_users(&server).await;
    let scim = server.connector("");
    let rate = 10.0;
    let started = Instant::now();
    let listing = list_all(
        &scim.lister().unwrap(),
        &ratelimit::per_second(rate),
        &options(),
    )
    .await
    .expect("listing");
    let elapsed = started.elapsed();
    // P pages at R/s take at least (P - 1) / R: the first goes at once.
    let floor = Duration::from_secs_f64(f64::from(listing.pages - 1) / rate);
    assert_eq!(listing.pages, 4);
    assert!(
        elapsed + Duration::from_millis(10) >= floor,
        "{} pages in {elapsed:?} at {rate}/s (at least {floor:?})",
        listing.pages
    );
}

#[tokio::test]
async fn a_server_stopped_midway_fails_the_whole_listing() {
    let mut server = ScimServer::start().await;
    seven_users(&server).await;
    let scim = server.connector("");
    // One page a second: the server is stopped between the first page and
    // the last (four pages of two).
    let listing = tokio::spawn(async move {
        let limiter = ratelimit::per_second(1.0);
        list_all(&scim.lister().unwrap(), &limiter, &options()).await
    });
    wait_until("the first page is served", || {
        !list_requests(&server).is_empty()
    })
    .await;
    server.stop();
    let error = listing
        .await
        .expect("listing task")
        .expect_err("a partial scan is an error");
    let ListError::Partial {
        pages,
        accounts,
        error: cause,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!((1..4).contains(pages), "{error}");
    assert_eq!(*accounts, 2 * *pages as usize, "{error}");
    assert!(
        matches!(cause, ConnectorError::Transient { .. }),
        "a refused connection: {cause:?}"
    );
    assert!(
        error.to_string().contains("a partial scan is not acted on"),
        "{error}"
    );
}
