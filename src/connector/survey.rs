//! One app's reconciliation (`provisioner reconcile`, #13): every account
//! the app holds, read as its worker would call the app, classified against
//! what the engine decided, then the app's reactions planned and (without
//! `--dry-run`) carried out by `react`.
//!
//! The connector is built as the worker builds it (`build::build`), and the
//! listing uses the app's retry budget, so an app fails here as it would
//! for a command. The token bucket is the caller's: the one-shot CLI builds
//! its own (so it adds its requests to a running connector's, at most at the
//! app's rate), the periodic mode (`periodic`) shares its worker's.
//!
//! An app whose policy is report-only (the default) is only read: the
//! report is all there is. A listing that fails, midway or at once, is an
//! error and nothing is done about that app. The desired side is the
//! caller's (read by `engine::desired`, a layer this one may not use).
//!
//! A complete listing's findings go to the findings topic (`findings`),
//! `--dry-run` included, before any reaction: no action without its
//! record. Then the app's `provisioner_reconcile_*` metrics are set: the
//! one-shot CLI's are not served, the periodic mode's are, by its connector.

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::build::{self, BuildError};
use super::findings;
use super::listing::{list_all, ListError, ListOptions};
use super::react::{self, Run, WriteError};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::reconcile::output::{Done, Reaction};
use crate::reconcile::{
    classify, output, plan, DesiredAccount, IgnoreError, IgnoreList, Policy, Report,
};
use crate::rules::PreviewFormat;
use crate::text::error_chain;

/// What one app's reconciliation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The app was read to the end and classified.
    Surveyed {
        /// Every finding, and the counts.
        report: Report,
        /// Accounts the listing read.
        accounts: usize,
        /// The plan and what became of each entry; `None` when the app's
        /// policy is report-only.
        reactions: Option<Vec<Reaction>>,
    },
    /// The app kind has no read API (webhook): not an error, said so.
    Skipped {
        /// Why, for the operator.
        reason: &'static str,
    },
}

/// Why an app could not be reconciled; each names the app.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    /// The app is not in the catalogue.
    #[error("app {0:?} is not in the catalogue")]
    UnknownApp(String),
    /// Its connector could not be built (a credential missing).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Its ignore list was refused (only for a configuration built in
    /// code: loading the file checks the same rule).
    #[error("app {app}: apps.{app}.reconcile.{source}")]
    Ignore {
        /// The app.
        app: String,
        /// Which pattern, and why.
        source: IgnoreError,
    },
    /// The listing failed, midway or at once: nothing to report on.
    #[error(transparent)]
    List(ListError),
    /// The findings could not be written: no reaction was taken.
    #[error("app {app}: cannot write the findings to the findings topic: {source}")]
    Findings {
        /// The app.
        app: String,
        /// Why.
        source: WriteError,
    },
    /// Some reactions failed (the report names them); the others stand.
    #[error("app {app}: {failed} reaction(s) failed; the report says which and why")]
    Reactions {
        /// The app.
        app: String,
        /// How many.
        failed: usize,
    },
}

/// Whether a run carries out the reactions it plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--dry-run`: plan, report, do nothing (but write the findings).
    DryRun,
    /// Carry them out.
    Act,
}

/// One reconciliation run over some apps: what it is, whether it acts,
/// and where its metrics go.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    /// Its id (the findings' `run_id`, the re-asserts' cause).
    pub run: &'a Run,
    /// Whether it acts.
    pub mode: Mode,
    /// The process's registry.
    pub metrics: &'a Metrics,
}

/// `app` is not in the catalogue.
fn unknown(app: &str) -> SurveyError {
    SurveyError::UnknownApp(app.to_string())
}

impl SurveyError {
    /// Whether the listing failed after it began: a partial scan, on which
    /// no action may ever be taken.
    pub fn is_partial(&self) -> bool {
        matches!(self, SurveyError::List(ListError::Partial { .. }))
    }
}

/// Reads every account of `app`, classifies them against `desired` (the
/// engine's decision for each employee in that app) and, unless its policy
/// is report-only, plans its reactions and (in [`Mode::Act`]) carries them
/// out. The findings are written (and the metrics set) first. Its requests
/// wait for a token bucket of its own.
pub async fn run(
    config: &Config,
    app: &str,
    desired: &[DesiredAccount],
    session: Session<'_>,
) -> Result<Outcome, SurveyError> {
    let app_config = config.apps.get(app).ok_or_else(|| unknown(app))?;
    run_sharing(config, app, desired, session, &build::limiter(app_config)).await
}

/// [`run`] with every request to the app waiting for `limiter`, the bucket
/// the app's worker takes its tokens from, so a listing and the commands
/// together stay within the app's rate.
pub async fn run_sharing(
    config: &Config,
    app: &str,
    desired: &[DesiredAccount],
    session: Session<'_>,
    limiter: &Limiter,
) -> Result<Outcome, SurveyError> {
    let app_config = config.apps.get(app).ok_or_else(|| unknown(app))?;
    let ignore =
        IgnoreList::new(&app_config.reconcile.ignore).map_err(|source| SurveyError::Ignore {
            app: app.to_string(),
            source,
        })?;
    let connector = build::build(app, app_config)?;
    let lister = match connector.lister() {
        Ok(lister) => lister,
        Err(ListError::Unsupported { reason, .. }) => return Ok(Outcome::Skipped { reason }),
        Err(error) => return Err(SurveyError::List(error)),
    };
    let listing = list_all(&lister, limiter, &ListOptions::of(app_config))
        .await
        .map_err(SurveyError::List)?;
    let report = classify(desired, &listing.accounts, &ignore);
    let observed_at = Utc::now();
    findings::write(config, app, &report, session.run, observed_at)
        .await
        .map_err(|source| SurveyError::Findings {
            app: app.to_string(),
            source,
        })?;
    observed(session.metrics, app, &report, observed_at);
    let policy = Policy::from(&app_config.reconcile);
    let reactions = match (policy == Policy::default(), session.mode) {
        (true, _) => None,
        (false, Mode::DryRun) => Some(react::planned(&plan(&report, &policy))),
        (false, Mode::Act) => {
            let plan = plan(&report, &policy);
            let sides = (&report, desired);
            let run = session.run;
            Some(react::carry_out(config, app, &lister, limiter, sides, &plan, run).await)
        }
    };
    Ok(Outcome::Surveyed {
        report,
        accounts: listing.accounts.len(),
        reactions,
    })
}

/// Sets `app`'s reconciliation metrics from a complete `report` observed
/// at `at`; a partial one leaves them as the last complete run set them.
fn observed(metrics: &Metrics, app: &str, report: &Report, at: DateTime<Utc>) {
    if !report.partial {
        metrics.reconciled(app, &report.counts.per_situation(), at.timestamp());
    }
}

/// Reconciles each app of `desired` (the engine's decisions, by app) in
/// turn, one after the other, writing to `out` each one's report (with its
/// reactions), the line of an app skipped, or (in JSON) the summary of one
/// that failed. An app that fails, or whose reactions partly fail, does not
/// stop the others; the failures are returned for the caller to report.
pub async fn report_all(
    config: &Config,
    desired: &BTreeMap<String, Vec<DesiredAccount>>,
    format: PreviewFormat,
    session: Session<'_>,
    out: &mut impl Write,
) -> io::Result<Vec<SurveyError>> {
    let mut failures = Vec::new();
    for (app, desired) in desired {
        match run(config, app, desired, session).await {
            Ok(Outcome::Surveyed {
                report,
                accounts,
                reactions,
            }) => {
                let reactions = reactions.as_deref();
                output::write_report(out, app, accounts, &report, reactions, format)?;
                let failed = reactions
                    .unwrap_or_default()
                    .iter()
                    .filter(|r| r.done == Done::Failed)
                    .count();
                if failed > 0 {
                    let app = app.clone();
                    failures.push(SurveyError::Reactions { app, failed });
                }
            }
            Ok(Outcome::Skipped { reason }) => output::write_skipped(out, app, reason, format)?,
            Err(error) => {
                let line = error_chain(&error);
                output::write_failed(out, app, error.is_partial(), &line, format)?;
                failures.push(error);
            }
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(apps: &str) -> Config {
        Config::parse(std::path::Path::new("t.toml"), apps).expect("valid")
    }

    /// `run` of `app` with `--dry-run`.
    async fn dry_run(config: &Config, app: &str) -> Result<Outcome, SurveyError> {
        let (run_id, metrics) = (Run::start(), Metrics::new());
        let session = Session {
            run: &run_id,
            mode: Mode::DryRun,
            metrics: &metrics,
        };
        run(config, app, &[], session).await
    }

    #[test]
    fn a_complete_report_sets_the_metrics_and_a_partial_one_leaves_them() {
        use crate::reconcile::Counts;
        let metrics = Metrics::new();
        let at = |s: i64| DateTime::from_timestamp(s, 0).expect("time");
        let mut report = Report {
            counts: Counts {
                orphan: 2,
                linked: 5,
                ..Counts::default()
            },
            ..Report::default()
        };
        observed(&metrics, "wiki", &report, at(1_700_000_000));
        report.counts.orphan = 0;
        report.counts.drifted = 1;
        observed(&metrics, "crm", &report, at(1_700_000_100));
        report.partial = true;
        observed(&metrics, "wiki", &report, at(1_700_000_200));
        let text = metrics.render();
        for line in [
            r#"provisioner_reconcile_accounts{app="wiki",situation="orphan"} 2"#,
            r#"provisioner_reconcile_accounts{app="wiki",situation="drifted"} 0"#,
            r#"provisioner_reconcile_accounts{app="wiki",situation="missing"} 0"#,
            r#"provisioner_reconcile_accounts{app="wiki",situation="linked"} 5"#,
            r#"provisioner_reconcile_accounts{app="crm",situation="orphan"} 0"#,
            r#"provisioner_reconcile_accounts{app="crm",situation="drifted"} 1"#,
            r#"provisioner_reconcile_last_success_timestamp_seconds{app="wiki"} 1700000000"#,
            r#"provisioner_reconcile_last_success_timestamp_seconds{app="crm"} 1700000100"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[tokio::test]
    async fn a_webhook_app_is_skipped_and_an_unknown_one_named() {
        let config = config(
            "[apps.hooks]\nconnector = \"webhook\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"m\"]\n",
        );
        let outcome = dry_run(&config, "hooks").await.expect("skipped");
        assert_eq!(
            outcome,
            Outcome::Skipped {
                reason: super::super::listing::WEBHOOK_UNSUPPORTED
            }
        );
        let err = dry_run(&config, "crm").await.unwrap_err();
        assert_eq!(err.to_string(), r#"app "crm" is not in the catalogue"#);
        assert!(!err.is_partial());
    }

    #[tokio::test]
    async fn an_unreachable_app_is_a_partial_scan_and_an_ignore_list_built_in_code_is_checked() {
        let mut config = config(
            "[apps.wiki]\nconnector = \"scim\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"m\"]\nretry = { max_attempts = 1 }\n",
        );
        let err = dry_run(&config, "wiki").await.unwrap_err();
        assert!(err.is_partial(), "{err}");
        assert!(
            err.to_string()
                .starts_with("app wiki: listing failed after 0 page(s)"),
            "{err}"
        );
        let wiki = config.apps.get_mut("wiki").expect("wiki");
        wiki.reconcile.ignore = vec!["svc-*".into(), "**".into()];
        let err = dry_run(&config, "wiki").await.unwrap_err();
        assert!(!err.is_partial());
        assert_eq!(
            err.to_string(),
            "app wiki: apps.wiki.reconcile.ignore[1] = \"**\" matches every account: it would hide the whole app from reconciliation"
        );
    }
}
