//! The SCIM 2.0 connector (RFC 7643/7644, CONTRACT §10).
//!
//! Idempotent by lookup: every command first finds the user by `externalId`,
//! then by `userName`, and writes only what differs — a POST when there is no
//! user, a PATCH of the differing attributes when there is, nothing when the
//! user already matches. A duplicate delivery therefore finds the user the
//! first delivery created and reports `unchanged`; a 409 on create (another
//! writer got there first) means "look it up again and update".

mod list;
mod user;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use self::user::{eq_filter, Wanted};
use super::http::{self, BaseUrl, Secret};
use super::listing::{claimed_since_listing, SuspendListed};
use super::{Applied, Connector, ConnectorError, Outcome};
use crate::commands::{Account, Action, Command};
use crate::config::LeaverPolicy;
use crate::reconcile::AppAccount;

/// The media type of RFC 7644 §3.1.
const SCIM_JSON: &str = "application/scim+json";

/// Talks to one SCIM service provider; cheap to share (the HTTP client is a
/// connection pool).
#[derive(Debug, Clone)]
pub struct ScimConnector {
    app: String,
    base: BaseUrl,
    token: Option<Secret>,
    client: reqwest::Client,
}

/// A user the service provider already has.
#[derive(Debug, Clone)]
struct Found {
    id: String,
    resource: Value,
}

/// `ListResponse` of RFC 7644 §3.4.2, of searches and listings; `Resources`
/// is absent when empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    /// Matches in all, across pages.
    total_results: Option<u64>,
    /// The 1-based index of this page's first resource.
    start_index: Option<u64>,
    #[serde(rename = "Resources", default)]
    resources: Vec<Value>,
}

impl ScimConnector {
    /// A connector for `app` at `base` (the SCIM root, e.g.
    /// `https://api.example.com/scim/v2`), sending `Authorization: Bearer`
    /// when a token is given.
    pub fn new(
        app: impl Into<String>,
        base: BaseUrl,
        token: Option<Secret>,
        client: reqwest::Client,
    ) -> ScimConnector {
        ScimConnector {
            app: app.into(),
            base,
            token,
            client,
        }
    }

    async fn upsert(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        let role = cmd
            .role
            .as_deref()
            .ok_or_else(|| ConnectorError::Permanent {
                message: "upsert command without a role".into(),
            })?;
        let wanted = Wanted::upsert(&cmd.account, role);
        if let Some(found) = self.find(&cmd.account).await? {
            return self.update(found, &wanted).await;
        }
        let response = http::send(
            self.request(Method::POST, self.base.join(&["Users"]))
                .body(wanted.resource().to_string()),
        )
        .await?;
        if response.status() == StatusCode::CONFLICT {
            // Someone created the user between our lookup and our POST, or the
            // app matched it on an attribute our filters did not: find it again.
            tracing::info!("SCIM create conflicted; looking the user up again.");
            return match self.find(&cmd.account).await? {
                Some(found) => self.update(found, &wanted).await,
                None => Err(http::error_from(response).await),
            };
        }
        if !response.status().is_success() {
            return Err(http::error_from(response).await);
        }
        let created: Value = http::json(response).await?;
        tracing::info!("SCIM user created.");
        Ok(Applied {
            outcome: Outcome::Applied,
            app_account_id: created.get("id").and_then(Value::as_str).map(String::from),
        })
    }

    async fn suspend(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        match self.find(&cmd.account).await? {
            Some(found) => self.update(found, &Wanted::suspended()).await,
            None => Ok(unchanged(None)),
        }
    }

    async fn delete(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        let Some(found) = self.find(&cmd.account).await? else {
            return Ok(unchanged(None));
        };
        let url = self.base.join(&["Users", &found.id]);
        let response = http::send(self.request(Method::DELETE, url)).await?;
        let outcome = match response.status() {
            StatusCode::NOT_FOUND => Outcome::Unchanged,
            status if status.is_success() => Outcome::Applied,
            _ => return Err(http::error_from(response).await),
        };
        tracing::info!(?outcome, "SCIM user deleted.");
        Ok(Applied {
            outcome,
            app_account_id: Some(found.id),
        })
    }

    /// Brings `found` in line with `wanted`: nothing when it already matches,
    /// else one PATCH, or one PUT when the app does not support PATCH.
    async fn update(&self, found: Found, wanted: &Wanted) -> Result<Applied, ConnectorError> {
        let ops = wanted.patch_ops(&found.resource);
        if ops.is_empty() {
            return Ok(unchanged(Some(found.id)));
        }
        let paths: Vec<&str> = ops.iter().filter_map(|op| op["path"].as_str()).collect();
        tracing::info!(?paths, "Patching SCIM user.");
        let url = self.base.join(&["Users", &found.id]);
        let patch = self
            .request(Method::PATCH, url.clone())
            .body(Wanted::patch_body(ops).to_string());
        let response = http::send(patch).await?;
        let status = response.status();
        if !status.is_success() {
            if !matches!(status.as_u16(), 400 | 405 | 501) {
                return Err(http::error_from(response).await);
            }
            let body = response.text().await.unwrap_or_default();
            if !patch_unsupported(status, &body) {
                return Err(http::classify_status(status, None, &body));
            }
            tracing::info!(
                status = status.as_u16(),
                "PATCH unsupported; replacing with PUT."
            );
            let put = self
                .request(Method::PUT, url)
                .body(wanted.replacement(&found.resource).to_string());
            http::send_ok(put).await?;
        }
        Ok(Applied {
            outcome: Outcome::Applied,
            app_account_id: Some(found.id),
        })
    }

    /// Finds the account's user: by `externalId`, else by `userName`. A user
    /// found by name that belongs to someone else (another `externalId`) is a
    /// conflict for a human, never silently taken over.
    async fn find(&self, account: &Account) -> Result<Option<Found>, ConnectorError> {
        let by_id = self.search("externalId", &account.external_id).await?;
        let by_id: Vec<Found> = by_id
            .into_iter()
            .filter(|u| u.resource["externalId"].as_str() == Some(&account.external_id))
            .collect();
        if let Some(found) = single(by_id, "externalId")? {
            return Ok(Some(found));
        }
        let by_name: Vec<Found> = self
            .search("userName", &account.user_name)
            .await?
            .into_iter()
            .filter(|u| {
                u.resource["userName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&account.user_name))
            })
            .collect();
        let Some(found) = single(by_name, "userName")? else {
            return Ok(None);
        };
        match found.resource["externalId"].as_str() {
            Some(other) if !other.is_empty() && other != account.external_id => {
                Err(ConnectorError::Permanent {
                    message: format!(
                        "user {} has our userName but externalId {other:?}; \
                         refusing to take over another person's account",
                        found.id
                    ),
                })
            }
            _ => Ok(Some(found)),
        }
    }

    /// `GET /Users?filter=<attr> eq "<value>"`. Results are re-checked by the
    /// caller, so a server that ignores filters cannot make us pick anyone.
    async fn search(&self, attr: &str, value: &str) -> Result<Vec<Found>, ConnectorError> {
        let request = self
            .request(Method::GET, self.base.join(&["Users"]))
            .query(&[("filter", eq_filter(attr, value))]);
        let list: ListResponse = http::json(http::send_ok(request).await?).await?;
        list.resources
            .into_iter()
            .map(
                |resource| match resource.get("id").and_then(Value::as_str) {
                    Some(id) => Ok(Found {
                        id: id.to_string(),
                        resource,
                    }),
                    None => Err(ConnectorError::Transient {
                        message: "SCIM search returned a user without an id".into(),
                        retry_after: None,
                    }),
                },
            )
            .collect()
    }

    /// A request with our media type and credentials.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self
            .client
            .request(method, url)
            .header(ACCEPT, SCIM_JSON)
            .header(CONTENT_TYPE, SCIM_JSON);
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }
}

impl Connector for ScimConnector {
    #[tracing::instrument(name = "scim_apply", skip_all, fields(
        app = %self.app, employee_id = %cmd.employee_id, command_id = %cmd.command_id,
    ))]
    async fn apply(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        match (cmd.action, cmd.deprovision.unwrap_or_default()) {
            (Action::Upsert, _) => self.upsert(cmd).await,
            (Action::Deprovision, LeaverPolicy::Suspend) => self.suspend(cmd).await,
            (Action::Deprovision, LeaverPolicy::Delete) => self.delete(cmd).await,
        }
    }

    /// `GET /Users?count=1`: unlike `/ServiceProviderConfig`, which RFC 7644
    /// lets servers serve without authentication, it proves our token works.
    #[tracing::instrument(name = "scim_probe", skip_all, fields(app = %self.app))]
    async fn probe(&self) -> Result<(), ConnectorError> {
        let request = self
            .request(Method::GET, self.base.join(&["Users"]))
            .query(&[("count", "1")]);
        http::send_ok(request).await.map(|_| ())
    }

    /// `GET /Users/{id}` of the user the apply touched (404: none), or,
    /// when the apply did not learn its id, the user [`find`](Self::find)
    /// finds; mapped as a listing maps it.
    #[tracing::instrument(name = "scim_read_back", skip_all, fields(app = %self.app))]
    async fn read_back(
        &self,
        cmd: &Command,
        applied: &Applied,
    ) -> Result<Option<AppAccount>, ConnectorError> {
        let user = match &applied.app_account_id {
            Some(id) => {
                let url = self.base.join(&["Users", id]);
                let response = http::send(self.request(Method::GET, url)).await?;
                if response.status() == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !response.status().is_success() {
                    return Err(http::error_from(response).await);
                }
                http::json::<Value>(response).await?
            }
            None => match self.find(&cmd.account).await? {
                Some(found) => found.resource,
                None => return Ok(None),
            },
        };
        list::account_of(&user).map(Some)
    }
}

impl SuspendListed for ScimConnector {
    /// `GET /Users/{id}`, then (unless already inactive) a PATCH of
    /// `active` alone, as a leaver's suspension.
    #[tracing::instrument(name = "scim_suspend_listed", skip_all, fields(app = %self.app))]
    async fn suspend_listed(&self, account: &AppAccount) -> Result<Applied, ConnectorError> {
        let url = self.base.join(&["Users", &account.app_id]);
        let response = http::send(self.request(Method::GET, url)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(unchanged(None));
        }
        if !response.status().is_success() {
            return Err(http::error_from(response).await);
        }
        let resource: Value = http::json(response).await?;
        let now = resource["externalId"].as_str().filter(|s| !s.is_empty());
        if now != account.external_id.as_deref().filter(|s| !s.is_empty()) {
            return Err(claimed_since_listing(&account.app_id, now));
        }
        let found = Found {
            id: account.app_id.clone(),
            resource,
        };
        self.update(found, &Wanted::suspended()).await
    }
}

/// At most one user, or a conflict a human must resolve.
fn single(mut users: Vec<Found>, attr: &str) -> Result<Option<Found>, ConnectorError> {
    if users.len() > 1 {
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        return Err(ConnectorError::Permanent {
            message: format!("{} users share our {attr}: {ids:?}", users.len()),
        });
    }
    Ok(users.pop())
}

/// Does a failed PATCH mean "this server does not do PATCH"? RFC 7644 §3.5.2
/// says 501; some servers answer 405, or 400 saying so in words.
fn patch_unsupported(status: StatusCode, body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    matches!(status.as_u16(), 405 | 501)
        || (status == StatusCode::BAD_REQUEST
            && ["not supported", "unsupported", "not implemented"]
                .iter()
                .any(|s| body.contains(s)))
}

fn unchanged(app_account_id: Option<String>) -> Applied {
    Applied {
        outcome: Outcome::Unchanged,
        app_account_id,
    }
}
