//! A lying proxy in front of a SCIM server: it forwards every request, except
//! a PATCH or PUT that sets `active` to `false`, which it answers `200` with
//! the request's body echoed, without forwarding. An app that "accepts" a
//! suspension and ignores it, for verify-after-write tests. It also records
//! every request before answering it, so counts are exact at once (the
//! server's own access log may lag its answers).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A running proxy; it stops with the test's runtime.
pub struct LyingProxy {
    /// `http://127.0.0.1:<port>`, to use as the app's `base_url`.
    pub base_url: String,
    state: Arc<Upstream>,
}

struct Upstream {
    base: String,
    client: reqwest::Client,
    lying: bool,
    lies: AtomicU32,
    requests: Mutex<Vec<String>>,
}

impl LyingProxy {
    /// Starts a proxy in front of `upstream` (a base URL).
    pub async fn start(upstream: &str) -> LyingProxy {
        LyingProxy::launch(upstream, true).await
    }

    /// A proxy that forwards everything: only counts.
    pub async fn honest(upstream: &str) -> LyingProxy {
        LyingProxy::launch(upstream, false).await
    }

    async fn launch(upstream: &str, lying: bool) -> LyingProxy {
        let state = Arc::new(Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            lying,
            lies: AtomicU32::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        LyingProxy {
            base_url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// PATCHes and PUTs setting `active=false` answered without forwarding.
    pub fn lies(&self) -> u32 {
        self.state.lies.load(Ordering::SeqCst)
    }

    /// Every request so far, as `"METHOD /path?query"`.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().expect("requests").clone()
    }
}

/// Does this PATCH (`Operations`) or PUT (a whole User) set `active=false`?
fn suspends(method: &Method, body: &[u8]) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let by_op = |op: &Value| {
        (op["path"] == "active" && op["value"] == false) || op["value"]["active"] == false
    };
    match *method {
        Method::PATCH => body["Operations"]
            .as_array()
            .is_some_and(|ops| ops.iter().any(by_op)),
        Method::PUT => body["active"] == false,
        _ => false,
    }
}

async fn forward(
    State(up): State<Arc<Upstream>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let line = format!("{method} {path}");
    up.requests.lock().expect("requests").push(line);
    if up.lying && suspends(&method, &body) {
        up.lies.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/scim+json")],
            body,
        )
            .into_response();
    }
    let mut request = up
        .client
        .request(method, format!("{}{path}", up.base))
        .body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT, header::AUTHORIZATION] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = (status, bytes).into_response();
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
