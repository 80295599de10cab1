//! The token bucket every rate limit of this crate uses: a connector's calls
//! to its app (`apps.<name>.rate_limit_per_second`) and replay's
//! re-publishing (`--rate`).
//!
//! One token every `1 / rate` seconds and no burst: the other side never
//! sees more than `rate` requests in any window, even right after an idle
//! spell.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// A token bucket for one caller (`until_ready().await` in async code,
/// `check()` and a sleep on a blocking thread).
pub type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// A bucket allowing `rate` requests per second (fractions allowed, e.g.
/// `0.5` for one every two seconds), without burst.
pub fn per_second(rate: f64) -> Limiter {
    RateLimiter::direct(quota(rate))
}

fn quota(rate: f64) -> Quota {
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
    // `period` is at least one nanosecond, the only case `with_period` refuses.
    Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_one_over_the_rate() {
        assert_eq!(quota(4.0).replenish_interval(), Duration::from_millis(250));
        assert_eq!(quota(0.5).replenish_interval(), Duration::from_secs(2));
    }

    #[test]
    fn there_is_no_burst() {
        let limiter = per_second(1.0);
        assert!(limiter.check().is_ok(), "the first request goes at once");
        assert!(limiter.check().is_err(), "the second waits a period");
        assert_eq!(quota(1_000.0).burst_size().get(), 1);
    }

    #[test]
    fn an_enormous_rate_is_still_a_valid_bucket() {
        assert_eq!(quota(1e30).replenish_interval(), Duration::from_nanos(1));
    }
}
