//! CONTRACT §8's metrics table against the registry: the same families, of
//! the same types, with the same label names and known label values.

use std::collections::{BTreeMap, BTreeSet};

use provisioner::metrics::{Metrics, Situation};

use crate::{contract_section, table};

/// One family as the table documents it or the registry renders it.
#[derive(Debug, PartialEq, Eq)]
struct Family {
    kind: String,
    labels: BTreeMap<String, BTreeSet<String>>,
}

/// The table: name → type and labels (with their known values, where listed).
fn documented() -> BTreeMap<String, Family> {
    let section = contract_section("## 8.");
    let mut out = BTreeMap::new();
    for row in table(&section, "metric") {
        let name = row[0].trim_matches('`').to_string();
        let kind = row[1]
            .split_whitespace()
            .next()
            .expect("a type")
            .to_string();
        let mut labels = BTreeMap::new();
        for part in row[2].split(',').filter(|p| p.contains('`')) {
            // "`label` = `v1` `v2`" or "`label` (a remark)"
            let (label, values) = part.split_once('=').unwrap_or((part, ""));
            let label = crate::backticked(label)
                .expect("a backticked label")
                .to_string();
            let values = values
                .split('`')
                .skip(1)
                .step_by(2)
                .map(String::from)
                .collect();
            labels.insert(label, values);
        }
        out.insert(name, Family { kind, labels });
    }
    out
}

/// A registry with every series created, as a running engine, connector and
/// replay have them, rendered and read back.
fn rendered() -> BTreeMap<String, Family> {
    let m = Metrics::new();
    m.init_engine([&"slack".to_string()]);
    m.init_connector("slack");
    m.set_rules_version(None, "sha256:00");
    m.set_consumer_lag("hr.employee.events", 0, 0);
    m.replayed("hr.employee.events", 1);
    let counts = Situation::ALL.iter().map(|&s| (s, 0)).collect::<Vec<_>>();
    m.reconciled("slack", &counts, 0);
    let text = m.render();
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().expect("name"), words.next().expect("type"));
        let name = match kind {
            "counter" => format!("{name}_total"),
            _ => name.to_string(),
        };
        let family = Family {
            kind: kind.to_string(),
            labels: BTreeMap::new(),
        };
        families.insert(name, family);
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let sample = line.split(['{', ' ']).next().expect("a name");
        let family = families
            .keys()
            .filter(|f| {
                sample == f.as_str()
                    || ["_bucket", "_sum", "_count", "_created"]
                        .iter()
                        .any(|s| sample == format!("{f}{s}"))
            })
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample {line:?} of no family"))
            .clone();
        let labels = line
            .split_once('{')
            .map_or("", |(_, rest)| rest.split('}').next().unwrap_or(""));
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (label, value) = pair.split_once('=').expect("label=value");
            if label == "le" {
                continue; // a histogram's buckets
            }
            let values = families
                .get_mut(&family)
                .expect("known")
                .labels
                .entry(label.into());
            values
                .or_default()
                .insert(value.trim_matches('"').to_string());
        }
    }
    families
}

#[test]
fn the_metrics_table_equals_the_registry() {
    let documented = documented();
    let rendered = rendered();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        rendered.keys().collect::<Vec<_>>(),
        "metric names: CONTRACT §8 (left) vs the registry (right)"
    );
    for (name, doc) in &documented {
        let real = &rendered[name];
        assert_eq!(doc.kind, real.kind, "{name}: type");
        assert_eq!(
            doc.labels.keys().collect::<Vec<_>>(),
            real.labels.keys().collect::<Vec<_>>(),
            "{name}: label names"
        );
        for (label, values) in &doc.labels {
            if !values.is_empty() {
                // The documented values are exactly those created at zero.
                assert_eq!(values, &real.labels[label], "{name}: values of {label}");
            }
        }
    }
}
