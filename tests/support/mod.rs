//! The one harness every integration test binary shares: a unique namespace
//! on the test broker, the `provisioner` binary as a process, a scim2-server,
//! metric lookups, free ports, and waiting for a condition under one
//! deadline policy ([`DEADLINE`]).
//!
//! Included by each test binary (`#[path = "../support/mod.rs"] mod
//! support;`, or `mod support;` in a single-file test); each uses the part
//! it needs. A missing real part (broker, tool, server venv) is a loud
//! failure naming what to install, never a skip.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod liar;
pub mod metrics;
pub mod ports;
pub mod process;
pub mod reconcile;
pub mod scim;
pub mod tools;
pub mod wait;
pub mod world;

pub use broker::{bootstrap, event, produce_with, read_all, unique, Namespace};
pub use liar::LyingProxy;
pub use metrics::{metric, metric_or_zero};
pub use ports::{closed_port, stable_port};
pub use process::{binary, root, Process};
pub use scim::ScimServer;
pub use tools::tool;
pub use wait::{wait_for, wait_for_blocking, wait_until, DEADLINE};
pub use world::World;
