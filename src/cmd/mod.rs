//! The subcommands: each takes the validated [`Config`] and returns an exit
//! code, or a [`Fail`] holding the one line the user sees.

pub mod check;
pub mod dashboard;
pub mod generate;
pub mod migrate;
pub mod prune;
pub mod rollup;
pub mod rules;
pub mod serve;
pub mod simulate;
pub mod snapshot;

use std::process::ExitCode;

use sqlx::PgPool;

use crate::cli::{Cli, Command};
use crate::config::{self, Config};
use crate::db::connect::{ConnectSettings, pool};
use crate::db::poller::{PollSettings, Poller};
use crate::source::stream::StreamSettings;
use crate::source::{Database, Plan};
use crate::user_error::{describe_db_error, is_unknown_timezone_error};

/// A failure to report: one line on stderr, then exit with `code`.
#[derive(Debug)]
pub struct Fail {
    pub message: String,
    pub code: u8,
}

impl Fail {
    pub fn new(message: impl Into<String>) -> Self {
        Fail {
            message: message.into(),
            code: 1,
        }
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Outcome = Result<ExitCode, Fail>;

/// Run what the command line asks for.
pub async fn run(cli: Cli) -> Outcome {
    match &cli.command {
        // Generated from the command line definition alone: no configuration.
        Some(Command::Completions(a)) => return generate::completions(a),
        Some(Command::Man) => return generate::man(),
        // Checks the rule sources itself, one line per problem.
        Some(Command::Rules(a)) if a.action == crate::cli::RulesAction::Check => {
            return rules::check(&cli.global, a.file.as_deref());
        }
        _ => {}
    }
    let is_check = matches!(cli.command, Some(Command::Check(_)));
    let cfg = config::load(&cli.global).map_err(|e| Fail {
        message: e.to_string(),
        // For `check`, a broken configuration is UNKNOWN, not CRITICAL.
        code: if is_check { 3 } else { 2 },
    })?;
    match cli.command {
        Some(Command::Migrate) => migrate::run(&cfg).await,
        Some(Command::Simulate(a)) => simulate::run(&cfg, &a).await,
        Some(Command::Check(a)) => check::run(&cfg, &a).await,
        Some(Command::Snapshot(a)) => snapshot::run(&cfg, &a).await,
        Some(Command::Serve(a)) => serve::run(&cfg, &a).await,
        Some(Command::Rollup(a)) => rollup::run(&cfg, &a).await,
        Some(Command::Prune(a)) => prune::run(&cfg, &a).await,
        Some(Command::Rules(a)) => rules::run(&cfg, &a).await,
        Some(Command::Demo(a)) => dashboard::run(&cfg, Some(&a)).await,
        Some(Command::Completions(_) | Command::Man) => unreachable!("handled above"),
        None => dashboard::run(&cfg, None).await,
    }
}

/// The database URL, or the line telling the user how to give one.
pub fn require_url(cfg: &Config) -> Result<&str, Fail> {
    cfg.database_url.as_deref().ok_or_else(|| Fail {
        message:
            "no database given — pass --database-url postgres://user:password@host:5432/dbname \
                  or set DATABASE_URL (or try `jfmon demo`, which needs none)"
                .into(),
        code: 2,
    })
}

pub fn connect_settings(cfg: &Config, url: &str) -> ConnectSettings {
    ConnectSettings {
        url: url.to_owned(),
        statement_timeout: cfg.statement_timeout,
        connect_timeout: std::time::Duration::from_secs(5),
        db_timezone: cfg.db_timezone.clone(),
        max_connections: crate::db::connect::POOL_CONNECTIONS,
    }
}

/// Connect now, turning any failure into the user's one line.
pub async fn connect(cfg: &Config) -> Result<(PgPool, String), Fail> {
    let url = require_url(cfg)?.to_owned();
    let p = pool(&connect_settings(cfg, &url), true)
        .await
        .map_err(|e| Fail {
            message: describe_db_error(&e, &url),
            // A zone PostgreSQL does not know is a mistake in the settings.
            code: if is_unknown_timezone_error(&e) { 2 } else { 1 },
        })?;
    Ok((p, url))
}

pub fn poller(cfg: &Config, pool: PgPool) -> Poller {
    let mut p = Poller::new(
        pool,
        PollSettings {
            window: cfg.window,
            idle_timeout: cfg.idle_timeout,
        },
    );
    p.set_business_timezone(cfg.business_timezone.clone());
    p
}

/// Refuse a business time zone PostgreSQL does not know, as one line.
pub async fn check_business_timezone(cfg: &Config, pool: &PgPool, url: &str) -> Result<(), Fail> {
    let zone = &cfg.business_timezone;
    match sqlx::query("SELECT date_trunc('day', now(), $1)")
        .bind(zone)
        .execute(pool)
        .await
    {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("22023") => Err(Fail {
            message: format!(
                "unknown time zone \"{zone}\" (--business-timezone / business_timezone) — \
                 use e.g. Asia/Kolkata, UTC or +05:30 (SELECT name FROM pg_timezone_names lists them)"
            ),
            code: 2,
        }),
        Err(e) => Err(Fail::new(describe_db_error(&e, url))),
    }
}

/// The database to poll, connected now.
pub async fn database(cfg: &Config) -> Result<Database, Fail> {
    let (pool, url) = connect(cfg).await?;
    check_business_timezone(cfg, &pool, &url).await?;
    Ok(Database {
        poller: poller(cfg, pool),
        url,
        interval: cfg.interval,
    })
}

/// The source the configuration names, for every command that follows one:
/// the stream (`--ws`), together with the database when a URL is given too,
/// else the database. A database is connected now, so a wrong URL or
/// password fails here as one line.
pub async fn source_plan(cfg: &Config) -> Result<Plan, Fail> {
    Ok(match StreamSettings::from_config(cfg) {
        Some(stream) if cfg.database_url.is_some() => {
            Plan::StreamAndDatabase(stream, database(cfg).await?)
        }
        Some(stream) => Plan::Stream(stream),
        None => Plan::Database(database(cfg).await?),
    })
}

/// Refuse a write when the configuration says read-only.
pub fn refuse_if_read_only(cfg: &Config, what: &str) -> Result<(), Fail> {
    if cfg.read_only {
        return Err(Fail {
            message: format!(
                "{what} writes to the database, and jfmon is in read-only mode (--read-only / read_only in the config)"
            ),
            code: 2,
        });
    }
    Ok(())
}
