//! Tests of the retry state machine alone: every way a command's calls end.

use super::*;

fn config(max_attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts,
        initial_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
    }
}

fn ready() -> Event<&'static str> {
    Event::Ready {
        confirmed_outages: 0,
    }
}

fn transient(retry_after: Option<Duration>) -> Event<&'static str> {
    Event::Failed {
        error: ConnectorError::Transient {
            message: "502 Bad Gateway".into(),
            retry_after,
        },
        app_paused: false,
    }
}

fn is_backoff(step: &Step<&str>) -> bool {
    matches!(step, Step::RetryAfter(d) if *d >= Duration::from_millis(10) && *d <= Duration::from_millis(50))
}

#[test]
fn applied_at_the_first_call() {
    let mut a = Attempts::new(&config(3), true, 0);
    assert_eq!(a.next(ready()), Step::Call);
    assert_eq!(a.next(Event::Applied("ok")), Step::Done("ok"));
    assert_eq!(a.made(), 1);
}

#[test]
fn a_transient_failure_is_retried_after_backoff_then_applied() {
    let mut a = Attempts::new(&config(3), true, 0);
    assert_eq!(a.next(ready()), Step::Call);
    let step = a.next(transient(None));
    assert!(is_backoff(&step), "{step:?}");
    assert_eq!(a.last_error(), "transient: 502 Bad Gateway");
    assert_eq!(a.next(ready()), Step::Call);
    assert_eq!(a.next(Event::Applied("ok")), Step::Done("ok"));
    assert_eq!(a.made(), 2);
}

#[test]
fn retry_after_is_honoured_even_above_the_backoff_cap() {
    // The app's word wins over `max_delay_ms` (50 ms here).
    let mut a = Attempts::new(&config(3), true, 0);
    a.next(ready());
    let told = Duration::from_secs(2);
    assert_eq!(a.next(transient(Some(told))), Step::RetryAfter(told));
}

#[test]
fn backoff_delays_are_capped_by_max_delay() {
    let mut a = Attempts::new(&config(100), true, 0);
    for _ in 0..20 {
        assert_eq!(a.next(ready()), Step::Call);
        let step = a.next(transient(None));
        assert!(is_backoff(&step), "{step:?}");
    }
    assert_eq!(a.next(ready()), Step::Call);
    assert_eq!(
        a.next(transient(None)),
        Step::RetryAfter(Duration::from_millis(50))
    );
}

#[test]
fn retries_exhausted_probe_first_and_an_answer_dead_letters() {
    let mut a = Attempts::new(&config(2), true, 0);
    a.next(ready());
    assert!(is_backoff(&a.next(transient(None))));
    a.next(ready());
    assert_eq!(a.next(transient(None)), Step::Probe);
    assert_eq!(
        a.next(Event::<&str>::ProbeAnswered),
        Step::DeadLetter(
            ErrorKind::RetriesExhausted,
            "2 attempts failed; last: transient: 502 Bad Gateway".into()
        )
    );
}

#[test]
fn retries_exhausted_without_outage_detection_dead_letter_after_the_wait() {
    let mut a = Attempts::new(&config(1), false, 0);
    a.next(ready());
    assert!(is_backoff(&a.next(transient(None))));
    assert_eq!(
        a.next(ready()),
        Step::DeadLetter(
            ErrorKind::RetriesExhausted,
            "1 attempts failed; last: transient: 502 Bad Gateway".into()
        )
    );
}

#[test]
fn a_failed_probe_waits_for_the_app_and_a_confirmed_outage_renews_the_budget() {
    let mut a = Attempts::new(&config(1), true, 4);
    a.next(ready());
    assert_eq!(a.next(transient(None)), Step::Probe);
    assert_eq!(a.next(Event::<&str>::ProbeFailed), Step::WaitForApp);
    // The driver confirmed the outage: 4 -> 5.
    let resumed = Event::<&str>::Ready {
        confirmed_outages: 5,
    };
    assert_eq!(a.next(resumed), Step::Call);
    assert_eq!(a.next(Event::Applied("ok")), Step::Done("ok"));
    assert_eq!(a.made(), 2);
}

#[test]
fn waiting_without_a_confirmed_outage_keeps_the_spent_budget() {
    let mut a = Attempts::new(&config(1), true, 0);
    a.next(ready());
    let paused = Event::<&str>::Failed {
        error: ConnectorError::Transient {
            message: "timeout".into(),
            retry_after: None,
        },
        app_paused: true,
    };
    assert_eq!(a.next(paused), Step::WaitForApp);
    assert!(matches!(
        a.next(ready()),
        Step::DeadLetter(ErrorKind::RetriesExhausted, _)
    ));
}

#[test]
fn permanent_is_dead_lettered_at_once_with_the_apps_message() {
    let mut a = Attempts::new(&config(5), true, 0);
    a.next(ready());
    let refused = Event::<&str>::Failed {
        error: ConnectorError::Permanent {
            message: "400 Bad Request: userName taken".into(),
        },
        app_paused: false,
    };
    assert_eq!(
        a.next(refused),
        Step::DeadLetter(
            ErrorKind::Permanent,
            "400 Bad Request: userName taken".into()
        )
    );
    assert_eq!(a.made(), 1);
}

#[test]
fn unavailable_waits_for_the_app_then_calls_again() {
    let mut a = Attempts::new(&config(5), true, 0);
    a.next(ready());
    let refused = Event::<&str>::Failed {
        error: ConnectorError::Unavailable {
            message: "401 Unauthorized".into(),
        },
        app_paused: true,
    };
    assert_eq!(a.next(refused), Step::WaitForApp);
    assert_eq!(a.next(ready()), Step::Call);
}

#[test]
fn shutdown_abandons_from_any_wait() {
    let mut a = Attempts::new(&config(5), true, 0);
    assert_eq!(a.next(Event::<&str>::Shutdown), Step::Abandon);
    let mut a = Attempts::new(&config(5), true, 0);
    a.next(ready());
    a.next(transient(None));
    assert_eq!(a.next(Event::<&str>::Shutdown), Step::Abandon);
    assert_eq!(a.made(), 1);
}
