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
mod scim_e2e;
#[path = "../apps/scim_server.rs"]
mod scim_server;
mod startup;
mod txn;
mod webhook_e2e;
mod zendesk_e2e;
