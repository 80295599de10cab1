//! A test's world on disk: a temporary directory holding `rules/` and a
//! `provisioner.toml` for it under a fresh [`Namespace`] of topics and
//! groups. The head of that file (broker, topics, rules) is the same in
//! every suite; each test adds its own tables.

use std::path::PathBuf;

use super::Namespace;

/// The directory, the configuration file in it and its namespace.
pub struct World {
    /// Holds the files; deleted with the world.
    pub dir: tempfile::TempDir,
    /// The configuration file.
    pub config: PathBuf,
    /// Its topics and groups on the broker.
    pub ns: Namespace,
}

impl World {
    /// Writes `rules/rules.yaml` with `rules`, then `provisioner.toml`:
    /// `[kafka]` on `servers` (the namespace's `engine` group, 2 partitions,
    /// then `kafka_extra` lines), the namespace's `[topics]`, `[rules]
    /// path`, then `tables`, the test's own.
    pub fn new(servers: &str, rules: &str, kafka_extra: &str, tables: &str) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir(&rules_dir).expect("rules dir");
        std::fs::write(rules_dir.join("rules.yaml"), rules).expect("rules");
        let ns = Namespace::new();
        let text = format!(
            "[kafka]\nbootstrap_servers = \"{servers}\"\ngroup_id = \"{group}\"\n\
             partitions = 2\n{kafka_extra}\n{topics}[rules]\npath = {rules_dir:?}\n{tables}",
            group = ns.group("engine"),
            topics = ns.topics_toml(),
        );
        let config = dir.path().join("provisioner.toml");
        std::fs::write(&config, text).expect("config");
        World { dir, config, ns }
    }
}
