//! Verify after write through the worker (`apps.slack.verify = true`): a
//! scim2-server behind a proxy that answers `200` to a suspension without
//! forwarding it. Helpers are the parent module's.

use super::*;
use crate::support::LyingProxy;

/// Ada is hired, then suspended through the lying proxy: the suspension is
/// applied twice (the proxy lies twice), read back twice, then dead-lettered
/// `verify_failed` naming `active`, with a `dead_lettered` result; the hire
/// before it verified fine.
#[tokio::test(flavor = "multi_thread")]
async fn verify_failed_is_dead_lettered_naming_the_field() {
    let server = ScimServer::start().await;
    let proxy = LyingProxy::start(&server.base_url).await;
    let env = scim_env(1, &proxy.base_url, None, |app| app.verify = true).await;
    let worker = env.start_worker();
    let ada = person("E1001", "Ada", "Lovelace");
    let hire = upsert(&ada, 1, "member");
    let leave = deprovision(&ada, 2, LeaverPolicy::Suspend);
    env.send(&[hire.clone(), leave.clone()]).await;
    let results = env.results(2).await;
    worker.stop().await;

    check_result(only_result(&results, &hire.command_id), &hire, "applied", 1);
    let left = only_result(&results, &leave.command_id);
    check_result(left, &leave, "dead_lettered", 2);
    let message = left["error"].as_str().expect("an error");
    assert!(
        message.ends_with("active: want false, have true"),
        "{message}"
    );
    let dlq = env.dlq();
    assert_eq!(dlq.len(), 1);
    let dead = &dlq[0];
    assert_eq!(header(dead, "dlq.error.kind").unwrap(), "verify_failed");
    assert_eq!(header(dead, "dlq.error.message").unwrap(), message);
    assert_eq!(header(dead, "dlq.attempts").unwrap(), "2");
    assert!(!message.contains("acme.test") && !message.contains("Ada"));
    assert_eq!(proxy.lies(), 2, "applied once more, not more");
    let id = id_of(&server.only_user().await);
    let reads = proxy
        .requests()
        .iter()
        .filter(|r| **r == format!("GET /Users/{id}"))
        .count();
    assert_eq!(reads, 3, "one read for the hire, two for the suspension");
    assert_eq!(server.only_user().await["active"], true);
}
