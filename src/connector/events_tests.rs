use super::*;

fn result(app: &str, outcome: ResultOutcome) -> CommandResult {
    CommandResult {
        command_id: format!("{app}:E1:1"),
        app: app.into(),
        employee_id: "E1".into(),
        generation: 1,
        outcome,
        app_account_id: None,
        attempts: 1,
        duration_ms: 3,
        error: None,
        reassert: None,
    }
}

fn assert_series(metrics: &Metrics, series: &[&str]) {
    let text = metrics.render();
    for s in series {
        assert!(text.contains(s), "{s} in {text}");
    }
}

#[test]
fn the_outcome_label_is_the_result_records_outcome() {
    for outcome in [
        ResultOutcome::Applied,
        ResultOutcome::Unchanged,
        ResultOutcome::Superseded,
        ResultOutcome::DeadLettered,
    ] {
        let wire = serde_json::to_value(outcome).unwrap_or_default();
        assert_eq!(
            Some(Outcome::from(outcome).as_str()),
            wire.as_str(),
            "{outcome:?}"
        );
    }
}

#[test]
fn handled_commands_count_by_outcome_once_each() {
    let metrics = Metrics::new();
    CommandHandled(&result("crm", ResultOutcome::Applied)).emit(&metrics);
    CommandHandled(&result("crm", ResultOutcome::Applied)).emit(&metrics);
    CommandHandled(&result("wiki", ResultOutcome::Superseded)).emit(&metrics);
    assert_series(
        &metrics,
        &[
            "provisioner_connector_requests_total{app=\"crm\",outcome=\"applied\"} 2",
            "provisioner_connector_requests_total{app=\"wiki\",outcome=\"superseded\"} 1",
        ],
    );
    assert!(!metrics.render().contains("outcome=\"unchanged\""));
}

#[test]
fn a_refused_record_is_a_dead_lettered_request_and_dead_letter() {
    let metrics = Metrics::new();
    RecordRefused {
        app: "crm",
        partition: 0,
        offset: 7,
        kind: ErrorKind::UnknownApp,
        reason: "app \"x\" is not in the catalogue",
    }
    .emit(&metrics);
    assert_series(
        &metrics,
        &[
            "provisioner_commands_dead_lettered_total{app=\"crm\",kind=\"unknown_app\"} 1",
            "provisioner_connector_requests_total{app=\"crm\",outcome=\"dead_lettered\"} 1",
        ],
    );
}

#[test]
fn a_dead_lettered_command_counts_its_kind_but_not_its_request() {
    let metrics = Metrics::new();
    CommandDeadLettered {
        app: "crm",
        kind: ErrorKind::RetriesExhausted,
        attempts: 3,
        reason: "transient: 503",
    }
    .emit(&metrics);
    assert_series(
        &metrics,
        &["provisioner_commands_dead_lettered_total{app=\"crm\",kind=\"retries_exhausted\"} 1"],
    );
    assert!(
        !metrics
            .render()
            .contains("provisioner_connector_requests_total{"),
        "the request is counted with its result"
    );
}

#[test]
fn only_calls_after_the_first_are_retries_and_every_answer_is_timed() {
    let metrics = Metrics::new();
    for attempt in 1..=3 {
        CallStarted {
            app: "crm",
            attempt,
        }
        .emit(&metrics);
        CallAnswered {
            app: "crm",
            took: Duration::from_millis(10),
        }
        .emit(&metrics);
    }
    assert_series(
        &metrics,
        &[
            "provisioner_connector_retries_total{app=\"crm\"} 2",
            "provisioner_connector_request_seconds_count{app=\"crm\"} 3",
        ],
    );
}
