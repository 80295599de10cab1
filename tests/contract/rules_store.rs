//! The rules store's records (CONTRACT §2, `docs/schemas/rules-revision.schema.json`):
//! what `rules publish` and `rollback` write validates, every optional part
//! included, and the schema refuses what readers refuse by shape.

use std::path::Path;

use provisioner::config::Config;
use provisioner::rules::store::{read_files, AppImpact, Revision};
use serde_json::{json, Value};

use crate::{errors, schema};

/// A revision of the sample rules under the sample catalogue, as a first
/// publish from a git checkout.
fn sample() -> Revision {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = Config::load(&root.join("config/provisioner.toml")).expect("sample config");
    let files = read_files(&root.join("config/rules")).expect("sample rules");
    let mut revision = Revision::new(files, &config.apps);
    revision.author = "alice".into();
    revision.message = "support gets zendesk".into();
    revision.origin.path = Some("config/rules".into());
    revision.origin.git_commit = Some("0123456789abcdef0123456789abcdef01234567".into());
    revision.impact.employees = 1200;
    revision.impact.apps.insert(
        "zendesk".into(),
        AppImpact {
            gained: 3,
            lost: 1,
            role_changed: 2,
            ..AppImpact::default()
        },
    );
    revision.impact.guard = vec!["60 deprovisions … exceed safety.max_deprovisions (50)".into()];
    revision
}

fn value(revision: &Revision) -> Value {
    serde_json::from_slice(&revision.encode()).expect("JSON")
}

#[test]
fn revisions_validate_first_publish_and_rollback_alike() {
    let validator = schema("rules-revision.schema.json");
    let first = sample();
    assert_eq!(errors(&validator, &value(&first)), Vec::<String>::new());
    assert_eq!(value(&first)["replaces"], Value::Null);

    let mut rollback = sample();
    rollback.replaces = Some(first.version.clone());
    rollback.origin = Default::default();
    rollback.origin.rollback_of = Some(first.version.clone());
    rollback.impact = Default::default();
    assert_eq!(errors(&validator, &value(&rollback)), Vec::<String>::new());
    assert_eq!(
        Revision::decode(&rollback.encode()).expect("readers accept it"),
        rollback
    );
}

#[test]
fn the_schema_refuses_what_readers_refuse_by_shape() {
    let validator = schema("rules-revision.schema.json");
    let good = value(&sample());
    let cases: [(&str, Value); 5] = [
        ("/format", json!(2)),
        ("/version", json!("md5:abc")),
        ("/files", json!([])),
        ("/files/0/name", json!("../escape.yaml")),
        ("/impact/apps/zendesk/lost", json!(-1)),
    ];
    for (pointer, bad_value) in cases {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).expect(pointer) = bad_value;
        assert!(!validator.is_valid(&bad), "{pointer} accepted");
        assert!(
            Revision::decode(&serde_json::to_vec(&bad).unwrap()).is_err(),
            "{pointer}: readers accept what the schema refuses"
        );
    }
    let mut extra = good.clone();
    extra["surprise"] = json!(1);
    assert!(!validator.is_valid(&extra));
}
