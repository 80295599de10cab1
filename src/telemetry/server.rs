//! The HTTP server of CONTRACT §8: `GET /metrics`, `/healthz`, `/readyz`.
//!
//! - `/metrics`: the registry in OpenMetrics text (what `prometheus-client`
//!   writes; Prometheus asks for it by content type).
//! - `/healthz`: 200 while the process runs. It checks nothing else on
//!   purpose: a liveness failure restarts the pod, and restarting does not cure
//!   a broker outage or a paused app.
//! - `/readyz`: 200 or 503 with the [`Report`](super::readiness::Report) as JSON,
//!   e.g. `{"ready":false,"reasons":["restoring partitions [1,4]"],"details":{…}}`.
//!
//! The server is started before the process connects to Kafka, so probes
//! answer (503, "starting") during start-up, and is stopped last. Its
//! connections are limited ([`super::connections`]): slow, idle or too many
//! clients cannot hold it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::telemetry::connections::{LimitedListener, Limits};
use crate::telemetry::readiness::Readiness;

/// The OpenMetrics text content type.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the handlers read.
#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

/// The routes, for a listener of the caller's choosing.
pub fn router(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Shared { metrics, readiness })
}

async fn metrics_handler(State(shared): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, OPENMETRICS)],
        shared.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"alive\":true}\n",
    )
        .into_response()
}

async fn readyz(State(shared): State<Shared>) -> Response {
    let report = shared.readiness.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A struct of strings, booleans and JSON values always serialises.
    let body = serde_json::to_string(&report).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve /metrics on {addr}: {source}")]
pub struct BindError {
    /// The address as configured.
    pub addr: String,
    /// Why the bind failed.
    pub source: std::io::Error,
}

/// Binds `addr` (`host:port`; port 0 picks a free one).
pub async fn bind(addr: &str) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|source| BindError {
        addr: addr.to_string(),
        source,
    })
}

/// Serves the routes on `listener`, within `limits`, until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(
        message = "Serving /metrics, /healthz and /readyz.",
        addr = %addr.map_or_else(|| "?".to_string(), |a| a.to_string())
    );
    axum::serve(
        LimitedListener::new(listener, limits),
        router(metrics, readiness),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The server of a running process.
pub struct Running {
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio_util::sync::CancellationToken,
    addr: Option<SocketAddr>,
}

/// Binds `listen` (a busy port is an error before any Kafka work) and serves
/// `telemetry` within `limits` until [`Running::stop`].
pub async fn start(
    listen: &str,
    limits: Limits,
    telemetry: &super::Telemetry,
) -> Result<Running, BindError> {
    let listener = bind(listen).await?;
    let addr = listener.local_addr().ok();
    let stop = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(serve(
        listener,
        limits,
        Arc::clone(&telemetry.metrics),
        Arc::clone(&telemetry.readiness),
        stop.clone().cancelled_owned(),
    ));
    Ok(Running { handle, stop, addr })
}

impl Running {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Stops serving (last, once the process's work is done).
    pub async fn stop(self) {
        self.stop.cancel();
        match self.handle.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(message = "Telemetry server failed.", %error),
            Err(error) => tracing::warn!(message = "Telemetry server task failed.", %error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Role, Telemetry};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let response = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("get");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, content_type, response.text().await.expect("body"))
    }

    #[tokio::test]
    async fn the_three_endpoints_answer() {
        let telemetry = Telemetry::new(Role::Engine);
        let server = start("127.0.0.1:0", Limits::default(), &telemetry)
            .await
            .expect("bind");
        let addr = server.addr().expect("addr");

        let (status, _, body) = get(addr, "/readyz").await;
        assert_eq!(status, 503);
        let report: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(report["ready"], false);
        assert_eq!(report["reasons"][0], "engine starting: connecting to Kafka");

        telemetry.readiness.rules_loaded("sha256:x");
        telemetry.readiness.started("engine");
        let (status, content_type, body) = get(addr, "/readyz").await;
        assert_eq!((status, content_type.as_str()), (200, "application/json"));
        assert!(body.starts_with("{\"ready\":true,\"reasons\":[]"), "{body}");

        assert_eq!(get(addr, "/healthz").await.0, 200);
        telemetry.metrics.events_stale(1);
        let (status, content_type, body) = get(addr, "/metrics").await;
        assert_eq!((status, content_type.as_str()), (200, OPENMETRICS));
        assert!(body.contains("provisioner_events_stale_total 1"), "{body}");
        assert_eq!(get(addr, "/nope").await.0, 404);
        server.stop().await;
    }

    #[tokio::test]
    async fn a_busy_port_is_an_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let error = bind(&addr).await.expect_err("busy").to_string();
        assert!(
            error.contains(&addr) && error.contains("/metrics"),
            "{error}"
        );
    }
}
