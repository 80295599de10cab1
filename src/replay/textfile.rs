//! The replay's counts for Prometheus, as a file.
//!
//! `provisioner replay` is a short-lived command: nothing scrapes it. The
//! usual way to get a batch job's numbers into Prometheus is node_exporter's
//! textfile collector, which reads `*.prom` files in the Prometheus text
//! format from a directory. `--metrics-file` writes one after a successful
//! run: `provisioner_replayed_total{topic}` (this run's counts; a new run
//! starts again from zero, which `increase()` reads as a reset) and when a
//! replay of that dead-letter topic last reached its end. The file is
//! replaced whole (written aside, then renamed), so a scrape never sees half.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::metrics::Metrics;

/// The file's text: the replayed counters of `metrics` and the end time.
pub fn render(metrics: &Metrics, from: &str, finished: DateTime<Utc>) -> String {
    let mut out = String::from(
        "# HELP provisioner_replayed_total Dead-lettered records re-published by replay, by destination topic\n\
         # TYPE provisioner_replayed_total counter\n",
    );
    // The sample lines are the same in OpenMetrics (what `render` writes)
    // and in the Prometheus text format.
    for line in metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("provisioner_replayed_total{"))
    {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(
        "# HELP provisioner_replay_last_success_timestamp_seconds When a replay of this dead-letter topic last reached its end\n\
         # TYPE provisioner_replay_last_success_timestamp_seconds gauge\n",
    );
    out.push_str(&format!(
        "provisioner_replay_last_success_timestamp_seconds{{from=\"{}\"}} {}\n",
        escape(from),
        finished.timestamp()
    ));
    out
}

/// Writes [`render`]'s text to `path`, replacing the file whole.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Not `*.prom`: the collector skips it while it is being written.
    let aside = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&aside)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&aside, path)
}

/// A label value in the text format: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_this_runs_counts_and_the_end_time() {
        let metrics = Metrics::new();
        metrics.replayed("provisioning.commands.slack", 3);
        metrics.replayed("provisioning.commands.zendesk", 1);
        let at = DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = render(&metrics, "provisioning.commands.dlq", at);
        assert!(
            text.contains("provisioner_replayed_total{topic=\"provisioning.commands.slack\"} 3\n")
        );
        assert!(text
            .contains("provisioner_replayed_total{topic=\"provisioning.commands.zendesk\"} 1\n"));
        assert!(text.contains(
            "provisioner_replay_last_success_timestamp_seconds{from=\"provisioning.commands.dlq\"} 1795683600\n"
        ));
        assert_eq!(text.matches("# TYPE").count(), 2);
        assert!(!text.contains("# EOF"), "Prometheus text, not OpenMetrics");
    }

    #[test]
    fn replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.prom");
        write(&path, "one\n").unwrap();
        write(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
