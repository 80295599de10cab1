//! The test harness: a real scim2-server per test, on a free port.
//!
//! The server comes from the venv `deploy/local/scim.sh install` creates in
//! `<repo>/.local/scim/venv`. When it is missing the test fails loudly with
//! that instruction — it never skips. Each test gets its own server (users
//! live in its memory), so tests run in parallel without sharing state; the
//! process is killed when the `ScimServer` is dropped.

use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use provisioner::connector::build::{build, AnyConnector};
use serde_json::{json, Value};
use tempfile::NamedTempFile;

use crate::common::{app_config, closed_port};

/// How long a server may take to answer after it was started.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A running scim2-server.
pub struct ScimServer {
    child: Child,
    /// `http://127.0.0.1:<port>`, the SCIM root.
    pub base_url: String,
    token: Option<String>,
    log: NamedTempFile,
}

fn server_binary() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".local/scim/venv/bin/scim2-server");
    if !bin.is_file() {
        panic!(
            "scim2-server not found at {}. These tests need a real SCIM server: \
             run `deploy/local/scim.sh install` (creates the venv with the pinned \
             scim2-server from PyPI), then run the tests again.",
            bin.display()
        );
    }
    bin
}

impl ScimServer {
    /// A server accepting every request.
    pub async fn start() -> ScimServer {
        ScimServer::spawn(None).await
    }

    /// A server requiring `Authorization: Bearer <token>`.
    pub async fn with_token(token: &str) -> ScimServer {
        ScimServer::spawn(Some(token)).await
    }

    async fn spawn(token: Option<&str>) -> ScimServer {
        let bin = server_binary();
        // A port found free can be taken before the server binds it; try again then.
        for attempt in 1..=3 {
            let port = closed_port();
            let log = NamedTempFile::new().expect("log file");
            let mut process = Process::new(&bin);
            process
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.reopen().expect("log"))
                .stderr(log.reopen().expect("log"));
            if let Some(token) = token {
                process.args(["--bearer-token", token]);
            }
            let child = process.spawn().expect("start scim2-server");
            let mut server = ScimServer {
                child,
                base_url: format!("http://127.0.0.1:{port}"),
                token: token.map(String::from),
                log,
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(why) if attempt < 3 && why.starts_with("exited") => continue,
                Err(why) => panic!("scim2-server {why}; its output:\n{}", server.output()),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Polls `GET /Users` until it answers (any status), the process dies, or
    /// the deadline passes.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("exited during start-up ({status})"));
            }
            if client
                .get(format!("{}/Users", self.base_url))
                .send()
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("did not answer within {START_DEADLINE:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The SCIM app's catalogue entry for this server, optionally with extra
    /// TOML lines (e.g. `token_file = "..."`).
    pub fn connector(&self, extra: &str) -> AnyConnector {
        let toml = format!(
            "[apps.slack]\nconnector = \"scim\"\nbase_url = \"{}\"\nroles = [\"member\", \"admin\"]\n{extra}\n",
            self.base_url
        );
        build("slack", &app_config("slack", &toml)).expect("build scim connector")
    }

    fn get(&self, url: String) -> reqwest::RequestBuilder {
        let request = reqwest::Client::new().get(url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Every user the server holds, read directly (not through the connector).
    pub async fn users(&self) -> Vec<Value> {
        let list: Value = self
            .get(format!("{}/Users", self.base_url))
            .send()
            .await
            .expect("GET /Users")
            .error_for_status()
            .expect("GET /Users status")
            .json()
            .await
            .expect("ListResponse");
        list.get("Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The one user the server holds; fails when there are none or several.
    pub async fn only_user(&self) -> Value {
        let users = self.users().await;
        assert_eq!(users.len(), 1, "expected exactly one user, got {users:#?}");
        users.into_iter().next().unwrap()
    }

    /// Creates a user directly, as an admin or another tool would have.
    pub async fn create_user(&self, user: Value) -> Value {
        let mut body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]});
        body.as_object_mut()
            .unwrap()
            .extend(user.as_object().unwrap().clone());
        let mut request = reqwest::Client::new()
            .post(format!("{}/Users", self.base_url))
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /Users");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.expect("created user")
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
