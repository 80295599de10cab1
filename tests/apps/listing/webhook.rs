//! Webhooks have no read API: a listing says so, it is never empty.

use provisioner::connector::build::build;
use provisioner::connector::listing::ListError;

use crate::common::app_config;

#[test]
fn a_webhook_app_cannot_be_listed_and_says_so() {
    let toml = "[apps.wiki]\nconnector = \"webhook\"\n\
                base_url = \"http://127.0.0.1:9/hook\"\nroles = [\"editor\"]\n";
    let wiki = build("wiki", &app_config("wiki", toml)).expect("build webhook");
    let error = wiki.lister().expect_err("no read API");
    assert!(
        matches!(&error, ListError::Unsupported { app, .. } if app == "wiki"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "app wiki: webhook apps have no read API; reconciliation skips them"
    );
}
