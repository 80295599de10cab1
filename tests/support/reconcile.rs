//! A reconciliation world shared by `tests/reconcile.rs` (report) and
//! `tests/reconcile_react.rs` (reactions): a config with a SCIM app `slack`
//! (extra keys given) and a webhook app `hooks`, developers' hire events,
//! and SCIM requests straight to the server, as an admin in the app would.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};

use super::{
    binary, bootstrap, event, produce_with, read_all, wait_for, Namespace, ScimServer, World,
};

/// Developers get Slack as members.
const RULES: &str = r#"
- name: Dev Team
  target: { field: team, op: is, value: Development }
  apps:
    slack: { role: member }
"#;

/// A world of its own: `provisioner.toml` (Slack on `scim_url` with an
/// ignore list, a webhook app `hooks`) and `rules/`.
pub struct Setup {
    _dir: tempfile::TempDir,
    /// The config file.
    pub config: PathBuf,
    /// Its topics and groups.
    pub ns: Namespace,
}

impl Setup {
    /// The world, the SCIM app at `scim_url` with `slack_extra` lines.
    pub fn new(servers: &str, scim_url: &str, slack_extra: &str) -> Setup {
        let tables = format!(
            r#"[engine]
batch_max_ms = 50
[connector]
commit_interval_ms = 100
shutdown_timeout_ms = 2000
[apps.slack]
connector = "scim"
base_url = "{scim_url}"
roles = ["member", "admin"]
rate_limit_per_second = 1000
retry = {{ max_attempts = 2, initial_delay_ms = 10, max_delay_ms = 50 }}
{slack_extra}
[apps.hooks]
connector = "webhook"
base_url = "http://127.0.0.1:1/hooks"
roles = ["member"]
"#,
        );
        let World { dir, config, ns } = World::new(servers, RULES, "", &tables);
        Setup {
            _dir: dir,
            config,
            ns,
        }
    }

    /// `provisioner --config <this> --log-format json reconcile <args>`,
    /// logging at info so that a personal datum logged would show.
    pub fn reconcile(&self, args: &[&str]) -> Output {
        binary()
            .arg("--config")
            .arg(&self.config)
            .args(["--log-format", "json", "reconcile"])
            .args(args)
            .env("RUST_LOG", "info")
            .output()
            .expect("run provisioner")
    }
}

/// Bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stdout's JSON lines.
pub fn json_lines(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A developer's hire event.
pub fn hire(id: &str, first: &str, last: &str) -> Vec<u8> {
    let employee = json!({
        "id": id,
        "email": format!("{}.{}@acme.test", first.to_lowercase(), last.to_lowercase()),
        "first_name": first,
        "last_name": last,
        "team": "Development",
        "start_date": "2020-01-06",
    });
    event(&format!("hire-{id}"), "hired", 1, employee)
}

/// A SCIM request straight to the server, as an admin in the app would.
pub async fn scim(method: reqwest::Method, url: String, body: Option<Value>) {
    let mut request = reqwest::Client::new().request(method.clone(), &url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("SCIM request");
    assert!(
        response.status().is_success(),
        "{method} {url}: {} {:?}",
        response.status(),
        response.text().await
    );
}

/// The server's user named `user_name`.
pub async fn user(server: &ScimServer, user_name: &str) -> Value {
    let users = server.users().await;
    users
        .into_iter()
        .find(|u| u["userName"] == user_name)
        .unwrap_or_else(|| panic!("no user {user_name}"))
}

/// The JSON values of every committed record of `topic`.
pub fn values(topic: &str) -> Vec<Value> {
    read_all(&bootstrap(), topic)
        .iter()
        .map(|m| {
            use rdkafka::Message;
            serde_json::from_slice(m.payload().expect("a value")).expect("JSON")
        })
        .collect()
}

/// Sets Ada's role in the server to `admin`, behind provisioning's back.
pub async fn make_ada_admin(server: &ScimServer) {
    let ada = user(server, "ada.lovelace@acme.test").await;
    scim(
        reqwest::Method::PATCH,
        format!(
            "{}/Users/{}",
            server.base_url,
            ada["id"].as_str().expect("id")
        ),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "roles",
                "value": [{"value": "admin", "primary": true}]}],
        })),
    )
    .await;
}

/// Hires `who` through a running engine and connector; waits until the
/// server holds each of them as an active member.
pub async fn hire_all(setup: &Setup, server: &ScimServer, who: &[(&str, &str, &str)]) {
    let records: Vec<(Option<&str>, Vec<u8>)> = who
        .iter()
        .map(|(id, first, last)| (Some(*id), hire(id, first, last)))
        .collect();
    produce_with(&bootstrap(), &[], &setup.ns.topic("events"), &records).await;
    wait_for("the hires are members in the SCIM app", || async {
        let users = server.users().await;
        let members = users
            .iter()
            .filter(|u| u["active"] == true && u["roles"][0]["value"] == "member")
            .count();
        (members == who.len()).then_some(())
    })
    .await;
}
