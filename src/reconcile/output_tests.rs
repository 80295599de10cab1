use serde_json::{json, Value};

use super::*;
use crate::reconcile::test_fixtures::{account_of, employee, stray};
use crate::reconcile::{classify, IgnoreList};

/// Ada as decided, Bob drifted (role), Cy missing, a stray orphan whose
/// name holds an escape sequence, and an ignored service account.
fn report() -> Report {
    let ada = employee("E1", Some("member"));
    let bob = employee("E2", Some("member"));
    let cy = employee("E3", Some("member"));
    let mut bob_held = account_of("u2", &bob);
    bob_held.role = Some("admin".into());
    let accounts = [
        account_of("u1", &ada),
        bob_held,
        stray("u3", "mallory\u{1b}[2J@acme.test", true),
        stray("u4", "svc-backup", true),
    ];
    let ignore = IgnoreList::new(&["svc-*"]).expect("valid");
    classify(&[ada, bob, cy], &accounts, &ignore)
}

fn written(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).expect("write to a Vec");
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn the_table_has_a_header_a_row_per_finding_and_the_counts_escaped() {
    let text = written(|out| write_report(out, "slack", 4, &report(), None, PreviewFormat::Table));
    let expected = "\
slack: 4 account(s) read, 5 finding(s)
SITUATION  ACCOUNT                   EMPLOYEE  DETAIL
orphan     mallory\\x1b[2J@acme.test  -         active, owned by no employee
drifted    e2@acme.test              E2        role: want member, have admin
missing    e3@acme.test              E3        no account in the app
ignored    svc-backup                -         matches ignore pattern svc-*
linked     e1@acme.test              E1        in order
slack: orphan 1, drifted 1, missing 1, disputed 0, ignored 1, linked 1, unlinked inactive 0
";
    assert_eq!(text, expected);
}

#[test]
fn json_is_a_line_per_finding_with_its_app_then_the_summary() {
    let text = written(|out| write_report(out, "slack", 4, &report(), None, PreviewFormat::Json));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 6, "{text}");
    let situations: Vec<&Value> = lines[..5].iter().map(|l| &l["situation"]).collect();
    assert_eq!(
        situations,
        ["orphan", "drifted", "missing", "ignored", "linked"]
    );
    assert!(lines[..5].iter().all(|l| l["app"] == "slack"), "{text}");
    assert_eq!(lines[1]["employee_id"], "E2");
    assert_eq!(
        lines[1]["differences"],
        json!([{"field": "role", "want": "member", "have": "admin"}])
    );
    assert_eq!(lines[0]["user_name"], "mallory\u{1b}[2J@acme.test");
    assert!(text.contains("\\u001b"), "JSON escapes control characters");
    assert_eq!(
        lines[5],
        json!({"app": "slack", "partial": false, "counts": {"orphan": 1, "drifted": 1,
            "missing": 1, "disputed": 0, "ignored": 1, "linked": 1, "unlinked_inactive": 0}})
    );
}

#[test]
fn an_empty_app_still_has_its_header_and_counts() {
    let text = written(|out| {
        write_report(
            out,
            "wiki",
            0,
            &Report::default(),
            None,
            PreviewFormat::Table,
        )
    });
    assert_eq!(
        text,
        "wiki: 0 account(s) read, 0 finding(s)\nwiki: orphan 0, drifted 0, missing 0, disputed 0, ignored 0, linked 0, unlinked inactive 0\n"
    );
}

#[test]
fn a_skipped_app_is_one_line_and_a_failed_one_only_in_json() {
    let why = "webhook apps have no read API; reconciliation skips them";
    assert_eq!(
        written(|out| write_skipped(out, "hooks", why, PreviewFormat::Table)),
        format!("hooks: skipped: {why}\n")
    );
    let line = written(|out| write_skipped(out, "hooks", why, PreviewFormat::Json));
    assert_eq!(
        serde_json::from_str::<Value>(&line).expect("JSON"),
        json!({"app": "hooks", "skipped": why})
    );
    assert_eq!(
        written(|out| write_failed(out, "slack", true, "boom", PreviewFormat::Table)),
        ""
    );
    let line = written(|out| write_failed(out, "slack", true, "boom", PreviewFormat::Json));
    assert_eq!(
        serde_json::from_str::<Value>(&line).expect("JSON"),
        json!({"app": "slack", "partial": true, "error": "boom"})
    );
}

#[test]
fn reactions_come_between_the_findings_and_the_counts() {
    use crate::reconcile::{plan, Correction, OrphanReaction, Policy};
    let policy = Policy {
        drifted: Correction::Reapply,
        missing: Correction::Report,
        orphans: OrphanReaction::Suspend { max_per_run: 0 },
    };
    let plan = plan(&report(), &policy);
    let mut reactions: Vec<Reaction> = plan
        .actions
        .iter()
        .cloned()
        .map(|a| Reaction::new(Entry::Action(a), Done::CommandWritten))
        .collect();
    reactions[0].done = Done::Failed;
    reactions[0].error = Some("broker down".into());
    reactions.extend(
        plan.reported
            .iter()
            .cloned()
            .map(|r| Reaction::new(Entry::Reported(r), Done::Reported)),
    );
    let text = written(|out| {
        write_report(
            out,
            "slack",
            4,
            &report(),
            Some(&reactions),
            PreviewFormat::Table,
        )
    });
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "slack: 3 reaction(s)")
        .expect("the reactions' header line");
    assert_eq!(
        lines[at + 1..].to_vec(),
        [
            "REACTION                        ACCOUNT                   EMPLOYEE  DONE",
            "reapply drifted (generation 7)  e2@acme.test              E2        failed: broker down",
            "report missing                  e3@acme.test              E3        reported (policy)",
            "report orphan                   mallory\\x1b[2J@acme.test  -         reported: over the guard (max_suspensions)",
            "slack: orphan 1, drifted 1, missing 1, disputed 0, ignored 1, linked 1, unlinked inactive 0",
        ]
    );
    let json = written(|out| {
        write_report(
            out,
            "slack",
            4,
            &report(),
            Some(&reactions),
            PreviewFormat::Json,
        )
    });
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let first = lines
        .iter()
        .find(|l| l.get("reaction").is_some())
        .expect("a reaction");
    assert_eq!(
        first,
        &json!({"app": "slack", "reaction": {"action": "reapply", "situation": "drifted",
            "employee_id": "E2", "generation": 7, "user_name": "e2@acme.test"},
            "done": "failed", "error": "broker down"})
    );
    assert!(lines.last().is_some_and(|l| l.get("counts").is_some()));
}
