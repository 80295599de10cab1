//! `list_all` against a scripted lister: paging, retries, the partial-scan
//! error, and the rate limit.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use super::*;
use crate::ratelimit;

/// Answers each request with the next scripted answer, recording cursors.
struct Script {
    answers: Mutex<VecDeque<Result<Page, ConnectorError>>>,
    asked: Mutex<Vec<Option<Cursor>>>,
}

impl Script {
    fn new(answers: Vec<Result<Page, ConnectorError>>) -> Script {
        Script {
            answers: Mutex::new(answers.into()),
            asked: Mutex::new(Vec::new()),
        }
    }

    fn asked(&self) -> Vec<Option<Cursor>> {
        self.asked.lock().unwrap().clone()
    }
}

impl Lister for Script {
    fn app(&self) -> &str {
        "wiki"
    }

    async fn list_page(
        &self,
        cursor: Option<&Cursor>,
        _page_size: NonZeroU32,
    ) -> Result<Page, ConnectorError> {
        self.asked.lock().unwrap().push(cursor.cloned());
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("no request past the script")
    }
}

fn account(id: &str) -> AppAccount {
    AppAccount {
        app_id: id.into(),
        external_id: None,
        user_name: format!("{id}@acme.test"),
        email: None,
        active: true,
        role: None,
        given_name: None,
        family_name: None,
        display_name: None,
    }
}

fn page(ids: &[&str], next: Option<u64>) -> Result<Page, ConnectorError> {
    Ok(Page {
        accounts: ids.iter().map(|id| account(id)).collect(),
        next: next.map(Cursor::Index),
    })
}

fn transient(retry_after: Option<Duration>) -> Result<Page, ConnectorError> {
    Err(ConnectorError::Transient {
        message: "HTTP 429 Too Many Requests".into(),
        retry_after,
    })
}

fn options(max_attempts: u32) -> ListOptions {
    ListOptions {
        page_size: NonZeroU32::new(2).unwrap(),
        retry: RetryConfig {
            max_attempts,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        rate: None,
    }
}

fn ids(listing: &Listing) -> Vec<&str> {
    listing.accounts.iter().map(|a| a.app_id.as_str()).collect()
}

#[tokio::test]
async fn pages_are_read_to_the_end_following_the_cursor() {
    let script = Script::new(vec![
        page(&["a", "b"], Some(3)),
        page(&["c", "d"], Some(5)),
        page(&["e"], None),
    ]);
    let listing = list_all(&script, &ratelimit::per_second(1e6), &options(3))
        .await
        .expect("listing");
    assert_eq!(ids(&listing), ["a", "b", "c", "d", "e"]);
    assert_eq!((listing.pages, listing.retries), (3, 0));
    assert_eq!(
        script.asked(),
        [None, Some(Cursor::Index(3)), Some(Cursor::Index(5))]
    );
}

#[tokio::test]
async fn an_account_listed_twice_is_kept_once() {
    let script = Script::new(vec![page(&["a", "b"], Some(3)), page(&["b", "c"], None)]);
    let listing = list_all(&script, &ratelimit::per_second(1e6), &options(3))
        .await
        .expect("listing");
    assert_eq!(ids(&listing), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_retry_after() {
    let script = Script::new(vec![
        page(&["a", "b"], Some(3)),
        transient(Some(Duration::from_millis(150))),
        page(&["c"], None),
    ]);
    let started = Instant::now();
    let listing = list_all(&script, &ratelimit::per_second(1e6), &options(3))
        .await
        .expect("listing");
    assert!(started.elapsed() >= Duration::from_millis(150), "waited");
    assert_eq!(ids(&listing), ["a", "b", "c"]);
    assert_eq!((listing.pages, listing.retries), (2, 1));
    assert_eq!(script.asked()[1], script.asked()[2], "the same page again");
}

#[tokio::test]
async fn a_failure_midway_is_a_partial_scan_error_not_a_shorter_listing() {
    let script = Script::new(vec![
        page(&["a", "b"], Some(3)),
        transient(None),
        transient(None),
    ]);
    let error = list_all(&script, &ratelimit::per_second(1e6), &options(2))
        .await
        .expect_err("partial");
    let ListError::Partial {
        pages,
        accounts,
        error: cause,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!((*pages, *accounts), (1, 2));
    assert!(matches!(cause, ConnectorError::Transient { .. }));
    assert!(
        error
            .to_string()
            .contains("after 1 page(s) and 2 account(s)"),
        "{error}"
    );
}

#[tokio::test]
async fn permanent_and_unavailable_answers_are_not_retried() {
    for cause in [
        ConnectorError::Permanent {
            message: "HTTP 400".into(),
        },
        ConnectorError::Unavailable {
            message: "HTTP 401".into(),
        },
    ] {
        let script = Script::new(vec![Err(cause.clone())]);
        let error = list_all(&script, &ratelimit::per_second(1e6), &options(5))
            .await
            .expect_err("fails");
        assert_eq!(
            error,
            ListError::Partial {
                app: "wiki".into(),
                pages: 0,
                accounts: 0,
                error: cause,
            }
        );
        assert_eq!(script.asked().len(), 1);
    }
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_is_an_error() {
    let script = Script::new(vec![page(&["a"], Some(2)), page(&["a"], Some(2))]);
    let error = list_all(&script, &ratelimit::per_second(1e6), &options(1))
        .await
        .expect_err("loop");
    assert!(error.to_string().contains("does not advance"), "{error}");
}

#[tokio::test]
async fn every_request_waits_for_the_bucket() {
    let script = Script::new(vec![
        page(&["a"], Some(2)),
        transient(Some(Duration::ZERO)),
        page(&["b"], None),
    ]);
    let started = Instant::now();
    list_all(&script, &ratelimit::per_second(20.0), &options(3))
        .await
        .expect("listing");
    // Three requests at 20/s: at least two periods of 50 ms.
    assert!(started.elapsed() >= Duration::from_millis(95));
}

#[tokio::test]
async fn a_listing_keeps_a_little_under_the_apps_rate() {
    // Eleven pages at R = 100 through a bucket of 1e6: only the listing's
    // own pace (0.98 × R) spaces them, ten gaps of at least 1/98 s, so an
    // app counting arrivals in a sliding window never sees R + 1.
    let pages: Vec<_> = (0..11u64)
        .map(|i| page(&[&format!("u{i}")], (i < 10).then_some(i + 2)))
        .collect();
    let script = Script::new(pages);
    let mut paced = options(1);
    paced.rate = Some(100.0);
    let started = Instant::now();
    let listing = list_all(&script, &ratelimit::per_second(1e6), &paced)
        .await
        .expect("listing");
    assert_eq!(listing.pages, 11);
    let ten_gaps = Duration::from_secs_f64(10.0 / (100.0 * LISTING_PACE));
    assert!(started.elapsed() >= ten_gaps, "{:?}", started.elapsed());
}
