//! provisioner: HR events in, idempotent provisioning commands out.
//!
//! The data flows one way through a few stages, each a module:
//! `events` (parse and validate HR events) → `rules` (who gets which app and
//! role) → `engine` (per-employee state, the pure `decide`, Kafka plumbing) →
//! `commands` (what connectors apply). `config` is the validated configuration
//! file; `dlq` is the dead-letter format shared by every stage.

pub mod config;
pub mod rules;
