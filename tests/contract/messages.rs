//! What the library writes — commands from the pure decision path, result
//! records, dead-letter headers — against the command, result and
//! dead-letter header schemas; and the contract's examples against the types.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{TimeZone, Utc};
use provisioner::commands::Command;
use provisioner::config::Config;
use provisioner::dlq::{self, ErrorKind, Failure};
use provisioner::engine::decide::{decide, reconcile, Trigger, RULES_CHANGED};
use provisioner::engine::state::EmployeeState;
use provisioner::events;
use provisioner::results::{CommandResult, ResultOutcome};
use provisioner::rules::RuleSet;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage, Timestamp};
use serde_json::{json, Map, Value};

use crate::{code_block, contract_section, errors, read, schema};

/// The sample configuration, rules and events, decided one by one as the
/// engine would, then every employee re-evaluated under a narrower rule set
/// (a rules change): every command that produces.
fn sample_commands() -> Vec<Command> {
    let config = Config::parse(
        Path::new("provisioner.toml"),
        &read("config/provisioner.toml"),
    )
    .expect("the sample configuration is valid");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules");
    let rules = RuleSet::load_dir(&dir, &config.apps).expect("the sample rules are valid");
    let now = Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .expect("a date");
    let mut states: BTreeMap<String, EmployeeState> = BTreeMap::new();
    let mut commands = Vec::new();
    for line in read("config/samples/events.jsonl").lines() {
        let Ok(event) = events::parse(None, line.as_bytes(), 1 << 20) else {
            continue; // the sample meant for the dead-letter topic
        };
        let decision = decide(
            states.get(event.employee_id.as_str()),
            &event,
            &rules,
            &config,
            now,
        );
        commands.extend(decision.commands);
        states.insert(event.employee_id.to_string(), decision.state);
    }
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
fn the_contract_command_example_round_trips_and_validates() {
    let text = code_block(&contract_section("## 5."), "json");
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
