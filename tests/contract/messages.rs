//! What the library writes — commands from the pure decision path, result
//! records, dead-letter headers — against the command, result and
//! dead-letter header schemas; and the contract's examples against the types.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use provisioner::commands::Command;
use provisioner::config::Config;
use provisioner::dlq::{self, ErrorKind, Failure};
use provisioner::engine::decide::{decide, reconcile, Trigger, RULES_CHANGED, SCHEDULE_DUE};
use provisioner::engine::state::EmployeeState;
use provisioner::events::{self, HrEvent};
use provisioner::results::{CommandResult, ResultOutcome};
use provisioner::rules::RuleSet;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage, Timestamp};
use serde_json::{json, Map, Value};

use crate::{code_block, code_blocks, contract_section, errors, read, schema};

/// The sample configuration and rules.
fn sample_config() -> (Config, RuleSet) {
    let config = Config::parse(
        Path::new("provisioner.toml"),
        &read("config/provisioner.toml"),
    )
    .expect("the sample configuration is valid");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules");
    let rules = RuleSet::load_dir(&dir, &config.apps).expect("the sample rules are valid");
    (config, rules)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an instant")
        .with_timezone(&Utc)
}

/// Decides `event` at `now` as the engine would, keeping the state.
fn apply(
    states: &mut BTreeMap<String, EmployeeState>,
    event: &HrEvent,
    (config, rules): (&Config, &RuleSet),
    now: DateTime<Utc>,
) -> Vec<Command> {
    let decision = decide(
        states.get(event.employee_id.as_str()),
        event,
        rules,
        config,
        now,
    );
    states.insert(event.employee_id.to_string(), decision.state);
    decision.commands
}

/// Fires every timer due by `until`, as the engine does: the employee
/// decided again when it falls due, under [`SCHEDULE_DUE`] with the due
/// instant as event id.
fn fire_timers(
    states: &mut BTreeMap<String, EmployeeState>,
    (config, rules): (&Config, &RuleSet),
    until: DateTime<Utc>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    for state in states.values_mut() {
        while let Some(due) = state.due.filter(|due| *due <= until) {
            let id = due.to_rfc3339_opts(SecondsFormat::Millis, true);
            let trigger = Trigger {
                event_id: &id,
                event_type: SCHEDULE_DUE,
            };
            commands.extend(reconcile(state, rules, config, &trigger, due).commands);
            assert!(state.due.is_none_or(|next| next > due), "timers move on");
        }
    }
    commands
}

/// The sample events, decided one by one as the engine would when they were
/// sent, then their dates taking effect (the timers fired), then every
/// employee re-evaluated under a narrower rule set (a rules change): every
/// command that produces.
fn sample_commands() -> Vec<Command> {
    let (config, rules) = sample_config();
    let sent = at("2026-11-26T09:00:00Z");
    let mut states: BTreeMap<String, EmployeeState> = BTreeMap::new();
    let mut commands = Vec::new();
    for line in read("config/samples/events.jsonl").lines() {
        let Ok(event) = events::parse(None, line.as_bytes(), 1 << 20) else {
            continue; // the sample meant for the dead-letter topic
        };
        commands.extend(apply(&mut states, &event, (&config, &rules), sent));
    }
    let now = at("2027-02-01T00:00:00Z");
    commands.extend(fire_timers(&mut states, (&config, &rules), now));
    let narrower = RuleSet::from_sources(
        &[("only-support.yaml".into(), "name: Support\ntarget: { field: team, op: is, value: Support }\napps:\n  slack: { provisioning: true, role: admin }\n".into())],
        &config.apps,
    )
    .expect("valid rules");
    let trigger = Trigger {
        event_id: narrower.version(),
        event_type: RULES_CHANGED,
    };
    for state in states.values_mut() {
        commands.extend(reconcile(state, &narrower, &config, &trigger, now).commands);
    }
    commands
}

#[test]
fn commands_the_engine_decides_validate() {
    let validator = schema("command.schema.json");
    let commands = sample_commands();
    for command in &commands {
        let value: Value = serde_json::from_slice(&command.to_json()).expect("JSON");
        assert_eq!(errors(&validator, &value), Vec::<String>::new(), "{value}");
        assert_documented(&schema_json("command.schema.json"), &value, "command");
    }
    // What the samples exercise: hires, a change, a leaver with both leaver
    // policies, and a rules change.
    let count = |f: &dyn Fn(&Value) -> bool| {
        commands
            .iter()
            .filter(|c| f(&serde_json::from_slice(&c.to_json()).expect("JSON")))
            .count()
    };
    assert!(count(&|c| c["action"] == "upsert") > 0);
    assert!(count(&|c| c["deprovision"] == "suspend") > 0);
    assert!(count(&|c| c["deprovision"] == "delete") > 0);
    assert!(count(&|c| c["cause"]["event_type"] == RULES_CHANGED) > 0);
    assert!(count(&|c| c["cause"]["effective"]["field"] == "start_date") > 0);
    // And the schema refuses what a connector would refuse or misread.
    let good: Value = serde_json::from_slice(&commands[0].to_json()).expect("JSON");
    for (what, bad) in [
        ("no account", without(&good, "account")),
        ("upsert without role", without(&good, "role")),
        ("unknown action", with(&good, "action", json!("create"))),
        ("generation 0", with(&good, "generation", json!(0))),
        (
            "issued_at without ms",
            with(&good, "issued_at", json!("2026-11-26T09:00:00Z")),
        ),
        (
            "upsert with a leaver policy",
            with(&good, "deprovision", json!("suspend")),
        ),
    ] {
        assert!(!validator.is_valid(&bad), "{what}: accepted {bad}");
    }
}

#[test]
fn the_contract_command_examples_round_trip_and_validate() {
    let examples = code_blocks(&contract_section("## 5."), "json");
    assert_eq!(
        examples.len(),
        3,
        "an event's command, a date's, a re-assert"
    );
    let reassert: Command = serde_json::from_str(&examples[2]).expect("a Command");
    assert!(reassert.is_reassert());
    for text in examples {
        let example: Value = serde_json::from_str(&text).expect("the example is JSON");
        let command: Command = serde_json::from_value(example.clone()).expect("a Command");
        let back: Value = serde_json::from_slice(&command.to_json()).expect("JSON");
        // Same fields, values and order.
        assert_eq!(
            serde_json::to_string_pretty(&back).expect("JSON"),
            serde_json::to_string_pretty(&example).expect("JSON")
        );
        assert_eq!(
            errors(&schema("command.schema.json"), &example),
            Vec::<String>::new()
        );
    }
}

/// A sample line of `config/samples/events.jsonl` (1-based), edited.
fn sample_event(line: usize, edit: impl FnOnce(&mut Value)) -> HrEvent {
    let text = read("config/samples/events.jsonl");
    let mut value: Value =
        serde_json::from_str(text.lines().nth(line - 1).expect("a sample line")).expect("JSON");
    edit(&mut value);
    let bytes = serde_json::to_vec(&value).expect("JSON");
    events::parse(None, &bytes, 1 << 20).expect("a valid event")
}

/// CONTRACT §5's second example is what the engine writes when Grace's end
/// date takes effect: her hire (in Madrid's zone) waits for her first day,
/// her `left` (sent after it) for the end of her last one, each taken up by a
/// timer whose commands name the date.
#[test]
fn a_date_taking_effect_is_the_contract_example() {
    let (config, rules) = sample_config();
    let both = (&config, &rules);
    let madrid = |v: &mut Value| v["data"]["employee"]["time_zone"] = json!("Europe/Madrid");
    let hire = sample_event(2, madrid);
    let left = sample_event(7, |v| v["time"] = json!("2026-12-10T09:00:00Z"));
    let mut states = BTreeMap::new();

    let sent = at("2026-11-26T09:00:00Z");
    assert!(apply(&mut states, &hire, both, sent).is_empty(), "pending");
    let first_day = at("2026-11-30T23:00:00Z"); // 1 December, 00:00 in Madrid
    assert_eq!(states["E1002"].due, Some(first_day));
    assert!(fire_timers(
        &mut states,
        both,
        first_day - chrono::Duration::milliseconds(1)
    )
    .is_empty());
    let made = fire_timers(&mut states, both, first_day);
    assert_eq!(made.len(), 3, "slack, wiki and zendesk: {made:?}");
    for command in &made {
        let cause = &command.cause;
        assert_eq!(cause.event_type, SCHEDULE_DUE);
        assert_eq!(cause.event_id, "2026-11-30T23:00:00.000Z");
        let effective = cause.effective.as_ref().expect("the date is named");
        assert_eq!(
            (
                effective.field.as_str(),
                effective.date.as_str(),
                effective.at
            ),
            ("start_date", "2026-12-01", first_day)
        );
    }

    let told = at("2026-12-10T09:00:00Z");
    assert!(apply(&mut states, &left, both, told).is_empty(), "waits");
    let last_day_over = at("2026-12-31T23:00:00Z");
    assert_eq!(states["E1002"].due, Some(last_day_over));
    let taken = fire_timers(&mut states, both, last_day_over);
    assert_eq!(taken.len(), 3, "{taken:?}");
    assert_eq!(states["E1002"].due, None, "nothing left to happen");
    let slack = taken
        .iter()
        .find(|c| c.app.as_ref() == "slack")
        .expect("slack");
    let mut written: Value = serde_json::from_slice(&slack.to_json()).expect("JSON");
    let examples = code_blocks(&contract_section("## 5."), "json");
    let example: Value = serde_json::from_str(&examples[1]).expect("JSON");
    // What the example cannot know: the rules' hash and when the engine ran.
    written["cause"]["rules_version"] = example["cause"]["rules_version"].clone();
    assert_eq!(written["issued_at"], "2026-12-31T23:00:00.000Z");
    written["issued_at"] = example["issued_at"].clone();
    assert_eq!(written, example);
}

#[test]
fn the_schema_refuses_a_misnamed_date() {
    let validator = schema("command.schema.json");
    let examples = code_blocks(&contract_section("## 5."), "json");
    let good: Value = serde_json::from_str(&examples[1]).expect("JSON");
    assert!(validator.is_valid(&good));
    let cause = |edit: &dyn Fn(&mut Value)| {
        let mut bad = good.clone();
        edit(&mut bad["cause"]);
        bad
    };
    for (what, bad) in [
        (
            "a date on an HR event's command",
            cause(&|c| c["event_type"] = json!("hr.employee.left")),
        ),
        (
            "a timer's event id that is not its instant",
            cause(&|c| c["event_id"] = json!("evt-0007")),
        ),
        (
            "an unknown date field",
            cause(&|c| c["effective"]["field"] = json!("hire_date")),
        ),
        (
            "an instant without milliseconds",
            cause(&|c| c["effective"]["at"] = json!("2026-12-31T23:00:00Z")),
        ),
        (
            "no instant",
            cause(&|c| {
                c["effective"]
                    .as_object_mut()
                    .expect("an object")
                    .remove("at");
            }),
        ),
    ] {
        assert!(!validator.is_valid(&bad), "{what}: accepted {bad}");
    }
}

#[test]
fn result_records_validate() {
    let validator = schema("result.schema.json");
    let text = code_block(&contract_section("## 6."), "json");
    let example: CommandResult = serde_json::from_str(&text).expect("the example is a result");
    let outcomes = [
        (ResultOutcome::Applied, Some("2819c223".to_string()), None),
        (ResultOutcome::Unchanged, Some("2819c223".to_string()), None),
        (ResultOutcome::Superseded, None, None),
        (
            ResultOutcome::DeadLettered,
            None,
            Some("app answered 422".to_string()),
        ),
    ];
    for (outcome, app_account_id, error) in outcomes {
        let result = CommandResult {
            outcome,
            app_account_id,
            error,
            ..example.clone()
        };
        let value = serde_json::to_value(&result).expect("JSON");
        assert_eq!(errors(&validator, &value), Vec::<String>::new(), "{value}");
        assert_documented(&schema_json("result.schema.json"), &value, "result");
        let back: CommandResult = serde_json::from_value(value).expect("reads back");
        assert_eq!(back, result);
    }
    let reasserted = CommandResult {
        reassert: Some("reconcile-0b5c0c1e-6f1d-4a47-9d1e-2f8f6b1d7a10".into()),
        ..example.clone()
    };
    let value = serde_json::to_value(&reasserted).expect("JSON");
    assert_eq!(errors(&validator, &value), Vec::<String>::new(), "{value}");
    assert_documented(&schema_json("result.schema.json"), &value, "result");
    assert!(
        serde_json::to_value(&example)
            .expect("JSON")
            .get("reassert")
            .is_none(),
        "absent on every other result"
    );
    let good = serde_json::to_value(&example).expect("JSON");
    assert!(!validator.is_valid(&with(&good, "outcome", json!("failed"))));
    assert!(
        !validator.is_valid(&without(&good, "error")),
        "every field is always present"
    );
}

/// The headers of a record as an object of strings.
fn header_object(headers: &OwnedHeaders) -> Value {
    let mut out = Map::new();
    for h in headers.iter() {
        let value = std::str::from_utf8(h.value.unwrap_or_default()).expect("UTF-8 header");
        out.insert(h.key.to_string(), Value::String(value.to_string()));
    }
    Value::Object(out)
}

#[test]
fn dead_letter_headers_validate() {
    let validator = schema("dlq-headers.schema.json");
    let original = OwnedMessage::new(
        Some(b"{\"app\":\"slack\"}".repeat(100)),
        Some(b"E1001".to_vec()),
        "provisioning.commands.slack".into(),
        Timestamp::CreateTime(1_764_147_600_123),
        3,
        42,
        Some(OwnedHeaders::new().insert(Header {
            key: "dlq.replay.count",
            value: Some("1"),
        })),
    );
    let command = Failure {
        kind: ErrorKind::RetriesExhausted,
        message: "5 attempts failed; last: ada@acme.test: 503".into(),
        attempts: 5,
        app: Some("slack".into()),
    };
    let event = Failure {
        kind: ErrorKind::InvalidEvent,
        message: "missing field `data`".into(),
        attempts: 1,
        app: None,
    };
    let whole = header_object(&dlq::headers(&original, &command));
    let cut = header_object(&dlq::copy(&original, &event, 1000).headers);
    assert!(
        cut.get(dlq::VALUE_DROPPED).is_some(),
        "the small copy dropped its value: {cut}"
    );
    for headers in [&whole, &cut] {
        assert_eq!(
            errors(&validator, headers),
            Vec::<String>::new(),
            "{headers}"
        );
        assert_documented(&schema_json("dlq-headers.schema.json"), headers, "headers");
    }
    assert!(!validator.is_valid(&without(&whole, "dlq.error.kind")));
    assert!(!validator.is_valid(&with(&whole, "dlq.error.kind", json!("oops"))));
    assert!(
        !validator.is_valid(&with(&whole, "dlq.attempts", json!(5))),
        "values are strings"
    );
}

fn schema_json(name: &str) -> Value {
    serde_json::from_str(&read(&format!("docs/schemas/{name}"))).expect("JSON")
}

/// Every `dlq.*` header, and every top-level field of a command or result,
/// is named in the schema's `properties`: nothing written is undocumented.
fn assert_documented(schema: &Value, instance: &Value, what: &str) {
    let properties = schema["properties"].as_object().expect("properties");
    for key in instance.as_object().expect("an object").keys() {
        if what == "headers" && !key.starts_with("dlq.") {
            continue; // the original record's own headers
        }
        assert!(
            properties.contains_key(key),
            "{what}: `{key}` is not in the schema"
        );
    }
}

fn with(value: &Value, field: &str, new: Value) -> Value {
    let mut copy = value.clone();
    copy[field] = new;
    copy
}

fn without(value: &Value, field: &str) -> Value {
    let mut copy = value.clone();
    copy.as_object_mut().expect("an object").remove(field);
    copy
}
