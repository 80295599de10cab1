//! The connector process: one worker per app, all in one process, like
//! `engine::run` for the engine. The binary only parses, wires and maps the
//! errors to exit codes.
//!
//! Connectors are built (credentials read) before anything starts, so a
//! missing token stops the process before it consumes a single command. If
//! one worker fails, the others are stopped cleanly (calls in flight
//! finished, offsets committed, groups left) and the first error is
//! returned; the supervisor (Kubernetes, systemd) restarts the process.

use std::future::Future;
use std::sync::Arc;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::build::{self, AnyConnector, BuildError};
use crate::connector::error::WorkerError;
use crate::connector::periodic::DesiredSource;
use crate::connector::worker::Worker;
use crate::connector::Connector;
use crate::telemetry::Telemetry;

/// Why the apps to serve could not be chosen.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// `--all` with an empty catalogue.
    #[error("the catalogue [apps] is empty")]
    NoApps,
    /// An app asked for is not in the catalogue.
    #[error("app {app:?} is not in the catalogue (known: {known:?})")]
    UnknownApp {
        /// The app asked for.
        app: String,
        /// The catalogue's apps.
        known: Vec<String>,
    },
    /// An app's connector could not be built (the error names the app).
    #[error("cannot build a connector")]
    Build(#[source] BuildError),
}

/// Why the connector process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// One app's worker failed (the first to fail).
    #[error("connector {app}")]
    Worker {
        /// The app.
        app: String,
        /// Why its worker stopped.
        #[source]
        source: WorkerError,
    },
    /// A worker panicked: a bug.
    #[error("a connector worker panicked: {0}")]
    Panicked(#[from] JoinError),
}

/// The apps to serve (every app of the catalogue when `all`), sorted and
/// without repeats, each with its connector built.
pub fn select(
    config: &Config,
    apps: Vec<String>,
    all: bool,
) -> Result<Vec<(String, AnyConnector)>, SelectError> {
    chosen(config, apps, all)?
        .into_iter()
        .map(|app| {
            // `chosen` returns only apps of the catalogue.
            let connector = build::build(&app, &config.apps[&app]).map_err(SelectError::Build)?;
            Ok((app, connector))
        })
        .collect()
}

/// The apps named (every app of the catalogue when `all`), sorted and
/// without repeats, each checked to be in the catalogue.
pub fn chosen(config: &Config, apps: Vec<String>, all: bool) -> Result<Vec<String>, SelectError> {
    let mut apps = if all {
        config.apps.keys().cloned().collect()
    } else {
        apps
    };
    apps.sort();
    apps.dedup();
    if apps.is_empty() {
        return Err(SelectError::NoApps);
    }
    if let Some(app) = apps.iter().find(|app| !config.apps.contains_key(*app)) {
        let known = config.apps.keys().cloned().collect();
        return Err(SelectError::UnknownApp {
            app: app.clone(),
            known,
        });
    }
    Ok(apps)
}

/// Runs one worker per app until `shutdown` is cancelled, reporting through
/// `telemetry` (shared by every worker), each app with a
/// `reconcile.interval_ms` reconciled periodically against `desired`. If one
/// worker fails, `shutdown` is cancelled so the others stop cleanly, and the
/// first error is returned once all have stopped.
pub async fn run_all<C: Connector + 'static>(
    config: Config,
    apps: Vec<(String, C)>,
    telemetry: Telemetry,
    desired: DesiredSource,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // Every worker is built before any starts: a refusal leaves nothing running.
    let mut workers = Vec::with_capacity(apps.len());
    for (app, connector) in apps {
        let worker = Worker::new(config.clone(), app.as_str().into(), connector)
            .map_err(|source| RunError::Worker {
                app: app.clone(),
                source,
            })?
            .with_telemetry(telemetry.clone())
            .with_reconciliation(Arc::clone(&desired));
        workers.push((app, worker.run(shutdown.clone())));
    }
    supervise(workers, shutdown).await
}

/// Runs `runs` to the end; the first failure cancels `shutdown` for the
/// others and is returned.
async fn supervise<F>(runs: Vec<(String, F)>, shutdown: CancellationToken) -> Result<(), RunError>
where
    F: Future<Output = Result<(), WorkerError>> + Send + 'static,
{
    let mut running = JoinSet::new();
    for (app, run) in runs {
        running.spawn(async move { (app, run.await) });
    }
    let mut failure = None;
    while let Some(joined) = running.join_next().await {
        let error = match joined {
            Ok((_, Ok(()))) => continue,
            Ok((app, Err(source))) => RunError::Worker { app, source },
            Err(panic) => RunError::Panicked(panic),
        };
        shutdown.cancel();
        failure.get_or_insert(error);
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// A worker that runs until `shutdown`, then notes it stopped.
    fn until_shutdown(
        shutdown: &CancellationToken,
        stopped: &Arc<AtomicBool>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), WorkerError>> + Send>> {
        let (shutdown, stopped) = (shutdown.clone(), Arc::clone(stopped));
        Box::pin(async move {
            shutdown.cancelled().await;
            stopped.store(true, Ordering::SeqCst);
            Ok(())
        })
    }

    #[tokio::test]
    async fn one_failing_worker_stops_the_others_and_its_error_is_returned() {
        let shutdown = CancellationToken::new();
        let stopped = Arc::new(AtomicBool::new(false));
        let failing: std::pin::Pin<Box<dyn Future<Output = _> + Send>> =
            Box::pin(async { Err(WorkerError::UnknownApp("crm".into())) });
        let runs = vec![
            ("wiki".to_string(), until_shutdown(&shutdown, &stopped)),
            ("crm".to_string(), failing),
        ];
        let result = tokio::time::timeout(Duration::from_secs(10), supervise(runs, shutdown))
            .await
            .expect("the other worker was not stopped");
        match result {
            Err(RunError::Worker { app, .. }) => assert_eq!(app, "crm"),
            other => panic!("{other:?}"),
        }
        assert!(stopped.load(Ordering::SeqCst), "wiki did not stop cleanly");
    }

    #[tokio::test]
    async fn workers_stopped_by_shutdown_end_ok() {
        let shutdown = CancellationToken::new();
        let stopped = Arc::new(AtomicBool::new(false));
        let runs = vec![("wiki".to_string(), until_shutdown(&shutdown, &stopped))];
        let supervisor = tokio::spawn(supervise(runs, shutdown.clone()));
        shutdown.cancel();
        supervisor.await.unwrap().unwrap();
        assert!(stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panicking_worker_is_reported_and_stops_the_others() {
        let shutdown = CancellationToken::new();
        let stopped = Arc::new(AtomicBool::new(false));
        let panicking: std::pin::Pin<Box<dyn Future<Output = _> + Send>> =
            Box::pin(async { panic!("bug") });
        let runs = vec![
            ("wiki".to_string(), until_shutdown(&shutdown, &stopped)),
            ("crm".to_string(), panicking),
        ];
        let result = supervise(runs, shutdown).await;
        assert!(matches!(result, Err(RunError::Panicked(_))), "{result:?}");
        assert!(stopped.load(Ordering::SeqCst));
    }

    #[test]
    fn apps_are_chosen_sorted_once_and_unknown_ones_named() {
        let config = Config::default();
        let err = select(&config, vec![], true).unwrap_err();
        assert!(matches!(err, SelectError::NoApps), "{err}");
        let toml = "[apps.wiki]\nconnector = \"scim\"\nbase_url = \"http://127.0.0.1:1\"\nroles = [\"member\"]\n";
        let config = Config::parse(std::path::Path::new("t.toml"), toml).unwrap();
        let err = select(&config, vec!["crm".into()], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"app "crm" is not in the catalogue (known: ["wiki"])"#
        );
    }
}
