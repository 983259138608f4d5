//! `jfmon rules check [FILE]`, `jfmon rules test FILE` and
//! `jfmon rules backtest --since DUR`: the rule engine ([`crate::rules`])
//! on a file, on test series, and on the rollup history.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, TimeDelta, Utc};
use toml::Table;

use super::{Fail, Outcome, connect};
use crate::cli::{RulesAction, RulesArgs};
use crate::config::{Config, Flags, rules as config_rules};
use crate::model::minute_of;
use crate::rollup::baseline;
use crate::rules::testfile::TestFile;
use crate::rules::{Evaluator, RuleSet, TransitionKind};
use crate::user_error::describe_db_error;

/// The longest backtest.
const MAX_SINCE: TimeDelta = TimeDelta::days(30);

fn read(path: &Path) -> Result<String, Fail> {
    std::fs::read_to_string(path).map_err(|e| Fail {
        message: format!("cannot read {}: {e}", path.display()),
        code: 2,
    })
}

/// Print `problems` one per line on stderr and exit 1; or `ok` on stdout.
fn report(problems: &[String], ok: String) -> Outcome {
    if problems.is_empty() {
        println!("{ok}");
        return Ok(ExitCode::SUCCESS);
    }
    for p in problems {
        eprintln!("{p}");
    }
    Ok(ExitCode::from(1))
}

/// `jfmon rules check [FILE]`: FILE alone over the defaults, or else what the
/// configuration would load (config file `[[rules]]`, `--rules FILE`).
pub fn check(flags: &Flags, file: Option<&Path>) -> Outcome {
    let (with_defaults, tables) = match file {
        Some(p) => {
            let text = read(p)?;
            match config_rules::gather(None, Some((p, &text))) {
                Ok(x) => x,
                Err(e) => {
                    return report(
                        &e.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
                        String::new(),
                    );
                }
            }
        }
        None => {
            let config = crate::config::file::read(flags.config.as_deref()).map_err(|e| Fail {
                message: e.to_string(),
                code: 2,
            })?;
            let doc: Option<Table> = match &config {
                Some((p, text)) => Some(toml::from_str(text).map_err(|e| Fail {
                    message: format!("{}: {}", p.display(), e.message().trim()),
                    code: 2,
                })?),
                None => None,
            };
            let rules_file = flags
                .get("rules_file")
                .map(|p| crate::config::check::expand_tilde(Path::new(p)))
                .or_else(|| {
                    doc.as_ref()
                        .and_then(|d| d.get("rules_file"))
                        .and_then(|v| v.as_str())
                        .map(|p| crate::config::check::expand_tilde(Path::new(p)))
                });
            let text = rules_file.as_deref().map(read).transpose()?;
            match config_rules::gather(doc.as_ref(), rules_file.as_deref().zip(text.as_deref())) {
                Ok(x) => x,
                Err(e) => {
                    return report(
                        &e.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
                        String::new(),
                    );
                }
            }
        }
    };
    match RuleSet::from_tables(with_defaults, &tables) {
        Ok(set) => {
            let what = if with_defaults {
                "the shipped defaults and the rules given"
            } else {
                "the rules given (defaults off)"
            };
            report(&[], format!("OK: {} rules ({what})", set.len()))
        }
        Err(errors) => report(
            &errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            String::new(),
        ),
    }
}

/// `jfmon rules test FILE` and `jfmon rules backtest`.
pub async fn run(cfg: &Config, a: &RulesArgs) -> Outcome {
    match a.action {
        RulesAction::Check => unreachable!("checked before the configuration is loaded"),
        RulesAction::Test => {
            let Some(path) = &a.file else {
                return Err(Fail {
                    message:
                        "`jfmon rules test` needs a test file: jfmon rules test rules_test.toml"
                            .into(),
                    code: 2,
                });
            };
            let text = read(path)?;
            let file = match TestFile::parse(&text) {
                Ok(f) => f,
                Err(problems) => {
                    let lines: Vec<String> = problems
                        .iter()
                        .map(|p| format!("{}: {p}", path.display()))
                        .collect();
                    return report(&lines, String::new());
                }
            };
            let (checked, failures) = file.run();
            let lines: Vec<String> = failures.iter().map(|f| format!("FAILED {f}")).collect();
            let out = report(&lines, format!("OK: {checked} expectations passed"));
            if !failures.is_empty() {
                eprintln!("{} of {checked} expectations failed", failures.len());
            }
            out
        }
        RulesAction::Backtest => backtest(cfg, a).await,
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

async fn backtest(cfg: &Config, a: &RulesArgs) -> Outcome {
    let since = TimeDelta::from_std(a.since).unwrap_or(MAX_SINCE);
    if since > MAX_SINCE || since < TimeDelta::minutes(1) {
        return Err(Fail {
            message: "--since is between 1m and 30d".into(),
            code: 2,
        });
    }
    let (pool, url) = connect(cfg).await?;
    let db = |e: sqlx::Error| Fail::new(describe_db_error(&e, &url));
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .map_err(db)?;
    let start = now - since;
    // The replay's baselines reach back a week and a quarter day before it.
    let earliest = crate::rules::BaselineBuilder::earliest(start);
    let mut history = baseline::minutes(&pool, &[(earliest, now)])
        .await
        .map_err(db)?;
    history.sort();
    let Some((first_held, _)) = history.span() else {
        return Err(Fail {
            message: "no rollup history to replay — run `jfmon migrate`, then `jfmon rollup --backfill 7d`".into(),
            code: 2,
        });
    };
    let from = minute_of(start).max(first_held);
    let to = minute_of(now) - 1;
    println!(
        "Backtest of {} rules from {} to {} UTC ({} minutes of rollups)",
        cfg.rules.len(),
        when(crate::model::minute_start(from)),
        when(crate::model::minute_start(to + 1)),
        to - from + 1
    );
    let mut ev = Evaluator::new(cfg.rules.clone());
    let (mut fired, mut resolved) = (0usize, 0usize);
    crate::rules::replay::run(
        &mut ev,
        &history,
        from,
        to,
        cfg.window.as_secs(),
        |_, _, ts| {
            for t in ts {
                match t.kind {
                    TransitionKind::Firing => fired += 1,
                    TransitionKind::Resolved => resolved += 1,
                }
                println!("{}", crate::rules::replay::line(t));
            }
        },
    );
    println!(
        "{fired} fired, {resolved} resolved, {} still firing at the end",
        ev.firing()
    );
    for (rule, note) in ev.notes() {
        println!("note: {rule}: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
