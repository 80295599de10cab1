//! Reconciliation of 10,000 accounts against a fast, rate-limited SCIM app.
//!
//! Not a timed test: it prints figures. Needs nothing outside the process.
//! Run with `cargo bench --bench reconcile`.
//!
//! The app is a tiny SCIM `GET /Users` server in this process (axum,
//! in-memory, paging by `startIndex`/`count`, no added latency) that enforces
//! its own limit of R requests in any sliding second, answering 429 +
//! `Retry-After` beyond it (as the connector bench's fake app). The real
//! scim2-server is too slow to hold 10,000 users (docs/BENCHMARKS.md).
//!
//! Each scenario runs what `provisioner reconcile --app bench --dry-run`
//! does before it writes the findings to Kafka (the app's connector and
//! token bucket as the worker builds them, `listing::list_all` at page size
//! 100, then `reconcile::classify`) with `rate_limit_per_second = R`, and checks
//! the report's counts. Pages/s is taken between the first and the last page
//! the app served; the peak RSS is this process's during the run (the app's
//! users, already resident before, are in both figures).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use provisioner::commands::Account;
use provisioner::config::Config;
use provisioner::connector::build;
use provisioner::connector::listing::{list_all, ListOptions};
use provisioner::reconcile::{classify, Counts, DesiredAccount, IgnoreList};

#[allow(dead_code)]
#[path = "engine/measure.rs"]
mod measure;
#[path = "support/window.rs"]
mod window;

use window::SlidingWindow;

const APP: &str = "bench";
const PAGE_SIZE: usize = 100;
/// Accounts the app holds: LINKED as decided, DRIFTED with another role,
/// ORPHANS nobody owns; and MISSING employees without an account.
const LINKED: usize = 9_850;
const DRIFTED: usize = 100;
const ORPHANS: usize = 50;
const MISSING: usize = 50;
const ACCOUNTS: usize = LINKED + DRIFTED + ORPHANS;

/// The app: its users, serialised once, and its rate limit.
struct App {
    users: Vec<String>,
    window: SlidingWindow,
}

/// `GET /Users?startIndex=S&count=C` (RFC 7644 §3.4.2.4), or 429.
async fn list_users(State(app): State<Arc<App>>, uri: Uri) -> Response {
    if !app.window.admit() {
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")]).into_response();
    }
    let param = |name: &str| {
        uri.query()?
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
            .parse::<usize>()
            .ok()
    };
    let start = param("startIndex").unwrap_or(1).max(1);
    let count = param("count").unwrap_or(PAGE_SIZE);
    let from = (start - 1).min(app.users.len());
    let page = &app.users[from..(from + count).min(app.users.len())];
    let body = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":{},"startIndex":{start},"itemsPerPage":{},"Resources":[{}]}}"#,
        app.users.len(),
        page.len(),
        page.join(",")
    );
    ([(header::CONTENT_TYPE, "application/scim+json")], body).into_response()
}

fn employee(i: usize, role: &str) -> DesiredAccount {
    let id = format!("E{i:06}");
    let email = format!("{}@acme.test", id.to_lowercase());
    DesiredAccount {
        employee_id: id.as_str().into(),
        account: Account {
            external_id: id,
            user_name: email.clone(),
            email: Some(email),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
        },
        role: Some(role.into()),
        generation: 3,
        rules_version: "sha256:bench".into(),
    }
}

/// The SCIM User the app holds for `desired`, with `role`.
fn user_of(i: usize, desired: &DesiredAccount, role: &str) -> String {
    let a = &desired.account;
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": format!("u{i}"),
        "externalId": a.external_id,
        "userName": a.user_name,
        "name": {"givenName": a.given_name, "familyName": a.family_name},
        "displayName": a.display_name,
        "active": true,
        "emails": [{"value": a.email, "primary": true}],
        "roles": [{"value": role, "primary": true}],
    })
    .to_string()
}

/// The employees the engine decided on, and the users the app holds.
fn population() -> (Vec<DesiredAccount>, Vec<String>) {
    let desired: Vec<DesiredAccount> = (0..LINKED + DRIFTED + MISSING)
        .map(|i| employee(i, "member"))
        .collect();
    let mut users: Vec<String> = desired[..LINKED + DRIFTED]
        .iter()
        .enumerate()
        .map(|(i, d)| user_of(i, d, if i < LINKED { "member" } else { "admin" }))
        .collect();
    users.extend((0..ORPHANS).map(|i| {
        serde_json::json!({"id": format!("orphan{i}"), "userName": format!("stray{i}@acme.test"), "active": true})
            .to_string()
    }));
    (desired, users)
}

fn config(base_url: &str, rate: f64) -> Config {
    let catalogue = format!(
        "[apps.{APP}]\nconnector = \"scim\"\nbase_url = \"{base_url}\"\n\
         roles = [\"member\", \"admin\"]\nrate_limit_per_second = {rate}\n\
         [apps.{APP}.reconcile]\npage_size = {PAGE_SIZE}\n"
    );
    Config::parse(std::path::Path::new("bench.toml"), &catalogue).expect("config")
}

struct Figures {
    secs: f64,
    pages: usize,
    pages_per_sec: f64,
    refused: u64,
    busiest_second: usize,
    rss_before_mb: f64,
    rss_peak_mb: f64,
}

async fn scenario(rate: f64, desired: &[DesiredAccount], users: &[String]) -> Figures {
    let app = Arc::new(App {
        users: users.to_vec(),
        window: SlidingWindow::new(rate as usize),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = Router::new()
        .route("/Users", get(list_users))
        .with_state(app.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let config = config(&base_url, rate);
    let pid = std::process::id();
    // Resets the peak RSS to the current RSS (Linux `clear_refs`, value 5),
    // so the peak is this run's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before_mb = measure::rss_mb(pid);
    let started = Instant::now();
    // What `reconcile --dry-run` does for one app before it writes the
    // findings (which need a broker): list through the app's bucket, classify.
    let app_config = &config.apps[APP];
    let connector = build::build(APP, app_config).expect("connector");
    let lister = connector.lister().expect("a SCIM app can be listed");
    let options = ListOptions::of(app_config);
    let listing = list_all(&lister, &build::limiter(app_config), &options)
        .await
        .expect("listing");
    let ignore = IgnoreList::new(&app_config.reconcile.ignore).expect("ignore list");
    let report = classify(desired, &listing.accounts, &ignore);
    let accounts = listing.accounts.len();
    let secs = started.elapsed().as_secs_f64();
    let rss_peak_mb = measure::rss_peak_mb(pid);
    server.abort();

    assert_eq!(accounts, ACCOUNTS, "every account listed");
    let expected = Counts {
        orphan: ORPHANS,
        drifted: DRIFTED,
        missing: MISSING,
        linked: LINKED,
        ..Counts::default()
    };
    assert_eq!(report.counts, expected, "the report's counts");

    let accepted = app.window.accepted();
    Figures {
        secs,
        pages: accepted.len(),
        pages_per_sec: window::rate(&accepted),
        refused: app.window.refused(),
        busiest_second: window::busiest_second(&accepted),
        rss_before_mb,
        rss_peak_mb,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let (desired, users) = population();
    println!(
        "reconcile {ACCOUNTS} accounts ({LINKED} linked, {DRIFTED} drifted, {ORPHANS} orphans) \
         against {} employees ({MISSING} missing), page size {PAGE_SIZE}, in-process SCIM app",
        desired.len()
    );
    println!(
        "{:>7} {:>6} {:>8} {:>11} {:>8} {:>6} {:>6} {:>10} {:>11} {:>10}",
        "R",
        "pages",
        "secs",
        "accounts/s",
        "pages/s",
        "of R",
        "429s",
        "busiest 1s",
        "RSS before",
        "RSS peak"
    );
    for rate in [10.0, 50.0, 100.0, 200.0, 1000.0] {
        let f = scenario(rate, &desired, &users).await;
        println!(
            "{:>7} {:>6} {:>8.2} {:>11.0} {:>8.1} {:>6.3} {:>6} {:>10} {:>8.1} MB {:>7.1} MB",
            rate,
            f.pages,
            f.secs,
            ACCOUNTS as f64 / f.secs,
            f.pages_per_sec,
            f.pages_per_sec / rate,
            f.refused,
            f.busiest_second,
            f.rss_before_mb,
            f.rss_peak_mb
        );
    }
}
