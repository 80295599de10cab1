//! Zendesk through the real worker (CONTRACT §10): a 429 with `Retry-After` is
//! honoured — the retry comes no earlier than the app said — against a
//! `wiremock` stand-in (Zendesk cannot run here).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::harness::*;

const APP: &str = "zendesk";

/// Answers 429 (`Retry-After: 2`) first, then the user; records when.
#[derive(Clone, Default)]
struct Throttled(Arc<Mutex<Vec<Instant>>>);

impl Respond for Throttled {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let mut seen = self.0.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            ResponseTemplate::new(429).insert_header("Retry-After", "2")
        } else {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "user": {"id": 9001, "external_id": "E1001", "role": "agent", "custom_role_id": 360000001}
            }))
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_retry_after_is_honoured_through_the_worker() {
    let zendesk = MockServer::start().await;
    let calls = Throttled::default();
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_or_update.json"))
        .respond_with(calls.clone())
        .expect(2)
        .mount(&zendesk)
        .await;
    let (email_var, token_var) = (
        format!("E2E_ZD_EMAIL_{}", uuid::Uuid::new_v4().simple()).to_uppercase(),
        format!("E2E_ZD_TOKEN_{}", uuid::Uuid::new_v4().simple()).to_uppercase(),
    );
    std::env::set_var(&email_var, "ops@acme.test");
    std::env::set_var(&token_var, "zd-token");
    let entry = format!(
        "[apps.{APP}]\nconnector = \"zendesk\"\nbase_url = {:?}\nemail_env = {email_var:?}\n\
         token_env = {token_var:?}\nroles = [\"end_user\", \"light_agent\", \"agent\"]\n\
         rate_limit_per_second = 1000.0\n\
         retry = {{ max_attempts = 3, initial_delay_ms = 10, max_delay_ms = 50 }}\n\
         [apps.{APP}.role_map]\nend_user = {{ role = \"end-user\" }}\n\
         light_agent = {{ role = \"agent\", custom_role_id = 360000001 }}\nagent = {{ role = \"agent\" }}\n",
        zendesk.uri()
    );
    let env = WorkerEnv::with_entry(1, APP, &entry).await;
    let worker = env.start_worker();

    let cmd = ada_upsert(APP, "light_agent", "Dev Team");
    produce(&env.servers, &env.topic, &[(Some("E1001"), cmd.to_json())]).await;
    let results = env.results(1).await;
    worker.stop().await;

    assert_eq!(results[0]["outcome"], "applied", "{}", results[0]);
    assert_eq!(results[0]["attempts"], 2);
    assert_eq!(results[0]["app_account_id"], "9001");
    let times = calls.0.lock().unwrap().clone();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, told 2 s"
    );
    let requests = zendesk.received_requests().await.expect("recorded");
    let body: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body["user"]["role"], "agent");
    assert_eq!(
        body["user"]["custom_role_id"], 360000001,
        "light agent via custom_role_id"
    );
    assert_eq!(body["user"]["external_id"], "E1001");
    zendesk.verify().await;
}
