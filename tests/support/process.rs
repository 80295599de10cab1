//! The real `provisioner` binary: one-shot runs and long-running processes
//! with their JSON log captured.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::wait::{wait_for_blocking, DEADLINE};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `provisioner`, the binary under test, not started yet: run from the
/// repository root, without the caller's `KAFKA_BOOTSTRAP_SERVERS` (which
/// would override the configuration under test).
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provisioner"));
    command
        .current_dir(root())
        .env_remove("KAFKA_BOOTSTRAP_SERVERS");
    command
}

/// A running `provisioner` process with its stderr (JSON logs) captured;
/// killed when dropped.
pub struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// Where it serves /metrics, /healthz, /readyz.
    pub addr: String,
}

impl Process {
    /// Starts `provisioner --config <config> --log-format json <args>` with
    /// telemetry on a free port and `env` set, from the repository root;
    /// returns once it serves its telemetry endpoints.
    pub fn spawn(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = binary();
        command
            .arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json")
            .args(args)
            .args(["--metrics-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info");
        for (k, v) in env {
            command.env(k, v);
        }
        Process::start(command)
    }

    /// Starts `command`, a `provisioner` process (possibly behind a wrapper
    /// that `exec`s it) logging JSON; returns once it serves its telemetry
    /// endpoints.
    pub fn start(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().expect("log lock").push(line);
            }
        });
        let mut process = Process {
            child,
            log,
            addr: String::new(),
        };
        let log = process.log_view();
        process.addr = wait_for_blocking(
            "provisioner serves its telemetry",
            || {
                if let Ok(Some(status)) = process.child.try_wait() {
                    panic!("provisioner exited ({status}):\n{}", log());
                }
                let lines = process.log.lock().expect("log lock").clone();
                lines.iter().find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    (v["message"] == "Serving /metrics, /healthz and /readyz.")
                        .then(|| v["addr"].as_str().map(String::from))?
                })
            },
            &log,
        );
        process
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails the test, with the log, if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!("provisioner exited ({status}):\n{}", self.text());
        }
    }

    /// The log so far, readable while the process itself is borrowed.
    fn log_view(&self) -> impl Fn() -> String {
        let log = Arc::clone(&self.log);
        move || log.lock().expect("log lock").join("\n")
    }

    /// The log lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// The log so far as one text.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// `GET <path>` on the telemetry server: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.addr))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.text()));
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// SIGTERM, then waits for a clean exit (0); returns the whole log.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let log = self.log_view();
        let status = wait_for_blocking(
            "provisioner stops after SIGTERM",
            || self.child.try_wait().expect("wait"),
            &log,
        );
        drop(log);
        self.wait_log_closed();
        assert_eq!(status.code(), Some(0), "unclean exit:\n{}", self.text());
        self.text()
    }

    /// Waits for the process to exit by itself within `within` (a bound the
    /// test asserts, not a deadline); (exit code, log).
    pub fn wait_exit(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                self.wait_log_closed();
                return (status.code(), self.text());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after {within:?}:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// After exit: lets the reader thread take the last lines (it ends when
    /// the pipe closes, which is soon after the exit).
    fn wait_log_closed(&self) {
        let deadline = Instant::now() + Duration::from_millis(500).min(DEADLINE);
        while Arc::strong_count(&self.log) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
