//! Building connectors from the catalogue: which kind, and error messages
//! that name the app and the variable or file — never a secret's value.

use provisioner::connector::build::{build, AnyConnector, BuildError};
use provisioner::connector::Connector;
use wiremock::matchers::{header_exists, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{account, app_config, upsert};

fn entry(kind: &str, extra: &str) -> String {
    format!(
        "[apps.a]\nconnector = \"{kind}\"\nbase_url = \"http://127.0.0.1:9/x\"\nroles = [\"r\"]\n{extra}\n"
    )
}

fn build_error(kind: &str, extra: &str) -> String {
    match build("a", &app_config("a", &entry(kind, extra))) {
        Ok(c) => panic!("built {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn each_kind_builds_its_connector() {
    let scim = build("a", &app_config("a", &entry("scim", ""))).unwrap();
    assert!(matches!(scim, AnyConnector::Scim(_)));
    let webhook = build("a", &app_config("a", &entry("webhook", ""))).unwrap();
    assert!(matches!(webhook, AnyConnector::Webhook(_)));
    std::env::set_var("APPS_TEST_BUILD_EMAIL", "api@acme.test");
    std::env::set_var("APPS_TEST_BUILD_TOKEN", "build-token-value");
    let zendesk = build(
        "a",
        &app_config(
            "a",
            &entry(
                "zendesk",
                "email_env = \"APPS_TEST_BUILD_EMAIL\"\ntoken_env = \"APPS_TEST_BUILD_TOKEN\"",
            ),
        ),
    )
    .unwrap();
    assert!(matches!(zendesk, AnyConnector::Zendesk(_)));
    let printed = format!("{zendesk:?}");
    assert!(!printed.contains("build-token-value"), "{printed}");
    assert!(!printed.contains("api@acme.test"), "{printed}");
}

#[test]
fn an_unset_token_variable_is_named_with_the_app() {
    let err = build_error("scim", "token_env = \"APPS_TEST_NEVER_SET_TOKEN\"");
    assert!(
        err.contains("app a") && err.contains("APPS_TEST_NEVER_SET_TOKEN"),
        "{err}"
    );
}

#[test]
fn an_unreadable_token_file_is_named() {
    let err = build_error("webhook", "token_file = \"/nonexistent/provisioner/token\"");
    assert!(
        err.contains("app a") && err.contains("/nonexistent/provisioner/token"),
        "{err}"
    );
}

#[test]
fn zendesk_needs_its_email_and_token() {
    let err = build_error("zendesk", "token_env = \"PATH\"");
    assert!(err.contains("app a") && err.contains("email_env"), "{err}");
    let err = build_error("zendesk", "email_env = \"PATH\"");
    assert!(err.contains("token_env"), "{err}");
    let err = build_error(
        "zendesk",
        "email_env = \"APPS_TEST_NEVER_SET_EMAIL\"\ntoken_env = \"PATH\"",
    );
    assert!(err.contains("APPS_TEST_NEVER_SET_EMAIL"), "{err}");
}

#[test]
fn a_base_url_without_host_is_refused() {
    let toml = entry("scim", "").replace("http://127.0.0.1:9/x", "http://");
    let err = build("a", &app_config("a", &toml)).unwrap_err();
    assert!(matches!(err, BuildError::BaseUrl { .. }), "{err}");
    assert!(err.to_string().contains("app a"), "{err}");
}

#[tokio::test]
async fn a_built_connector_uses_its_token_file() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header_exists("x-provisioner-signature"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("secret");
    std::fs::write(&token, "  file-secret \n").unwrap();
    let toml = format!(
        "[apps.wiki]\nconnector = \"webhook\"\nbase_url = \"{}/hook\"\nroles = [\"r\"]\ntoken_file = {:?}\n",
        server.uri(),
        token.display().to_string()
    );
    let wiki = build("wiki", &app_config("wiki", &toml)).unwrap();
    let cmd = upsert("wiki", account("E1", "e1@acme.test"), 1, "r");
    wiki.apply(&cmd).await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let want = provisioner::connector::webhook::signature(
        &provisioner::connector::http::Secret::new("file-secret"),
        &request.body,
    )
    .unwrap();
    assert_eq!(request.headers["x-provisioner-signature"], want.as_str());
}
