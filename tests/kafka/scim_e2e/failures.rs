//! The SCIM path when the server fails: down (a pause, nothing
//! dead-lettered), refusing commands while alive (dead-lettered as
//! `retries_exhausted`), stopped without outage detection, and an outage
//! that ends on a restarted server. Helpers are the parent module's.

use super::*;

/// The SCIM server dies mid-stream, with a retry budget (2) smaller than
/// the outage rule (1 000 failures in a row, which cannot trigger first).
///
/// CONTRACT §7's `retries_exhausted` cannot happen here, by design: before
/// dead-lettering a command that used up its budget, the worker probes the
/// app (`GET /Users?count=1`, apply.rs), and a dead server fails that probe
/// too — so the app is paused instead, and every command waits in Kafka. A
/// failed probe proves an outage, so the waiting commands get their budgets
/// back and are applied once a server answers again. The server is
/// restarted at once, possibly before the worker's own prober has probed
/// (first probe after 8 s): no command may be dead-lettered either way.
/// (Dead-lettering against a live server: the next test.)
#[tokio::test(flavor = "multi_thread")]
async fn scim_down_with_a_small_budget_pauses_and_dead_letters_nothing() {
    let mut server = ScimServer::restartable(None).await;
    let env = scim_env(2, &server.base_url, None, |app| {
        app.retry = RetryConfig {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(20),
            max_delay: std::time::Duration::from_millis(100),
        };
        app.outage = OutageConfig {
            enabled: true,
            consecutive_failures: 1_000,
            probe_initial_delay: std::time::Duration::from_millis(8_000),
            probe_max_delay: std::time::Duration::from_millis(8_000),
        };
    })
    .await;
    let worker = env.start_worker();
    let health = worker.health.clone();
    let people: Vec<Account> = (0..8).map(|i| staff(&format!("E{i}"))).collect();

    let before: Vec<Command> = people[..4].iter().map(|a| upsert(a, 1, "member")).collect();
    env.send(&before).await;
    env.results(4).await;
    env.wait_committed(4).await;

    server.stop();
    let during: Vec<Command> = people[..4]
        .iter()
        .map(|a| upsert(a, 2, "admin"))
        .chain(people[4..].iter().map(|a| upsert(a, 1, "member")))
        .collect();
    env.send(&during).await;
    wait_until("the app is paused", || health.is_paused()).await;
    let reason = health.snapshot().reason.unwrap_or_default();
    assert!(
        reason.starts_with("probe failed after a command exhausted its retries"),
        "paused by the probe before dead-lettering, not by the outage rule: {reason}"
    );
    assert!(env.dlq().is_empty(), "nothing dead-lettered");
    assert_eq!(env.all_results().len(), 4, "no command finished");
    assert_eq!(
        env.committed_total(),
        4,
        "nothing committed past the unfinished"
    );

    server.restart().await;
    let results = env.results(12).await;
    env.wait_committed(12).await;
    wait_until("the app is resumed", || !health.is_paused()).await;
    worker.stop().await;

    let results_now = env.all_results();
    assert_eq!(results_now.len(), 12, "one result per command");
    for cmd in &during {
        let r = only_result(&results, &cmd.command_id);
        assert_eq!(r["outcome"], "applied", "{r}");
    }
    let most = during
        .iter()
        .map(|c| {
            only_result(&results, &c.command_id)["attempts"]
                .as_u64()
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(
        most > 2,
        "the command that used its budget of 2 got it back after the outage ({most} attempts)"
    );
    assert!(env.dlq().is_empty(), "nothing dead-lettered");
    let snapshot = health.snapshot();
    assert!(snapshot.confirmed_outages >= 1, "{snapshot:?}");

    // The restarted server started empty: it holds what the pending
    // (declarative) commands say, promotions included.
    let users = users_by_external_id(&server).await;
    assert_eq!(users.len(), 8, "{users:#?}");
    for (i, a) in people.iter().enumerate() {
        let role = if i < 4 { "admin" } else { "member" };
        assert_eq!(
            users[&a.external_id]["roles"],
            json!([{"value": role, "primary": true}])
        );
    }
}

/// A front for a SCIM server that answers `503 Service Unavailable` to every
/// request whose request line contains `marker` and passes the others on:
/// an app that is up — it answers probes and other users' requests — but
/// keeps failing some commands, which is what `retries_exhausted` is for.
/// One request per connection (`Connection: close`), enough for a test.
struct FailingFront {
    base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl FailingFront {
    async fn start(upstream_port: u16, marker: &'static str) -> FailingFront {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = front_one(client, upstream_port, marker).await;
                });
            }
        });
        FailingFront { base_url, task }
    }
}

impl Drop for FailingFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request from `client`; answers 503 or relays it upstream.
async fn front_one(mut client: TcpStream, upstream_port: u16, marker: &str) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let headers: Vec<&str> = lines
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let length: usize = headers
        .iter()
        .find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    if request_line.contains(marker) {
        client
            .write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await?;
        return client.shutdown().await;
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    let mut forwarded = request_line.to_string();
    for h in headers {
        forwarded.push_str("\r\n");
        forwarded.push_str(h);
    }
    forwarded.push_str("\r\nconnection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes()).await?;
    upstream.write_all(&body).await?;
    tokio::io::copy(&mut upstream, &mut client).await?;
    client.shutdown().await
}

/// The server is up and answers probes, but every request about two
/// employees fails with 503: their commands use up their budget of 2, the
/// probe before dead-lettering answers, so they go to the dead-letter topic
/// with the CONTRACT §7 headers and a `dead_lettered` result; the others are
/// applied; the app is never paused.
#[tokio::test(flavor = "multi_thread")]
async fn commands_failing_on_a_live_scim_server_are_dead_lettered_as_retries_exhausted() {
    let server = ScimServer::start().await;
    let front = FailingFront::start(server.port(), "POISON").await;
    let env = scim_env(1, &front.base_url, None, |app| {
        app.retry = RetryConfig {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(20),
            max_delay: std::time::Duration::from_millis(100),
        };
        app.outage.consecutive_failures = 100;
    })
    .await;
    let worker = env.start_worker();
    let health = worker.health.clone();
    let commands: Vec<Command> = ["E1", "POISON1", "E2", "POISON2"]
        .iter()
        .map(|e| upsert(&staff(e), 1, "member"))
        .collect();
    env.send(&commands).await;
    let results = env.results(4).await;
    let dlq = wait_records(&env.servers, &env.config.topics.commands_dlq, 2).await;
    env.wait_committed(4).await;
    worker.stop().await;

    let originals = read_all(&env.servers, &env.topic);
    assert_eq!(originals.len(), 4);
    assert_eq!(dlq.len(), 2, "only the failing commands");
    for (offset, cmd) in commands.iter().enumerate() {
        let r = only_result(&results, &cmd.command_id);
        if !cmd.employee_id.starts_with("POISON") {
            check_result(r, cmd, "applied", 1);
            continue;
        }
        check_result(r, cmd, "dead_lettered", 2);
        assert!(r["app_account_id"].is_null());
        let error = r["error"].as_str().expect("error");
        assert!(error.contains("503"), "{error}");

        let original = &originals[offset];
        let dead = dlq
            .iter()
            .find(|m| header(m, "dlq.original.offset") == Some(offset.to_string()))
            .unwrap_or_else(|| panic!("no dead letter of offset {offset}"));
        assert_eq!(dead.key(), Some(cmd.employee_id.as_bytes()), "original key");
        assert_eq!(dead.payload(), original.payload(), "original value bytes");
        assert_eq!(header(dead, "dlq.original.topic").unwrap(), env.topic);
        assert_eq!(header(dead, "dlq.original.partition").unwrap(), "0");
        assert_eq!(
            header(dead, "dlq.original.timestamp").unwrap(),
            original.timestamp().to_millis().unwrap().to_string()
        );
        assert_eq!(header(dead, "dlq.error.kind").unwrap(), "retries_exhausted");
        let message = header(dead, "dlq.error.message").unwrap();
        assert!(message.contains("503"), "{message}");
        assert!(
            !message.contains("@acme.test"),
            "no personal data: {message}"
        );
        assert_eq!(header(dead, "dlq.attempts").unwrap(), "2");
        assert_eq!(header(dead, "dlq.app").unwrap(), APP);
        let failed_at = header(dead, "dlq.failed_at").unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(&failed_at).is_ok(),
            "{failed_at}"
        );
    }
    assert_eq!(env.all_results().len(), 4, "one result per command");
    assert_eq!(health.snapshot().pauses, 0, "no outage: the probe answered");
    let users = users_by_external_id(&server).await;
    assert_eq!(users.keys().collect::<Vec<_>>(), vec!["E1", "E2"]);
}

/// The SCIM server stopped mid-stream with a small retry budget and outage
/// detection turned off (`outage.enabled = false`): every command retries,
/// then lands in the dead-letter topic with the CONTRACT §7 headers and a
/// `dead_lettered` result; the records before the stop were applied.
#[tokio::test(flavor = "multi_thread")]
async fn scim_stopped_without_outage_detection_dead_letters_after_retries() {
    let mut server = ScimServer::restartable(None).await;
    let env = scim_env(1, &server.base_url, None, |app| {
        app.retry = RetryConfig {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(20),
            max_delay: std::time::Duration::from_millis(100),
        };
        app.outage.enabled = false;
    })
    .await;
    let worker = env.start_worker();
    let health = worker.health.clone();
    let first: Vec<Command> = ["E1", "E2"]
        .iter()
        .map(|e| upsert(&staff(e), 1, "member"))
        .collect();
    env.send(&first).await;
    env.results(2).await;
    server.stop();
    let second: Vec<Command> = ["E3", "E4", "E5"]
        .iter()
        .map(|e| upsert(&staff(e), 1, "member"))
        .collect();
    env.send(&second).await;
    let results = env.results(5).await;
    let dlq = wait_records(&env.servers, &env.config.topics.commands_dlq, 3).await;
    env.wait_committed(5).await;
    worker.stop().await;

    let originals = read_all(&env.servers, &env.topic);
    assert_eq!(dlq.len(), 3, "the commands sent while the server was down");
    for (i, cmd) in second.iter().enumerate() {
        let offset = i + first.len();
        check_result(
            only_result(&results, &cmd.command_id),
            cmd,
            "dead_lettered",
            2,
        );
        let dead = dlq
            .iter()
            .find(|m| header(m, "dlq.original.offset") == Some(offset.to_string()))
            .unwrap_or_else(|| panic!("no dead letter of offset {offset}"));
        assert_eq!(dead.key(), Some(cmd.employee_id.as_bytes()), "original key");
        assert_eq!(
            dead.payload(),
            originals[offset].payload(),
            "original value bytes"
        );
        assert_eq!(header(dead, "dlq.original.topic").unwrap(), env.topic);
        assert_eq!(header(dead, "dlq.original.partition").unwrap(), "0");
        assert_eq!(
            header(dead, "dlq.original.timestamp").unwrap(),
            originals[offset]
                .timestamp()
                .to_millis()
                .unwrap()
                .to_string()
        );
        assert_eq!(header(dead, "dlq.error.kind").unwrap(), "retries_exhausted");
        assert!(!header(dead, "dlq.error.message").unwrap().is_empty());
        assert_eq!(header(dead, "dlq.attempts").unwrap(), "2");
        assert_eq!(header(dead, "dlq.app").unwrap(), APP);
        assert!(
            chrono::DateTime::parse_from_rfc3339(&header(dead, "dlq.failed_at").unwrap()).is_ok()
        );
    }
    for cmd in &first {
        check_result(only_result(&results, &cmd.command_id), cmd, "applied", 1);
    }
    assert_eq!(
        health.snapshot().pauses,
        0,
        "outage detection off: never paused"
    );
}

/// The outage rule (defaults: 5 transient failures in a row) with the
/// default retry budget: the server dies mid-stream, consumption pauses,
/// nothing is dead-lettered or committed past the unfinished commands, and
/// commands produced meanwhile wait in Kafka untried. A scim2-server started
/// again on the same port is empty (users live in memory), so the commands
/// applied before the outage are gone with the old process; the commands
/// still pending are applied to the new one once a probe answers, and every
/// command has exactly one result.
#[tokio::test(flavor = "multi_thread")]
async fn scim_outage_pauses_consumption_and_resumes_on_a_restarted_server() {
    let token = format!("scim-token-{}", uuid::Uuid::new_v4().simple());
    let mut server = ScimServer::restartable(Some(&token)).await;
    let env = scim_env(3, &server.base_url, Some(&token), |app| {
        app.retry = RetryConfig::default();
        app.outage = OutageConfig::default();
    })
    .await;
    let worker = env.start_worker();
    let health = worker.health.clone();
    let people: Vec<Account> = (0..12).map(|i| staff(&format!("E{i:02}"))).collect();

    let before: Vec<Command> = people[..6].iter().map(|a| upsert(a, 1, "member")).collect();
    env.send(&before).await;
    env.results(6).await;
    env.wait_committed(6).await;
    assert_eq!(users_by_external_id(&server).await.len(), 6);

    server.stop();
    let during: Vec<Command> = people[..6]
        .iter()
        .map(|a| upsert(a, 2, "admin"))
        .chain(people[6..10].iter().map(|a| upsert(a, 1, "member")))
        .collect();
    env.send(&during).await;
    wait_until("the app is paused", || health.is_paused()).await;
    let reason = health.snapshot().reason.unwrap_or_default();
    assert!(
        reason.starts_with("5 transient failures in a row"),
        "paused by the outage rule: {reason}"
    );
    wait_until("a probe failed: the outage is confirmed", || {
        health.snapshot().confirmed_outages >= 1
    })
    .await;
    // Produced while paused: they wait in Kafka.
    let later: Vec<Command> = people[10..]
        .iter()
        .map(|a| upsert(a, 1, "member"))
        .collect();
    env.send(&later).await;
    assert!(health.is_paused());
    assert!(env.dlq().is_empty(), "nothing dead-lettered");
    assert_eq!(env.all_results().len(), 6, "no pending command finished");
    assert_eq!(
        env.committed_total(),
        6,
        "committed offsets stop below the unfinished commands"
    );

    server.restart().await;
    let total = before.len() + during.len() + later.len();
    let results = env.results(total).await;
    env.wait_committed(total as i64).await;
    wait_until("the app is resumed", || !health.is_paused()).await;
    worker.stop().await;

    assert_eq!(env.all_results().len(), total, "one result per command");
    for cmd in during.iter().chain(&later) {
        let r = only_result(&results, &cmd.command_id);
        assert_eq!(r["outcome"], "applied", "{r}");
        assert!(r["error"].is_null());
    }
    for cmd in &later {
        let r = only_result(&results, &cmd.command_id);
        assert_eq!(r["attempts"], 1, "never tried during the outage: {r}");
    }
    assert!(env.dlq().is_empty(), "nothing dead-lettered");
    let snapshot = health.snapshot();
    assert!(!snapshot.paused && snapshot.pauses >= 1, "{snapshot:?}");

    let users = users_by_external_id(&server).await;
    assert_eq!(users.len(), 12, "every pending command applied: {users:#?}");
    for (i, a) in people.iter().enumerate() {
        let role = if i < 6 { "admin" } else { "member" };
        let user = &users[&a.external_id];
        assert_eq!(user["roles"], json!([{"value": role, "primary": true}]));
        assert_eq!(user["active"], true);
    }
}
