//! The command line: the [`Cli`] root and its [`Command`] subcommands with
//! their own options, assembled with the settings' arguments from
//! [`crate::config::args`] so that each subcommand's `--help` lists only what
//! it uses. [`command`] is the whole definition (also behind completions and
//! the man page).
//!
//! Settings (`--window`, `--database-url`, ...) arrive as
//! [`crate::config::Flags`] so the configuration can tell "not given" from
//! "given" and layer them over the environment, the config file and the
//! defaults. Nothing here validates settings or reads files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Flags;
use crate::config::args::args_for;
use crate::duration::parse_duration;

/// The settings given on the command line and in the environment.
pub type GlobalArgs = Flags;

/// A parsed command line: what to do and the settings given.
#[derive(Debug, Clone)]
pub struct Cli {
    /// What to do; without one, the live dashboard opens.
    pub command: Option<Command>,
    pub global: GlobalArgs,
}

/// The root command's text and subcommands (the settings are added by
/// [`command`]).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "jfmon",
    version,
    about = "Live terminal monitor for the JyotiFlow.ai platform",
    long_about = "Live terminal monitor for the JyotiFlow.ai platform.\n\n\
        Without a subcommand, opens the live dashboard on the database given by \
        --database-url / DATABASE_URL.\n\n\
        Settings are taken from flags, then environment variables, then the config \
        file (--config, else $XDG_CONFIG_HOME/jfmon/config.toml), then defaults.",
    after_help = "Durations are written like 500ms, 2s, 1m, 15m, 1h, 24h or 1d."
)]
struct Root {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The whole command line definition: the root with the dashboard's and the
/// global settings, each subcommand with its own.
pub fn command() -> clap::Command {
    let mut cmd = Root::command().args(args_for(None));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(&name, |c| c.args(args_for(Some(&name))));
    }
    cmd
}

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        command()
    }

    fn command_for_update() -> clap::Command {
        command()
    }
}

impl FromArgMatches for Cli {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let global = Flags::from_matches(m)?;
        let root = Root::from_arg_matches(m)?;
        Ok(Cli {
            command: root.command,
            global,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Parser for Cli {}

/// jfmon's subcommands. No subcommand means: open the live dashboard.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Open the dashboard on the built-in traffic simulator (no database needed)
    Demo(DemoArgs),
    /// Apply the embedded schema migrations to the database
    Migrate,
    /// Write realistic simulated traffic into the database
    Simulate(SimulateArgs),
    /// One status check for cron and monitoring agents
    #[command(long_about = "One status check for cron and monitoring agents.\n\n\
            Exit code: 0 OK, 1 warning, 2 critical, 3 unknown (e.g. database unreachable).")]
    Check(CheckArgs),
    /// Poll once and print the result
    Snapshot(SnapshotArgs),
    /// Run the hub that streams live updates to remote dashboards
    #[command(
        long_about = "Run the hub that streams live updates to remote dashboards.\n\n\
            Unless --read-only, it also keeps jfmon's per-minute rollups current \
            (see `jfmon rollup`)."
    )]
    Serve(ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, ...)
    #[command(
        long_about = "Print a shell completion script, generated from jfmon's own \
            option definitions.\n\n\
            bash:  jfmon completions bash > ~/.local/share/bash-completion/completions/jfmon\n\
            zsh:   jfmon completions zsh > ~/.zfunc/_jfmon   (with fpath+=~/.zfunc before compinit)\n\
            fish:  jfmon completions fish > ~/.config/fish/completions/jfmon.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. jfmon man > ~/.local/share/man/man1/jfmon.1
    Man,
    /// Build and keep jfmon's per-minute rollups (history for long windows)
    #[command(
        long_about = "Build and keep jfmon's per-minute rollups (tables jfmon_rollup_*, \
            created by `jfmon migrate`).\n\n\
            --backfill 7d adds the last seven days in bounded slices (resumable: run it \
            again after an interruption); --follow keeps them current where no \
            `jfmon serve` runs. Every raw row is counted exactly once; one process \
            maintains them while others stand by."
    )]
    Rollup(RollupArgs),
    /// Delete old raw rows from the monitoring tables (optionally archived first)
    #[command(
        long_about = "Delete raw rows older than --older-than from the monitoring tables, in \
            small batches by id range, each one short transaction with a 2 s lock_timeout \
            (a batch that hits it is retried), so the platform's writers are never held up.\n\n\
            The rollups are kept: rows older than the cutoff are first counted into them (as \
            `jfmon rollup --backfill` would), and a row the rollups have not counted is never \
            deleted, so the dashboards and baselines still show the pruned days. Alerts go \
            only once acknowledged or resolved, never open ones; monitoring_integration_health \
            is never pruned.\n\n\
            --archive DIR first writes each batch to DIR as gzip-compressed CSV (loadable with \
            COPY ... (FORMAT csv, HEADER)) and lists it in DIR/manifest.csv (table, id range, \
            rows, SHA-256); request_body is never archived and secrets in JSON and error texts \
            are masked. Resumable: after an interruption run it again. Refused under --read-only \
            (except --dry-run, which only counts)."
    )]
    Prune(PruneArgs),
    /// Check, test and backtest the alert rules
    #[command(
        long_about = "Check, test and backtest the alert rules (the shipped defaults, \
            [[rules]] in the config file, --rules FILE; see assets/RULES.md).\n\n\
            check [FILE]: one line per problem, naming the rule and the key; exit 1 on any.\n\
            test FILE: run rule unit tests (input series, alerts expected at given times), \
            in the style of `promtool test rules`.\n\
            backtest --since 7d: replay the rules over the rollup history and print what \
            would have fired and resolved, and when."
    )]
    Rules(RulesArgs),
}

/// Options of `jfmon prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Delete rows older than this (e.g. 30d; at least 1d)
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub older_than: Duration,

    /// Write each batch to DIR as compressed CSV (with manifest.csv) before deleting it
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,

    /// Only count what would be deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Ids per batch (one short transaction each)
    #[arg(long, value_name = "ROWS", default_value_t = 5_000, value_parser = clap::value_parser!(i64).range(100..=100_000))]
    pub batch_rows: i64,

    /// Do not draw a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

/// What `jfmon rules` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesAction {
    /// Validate a rule file (default: the configured rules)
    Check,
    /// Run a rule test file
    Test,
    /// Replay the rules over the rollup history
    Backtest,
}

/// Options of `jfmon rules`.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// check, test or backtest
    #[arg(value_enum, value_name = "ACTION")]
    pub action: RulesAction,

    /// The rule file to check, or the test file to run
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// How far back a backtest replays (e.g. 7d; at most 30d)
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "7d")]
    pub since: Duration,
}

/// Options of `jfmon rollup`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).multiple(true).args(["backfill", "follow"])))]
pub struct RollupArgs {
    /// Add this much history ending now (e.g. 7d, at most 30d)
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub backfill: Option<Duration>,

    /// Keep the rollups current until interrupted (after the backfill, if any)
    #[arg(long)]
    pub follow: bool,

    /// Raw rows per backfill slice (one short transaction each)
    #[arg(long, value_name = "ROWS", default_value_t = 50_000, value_parser = clap::value_parser!(i64).range(100..=1_000_000))]
    pub slice_rows: i64,

    /// Do not draw a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

/// Options of `jfmon completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Options of `jfmon demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Seed for the simulator's random generator (random when omitted)
    #[arg(long, value_name = "U64")]
    pub seed: Option<u64>,

    /// Simulated requests per second
    #[arg(long, value_name = "PER_SEC", default_value_t = 20.0, value_parser = parse_rate)]
    pub rate: f64,
}

/// Options of `jfmon simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Requests per second to write
    #[arg(long, value_name = "PER_SEC", default_value_t = 20.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Stop after this long (runs until Ctrl-C when omitted)
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// First write this much history ending now (e.g. 1h), then go live
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub backfill: Option<Duration>,

    /// Seed for the random generator, for reproducible traffic
    #[arg(long, value_name = "U64", default_value_t = 42)]
    pub seed: u64,

    /// Do not draw a progress bar
    #[arg(long)]
    pub no_progress: bool,

    /// Rows held while the database is unreachable; beyond this the oldest are dropped (and counted)
    #[arg(long, value_name = "ROWS", default_value_t = crate::sim::writer::DEFAULT_BUFFER_ROWS)]
    pub buffer_rows: usize,

    /// Inject a named incident starting now: TARGET:KIND:DUR, e.g. openai:down:3m or
    /// /api/spiritual/guidance:degraded:5m (repeatable)
    #[arg(long, value_name = "SPEC", value_parser = crate::sim::incident::parse)]
    pub incident: Vec<crate::sim::incident::IncidentSpec>,

    /// No random integration incidents (only those named by --incident)
    #[arg(long)]
    pub no_random_incidents: bool,
}

/// Options of `jfmon check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Print the result as one JSON object instead of a status line
    #[arg(long)]
    pub json: bool,
}

/// Options of `jfmon snapshot`.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,

    /// Keep polling and print one JSON object per poll (NDJSON)
    #[arg(long)]
    pub follow: bool,
}

/// Options of `jfmon serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:10000")]
    pub listen: SocketAddr,

    /// File holding the token clients must present (first line; kept out of argv)
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Serve HTTPS and wss:// with this certificate chain (PEM); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// A positive, finite request rate.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 100_000.0 => Ok(r),
        Ok(_) => Err(format!(
            "\"{s}\" is out of range (use a rate above 0 and at most 100000)"
        )),
        Err(_) => Err(format!("\"{s}\" is not a number (use e.g. 20 or 0.5)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_before_or_after_subcommand() {
        let a = Cli::try_parse_from(["jfmon", "--window", "1h", "check", "--json"]).unwrap();
        let b = Cli::try_parse_from(["jfmon", "check", "--json", "--window", "1h"]).unwrap();
        assert_eq!(a.global.get("window"), Some("1h"));
        assert_eq!(b.global.get("window"), Some("1h"));
        assert!(matches!(
            a.command,
            Some(Command::Check(CheckArgs { json: true }))
        ));
    }

    #[test]
    fn bool_flags_do_not_swallow_the_subcommand() {
        let c = Cli::try_parse_from(["jfmon", "--read-only", "migrate"]).unwrap();
        assert_eq!(c.global.get("read_only"), Some("true"));
        assert!(matches!(c.command, Some(Command::Migrate)));
        let c = Cli::try_parse_from(["jfmon", "--ascii=false", "--local-time"]).unwrap();
        assert_eq!(c.global.get("ascii"), Some("false"));
        assert_eq!(c.global.get("local_time"), Some("true"));
        assert!(c.command.is_none());
    }

    #[test]
    fn subcommand_defaults() {
        let c = Cli::try_parse_from(["jfmon", "simulate", "--backfill", "1h"]).unwrap();
        let Some(Command::Simulate(s)) = c.command else {
            panic!()
        };
        assert_eq!(s.rate, 20.0);
        assert_eq!(s.seed, 42);
        assert_eq!(s.backfill, Some(Duration::from_secs(3600)));
        assert_eq!(s.duration, None);
        let c = Cli::try_parse_from(["jfmon", "serve"]).unwrap();
        let Some(Command::Serve(s)) = c.command else {
            panic!()
        };
        assert_eq!(s.listen, "127.0.0.1:10000".parse().unwrap());
        assert!(Cli::try_parse_from(["jfmon", "demo", "--rate", "-1"]).is_err());
        assert!(Cli::try_parse_from(["jfmon", "simulate", "--duration", "soon"]).is_err());
    }
}
