//! Limits on the telemetry server's connections, so that no client can hold
//! it: a header-read timeout (a request's headers must arrive within it of
//! their first byte), an idle timeout (a keep-alive connection with no
//! request, or a client that stops reading its response, is closed), and a
//! cap on connections served at once (further ones wait in the listen
//! backlog until one closes, so a flood of sockets costs no memory or task).
//!
//! axum serves any [`Listener`]; [`LimitedListener`] is one that accepts only
//! while a connection slot is free and hands out [`Limited`] streams, which
//! enforce the timeouts on their reads and writes: hyper sees a timed-out
//! read or write as an I/O error and closes the connection. hyper's own
//! header timeout is not used because it starts when hyper *waits* for a
//! request, which would make the idle timeout the header timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::MetricsConfig;

/// The limits of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a request's first byte to the end of its headers.
    pub header_timeout: Duration,
    /// Longest silence between requests, or while a response is unread.
    pub idle_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&MetricsConfig::default())
    }
}

impl From<&MetricsConfig> for Limits {
    fn from(config: &MetricsConfig) -> Self {
        Limits {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections.max(1),
        }
    }
}

/// A TCP listener that accepts only while fewer than
/// [`Limits::max_connections`] connections are open.
pub struct LimitedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limits: Limits,
}

impl LimitedListener {
    /// Wraps a bound listener.
    pub fn new(listener: TcpListener, limits: Limits) -> LimitedListener {
        LimitedListener {
            listener,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
        }
    }
}

/// How long to wait before accepting again after an accept error (too many
/// open files, a connection reset before it was accepted): a busy loop would
/// not make a file descriptor free sooner.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

impl Listener for LimitedListener {
    type Io = Limited;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only fails if it were;
        // then serving without a slot is still better than stopping.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => return (Limited::new(stream, slot, self.limits), addr),
                Err(error) => {
                    tracing::debug!(message = "Accept failed.", %error);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// Where a connection is in its request cycle, which decides its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request: the idle timeout runs.
    Idle,
    /// A request has begun: its headers must be complete by the deadline.
    Headers,
    /// Headers read; the request is being answered: the idle timeout runs
    /// from the last byte moved.
    Busy,
}

/// A connection with deadlines on its reads and writes; it holds a
/// connection slot until dropped.
pub struct Limited {
    stream: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
    limits: Limits,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// The last four bytes read, to find the blank line ending the headers
    /// across reads.
    tail: u32,
}

impl Limited {
    fn new(stream: TcpStream, slot: Option<OwnedSemaphorePermit>, limits: Limits) -> Limited {
        Limited {
            stream,
            _slot: slot,
            limits,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            tail: 0,
        }
    }

    fn enter(&mut self, phase: Phase) {
        let after = match phase {
            Phase::Headers => self.limits.header_timeout,
            Phase::Idle | Phase::Busy => self.limits.idle_timeout,
        };
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + after);
    }

    /// Follows the request cycle through bytes read.
    fn on_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.tail = 0;
            self.enter(Phase::Headers);
        }
        match self.phase {
            Phase::Headers => {
                for &b in bytes {
                    self.tail = (self.tail << 8) | u32::from(b);
                    // CRLF CRLF, or the bare LF LF that parsers also accept.
                    if self.tail == 0x0d0a_0d0a || self.tail & 0xffff == 0x0a0a {
                        self.enter(Phase::Busy);
                        break;
                    }
                }
            }
            Phase::Busy | Phase::Idle => self.enter(Phase::Busy),
        }
    }

    fn timed_out(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.deadline.as_mut().poll(cx).is_ready().then(|| {
            let what = match self.phase {
                Phase::Headers => "request headers not received in time",
                Phase::Idle | Phase::Busy => "connection idle for too long",
            };
            io::Error::new(io::ErrorKind::TimedOut, what)
        })
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.on_read(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.timed_out(cx) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
            other => other,
        }
    }
}

impl Limited {
    /// A write's outcome: bytes out mean a response is going out, so the
    /// next silence is idleness; a write that cannot go on past the
    /// deadline (a client that does not read) fails.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                self.enter(Phase::Idle);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match self.timed_out(cx) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;
