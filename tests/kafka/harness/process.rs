//! The harness's engine as a real process: started from the built binary
//! with its JSON log appended to a file, killed with SIGKILL or stopped with
//! SIGTERM. Re-exported by `harness`.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

use super::*;

/// An engine process of the built binary; killed when dropped.
pub struct EngineProcess(Child);

impl EngineProcess {
    /// Starts `provisioner --config <config> engine` as instance `instance`,
    /// appending its JSON log (with each command's line) to `log`.
    pub fn spawn(config: &Path, instance: &str, log: &Path) -> EngineProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = binary()
            .args([
                "--config",
                &config.to_string_lossy(),
                "--log-format",
                "json",
                "engine",
            ])
            .env("PROVISIONER_INSTANCE_ID", instance)
            // Each command's line (debug since #15) names the event behind
            // it: tests tell which instance decided what by it.
            .env("RUST_LOG", "info,provisioner::engine::commands=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn engine");
        EngineProcess(child)
    }

    /// SIGKILL: no chance to finish or abort anything.
    pub fn kill9(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reap");
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Process::new("kill")
            .args([&format!("-{signal}"), &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGTERM, then the exit status must be 0 within the deadline.
    pub async fn terminate(mut self) {
        let pid = self.0.id().to_string();
        let status = Process::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let status = wait_for("the engine exits after SIGTERM", || {
            std::future::ready(self.0.try_wait().expect("wait"))
        })
        .await;
        assert!(
            status.success(),
            "engine exited with {status} after SIGTERM"
        );
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How many lines of the log file at `path` contain `needle` (0 when the
/// file does not exist yet).
pub fn log_lines_with(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}
