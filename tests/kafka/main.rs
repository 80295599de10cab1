//! Integration tests against a real Kafka broker (see `harness`).

mod connector;
mod crash;
mod durable;
mod engine;
mod harness;
mod replay;
