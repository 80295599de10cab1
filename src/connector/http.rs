//! HTTP plumbing shared by every connector: the client, secrets, URLs, and the
//! one place that turns an HTTP outcome into a [`ConnectorError`].
//!
//! Keeping the classification here means every app kind treats a 429, a 401
//! or a refused connection the same way, and the worker's behaviour (retry,
//! pause, dead-letter) depends only on the kind, never on which app failed.
//! Error messages are built here too, so that no connector can leak a token,
//! a URL with personal data in its query, or an e-mail from a response body.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::ConnectorError;
use crate::pii;

/// Longest wait for a TCP (and TLS) connection before it counts as transient.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a whole request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error response body is kept in an error message.
const BODY_EXCERPT_CHARS: usize = 200;

/// A credential. Its `Debug` and `Display` print `***`, so a secret cannot end
/// up in a log line or an error message by accident; [`Secret::expose`] is the
/// one visible place where it is read.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself, for an `Authorization` header or an HMAC key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a credential could not be loaded. Messages name the variable or file,
/// never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `token_env`/`email_env` names a variable that is unset, empty or not UTF-8.
    #[error("environment variable {var} is not set or empty")]
    MissingEnv {
        /// The variable's name.
        var: String,
    },
    /// `token_file` could not be read.
    #[error("cannot read token file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `token_file` holds only whitespace.
    #[error("token file {} is empty", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
}

/// The non-empty value of an environment variable, e.g. the Zendesk API user's
/// e-mail of `email_env`.
pub fn env_value(var: &str) -> Result<String, SecretError> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
        _ => Err(SecretError::MissingEnv { var: var.into() }),
    }
}

/// Loads the app's secret from `token_env` or `token_file` (config validation
/// guarantees at most one is set); `None` when neither is configured.
pub fn load_secret(
    token_env: Option<&str>,
    token_file: Option<&Path>,
) -> Result<Option<Secret>, SecretError> {
    if let Some(var) = token_env {
        return env_value(var).map(|v| Some(Secret(v)));
    }
    let Some(path) = token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(SecretError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(Secret(token.to_string())))
}

/// The HTTP client every connector uses: bounded timeouts (a hung app must
/// become a transient error, not a stuck worker), an honest user agent, and
/// no redirects — a redirect would turn a POST into a GET and could carry our
/// `Authorization` header to another host; it means `base_url` is wrong.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("provisioner/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// An app's API root, checked once so that joining paths cannot fail later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// Accepts an absolute `http`/`https` URL; `None` otherwise.
    pub fn parse(text: &str) -> Option<BaseUrl> {
        let url = Url::parse(text).ok()?;
        let usable = matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base();
        usable.then_some(BaseUrl(url))
    }

    /// The root itself (webhook endpoints are the URL as configured).
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The root with path segments appended; each segment is percent-encoded,
    /// so ids from an app's responses cannot change the path's shape.
    pub fn join(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        url.set_query(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date
/// (IMF-fixdate, or the obsolete RFC 850 and asctime forms). A date in the
/// past means "now" (zero). Anything else is ignored (`None`), leaving the
/// worker's own backoff in charge.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let when = DateTime::parse_from_rfc2822(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
                .map(|t| t.and_utc())
        })?;
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

/// Classifies a non-2xx response (CONTRACT §10 and docs/CONNECTORS.md):
///
/// | status | kind |
/// |---|---|
/// | 408, 429, 5xx except 501 | `Transient` (with `retry_after`) |
/// | 401, 403, 3xx, other 1xx | `Unavailable`: credentials or `base_url` are wrong for every command |
/// | 501, other 4xx | `Permanent`: this command will never be accepted as it is |
pub fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> ConnectorError {
    let message = format!("HTTP {status}{}", excerpt(body));
    match status.as_u16() {
        408 | 429 => ConnectorError::Transient {
            message,
            retry_after,
        },
        501 => ConnectorError::Permanent { message },
        500..=599 => ConnectorError::Transient {
            message,
            retry_after,
        },
        401 | 403 => ConnectorError::Unavailable { message },
        400..=499 => ConnectorError::Permanent { message },
        _ => ConnectorError::Unavailable {
            message: format!("{message} (unexpected; is base_url right?)"),
        },
    }
}

/// Classifies a request that got no HTTP response. The URL is dropped from
/// the message: SCIM filters put user names in the query string.
pub fn classify_transport(error: reqwest::Error) -> ConnectorError {
    let builder = error.is_builder();
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if builder {
        ConnectorError::Permanent { message }
    } else {
        ConnectorError::Transient {
            message,
            retry_after: None,
        }
    }
}

/// Reads a non-2xx response into its [`ConnectorError`].
pub async fn error_from(response: Response) -> ConnectorError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    let body = response.text().await.unwrap_or_default();
    classify_status(status, retry_after, &body)
}

/// Sends a request; any HTTP answer is returned, a transport failure is
/// classified.
pub async fn send(request: RequestBuilder) -> Result<Response, ConnectorError> {
    let response = request.send().await.map_err(classify_transport)?;
    tracing::debug!(status = response.status().as_u16(), "App answered.");
    Ok(response)
}

/// Sends a request and insists on a 2xx answer.
pub async fn send_ok(request: RequestBuilder) -> Result<Response, ConnectorError> {
    let response = send(request).await?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(error_from(response).await)
    }
}

/// Decodes a 2xx body. An unreadable success answer is transient: proxies and
/// overloaded apps produce them, and the worker's retry budget bounds the cost.
pub async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ConnectorError> {
    let bytes = response.bytes().await.map_err(classify_transport)?;
    serde_json::from_slice(&bytes).map_err(|e| ConnectorError::Transient {
        message: format!("unexpected response body: {e}"),
        retry_after: None,
    })
}

/// `": <first 200 chars of the body>"` on one line with e-mail addresses
/// masked (before the cut, see [`crate::pii`]), or nothing for an empty body.
/// Error messages end up in logs and dead-letter headers, which must hold no
/// personal data.
fn excerpt(body: &str) -> String {
    let short = pii::excerpt(body, BODY_EXCERPT_CHARS);
    if short.is_empty() {
        return String::new();
    }
    format!(": {short}")
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
