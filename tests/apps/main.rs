//! Integration tests of the connectors (CONTRACT §10): SCIM against a real
//! scim2-server (`scim_server` starts one per test), Zendesk and webhooks
//! against `wiremock`, asserting the exact requests.

mod build;
mod common;
mod scim;
mod scim_mock;
mod scim_server;
mod webhook;
mod zendesk;
