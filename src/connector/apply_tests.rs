//! Tests of `apply`: the backoff, and the retry loop against an outage.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::config::OutageConfig;
use crate::connector::outage::probe_until_healthy;

/// An app that is down until its first probe, which fails, and up after.
#[derive(Default)]
struct ShortOutage {
    up: AtomicBool,
    probes: AtomicU32,
}

impl Connector for ShortOutage {
    async fn apply(&self, _cmd: &Command) -> Result<Applied, ConnectorError> {
        if self.up.load(Ordering::SeqCst) {
            return Ok(Applied {
                outcome: Outcome::Applied,
                app_account_id: None,
            });
        }
        Err(ConnectorError::Transient {
            message: "connection refused".into(),
            retry_after: None,
        })
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        if self.probes.fetch_add(1, Ordering::SeqCst) > 0 {
            return Ok(());
        }
        self.up.store(true, Ordering::SeqCst);
        Err(ConnectorError::Transient {
            message: "connection refused".into(),
            retry_after: None,
        })
    }
}

#[tokio::test]
async fn a_failed_probe_before_dead_lettering_confirms_the_outage() {
    // The budget (2) runs out long before the outage rule (100) could
    // pause the app; the probe before dead-lettering fails, and the app
    // is back when the prober first probes.
    let ctx = Arc::new(AppContext {
        app: "a".into(),
        connector: ShortOutage::default(),
        limiter: Arc::new(crate::ratelimit::per_second(1_000.0)),
        health: Arc::new(AppHealth::new("a", 100)),
        retry: RetryConfig {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(2),
        },
        outage_detection: true,
        verify: false,
        producer: rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create()
            .unwrap(),
        results_topic: "results".into(),
        dlq_topic: "dlq".into(),
        shutdown: CancellationToken::new(),
        telemetry: crate::telemetry::Telemetry::new(crate::telemetry::Role::Connector),
    });
    let prober = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let outage = OutageConfig {
                enabled: true,
                consecutive_failures: 100,
                probe_initial_delay: std::time::Duration::from_millis(1),
                probe_max_delay: std::time::Duration::from_millis(2),
            };
            let c = &ctx;
            probe_until_healthy(
                &c.health,
                &c.connector,
                &outage,
                || async {},
                c.shutdown.clone(),
            )
            .await
        })
    };
    let cmd: Command = serde_json::from_value(serde_json::json!({
        "command_id": "a:E1:1", "app": "a", "employee_id": "E1", "generation": 1,
        "action": "upsert", "role": "member",
        "account": {"external_id": "E1", "user_name": "ada@acme.test"},
        "cause": {"event_id": "e", "event_type": "hr.employee.hired", "rules": [], "rules_version": "v"},
        "issued_at": "2026-11-26T09:00:00.000Z"
    }))
    .unwrap();
    let verdict = call_with_retries(&ctx, &cmd).await;
    ctx.shutdown.cancel();
    prober.await.unwrap();
    match verdict {
        Verdict::Applied(_, attempts) => assert_eq!(attempts, 3),
        Verdict::DeadLetter(kind, message, _) => {
            panic!("dead-lettered as {}: {message}", kind.as_str())
        }
        Verdict::Abandoned => panic!("abandoned"),
    }
    let health = ctx.health.snapshot();
    assert_eq!((health.pauses, health.confirmed_outages), (1, 1));
    assert_eq!(ctx.connector.probes.load(Ordering::SeqCst), 2);
}

#[test]
fn backoff_is_bounded_by_the_config() {
    let retry = RetryConfig {
        max_attempts: 5,
        initial_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
    };
    let delays: Vec<_> = backoff(&retry).take(10).collect();
    assert_eq!(delays.len(), 10);
    assert!(delays[0] >= Duration::from_millis(10) && delays[0] < Duration::from_millis(20));
    assert!(delays.iter().all(|d| *d <= Duration::from_millis(50)));
    assert_eq!(delays[9], Duration::from_millis(50));
}
