//! The harness's connector side: one app's worker running in this
//! process, its test configuration and topics, and commands as the engine
//! would emit them. Re-exported by `harness`.

use super::*;

/// One app's connector worker running in this process, with any connector.
pub struct AppWorker {
    /// The app's health (paused or not), shared with the worker.
    pub health: std::sync::Arc<provisioner::telemetry::health::AppHealth>,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), provisioner::connector::worker::WorkerError>>,
}

impl AppWorker {
    /// Starts the worker of `app` as `provisioner connector --app` would.
    pub fn start<C>(config: &Config, app: &str, connector: C) -> AppWorker
    where
        C: provisioner::connector::Connector + 'static,
    {
        init_test_logs();
        let worker =
            provisioner::connector::worker::Worker::new(config.clone(), app.into(), connector)
                .expect("worker");
        let health = worker.health();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(worker.run(shutdown.clone()));
        AppWorker {
            health,
            shutdown,
            handle,
        }
    }

    /// Stops it as SIGTERM would and checks that it stopped cleanly;
    /// returns how long it took to stop.
    pub async fn stop(self) -> Duration {
        let started = std::time::Instant::now();
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.handle)
            .await
            .expect("worker did not stop in time")
            .expect("worker task panicked")
            .expect("worker returned an error");
        started.elapsed()
    }

    /// A crash: the worker is dropped mid-flight, no shutdown path runs.
    pub async fn crash(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// A connector worker's test configuration: fresh topics and group, results
/// committed every 100 ms.
pub fn worker_config(partitions: i32) -> Config {
    let mut config = config(partitions);
    config.connector.commit_interval = std::time::Duration::from_millis(100);
    config
}

/// Tunes an app for quick tests: a rate limit never reached, 3 attempts
/// 10 to 50 ms apart, a pause after 5 failures in a row, probes 50 to 200 ms
/// apart.
pub fn fast_app(app: &mut AppConfig) {
    app.rate_limit_per_second = 10_000.0;
    app.retry = RetryConfig {
        max_attempts: 3,
        initial_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
    };
    app.outage = OutageConfig {
        enabled: true,
        consecutive_failures: 5,
        probe_initial_delay: std::time::Duration::from_millis(50),
        probe_max_delay: std::time::Duration::from_millis(200),
    };
}

/// One app's worker under test: its configuration, and the topics it uses
/// (the app's commands, the results, the commands dead letters) created.
pub struct WorkerEnv {
    pub config: Config,
    pub servers: String,
    /// The app's commands topic.
    pub topic: String,
    /// The app worker's consumer group.
    pub group: String,
    app: String,
}

impl WorkerEnv {
    /// Creates the topics of `app`'s worker (`config.kafka.partitions` each).
    pub async fn new(config: Config, app: &str) -> WorkerEnv {
        let servers = config.kafka.bootstrap_servers.clone();
        let topic = config.topics.commands(app);
        let group = format!("{}-{app}", config.kafka.group_id);
        create_named_topics(
            &config,
            &[
                topic.clone(),
                config.topics.results.clone(),
                config.topics.commands_dlq.clone(),
            ],
        )
        .await;
        WorkerEnv {
            config,
            servers,
            topic,
            group,
            app: app.into(),
        }
    }

    /// [`WorkerEnv::new`] for an app not in the test catalogue: `entry` is
    /// its TOML (`[apps.<app>]`, validated as in production), added to a
    /// fresh [`worker_config`].
    pub async fn with_entry(partitions: i32, app: &str, entry: &str) -> WorkerEnv {
        let path = format!("{app}.toml");
        let mut catalogue = Config::parse(Path::new(&path), entry).expect("catalogue entry");
        let mut config = worker_config(partitions);
        let app_config = catalogue.apps.remove(app).expect("the app in its entry");
        config.apps.insert(app.into(), app_config);
        WorkerEnv::new(config, app).await
    }

    /// The app's catalogue entry, to tune before its worker starts.
    pub fn app_mut(&mut self) -> &mut AppConfig {
        self.config.apps.get_mut(&self.app).expect("the app")
    }

    /// Starts the app's worker with the connector its catalogue entry
    /// builds, as `provisioner connector` does.
    pub fn start_worker(&self) -> AppWorker {
        let connector = build(&self.app, &self.config.apps[&self.app])
            .unwrap_or_else(|e| panic!("build the {} connector: {e:?}", self.app));
        self.start_worker_with(connector)
    }

    /// Starts the app's worker with `connector`.
    pub fn start_worker_with<C>(&self, connector: C) -> AppWorker
    where
        C: Connector + 'static,
    {
        AppWorker::start(&self.config, &self.app, connector)
    }

    /// Produces commands in this order, keyed by employee id.
    pub async fn send(&self, commands: &[Command]) {
        let records: Vec<(Option<&str>, Vec<u8>)> = commands
            .iter()
            .map(|c| (Some(c.employee_id.as_str()), c.to_json()))
            .collect();
        produce(&self.servers, &self.topic, &records).await;
    }

    /// Waits for at least `count` results.
    pub async fn results(&self, count: usize) -> Vec<serde_json::Value> {
        wait_results(&self.servers, &self.config.topics.results, count).await
    }

    /// Every result now.
    pub fn all_results(&self) -> Vec<serde_json::Value> {
        read_all(&self.servers, &self.config.topics.results)
            .iter()
            .map(json)
            .collect()
    }

    /// Every dead-lettered command now.
    pub fn dlq(&self) -> Vec<OwnedMessage> {
        read_all(&self.servers, &self.config.topics.commands_dlq)
    }

    /// How many of the app's commands the worker has committed.
    pub fn committed_total(&self) -> i64 {
        committed_total(&self.servers, &self.group, &self.topic)
    }

    /// Waits until the worker has committed at least `count` commands.
    pub async fn wait_committed(&self, count: i64) {
        wait_committed(&self.servers, &self.group, &self.topic, count).await;
    }
}

/// Waits until `topic` holds at least `count` records and returns their
/// values as JSON, checking each is keyed by its `employee_id`.
pub async fn wait_results(servers: &str, topic: &str, count: usize) -> Vec<serde_json::Value> {
    wait_records(servers, topic, count)
        .await
        .iter()
        .map(|m| {
            let value = json(m);
            assert_eq!(
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                value["employee_id"].as_str().map(str::to_string),
                "results are keyed by employee id"
            );
            value
        })
        .collect()
}

/// Ada's first command for `app`: an upsert to `role` granted by `rule`, as
/// the engine would emit it for her hire.
pub fn ada_upsert(app: &str, role: &str, rule: &str) -> Command {
    Command {
        command_id: Command::id_for(app, "E1001", 1),
        app: app.into(),
        employee_id: "E1001".into(),
        generation: 1,
        action: Action::Upsert,
        deprovision: None,
        role: Some(role.into()),
        account: std::sync::Arc::new(Account {
            external_id: "E1001".into(),
            user_name: "ada@acme.test".into(),
            email: Some("ada@acme.test".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
        }),
        cause: Cause {
            event_id: "evt-1".into(),
            event_type: "hr.employee.hired".into(),
            rules: vec![rule.into()],
            rules_version: "sha256:e2e".into(),
            effective: None,
        },
        issued_at: chrono::Utc::now(),
    }
}

/// An upsert of `employee` to `role`, as the engine would emit it; the
/// account is "Ada <employee>", `<employee in lower case>@acme.test`.
pub fn upsert_command(app: &str, employee: &str, generation: u64, role: &str) -> Command {
    Command {
        command_id: Command::id_for(app, employee, generation),
        app: app.into(),
        employee_id: employee.into(),
        generation,
        action: Action::Upsert,
        deprovision: None,
        role: Some(role.into()),
        account: std::sync::Arc::new(Account {
            external_id: employee.into(),
            user_name: format!("{}@acme.test", employee.to_lowercase()),
            email: Some(format!("{}@acme.test", employee.to_lowercase())),
            given_name: Some("Ada".into()),
            family_name: Some(employee.into()),
            display_name: Some(format!("Ada {employee}")),
        }),
        cause: Cause {
            event_id: format!("evt-{employee}-{generation}").into(),
            event_type: "hr.employee.changed".into(),
            rules: vec!["Dev Team".into()],
            rules_version: "sha256:test".into(),
            effective: None,
        },
        issued_at: chrono::Utc::now(),
    }
}
