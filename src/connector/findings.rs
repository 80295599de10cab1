//! Reconciliation's findings topic (`topics.reconcile_findings`, #13): one
//! record per finding per run, for dashboards and audit.
//!
//! Written by every complete run, `--dry-run` included (findings are
//! observations, not actions), in one transaction per app after the
//! listing, so a reader (`read_committed`) sees an app's run whole or not
//! at all. A partial scan writes nothing: its findings would claim orphans
//! and missing accounts that are only unread.
//!
//! The records carry user names and e-mails (audit data, like the
//! dead-letter topics): they go to the topic only, never to a log or a
//! metric label.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::react::{write_keyed, Run, WriteError};
use crate::config::Config;
use crate::reconcile::{Finding, Report};

/// One record's value: the finding as the report's JSON has it, with the
/// app and the run it belongs to.
#[derive(Serialize)]
struct Record<'a> {
    app: &'a str,
    #[serde(flatten)]
    finding: &'a Finding,
    run_id: &'a str,
    observed_at: String,
    partial: bool,
}

/// A finding's key: `<app>/<app account id>`, or for a missing account
/// (which has no id) `<app>/missing/<employee id>`, so that compaction or
/// a consumer keeping the latest per key tracks each account over runs.
pub fn key(app: &str, finding: &Finding) -> String {
    match (&finding.account, &finding.employee_id) {
        (Some(account), _) => format!("{app}/{}", account.app_id),
        (None, Some(employee)) => format!("{app}/missing/{employee}"),
        // Only `missing` has no account, and it always names its employee.
        (None, None) => format!("{app}/missing/-"),
    }
}

/// Every finding of `report` as `(key, value)` records of `run`, observed
/// when the listing ended (`observed_at`, RFC 3339 with milliseconds, Z).
pub fn records(
    app: &str,
    report: &Report,
    run: &Run,
    observed_at: DateTime<Utc>,
) -> Vec<(String, Vec<u8>)> {
    let observed_at = observed_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    report
        .findings
        .iter()
        .map(|finding| {
            let record = Record {
                app,
                finding,
                run_id: &run.id,
                observed_at: observed_at.clone(),
                partial: report.partial,
            };
            // Plain structs of strings, numbers and enums: cannot fail.
            let value = serde_json::to_vec(&record).unwrap_or_default();
            (key(app, finding), value)
        })
        .collect()
}

/// Writes `report`'s findings for `app` in one transaction (transactional
/// id `<group_id>-reconcile-findings-<app>`); nothing for a partial report
/// or one without findings.
pub async fn write(
    config: &Config,
    app: &str,
    report: &Report,
    run: &Run,
    observed_at: DateTime<Utc>,
) -> Result<(), WriteError> {
    if report.partial || report.findings.is_empty() {
        return Ok(());
    }
    let records = records(app, report, run, observed_at);
    let topic = config.topics.reconcile_findings.clone();
    let transactional_id = format!("{}-reconcile-findings-{app}", config.kafka.group_id);
    write_keyed(config, topic, transactional_id, records).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{AppAccount, Situation};
    use serde_json::{json, Value};

    fn finding(situation: Situation, app_id: Option<&str>, employee: Option<&str>) -> Finding {
        Finding {
            situation,
            user_name: "ada@acme.test".into(),
            employee_id: employee.map(Into::into),
            account: app_id.map(|id| AppAccount {
                app_id: id.into(),
                external_id: None,
                user_name: "ada@acme.test".into(),
                email: None,
                active: true,
                role: None,
                given_name: None,
                family_name: None,
                display_name: None,
            }),
            generation: None,
            differences: Vec::new(),
            candidates: Vec::new(),
            ignored_by: None,
        }
    }

    #[test]
    fn each_finding_is_a_record_keyed_by_app_and_account() {
        let report = Report {
            findings: vec![
                finding(Situation::Orphan, Some("u-1"), None),
                finding(Situation::Missing, None, Some("E3")),
            ],
            ..Report::default()
        };
        let run = Run::start();
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00.5Z")
            .expect("time")
            .with_timezone(&Utc);
        let records = records("slack", &report, &run, at);
        let keys: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["slack/u-1", "slack/missing/E3"]);
        let value: Value = serde_json::from_slice(&records[1].1).expect("json");
        assert_eq!(
            value,
            json!({"app": "slack", "situation": "missing", "user_name": "ada@acme.test",
                "employee_id": "E3", "run_id": run.id, "observed_at": "2026-12-01T10:00:00.500Z",
                "partial": false})
        );
        let orphan: Value = serde_json::from_slice(&records[0].1).expect("json");
        assert_eq!(orphan["account"]["app_id"], "u-1");
        assert_eq!(orphan["situation"], "orphan");
    }

    #[tokio::test]
    async fn a_partial_report_writes_nothing() {
        // An unreachable broker: writing anything would fail.
        let mut config = Config::default();
        config.kafka.bootstrap_servers = "127.0.0.1:1".into();
        config.kafka.startup_timeout = std::time::Duration::from_millis(100);
        let report = Report {
            findings: vec![finding(Situation::Orphan, Some("u-1"), None)],
            partial: true,
            ..Report::default()
        };
        let written = write(&config, "slack", &report, &Run::start(), Utc::now()).await;
        assert!(written.is_ok(), "{written:?}");
    }
}
