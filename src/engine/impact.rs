//! What a new rule set would change for the employees the engine holds: the
//! simulation behind `rules publish`, `rules rollback` and `rules diff`.
//!
//! It runs the engine's own decision ([`decide::reconcile`], the function a
//! rules change goes through) over every state on the changelog, twice per
//! employee: once under the rules in force, once under the new ones from
//! there, at one `now`. Comparing the two outcomes isolates what the rules
//! change does (a date that falls due meanwhile changes both alike). The
//! guard is asked about the deprovisions as the engine would ask it about a
//! rules change: as one unit ([`Scope::Whole`]), against the accounts each
//! app holds.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::decide::{self, Trigger, RULES_CHANGED};
use super::guard::{self, Budget, Scope};
use super::state::{Desired, EmployeeState};
use super::{store, EngineError};
use crate::config::Config;
use crate::rules::store::{ChangeKind, Impact};
use crate::rules::RuleSet;

/// Simulates going from `old` (`None`: the rules each state was last
/// evaluated under, as stored) to `new` over every employee on
/// `topics.state`. A state topic that does not exist yet is an empty
/// population.
pub fn simulate(
    config: &Config,
    old: Option<&RuleSet>,
    new: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Impact, EngineError> {
    let mut tally = Tally::default();
    let walked = store::each_state(
        config,
        |_| true,
        |state| {
            tally.employee(state, config, old, new, now);
        },
    );
    match walked {
        Ok(()) => {}
        Err(EngineError::MissingTopic { .. }) => return Ok(Impact::default()),
        Err(other) => return Err(other),
    }
    Ok(tally.finish(&config.safety))
}

/// The simulation's running counts.
#[derive(Default)]
pub(crate) struct Tally {
    impact: Impact,
    /// Accounts active per app before the change (the guard's ratio base).
    active: HashMap<String, u64>,
}

impl Tally {
    /// Adds one employee: its outcome under `old`, then under `new` from there.
    pub(crate) fn employee(
        &mut self,
        state: EmployeeState,
        config: &Config,
        old: Option<&RuleSet>,
        new: &RuleSet,
        now: DateTime<Utc>,
    ) {
        self.impact.employees += 1;
        let mut before = state;
        if let Some(old) = old {
            let trigger = Trigger {
                event_id: old.version().as_str(),
                event_type: RULES_CHANGED,
            };
            decide::reconcile(&mut before, old, config, &trigger, now);
        }
        let mut after = before.clone();
        let trigger = Trigger {
            event_id: new.version().as_str(),
            event_type: RULES_CHANGED,
        };
        decide::reconcile(&mut after, new, config, &trigger, now);
        for (app, app_state) in &before.apps {
            if matches!(app_state.desired, Desired::Active { .. }) {
                *self.active.entry(app.to_string()).or_default() += 1;
            }
        }
        let apps = before.apps.keys().chain(after.apps.keys());
        let mut seen = std::collections::BTreeSet::new();
        for app in apps {
            if !seen.insert(app) {
                continue;
            }
            let kind = match (role(&before, app), role(&after, app)) {
                (None, Some(_)) => ChangeKind::Gained,
                (Some(_), None) => ChangeKind::Lost,
                (Some(a), Some(b)) if a != b => ChangeKind::RoleChanged,
                _ => continue,
            };
            self.impact
                .apps
                .entry(app.to_string())
                .or_default()
                .add(kind, &before.employee_id);
        }
    }

    /// The impact, with the guard's verdict on its deprovisions.
    pub(crate) fn finish(mut self, safety: &crate::config::SafetyConfig) -> Impact {
        let lost: Vec<&str> = self
            .impact
            .apps
            .iter()
            .flat_map(|(app, i)| std::iter::repeat_n(app.as_str(), i.lost as usize))
            .collect();
        let budget = Budget::new(&BTreeMap::new(), &self.active, safety);
        let verdict = guard::judge(&lost, &budget, Scope::Whole, safety);
        self.impact.guard = verdict.reasons;
        self.impact
    }
}

/// The role `app` is active with in `state`, if it is.
fn role<'a>(state: &'a EmployeeState, app: &str) -> Option<&'a str> {
    match &state.apps.get(app)?.desired {
        Desired::Active { role, .. } => Some(role),
        Desired::Deprovisioned { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decide::decide;
    use crate::events::{EventType, HrEvent};
    use std::path::{Path, PathBuf};

    const CONFIG: &str = r#"
[safety]
max_deprovisions = 1
[apps.slack]
connector = "scim"
base_url = "http://127.0.0.1:8080"
roles = ["member", "admin"]
[apps.zendesk]
connector = "zendesk"
base_url = "https://acme.zendesk.com"
roles = ["light_agent", "agent"]
"#;

    fn config() -> Config {
        Config::parse(Path::new("t.toml"), CONFIG).unwrap()
    }

    fn rules(config: &Config, yaml: &str) -> RuleSet {
        RuleSet::from_sources(&[(PathBuf::from("r.yaml"), yaml.into())], &config.apps).unwrap()
    }

    const OLD: &str = "- {name: Dev, target: {field: team, op: is, value: Dev}, apps: {slack: {provisioning: true, role: member}}}\n\
                       - {name: Ops, target: {field: team, op: is, value: Ops}, apps: {slack: {provisioning: true, role: member}}}\n";
    const NEW: &str = "- {name: Dev, target: {field: team, op: is, value: Dev}, apps: {slack: {provisioning: true, role: admin}, zendesk: {provisioning: true, role: agent}}}\n";

    fn hired(config: &Config, rules: &RuleSet, id: &str, team: &str) -> EmployeeState {
        let serde_json::Value::Object(employee) =
            serde_json::json!({"id": id, "email": format!("{id}@acme.test"), "team": team})
        else {
            unreachable!("an object literal")
        };
        let event = HrEvent {
            id: format!("ev-{id}"),
            kind: EventType::Hired,
            time: None,
            sequence: Some(1),
            employee_id: id.into(),
            employee: employee.into(),
            immediate: false,
        };
        decide(None, &event, rules, config, Utc::now()).state
    }

    #[test]
    fn counts_gains_losses_and_role_changes_per_app_through_the_engines_decision() {
        let config = config();
        let (old, new) = (rules(&config, OLD), rules(&config, NEW));
        let mut tally = Tally::default();
        for (id, team) in [("E1", "Dev"), ("E2", "Ops"), ("E3", "Ops"), ("E4", "Sales")] {
            let state = hired(&config, &old, id, team);
            tally.employee(state, &config, Some(&old), &new, Utc::now());
        }
        let impact = tally.finish(&config.safety);
        assert_eq!(impact.employees, 4);
        let slack = &impact.apps["slack"];
        assert_eq!((slack.gained, slack.lost, slack.role_changed), (0, 2, 1));
        let ids =
            |v: &[crate::ids::EmployeeId]| v.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&slack.examples.lost), ["E2", "E3"]);
        assert_eq!(ids(&slack.examples.role_changed), ["E1"]);
        let zendesk = &impact.apps["zendesk"];
        assert_eq!((zendesk.gained, zendesk.lost), (1, 0));
        assert_eq!(impact.apps.len(), 2, "Sales changes nothing");
        assert_eq!(
            impact.guard.len(),
            1,
            "2 deprovisions > max 1: {:?}",
            impact.guard
        );
        assert!(impact.guard[0].contains("safety.max_deprovisions"));
    }

    #[test]
    fn the_same_rules_change_nothing_and_trip_nothing() {
        let config = config();
        let old = rules(&config, OLD);
        let mut tally = Tally::default();
        let state = hired(&config, &old, "E2", "Ops");
        tally.employee(state, &config, Some(&old), &old, Utc::now());
        let impact = tally.finish(&config.safety);
        assert!(impact.is_empty() && impact.guard.is_empty(), "{impact:?}");
    }
}
