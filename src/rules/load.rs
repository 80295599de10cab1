//! Files in, compiled rules out: reading the rules directory, parsing each
//! file, and the checks that span files (unique rule names).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::problem::{Problems, RuleProblem};
use super::regexes::Regexes;
use super::rule::{self, Rule};
use super::yaml::{self, NodeKind};
use crate::config::AppConfig;

/// Reads every `*.yaml` / `*.yml` file of `dir`, sorted by file name.
///
/// Not recursive; hidden files (a leading `.`, as editors' lock and swap
/// files have) and non-files are skipped. A missing, unreadable or empty
/// directory and an unreadable file are problems at line 0.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, String)>, Vec<RuleProblem>> {
    let at_zero = |file: &Path, message: String| RuleProblem {
        file: file.to_path_buf(),
        line: 0,
        message,
    };
    let listing = std::fs::read_dir(dir).map_err(|e| {
        vec![at_zero(
            dir,
            format!("cannot read the rules directory: {e}"),
        )]
    })?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| {
            vec![at_zero(
                dir,
                format!("cannot read the rules directory: {e}"),
            )]
        })?;
        let name = entry.file_name();
        let text_name = name.to_string_lossy();
        let is_rules = !text_name.starts_with('.')
            && (text_name.ends_with(".yaml") || text_name.ends_with(".yml"));
        // `metadata` follows symlinks, so a linked file counts.
        if is_rules && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(vec![at_zero(
            dir,
            "no rule files (*.yaml, *.yml) in the rules directory".to_string(),
        )]);
    }
    names.sort();
    let mut sources = Vec::with_capacity(names.len());
    let mut problems = Vec::new();
    for name in names {
        let path = dir.join(name);
        match read_file(&path) {
            Ok(text) => sources.push((path, text)),
            Err(message) => problems.push(at_zero(&path, message)),
        }
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    }
}

/// One rule file's text, reading no more than [`yaml::MAX_FILE_BYTES`] and
/// one byte: a larger file is refused before it costs its size in memory.
fn read_file(path: &Path) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("cannot read the rule file: {e}");
    let file = File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    let limit = yaml::MAX_FILE_BYTES as u64;
    if size > limit {
        return Err(yaml::too_large(size));
    }
    let mut text = String::new();
    // The file may grow between the size check and the read.
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > limit {
        return Err(yaml::too_large(text.len() as u64));
    }
    Ok(text)
}

/// Parses and compiles every source in order; all problems or all rules.
pub(crate) fn compile_sources(
    sources: &[(PathBuf, String)],
    apps: &BTreeMap<String, AppConfig>,
) -> Result<Vec<Rule>, Vec<RuleProblem>> {
    if sources.is_empty() {
        return Err(vec![RuleProblem {
            file: PathBuf::new(),
            line: 0,
            message: "no rule files were given".to_string(),
        }]);
    }
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    // Rule name -> where it was first defined.
    let mut names: HashMap<String, (PathBuf, usize)> = HashMap::new();
    // Shared by every file: one budget and one copy of each regex per set.
    let mut regexes = Regexes::default();
    for (file, text) in sources {
        let mut p = Problems::new(file);
        compile_file(&mut p, &mut regexes, text, apps, &mut names, &mut rules);
        problems.extend(p.into_vec());
    }
    if problems.is_empty() {
        return Ok(rules);
    }
    // Files in load order, lines ascending within a file; drop repeats
    // (a YAML alias can make one node report twice).
    let order: HashMap<&Path, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, (file, _))| (file.as_path(), i))
        .collect();
    problems.sort_by_key(|p| (order.get(p.file.as_path()).copied(), p.line));
    problems.dedup();
    Err(problems)
}

/// One file: YAML syntax, then each rule it holds.
fn compile_file(
    p: &mut Problems<'_>,
    regexes: &mut Regexes,
    text: &str,
    apps: &BTreeMap<String, AppConfig>,
    names: &mut HashMap<String, (PathBuf, usize)>,
    rules: &mut Vec<Rule>,
) {
    let documents = match yaml::parse(text) {
        Ok(documents) => documents,
        Err(err) => {
            p.report(err.line, err.message);
            return;
        }
    };
    let mut seen = 0;
    for document in &documents {
        let items = match &document.kind {
            // An empty document (`---` alone) holds nothing.
            _ if document.is_null() => continue,
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Map(_) => std::slice::from_ref(document),
            NodeKind::Scalar(..) => {
                p.report(
                    document.line,
                    format!(
                        "a rule file holds a rule (a mapping) or a list of rules, found {}",
                        document.describe()
                    ),
                );
                seen += 1;
                continue;
            }
        };
        for item in items {
            seen += 1;
            let compiled = rule::compile(p, regexes, item, apps);
            if let Some((name, line)) = compiled.name {
                note_name(p, names, name, line);
            }
            rules.extend(compiled.rule);
        }
    }
    if seen == 0 {
        p.report(
            0,
            "the file holds no rule; write a rule (a mapping) or a list of rules, or delete the file",
        );
    }
}

/// Records where rule `name` is defined, reporting it if already defined.
fn note_name(
    p: &mut Problems<'_>,
    names: &mut HashMap<String, (PathBuf, usize)>,
    name: String,
    line: usize,
) {
    match names.get(&name) {
        Some((first_file, first_line)) => p.report(
            line,
            format!(
                "duplicate rule name {name:?}; first defined at {}:{first_line}",
                first_file.display()
            ),
        ),
        None => {
            names.insert(name, (p.file().to_path_buf(), line));
        }
    }
}
