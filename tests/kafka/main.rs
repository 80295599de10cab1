//! Integration tests against a real Kafka broker (see `harness`).

mod connector;
mod crash;
mod durable;
mod engine;
mod guard_window;
mod harness;
mod hostile_rules;
mod poison;
mod replay;
mod rules_store;
mod schedule;
mod scim_e2e;
mod startup;
#[path = "../support/mod.rs"]
mod support;
mod timer_rounds;
mod txn;
mod webhook_e2e;
mod zendesk_e2e;
