//! provisioner: HR events in, idempotent provisioning commands out.
//!
//! The data flows one way through a few stages, each a module:
//! `events` (parse and validate HR events) → `rules` (who gets which app and
//! role) → `engine` (per-employee state, the pure `decide`, Kafka plumbing) →
//! `commands` (what connectors apply) → `connector` (apply them to the apps'
//! APIs) → `results` (what the connectors did). `config` is the validated
//! configuration file; `dlq` is the dead-letter format shared by every stage;
//! `kafka` the client plumbing they all use; `metrics` the CONTRACT §8 series and
//! `telemetry` what operators see of a running process (`/metrics`,
//! `/healthz`, `/readyz`, consumer lag, logs, the apps' health). `pii`
//! (personal data out of outgoing text), `text` (text shown to people),
//! `ratelimit` (the token bucket) and `sync` (the lock helper) sit below them
//! all. Imports only go down: none of these bottom modules uses `rules`,
//! `commands`, `results`, `engine`, `connector` or `replay`.

pub mod commands;
pub mod config;
pub mod connector;
pub mod dlq;
pub mod engine;
pub mod events;
pub mod ids;
pub mod kafka;
pub mod lifecycle;
pub mod metrics;
pub mod pii;
pub mod ratelimit;
pub mod reconcile;
pub mod replay;
pub mod results;
pub mod rules;
pub mod sync;
pub mod telemetry;
pub mod text;
