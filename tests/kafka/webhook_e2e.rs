//! The webhook path end to end (CONTRACT §10): a command on a real broker, the
//! real worker with the real `WebhookConnector` — built from the app's
//! catalogue entry, its secret read from the variable named in `token_env` —
//! and a receiver (`wiremock`) that verifies the signature itself.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::harness::*;

const APP: &str = "wiki";

/// The receiver's check: `X-Provisioner-Signature: sha256=<hex HMAC-SHA256
/// of the body>` keyed by the shared secret.
struct SignedWith(String);

impl Match for SignedWith {
    fn matches(&self, request: &Request) -> bool {
        let Some(signature) = request.headers.get("x-provisioner-signature") else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("hmac key");
        mac.update(&request.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        signature.to_str().is_ok_and(|s| s == want)
    }
}

/// The receiver fails the first signed delivery with a 500 and accepts the
/// next: the worker retries, the command is applied with `attempts` = 2,
/// and both deliveries carry the command's bytes exactly as on Kafka, signed
/// with the secret of `token_env`. An unsigned or wrongly signed request
/// would get wiremock's 404 (permanent: dead-lettered), which the asserts
/// would catch.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_receiver_verifies_the_signature_and_a_500_is_retried() {
    let receiver = MockServer::start().await;
    let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
    Mock::given(method("POST"))
        .and(path("/hooks/provision"))
        .and(SignedWith(secret.clone()))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/provision"))
        .and(SignedWith(secret.clone()))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .expect(1)
        .mount(&receiver)
        .await;

    let var = format!("E2E_WEBHOOK_SECRET_{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    std::env::set_var(&var, &secret);
    let entry = format!(
        "[apps.{APP}]\n\
         connector = \"webhook\"\n\
         base_url = \"{}/hooks/provision\"\n\
         token_env = \"{var}\"\n\
         roles = [\"reader\", \"editor\"]\n\
         leaver = \"delete\"\n\
         rate_limit_per_second = 1000.0\n\
         retry = {{ max_attempts = 3, initial_delay_ms = 20, max_delay_ms = 100 }}\n",
        receiver.uri()
    );
    let env = WorkerEnv::with_entry(1, APP, &entry).await;
    let worker = env.start_worker();

    let cmd = ada_upsert(APP, "editor", "Docs");
    let bytes = cmd.to_json();
    produce(&env.servers, &env.topic, &[(Some("E1001"), bytes.clone())]).await;
    let results = env.results(1).await;
    env.wait_committed(1).await;
    worker.stop().await;

    let r = &results[0];
    assert_eq!(r["command_id"], "wiki:E1001:1");
    assert_eq!(r["app"], APP);
    assert_eq!(r["employee_id"], "E1001");
    assert_eq!(r["generation"], 1);
    assert_eq!(r["outcome"], "applied", "{r}");
    assert_eq!(r["attempts"], 2, "{r}");
    assert!(r["app_account_id"].is_null());
    assert!(r["error"].is_null());
    assert!(r["duration_ms"].is_u64());

    let requests = receiver.received_requests().await.expect("recorded");
    let methods: Vec<String> = requests.iter().map(|r| r.method.to_string()).collect();
    assert_eq!(
        methods,
        vec!["POST", "POST"],
        "two deliveries and no probe: one failure is no outage"
    );
    for request in &requests {
        assert_eq!(request.body, bytes, "the command exactly as on Kafka");
        assert!(SignedWith(secret.clone()).matches(request), "signed");
        assert_eq!(request.headers["content-type"], "application/json");
    }
    receiver.verify().await;
    assert_eq!(
        read_all(&env.servers, &env.config.topics.results).len(),
        1,
        "one result"
    );
    assert!(env.dlq().is_empty());
}
