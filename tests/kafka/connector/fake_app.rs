//! A programmable fake app behind the `Connector` trait: configurable latency
//! and failures, calls recorded with their instants, calls in flight counted,
//! single commands held until released. It tests the worker's logic; the real
//! HTTP connectors are tested against real servers elsewhere.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provisioner::commands::Command;
use provisioner::connector::{Applied, Connector, ConnectorError, Outcome};
use rand::Rng;
use tokio::sync::watch;

/// One call the app received.
#[derive(Debug, Clone)]
pub struct Call {
    pub command_id: String,
    pub employee_id: String,
    pub generation: u64,
    pub at: Instant,
    pub ok: bool,
}

#[derive(Default)]
struct Inner {
    latency_ms: Mutex<(u64, u64)>,
    /// Errors to return, in order, before a command succeeds.
    script: Mutex<HashMap<String, VecDeque<ConnectorError>>>,
    /// Errors a command always gets.
    always: Mutex<HashMap<String, ConnectorError>>,
    /// While set, every call and probe fails with this error.
    down: Mutex<Option<ConnectorError>>,
    /// Commands held until their flag turns true.
    held: Mutex<HashMap<String, watch::Sender<bool>>>,
    calls: Mutex<Vec<Call>>,
    probes: AtomicU32,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    started: AtomicU32,
    unchanged: AtomicBool,
}

/// The fake app; clones share state, so the test keeps a handle.
#[derive(Clone, Default)]
pub struct FakeApp(Arc<Inner>);

fn transient(message: &str, retry_after: Option<Duration>) -> ConnectorError {
    ConnectorError::Transient {
        message: message.into(),
        retry_after,
    }
}

impl FakeApp {
    pub fn new() -> Self {
        Self::default()
    }

    /// Each call takes a random time in `[min, max]` milliseconds.
    pub fn with_latency(self, min_ms: u64, max_ms: u64) -> Self {
        *self.0.latency_ms.lock().unwrap() = (min_ms, max_ms);
        self
    }

    /// `command_id` fails with these errors, in order, then succeeds.
    pub fn fail_first(&self, command_id: &str, errors: Vec<ConnectorError>) {
        self.0
            .script
            .lock()
            .unwrap()
            .insert(command_id.into(), errors.into());
    }

    /// `command_id` always fails with `error`.
    pub fn fail_always(&self, command_id: &str, error: ConnectorError) {
        self.0
            .always
            .lock()
            .unwrap()
            .insert(command_id.into(), error);
    }

    /// The app goes down: calls and probes fail with `error`.
    pub fn go_down(&self, error: ConnectorError) {
        *self.0.down.lock().unwrap() = Some(error);
    }

    /// A 503-style outage.
    pub fn go_down_transient(&self) {
        self.go_down(transient("503 Service Unavailable", None));
    }

    /// The app is back.
    pub fn come_up(&self) {
        *self.0.down.lock().unwrap() = None;
    }

    /// Calls for `command_id` wait until [`release`](Self::release).
    pub fn hold(&self, command_id: &str) {
        self.0
            .held
            .lock()
            .unwrap()
            .insert(command_id.into(), watch::Sender::new(false));
    }

    pub fn release(&self, command_id: &str) {
        if let Some(flag) = self.0.held.lock().unwrap().get(command_id) {
            flag.send_replace(true);
        }
    }

    /// Report `unchanged` instead of `applied`.
    pub fn report_unchanged(&self) {
        self.0.unchanged.store(true, Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, command_id: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.command_id == command_id)
            .collect()
    }

    /// Calls that have started (entered `apply`), finished or not.
    pub fn started(&self) -> u32 {
        self.0.started.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.0.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn probes(&self) -> u32 {
        self.0.probes.load(Ordering::SeqCst)
    }

    async fn call(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        let at = Instant::now();
        self.0.started.fetch_add(1, Ordering::SeqCst);
        let now = self.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let held = self
            .0
            .held
            .lock()
            .unwrap()
            .get(&cmd.command_id)
            .map(|flag| flag.subscribe());
        if let Some(mut flag) = held {
            let _ = flag.wait_for(|released| *released).await;
        }
        let (min, max) = *self.0.latency_ms.lock().unwrap();
        if max > 0 {
            let ms = rand::rng().random_range(min..=max);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let result = self.outcome(cmd);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.calls.lock().unwrap().push(Call {
            command_id: cmd.command_id.clone(),
            employee_id: cmd.employee_id.to_string(),
            generation: cmd.generation,
            at,
            ok: result.is_ok(),
        });
        result
    }

    fn outcome(&self, cmd: &Command) -> Result<Applied, ConnectorError> {
        if let Some(error) = self.0.down.lock().unwrap().clone() {
            return Err(error);
        }
        if let Some(error) = self.0.always.lock().unwrap().get(&cmd.command_id) {
            return Err(error.clone());
        }
        if let Some(queue) = self.0.script.lock().unwrap().get_mut(&cmd.command_id) {
            if let Some(error) = queue.pop_front() {
                return Err(error);
            }
        }
        let outcome = if self.0.unchanged.load(Ordering::SeqCst) {
            Outcome::Unchanged
        } else {
            Outcome::Applied
        };
        Ok(Applied {
            outcome,
            app_account_id: Some(format!("acct-{}", cmd.employee_id)),
        })
    }
}

impl Connector for FakeApp {
    fn apply(&self, cmd: &Command) -> impl Future<Output = Result<Applied, ConnectorError>> + Send {
        let this = self.clone();
        let cmd = cmd.clone();
        async move { this.call(&cmd).await }
    }

    fn probe(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send {
        let this = self.clone();
        async move {
            this.0.probes.fetch_add(1, Ordering::SeqCst);
            match this.0.down.lock().unwrap().clone() {
                Some(error) => Err(error),
                None => Ok(()),
            }
        }
    }
}

/// A transient error, optionally with the app's Retry-After.
pub fn transient_error(retry_after: Option<Duration>) -> ConnectorError {
    transient("502 Bad Gateway", retry_after)
}
