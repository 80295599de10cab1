//! Whole-file tests: each parses TOML text through [`Config::parse`], so
//! they exercise deserialisation, defaults and validation together.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("test.toml"), text)
}

#[test]
fn empty_file_gives_spec_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.kafka.bootstrap_servers, "127.0.0.1:9092");
    assert_eq!(c.kafka.group_id, "provisioner-engine");
    assert_eq!(c.kafka.partitions, 6);
    assert_eq!(
        c.topics.commands("zendesk"),
        "provisioning.commands.zendesk"
    );
    assert_eq!(c.safety.max_deprovisions, 50);
    assert_eq!(c.limits.max_event_bytes, 1 << 20);
}

#[test]
fn unknown_key_is_named() {
    let err = parse("[kafka]\nbootstrap_server = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("test.toml"), "{err}");
    assert!(err.contains("bootstrap_server"), "{err}");
}

#[test]
fn bad_leaver_is_named() {
    let err = parse(
        "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\nleaver = \"shred\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("shred"), "{err}");
}

#[test]
fn role_map_must_use_known_roles() {
    let err = parse(
        "[apps.z]\nconnector = \"zendesk\"\nbase_url = \"http://x\"\nroles = [\"agent\"]\n[apps.z.role_map]\nboss = { role = \"admin\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("apps.z.role_map.boss"), "{err}");
}

#[test]
fn zero_partitions_refused() {
    let err = parse("[kafka]\npartitions = 0\n").unwrap_err().to_string();
    assert!(
        err.contains("kafka.partitions") && err.contains('0'),
        "{err}"
    );
}

#[test]
fn startup_timeout_defaults_to_30_s_and_zero_is_refused() {
    assert_eq!(
        parse("").unwrap().kafka.startup_timeout,
        std::time::Duration::from_millis(30_000)
    );
    let err = parse("[kafka]\nstartup_timeout_ms = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("kafka.startup_timeout_ms"), "{err}");
}

#[test]
fn decide_threads_default_to_the_cores_and_are_bounded() {
    let c = parse("").unwrap();
    assert_eq!(c.engine.decide_threads, 0);
    let auto = c.engine.decide_threads();
    assert!((1..=4).contains(&auto), "{auto}");
    assert_eq!(
        parse("[engine]\ndecide_threads = 3\n")
            .unwrap()
            .engine
            .decide_threads(),
        3
    );
    let err = parse("[engine]\ndecide_threads = 500\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("engine.decide_threads") && err.contains("500"),
        "{err}"
    );
}

#[test]
fn connector_defaults() {
    let c = parse("[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n")
        .unwrap();
    let app = &c.apps["a"];
    assert_eq!(app.concurrency, 8);
    assert_eq!(app.outage.consecutive_failures, 5);
    assert_eq!(
        app.outage.probe_initial_delay,
        std::time::Duration::from_millis(1_000)
    );
    assert_eq!(
        app.outage.probe_max_delay,
        std::time::Duration::from_millis(60_000)
    );
    assert_eq!(
        c.connector.shutdown_timeout,
        std::time::Duration::from_millis(10_000)
    );
    assert_eq!(c.connector.max_buffered_records, 1_000);
    assert_eq!(
        c.connector.commit_interval,
        std::time::Duration::from_millis(1_000)
    );
}

#[test]
fn zero_concurrency_refused() {
    let err = parse(
        "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\nconcurrency = 0\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("apps.a.concurrency"), "{err}");
}

#[test]
fn outage_threshold_must_be_positive() {
    let err = parse(
        "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\noutage = { consecutive_failures = 0 }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("apps.a.outage.consecutive_failures"), "{err}");
}

#[test]
fn secret_properties_resolve_from_files_and_name_missing_variables() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "hunter2\n").unwrap();
    let text = format!(
        "[kafka.secret_properties]\n\"sasl.password\" = {{ file = {:?} }}\n",
        file.display().to_string()
    );
    let mut c = parse(&text).unwrap();
    c.kafka.resolve_secrets(Path::new("test.toml")).unwrap();
    assert_eq!(c.kafka.secrets["sasl.password"].expose(), "hunter2");
    assert!(
        !format!("{c:?}").contains("hunter2"),
        "Debug hides the value"
    );

    let var = "PROVISIONER_CONFIG_TEST_UNSET_PASSWORD";
    let text = format!("[kafka.secret_properties]\n\"sasl.password\" = {{ env = \"{var}\" }}\n");
    let mut c = parse(&text).unwrap();
    let err = c
        .kafka
        .resolve_secrets(Path::new("test.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test.toml") && err.contains("sasl.password") && err.contains(var),
        "{err}"
    );
}

#[test]
fn a_property_set_twice_is_refused() {
    let err = parse(
        "[kafka.properties]\n\"sasl.password\" = \"x\"\n[kafka.secret_properties]\n\"sasl.password\" = { env = \"P\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sasl.password") && err.contains("one place"),
        "{err}"
    );
}

#[test]
fn example_config_is_valid() {
    let text = include_str!("../../config/provisioner.toml");
    let c = parse(text).unwrap();
    assert!(!c.apps.is_empty());
}

#[test]
fn durations_are_read_as_milliseconds_once() {
    let c = parse(
        "[engine]\nbatch_max_ms = 250\n[connector]\ncommit_interval_ms = 7\n\
         [metrics]\nidle_timeout_ms = 1500\n",
    )
    .unwrap();
    assert_eq!(c.engine.batch_max, std::time::Duration::from_millis(250));
    assert_eq!(
        c.connector.commit_interval,
        std::time::Duration::from_millis(7)
    );
    assert_eq!(
        c.metrics.idle_timeout,
        std::time::Duration::from_millis(1_500)
    );
    let err = parse("[engine]\nstall_ms = \"1s\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test.toml") && err.contains("stall_ms"),
        "{err}"
    );
    let err = parse("[engine]\nstall_ms = -1\n").unwrap_err().to_string();
    assert!(err.contains("stall_ms"), "{err}");
}

#[test]
fn reconcile_defaults_to_no_ignore_list_and_pages_of_100() {
    let c = parse("[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n")
        .unwrap();
    assert_eq!(c.apps["a"].reconcile, ReconcileConfig::default());
    assert!(c.apps["a"].reconcile.ignore.is_empty());
    assert_eq!(c.apps["a"].reconcile.page_size().get(), 100);
    let c = parse(
        "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\nreconcile = { ignore = [\"admin@*\", \"svc-*\"], page_size = 1000 }\n",
    )
    .unwrap();
    assert_eq!(c.apps["a"].reconcile.ignore, ["admin@*", "svc-*"]);
    assert_eq!(c.apps["a"].reconcile.page_size().get(), 1000);
}

#[test]
fn reconcile_reactions_default_to_report_and_take_the_documented_words() {
    let app = "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n";
    let c = parse(app).unwrap();
    let r = &c.apps["a"].reconcile;
    assert_eq!(
        (r.drifted, r.missing, r.orphans, r.max_suspensions),
        (
            CorrectionSetting::Report,
            CorrectionSetting::Report,
            OrphanSetting::Report,
            10
        )
    );
    let c = parse(&format!(
        "{app}reconcile = {{ drifted = \"reapply\", missing = \"reapply\", orphans = \"suspend\", max_suspensions = 1 }}\n"
    ))
    .unwrap();
    let r = &c.apps["a"].reconcile;
    assert_eq!(
        (r.drifted, r.missing, r.orphans, r.max_suspensions),
        (
            CorrectionSetting::Reapply,
            CorrectionSetting::Reapply,
            OrphanSetting::Suspend,
            1
        )
    );
    let err = parse(&format!("{app}reconcile = {{ orphans = \"delete\" }}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `delete`"), "{err}");
    assert!(err.contains("expected `report` or `suspend`"), "{err}");
}

#[test]
fn reconcile_page_size_and_ignore_patterns_are_checked_naming_the_entry() {
    let app = "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n";
    for size in ["0", "1001"] {
        let err = parse(&format!("{app}reconcile = {{ page_size = {size} }}\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("test.toml: `apps.a.reconcile.page_size` = {size}: must be between 1 and 1000")
        );
    }
    let err = parse(&format!(
        "{app}reconcile = {{ ignore = [\"svc-*\", \" \"] }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "test.toml: `apps.a.reconcile.ignore[1]` = \" \": is empty: write a pattern such as \"svc-*\" or remove it"
    );
    let err = parse(&format!(
        "{app}reconcile = {{ ignore = [\"svc-*\", \"admin@*\", \"**\"] }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "test.toml: `apps.a.reconcile.ignore[2]` = \"**\": matches every account: it would hide the whole app from reconciliation"
    );
}

#[test]
fn reconcile_interval_is_off_unless_set_and_at_least_a_second() {
    let app = "[apps.a]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n";
    assert_eq!(parse(app).unwrap().apps["a"].reconcile.interval, None);
    let c = parse(&format!("{app}reconcile = {{ interval_ms = 600000 }}\n")).unwrap();
    assert_eq!(
        c.apps["a"].reconcile.interval,
        Some(std::time::Duration::from_secs(600))
    );
    let err = parse(&format!("{app}reconcile = {{ interval_ms = 999 }}\n"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "test.toml: `apps.a.reconcile.interval_ms` = 999: must be at least 1000 (each run reads every account of the app); leave it out to run none"
    );
    let hook = "[apps.h]\nconnector = \"webhook\"\nbase_url = \"http://x\"\nroles = [\"m\"]\n";
    let err = parse(&format!("{hook}reconcile = {{ interval_ms = 60000 }}\n"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "test.toml: `apps.h.reconcile.interval_ms` = 60000: a webhook app has no API to read its accounts from: it cannot be reconciled"
    );
}

#[test]
fn the_default_zone_follows_its_name_once_parsed() {
    let mut config = parse("[lifecycle]\ndefault_time_zone = \"Europe/Madrid\"\n").unwrap();
    assert_eq!(config.lifecycle.zone(), chrono_tz::Europe::Madrid);
    assert_eq!(config.lifecycle.zone(), chrono_tz::Europe::Madrid);
    // Set in code after the first read: the new name counts, not the cache.
    config.lifecycle.default_time_zone = "Pacific/Auckland".into();
    assert_eq!(config.lifecycle.zone(), chrono_tz::Pacific::Auckland);
    config.lifecycle.default_time_zone = "Not/AZone".into();
    assert_eq!(config.lifecycle.zone(), chrono_tz::UTC);
}
