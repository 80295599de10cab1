//! Reading every account of an app (`connector::listing`, issue #13): SCIM
//! paging against a real scim2-server, Zendesk cursor pagination against
//! `wiremock`, and webhooks, which cannot be read.

mod scim;
mod webhook;
mod zendesk;
