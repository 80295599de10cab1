//! The rate limit a fake app enforces on its own: at most `limit` requests
//! in any sliding second, the rest refused (the app answers 429). Shared by
//! the connector and reconcile benches (each includes it with `#[path]`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The requests seen, admitted or refused.
pub struct SlidingWindow {
    limit: usize,
    window: Mutex<VecDeque<Instant>>,
    accepted: Mutex<Vec<Instant>>,
    refused: Mutex<u64>,
}

impl SlidingWindow {
    pub fn new(limit: usize) -> Self {
        SlidingWindow {
            limit,
            window: Mutex::new(VecDeque::new()),
            accepted: Mutex::new(Vec::new()),
            refused: Mutex::new(0),
        }
    }

    /// Admits a request arriving now, or refuses it (429).
    pub fn admit(&self) -> bool {
        let now = Instant::now();
        let mut window = self.window.lock().unwrap();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= self.limit {
            *self.refused.lock().unwrap() += 1;
            return false;
        }
        window.push_back(now);
        self.accepted.lock().unwrap().push(now);
        true
    }

    /// When each admitted request arrived, in order.
    pub fn accepted(&self) -> Vec<Instant> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn refused(&self) -> u64 {
        *self.refused.lock().unwrap()
    }
}

/// Admitted requests per second between the first and the last.
pub fn rate(accepted: &[Instant]) -> f64 {
    match accepted {
        [first, .., last] => {
            (accepted.len() - 1) as f64 / last.duration_since(*first).as_secs_f64()
        }
        _ => 0.0,
    }
}

/// The most admitted requests in any one-second window.
pub fn busiest_second(accepted: &[Instant]) -> usize {
    accepted
        .iter()
        .enumerate()
        .map(|(i, t)| {
            accepted[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}
