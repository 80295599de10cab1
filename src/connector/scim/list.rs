//! Listing a SCIM service provider's users: `GET /Users?startIndex=N&count=C`
//! (RFC 7644 §3.4.2.4), mapped to [`AppAccount`]s.
//!
//! Index paging is 1-based; the next page starts after the users this one
//! returned (a server may return fewer than `count`), and the listing stops
//! at an empty page or once `totalResults` is passed. A server that answers
//! another `startIndex` than the one asked for ignores paging: reading on
//! would silently miss users, so it is an error.

use std::num::NonZeroU32;

use reqwest::Method;
use serde_json::Value;

use super::{ListResponse, ScimConnector};
use crate::connector::http;
use crate::connector::listing::{Cursor, Lister, Page};
use crate::connector::ConnectorError;
use crate::reconcile::AppAccount;

impl Lister for ScimConnector {
    fn app(&self) -> &str {
        &self.app
    }

    #[tracing::instrument(name = "scim_list_page", skip_all, fields(app = %self.app))]
    async fn list_page(
        &self,
        cursor: Option<&Cursor>,
        page_size: NonZeroU32,
    ) -> Result<Page, ConnectorError> {
        let start = match cursor {
            None => 1,
            Some(Cursor::Index(start)) => *start,
            Some(other) => {
                return Err(ConnectorError::Permanent {
                    message: format!("not a SCIM cursor: {other:?}"),
                })
            }
        };
        let request = self
            .request(Method::GET, self.base.join(&["Users"]))
            .query(&[("startIndex", start), ("count", u64::from(page_size.get()))]);
        let page: ListResponse = http::json(http::send_ok(request).await?).await?;
        page_of(start, page)
    }
}

/// The accounts of the page read from `start`, and where the next starts.
fn page_of(start: u64, page: ListResponse) -> Result<Page, ConnectorError> {
    if let Some(answered) = page.start_index.filter(|s| *s != start) {
        return Err(ConnectorError::Permanent {
            message: format!(
                "asked for users from startIndex {start}, the server answered from {answered}: \
                 it does not page by index, so a listing would miss users"
            ),
        });
    }
    let accounts = page
        .resources
        .iter()
        .map(account_of)
        .collect::<Result<Vec<_>, _>>()?;
    let after = start + accounts.len() as u64;
    let done = accounts.is_empty() || page.total_results.is_some_and(|total| after > total);
    Ok(Page {
        accounts,
        next: (!done).then_some(Cursor::Index(after)),
    })
}

/// The account of one SCIM User (CONTRACT §10's attributes). A missing
/// `active` is `true` (an account is usable unless the app says otherwise);
/// e-mail and role are the primary value, else the first. Verify-after-write
/// reads one user back with it too.
pub(super) fn account_of(user: &Value) -> Result<AppAccount, ConnectorError> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(String::from);
    let app_id = text(user.get("id")).ok_or_else(|| ConnectorError::Transient {
        message: "SCIM listing returned a user without an id".into(),
        retry_after: None,
    })?;
    Ok(AppAccount {
        app_id,
        external_id: text(user.get("externalId")),
        user_name: text(user.get("userName")).unwrap_or_default(),
        email: primary_value(user.get("emails")),
        active: user.get("active").and_then(Value::as_bool).unwrap_or(true),
        role: primary_value(user.get("roles")),
        given_name: text(user.pointer("/name/givenName")),
        family_name: text(user.pointer("/name/familyName")),
        display_name: text(user.get("displayName")),
    })
}

/// The `value` of a multi-valued attribute's primary entry (RFC 7643 §2.4),
/// else of its first.
fn primary_value(values: Option<&Value>) -> Option<String> {
    let values = values?.as_array()?;
    let primary = values
        .iter()
        .find(|v| v.get("primary").and_then(Value::as_bool) == Some(true));
    primary
        .or(values.first())?
        .get("value")?
        .as_str()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn page(value: Value) -> ListResponse {
        serde_json::from_value(value).expect("page")
    }

    fn users(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": format!("u{i}")})).collect()
    }

    #[test]
    fn every_managed_attribute_is_mapped() {
        let user = json!({
            "id": "u1", "externalId": "E1001", "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada Lovelace", "active": false,
            "emails": [{"value": "home@acme.test"}, {"value": "ada@acme.test", "primary": true}],
            "roles": [{"value": "member"}, {"value": "admin", "primary": true}]
        });
        assert_eq!(
            account_of(&user),
            Ok(AppAccount {
                app_id: "u1".into(),
                external_id: Some("E1001".into()),
                user_name: "ada".into(),
                email: Some("ada@acme.test".into()),
                active: false,
                role: Some("admin".into()),
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
                display_name: Some("Ada Lovelace".into()),
            })
        );
    }

    #[test]
    fn absent_attributes_are_none_and_absent_active_is_true() {
        let account = account_of(&json!({"id": "u1", "userName": "svc",
            "emails": [{"value": "a@x.test"}, {"value": "b@x.test"}], "roles": []}))
        .expect("account");
        assert!(account.active);
        assert_eq!(account.email.as_deref(), Some("a@x.test"), "the first");
        assert_eq!(account.role, None);
        assert_eq!(account.external_id, None);
        assert_eq!(account.given_name, None);
        assert!(account_of(&json!({"userName": "no id"})).is_err());
    }

    #[test]
    fn paging_stops_past_the_total_or_at_an_empty_page() {
        let next = |start, total: Option<u64>, n| {
            page_of(
                start,
                page(json!({"totalResults": total, "Resources": users(n)})),
            )
            .expect("page")
            .next
        };
        assert_eq!(next(1, Some(7), 2), Some(Cursor::Index(3)));
        assert_eq!(next(5, Some(7), 2), Some(Cursor::Index(7)));
        assert_eq!(next(7, Some(7), 1), None);
        assert_eq!(next(1, Some(7), 7), None, "a server ignoring count");
        assert_eq!(
            next(3, Some(9), 1),
            Some(Cursor::Index(4)),
            "fewer than count"
        );
        assert_eq!(next(3, Some(9), 0), None, "an empty page");
        assert_eq!(next(3, None, 2), Some(Cursor::Index(5)), "no total");
        assert_eq!(next(5, None, 0), None);
    }

    #[test]
    fn a_server_ignoring_start_index_is_refused() {
        let answer = page(json!({"totalResults": 7, "startIndex": 1, "Resources": users(2)}));
        let Err(ConnectorError::Permanent { message }) = page_of(3, answer) else {
            panic!("refused");
        };
        assert!(message.contains("startIndex 3"), "{message}");
        let answer = page(json!({"totalResults": 7, "startIndex": 3, "Resources": users(2)}));
        assert!(page_of(3, answer).is_ok());
    }
}
