//! `jfmon check`: the status check for cron and monitoring agents. Exit codes
//! follow the Nagios convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Outcome, connect_settings, poller, require_url};
use crate::cli::CheckArgs;
use crate::config::Config;
use crate::db::connect::pool;
use crate::db::id_space::id_space;
use crate::db::schema;
use crate::model::tables::{self, missing_message};
use crate::model::{Health, Update};
use crate::store::State;
use crate::user_error::describe_db_error;

/// Newest API call older than this: warning; older than twice this: critical.
const STALE_AFTER_SECS: i64 = 300;
/// Ids that run out sooner than this at the observed rate: warning.
const IDS_WARN_SECS: f64 = 30.0 * 86_400.0;
/// The tables with 32-bit `SERIAL` ids in the platform's schema, and their time column.
const SERIAL_TABLES: [(&str, &str); 2] = [
    (tables::API_CALLS, "timestamp"),
    ("monitoring_alerts", "created_at"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Verdict {
    fn code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Warning => 1,
            Verdict::Critical => 2,
            Verdict::Unknown => 3,
        }
    }
    fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Critical => "CRITICAL",
            Verdict::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub level: Verdict,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: Verdict,
    pub exit_code: u8,
    pub summary: String,
    pub checked_at: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
}

pub async fn run(cfg: &Config, a: &CheckArgs) -> Outcome {
    let report = match require_url(cfg) {
        Err(f) => unknown(f.message),
        Ok(url) => match pool(&connect_settings(cfg, url), true).await {
            Err(e) => unknown(describe_db_error(&e, url)),
            Ok(p) => match findings(cfg, url, p).await {
                Ok((at, f)) => report(Some(at), f),
                Err(e) => unknown(describe_db_error(&e, url)),
            },
        },
    };
    if a.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("JFMON {} - {}", report.status.word(), report.summary);
        for f in report.findings.iter().filter(|f| f.level != Verdict::Ok) {
            println!("  {}: {} ({})", f.level.word(), f.message, f.check);
        }
    }
    Ok(ExitCode::from(report.exit_code))
}

/// A WARNING when `table`'s ids run out within [`IDS_WARN_SECS`] at the
/// rate they were taken lately, saying how to widen them.
async fn id_finding(
    pool: &sqlx::PgPool,
    table: &'static str,
    instant: &str,
) -> Result<Option<Finding>, sqlx::Error> {
    let Some(space) = id_space(pool, table, instant).await? else {
        return Ok(None);
    };
    let Some(left) = space.secs_left().filter(|s| *s < IDS_WARN_SECS) else {
        return Ok(None);
    };
    let when = if left < 7200.0 {
        format!("{:.0} minutes", left / 60.0)
    } else if left < 2.0 * 86_400.0 {
        format!("{:.0} hours", left / 3600.0)
    } else {
        format!("{:.0} days", left / 86_400.0)
    };
    Ok(Some(Finding {
        check: "ids",
        level: Verdict::Warning,
        message: format!(
            "{table}.id ({}) runs out in about {when} at {:.1} ids/s ({} of {} used) — \
             widen it in a maintenance window (rewrites the table): {}",
            space.column_type,
            space.per_sec.unwrap_or(0.0),
            space.last,
            space.max,
            space.how_to_convert()
        ),
    }))
}

/// A WARNING when more sessions could end late than the usage rollup
/// follows. Its own failure (a count over very many sessions timing out) is
/// a WARNING of its own, not the whole check's.
async fn follow_cap_finding(pool: &sqlx::PgPool, url: &str) -> Option<Finding> {
    use crate::rollup::usage::{FOLLOW_CAP, SETTLE, beyond_follow_cap};
    let message = match beyond_follow_cap(pool).await {
        Ok(None) => return None,
        Ok(Some(n)) => format!(
            "{n} sessions are still active but idle for over {} minutes, more than the \
             {FOLLOW_CAP} the usage rollup follows — ends recorded late for the others are not \
             counted; check that the platform closes idle sessions",
            SETTLE.num_minutes(),
        ),
        Err(e) => format!(
            "could not count the idle sessions the usage rollup follows: {}",
            describe_db_error(&e, url)
        ),
    };
    Some(Finding {
        check: "usage-rollup",
        level: Verdict::Warning,
        message,
    })
}

fn unknown(message: String) -> Report {
    report(
        None,
        vec![Finding {
            check: "database",
            level: Verdict::Unknown,
            message,
        }],
    )
}

fn report(checked_at: Option<DateTime<Utc>>, findings: Vec<Finding>) -> Report {
    let status = findings
        .iter()
        .map(|f| f.level)
        .max()
        .unwrap_or(Verdict::Ok);
    let bad: Vec<&str> = findings
        .iter()
        .filter(|f| f.level == status && status != Verdict::Ok)
        .map(|f| f.message.as_str())
        .collect();
    let summary = if bad.is_empty() {
        "database reachable, all tables present, integrations healthy".to_owned()
    } else {
        bad.join("; ")
    };
    Report {
        status,
        exit_code: status.code(),
        summary,
        checked_at,
        findings,
    }
}

async fn findings(
    cfg: &Config,
    url: &str,
    pool: sqlx::PgPool,
) -> Result<(DateTime<Utc>, Vec<Finding>), sqlx::Error> {
    let mut out = vec![Finding {
        check: "database",
        level: Verdict::Ok,
        message: "database reachable".into(),
    }];
    let missing = schema::missing_tables(&pool).await?;
    for t in &missing {
        out.push(Finding {
            check: "tables",
            level: Verdict::Warning,
            message: missing_message(t),
        });
    }
    let pending = schema::pending_migrations(&pool).await?;
    if !pending.is_empty() && missing.is_empty() {
        out.push(Finding {
            check: "migrations",
            level: Verdict::Warning,
            message: format!(
                "{} pending migration(s) — run `jfmon migrate`",
                pending.len()
            ),
        });
    }
    if !missing.iter().any(|t| t == tables::API_CALLS) {
        let age: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM now() - timestamp::timestamptz)::float8 \
             FROM monitoring_api_calls ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&pool)
        .await?
        .flatten();
        let (level, message) = match age {
            None => (Verdict::Warning, "no API calls recorded yet".to_owned()),
            Some(s) if s > (2 * STALE_AFTER_SECS) as f64 => (
                Verdict::Critical,
                format!(
                    "newest API call is {:.0} s old — is the platform recording?",
                    s
                ),
            ),
            Some(s) if s > STALE_AFTER_SECS as f64 => (
                Verdict::Warning,
                format!("newest API call is {:.0} s old", s),
            ),
            Some(s) => (
                Verdict::Ok,
                format!("newest API call {:.0} s old", s.max(0.0)),
            ),
        };
        out.push(Finding {
            check: "freshness",
            level,
            message,
        });
    }
    for (table, instant) in SERIAL_TABLES {
        if !missing.iter().any(|t| t == table) {
            out.extend(id_finding(&pool, table, instant).await?);
        }
    }
    out.extend(follow_cap_finding(&pool, url).await);
    let mut p = poller(cfg, pool);
    let batch = p.poll().await?;
    let at = batch.now;
    let mut state = State::new(cfg.window.as_secs(), cfg.thresholds.clone());
    state.apply(Update::Batch(Box::new(batch)));
    let down: Vec<&str> = state
        .integrations()
        .iter()
        .filter(|i| i.status == Health::Down)
        .map(|i| i.name.as_str())
        .collect();
    let degraded: Vec<&str> = state
        .integrations()
        .iter()
        .filter(|i| i.status == Health::Degraded)
        .map(|i| i.name.as_str())
        .collect();
    if !down.is_empty() {
        out.push(Finding {
            check: "integrations",
            level: Verdict::Critical,
            message: format!("{} integration(s) down: {}", down.len(), down.join(", ")),
        });
    }
    if !degraded.is_empty() {
        out.push(Finding {
            check: "integrations",
            level: Verdict::Warning,
            message: format!(
                "{} integration(s) degraded: {}",
                degraded.len(),
                degraded.join(", ")
            ),
        });
    }
    let critical = state
        .open_alerts_by_severity()
        .get("critical")
        .copied()
        .unwrap_or(0);
    if critical > 0 {
        out.push(Finding {
            check: "alerts",
            level: Verdict::Critical,
            message: format!("{critical} open critical alert(s)"),
        });
    }
    Ok((at, out))
}
