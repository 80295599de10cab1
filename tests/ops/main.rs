//! Operations tests: the telemetry endpoints of real engine and connector
//! processes, their logs, secure Kafka, and the files under `deploy/`.
//!
//! They need the local broker (`deploy/local/kafka.sh up`, or
//! `KAFKA_BOOTSTRAP_SERVERS`), start the SASL broker themselves
//! (`deploy/local/kafka-sasl.sh up`), and need `promtool` (Debian
//! `prometheus`), `kustomize` and `kubernetes-validate` (all installed by
//! `deploy/local/tools.sh`). Anything missing fails loudly.

mod broker_loss;
mod deploy;
mod env;
mod fake_app;
mod logs;
mod readiness;
mod sasl;
mod scrape;
#[path = "../support/mod.rs"]
mod support;
