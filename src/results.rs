//! Results (SPEC §6): one record per command a connector handled, on
//! `provisioning.results`, keyed by employee id. They are the audit trail and
//! tell `replay` which generation an app last applied.

use serde::{Deserialize, Serialize};

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultOutcome {
    /// The app was changed.
    Applied,
    /// The app already matched.
    Unchanged,
    /// A newer generation was already applied; nothing was done.
    Superseded,
    /// It could not be applied and went to the commands dead-letter topic.
    DeadLettered,
}

/// One result record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command's id.
    pub command_id: String,
    /// The app.
    pub app: String,
    /// The employee.
    pub employee_id: String,
    /// The command's generation.
    pub generation: u64,
    /// What became of it.
    pub outcome: ResultOutcome,
    /// The app's id of the account, when known.
    pub app_account_id: Option<String>,
    /// Calls made, the first included.
    pub attempts: u32,
    /// Time from first attempt to outcome.
    pub duration_ms: u64,
    /// The last error, for `dead_lettered` (no secrets).
    pub error: Option<String>,
}
