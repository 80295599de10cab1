//! Listing a Zendesk account's users: cursor pagination
//! (`GET /api/v2/users.json?page[size]=N`, then `links.next` while
//! `meta.has_more`), mapped to [`AppAccount`]s with roles mapped back
//! through `role_map`.
//!
//! `links.next` is followed only on the configured host: the request carries
//! our credentials, and a link elsewhere means a proxy or a misconfigured
//! `base_url`, not a page.

use std::num::NonZeroU32;

use reqwest::{Method, Url};
use serde::Deserialize;

use super::ZendeskConnector;
use crate::connector::http;
use crate::connector::listing::{Cursor, Lister, Page};
use crate::connector::ConnectorError;
use crate::reconcile::AppAccount;

/// The most users Zendesk returns per page.
const MAX_PAGE_SIZE: u32 = 100;

/// The answer of `GET /api/v2/users/{id}.json`.
#[derive(Deserialize)]
struct OneUser {
    user: ListedUser,
}

/// A page of `GET /api/v2/users.json` with cursor pagination.
#[derive(Deserialize)]
struct UsersPage {
    #[serde(default)]
    users: Vec<ListedUser>,
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    links: Links,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize, Default)]
struct Links {
    next: Option<String>,
}

/// The fields of a listed user that provisioning manages.
#[derive(Deserialize)]
struct ListedUser {
    id: u64,
    external_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
    custom_role_id: Option<u64>,
    #[serde(default)]
    suspended: bool,
    /// `false` for a deleted user.
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

impl Lister for ZendeskConnector {
    fn app(&self) -> &str {
        &self.app
    }

    #[tracing::instrument(name = "zendesk_list_page", skip_all, fields(app = %self.app))]
    async fn list_page(
        &self,
        cursor: Option<&Cursor>,
        page_size: NonZeroU32,
    ) -> Result<Page, ConnectorError> {
        let url = match cursor {
            None => {
                let mut url = self.base.join(&["api", "v2", "users.json"]);
                let size = page_size.get().min(MAX_PAGE_SIZE).to_string();
                url.query_pairs_mut().append_pair("page[size]", &size);
                url
            }
            Some(Cursor::Link(url)) => url.clone(),
            Some(other) => {
                return Err(ConnectorError::Permanent {
                    message: format!("not a Zendesk cursor: {other:?}"),
                })
            }
        };
        let page: UsersPage =
            http::json(http::send_ok(self.request(Method::GET, url)).await?).await?;
        let next = match (page.meta.has_more, page.links.next) {
            (true, Some(link)) => Some(Cursor::Link(self.same_host(&link)?)),
            (true, None) => {
                return Err(ConnectorError::Transient {
                    message: "Zendesk said has_more without a links.next".into(),
                    retry_after: None,
                })
            }
            (false, _) => None,
        };
        let accounts = page.users.into_iter().map(|u| self.account_of(u)).collect();
        Ok(Page { accounts, next })
    }
}

impl ZendeskConnector {
    /// User `id` mapped as a listing maps it; `None` when Zendesk has no
    /// such user (404) or it is deleted (`active: false`).
    pub(super) async fn read_user(&self, id: u64) -> Result<Option<AppAccount>, ConnectorError> {
        let response = http::send(self.request(Method::GET, self.user_url(id))).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(http::error_from(response).await);
        }
        let OneUser { user } = http::json(response).await?;
        Ok(user.active.then(|| self.account_of(user)))
    }

    /// `link` when it points at the configured scheme, host and port.
    fn same_host(&self, link: &str) -> Result<Url, ConnectorError> {
        let base = self.base.url();
        match Url::parse(link) {
            Ok(url) if url.origin() == base.origin() => Ok(url),
            _ => Err(ConnectorError::Permanent {
                message: format!(
                    "Zendesk's links.next is not on {}; not sending credentials there",
                    base.origin().ascii_serialization()
                ),
            }),
        }
    }

    /// The account of a listed user: the e-mail is also the user name, and
    /// the account is active unless suspended or deleted.
    fn account_of(&self, user: ListedUser) -> AppAccount {
        AppAccount {
            app_id: user.id.to_string(),
            external_id: user.external_id,
            user_name: user.email.clone().unwrap_or_default(),
            email: user.email,
            active: user.active && !user.suspended,
            role: user
                .role
                .as_deref()
                .and_then(|role| self.our_role(role, user.custom_role_id)),
            given_name: None,
            family_name: None,
            display_name: user.name,
        }
    }

    /// Our role for a Zendesk `role` and `custom_role_id`, the inverse of
    /// `mapping`: first a role whose mapping has exactly both; else one
    /// mapped to `role` without a custom role (we never set one, so whatever
    /// custom role Zendesk gave the user is consistent with it). When several
    /// of our roles look the same in Zendesk, the least privileged wins.
    pub(super) fn our_role(&self, role: &str, custom_role_id: Option<u64>) -> Option<String> {
        let mapped: Vec<_> = self.roles.iter().map(|r| (r, self.mapping(r))).collect();
        let exact = mapped
            .iter()
            .find(|(_, m)| m.role == role && m.custom_role_id == custom_role_id);
        let loose = || {
            mapped
                .iter()
                .find(|(_, m)| m.role == role && m.custom_role_id.is_none())
        };
        exact.or_else(loose).map(|(ours, _)| ours.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::RoleMapping;
    use crate::connector::http::{BaseUrl, Secret};

    fn connector() -> ZendeskConnector {
        let map = |role: &str, custom_role_id| RoleMapping {
            role: role.into(),
            custom_role_id,
        };
        let role_map = BTreeMap::from([
            ("end_user".to_string(), map("end-user", None)),
            ("light_agent".to_string(), map("agent", Some(360000001))),
            ("agent".to_string(), map("agent", None)),
        ]);
        let roles = ["end_user", "light_agent", "agent", "admin"].map(String::from);
        ZendeskConnector::new(
            "zendesk",
            BaseUrl::parse("https://acme.zendesk.test").expect("url"),
            Secret::new("api@acme.test"),
            Secret::new("token"),
            &roles,
            role_map,
            reqwest::Client::new(),
        )
    }

    #[test]
    fn roles_map_back_through_the_role_map() {
        let zd = connector();
        let ours = |role, custom| zd.our_role(role, custom);
        assert_eq!(
            ours("agent", Some(360000001)).as_deref(),
            Some("light_agent")
        );
        assert_eq!(ours("agent", None).as_deref(), Some("agent"));
        assert_eq!(
            ours("agent", Some(42)).as_deref(),
            Some("agent"),
            "an agent with a custom role we never set"
        );
        assert_eq!(ours("end-user", None).as_deref(), Some("end_user"));
        assert_eq!(ours("admin", None).as_deref(), Some("admin"), "unmapped");
        assert_eq!(ours("owner", None), None, "not one of ours");
    }

    #[test]
    fn suspended_and_deleted_users_are_inactive() {
        let zd = connector();
        let user = |suspended, active| ListedUser {
            id: 7,
            external_id: None,
            email: Some("ada@acme.test".into()),
            name: Some("Ada Lovelace".into()),
            role: Some("agent".into()),
            custom_role_id: None,
            suspended,
            active,
        };
        let account = zd.account_of(user(false, true));
        assert!(account.active);
        assert_eq!(account.user_name, "ada@acme.test");
        assert_eq!(account.display_name.as_deref(), Some("Ada Lovelace"));
        assert!(!zd.account_of(user(true, true)).active);
        assert!(!zd.account_of(user(false, false)).active);
    }

    #[test]
    fn links_elsewhere_are_refused() {
        let zd = connector();
        let here = "https://acme.zendesk.test/api/v2/users.json?page%5Bafter%5D=x";
        assert!(zd.same_host(here).is_ok());
        for elsewhere in [
            "https://evil.test/api/v2/users.json",
            "http://acme.zendesk.test/api/v2/users.json",
            "https://acme.zendesk.test:8443/api/v2/users.json",
            "not a url",
        ] {
            assert!(
                matches!(
                    zd.same_host(elsewhere),
                    Err(ConnectorError::Permanent { .. })
                ),
                "{elsewhere}"
            );
        }
    }
}
