//! Verify after write (`apps.<name>.verify`): a real scim2-server, alone and
//! behind a proxy that answers `200` to suspensions without forwarding them,
//! and Zendesk on `wiremock` granting another role than asked. The worker's
//! own sequence (`connector::verify::verified`) runs with one plain apply per
//! try; that the worker dead-letters its verdict as `verify_failed` is the
//! Kafka suite's `scim_e2e::verify_failed_is_dead_lettered`.

use std::sync::atomic::{AtomicU32, Ordering};

use provisioner::commands::Command;
use provisioner::config::{LeaverPolicy, RetryConfig};
use provisioner::connector::build::{build, AnyConnector};
use provisioner::connector::verify::{self, Mismatch, Unverified, Verified};
use provisioner::connector::{Connector, ConnectorError, Outcome};
use provisioner::ratelimit;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{account, app_config, deprovision, upsert};
use crate::support::{LyingProxy, ScimServer};
use crate::zendesk::{connector as zendesk, SPEC_ROLE_MAP};

/// The SCIM app at `base_url` with `verify = true`, built from configuration.
fn scim_at(base_url: &str) -> AnyConnector {
    let toml = format!(
        "[apps.slack]\nconnector = \"scim\"\nbase_url = \"{base_url}\"\n\
         roles = [\"member\", \"admin\"]\nverify = true\n"
    );
    let config = app_config("slack", &toml);
    assert!(config.verify);
    build("slack", &config).expect("build scim")
}

fn ada_upsert(generation: u64, role: &str) -> Command {
    upsert("slack", account("E1001", "ada@acme.test"), generation, role)
}

fn ada_leaves(generation: u64, policy: LeaverPolicy) -> Command {
    deprovision(
        "slack",
        account("E1001", "ada@acme.test"),
        generation,
        policy,
    )
}

/// `cmd` applied and verified as the worker does, one call per try; also
/// the tries made.
async fn verified(connector: &AnyConnector, cmd: &Command) -> (Verified<ConnectorError>, u32) {
    let tries = AtomicU32::new(0);
    let limiter = ratelimit::per_second(1_000.0);
    let verified = verify::verified(
        connector,
        &limiter,
        &RetryConfig::default(),
        cmd,
        || async {
            tries.fetch_add(1, Ordering::SeqCst);
            (connector.apply(cmd).await, 1)
        },
    )
    .await;
    (verified, tries.load(Ordering::SeqCst))
}

/// The `GET /Users/{id}` requests through the proxy (reads back; the
/// connector's own lookups are filtered searches).
fn reads_back(proxy: &LyingProxy) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| {
            r.strip_prefix("GET /Users/")
                .is_some_and(|id| !id.is_empty() && !id.contains('?'))
        })
        .count()
}

#[tokio::test]
async fn a_suspension_the_app_ignores_fails_verification_naming_active_after_one_retry() {
    let server = ScimServer::start().await;
    let proxy = LyingProxy::start(&server.base_url).await;
    let scim = scim_at(&proxy.base_url);
    scim.apply(&ada_upsert(1, "member")).await.expect("hire");
    let (verified, tries) = verified(&scim, &ada_leaves(2, LeaverPolicy::Suspend)).await;
    let Err(Unverified::Mismatch(mismatches)) = &verified.outcome else {
        panic!("not a mismatch: {verified:?}");
    };
    assert_eq!(mismatches, &[Mismatch::Active { want: false }]);
    let message = verify::message(mismatches);
    assert!(
        message.ends_with("active: want false, have true"),
        "{message}"
    );
    assert_eq!((tries, verified.attempts), (2, 2));
    assert_eq!(proxy.lies(), 2, "exactly one retry of the PATCH");
    assert_eq!(reads_back(&proxy), 2);
    assert_eq!(server.only_user().await["active"], true, "the lie");
}

#[tokio::test]
async fn without_verification_the_ignored_suspension_is_reported_applied() {
    let server = ScimServer::start().await;
    let proxy = LyingProxy::start(&server.base_url).await;
    let scim = scim_at(&proxy.base_url);
    scim.apply(&ada_upsert(1, "member")).await.expect("hire");
    let result = scim
        .apply(&ada_leaves(2, LeaverPolicy::Suspend))
        .await
        .expect("suspend");
    assert_eq!(result.outcome, Outcome::Applied);
    assert_eq!(proxy.lies(), 1);
    assert_eq!(reads_back(&proxy), 0);
    assert_eq!(server.only_user().await["active"], true);
}

#[tokio::test]
async fn an_honest_server_verifies_upserts_suspensions_and_deletes_with_one_read_each() {
    let server = ScimServer::start().await;
    let proxy = LyingProxy::honest(&server.base_url).await;
    let scim = scim_at(&proxy.base_url);
    let commands = [
        ada_upsert(1, "member"),
        ada_upsert(2, "admin"),
        ada_leaves(3, LeaverPolicy::Suspend),
        ada_upsert(4, "member"),
        ada_leaves(5, LeaverPolicy::Delete),
    ];
    for (n, cmd) in commands.iter().enumerate() {
        let (verified, tries) = verified(&scim, cmd).await;
        let applied = verified
            .outcome
            .unwrap_or_else(|e| panic!("command {n}: {e:?}"));
        assert_eq!(applied.outcome, Outcome::Applied, "command {n}");
        assert_eq!(tries, 1, "command {n}");
        assert_eq!(reads_back(&proxy), n + 1, "one read per command");
    }
    assert!(server.users().await.is_empty(), "deleted");
}

#[tokio::test]
async fn a_deleted_user_the_app_still_has_fails_verification() {
    let server = ScimServer::start().await;
    let scim = scim_at(&server.base_url);
    scim.apply(&ada_upsert(1, "member")).await.expect("hire");
    // An app whose DELETE answers 204 and deletes nothing: simulated by
    // reading back a user that exists, under the id the delete reported.
    let id = server.only_user().await["id"].as_str().unwrap().to_string();
    let applied = provisioner::connector::Applied {
        outcome: Outcome::Applied,
        app_account_id: Some(id),
    };
    let limiter = ratelimit::per_second(1_000.0);
    let leave = ada_leaves(2, LeaverPolicy::Delete);
    let checked = verify::check(&scim, &limiter, &RetryConfig::default(), &leave, &applied).await;
    assert_eq!(checked, Ok(vec![Mismatch::NotGone]));
}

/// Zendesk's user 42 as `GET /api/v2/users/42.json` answers it.
fn zendesk_user(role: &str, custom_role_id: Option<u64>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"user": {
        "id": 42, "external_id": "E1001", "email": "ada@acme.test", "name": "Ada Lovelace",
        "role": role, "custom_role_id": custom_role_id, "suspended": false, "active": true}}))
}

async fn zendesk_app(read_back: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_or_update.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"user": {"id": 42, "external_id": "E1001"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/42.json"))
        .respond_with(read_back)
        .mount(&server)
        .await;
    server
}

/// How many of `server`'s requests were `method path`.
async fn count(server: &MockServer, method: &str, path: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .count()
}

#[tokio::test]
async fn a_zendesk_role_that_did_not_take_fails_verification_naming_role() {
    let server = zendesk_app(zendesk_user("agent", None)).await;
    let app = zendesk(&server, SPEC_ROLE_MAP);
    let cmd = upsert("zendesk", account("E1001", "ada@acme.test"), 1, "admin");
    let (verified, tries) = verified(&app, &cmd).await;
    let Err(Unverified::Mismatch(mismatches)) = &verified.outcome else {
        panic!("not a mismatch: {verified:?}");
    };
    let message = verify::message(mismatches);
    assert!(
        message.ends_with("role: want admin, have agent"),
        "{message}"
    );
    assert_eq!(tries, 2);
    let create_or_update = "/api/v2/users/create_or_update.json";
    assert_eq!(count(&server, "POST", create_or_update).await, 2);
    assert_eq!(count(&server, "GET", "/api/v2/users/42.json").await, 2);
}

#[tokio::test]
async fn a_zendesk_light_agent_reads_back_through_the_role_map() {
    let server = zendesk_app(zendesk_user("agent", Some(360000001))).await;
    let app = zendesk(&server, SPEC_ROLE_MAP);
    let cmd = upsert(
        "zendesk",
        account("E1001", "ada@acme.test"),
        1,
        "light_agent",
    );
    let (verified, tries) = verified(&app, &cmd).await;
    assert!(verified.outcome.is_ok(), "{verified:?}");
    assert_eq!(tries, 1);
    assert_eq!(count(&server, "GET", "/api/v2/users/42.json").await, 1);
}

#[test]
fn verify_is_refused_for_a_webhook_app() {
    let toml = "[apps.hook]\nconnector = \"webhook\"\nbase_url = \"https://hooks.test/x\"\n\
                roles = [\"member\"]\nverify = true\n";
    let error = provisioner::config::Config::parse(std::path::Path::new("test.toml"), toml)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("verify") && error.contains("webhook"),
        "{error}"
    );
}
