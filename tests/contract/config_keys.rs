//! CONTRACT §9's configuration table against the config structs: the same
//! keys, both ways, and the documented defaults are the structs' defaults.
//!
//! The structs' keys are read from the parser itself: `Config::parse`
//! refuses an unknown key by listing the ones it expects (serde's "unknown
//! field `x`, expected one of …"), so probing each table with an unknown key
//! walks the whole tree without a second list to keep in step.

use std::collections::BTreeSet;
use std::path::Path;

use provisioner::config::Config;

use crate::{backticked, contract_section, table};

const PROBE: &str = "__no_such_key";

/// `(key, default cell)` of every row of the table.
fn documented() -> Vec<(String, String)> {
    table(&contract_section("## 9."), "key")
        .into_iter()
        .map(|row| (row[0].trim_matches('`').to_string(), row[1].clone()))
        .collect()
}

/// A dotted key with its placeholders filled in: `<name>` an app, `<role>`
/// one of its roles.
fn concrete(key: &str) -> String {
    key.replace("<name>", "x").replace("<role>", "member")
}

/// TOML setting `path` (dotted, placeholders filled) to `value`.
fn assign(path: &str, value: &str) -> String {
    format!("{} = {value}\n", concrete(path))
}

/// The fields the struct at `path` accepts, or `None` when `path` is not a
/// struct (a value, or a map of values).
fn fields_at(path: &str) -> Option<Vec<String>> {
    let text = if path.is_empty() {
        format!("{PROBE} = 1\n")
    } else {
        assign(path, &format!("{{ {PROBE} = 1 }}"))
    };
    let message = match Config::parse(Path::new("probe.toml"), &text) {
        Ok(_) => return None,
        Err(e) => e.to_string(),
    };
    if !message.contains(&format!("unknown field `{PROBE}`")) {
        return None;
    }
    let expected = message.split(", expected ").nth(1).unwrap_or("");
    Some(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect(),
    )
}

/// Every leaf key the structs accept, as dotted paths with placeholders for
/// map keys (`apps.<name>`, `role_map.<role>`).
fn struct_keys(path: &str, out: &mut BTreeSet<String>) {
    let Some(fields) = fields_at(path) else {
        // A map whose values are structs gets a placeholder.
        let placeholder = match path.rsplit('.').next() {
            Some("apps") => "<name>",
            Some("role_map") => "<role>",
            _ => {
                out.insert(path.to_string());
                return;
            }
        };
        return struct_keys(&format!("{path}.{placeholder}"), out);
    };
    for field in fields {
        let child = if path.is_empty() {
            field
        } else {
            format!("{path}.{field}")
        };
        struct_keys(&child, out);
    }
}

#[test]
fn documented_keys_equal_the_structs_keys() {
    let documented: BTreeSet<String> = documented().into_iter().map(|(k, _)| k).collect();
    let mut real = BTreeSet::new();
    struct_keys("", &mut real);
    assert!(
        real.contains("apps.<name>.retry.max_attempts"),
        "the walk reached nested tables: {real:?}"
    );
    let missing: Vec<_> = real.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&real).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "keys the structs have but CONTRACT §9 lacks: {missing:?}; \
         keys CONTRACT §9 lists that the structs lack: {unknown:?}"
    );
}

/// The documented default, when it is one TOML value in backticks.
fn literal(default: &str) -> Option<&str> {
    let value = backticked(default)?;
    (default == format!("`{value}`")).then_some(value)
}

#[test]
fn documented_defaults_are_the_defaults() {
    let rows = documented();
    // The process-wide sections: every literal default written out gives
    // the same configuration as an empty file.
    let text: String = rows
        .iter()
        .filter(|(key, _)| !key.starts_with("apps."))
        .filter_map(|(key, default)| Some(assign(key, literal(default)?)))
        .collect();
    assert!(
        text.lines().count() > 30,
        "most defaults are literal:\n{text}"
    );
    let written =
        Config::parse(Path::new("defaults.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let empty = Config::parse(Path::new("empty.toml"), "").expect("an empty file is valid");
    assert_eq!(format!("{written:?}"), format!("{empty:?}"), "{text}");

    // An app: the required keys alone, then with every literal default.
    let required = [
        assign("apps.<name>.connector", "\"zendesk\""),
        assign("apps.<name>.base_url", "\"https://x.test\""),
        assign("apps.<name>.roles", "[\"member\"]"),
    ]
    .concat();
    let defaults: String = rows
        .iter()
        .filter(|(key, _)| key.starts_with("apps.") && !key.contains("role_map"))
        .filter_map(|(key, default)| Some(assign(key, literal(default)?)))
        .collect();
    assert!(defaults.lines().count() >= 9, "{defaults}");
    let bare = Config::parse(Path::new("app.toml"), &required).expect("valid");
    let full = Config::parse(Path::new("app.toml"), &format!("{required}{defaults}"))
        .unwrap_or_else(|e| panic!("{e}\n{defaults}"));
    assert_eq!(
        format!("{:?}", full.apps["x"]),
        format!("{:?}", bare.apps["x"])
    );
}
