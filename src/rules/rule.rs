//! One rule: who (`target`) gets what (`apps`), checked against the app
//! catalogue when it loads.

use std::collections::BTreeMap;

use super::check;
use super::compile_condition;
use super::condition::Condition;
use super::problem::{list, Problems};
use super::regexes::Regexes;
use super::yaml::Node;
use crate::config::AppConfig;
use crate::ids::{AppName, RoleName, RuleName};

/// The keys of a rule.
const RULE_KEYS: [&str; 4] = ["name", "description", "target", "apps"];
/// The keys of one app entry of a rule.
const APP_KEYS: [&str; 2] = ["provisioning", "role"];

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Unique across the rule set; quoted in previews and command causes.
    pub name: RuleName,
    /// Who the rule applies to.
    pub target: Condition,
    /// What it gives, in the order written.
    pub apps: Vec<AppRole>,
}

/// One `apps` entry of a rule, with its role's rank resolved.
#[derive(Debug, Clone)]
pub(crate) struct AppRole {
    /// The app's catalogue name (shared: a decision's commands and states
    /// clone the pointer).
    pub app: AppName,
    /// The role given.
    pub role: RoleName,
    /// Index of `role` in the app's `roles` (higher = more privileged).
    pub rank: usize,
    /// `false` keeps the entry but provisions nothing (CONTRACT §4).
    pub provisioning: bool,
}

/// What compiling one rule mapping yielded.
pub(crate) struct Compiled {
    /// The name and its line, when readable — even if the rule has other
    /// problems, so duplicate names are still found.
    pub name: Option<(String, usize)>,
    /// The rule, when it had no problem at all.
    pub rule: Option<Rule>,
}

/// Compiles one rule mapping, reporting every problem in it; its regexes
/// come from the rule set's `rx`.
pub(crate) fn compile(
    p: &mut Problems<'_>,
    rx: &mut Regexes,
    node: &Node,
    apps: &BTreeMap<String, AppConfig>,
) -> Compiled {
    let before = p.count();
    let Some(entries) = check::mapping(p, node, "a rule", Some(&RULE_KEYS)) else {
        return Compiled {
            name: None,
            rule: None,
        };
    };
    let name = entries.require(p, "name", "a rule").and_then(|n| {
        let text = check::string(p, n, "`name`")?;
        if text.trim().is_empty() {
            p.report(n.line, "`name` must not be empty");
            return None;
        }
        Some((text.to_string(), n.line))
    });
    // Free text for people: checked, not kept.
    if let Some(n) = entries.get("description") {
        let _ = check::string(p, n, "`description`");
    }
    let target = entries
        .require(p, "target", "a rule")
        .and_then(|n| compile_condition::compile(p, rx, n));
    let grants = entries
        .require(p, "apps", "a rule")
        .and_then(|n| compile_apps(p, n, apps));
    let rule = match (&name, target, grants) {
        (Some((name, _)), Some(target), Some(grants)) if p.count() == before => Some(Rule {
            name: RuleName::from(name),
            target,
            apps: grants,
        }),
        _ => None,
    };
    Compiled { name, rule }
}

/// `apps: { <app>: { provisioning, role } ... }`, checked against the catalogue.
fn compile_apps(
    p: &mut Problems<'_>,
    node: &Node,
    catalogue: &BTreeMap<String, AppConfig>,
) -> Option<Vec<AppRole>> {
    let before = p.count();
    let entries = check::mapping(p, node, "`apps`", None)?;
    if entries.iter().next().is_none() && p.count() == before {
        p.report(
            node.line,
            "`apps` is empty; a rule must give at least one app",
        );
    }
    let grants: Vec<AppRole> = entries
        .iter()
        .filter_map(|(app, key, value)| compile_grant(p, app, key, value, catalogue))
        .collect();
    (p.count() == before).then_some(grants)
}

/// One app's grant: the app known to the catalogue, `provisioning` a
/// boolean (default true), `role` one of the app's roles.
fn compile_grant(
    p: &mut Problems<'_>,
    app: &str,
    key: &Node,
    value: &Node,
    catalogue: &BTreeMap<String, AppConfig>,
) -> Option<AppRole> {
    let what = format!("app `{app}`");
    let fields = check::mapping(p, value, &what, Some(&APP_KEYS));
    let config = catalogue.get(app);
    if config.is_none() {
        let known: Vec<&str> = catalogue.keys().map(String::as_str).collect();
        p.report(
            key.line,
            format!(
                "unknown app {app:?}; the catalogue has: {}",
                if known.is_empty() {
                    "no apps".to_string()
                } else {
                    list(&known)
                }
            ),
        );
    }
    let fields = fields?;
    let provisioning = match fields.get("provisioning") {
        Some(n) => check::boolean(p, n, "`provisioning`"),
        None => Some(true),
    };
    let role = fields
        .require(p, "role", &what)
        .and_then(|n| check::string(p, n, "`role`").map(|r| (r, n.line)));
    let (config, provisioning, (role, role_line)) = (config?, provisioning?, role?);
    let Some(rank) = config.role_rank(role) else {
        let roles: Vec<&str> = config.roles.iter().map(String::as_str).collect();
        p.report(
            role_line,
            format!(
                "app {app:?} has no role {role:?}; its roles: {}",
                list(&roles)
            ),
        );
        return None;
    };
    Some(AppRole {
        app: AppName::from(app),
        role: RoleName::from(role),
        rank,
        provisioning,
    })
}
