//! The webhook connector (CONTRACT §10): POSTs the command itself, signed.
//!
//! The receiver gets exactly the bytes of `Command::to_json()` — the same
//! declarative, generation-numbered record that is on Kafka — so it can be
//! idempotent the same way we are (compare `generation`). The signature lets
//! it check the body came from us: `X-Provisioner-Signature:
//! sha256=<lowercase hex HMAC-SHA256 of the body>`, keyed by the app's secret.

use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;

use super::http::{self, BaseUrl, Secret};
use super::{Applied, Connector, ConnectorError, Outcome};
use crate::commands::Command;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Provisioner-Signature";

/// Posts commands to one endpoint.
#[derive(Debug, Clone)]
pub struct WebhookConnector {
    app: String,
    endpoint: BaseUrl,
    secret: Option<Secret>,
    client: reqwest::Client,
}

impl WebhookConnector {
    /// A connector posting to `endpoint` as configured (no path is added);
    /// without a secret, requests go unsigned (no signature header).
    pub fn new(
        app: impl Into<String>,
        endpoint: BaseUrl,
        secret: Option<Secret>,
        client: reqwest::Client,
    ) -> WebhookConnector {
        WebhookConnector {
            app: app.into(),
            endpoint,
            secret,
            client,
        }
    }

    /// The app it posts for.
    pub fn app(&self) -> &str {
        &self.app
    }
}

/// The header value for `body`: `sha256=` and the lowercase hex HMAC-SHA256
/// of the body keyed by `secret`. Public so receivers' tests (and ours) can
/// check it. `None` only if the HMAC refused the key, which it never does
/// (HMAC takes keys of any length).
pub fn signature(secret: &Secret, body: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).ok()?;
    mac.update(body);
    Some(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

impl Connector for WebhookConnector {
    /// One POST; any 2xx is `applied` (the receiver cannot tell us
    /// "unchanged" in a standard way).
    #[tracing::instrument(name = "webhook_apply", skip_all, fields(
        app = %self.app, employee_id = %cmd.employee_id, command_id = %cmd.command_id,
    ))]
    async fn apply(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        let body = cmd.to_json();
        let mut request = self
            .client
            .post(self.endpoint.url().clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            let signed = signature(secret, &body).ok_or_else(|| ConnectorError::Permanent {
                message: "cannot compute the HMAC signature".into(),
            })?;
            request = request.header(SIGNATURE_HEADER, signed);
        }
        http::send_ok(request.body(body)).await?;
        tracing::info!("Webhook accepted the command.");
        Ok(Applied {
            outcome: Outcome::Applied,
            app_account_id: None,
        })
    }

    /// `HEAD <endpoint>`: proves the receiver is reachable and up. Any answer
    /// below 500 counts — the endpoint may well refuse an unsigned HEAD
    /// (401/405), and probing with a signed POST would be a real command.
    #[tracing::instrument(name = "webhook_probe", skip_all, fields(app = %self.app))]
    async fn probe(&self) -> Result<(), ConnectorError> {
        let response = http::send(self.client.head(self.endpoint.url().clone())).await?;
        if response.status().is_server_error() {
            return Err(http::error_from(response).await);
        }
        Ok(())
    }
}
