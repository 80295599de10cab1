//! Tests of verify-after-write: the comparison, the message, and the
//! apply–read–apply–read sequence against an app in memory.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::connector::Outcome;

fn cmd(json: serde_json::Value) -> Command {
    let mut base = serde_json::json!({
        "command_id": "slack:E1:1", "app": "slack", "employee_id": "E1", "generation": 1,
        "action": "upsert", "role": "member",
        "account": {"external_id": "E1", "user_name": "ada@acme.test",
                    "email": "ada@acme.test", "given_name": "Ada", "family_name": "Lovelace",
                    "display_name": "Ada Lovelace"},
        "cause": {"event_id": "e", "event_type": "hr.employee.hired", "rules": [], "rules_version": "v"},
        "issued_at": "2026-11-26T09:00:00.000Z"
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), json.as_object()) {
        base.extend(extra.clone());
    }
    serde_json::from_value(base).unwrap()
}

fn upsert() -> Command {
    cmd(serde_json::json!({}))
}

fn leave(policy: &str) -> Command {
    cmd(serde_json::json!({"action": "deprovision", "role": null, "deprovision": policy}))
}

/// Ada as an app holding `upsert()` exactly would show her.
fn ada() -> AppAccount {
    AppAccount {
        app_id: "u1".into(),
        external_id: Some("E1".into()),
        user_name: "Ada@Acme.test".into(),
        email: Some("ada@acme.test".into()),
        active: true,
        role: Some("member".into()),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: Some("Ada Lovelace".into()),
    }
}

#[test]
fn an_account_that_took_has_no_mismatch() {
    assert_eq!(compare(&Expected::of(&upsert()), Some(&ada())), vec![]);
    let suspended = AppAccount {
        active: false,
        role: Some("admin".into()),
        ..ada()
    };
    let expected = Expected::of(&leave("suspend"));
    assert_eq!(compare(&expected, Some(&suspended)), vec![]);
    assert_eq!(compare(&expected, None), vec![], "nothing to suspend");
    assert_eq!(compare(&Expected::of(&leave("delete")), None), vec![]);
}

#[test]
fn each_field_that_did_not_take_is_named_without_personal_values() {
    let wrong = AppAccount {
        active: false,
        role: None,
        user_name: "grace".into(),
        email: Some("grace@acme.test".into()),
        given_name: None,
        family_name: Some("Hopper".into()),
        display_name: Some("Grace Hopper".into()),
        ..ada()
    };
    let mismatches = compare(&Expected::of(&upsert()), Some(&wrong));
    let text = message(&mismatches);
    assert!(
        text.ends_with(
            "active: want true, have false; role: want member, have none; userName: differs; \
             email: differs; givenName: differs; familyName: differs; displayName: differs"
        ),
        "{text}"
    );
    for personal in ["ada", "Ada", "grace", "Grace", "Lovelace", "Hopper", "@"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}

#[test]
fn existence_is_checked_both_ways() {
    let suspend = Expected::of(&leave("suspend"));
    assert_eq!(
        compare(&suspend, Some(&ada())),
        vec![Mismatch::Active { want: false }]
    );
    assert_eq!(
        message(&compare(&suspend, Some(&ada())))
            .rsplit(": ")
            .take(2)
            .collect::<Vec<_>>(),
        ["want false, have true", "active"]
    );
    assert_eq!(
        compare(&Expected::of(&leave("delete")), Some(&ada())),
        vec![Mismatch::NotGone]
    );
    assert_eq!(
        compare(&Expected::of(&upsert()), None),
        vec![Mismatch::Missing]
    );
}

#[test]
fn fields_the_command_leaves_unset_are_not_checked() {
    let bare =
        cmd(serde_json::json!({"account": {"external_id": "E1", "user_name": "ada@acme.test"}}));
    let other = AppAccount {
        email: Some("old@acme.test".into()),
        display_name: None,
        ..ada()
    };
    assert_eq!(compare(&Expected::of(&bare), Some(&other)), vec![]);
}

/// An app in memory whose account shows `active` as `shows` says, however
/// it is written; counts applies and reads.
struct Stubborn {
    shows: Mutex<Vec<bool>>,
    reads: AtomicU32,
}

impl Stubborn {
    /// Reads answer `active` from `shows`, in order.
    fn new(shows: &[bool]) -> Stubborn {
        Stubborn {
            shows: Mutex::new(shows.iter().rev().copied().collect()),
            reads: AtomicU32::new(0),
        }
    }
}

impl Connector for Stubborn {
    async fn apply(&self, _cmd: &Command) -> Result<Applied, ConnectorError> {
        unreachable!("the test applies through its own closure")
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn read_back(
        &self,
        _cmd: &Command,
        _applied: &Applied,
    ) -> Result<Option<AppAccount>, ConnectorError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let active = self
            .shows
            .lock()
            .unwrap()
            .pop()
            .expect("no more reads expected");
        Ok(Some(AppAccount { active, ..ada() }))
    }
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    }
}

/// Runs a verified suspension against `app`; each apply takes 2 calls.
async fn suspend(app: &Stubborn) -> (Verified<()>, u32) {
    let applies = AtomicU32::new(0);
    let limiter = crate::ratelimit::per_second(1_000.0);
    let verified = verified(app, &limiter, &retry(), &leave("suspend"), || async {
        applies.fetch_add(1, Ordering::SeqCst);
        let applied = Applied {
            outcome: Outcome::Applied,
            app_account_id: Some("u1".into()),
        };
        (Ok(applied), 2)
    })
    .await;
    (verified, applies.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_mismatch_is_applied_once_more_then_fails() {
    let app = Stubborn::new(&[true, true]);
    let (verified, applies) = suspend(&app).await;
    assert_eq!(
        verified.outcome,
        Err(Unverified::Mismatch(vec![Mismatch::Active { want: false }]))
    );
    assert_eq!((applies, app.reads.load(Ordering::SeqCst)), (2, 2));
    assert_eq!(verified.attempts, 4, "both applies' calls");
}

#[tokio::test]
async fn a_second_apply_that_takes_is_applied() {
    let app = Stubborn::new(&[true, false]);
    let (verified, applies) = suspend(&app).await;
    assert!(verified.outcome.is_ok(), "{verified:?}");
    assert_eq!((applies, verified.attempts), (2, 4));
}

#[tokio::test]
async fn an_account_that_took_is_read_once() {
    let app = Stubborn::new(&[false]);
    let (verified, applies) = suspend(&app).await;
    assert!(verified.outcome.is_ok(), "{verified:?}");
    assert_eq!((applies, app.reads.load(Ordering::SeqCst)), (1, 1));
}

/// An app whose reads fail with `error` `failures` times, then show a
/// suspended account.
struct Flaky {
    failures: AtomicU32,
    error: ConnectorError,
    reads: AtomicU32,
}

impl Connector for Flaky {
    async fn apply(&self, _cmd: &Command) -> Result<Applied, ConnectorError> {
        unreachable!("check only reads")
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn read_back(
        &self,
        _cmd: &Command,
        _applied: &Applied,
    ) -> Result<Option<AppAccount>, ConnectorError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(self.error.clone());
        }
        Ok(Some(AppAccount {
            active: false,
            ..ada()
        }))
    }
}

#[tokio::test]
async fn transient_read_failures_are_retried_within_the_budget() {
    let limiter = crate::ratelimit::per_second(1_000.0);
    let applied = Applied {
        outcome: Outcome::Applied,
        app_account_id: None,
    };
    let transient = ConnectorError::Transient {
        message: "HTTP 503".into(),
        retry_after: None,
    };
    let app = |failures, error: &ConnectorError| Flaky {
        failures: AtomicU32::new(failures),
        error: error.clone(),
        reads: AtomicU32::new(0),
    };
    let cmd = leave("suspend");
    let flaky = app(2, &transient);
    let checked = check(&flaky, &limiter, &retry(), &cmd, &applied).await;
    assert_eq!(
        (checked, flaky.reads.load(Ordering::SeqCst)),
        (Ok(vec![]), 3)
    );
    let down = app(3, &transient);
    let checked = check(&down, &limiter, &retry(), &cmd, &applied).await;
    assert_eq!(
        (checked, down.reads.load(Ordering::SeqCst)),
        (Err(transient), 3)
    );
    let refused = ConnectorError::Permanent {
        message: "HTTP 400".into(),
    };
    let once = app(1, &refused);
    let checked = check(&once, &limiter, &retry(), &cmd, &applied).await;
    assert_eq!(
        (checked, once.reads.load(Ordering::SeqCst)),
        (Err(refused), 1)
    );
}
