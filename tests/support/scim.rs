//! A real scim2-server per test, on a free port.
//!
//! The server comes from the venv `deploy/local/scim.sh install` creates in
//! `<repo>/.local/scim/venv`. When it is missing the test fails loudly with
//! that instruction — it never skips. Each test gets its own server (users
//! live in its memory), so tests run in parallel without sharing state; the
//! process is killed when the `ScimServer` is dropped.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use provisioner::config::Config;
use provisioner::connector::build::{build, AnyConnector};
use serde_json::{json, Value};
use tempfile::NamedTempFile;

use super::ports::{closed_port, stable_port};
use super::wait::DEADLINE;

/// A running scim2-server.
pub struct ScimServer {
    child: Child,
    /// `http://127.0.0.1:<port>`, the SCIM root.
    pub base_url: String,
    port: u16,
    token: Option<String>,
    log: NamedTempFile,
}

/// Starts the server process on `port`, its output appended to `log`.
fn launch(bin: &Path, port: u16, token: Option<&str>, log: &NamedTempFile) -> Child {
    // Append mode: stdout and stderr share the file without overwriting
    // each other, and a restarted server adds to the same log.
    let append = || {
        OpenOptions::new()
            .append(true)
            .open(log.path())
            .expect("log")
    };
    let mut process = Process::new(bin);
    process
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(append())
        .stderr(append());
    if let Some(token) = token {
        process.args(["--bearer-token", token]);
    }
    process.spawn().expect("start scim2-server")
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

    /// A server meant to be [`stop`](Self::stop)ped and
    /// [`restart`](Self::restart)ed on the same port (one outside the
    /// ephemeral range), optionally requiring a bearer token.
    pub async fn restartable(token: Option<&str>) -> ScimServer {
        ScimServer::launch_on(token, stable_port).await
    }

    /// A server on `port`, chosen beforehand (e.g. so a connector can be
    /// pointed at it while it is still down).
    pub async fn on_port(port: u16) -> ScimServer {
        ScimServer::launch_on(None, || port).await
    }

    async fn spawn(token: Option<&str>) -> ScimServer {
        ScimServer::launch_on(token, closed_port).await
    }

    async fn launch_on(token: Option<&str>, free_port: impl Fn() -> u16) -> ScimServer {
        let bin = server_binary();
        // A port found free can be taken before the server binds it; try again then.
        for attempt in 1..=3 {
            let port = free_port();
            let log = NamedTempFile::new().expect("log file");
            let child = launch(&bin, port, token, &log);
            let mut server = ScimServer {
                child,
                base_url: format!("http://127.0.0.1:{port}"),
                port,
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
        let deadline = Instant::now() + DEADLINE;
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
                return Err(format!("did not answer within {DEADLINE:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the server printed so far (one line per request it served).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The requests served so far, as `"METHOD /path?query"`, from the
    /// server's access log.
    pub fn requests(&self) -> Vec<String> {
        self.output()
            .lines()
            .filter_map(|line| {
                let quoted = line.split('"').nth(1)?;
                let (request, _version) = quoted.rsplit_once(' ')?;
                Some(request.to_string())
            })
            .collect()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server, as a crash or an outage would; its users are lost
    /// (they live in its memory). Harmless when already stopped.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh server (no users) on the same port, with the same
    /// token, after [`stop`](Self::stop); returns once it answers.
    pub async fn restart(&mut self) {
        self.stop();
        self.child = launch(
            &server_binary(),
            self.port,
            self.token.as_deref(),
            &self.log,
        );
        if let Err(why) = self.wait_ready().await {
            panic!(
                "scim2-server did not restart on port {}: {why}; its output:\n{}",
                self.port,
                self.output()
            );
        }
    }

    /// The SCIM app's catalogue entry for this server, optionally with extra
    /// TOML lines (e.g. `token_file = "..."`).
    pub fn connector(&self, extra: &str) -> AnyConnector {
        let toml = format!(
            "[apps.slack]\nconnector = \"scim\"\nbase_url = \"{}\"\nroles = [\"member\", \"admin\"]\n{extra}\n",
            self.base_url
        );
        let config = Config::parse(Path::new("test.toml"), &toml).expect("test catalogue");
        build("slack", &config.apps["slack"]).expect("build scim connector")
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
        self.stop();
    }
}
