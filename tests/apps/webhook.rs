//! The webhook connector against `wiremock`: the body is the command's JSON,
//! byte for byte, and the signature verifies with an HMAC computed here.

use std::time::Duration;

use hmac::{Hmac, Mac};
use provisioner::config::LeaverPolicy;
use provisioner::connector::http::{client, BaseUrl, Secret};
use provisioner::connector::webhook::WebhookConnector;
use provisioner::connector::{Applied, Connector, ConnectorError, Outcome};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{account, deprovision, upsert};
use crate::support::closed_port;

const SECRET: &str = "wiki-webhook-secret";

fn connector(url: &str, secret: Option<&str>) -> WebhookConnector {
    let endpoint = BaseUrl::parse(url).unwrap();
    WebhookConnector::new("wiki", endpoint, secret.map(Secret::new), client().unwrap())
}

async fn answering(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/provision"))
        .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", "4"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_body_is_the_command_json_and_the_signature_verifies() {
    let server = answering(204).await;
    let wiki = connector(&format!("{}/provision", server.uri()), Some(SECRET));
    let cmd = upsert("wiki", account("E1001", "ada@acme.test"), 1, "editor");
    let result = wiki.apply(&cmd).await;
    assert_eq!(
        result,
        Ok(Applied {
            outcome: Outcome::Applied,
            app_account_id: None
        })
    );

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.body, cmd.to_json());
    assert_eq!(request.headers["content-type"], "application/json");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&request.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.headers["x-provisioner-signature"], want.as_str());
}

#[tokio::test]
async fn deprovisions_are_posted_the_same_way() {
    let server = answering(200).await;
    let wiki = connector(&format!("{}/provision", server.uri()), Some(SECRET));
    let cmd = deprovision(
        "wiki",
        account("E1001", "ada@acme.test"),
        2,
        LeaverPolicy::Delete,
    );
    assert!(wiki.apply(&cmd).await.is_ok());
    let requests = server.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["action"], "deprovision");
    assert_eq!(body["deprovision"], "delete");
}

#[tokio::test]
async fn without_a_secret_there_is_no_signature_header() {
    let server = answering(202).await;
    let wiki = connector(&format!("{}/provision", server.uri()), None);
    let cmd = upsert("wiki", account("E1001", "ada@acme.test"), 1, "editor");
    assert!(wiki.apply(&cmd).await.is_ok());
    let requests = server.received_requests().await.unwrap();
    assert!(!requests[0].headers.contains_key("x-provisioner-signature"));
}

#[tokio::test]
async fn failures_are_classified() {
    let cmd = upsert("wiki", account("E1001", "ada@acme.test"), 1, "editor");
    let server = answering(500).await;
    let err = connector(&format!("{}/provision", server.uri()), Some(SECRET))
        .apply(&cmd)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err:?}");

    let server = answering(503).await;
    let err = connector(&format!("{}/provision", server.uri()), Some(SECRET))
        .apply(&cmd)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(4)),
        "{err:?}"
    );

    let server = answering(400).await;
    let err = connector(&format!("{}/provision", server.uri()), Some(SECRET))
        .apply(&cmd)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent { .. }), "{err:?}");

    let server = answering(401).await;
    let err = connector(&format!("{}/provision", server.uri()), Some(SECRET))
        .apply(&cmd)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn probe_needs_an_answer_below_500() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .respond_with(ResponseTemplate::new(405))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let wiki = connector(&format!("{}/provision", server.uri()), Some(SECRET));
    assert_eq!(wiki.probe().await, Ok(()));
    assert!(matches!(
        wiki.probe().await,
        Err(ConnectorError::Transient { .. })
    ));
    let nowhere = connector(
        &format!("http://127.0.0.1:{}/provision", closed_port()),
        None,
    );
    assert!(matches!(
        nowhere.probe().await,
        Err(ConnectorError::Transient { .. })
    ));
}
