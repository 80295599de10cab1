//! The Zendesk Support connector (users API v2, CONTRACT §10).
//!
//! Idempotent by construction: upserts go through
//! `POST /api/v2/users/create_or_update.json`, which Zendesk keys by
//! `external_id` (or e-mail), so a duplicate delivery updates the same user.
//! Leavers are licence-aware: a suspended agent still holds a paid seat, so
//! suspension first downgrades the user to the end-user role, then suspends.

mod list;

use std::collections::BTreeMap;

use reqwest::header::ACCEPT;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{self, BaseUrl, Secret};
use super::listing::{claimed_since_listing, SuspendListed};
use super::verify::{Expected, Want};
use super::{Applied, Connector, ConnectorError, Outcome};
use crate::commands::{Account, Action, Command};
use crate::config::{LeaverPolicy, RoleMapping};
use crate::reconcile::AppAccount;

/// Zendesk's built-in role for customers: no agent seat.
const END_USER: &str = "end-user";

/// Talks to one Zendesk account. `Debug` shows neither the API user nor the
/// token.
#[derive(Debug, Clone)]
pub struct ZendeskConnector {
    app: String,
    base: BaseUrl,
    /// The API user's e-mail: personal data, so never printed either.
    api_user: Secret,
    token: Secret,
    /// Our roles, least privileged first (the listing maps back in this order).
    roles: Vec<String>,
    role_map: BTreeMap<String, RoleMapping>,
    end_user: RoleMapping,
    client: reqwest::Client,
}

/// `{"user": {...}}`, the envelope of Zendesk's single-user answers.
#[derive(Deserialize)]
struct UserEnvelope {
    user: ZendeskUser,
}

/// `{"users": [...]}`, the envelope of searches.
#[derive(Deserialize)]
struct UsersEnvelope {
    #[serde(default)]
    users: Vec<ZendeskUser>,
}

/// The fields of a Zendesk user we read.
#[derive(Deserialize)]
struct ZendeskUser {
    /// Null for the anonymous user `users/me` returns without valid credentials.
    id: Option<u64>,
    #[serde(default)]
    suspended: bool,
    external_id: Option<String>,
}

impl ZendeskConnector {
    /// A connector for `app` at `base` (e.g. `https://acme.zendesk.com`),
    /// authenticating as `{api_user}/token:{token}`. `roles` are the app's
    /// roles, least privileged first: the first one's mapping (or Zendesk's
    /// `end-user`) is where leavers are downgraded to.
    pub fn new(
        app: impl Into<String>,
        base: BaseUrl,
        api_user: Secret,
        token: Secret,
        roles: &[String],
        role_map: BTreeMap<String, RoleMapping>,
        client: reqwest::Client,
    ) -> ZendeskConnector {
        let end_user = roles
            .first()
            .and_then(|least| role_map.get(least))
            .cloned()
            .unwrap_or(RoleMapping {
                role: END_USER.into(),
                custom_role_id: None,
            });
        ZendeskConnector {
            app: app.into(),
            base,
            api_user,
            token,
            roles: roles.to_vec(),
            role_map,
            end_user,
            client,
        }
    }

    /// How one of our roles looks in Zendesk; unmapped roles are taken as
    /// Zendesk role names.
    fn mapping(&self, role: &str) -> RoleMapping {
        self.role_map.get(role).cloned().unwrap_or(RoleMapping {
            role: role.into(),
            custom_role_id: None,
        })
    }

    async fn upsert(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        let role = cmd
            .role
            .as_deref()
            .ok_or_else(|| ConnectorError::Permanent {
                message: "upsert command without a role".into(),
            })?;
        let mut user = user_fields(&cmd.account, &self.mapping(role));
        user.insert("suspended".into(), json!(false));
        let id = self.create_or_update(user).await?.id;
        tracing::info!("Zendesk user created or updated.");
        Ok(applied(id))
    }

    async fn suspend(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        // 1. Free the paid seat. create_or_update keeps this idempotent; for a
        //    leaver Zendesk never had, it creates an end-user that step 2 suspends.
        let user = self
            .create_or_update(user_fields(&cmd.account, &self.end_user))
            .await?;
        let Some(id) = user.id else {
            return Err(missing_id());
        };
        tracing::info!("Zendesk user downgraded to the end-user role.");
        // 2. Suspend, unless the answer shows it already is.
        if !user.suspended {
            let body = json!({"user": {"suspended": true}});
            let url = self.user_url(id);
            http::send_ok(self.request(Method::PUT, url).json(&body)).await?;
            tracing::info!("Zendesk user suspended.");
        }
        Ok(applied(Some(id)))
    }

    async fn delete(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        let Some(id) = self.find_id(&cmd.account.external_id).await? else {
            return Ok(Applied {
                outcome: Outcome::Unchanged,
                app_account_id: None,
            });
        };
        let response = http::send(self.request(Method::DELETE, self.user_url(id))).await?;
        let outcome = match response.status() {
            StatusCode::NOT_FOUND => Outcome::Unchanged,
            status if status.is_success() => Outcome::Applied,
            _ => return Err(http::error_from(response).await),
        };
        tracing::info!(?outcome, "Zendesk user deleted.");
        Ok(Applied {
            outcome,
            app_account_id: Some(id.to_string()),
        })
    }

    /// The id of the one user with our `external_id`, if any; several are
    /// a conflict for a human.
    async fn find_id(&self, external_id: &str) -> Result<Option<u64>, ConnectorError> {
        let url = self.base.join(&["api", "v2", "users", "search.json"]);
        let search = self
            .request(Method::GET, url)
            .query(&[("external_id", external_id)]);
        let found: UsersEnvelope = http::json(http::send_ok(search).await?).await?;
        let mut ids: Vec<u64> = found
            .users
            .into_iter()
            .filter(|u| u.external_id.as_deref() == Some(external_id))
            .filter_map(|u| u.id)
            .collect();
        if ids.len() > 1 {
            return Err(ConnectorError::Permanent {
                message: format!("{} Zendesk users share our external_id: {ids:?}", ids.len()),
            });
        }
        Ok(ids.pop())
    }

    async fn create_or_update(
        &self,
        user: Map<String, Value>,
    ) -> Result<ZendeskUser, ConnectorError> {
        let url = self
            .base
            .join(&["api", "v2", "users", "create_or_update.json"]);
        let body = json!({ "user": user });
        let response = http::send_ok(self.request(Method::POST, url).json(&body)).await?;
        let answer: UserEnvelope = http::json(response).await?;
        Ok(answer.user)
    }

    fn user_url(&self, id: u64) -> Url {
        self.base
            .join(&["api", "v2", "users", &format!("{id}.json")])
    }

    /// A request with Zendesk's API-token basic auth (`{email}/token:{token}`).
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.client
            .request(method, url)
            .header(ACCEPT, "application/json")
            .basic_auth(
                format!("{}/token", self.api_user.expose()),
                Some(self.token.expose()),
            )
    }
}

impl Connector for ZendeskConnector {
    #[tracing::instrument(name = "zendesk_apply", skip_all, fields(
        app = %self.app, employee_id = %cmd.employee_id, command_id = %cmd.command_id,
    ))]
    async fn apply(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        match (cmd.action, cmd.deprovision.unwrap_or_default()) {
            (Action::Upsert, _) => self.upsert(cmd).await,
            (Action::Deprovision, LeaverPolicy::Suspend) => self.suspend(cmd).await,
            (Action::Deprovision, LeaverPolicy::Delete) => self.delete(cmd).await,
        }
    }

    /// `GET /api/v2/users/me.json`. Zendesk answers bad or missing credentials
    /// there with the anonymous user (no id) rather than always a 401, so an
    /// id-less answer counts as unavailable too.
    #[tracing::instrument(name = "zendesk_probe", skip_all, fields(app = %self.app))]
    async fn probe(&self) -> Result<(), ConnectorError> {
        let url = self.base.join(&["api", "v2", "users", "me.json"]);
        let me: UserEnvelope =
            http::json(http::send_ok(self.request(Method::GET, url)).await?).await?;
        match me.user.id {
            Some(_) => Ok(()),
            None => Err(ConnectorError::Unavailable {
                message: "Zendesk did not accept the API credentials (anonymous user)".into(),
            }),
        }
    }

    /// `GET /api/v2/users/{id}.json` of the user the apply touched (found by
    /// `external_id` when the apply did not learn its id); a deleted user
    /// counts as none.
    #[tracing::instrument(name = "zendesk_read_back", skip_all, fields(app = %self.app))]
    async fn read_back(
        &self,
        cmd: &Command,
        applied: &Applied,
    ) -> Result<Option<AppAccount>, ConnectorError> {
        let known = applied
            .app_account_id
            .as_deref()
            .and_then(|id| id.parse().ok());
        let id = match known {
            Some(id) => id,
            None => match self.find_id(&cmd.account.external_id).await? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        self.read_user(id).await
    }

    /// What Zendesk keeps of a command: the e-mail (also the login), the
    /// name as [`user_fields`] sends it, the role as a listing maps it back
    /// (two of our roles Zendesk cannot tell apart read back as the least
    /// privileged), and whether the user is suspended.
    fn expected(&self, cmd: &Command) -> Expected {
        match (cmd.action, cmd.deprovision.unwrap_or_default()) {
            (Action::Upsert, _) => Expected::Account(Want {
                active: true,
                role: cmd.role.as_deref().map(|role| {
                    let mapping = self.mapping(role);
                    self.our_role(&mapping.role, mapping.custom_role_id)
                        .unwrap_or_else(|| role.to_string())
                }),
                email: cmd.account.email.clone(),
                display_name: Some(display_name(&cmd.account)),
                ..Want::default()
            }),
            (Action::Deprovision, LeaverPolicy::Suspend) => Expected::suspended(),
            (Action::Deprovision, LeaverPolicy::Delete) => Expected::Gone,
        }
    }
}

impl SuspendListed for ZendeskConnector {
    /// `GET /api/v2/users/{id}.json`, then (unless already suspended)
    /// `PUT {"user": {"suspended": true}}`. The role is left as it is: whose
    /// seat it was is for a person to decide.
    #[tracing::instrument(name = "zendesk_suspend_listed", skip_all, fields(app = %self.app))]
    async fn suspend_listed(&self, account: &AppAccount) -> Result<Applied, ConnectorError> {
        let Ok(id) = account.app_id.parse::<u64>() else {
            return Err(ConnectorError::Permanent {
                message: format!("{:?} is not a Zendesk user id", account.app_id),
            });
        };
        let response = http::send(self.request(Method::GET, self.user_url(id))).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Applied {
                outcome: Outcome::Unchanged,
                app_account_id: None,
            });
        }
        if !response.status().is_success() {
            return Err(http::error_from(response).await);
        }
        let found: UserEnvelope = http::json(response).await?;
        let now = found.user.external_id.as_deref().filter(|s| !s.is_empty());
        if now != account.external_id.as_deref().filter(|s| !s.is_empty()) {
            return Err(claimed_since_listing(&account.app_id, now));
        }
        if found.user.suspended {
            return Ok(Applied {
                outcome: Outcome::Unchanged,
                app_account_id: Some(account.app_id.clone()),
            });
        }
        let body = json!({"user": {"suspended": true}});
        http::send_ok(self.request(Method::PUT, self.user_url(id)).json(&body)).await?;
        tracing::info!("Zendesk orphan suspended.");
        Ok(applied(Some(id)))
    }
}

/// The user fields both upsert and downgrade send: what identifies the user
/// (`external_id`, e-mail), what Zendesk needs to create one (`name`), and
/// the role.
fn user_fields(account: &Account, mapping: &RoleMapping) -> Map<String, Value> {
    let mut user = Map::new();
    user.insert("name".into(), json!(display_name(account)));
    if let Some(email) = &account.email {
        user.insert("email".into(), json!(email));
    }
    user.insert("external_id".into(), json!(account.external_id));
    user.insert("role".into(), json!(mapping.role));
    if let Some(id) = mapping.custom_role_id {
        user.insert("custom_role_id".into(), json!(id));
    }
    user
}

/// `display_name`, else "given family", else the user name: Zendesk
/// requires a name to create a user.
fn display_name(account: &Account) -> String {
    if let Some(name) = account
        .display_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        return name.to_string();
    }
    let parts: Vec<&str> = [&account.given_name, &account.family_name]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        account.user_name.clone()
    } else {
        parts.join(" ")
    }
}

fn applied(id: Option<u64>) -> Applied {
    Applied {
        outcome: Outcome::Applied,
        app_account_id: id.map(|id| id.to_string()),
    }
}

fn missing_id() -> ConnectorError {
    ConnectorError::Transient {
        message: "Zendesk answered create_or_update without a user id".into(),
        retry_after: None,
    }
}
