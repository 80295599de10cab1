//! Unit tests of the shared HTTP plumbing: Retry-After, classification,
//! secrets and URLs.

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn retry_after_delta_seconds() {
    let now = Utc::now();
    assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
    assert_eq!(
        parse_retry_after(" 120 ", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
}

#[test]
fn retry_after_http_dates() {
    let now = at("2015-10-21T07:27:30Z");
    let want = Some(Duration::from_secs(30));
    // IMF-fixdate, RFC 850 and asctime, all meaning 07:28:00 UTC.
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        want
    );
    assert_eq!(
        parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now),
        want
    );
    assert_eq!(parse_retry_after("Wed Oct 21 07:28:00 2015", now), want);
}

#[test]
fn retry_after_in_the_past_is_now() {
    let now = at("2015-10-21T08:00:00Z");
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_garbage_is_ignored() {
    let now = Utc::now();
    for value in [
        "",
        "soon",
        "-5",
        "1.5",
        "2 seconds",
        "99999999999999999999999",
        "Wed, 32 Oct 2015 07:28:00 GMT",
    ] {
        assert_eq!(parse_retry_after(value, now), None, "{value:?}");
    }
}

/// Kind of an error, as a short name for table-driven tests.
fn kind(e: &ConnectorError) -> &'static str {
    match e {
        ConnectorError::Transient { .. } => "transient",
        ConnectorError::Permanent { .. } => "permanent",
        ConnectorError::Unavailable { .. } => "unavailable",
    }
}

#[test]
fn classification_table() {
    let table = [
        (301, "unavailable"),
        (302, "unavailable"),
        (400, "permanent"),
        (401, "unavailable"),
        (403, "unavailable"),
        (404, "permanent"),
        (408, "transient"),
        (409, "permanent"),
        (422, "permanent"),
        (429, "transient"),
        (500, "transient"),
        (501, "permanent"),
        (502, "transient"),
        (503, "transient"),
        (504, "transient"),
    ];
    for (code, want) in table {
        let status = StatusCode::from_u16(code).unwrap();
        let got = classify_status(status, None, "");
        assert_eq!(kind(&got), want, "HTTP {code}: {got}");
    }
}

#[test]
fn retry_after_is_kept_on_429_and_503() {
    let wait = Some(Duration::from_secs(7));
    for code in [429, 503] {
        let got = classify_status(StatusCode::from_u16(code).unwrap(), wait, "slow down");
        match got {
            ConnectorError::Transient {
                message,
                retry_after,
            } => {
                assert_eq!(retry_after, wait);
                assert!(message.starts_with(&format!("HTTP {code}")), "{message}");
                assert!(message.ends_with(": slow down"), "{message}");
            }
            other => panic!("HTTP {code}: {other}"),
        }
    }
}

#[test]
fn error_messages_are_short_one_line_and_mask_emails() {
    let body = format!(
        "{{\"error\": \"Email: ada@acme.test is\n already used\", \"pad\": \"{}\"}}",
        "x".repeat(500)
    );
    let msg = classify_status(StatusCode::UNPROCESSABLE_ENTITY, None, &body).to_string();
    assert!(
        msg.starts_with("permanent: HTTP 422 Unprocessable Entity: {"),
        "{msg}"
    );
    assert!(!msg.contains("ada@acme.test"), "{msg}");
    assert!(msg.contains("***@***"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.chars().count() < 300, "{msg}");
}

#[test]
fn a_body_cut_inside_an_address_leaks_none_of_it() {
    // The address straddles the 200-character cut.
    let body = format!("{} zelda.pii.epistemology@acme.test", "x".repeat(195));
    let msg = classify_status(StatusCode::CONFLICT, None, &body).to_string();
    assert!(!msg.contains("zel") && !msg.contains("acme"), "{msg}");
    assert!(msg.ends_with("***…"), "{msg}");
}

#[tokio::test]
async fn refused_connection_is_transient_and_hides_the_url() {
    // Bind then drop a listener: the port is free and nothing answers.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/Users?filter=userName%20eq%20%22ada%40acme.test%22");
    let err = send(client().unwrap().get(url)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Transient {
                retry_after: None,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(!msg.contains("acme"), "{msg}");
    assert!(!msg.contains(&port.to_string()), "{msg}");
}

#[test]
fn secret_is_never_printed() {
    let secret = Secret::new("s3cr3t-token");
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(format!("{secret:?}"), "***");
    assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
    assert_eq!(secret.expose(), "s3cr3t-token");
}

#[test]
fn secret_from_env_names_the_variable_not_the_value() {
    let var = "PROVISIONER_HTTP_TEST_UNSET_TOKEN";
    let err = load_secret(Some(var), None).unwrap_err().to_string();
    assert!(err.contains(var), "{err}");
    // A variable name no other test uses.
    let var = "PROVISIONER_HTTP_TEST_SET_TOKEN";
    std::env::set_var(var, "  tok-123\n");
    let secret = load_secret(Some(var), None).unwrap().unwrap();
    assert_eq!(secret.expose(), "tok-123");
    std::env::set_var(var, "   ");
    let err = load_secret(Some(var), None).unwrap_err().to_string();
    assert!(
        err.contains(var) && err.contains("not set or empty"),
        "{err}"
    );
}

#[test]
fn secret_from_file_is_trimmed_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "file-token\n").unwrap();
    let secret = load_secret(None, Some(&path)).unwrap().unwrap();
    assert_eq!(secret.expose(), "file-token");
    std::fs::write(&path, "\n \n").unwrap();
    let err = load_secret(None, Some(&path)).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("empty"),
        "{err}"
    );
    let missing = dir.path().join("missing");
    let err = load_secret(None, Some(&missing)).unwrap_err().to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert_eq!(load_secret(None, None).unwrap(), None);
}

#[test]
fn base_url_joins_encoded_segments() {
    let base = BaseUrl::parse("https://api.example.com/scim/v2/").unwrap();
    assert_eq!(
        base.join(&["Users", "a/b c"]).as_str(),
        "https://api.example.com/scim/v2/Users/a%2Fb%20c"
    );
    let bare = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
    assert_eq!(
        bare.join(&["Users"]).as_str(),
        "http://127.0.0.1:8080/Users"
    );
    assert!(BaseUrl::parse("ftp://x").is_none());
    assert!(BaseUrl::parse("mailto:a@b").is_none());
    assert!(BaseUrl::parse("not a url").is_none());
}
