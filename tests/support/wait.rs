//! Waiting for a condition: one deadline for every test, polled often.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long any wait in a test may take before the test fails. Generous: it
/// only bounds a failing test on a loaded 2-core machine; a passing one
/// returns as soon as its condition holds.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`; fails the test after [`DEADLINE`],
/// naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting until {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls a synchronous `check` until it holds; fails after [`DEADLINE`].
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    wait_for(what, || std::future::ready(check().then_some(()))).await
}

/// [`wait_for`] for plain threads (no runtime): polls `check` until it
/// returns `Some`; fails after [`DEADLINE`] with `what` and `context()`.
pub fn wait_for_blocking<T>(
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting until {what}:\n{}",
            context()
        );
        std::thread::sleep(POLL);
    }
}
