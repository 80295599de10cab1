//! Reading every account of an app (`connector::listing`, issue #13): SCIM
//! paging against a real scim2-server, Zendesk cursor pagination against
//! `wiremock`, webhooks, which cannot be read, and suspending a listed
//! account nobody owns.

mod scim;
mod suspend;
mod webhook;
mod zendesk;
