//! PLACEHOLDER (branch `worker` only) — to be replaced on merge by the real
//! connector factory (`scim`, `zendesk`, `webhook`) written on another branch.
//!
//! It exists so the `connector` subcommand compiles here: it has the same
//! signature as the real one and refuses every app with "connector kind not
//! built yet".

use crate::commands::Command;
use crate::config::{AppConfig, ConnectorKind};
use crate::connector::{Applied, Connector, ConnectorError};

/// Every connector kind, as one type the worker can be generic over.
/// Placeholder: no kind is built yet, so it has no values.
pub enum AnyConnector {}

impl Connector for AnyConnector {
    async fn apply(&self, _cmd: &Command) -> Result<Applied, ConnectorError> {
        match *self {}
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        match *self {}
    }
}

/// Why an app's connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Placeholder: the HTTP clients are not on this branch.
    #[error("app {app}: connector kind {kind:?} not built yet")]
    NotBuilt {
        /// The app.
        app: String,
        /// Its connector kind.
        kind: ConnectorKind,
    },
}

/// Builds the connector of one app. Placeholder: always refuses.
pub fn build(app: &str, config: &AppConfig) -> Result<AnyConnector, BuildError> {
    Err(BuildError::NotBuilt {
        app: app.to_string(),
        kind: config.connector,
    })
}
