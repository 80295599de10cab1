//! Helpers of the replay tests: dead letters with chosen headers and replay
//! run in-process.

use std::collections::BTreeMap;
use std::time::Duration;

use provisioner::commands::Command;
use provisioner::config::Config;
use provisioner::metrics::Metrics;
use provisioner::replay::{self, Options, Summary};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::harness::*;

/// A dead letter to produce, headers as CONTRACT §7 (any may be left out).
#[derive(Clone)]
pub struct DeadLetter {
    pub key: String,
    pub value: Vec<u8>,
    pub original_topic: Option<String>,
    pub original_partition: i32,
    pub original_offset: i64,
    pub kind: &'static str,
    pub app: Option<String>,
    pub failed_at: String,
    /// The original record's own headers, kept by the dead-letter writer.
    pub own_headers: Vec<(&'static str, String)>,
}

impl DeadLetter {
    /// A command of `app` for `employee`, dead-lettered at `failed_at`.
    pub fn command(config: &Config, app: &str, employee: &str, generation: u64) -> DeadLetter {
        DeadLetter {
            key: employee.into(),
            value: upsert_command(app, employee, generation, "member").to_json(),
            original_topic: Some(config.topics.commands(app)),
            original_partition: 0,
            original_offset: generation as i64,
            kind: "retries_exhausted",
            app: Some(app.into()),
            failed_at: "2026-11-26T09:00:00.000Z".into(),
            own_headers: Vec::new(),
        }
    }

    fn headers(&self) -> OwnedHeaders {
        let mut h = OwnedHeaders::new();
        for (key, value) in &self.own_headers {
            h = h.insert(Header {
                key,
                value: Some(value.as_str()),
            });
        }
        let mut dlq = vec![
            (
                "dlq.original.partition",
                self.original_partition.to_string(),
            ),
            ("dlq.original.offset", self.original_offset.to_string()),
            ("dlq.original.timestamp", "1764147600000".to_string()),
            ("dlq.error.kind", self.kind.to_string()),
            ("dlq.error.message", format!("{} attempts failed", 3)),
            ("dlq.attempts", "3".to_string()),
            ("dlq.failed_at", self.failed_at.clone()),
        ];
        if let Some(topic) = &self.original_topic {
            dlq.insert(0, ("dlq.original.topic", topic.clone()));
        }
        if let Some(app) = &self.app {
            dlq.push(("dlq.app", app.clone()));
        }
        for (key, value) in &dlq {
            h = h.insert(Header {
                key,
                value: Some(value.as_str()),
            });
        }
        h
    }
}

/// Produces dead letters to `topic` in this order (keyed, so one key's
/// records share a partition) and waits for their delivery.
pub async fn produce_dead_letters(servers: &str, topic: &str, records: &[DeadLetter]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let sends = records.iter().map(|r| {
        producer.send(
            FutureRecord::to(topic)
                .key(r.key.as_bytes())
                .payload(&r.value)
                .headers(r.headers()),
            Duration::from_secs(30),
        )
    });
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e).expect("produce dead letter");
    }
}

/// What one in-process replay printed and counted.
pub struct Ran {
    pub summary: Summary,
    /// stdout, line by line (the listing, then the summary line).
    pub lines: Vec<String>,
    /// The process's metrics afterwards.
    pub metrics: String,
}

/// Runs replay in-process, as `provisioner replay` would, to its end.
pub async fn run_replay(config: &Config, options: Options) -> Ran {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let metrics = Metrics::new();
        let mut out = Vec::new();
        let summary = replay::run(&config, &options, &metrics, &mut out).expect("replay");
        let lines = String::from_utf8(out)
            .expect("utf-8 output")
            .lines()
            .map(str::to_string)
            .collect();
        Ran {
            summary,
            lines,
            metrics: metrics.render(),
        }
    })
    .await
    .expect("replay thread")
}

/// The records of `topic` (read_committed) by dead-letter origin: the
/// replayed copy's value maps back to the dead letter it came from.
pub fn count_by_value(servers: &str, topic: &str) -> BTreeMap<Vec<u8>, usize> {
    let mut counts = BTreeMap::new();
    for m in read_all(servers, topic) {
        *counts
            .entry(m.payload().unwrap_or_default().to_vec())
            .or_insert(0) += 1;
    }
    counts
}

/// A record's headers as (key, value) text pairs, in order.
pub fn header_pairs(m: &OwnedMessage) -> Vec<(String, String)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A result record's JSON, as a connector writes it.
pub fn result(app: &str, employee: &str, generation: u64, outcome: &str) -> Vec<u8> {
    serde_json::json!({
        "command_id": Command::id_for(app, employee, generation), "app": app,
        "employee_id": employee, "generation": generation, "outcome": outcome,
        "app_account_id": null, "attempts": 1, "duration_ms": 3, "error": null
    })
    .to_string()
    .into_bytes()
}
