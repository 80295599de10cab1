//! The `provisioner` binary: the command line of CONTRACT §1 and nothing else.
//! Every subcommand is a thin call into the library; errors become one line
//! on stderr and an exit code (0 ok, 1 user error, 2 usage).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use provisioner::config::Config;

#[path = "main/rules.rs"]
mod rules_cli;
use rules_cli::RulesCommand;

/// mimalloc instead of glibc's malloc: the engine makes many small,
/// short-lived allocations per event (JSON trees, commands) around a million
/// long-lived states; glibc's heap fragments there and per-event cost doubled
/// from 100k to 1M employees (docs/BENCHMARKS.md), mimalloc keeps it flat.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use provisioner::engine::schedule;
use provisioner::rules::preview;
use provisioner::telemetry::{self, logging, Role, Telemetry};
use provisioner::text;

#[derive(Parser)]
#[command(
    name = "provisioner",
    version,
    about = "HR events in, SaaS accounts out"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "config/provisioner.toml")]
    config: PathBuf,
    /// Log format; json by default when stderr is not a terminal.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Consume HR events, match rules, keep state, emit commands.
    Engine {
        /// Where /metrics, /healthz and /readyz are served (overrides metrics.listen).
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// Apply the commands of some apps to their APIs.
    Connector {
        /// An app of the catalogue (repeatable).
        #[arg(long = "app", required_unless_present = "all")]
        apps: Vec<String>,
        /// Every app of the catalogue.
        #[arg(long, conflicts_with = "apps")]
        all: bool,
        /// Where /metrics, /healthz and /readyz are served (overrides metrics.listen).
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// Re-publish dead-lettered records to the topic they came from.
    Replay(ReplayArgs),
    /// Validate, preview, publish and look back at the rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Inspect, release or discard deprovisions held by the safety guard.
    Held {
        #[command(subcommand)]
        command: HeldCommand,
    },
    /// Compare what apps hold with what the engine decided, report it, and
    /// react as each app's `apps.<name>.reconcile.*` policy says. Report-only
    /// by default: re-asserts drifted and missing accounts, or suspends
    /// orphans (never deletes), only where configured; never on a partial
    /// scan. Each complete run writes its findings to the findings topic.
    Reconcile {
        /// An app of the catalogue (repeatable).
        #[arg(long = "app", required_unless_present = "all")]
        apps: Vec<String>,
        /// Every app of the catalogue (webhook apps are skipped: no read API).
        #[arg(long, conflicts_with = "apps")]
        all: bool,
        /// Print what the policy would do, and do nothing (the findings are
        /// still written: they are observations).
        #[arg(long)]
        dry_run: bool,
        /// A table per app for people, or one JSON object a line.
        #[arg(long, value_enum, default_value = "table")]
        format: PreviewFormatArg,
    },
    /// What the engine's timers will do and when (read from the state changelog).
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// List pending transitions: one row per employee, app and instant, soonest first.
    List {
        /// Only this employee.
        #[arg(long)]
        employee: Option<String>,
        /// Only transitions before this RFC 3339 time or YYYY-MM-DD day (midnight UTC).
        #[arg(long, value_name = "TIME", value_parser = schedule::parse_before)]
        before: Option<chrono::DateTime<chrono::Utc>>,
        /// A table for people, or one JSON object a line.
        #[arg(long, value_enum, default_value = "table")]
        format: PreviewFormatArg,
    },
}

#[derive(Subcommand)]
enum HeldCommand {
    /// List held deprovisions (read from the state changelog).
    List,
    /// Emit held deprovisions, exactly once.
    Release(HoldSelector),
    /// Drop held deprovisions; the accounts stay.
    Discard(HoldSelector),
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct HoldSelector {
    /// One hold, by the id `held list` shows.
    #[arg(long)]
    hold: Option<String>,
    /// Every hold made before now.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// The dead-letter topic to read (topics.events_dlq or topics.commands_dlq).
    #[arg(long, value_name = "TOPIC")]
    from: String,
    /// Only records of this app (header dlq.app).
    #[arg(long)]
    app: Option<String>,
    /// Only records of this employee (the record key).
    #[arg(long)]
    employee: Option<String>,
    /// Only records with this dlq.error.kind.
    #[arg(long, value_name = "KIND", value_parser = parse_error_kind)]
    error_kind: Option<String>,
    /// Only records dead-lettered at or after this RFC 3339 time (dlq.failed_at).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only records dead-lettered before this RFC 3339 time (dlq.failed_at).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// Re-publish at most this many records; the rest wait for the next run.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Print what would be replayed; change nothing (no record, no offset).
    #[arg(long)]
    dry_run: bool,
    /// The dry-run listing and the summary: a table for people or JSON lines.
    #[arg(long, value_enum, default_value = "table")]
    format: PreviewFormatArg,
    /// Read from the start of the topic, not from where this replay group got to
    /// (records replayed before are replayed again).
    #[arg(long)]
    from_beginning: bool,
    /// Replay commands even when a newer generation is already applied.
    #[arg(long)]
    include_superseded: bool,
    /// Re-publish at most this many records per second.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    rate: Option<f64>,
    /// After a successful run (not a dry run), write provisioner_replayed_total
    /// and the end time to this file in the Prometheus text format, for
    /// node_exporter's textfile collector (name it *.prom).
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PreviewFormatArg {
    Table,
    Json,
}

impl From<PreviewFormatArg> for preview::PreviewFormat {
    fn from(format: PreviewFormatArg) -> Self {
        match format {
            PreviewFormatArg::Table => preview::PreviewFormat::Table,
            PreviewFormatArg::Json => preview::PreviewFormat::Json,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    provisioner::telemetry::logging::init(cli.log_format.map(|f| match f {
        LogFormat::Json => logging::LogFormat::Json,
        LogFormat::Pretty => logging::LogFormat::Pretty,
    }));
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // Each cause once, however many layers repeat it.
            eprintln!("error: {}", text::error_chain(&*error));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&cli.config)?;
    let offline = matches!(
        cli.command,
        Command::Rules {
            command: RulesCommand::Check { .. } | RulesCommand::Preview { .. }
        }
    );
    if !offline {
        // Only commands that talk to Kafka need its secrets.
        config.kafka.resolve_secrets(&cli.config)?;
    }
    match cli.command {
        Command::Engine { metrics_addr } => engine(config, metrics_addr),
        Command::Held { command } => held(config, command),
        Command::Schedule {
            command:
                ScheduleCommand::List {
                    employee,
                    before,
                    format,
                },
        } => schedule_list(&config, employee, before, format),
        Command::Connector {
            apps,
            all,
            metrics_addr,
        } => {
            let listen = listen_addr(&config, metrics_addr, telemetry::CONNECTOR_LISTEN);
            run_connectors(&cli.config, config, apps, all, &listen)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => replay(config, args),
        Command::Reconcile {
            apps,
            all,
            dry_run,
            format,
        } => reconcile(&config, apps, all, dry_run, format),
        Command::Rules { command } => rules_cli::run(&config, command),
    }
}

/// `provisioner engine`: runs until a signal, its metrics server alongside.
fn engine(config: Config, metrics_addr: Option<String>) -> anyhow::Result<ExitCode> {
    let rules = rules_cli::in_force(&config)?;
    let listen = listen_addr(&config, metrics_addr, telemetry::ENGINE_LISTEN);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let telemetry = Telemetry::new(Role::Engine);
        let limits = (&config.metrics).into();
        let server = telemetry::server::start(&listen, limits, &telemetry).await?;
        let result =
            provisioner::engine::run_with(config, rules, telemetry, shutdown.clone()).await;
        shutdown.cancel();
        server.stop().await;
        result.map_err(anyhow::Error::from)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `provisioner schedule list`: the pending transitions on the changelog
/// under the current rules, seen at one `now`.
fn schedule_list(
    config: &Config,
    employee: Option<String>,
    before: Option<chrono::DateTime<chrono::Utc>>,
    format: PreviewFormatArg,
) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let rules = rules_cli::in_force(config)?;
    let filter = schedule::Filter { employee, before };
    let rows = schedule::list(config, &rules, &filter, now)
        .with_context(|| format!("cannot read {}", config.topics.state))?;
    schedule::write(&mut std::io::stdout().lock(), &rows, format.into())?;
    Ok(ExitCode::SUCCESS)
}

/// `provisioner reconcile`: each app listed, classified and (unless
/// `--dry-run`) reacted to per its policy; an app that fails (a partial
/// scan, a reaction that failed) is an error line and exit 1.
fn reconcile(
    config: &Config,
    apps: Vec<String>,
    all: bool,
    dry_run: bool,
    format: PreviewFormatArg,
) -> anyhow::Result<ExitCode> {
    use provisioner::connector::{react, survey};
    let apps = provisioner::connector::chosen(config, apps, all)?;
    let desired = provisioner::engine::desired::read_all(config, &apps)
        .with_context(|| format!("cannot read {}", config.topics.state))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    let out = &mut std::io::stdout().lock();
    let (run, metrics) = (react::Run::start(), provisioner::metrics::Metrics::new());
    let session = survey::Session {
        run: &run,
        metrics: &metrics,
        mode: match dry_run {
            true => survey::Mode::DryRun,
            false => survey::Mode::Act,
        },
    };
    let run = survey::report_all(config, &desired, format.into(), session, out);
    let failures = runtime.block_on(run)?;
    for error in &failures {
        eprintln!("error: {}", text::error_chain(error));
    }
    Ok(ExitCode::from(u8::from(!failures.is_empty())))
}

/// `provisioner replay`: to the end of the dead-letter topic, then exit 0;
/// the listing (dry run) and the summary line on stdout, progress on stderr.
fn replay(config: Config, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    use provisioner::replay::{self, Filter, Format, Options, ProgressMode};
    let filter = Filter {
        app: args.app,
        employee: args.employee,
        error_kind: args.error_kind,
        since: args.since,
        until: args.until,
    };
    if let Err(problem) = filter.validate() {
        eprintln!("error: {problem}");
        return Ok(ExitCode::from(2));
    }
    let options = Options {
        from: args.from,
        filter,
        limit: args.limit,
        dry_run: args.dry_run,
        format: match args.format {
            PreviewFormatArg::Table => Format::Table,
            PreviewFormatArg::Json => Format::Json,
        },
        from_beginning: args.from_beginning,
        include_superseded: args.include_superseded,
        rate: args.rate,
        progress: if std::io::stderr().is_terminal() {
            ProgressMode::Terminal
        } else {
            ProgressMode::Lines
        },
    };
    let metrics = provisioner::metrics::Metrics::new();
    replay::run(&config, &options, &metrics, &mut std::io::stdout().lock())?;
    if let (Some(path), false) = (&args.metrics_file, options.dry_run) {
        let text = replay::textfile::render(&metrics, &options.from, chrono::Utc::now());
        replay::textfile::write(path, &text).with_context(|| {
            format!(
                "the replay finished, but --metrics-file {} could not be written",
                path.display()
            )
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_error_kind(value: &str) -> Result<String, String> {
    provisioner::replay::filter::parse_error_kind(value)
}

fn parse_time(value: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    provisioner::replay::filter::parse_time(value)
}

fn parse_rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        // clap leads with "invalid value 'X' for '--rate <N>'".
        _ => Err("not a positive number of records per second".into()),
    }
}

fn held(config: Config, command: HeldCommand) -> anyhow::Result<ExitCode> {
    use provisioner::engine::control::{self, ControlAction, ControlRequest};
    let (action, selector) = match command {
        HeldCommand::List => {
            let held = control::list_held(&config)
                .with_context(|| format!("cannot read {}", config.topics.state))?;
            control::write_held(&mut std::io::stdout().lock(), &held)?;
            return Ok(ExitCode::SUCCESS);
        }
        HeldCommand::Release(s) => (ControlAction::Release, s),
        HeldCommand::Discard(s) => (ControlAction::Discard, s),
    };
    let request = ControlRequest {
        action,
        hold_id: if selector.all { None } else { selector.hold },
        requested_at: chrono::Utc::now(),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime
        .block_on(control::send(&config, &request))
        .with_context(|| format!("cannot write to {}", config.topics.control))?;
    println!(
        "{:?} requested for {}; the engine applies it within seconds",
        action,
        request
            .hold_id
            .as_deref()
            .unwrap_or("every hold made before now")
    );
    Ok(ExitCode::SUCCESS)
}

/// `provisioner connector`: one worker per app, all in this process, until
/// SIGTERM/SIGINT (see `connector::run_all`); a failed worker is exit 1.
fn run_connectors(
    path: &Path,
    config: Config,
    apps: Vec<String>,
    all: bool,
    listen: &str,
) -> anyhow::Result<()> {
    let apps = provisioner::connector::select(&config, apps, all)
        .with_context(|| path.display().to_string())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let telemetry = Telemetry::new(Role::Connector);
        let server = telemetry::server::start(listen, (&config.metrics).into(), &telemetry).await?;
        let desired: provisioner::connector::periodic::DesiredSource =
            std::sync::Arc::new(|config: &Config, app: &str| {
                Ok(provisioner::engine::desired::of_app(config, app)?)
            });
        let run =
            provisioner::connector::run_all(config, apps, telemetry, desired, shutdown.clone());
        let result = run.await;
        shutdown.cancel();
        server.stop().await;
        result.map_err(anyhow::Error::from)
    })
}

/// `--metrics-addr`, else `metrics.listen`, else the process default.
fn listen_addr(config: &Config, flag: Option<String>, default: &str) -> String {
    flag.or_else(|| config.metrics.listen.clone())
        .unwrap_or_else(|| default.to_string())
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!(message = "Shutdown signal received.");
    shutdown.cancel();
}
