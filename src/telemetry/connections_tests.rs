//! The limits through the real server: raw TCP clients that stall, idle or
//! crowd it, with small timeouts; every wait polls with a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::telemetry::server::{start, Running};
use crate::telemetry::{Role, Telemetry};

/// Longest any step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

async fn server(header_ms: u64, idle_ms: u64, max_connections: usize) -> (Running, SocketAddr) {
    let limits = Limits {
        header_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        max_connections,
    };
    let server = start("127.0.0.1:0", limits, &Telemetry::new(Role::Engine))
        .await
        .expect("bind");
    let addr = server.addr().expect("addr");
    (server, addr)
}

/// Reads until the server closes the connection (EOF or reset); returns
/// what it sent and when it closed.
async fn until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&seen).into(), Instant::now())
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("still open after {DEADLINE:?}; got {seen:?}"),
        }
    }
}

/// Reads one `/healthz` response (its body ends the answer).
async fn healthz_answer(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).ends_with("{\"alive\":true}\n") {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn half_a_request_line_is_cut_off_after_the_header_timeout() {
    let (server, addr) = server(300, 60_000, 8).await;
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    let sent = Instant::now();
    slow.write_all(b"GET /metr").await.expect("write");
    let (answer, closed) = until_closed(&mut slow).await;
    let took = closed - sent;
    assert!(answer.is_empty(), "{answer}");
    // Not before the header timeout; and (until_closed gives up after 10 s)
    // long before the 60 s idle timeout.
    assert!(took >= Duration::from_millis(300), "closed early: {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (server, addr) = server(60_000, 500, 8).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client.write_all(HEALTHZ).await.expect("write");
    assert!(healthz_answer(&mut client)
        .await
        .starts_with("HTTP/1.1 200"));
    // Kept alive for a second request.
    client.write_all(HEALTHZ).await.expect("write");
    assert!(healthz_answer(&mut client)
        .await
        .starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    let (rest, closed) = until_closed(&mut client).await;
    assert!(rest.is_empty(), "{rest}");
    assert!(
        closed - answered >= Duration::from_millis(500),
        "{:?}",
        closed - answered
    );
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_while_scrapes_keep_working() {
    let (server, addr) = server(60_000, 60_000, 3).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(700))
        .build()
        .expect("client");
    let scrape = || async {
        client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    // Two stalled clients hold two of the three slots: scrapes still work.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /").await.expect("write");
        stalled.push(s);
    }
    for _ in 0..5 {
        assert_eq!(scrape().await.expect("scrape served"), 200);
    }
    // A third takes the last slot: the next connection is not served.
    let mut third = TcpStream::connect(addr).await.expect("connect");
    third.write_all(b"GET /").await.expect("write");
    stalled.push(third);
    let error = scrape().await.expect_err("no slot, no answer");
    assert!(error.is_timeout(), "{error}");
    // One stalled client goes away: scrapes are served again.
    stalled.pop();
    let started = Instant::now();
    loop {
        match scrape().await {
            Ok(status) => break assert_eq!(status, 200),
            Err(error) if started.elapsed() < DEADLINE => assert!(error.is_timeout(), "{error}"),
            Err(error) => panic!("no slot freed: {error}"),
        }
    }
    drop(stalled);
    server.stop().await;
}
