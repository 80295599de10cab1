//! Is this record a command this worker may apply?
//!
//! Anything else — bytes that are not a command, a command for another app,
//! a key that is not the employee id — is dead-lettered at once and the worker
//! goes on: one bad record must never stop an app's provisioning. The reasons
//! given never quote field values, which may be personal data (serde's
//! "invalid type" messages echo them).

use serde_json::error::Category;

use crate::commands::Command;
use crate::dlq::ErrorKind;

/// Why a record is refused: the dead-letter kind and a reason without values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `permanent` or `unknown_app`.
    pub kind: ErrorKind,
    /// For `dlq.error.message` and the log.
    pub reason: String,
}

impl Refusal {
    fn permanent(reason: String) -> Refusal {
        Refusal {
            kind: ErrorKind::Permanent,
            reason,
        }
    }
}

/// Parses and checks one record of `app`'s command topic. `is_known_app`
/// tells whether a foreign app name is in the catalogue (`permanent`: it was
/// routed to the wrong topic) or not (`unknown_app`).
pub fn parse(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    app: &str,
    is_known_app: impl Fn(&str) -> bool,
) -> Result<Command, Refusal> {
    let Some(value) = value else {
        return Err(Refusal::permanent("record has no value".into()));
    };
    let cmd: Command = serde_json::from_slice(value).map_err(|e| {
        let what = match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => "value is not JSON".to_string(),
            Category::Data => {
                let message = e.to_string();
                // These name a field, never a value.
                if ["missing field", "unknown field", "duplicate field"]
                    .iter()
                    .any(|p| message.starts_with(p))
                {
                    let field = message.split(" at line").next().unwrap_or(&message);
                    format!("not a valid command: {field}")
                } else {
                    "not a valid command: a field has the wrong type or value".to_string()
                }
            }
        };
        Refusal::permanent(format!("{what} (line {}, column {})", e.line(), e.column()))
    })?;
    if cmd.app != app {
        return Err(if is_known_app(&cmd.app) {
            Refusal::permanent(format!(
                "command names app {:?} but was read from the command topic of {app:?}",
                cmd.app
            ))
        } else {
            Refusal {
                kind: ErrorKind::UnknownApp,
                reason: format!("command names app {:?}, not in the catalogue", cmd.app),
            }
        });
    }
    if cmd.employee_id.is_empty() {
        return Err(Refusal::permanent("employee_id is empty".into()));
    }
    if let Some(key) = key {
        if key != cmd.employee_id.as_bytes() {
            return Err(Refusal::permanent(
                "record key is not the command's employee_id".into(),
            ));
        }
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn command(app: &str) -> Vec<u8> {
        json!({
            "command_id": format!("{app}:E1:2"), "app": app, "employee_id": "E1", "generation": 2,
            "action": "upsert", "role": "member",
            "account": {"external_id": "E1", "user_name": "ada@acme.test"},
            "cause": {"event_id": "e", "event_type": "hr.employee.hired", "rules": [], "rules_version": "v"},
            "issued_at": "2026-11-26T09:00:00.000Z"
        })
        .to_string()
        .into_bytes()
    }

    fn known(app: &str) -> bool {
        app == "slack" || app == "zendesk"
    }

    #[test]
    fn a_command_of_this_app_passes() {
        let cmd = parse(Some(b"E1"), Some(&command("slack")), "slack", known).unwrap();
        assert_eq!(cmd.generation, 2);
        assert!(parse(None, Some(&command("slack")), "slack", known).is_ok());
    }

    #[test]
    fn other_apps_are_refused_by_kind() {
        let r = parse(Some(b"E1"), Some(&command("zendesk")), "slack", known).unwrap_err();
        assert_eq!(r.kind, ErrorKind::Permanent);
        assert!(r.reason.contains("zendesk"), "{}", r.reason);
        let r = parse(Some(b"E1"), Some(&command("jira")), "slack", known).unwrap_err();
        assert_eq!(r.kind, ErrorKind::UnknownApp);
    }

    #[test]
    fn garbage_is_refused_without_quoting_values() {
        let r = parse(Some(b"E1"), Some(b"{not json"), "slack", known).unwrap_err();
        assert!(r.reason.starts_with("value is not JSON"), "{}", r.reason);
        let bad = json!({"command_id": "x", "app": "slack", "employee_id": "ada@acme.test", "generation": "ada@acme.test"});
        let r = parse(None, Some(bad.to_string().as_bytes()), "slack", known).unwrap_err();
        assert!(!r.reason.contains("ada@"), "{}", r.reason);
        let missing = json!({"command_id": "x", "app": "slack"});
        let r = parse(None, Some(missing.to_string().as_bytes()), "slack", known).unwrap_err();
        assert!(
            r.reason.contains("missing field `employee_id`"),
            "{}",
            r.reason
        );
        let r = parse(None, None, "slack", known).unwrap_err();
        assert_eq!(r.reason, "record has no value");
    }

    #[test]
    fn key_must_be_the_employee() {
        let r = parse(Some(b"E2"), Some(&command("slack")), "slack", known).unwrap_err();
        assert_eq!(r.kind, ErrorKind::Permanent);
    }
}
