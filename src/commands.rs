//! Provisioning commands (CONTRACT §5): what the engine emits and connectors apply.
//!
//! A command is declarative — "this employee's account in this app must look
//! like this now" — so applying it twice, or after a newer one, is harmless:
//! the connector compares `generation` with the last one it applied.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::config::LeaverPolicy;
use crate::ids::{AppName, EmployeeId, EventId, RoleName, RuleName, RulesVersion};

/// `cause.event_type` of a command `provisioner reconcile` writes to
/// re-assert an employee's last decision (CONTRACT §5): it carries the
/// generation it re-asserts, so the connector applies it over that same
/// generation but never over a newer one.
pub const REASSERT_EVENT_TYPE: &str = "provisioner.reconcile.reassert";

/// What the account must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The account exists, active, with `role`.
    Upsert,
    /// The account is suspended or deleted, per `deprovision`.
    Deprovision,
}

impl Action {
    /// The wire name (the metric label is the same word).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upsert => "upsert",
            Action::Deprovision => "deprovision",
        }
    }
}

/// The account fields an app sees; a change to any of them is a new command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Our employee id, the app's `externalId`.
    pub external_id: String,
    /// The login; the e-mail, or the employee id when HR sent none.
    pub user_name: String,
    /// Work e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// "First Last".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Why a command was issued, for audit and for replay decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The HR event's id, or the rules version for a rules-change re-evaluation.
    pub event_id: EventId,
    /// The HR event's type, or `provisioner.rules.changed`: one of a few
    /// names known in advance, so a decision's commands copy no text.
    pub event_type: Cow<'static, str>,
    /// The rules granting the app, the deciding one first; empty on deprovision.
    pub rules: Vec<RuleName>,
    /// The rules version the decision was made under.
    pub rules_version: RulesVersion,
    /// On a command issued because a date took effect (`event_type`
    /// `provisioner.schedule.due`): which date, and when (CONTRACT §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Effective>,
}

/// The date behind a scheduled command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effective {
    /// `start_date` or `end_date`.
    pub field: String,
    /// The date as HR wrote it (a day or an instant); empty when access
    /// ended outside the dates (an immediate leave).
    pub date: String,
    /// The instant it took effect: the day's start or end in the employee's
    /// time zone, moved by the app's `pre_start_ms` / `post_end_ms`.
    #[serde(with = "millis")]
    pub at: DateTime<Utc>,
}

/// One command, as serialised onto `provisioning.commands.<app>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// `<app>:<employee id>:<generation>`, unique and stable.
    pub command_id: String,
    /// The app (catalogue name).
    pub app: AppName,
    /// The employee, also the record key.
    pub employee_id: EmployeeId,
    /// Rises by one with each command of one employee in one app.
    pub generation: u64,
    /// Upsert or deprovision.
    pub action: Action,
    /// The leaver policy, on deprovision only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprovision: Option<LeaverPolicy>,
    /// The role, on upsert only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleName>,
    /// The account as it must be (upsert) or as last known (deprovision).
    /// Shared with the employee's state and the other apps' commands: an
    /// event's commands all carry the same account.
    pub account: Arc<Account>,
    /// Why.
    pub cause: Cause,
    /// When the engine decided, millisecond precision, UTC.
    #[serde(with = "millis")]
    pub issued_at: DateTime<Utc>,
}

impl Command {
    /// The command id for an app, employee and generation.
    pub fn id_for(app: &str, employee_id: &str, generation: u64) -> String {
        // Built by hand: `format!` cost a tenth of a decision (one per command).
        let mut digits = [0u8; 20];
        let mut n = generation;
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(app.len() + employee_id.len() + 2 + digits.len() - at);
        id.push_str(app);
        id.push(':');
        id.push_str(employee_id);
        id.push(':');
        // ASCII digits only.
        id.extend(digits[at..].iter().map(|&d| char::from(d)));
        id
    }

    /// Whether reconciliation wrote it to re-assert its generation
    /// ([`REASSERT_EVENT_TYPE`]).
    pub fn is_reassert(&self) -> bool {
        self.cause.event_type == REASSERT_EVENT_TYPE
    }

    /// The JSON bytes written to Kafka.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// RFC 3339 with milliseconds and `Z`, as in CONTRACT §5.
mod millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        match write(t, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }
    }

    /// `t` as chrono's `to_rfc3339_opts(Millis, true)` writes it,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, into `buf` without allocating (two per
    /// command on the engine's hot path); `None` for what only chrono's
    /// own format covers: a year outside 0000–9999 (signed, wider) or a leap
    /// second.
    pub(super) fn write<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; 24]) -> Option<&'a str> {
        use chrono::{Datelike, Timelike};
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        let fields = [
            (0, year, 4),
            (5, t.month(), 2),
            (8, t.day(), 2),
            (11, t.hour(), 2),
            (14, t.minute(), 2),
            (17, t.second(), 2),
            (20, nanos / 1_000_000, 3),
        ];
        for (at, mut value, width) in fields {
            for i in (at..at + width).rev() {
                // A digit: `value % 10` is below 10.
                buf[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        for (at, c) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ] {
            buf[at] = c;
        }
        buf[23] = b'Z';
        std::str::from_utf8(buf).ok()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn instants_are_written_as_chrono_writes_them(
            secs in -62_167_219_200i64..253_402_300_800, nanos in 0u32..1_000_000_000
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let mut buf = [0u8; 24];
            let text = millis::write(&t, &mut buf).map(str::to_string);
            prop_assert_eq!(text, Some(t.to_rfc3339_opts(SecondsFormat::Millis, true)));
        }
    }

    #[test]
    fn instants_only_chrono_can_write_are_left_to_it() {
        let mut buf = [0u8; 24];
        let far = DateTime::from_timestamp(253_402_300_800, 0).unwrap();
        assert_eq!(millis::write(&far, &mut buf), None, "year 10000");
        let before = DateTime::from_timestamp(-62_167_219_201, 0).unwrap();
        assert_eq!(millis::write(&before, &mut buf), None, "year -1");
        let leap = DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap();
        assert_eq!(millis::write(&leap, &mut buf), None, "a leap second");
    }

    #[test]
    fn command_ids_are_app_employee_and_generation() {
        assert_eq!(Command::id_for("zendesk", "E1001", 3), "zendesk:E1001:3");
        assert_eq!(Command::id_for("a", "b", 0), "a:b:0");
        assert_eq!(Command::id_for("a", "b", 10), "a:b:10");
        assert_eq!(
            Command::id_for("slack", "E:7", u64::MAX),
            format!("slack:E:7:{}", u64::MAX)
        );
    }

    #[test]
    fn upsert_serialises_as_spec() {
        let cmd = Command {
            command_id: Command::id_for("zendesk", "E1001", 3),
            app: "zendesk".into(),
            employee_id: "E1001".into(),
            generation: 3,
            action: Action::Upsert,
            deprovision: None,
            role: Some("light_agent".into()),
            account: Arc::new(Account {
                external_id: "E1001".into(),
                user_name: "ada@acme.test".into(),
                email: Some("ada@acme.test".into()),
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
                display_name: Some("Ada Lovelace".into()),
            }),
            cause: Cause {
                event_id: "evt-0001".into(),
                event_type: "hr.employee.hired".into(),
                rules: vec!["Dev Team".into()],
                rules_version: "sha256:ab".into(),
                effective: None,
            },
            issued_at: DateTime::parse_from_rfc3339("2026-11-26T09:00:00.012Z")
                .unwrap()
                .with_timezone(&Utc),
        };
        let value: serde_json::Value = serde_json::from_slice(&cmd.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "command_id": "zendesk:E1001:3",
                "app": "zendesk",
                "employee_id": "E1001",
                "generation": 3,
                "action": "upsert",
                "role": "light_agent",
                "account": {
                    "external_id": "E1001",
                    "user_name": "ada@acme.test",
                    "email": "ada@acme.test",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "display_name": "Ada Lovelace"
                },
                "cause": {
                    "event_id": "evt-0001",
                    "event_type": "hr.employee.hired",
                    "rules": ["Dev Team"],
                    "rules_version": "sha256:ab"
                },
                "issued_at": "2026-11-26T09:00:00.012Z"
            })
        );
        let back: Command = serde_json::from_value(value).unwrap();
        assert_eq!(back, cmd);
    }

    #[test]
    fn deprovision_has_policy_and_no_role() {
        let json = json!({
            "command_id": "slack:E1:2", "app": "slack", "employee_id": "E1", "generation": 2,
            "action": "deprovision", "deprovision": "suspend",
            "account": {"external_id": "E1", "user_name": "a@b"},
            "cause": {"event_id": "e", "event_type": "hr.employee.left", "rules": [], "rules_version": "v"},
            "issued_at": "2026-11-26T09:00:00.000Z"
        });
        let cmd: Command = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(cmd.deprovision, Some(LeaverPolicy::Suspend));
        assert_eq!(cmd.role, None);
        let round: serde_json::Value = serde_json::from_slice(&cmd.to_json()).unwrap();
        assert_eq!(round, json);
    }
}
