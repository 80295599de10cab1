//! One app's reconciliation (`provisioner reconcile`, #13): every account
//! the app holds, read as its worker would call the app, classified against
//! what the engine decided, then the app's reactions planned and (without
//! `--dry-run`) carried out by `react`.
//!
//! The connector and its token bucket are built as the worker builds them
//! (`build::build`, `build::limiter`), and the listing uses the app's retry
//! budget, so an app fails here as it would for a command. The bucket is
//! this process's own: a one-shot run beside a running connector adds its
//! requests to the connector's, at most at the app's rate (next session's
//! periodic mode runs inside the connector and shares its bucket).
//!
//! An app whose policy is report-only (the default) is only read: the
//! report is all there is. A listing that fails, midway or at once, is an
//! error and nothing is done about that app. The desired side is the
//! caller's (read by `engine::desired`, a layer this one may not use).

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::build::{self, BuildError};
use super::listing::{list_all, ListError, ListOptions};
use super::react::{self, Run};
use crate::config::Config;
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
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// `--dry-run`: plan, report, do nothing.
    DryRun,
    /// Carry them out, as part of `run`.
    Act(&'a Run),
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
/// out.
pub async fn run(
    config: &Config,
    app: &str,
    desired: &[DesiredAccount],
    mode: Mode<'_>,
) -> Result<Outcome, SurveyError> {
    let app_config = config
        .apps
        .get(app)
        .ok_or_else(|| SurveyError::UnknownApp(app.to_string()))?;
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
    let options = ListOptions {
        page_size: app_config.reconcile.page_size(),
        retry: app_config.retry.clone(),
    };
    let limiter = build::limiter(app_config);
    let listing = list_all(&lister, &limiter, &options)
        .await
        .map_err(SurveyError::List)?;
    let report = classify(desired, &listing.accounts, &ignore);
    let policy = Policy::from(&app_config.reconcile);
    let reactions = match (policy == Policy::default(), mode) {
        (true, _) => None,
        (false, Mode::DryRun) => Some(react::planned(&plan(&report, &policy))),
        (false, Mode::Act(run)) => {
            let plan = plan(&report, &policy);
            let sides = (&report, desired);
            Some(react::carry_out(config, app, &lister, &limiter, sides, &plan, run).await)
        }
    };
    Ok(Outcome::Surveyed {
        report,
        accounts: listing.accounts.len(),
        reactions,
    })
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
    mode: Mode<'_>,
    out: &mut impl Write,
) -> io::Result<Vec<SurveyError>> {
    let mut failures = Vec::new();
    for (app, desired) in desired {
        match run(config, app, desired, mode).await {
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

    #[tokio::test]
    async fn a_webhook_app_is_skipped_and_an_unknown_one_named() {
        let config = config(
            "[apps.hooks]\nconnector = \"webhook\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"m\"]\n",
        );
        let outcome = run(&config, "hooks", &[], Mode::DryRun)
            .await
            .expect("skipped");
        assert_eq!(
            outcome,
            Outcome::Skipped {
                reason: super::super::listing::WEBHOOK_UNSUPPORTED
            }
        );
        let err = run(&config, "crm", &[], Mode::DryRun).await.unwrap_err();
        assert_eq!(err.to_string(), r#"app "crm" is not in the catalogue"#);
        assert!(!err.is_partial());
    }

    #[tokio::test]
    async fn an_unreachable_app_is_a_partial_scan_and_an_ignore_list_built_in_code_is_checked() {
        let mut config = config(
            "[apps.wiki]\nconnector = \"scim\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"m\"]\nretry = { max_attempts = 1 }\n",
        );
        let err = run(&config, "wiki", &[], Mode::DryRun).await.unwrap_err();
        assert!(err.is_partial(), "{err}");
        assert!(
            err.to_string()
                .starts_with("app wiki: listing failed after 0 page(s)"),
            "{err}"
        );
        let wiki = config.apps.get_mut("wiki").expect("wiki");
        wiki.reconcile.ignore = vec!["svc-*".into(), "**".into()];
        let err = run(&config, "wiki", &[], Mode::DryRun).await.unwrap_err();
        assert!(!err.is_partial());
        assert_eq!(
            err.to_string(),
            "app wiki: apps.wiki.reconcile.ignore[1] = \"**\" matches every account: it would hide the whole app from reconciliation"
        );
    }
}
