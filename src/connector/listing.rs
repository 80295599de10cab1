//! Reading every account an app holds (reconciliation, issue #13): one page
//! per request, each request after the app's own token bucket.
//!
//! An app kind that can be read implements [`Lister`] (one page);
//! [`list_all`] pages through it. The listing shares the worker's bucket
//! (`apps.<name>.rate_limit_per_second`) so a reconciliation never starves
//! the commands, and the connector's HTTP client, credentials, timeouts and
//! error classification, so an app fails the same way for both.
//!
//! A listing is all or nothing: reconciliation must never act on a partial
//! scan (an account on an unread page would look missing, an orphan on it
//! would be missed), so a page that fails for good makes the whole listing an
//! error saying how far it got ([`ListError::Partial`]), never a shorter `Ok`.
//! Webhook apps have no read API: they answer [`ListError::Unsupported`],
//! never an empty list.

use std::collections::HashSet;
use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Url;

use super::retry::backoff;
use super::{Applied, ConnectorError};
use crate::config::{AppConfig, RetryConfig};
use crate::ratelimit::{self, Limiter};
use crate::reconcile::AppAccount;

/// The page size unless the caller asks otherwise: what Zendesk allows at
/// most, and a modest SCIM page.
pub const DEFAULT_PAGE_SIZE: NonZeroU32 = match NonZeroU32::new(100) {
    Some(size) => size,
    None => NonZeroU32::MIN,
};

/// Where the next page starts; made by the lister that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// SCIM: the 1-based `startIndex` of the next page (RFC 7644 §3.4.2.4).
    Index(u64),
    /// Zendesk: the `links.next` URL of cursor pagination.
    Link(Url),
}

/// One page of an app's accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The accounts on this page, in the app's order.
    pub accounts: Vec<AppAccount>,
    /// The next page, or `None` when this was the last.
    pub next: Option<Cursor>,
}

/// An app kind whose accounts can be read.
pub trait Lister: Send + Sync {
    /// The app, for error messages and logs.
    fn app(&self) -> &str;

    /// One page of at most `page_size` accounts from `cursor` (`None`: the
    /// first page). One request: waiting and retrying are [`list_all`]'s.
    fn list_page(
        &self,
        cursor: Option<&Cursor>,
        page_size: NonZeroU32,
    ) -> impl Future<Output = Result<Page, ConnectorError>> + Send;
}

/// An app kind that can suspend an account it listed, by the app's own id:
/// reconciliation's reaction to an orphan no employee owns (such an account
/// has no employee, so no command can name it). Never deletes.
pub trait SuspendListed: Send + Sync {
    /// Suspends `account` (as listed) unless the app now says it belongs to
    /// someone (its external id changed since the listing): a `Permanent`
    /// error then, nothing written. `Unchanged` when it is already inactive
    /// or gone.
    fn suspend_listed(
        &self,
        account: &AppAccount,
    ) -> impl Future<Output = Result<Applied, ConnectorError>> + Send;
}

/// The refusal of [`SuspendListed::suspend_listed`] when the account's
/// external id is no longer the listed one.
pub(crate) fn claimed_since_listing(app_id: &str, now: Option<&str>) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!(
            "account {app_id} now has external id {now:?}, not the one listed: \
             it may belong to someone now; not suspended"
        ),
    }
}

/// How far under the app's rate a listing paces its own requests.
///
/// The bucket spaces *sends* by `1/R`, but an app that enforces its limit
/// counts *arrivals* in a sliding second: the first page also opens the
/// connection, arrives late, and the eleventh page at R = 10 then lands
/// inside its second (one 429 in the reconcile bench). A listing is
/// hundreds of back-to-back requests, unlike commands, so it keeps 2 % under
/// the rate: ten gaps then span 1.02 s, room for 20 ms of set-up.
pub const LISTING_PACE: f64 = 0.98;

/// How to page through an app.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Accounts asked for per request (Zendesk allows at most 100).
    pub page_size: NonZeroU32,
    /// The app's retry budget (`apps.<name>.retry`): a transient failure on
    /// a page is retried as a command's call would be.
    pub retry: RetryConfig,
    /// The app's `rate_limit_per_second`, when known: the listing keeps
    /// [`LISTING_PACE`] of it besides waiting for the shared bucket.
    pub rate: Option<f64>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            page_size: DEFAULT_PAGE_SIZE,
            retry: RetryConfig::default(),
            rate: None,
        }
    }
}

impl ListOptions {
    /// The options of `app`: its `reconcile.page_size`, `retry` and rate.
    pub fn of(app: &AppConfig) -> ListOptions {
        ListOptions {
            page_size: app.reconcile.page_size(),
            retry: app.retry.clone(),
            rate: Some(app.rate_limit_per_second),
        }
    }
}

/// Every account of an app, read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The accounts, once each (by app id), in the app's order.
    pub accounts: Vec<AppAccount>,
    /// Pages read.
    pub pages: u32,
    /// Page requests retried after a transient failure (e.g. a 429).
    pub retries: u32,
}

/// Why an app's accounts could not be read in full. Either way the caller
/// has nothing to act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The app kind has no read API (webhook); reconciliation skips the app.
    #[error("app {app}: {reason}")]
    Unsupported {
        /// The app.
        app: String,
        /// Why, for the operator.
        reason: &'static str,
    },
    /// A page failed for good (after retries when transient): the scan is
    /// partial and must not be acted on.
    #[error(
        "app {app}: listing failed after {pages} page(s) and {accounts} account(s) read; \
         a partial scan is not acted on: {error}"
    )]
    Partial {
        /// The app.
        app: String,
        /// Pages read before the failure.
        pages: u32,
        /// Accounts read before the failure.
        accounts: usize,
        /// The failure of the page that could not be read.
        error: ConnectorError,
    },
}

/// What a webhook app answers a listing.
pub const WEBHOOK_UNSUPPORTED: &str = "webhook apps have no read API; reconciliation skips them";

/// Reads every account of `lister`'s app, page by page. Each request (retries
/// included) first waits for `limiter`, the app's bucket the worker uses.
/// A transient failure is retried after the app's `Retry-After`, else after
/// the backoff of `options.retry`, up to its `max_attempts` per page; a
/// permanent or unavailable answer, or an exhausted budget, ends the listing
/// with [`ListError::Partial`]. An account listed twice (index paging shifts
/// when the app changes meanwhile) is kept once.
pub async fn list_all<L: Lister>(
    lister: &L,
    limiter: &Limiter,
    options: &ListOptions,
) -> Result<Listing, ListError> {
    let mut listing = Listing {
        accounts: Vec::new(),
        pages: 0,
        retries: 0,
    };
    let mut seen = HashSet::new();
    let mut cursor = None;
    let pace = options
        .rate
        .map(|rate| ratelimit::per_second(rate * LISTING_PACE));
    let buckets = (limiter, pace.as_ref());
    loop {
        let page = match read_page(lister, buckets, options, cursor.as_ref(), &mut listing).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(
                    app = lister.app(),
                    pages = listing.pages,
                    accounts = listing.accounts.len(),
                    %error,
                    "Listing failed; the partial scan is dropped."
                );
                return Err(ListError::Partial {
                    app: lister.app().to_string(),
                    pages: listing.pages,
                    accounts: listing.accounts.len(),
                    error,
                });
            }
        };
        listing.pages += 1;
        for account in page.accounts {
            if seen.insert(account.app_id.clone()) {
                listing.accounts.push(account);
            }
        }
        match page.next {
            None => break,
            Some(next) if Some(&next) == cursor.as_ref() => {
                let error = ConnectorError::Permanent {
                    message: format!("the app's pagination does not advance ({next:?})"),
                };
                return Err(ListError::Partial {
                    app: lister.app().to_string(),
                    pages: listing.pages,
                    accounts: listing.accounts.len(),
                    error,
                });
            }
            next => cursor = next,
        }
    }
    tracing::info!(
        app = lister.app(),
        pages = listing.pages,
        accounts = listing.accounts.len(),
        retries = listing.retries,
        "App listed."
    );
    Ok(listing)
}

/// One page, after the listing's pace and then the app's bucket (so the
/// shared token is taken just before the request), with the app's retry
/// budget.
async fn read_page<L: Lister>(
    lister: &L,
    (limiter, pace): (&Limiter, Option<&Limiter>),
    options: &ListOptions,
    cursor: Option<&Cursor>,
    listing: &mut Listing,
) -> Result<Page, ConnectorError> {
    let mut delays = backoff(&options.retry);
    let mut attempt = 0;
    loop {
        if let Some(pace) = pace {
            pace.until_ready().await;
        }
        limiter.until_ready().await;
        attempt += 1;
        let error = match lister.list_page(cursor, options.page_size).await {
            Ok(page) => return Ok(page),
            Err(error) => error,
        };
        let ConnectorError::Transient { retry_after, .. } = &error else {
            return Err(error);
        };
        if attempt >= options.retry.max_attempts {
            return Err(error);
        }
        // As for a command, the app's `Retry-After` wins over the backoff.
        let delay = retry_after.unwrap_or_else(|| next_delay(&mut delays, &options.retry));
        tracing::info!(
            app = lister.app(),
            page = listing.pages + 1,
            attempt,
            delay_ms = delay.as_millis() as u64,
            %error,
            "Listing page failed; retrying."
        );
        listing.retries += 1;
        tokio::time::sleep(delay).await;
    }
}

/// The backoff iterator never ends (`without_max_times`); the cap stands in.
fn next_delay(delays: &mut impl Iterator<Item = Duration>, retry: &RetryConfig) -> Duration {
    delays.next().unwrap_or(retry.max_delay)
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
