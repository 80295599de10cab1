//! A programmable webhook receiver standing in for the apps `wiki` and
//! `crm`: it can answer normally, fail a few calls, refuse credentials
//! (so the connector pauses the app) or refuse commands with an error body
//! that repeats the account's name and address, as real apps do. It also
//! answers the SCIM listing of a directory app `dir` (one account nobody
//! owns), so the connector's periodic reconciliation has an app to read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::routing::post;

/// How the fake app answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 to everything.
    Up = 0,
    /// POST 401 (credentials refused), HEAD 503: the connector pauses the app.
    Down = 1,
}

/// A webhook receiver for apps `wiki` and `crm` on a free port.
#[derive(Clone)]
pub struct FakeApp {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    mode: Arc<AtomicU8>,
    /// Calls to fail with 503 before answering normally, per app.
    fail_first: Arc<Mutex<BTreeMap<String, u32>>>,
    refusing: Arc<Mutex<BTreeSet<String>>>,
    posts: Arc<Mutex<BTreeMap<String, u32>>>,
    heads: Arc<AtomicU32>,
}

impl FakeApp {
    /// Starts the receiver on the current runtime.
    pub async fn start() -> FakeApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = FakeApp {
            url: format!("http://{}", listener.local_addr().expect("addr")),
            mode: Arc::new(AtomicU8::new(Mode::Up as u8)),
            fail_first: Arc::default(),
            refusing: Arc::default(),
            posts: Arc::default(),
            heads: Arc::default(),
        };
        let handler = |name: &'static str, app: FakeApp| {
            let (a, b) = (app.clone(), app);
            post(move |body: String| {
                let a = a.clone();
                async move { a.answer(name, &body) }
            })
            .head(move || {
                let b = b.clone();
                async move {
                    b.heads.fetch_add(1, Ordering::SeqCst);
                    match b.mode.load(Ordering::SeqCst) {
                        0 => StatusCode::OK,
                        _ => StatusCode::SERVICE_UNAVAILABLE,
                    }
                }
            })
        };
        let router = axum::Router::new()
            .route("/wiki", handler("wiki", app.clone()))
            .route("/crm", handler("crm", app.clone()))
            .route("/dir/Users", axum::routing::get(directory));
        tokio::spawn(async move { axum::serve(listener, router).await });
        app
    }

    fn answer(&self, name: &str, body: &str) -> (StatusCode, String) {
        *self.posts.lock().unwrap().entry(name.into()).or_insert(0) += 1;
        if self.mode.load(Ordering::SeqCst) == Mode::Down as u8 {
            return (StatusCode::UNAUTHORIZED, "invalid token".into());
        }
        if self.refusing.lock().unwrap().contains(name) {
            {
                let cmd: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                let a = &cmd["account"];
                let echo = format!(
                    "{{\"error\":\"user {} <{}> ({} {}) is not allowed here\"}}",
                    a["display_name"].as_str().unwrap_or(""),
                    a["email"].as_str().unwrap_or(""),
                    a["given_name"].as_str().unwrap_or(""),
                    a["family_name"].as_str().unwrap_or(""),
                );
                return (StatusCode::UNPROCESSABLE_ENTITY, echo);
            }
        }
        let mut fail = self.fail_first.lock().unwrap();
        if let Some(n) = fail.get_mut(name).filter(|n| **n > 0) {
            *n -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "try again".into());
        }
        (StatusCode::OK, "{}".into())
    }

    /// Sets how the app answers.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// The next `n` calls to `app` fail with 503.
    pub fn fail_next(&self, app: &str, n: u32) {
        self.fail_first.lock().unwrap().insert(app.into(), n);
    }

    /// From now on `app` answers 422 with a body that repeats the account's
    /// name and e-mail, as real apps do: its commands are dead-lettered.
    pub fn refuse(&self, app: &str) {
        self.refusing.lock().unwrap().insert(app.into());
    }

    /// POSTs received for `app`.
    pub fn posts(&self, app: &str) -> u32 {
        self.posts.lock().unwrap().get(app).copied().unwrap_or(0)
    }
}

/// `GET /dir/Users`: a SCIM list of one active account no employee owns
/// (an orphan) on the first page; any later page is empty.
async fn directory(axum::extract::RawQuery(query): axum::extract::RawQuery) -> String {
    let start: u64 = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("startIndex="))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let resources = match start {
        1 => serde_json::json!([{"id": "u-1", "userName": "stray@example.test", "active": true}]),
        _ => serde_json::json!([]),
    };
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 1,
        "startIndex": start,
        "itemsPerPage": 1,
        "Resources": resources,
    })
    .to_string()
}
