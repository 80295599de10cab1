//! Integration tests of the connectors (CONTRACT §10): SCIM against a real
//! scim2-server (`support::ScimServer` starts one per test), Zendesk and webhooks
//! against `wiremock`, asserting the exact requests.

mod build;
mod common;
mod listing;
mod scim;
mod scim_mock;
#[path = "../support/mod.rs"]
mod support;
mod verify;
mod webhook;
mod zendesk;
