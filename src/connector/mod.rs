//! Connectors: apply commands to the apps' APIs.
//!
//! Each app kind (`scim`, `zendesk`, `webhook`) implements [`Connector`]; the
//! worker (consumption, ordering, retries, rate limits, dead-lettering) is
//! generic over it. The error kinds drive the worker's behaviour, so an
//! implementation's main job besides the HTTP calls is to classify failures
//! honestly. Kinds with a read API also implement [`listing::Lister`], so
//! reconciliation can read every account they hold.

pub(crate) mod apply;
pub mod build;
mod consume;
mod error;
mod events;
pub mod findings;
pub(crate) mod generations;
pub mod http;
pub(crate) mod intake;
pub mod listing;
pub(crate) mod offsets;
pub(crate) mod ordering;
pub(crate) mod outage;
pub mod periodic;
pub mod react;
pub(crate) mod rebalance;
pub(crate) mod redact;
mod retry;
pub mod scim;
mod supervise;
pub mod survey;
pub mod verify;
pub mod webhook;
pub mod worker;
pub(crate) mod zendesk;

use std::future::Future;
use std::time::Duration;

use crate::commands::Command;
use crate::reconcile::AppAccount;

pub use supervise::{chosen, run_all, select, RunError, SelectError};

/// What applying a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `Applied` when the app changed, `Unchanged` when it already matched.
    pub outcome: Outcome,
    /// The app's id of the account, when known.
    pub app_account_id: Option<String>,
}

/// The outcomes of CONTRACT §6 a connector can report itself; the worker adds
/// `superseded` and `dead_lettered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The app was changed.
    Applied,
    /// The app already matched the command.
    Unchanged,
}

/// Why a command could not be applied; the kind decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying (timeouts, 429, 5xx, connection errors), after
    /// `retry_after` when the app said so.
    #[error("transient: {message}")]
    Transient {
        /// What happened, without secrets.
        message: String,
        /// The app's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The app refused this command for good (e.g. 400, 422): dead-letter it.
    #[error("permanent: {message}")]
    Permanent {
        /// What happened, without secrets.
        message: String,
    },
    /// The app as a whole cannot be used (401/403, sustained outage): stop
    /// consuming and probe, rather than dead-lettering every command.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What happened, without secrets.
        message: String,
    },
}

/// One app kind's API client.
pub trait Connector: Send + Sync {
    /// Makes the app's account match `cmd`. Must be idempotent: applying the
    /// same command twice never creates a second account.
    fn apply(&self, cmd: &Command) -> impl Future<Output = Result<Applied, ConnectorError>> + Send;

    /// A cheap request proving the app answers and accepts our credentials;
    /// used to decide when a paused app may resume.
    fn probe(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send;

    /// The account `cmd` touched, read back after applying it (`applied` is
    /// what the apply answered, e.g. the app's id of the account); `None`
    /// when the app has none. For `apps.<name>.verify`; kinds without a
    /// read API keep this default, and configuration refuses `verify` for
    /// them.
    fn read_back(
        &self,
        _cmd: &Command,
        _applied: &Applied,
    ) -> impl Future<Output = Result<Option<AppAccount>, ConnectorError>> + Send {
        async {
            Err(ConnectorError::Permanent {
                message: "this app kind cannot read an account back".into(),
            })
        }
    }

    /// What [`read_back`](Connector::read_back) shows once `cmd` took; by
    /// default every field the command sets, as it sets it.
    fn expected(&self, cmd: &Command) -> verify::Expected {
        verify::Expected::of(cmd)
    }
}
