//! Progress on stderr while replay reads: a bar redrawn in place when
//! stderr is a terminal, else a log line every 1000 records or 5 s.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use tracing::info;

use super::report::Summary;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Not at all (tests, scripts that asked).
    Off,
    /// A line redrawn in place on stderr (stderr is a terminal).
    Terminal,
    /// A log line every 1000 records or 5 s.
    Lines,
}

/// Progress over the records to read.
pub struct Progress {
    mode: ProgressMode,
    total: u64,
    started: Instant,
    last_at: Instant,
    last_read: u64,
}

impl Progress {
    /// Progress over at most `total` records (the distance to the ends).
    pub fn new(mode: ProgressMode, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            mode,
            total,
            started: now,
            last_at: now,
            last_read: 0,
        }
    }

    /// Shows progress, when due.
    pub fn tick(&mut self, read: u64, so_far: &Summary) {
        let now = Instant::now();
        let due = match self.mode {
            ProgressMode::Off => false,
            ProgressMode::Terminal => now - self.last_at >= Duration::from_millis(100),
            ProgressMode::Lines => {
                read >= self.last_read + 1000 || now - self.last_at >= Duration::from_secs(5)
            }
        };
        if !due {
            return;
        }
        self.last_at = now;
        self.last_read = read;
        if self.mode == ProgressMode::Terminal {
            let _ = write!(io::stderr(), "\r\x1b[2K{}", self.bar(read, so_far));
            let _ = io::stderr().flush();
        } else {
            info!(
                message = "Replay progress.",
                read,
                to_read = self.total,
                replayed = so_far.replayed,
                skipped = so_far.skipped(),
                elapsed_s = self.started.elapsed().as_secs()
            );
        }
    }

    /// Clears the terminal line.
    pub fn finish(&self) {
        if self.mode == ProgressMode::Terminal {
            let _ = write!(io::stderr(), "\r\x1b[2K");
            let _ = io::stderr().flush();
        }
    }

    fn bar(&self, read: u64, s: &Summary) -> String {
        const WIDTH: u64 = 30;
        let done = (read.min(self.total) * WIDTH)
            .checked_div(self.total)
            .unwrap_or(WIDTH);
        format!(
            "[{}{}] {read}/{} read, {} replayed, {} skipped",
            "#".repeat(done as usize),
            "-".repeat((WIDTH - done) as usize),
            self.total,
            s.replayed,
            s.skipped()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_with_progress() {
        let p = Progress::new(ProgressMode::Off, 10);
        let s = Summary::default();
        assert!(p
            .bar(5, &s)
            .starts_with(&format!("[{}{}] 5/10", "#".repeat(15), "-".repeat(15))));
        assert!(Progress::new(ProgressMode::Off, 0)
            .bar(0, &s)
            .starts_with(&format!("[{}]", "#".repeat(30))));
    }
}
