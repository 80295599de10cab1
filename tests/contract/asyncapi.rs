//! docs/asyncapi.yaml: AsyncAPI 3.0, its channels at the default topic
//! names, its operations on existing channels, its schemas existing.

use provisioner::config::TopicsConfig;
use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use serde_json::{Map, Value};

use crate::{read, schema};

/// The YAML tree as JSON, for easy navigation.
fn to_json(node: &YamlOwned) -> Value {
    match node {
        YamlOwned::Value(ScalarOwned::Null) => Value::Null,
        YamlOwned::Value(ScalarOwned::Boolean(b)) => Value::Bool(*b),
        YamlOwned::Value(ScalarOwned::Integer(i)) => Value::from(*i),
        YamlOwned::Value(ScalarOwned::FloatingPoint(f)) => Value::from(f.into_inner()),
        YamlOwned::Value(ScalarOwned::String(s)) => Value::String(s.clone()),
        YamlOwned::Representation(s, _, _) => Value::String(s.clone()),
        YamlOwned::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        YamlOwned::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        other => panic!("unexpected YAML node {other:?}"),
    }
}

fn document() -> Value {
    let docs = YamlOwned::load_from_str(&read("docs/asyncapi.yaml")).expect("valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    to_json(&docs[0])
}

/// Every string value under `key` anywhere in the tree.
fn all_values(tree: &Value, key: &str, out: &mut Vec<String>) {
    match tree {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == key => out.push(s.clone()),
                    _ => all_values(v, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| all_values(v, key, out)),
        _ => {}
    }
}

#[test]
fn asyncapi_describes_the_default_topics() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let t = TopicsConfig::default();
    let mut expected = vec![
        t.events.clone(),
        format!("{}{{app}}", t.commands_prefix),
        t.state.clone(),
        t.control.clone(),
        t.results.clone(),
        t.events_dlq.clone(),
        t.commands_dlq.clone(),
        t.reconcile_findings.clone(),
        t.rules.clone(),
    ];
    let channels = doc["channels"].as_object().expect("channels");
    let mut addresses: Vec<String> = channels
        .values()
        .map(|c| c["address"].as_str().expect("an address").to_string())
        .collect();
    expected.sort();
    addresses.sort();
    assert_eq!(addresses, expected);
}

#[test]
fn asyncapi_references_resolve() {
    let doc = document();
    let mut refs = Vec::new();
    all_values(&doc, "$ref", &mut refs);
    let mut files = 0;
    for r in &refs {
        if let Some(pointer) = r.strip_prefix('#') {
            assert!(doc.pointer(pointer).is_some(), "{r} points at nothing");
        } else {
            let name = r
                .strip_prefix("./schemas/")
                .unwrap_or_else(|| panic!("{r}: not a schema"));
            drop(schema(name)); // exists, is a valid draft 2020-12 schema
            files += 1;
        }
    }
    assert!(files >= 4, "messages refer to the JSON schemas: {refs:?}");
    // Operations for each process, on declared channels.
    let operations = doc["operations"].as_object().expect("operations");
    for process in ["engine", "connector", "replay", "held"] {
        assert!(
            operations.keys().any(|k| k.starts_with(process)),
            "no {process} operation"
        );
    }
    for (name, op) in operations {
        assert!(
            matches!(op["action"].as_str(), Some("send" | "receive")),
            "{name}"
        );
    }
}
