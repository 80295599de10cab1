//! docs/CONTRACT.md and its machine-readable forms (docs/schemas/*.json,
//! docs/asyncapi.yaml) checked against the code: the schemas accept what the
//! library produces and refuse what its parsers refuse, and the contract's
//! tables (metrics, configuration keys) and examples equal what the code
//! exposes. No broker needed.

mod asyncapi;
mod config_keys;
mod events;
mod findings;
mod messages;
mod metrics;
mod rules_store;

use std::path::PathBuf;

use jsonschema::{Draft, Validator};
use serde_json::Value;

/// A file of the repository, by its path from the root.
pub fn read(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `docs/schemas/<name>`, checked against the draft 2020-12 meta-schema and
/// compiled with format assertion on (`date`, `date-time`), as CONTRACT.md
/// tells integrators to validate.
pub fn schema(name: &str) -> Validator {
    let path = format!("docs/schemas/{name}");
    let schema: Value =
        serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{path}: declares draft 2020-12"
    );
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("{path}: not a valid JSON Schema: {e}");
    }
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{path}: cannot compile: {e}"))
}

/// Every error the validator finds, for assertion messages.
pub fn errors(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The text of one section of docs/CONTRACT.md: from the heading that starts
/// with `heading` (e.g. `## 5.`) to the next `## ` heading.
pub fn contract_section(heading: &str) -> String {
    let text = read("docs/CONTRACT.md");
    let start = text
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("CONTRACT.md has no section {heading:?}"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The first fenced block of `lang` in `section`.
pub fn code_block(section: &str, lang: &str) -> String {
    code_blocks(section, lang)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no ```{lang} block in:\n{section}"))
}

/// Every fenced block of `lang` in `section`, in order.
pub fn code_blocks(section: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        let len = rest.find("```").expect("an unclosed code block");
        out.push(rest[..len].to_string());
        rest = &rest[len + 3..];
    }
    out
}

/// The rows of the first Markdown table in `section` whose header's first
/// cell is `first_header`, as cells with surrounding spaces trimmed.
pub fn table(section: &str, first_header: &str) -> Vec<Vec<String>> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = section.lines().skip_while(|l| {
        !(l.starts_with('|') && cells(l).first().map(String::as_str) == Some(first_header))
    });
    assert!(lines.next().is_some(), "no table headed {first_header:?}");
    lines
        .skip(1) // the |---| line
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .collect()
}

/// The text between the first pair of backticks of a cell, if any.
pub fn backticked(cell: &str) -> Option<&str> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    Some(&cell[start..start + len])
}
