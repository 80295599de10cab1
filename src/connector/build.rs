//! Building an app's connector from its catalogue entry (CONTRACT §9).
//!
//! All credentials are read here, once, at start-up: a missing variable or
//! unreadable token file stops `provisioner connector` before it consumes a
//! single command, with a message naming the app and the variable or file
//! (never a value). The worker then holds one [`AnyConnector`] per app.

use std::num::NonZeroU32;

use super::http::{self, BaseUrl, Secret, SecretError};
use super::listing::{Cursor, ListError, Lister, Page, SuspendListed, WEBHOOK_UNSUPPORTED};
use super::scim::ScimConnector;
use super::verify::Expected;
use super::webhook::WebhookConnector;
use super::zendesk::ZendeskConnector;
use super::{Applied, Connector, ConnectorError};
use crate::commands::Command;
use crate::config::{AppConfig, ConnectorKind};
use crate::ratelimit::{self, Limiter};
use crate::reconcile::AppAccount;

/// Every connector kind behind one type. The [`Connector`] trait returns
/// `impl Future`, so it is not object-safe; an enum dispatches statically and
/// lets the worker hold a map of mixed apps.
#[derive(Debug, Clone)]
pub enum AnyConnector {
    /// A SCIM 2.0 service provider.
    Scim(ScimConnector),
    /// A Zendesk Support account.
    Zendesk(ZendeskConnector),
    /// A signed webhook.
    Webhook(WebhookConnector),
}

impl Connector for AnyConnector {
    async fn apply(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        match self {
            AnyConnector::Scim(c) => c.apply(cmd).await,
            AnyConnector::Zendesk(c) => c.apply(cmd).await,
            AnyConnector::Webhook(c) => c.apply(cmd).await,
        }
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        match self {
            AnyConnector::Scim(c) => c.probe().await,
            AnyConnector::Zendesk(c) => c.probe().await,
            AnyConnector::Webhook(c) => c.probe().await,
        }
    }

    async fn read_back(
        &self,
        cmd: &Command,
        applied: &Applied,
    ) -> Result<Option<AppAccount>, ConnectorError> {
        match self {
            AnyConnector::Scim(c) => c.read_back(cmd, applied).await,
            AnyConnector::Zendesk(c) => c.read_back(cmd, applied).await,
            AnyConnector::Webhook(c) => c.read_back(cmd, applied).await,
        }
    }

    fn expected(&self, cmd: &Command) -> Expected {
        match self {
            AnyConnector::Scim(c) => c.expected(cmd),
            AnyConnector::Zendesk(c) => c.expected(cmd),
            AnyConnector::Webhook(c) => c.expected(cmd),
        }
    }
}

impl AnyConnector {
    /// The app's listing API, or [`ListError::Unsupported`] for a kind
    /// without one (webhook): reconciliation skips such an app, and says so.
    pub fn lister(&self) -> Result<AnyLister<'_>, ListError> {
        match self {
            AnyConnector::Scim(c) => Ok(AnyLister::Scim(c)),
            AnyConnector::Zendesk(c) => Ok(AnyLister::Zendesk(c)),
            AnyConnector::Webhook(c) => Err(ListError::Unsupported {
                app: c.app().to_string(),
                reason: WEBHOOK_UNSUPPORTED,
            }),
        }
    }
}

/// The connector kinds that can be read, behind one type (as
/// [`AnyConnector`], and for the same reason).
#[derive(Debug, Clone, Copy)]
pub enum AnyLister<'a> {
    /// A SCIM 2.0 service provider.
    Scim(&'a ScimConnector),
    /// A Zendesk Support account.
    Zendesk(&'a ZendeskConnector),
}

impl Lister for AnyLister<'_> {
    fn app(&self) -> &str {
        match self {
            AnyLister::Scim(c) => c.app(),
            AnyLister::Zendesk(c) => c.app(),
        }
    }

    async fn list_page(
        &self,
        cursor: Option<&Cursor>,
        page_size: NonZeroU32,
    ) -> Result<Page, ConnectorError> {
        match self {
            AnyLister::Scim(c) => c.list_page(cursor, page_size).await,
            AnyLister::Zendesk(c) => c.list_page(cursor, page_size).await,
        }
    }
}

impl SuspendListed for AnyLister<'_> {
    async fn suspend_listed(&self, account: &AppAccount) -> Result<Applied, ConnectorError> {
        match self {
            AnyLister::Scim(c) => c.suspend_listed(account).await,
            AnyLister::Zendesk(c) => c.suspend_listed(account).await,
        }
    }
}

/// Why an app's connector cannot be built; each names the app.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The token (or Zendesk API e-mail) could not be loaded.
    #[error("app {app}: {source}")]
    Secret {
        /// The app.
        app: String,
        /// Which variable or file, and why.
        source: SecretError,
    },
    /// A key the connector kind needs is not in the catalogue entry.
    #[error("app {app}: the {kind} connector needs `{key}` ({what})")]
    MissingKey {
        /// The app.
        app: String,
        /// The connector kind.
        kind: &'static str,
        /// The missing key, e.g. `email_env`.
        key: &'static str,
        /// What it is for.
        what: &'static str,
    },
    /// `base_url` is not an absolute http(s) URL that paths can be added to.
    #[error("app {app}: base_url {url:?} is not an absolute http:// or https:// URL")]
    BaseUrl {
        /// The app.
        app: String,
        /// The configured value.
        url: String,
    },
    /// The HTTP client could not be initialised (TLS backend).
    #[error("app {app}: cannot create the HTTP client: {message}")]
    Client {
        /// The app.
        app: String,
        /// The client library's message.
        message: String,
    },
}

/// The app's token bucket (`rate_limit_per_second`): what every request to
/// the app waits for, the worker's commands and a listing alike.
pub fn limiter(config: &AppConfig) -> Limiter {
    ratelimit::per_second(config.rate_limit_per_second)
}

/// Builds the connector of `app` from its catalogue entry, loading its
/// credentials from the environment or files now.
pub fn build(app: &str, config: &AppConfig) -> Result<AnyConnector, BuildError> {
    let base = BaseUrl::parse(&config.base_url).ok_or_else(|| BuildError::BaseUrl {
        app: app.into(),
        url: config.base_url.clone(),
    })?;
    let client = http::client().map_err(|e| BuildError::Client {
        app: app.into(),
        message: e.to_string(),
    })?;
    let secret_error = |source| BuildError::Secret {
        app: app.into(),
        source,
    };
    let token = http::load_secret(config.token_env.as_deref(), config.token_file.as_deref())
        .map_err(secret_error)?;
    Ok(match config.connector {
        ConnectorKind::Scim => AnyConnector::Scim(ScimConnector::new(app, base, token, client)),
        ConnectorKind::Webhook => {
            AnyConnector::Webhook(WebhookConnector::new(app, base, token, client))
        }
        ConnectorKind::Zendesk => {
            let missing = |key, what| BuildError::MissingKey {
                app: app.into(),
                kind: "zendesk",
                key,
                what,
            };
            let email_var = config.email_env.as_deref().ok_or_else(|| {
                missing("email_env", "the variable holding the API user's e-mail")
            })?;
            let token = token
                .ok_or_else(|| missing("token_env", "or token_file: where the API token is"))?;
            let api_user = http::env_value(email_var).map_err(secret_error)?;
            AnyConnector::Zendesk(ZendeskConnector::new(
                app,
                base,
                Secret::new(api_user),
                token,
                &config.roles,
                config.role_map.clone(),
                client,
            ))
        }
    })
}
