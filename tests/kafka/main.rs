//! Integration tests against a real Kafka broker (see `harness`).

mod engine;
mod harness;
