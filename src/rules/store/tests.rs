//! The revision format: its version is the rules version of what it
//! carries, checked on every read; what a record may hold; the rule diff.

use std::collections::BTreeMap;

use super::*;
use crate::rules::tests::{catalogue, catalogue_from, CATALOGUE};

const DEV: &str = "name: Dev Team\ntarget: { field: team, op: is, value: Development }\napps:\n  slack: { provisioning: true, role: member }\n";
const SUPPORT: &str = "- name: Support\n  target: { field: team, op: is, value: Support }\n  apps:\n    zendesk: { provisioning: true, role: agent }\n";

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn revision(files: &[(&str, &str)]) -> Revision {
    let dir = dir_with(files);
    let files = read_files(dir.path()).unwrap();
    let mut revision = Revision::new(files, &catalogue());
    revision.author = "alice".into();
    revision.message = "support gets zendesk".into();
    revision.replaces = Some("sha256:00".into());
    revision.origin.git_commit = Some("abc123".into());
    revision.impact.employees = 3;
    revision.impact.apps.insert(
        "zendesk".into(),
        AppImpact {
            gained: 2,
            ..AppImpact::default()
        },
    );
    revision
}

#[test]
fn its_version_is_the_rules_version_of_the_directory_it_was_read_from() {
    let dir = dir_with(&[("b.yaml", SUPPORT), ("a.yaml", DEV)]);
    let files = read_files(dir.path()).unwrap();
    let set = RuleSet::load_dir(dir.path(), &catalogue()).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.yaml", "b.yaml"], "load order");
    let revision = Revision::new(files, &catalogue());
    assert_eq!(&revision.version, set.version());
    assert_eq!(
        revision.rule_set(&catalogue()).unwrap().version(),
        set.version(),
        "compiled again from the record, the same version"
    );
}

#[test]
fn a_record_reads_back_as_written_with_its_audit_fields() {
    let written = revision(&[("a.yaml", DEV), ("b.yaml", SUPPORT)]);
    let read = Revision::decode(&written.encode()).unwrap();
    assert_eq!(read, written);
    let json: serde_json::Value = serde_json::from_slice(&written.encode()).unwrap();
    assert_eq!(json["format"], 1);
    assert_eq!(json["files"][0]["name"], "a.yaml");
    assert_eq!(
        json["catalogue"]["slack"],
        serde_json::json!(["member", "admin"])
    );
    assert_eq!(json["origin"]["git_commit"], "abc123");
    assert_eq!(json["impact"]["apps"]["zendesk"]["gained"], 2);
    assert!(
        json["impact"]["apps"]["zendesk"].get("examples").is_none(),
        "employee ids stay out of the record"
    );
}

#[test]
fn a_record_whose_content_does_not_hash_to_its_version_is_refused() {
    let written = revision(&[("a.yaml", DEV)]);
    let mut tampered = written.clone();
    tampered.files[0].text = DEV.replace("member", "admin");
    let error = Revision::decode(&tampered.encode()).unwrap_err();
    assert!(
        matches!(&error, RevisionError::Version { named, .. } if named.as_str() == written.version.as_str()),
        "{error}"
    );
    // The catalogue is part of the version too: role order is precedence.
    let mut reordered = written.clone();
    reordered
        .catalogue
        .insert("slack".into(), vec!["admin".into(), "member".into()]);
    assert!(matches!(
        Revision::decode(&reordered.encode()),
        Err(RevisionError::Version { .. })
    ));
    // A renamed file changes the version as well.
    let mut renamed = written;
    renamed.files[0].name = "z.yaml".into();
    assert!(matches!(
        Revision::decode(&renamed.encode()),
        Err(RevisionError::Version { .. })
    ));
}

#[test]
fn a_newer_format_is_named_as_such() {
    let mut json: serde_json::Value =
        serde_json::from_slice(&revision(&[("a.yaml", DEV)]).encode()).unwrap();
    json["format"] = 2.into();
    json["something_new"] = true.into();
    let error = Revision::decode(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert_eq!(error, RevisionError::Format { found: 2 });
    assert!(error.to_string().contains("upgrade"), "{error}");
}

#[test]
fn records_that_are_not_revisions_are_refused_with_the_reason() {
    assert!(matches!(
        Revision::decode(b"not json"),
        Err(RevisionError::Shape(_))
    ));
    assert!(matches!(
        Revision::decode(b"{}"),
        Err(RevisionError::Shape(_))
    ));
    let good = revision(&[("a.yaml", DEV), ("b.yaml", SUPPORT)]);
    let content = |mutate: &dyn Fn(&mut Revision)| {
        let mut r = good.clone();
        mutate(&mut r);
        r.version = r.computed_version().into();
        match Revision::decode(&r.encode()) {
            Err(RevisionError::Content(message)) => message,
            other => panic!("expected a content error, got {other:?}"),
        }
    };
    assert!(content(&|r| r.files.clear()).contains("no rule file"));
    assert!(content(&|r| r.files.swap(0, 1)).contains("not sorted"));
    assert!(content(&|r| r.files[1].name = "a.yaml".into()).contains("not sorted"));
    assert!(content(&|r| r.files[0].name = "../a.yaml".into()).contains("plain"));
    assert!(content(&|r| r.files[0].name = "a.txt".into()).contains("plain"));
    assert!(content(&|r| r.files[0].text = "x".repeat(MAX_RULE_FILE_BYTES + 1)).contains("limit"));
}

#[test]
fn a_revision_valid_for_the_publisher_may_be_invalid_for_another_catalogue() {
    let revision = revision(&[("b.yaml", SUPPORT)]);
    let without_zendesk: BTreeMap<_, _> = catalogue_from(CATALOGUE)
        .into_iter()
        .filter(|(app, _)| app != "zendesk")
        .collect();
    let errors = revision.rule_set(&without_zendesk).unwrap_err();
    assert!(errors.to_string().starts_with("b.yaml:"), "{errors}");
}

#[test]
fn written_out_it_is_the_same_rule_set_and_it_never_mixes_with_other_files() {
    let revision = revision(&[("a.yaml", DEV), ("b.yaml", SUPPORT)]);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("rules");
    revision.write_dir(&dir).unwrap();
    let set = RuleSet::load_dir(&dir, &catalogue()).unwrap();
    assert_eq!(set.version(), &revision.version);
    let error = revision.write_dir(&dir).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("already holds rule files (a.yaml, b.yaml)"),
        "{error}"
    );
}

#[test]
fn the_diff_names_rules_added_removed_and_changed_but_not_moved_or_reformatted() {
    let old = revision(&[("a.yaml", DEV), ("b.yaml", SUPPORT)]);
    // Support moved to another file and reformatted: not a change.
    let support_moved = "# moved here\n- {name: Support, target: {field: team, op: is, value: Support}, apps: {zendesk: {provisioning: true, role: agent}}}\n";
    let new = revision(&[
        ("a.yaml", &DEV.replace("member", "admin")),
        ("c.yaml", support_moved),
        (
            "d.yaml",
            &DEV.replace("Dev Team", "Ops").replace("Development", "Ops"),
        ),
    ]);
    let changes = diff_rules(&old, &new);
    assert_eq!(changes.changed, ["Dev Team"]);
    assert_eq!(changes.added, ["Ops"]);
    assert!(changes.removed.is_empty());
    let back = diff_rules(&new, &old);
    assert_eq!(back.removed, ["Ops"]);
    assert!(diff_rules(&old, &old).is_empty());
}

#[test]
fn impact_counts_every_change_and_keeps_a_few_ids() {
    let mut app = AppImpact::default();
    for i in 0..(EXAMPLES + 3) {
        app.add(
            ChangeKind::Lost,
            &EmployeeId::from(format!("E{i}").as_str()),
        );
    }
    app.add(ChangeKind::Gained, &EmployeeId::from("E100"));
    assert_eq!(
        (app.gained, app.lost, app.role_changed),
        (1, EXAMPLES as u64 + 3, 0)
    );
    assert_eq!(app.examples.lost.len(), EXAMPLES);
    let shown: Vec<&str> = app.examples.lost.iter().map(|e| e.as_str()).collect();
    assert_eq!(
        shown,
        ["E0", "E1", "E2", "E3", "E4"],
        "the smallest ids, sorted"
    );
}
