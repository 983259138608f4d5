//! Command-line definitions (clap derive): the [`Cli`] root, its
//! [`Command`] subcommands and the [`GlobalArgs`] shared by all of them.
//!
//! Global options are all `Option`s so [`crate::config`] can tell "not given"
//! from "given", and layer them over the environment, the config file and the
//! defaults. Nothing here validates ranges or reads files; that is the job of
//! [`crate::config::load`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

/// Live terminal monitor for the JyotiFlow.ai platform.
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
pub struct Cli {
    /// What to do; without one, the live dashboard opens.
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub global: GlobalArgs,
}

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
    Serve(ServeArgs),
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
}

/// Options accepted before or after any subcommand. Every field is optional so
/// that an absent flag never overrides the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/dbname
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Config file [default: $XDG_CONFIG_HOME/jfmon/config.toml]
    #[arg(long, global = true, env = "JFMON_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Time window the dashboard aggregates over (1m..7d) [default: 15m]
    #[arg(long, global = true, env = "JFMON_WINDOW", value_name = "DUR")]
    pub window: Option<String>,

    /// How often to poll the database (200ms..5m) [default: 2s]
    #[arg(long, global = true, env = "JFMON_INTERVAL", value_name = "DUR")]
    pub interval: Option<String>,

    /// Environment label shown in the header, e.g. staging [default: production]
    #[arg(long, global = true, env = "JFMON_ENV", value_name = "NAME")]
    pub env_name: Option<String>,

    /// Never write to the database (no migrations, no simulated traffic)
    #[arg(
        long,
        global = true,
        env = "JFMON_READ_ONLY",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub read_only: Option<bool>,

    /// Show times in the local time zone instead of UTC
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub local_time: Option<bool>,

    /// Disable colours (also when the NO_COLOR environment variable is set)
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub no_color: Option<bool>,

    /// NO_COLOR (https://no-color.org): set and non-empty means no colours.
    /// Read from the environment only; `--no-color` is the flag.
    #[arg(
        long = "no-color-env",
        global = true,
        hide = true,
        env = "NO_COLOR",
        value_parser = parse_no_color_env
    )]
    pub no_color_env: Option<bool>,

    /// Draw with plain ASCII instead of Unicode box and block characters
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub ascii: Option<bool>,

    /// Subscribe to a jfmon hub or the platform stream (ws:// or wss://): with a database URL in addition to polling it, without one on the stream alone
    #[arg(long = "ws", global = true, env = "JFMON_WS", value_name = "URL")]
    pub ws: Option<String>,

    /// Token for the hub given by --ws
    #[arg(
        long,
        global = true,
        env = "JFMON_WS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub ws_token: Option<String>,

    /// Write diagnostics to this file (the terminal belongs to the dashboard)
    #[arg(long, global = true, env = "JFMON_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Cancel any single query running longer than this [default: 5s]
    #[arg(
        long,
        global = true,
        env = "JFMON_STATEMENT_TIMEOUT",
        value_name = "DUR"
    )]
    pub statement_timeout: Option<String>,

    /// Time zone the platform writes its timestamps in, e.g. Asia/Kolkata
    /// [default: the server's own]
    #[arg(long, global = true, env = "JFMON_DB_TIMEZONE", value_name = "TZ")]
    pub db_timezone: Option<String>,

    /// A session counts as active while it was seen within this (1m..30d) [default: 30m]
    #[arg(long, global = true, env = "JFMON_IDLE_TIMEOUT", value_name = "DUR")]
    pub idle_timeout: Option<String>,
}

/// Boolean flag values: true/false, yes/no, on/off, 1/0 (case-insensitive).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
        other => Err(format!("\"{other}\" is not a boolean (use true or false)")),
    }
}

/// NO_COLOR semantics: any non-empty value disables colour.
fn parse_no_color_env(s: &str) -> Result<bool, String> {
    Ok(!s.is_empty())
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
        assert_eq!(a.global.window.as_deref(), Some("1h"));
        assert_eq!(b.global.window.as_deref(), Some("1h"));
        assert!(matches!(
            a.command,
            Some(Command::Check(CheckArgs { json: true }))
        ));
    }

    #[test]
    fn bool_flags_do_not_swallow_the_subcommand() {
        let c = Cli::try_parse_from(["jfmon", "--read-only", "migrate"]).unwrap();
        assert_eq!(c.global.read_only, Some(true));
        assert!(matches!(c.command, Some(Command::Migrate)));
        let c = Cli::try_parse_from(["jfmon", "--ascii=false", "--local-time"]).unwrap();
        assert_eq!(c.global.ascii, Some(false));
        assert_eq!(c.global.local_time, Some(true));
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
