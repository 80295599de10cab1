//! `provisioner rules …`: the binary's side of the rule commands — their
//! arguments and what they print. The work is the library's
//! (`rules`, `rules::store`, `engine::publish`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use provisioner::config::Config;
use provisioner::engine::publish::{self, Draft, Plan};
use provisioner::lifecycle::Calendar;
use provisioner::rules::store;
use provisioner::rules::{preview, RuleSet};

use super::PreviewFormatArg;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Validate the rules and the app catalogue; exit 0 valid, 1 invalid.
    Check {
        /// The rules directory (default: rules.path of the config).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// What each employee of a JSON-lines file gets, or the diff to a baseline.
    Preview {
        /// Employee snapshots, one JSON object a line.
        #[arg(long)]
        employees: PathBuf,
        /// The rules directory (default: rules.path of the config).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Compare with the grants of this (older) rules directory.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: PreviewFormatArg,
    },
    /// Validate a rules directory, simulate it over every employee, and
    /// write it to the rules store (topics.rules) as the new version; exit 0
    /// published (or already the latest), 1 invalid or refused.
    Publish {
        /// The rules directory (default: rules.path of the config).
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        publish: PublishArgs,
    },
    /// Every published version, newest first.
    History,
    /// One published version: who, when, why, its impact and its files.
    Show {
        /// The version (`sha256:…`, or a unique prefix of its hex).
        version: String,
        /// Write its rule files into this (new or empty) directory instead
        /// of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The rules that differ between two published versions, and what going
    /// from A to B would change for the current employees.
    Diff {
        /// The older version.
        a: String,
        /// The newer version.
        b: String,
    },
    /// Publish the content of an earlier version again, as a new version
    /// (validated and simulated like any publish).
    Rollback {
        /// The version to return to.
        version: String,
        #[command(flatten)]
        publish: PublishArgs,
    },
}

/// What `publish` and `rollback` share.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// Why (recorded with the version). Rollback: default "rollback to VERSION".
    #[arg(long)]
    message: Option<String>,
    /// Who (recorded with the version); default $USER.
    #[arg(long)]
    author: Option<String>,
    /// Print the validation and the impact; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Publish even when the guard would hold the change's deprovisions
    /// (the engine still holds them until an operator releases them).
    #[arg(long)]
    yes: bool,
}

impl PublishArgs {
    fn author(&self) -> String {
        self.author
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// Runs one `rules` subcommand.
pub fn run(config: &Config, command: RulesCommand) -> anyhow::Result<ExitCode> {
    let out = &mut std::io::stdout().lock();
    match command {
        RulesCommand::Check { rules } => check(config, rules),
        RulesCommand::Preview {
            employees,
            rules,
            baseline,
            format,
        } => preview_file(config, &employees, rules, baseline, format),
        RulesCommand::Publish { rules, publish } => {
            let dir = rules.unwrap_or_else(|| config.rules.path.clone());
            let Some(message) = publish.message.clone() else {
                eprintln!("error: rules publish needs --message TEXT: why the rules change");
                return Ok(ExitCode::from(2));
            };
            let draft = match Draft::from_dir(&dir, publish.author(), message) {
                Ok(draft) => draft,
                Err(error) => return refused(&error),
            };
            publish_draft(config, draft, &publish, out)
        }
        RulesCommand::Rollback { version, publish } => {
            let history = publish::history(config)?;
            let draft = match publish::rollback_draft(
                config,
                &history,
                &version,
                publish.author(),
                publish.message.clone(),
            ) {
                Ok(draft) => draft,
                Err(error) => return refused(&error),
            };
            publish_draft(config, draft, &publish, out)
        }
        RulesCommand::History => {
            let history = publish::history(config)?;
            if history.is_empty() {
                writeln!(out, "no rules published on {}", config.topics.rules)?;
            } else {
                store::write_history(out, &history)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Show { version, out: dir } => {
            let history = publish::history(config)?;
            let stored = publish::find(config, &history, &version)?;
            store::write_revision(out, stored)?;
            match dir {
                Some(dir) => {
                    stored.revision.write_dir(&dir).with_context(|| {
                        format!("cannot write the rule files to {}", dir.display())
                    })?;
                    writeln!(
                        out,
                        "wrote {} files to {}",
                        stored.revision.files.len(),
                        dir.display()
                    )?;
                }
                None => {
                    for file in &stored.revision.files {
                        writeln!(out, "--- {}", file.name)?;
                        out.write_all(file.text.as_bytes())?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Diff { a, b } => {
            let history = publish::history(config)?;
            let (changes, impact) = publish::diff(config, &history, &a, &b, chrono::Utc::now())?;
            store::write_rule_changes(out, &changes)?;
            store::write_impact(out, &impact)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Plans, prints, and (unless a dry run, or refused) writes a draft.
fn publish_draft(
    config: &Config,
    draft: Draft,
    args: &PublishArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let plan = match publish::plan(config, draft, chrono::Utc::now()) {
        Ok(plan) => plan,
        Err(error @ publish::PublishError::Invalid { .. }) => return refused(&error),
        Err(other) => return Err(other.into()),
    };
    print_plan(config, &plan, out)?;
    if plan.unchanged() {
        writeln!(
            out,
            "{} is already the latest version on {}; nothing written",
            plan.revision.version, config.topics.rules
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        let needs_yes = if plan.trips_guard() {
            " (publishing it would need --yes)"
        } else {
            ""
        };
        writeln!(out, "dry run: nothing written{needs_yes}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if plan.trips_guard() && !args.yes {
        eprintln!(
            "error: refused: the guard would hold this change's deprovisions; \
             publish with --yes to write it anyway (the engine holds them until released)"
        );
        return Ok(ExitCode::from(1));
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    match runtime.block_on(publish::commit(config, &plan)) {
        Ok(()) => {
            writeln!(
                out,
                "published {} to {}",
                plan.revision.version, config.topics.rules
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(publish::PublishError::Write(error))
            if matches!(*error, store::WriteError::Moved { .. }) =>
        {
            refused(&publish::PublishError::Write(error))
        }
        Err(other) => Err(other.into()),
    }
}

/// What is being published, over what, and what it changes.
fn print_plan(config: &Config, plan: &Plan, out: &mut impl Write) -> std::io::Result<()> {
    let over = plan.current.as_ref().map_or_else(
        || format!("the first version on {}", config.topics.rules),
        |c| {
            format!(
                "replacing {} (latest on {})",
                c.revision.version, config.topics.rules
            )
        },
    );
    writeln!(out, "version {}: {over}", plan.revision.version)?;
    store::write_rule_changes(out, &plan.rules)?;
    store::write_impact(out, &plan.revision.impact)
}

/// An invalid or refused publish: the error on stderr, exit 1.
fn refused(error: &publish::PublishError) -> anyhow::Result<ExitCode> {
    eprintln!("error: {}", provisioner::text::error_chain(error));
    Ok(ExitCode::from(1))
}

/// `provisioner rules check`: exit 0 with a summary line, or 1 with every problem.
fn check(config: &Config, rules: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = rules.unwrap_or_else(|| config.rules.path.clone());
    match RuleSet::load_dir(&dir, &config.apps) {
        Ok(set) => {
            println!(
                "{}: {} rules valid ({})",
                dir.display(),
                set.len(),
                set.version()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            println!("{errors}");
            eprintln!("error: {} problem(s) in {}", errors.0.len(), dir.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// `provisioner rules preview`: what the rules would decide for a file of
/// employees, against a baseline rule set if given.
fn preview_file(
    config: &Config,
    employees: &Path,
    rules: Option<PathBuf>,
    baseline: Option<PathBuf>,
    format: PreviewFormatArg,
) -> anyhow::Result<ExitCode> {
    let set = load_dir(config, rules.as_deref())?;
    let base = match baseline {
        Some(dir) => Some(load_dir(config, Some(&dir))?),
        None => None,
    };
    let file = std::fs::File::open(employees)
        .with_context(|| format!("{}: cannot open", employees.display()))?;
    let mut out = std::io::stdout().lock();
    preview::preview(
        std::io::BufReader::new(file),
        employees,
        &set,
        base.as_ref(),
        &Calendar::new(config, chrono::Utc::now()),
        format.into(),
        &mut out,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The rules of `dir` (default `rules.path`).
pub fn load_dir(config: &Config, dir: Option<&Path>) -> anyhow::Result<RuleSet> {
    let dir = dir.unwrap_or(&config.rules.path);
    RuleSet::load_dir(dir, &config.apps)
        .map_err(|errors| anyhow::anyhow!("invalid rules in {}:\n{errors}", dir.display()))
}

/// The rules in force for this configuration: the latest published
/// version with `rules.source = "kafka"`, else `rules.path`.
pub fn in_force(config: &Config) -> anyhow::Result<RuleSet> {
    match config.rules.source {
        provisioner::config::RulesSource::Dir => load_dir(config, None),
        provisioner::config::RulesSource::Kafka => Ok(provisioner::engine::stored_rules(config)?),
    }
}
