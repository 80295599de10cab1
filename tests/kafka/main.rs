//! Integration tests against a real Kafka broker (see `harness`).

mod connector;
mod engine;
mod harness;
