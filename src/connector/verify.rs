//! Verify after write (`apps.<name>.verify`, CONTRACT §7/§9): after a
//! command is applied, read the account back and check that what the
//! command set took. Some apps answer `200` and ignore a field (a SCIM server
//! that drops `active=false`); without this, such a leaver keeps access and
//! every result says `applied`.
//!
//! A mismatch is applied once more (the same command) and read back again;
//! still wrong, the command is dead-lettered as `verify_failed` with a message
//! naming each field that did not take. Values are shown only for `active`
//! and `role`; for names and addresses only the field is named, since the
//! message reaches logs and dead-letter headers.
//!
//! The connector reads the account ([`Connector::read_back`], reusing its
//! listing's mapping to [`AppAccount`]) and says what the app should hold
//! ([`Connector::expected`]); comparing, retrying and deciding live here.

use std::fmt;
use std::future::Future;

use crate::commands::{Action, Command};
use crate::config::{LeaverPolicy, RetryConfig};
use crate::connector::retry::backoff;
use crate::connector::{Applied, Connector, ConnectorError};
use crate::ratelimit::Limiter;
use crate::reconcile::AppAccount;

/// What the app should hold after a command took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// No account (a delete).
    Gone,
    /// An account with these values; a `None` field is not checked (the
    /// command does not set it, or the app kind does not keep it).
    Account(Want),
}

/// The values an account must have; `None` is not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Want {
    /// `true` for an upsert, `false` for a suspension.
    pub active: bool,
    /// Our role, as the app's read-back maps it.
    pub role: Option<String>,
    /// The login.
    pub user_name: Option<String>,
    /// The primary e-mail.
    pub email: Option<String>,
    /// First name.
    pub given_name: Option<String>,
    /// Last name.
    pub family_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

impl Expected {
    /// What a command sets when the app keeps every account field as is
    /// (SCIM): an upsert the account's fields, its role and `active`; a
    /// suspension `active = false` only; a delete no account.
    pub fn of(cmd: &Command) -> Expected {
        match (cmd.action, cmd.deprovision.unwrap_or_default()) {
            (Action::Upsert, _) => {
                let account = &cmd.account;
                Expected::Account(Want {
                    active: true,
                    role: cmd.role.as_deref().map(str::to_string),
                    user_name: Some(account.user_name.clone()),
                    email: account.email.clone(),
                    given_name: account.given_name.clone(),
                    family_name: account.family_name.clone(),
                    display_name: account.display_name.clone(),
                })
            }
            (Action::Deprovision, LeaverPolicy::Suspend) => Expected::suspended(),
            (Action::Deprovision, LeaverPolicy::Delete) => Expected::Gone,
        }
    }

    /// An inactive account, nothing else checked.
    pub fn suspended() -> Expected {
        Expected::Account(Want::default())
    }
}

/// A field that did not take. Its `Display` is the dead-letter message's
/// part for it and holds no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The account should be gone and is still there.
    NotGone,
    /// The account should exist and the app has none.
    Missing,
    /// `active` is not what the command set.
    Active {
        /// What the command set.
        want: bool,
    },
    /// The role is not the command's (role names are configuration, not
    /// personal data, so both are shown).
    Role {
        /// The command's role.
        want: String,
        /// The app's, if it has one we know.
        have: Option<String>,
    },
    /// A personal field differs; only its name is shown.
    Differs(&'static str),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NotGone => f.write_str("account: want gone, have present"),
            Mismatch::Missing => f.write_str("account: want present, have none"),
            Mismatch::Active { want } => write!(f, "active: want {want}, have {}", !want),
            Mismatch::Role { want, have } => {
                let have = have.as_deref().unwrap_or("none");
                write!(f, "role: want {want}, have {have}")
            }
            Mismatch::Differs(field) => write!(f, "{field}: differs"),
        }
    }
}

/// The fields of `found` that do not match `expected`. A suspension of an
/// account the app does not have is fine: there is nothing to sign in with.
pub fn compare(expected: &Expected, found: Option<&AppAccount>) -> Vec<Mismatch> {
    let want = match (expected, found) {
        (Expected::Gone, None) => return vec![],
        (Expected::Gone, Some(_)) => return vec![Mismatch::NotGone],
        (Expected::Account(want), None) if want.active => return vec![Mismatch::Missing],
        (Expected::Account(_), None) => return vec![],
        (Expected::Account(want), Some(have)) => (want, have),
    };
    let (want, have) = want;
    let mut mismatches = Vec::new();
    if want.active != have.active {
        mismatches.push(Mismatch::Active { want: want.active });
    }
    if let Some(role) = &want.role {
        if have.role.as_ref() != Some(role) {
            mismatches.push(Mismatch::Role {
                want: role.clone(),
                have: have.role.clone(),
            });
        }
    }
    // User names compare as the connectors look them up: case-insensitively.
    let same_name = |w: &String, h: &String| w.eq_ignore_ascii_case(h);
    if let Some(name) = &want.user_name {
        if !same_name(name, &have.user_name) {
            mismatches.push(Mismatch::Differs("userName"));
        }
    }
    let personal = [
        ("email", &want.email, &have.email),
        ("givenName", &want.given_name, &have.given_name),
        ("familyName", &want.family_name, &have.family_name),
        ("displayName", &want.display_name, &have.display_name),
    ];
    for (field, want, have) in personal {
        if want.is_some() && want != have {
            mismatches.push(Mismatch::Differs(field));
        }
    }
    mismatches
}

/// The `dlq.error.message` of a command that did not take.
pub fn message(mismatches: &[Mismatch]) -> String {
    let fields: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    format!(
        "the app accepted the command but reading the account back shows it did not take, \
         also after one more try: {}",
        fields.join("; ")
    )
}

/// Reads the account `cmd` touched back and compares it with what the
/// connector expects. Each read waits for the app's token bucket; a
/// transient failure is retried after the app's `Retry-After`, else the
/// backoff of `retry`, up to its `max_attempts`.
pub async fn check<C: Connector>(
    connector: &C,
    limiter: &Limiter,
    retry: &RetryConfig,
    cmd: &Command,
    applied: &Applied,
) -> Result<Vec<Mismatch>, ConnectorError> {
    let mut delays = backoff(retry);
    let mut attempt = 0;
    let found = loop {
        limiter.until_ready().await;
        attempt += 1;
        let error = match connector.read_back(cmd, applied).await {
            Ok(found) => break found,
            Err(error) => error,
        };
        let ConnectorError::Transient { retry_after, .. } = &error else {
            return Err(error);
        };
        if attempt >= retry.max_attempts {
            return Err(error);
        }
        let delay = retry_after
            .or_else(|| delays.next())
            .unwrap_or(retry.max_delay);
        tracing::info!(attempt, %error, "Reading the account back failed; retrying.");
        tokio::time::sleep(delay).await;
    };
    Ok(compare(&connector.expected(cmd), found.as_ref()))
}

/// Why a verified apply did not end applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverified<E> {
    /// Applying failed (the apply's own verdict).
    Apply(E),
    /// The account could not be read back.
    Read(ConnectorError),
    /// Still wrong after one more apply.
    Mismatch(Vec<Mismatch>),
}

/// What a verified apply came to, and the apply attempts it took in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<E> {
    /// Applied and verified, or why not.
    pub outcome: Result<Applied, Unverified<E>>,
    /// Apply calls made, both applies together.
    pub attempts: u32,
}

/// Applies `cmd` with `apply` (the worker's call with retries; it answers
/// the outcome and the calls it made), reads the account back, and on a
/// mismatch applies once more and reads again.
pub async fn verified<C, E, F, Fut>(
    connector: &C,
    limiter: &Limiter,
    retry: &RetryConfig,
    cmd: &Command,
    mut apply: F,
) -> Verified<E>
where
    C: Connector,
    F: FnMut() -> Fut,
    Fut: Future<Output = (Result<Applied, E>, u32)>,
{
    let mut attempts = 0;
    let mut tries = 0;
    loop {
        tries += 1;
        let (answer, made) = apply().await;
        attempts += made;
        let stop = |outcome| Verified { outcome, attempts };
        let applied = match answer {
            Ok(applied) => applied,
            Err(error) => return stop(Err(Unverified::Apply(error))),
        };
        let mismatches = match check(connector, limiter, retry, cmd, &applied).await {
            Ok(mismatches) => mismatches,
            Err(error) => return stop(Err(Unverified::Read(error))),
        };
        if mismatches.is_empty() {
            return stop(Ok(applied));
        }
        let fields: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        if tries >= 2 {
            tracing::warn!(?fields, "The command did not take, twice.");
            return stop(Err(Unverified::Mismatch(mismatches)));
        }
        tracing::warn!(?fields, "The command did not take; applying it once more.");
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
