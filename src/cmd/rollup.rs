//! `jfmon rollup`: build history (`--backfill 7d`, in bounded slices, with a
//! progress bar, resumable) and keep it current (`--follow`). Refused under
//! `--read-only`; needs the tables `jfmon migrate` creates.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{AssertSqlSafe, PgPool};

use super::{Fail, Outcome, connect, refuse_if_read_only};
use crate::cli::RollupArgs;
use crate::config::Config;
use crate::rollup::follow::{FollowEvent, cannot_maintain, follow};
use crate::rollup::maintain::existing;
use crate::rollup::{Maintainer, Role, Rollup};
use crate::user_error::describe_db_error;

/// The longest backfill (the longest window).
const MAX_BACKFILL: Duration = Duration::from_secs(30 * 86_400);

pub async fn run(cfg: &Config, a: &RollupArgs) -> Outcome {
    refuse_if_read_only(cfg, "`jfmon rollup`")?;
    if a.backfill.is_some_and(|d| d > MAX_BACKFILL) {
        return Err(Fail {
            message: "--backfill is at most 30d (the longest window)".into(),
            code: 2,
        });
    }
    let (pool, url) = connect(cfg).await?;
    let db = |e: sqlx::Error| Fail::new(describe_db_error(&e, &url));
    if let Some(why) = cannot_maintain(&pool).await.map_err(db)? {
        return Err(Fail {
            message: format!("cannot maintain the rollups: {why}"),
            code: 2,
        });
    }
    if let Some(d) = a.backfill {
        let now: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&pool)
            .await
            .map_err(db)?;
        let cutoff = now - chrono::TimeDelta::from_std(d).unwrap_or_default();
        refuse_unmigrated_usage_rollup(&pool).await.map_err(db)??;
        backfill(&pool, cutoff, a.slice_rows, cfg.backfill_timeout, a.no_progress)
            .await
            .map_err(|e| {
                if let sqlx::Error::Database(d) = &e
                    && d.code().as_deref() == Some("57014")
                {
                    return Fail::new(format!(
                        "a backfill slice hit the backfill timeout of {} ({}) — raise \
                         --backfill-timeout or lower --slice-rows; the backfill resumes where it stopped",
                        crate::duration::format_duration(cfg.backfill_timeout),
                        d.message()
                    ));
                }
                db(e)
            })?;
    }
    if a.follow {
        eprintln!("jfmon rollup: following (Ctrl-C to stop)");
        tokio::select! {
            () = follow(pool, cfg.interval, |e| match e {
                FollowEvent::Leading => eprintln!("jfmon rollup: maintaining the rollups"),
                FollowEvent::StandingBy => eprintln!("jfmon rollup: another jfmon maintains the rollups; standing by"),
                FollowEvent::Added(_) => {}
                FollowEvent::Failed(m) => eprintln!("jfmon rollup: {m} (retrying)"),
            }) => {}
            () = super::serve::shutdown_signal() => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The lowest id of `r` at or after `cutoff` (an estimate of where the
/// backfill ends, for the progress bar).
async fn target_id(
    pool: &PgPool,
    r: Rollup,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<i64, sqlx::Error> {
    let (col, cmp) = match r {
        Rollup::Api => ("timestamp", "$1::timestamptz::timestamp"),
        Rollup::Integrations => ("created_at", "$1"),
        Rollup::Business => ("recorded_at", "$1"),
        Rollup::Sessions => ("started_at", "$1"),
    };
    let id: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id::int8 FROM {} WHERE {col} >= {cmp} ORDER BY {col} LIMIT 1",
        r.table()
    )))
    .bind(cutoff)
    .fetch_optional(pool)
    .await?;
    Ok(id.unwrap_or(0))
}

/// A backfill refuses to run on a usage rollup older than this jfmon
/// (migration 0016 not applied): it would skip it, and `jfmon prune` would
/// then delete sessions that rollup never counted.
pub(super) async fn refuse_unmigrated_usage_rollup(
    pool: &PgPool,
) -> Result<Result<(), Fail>, sqlx::Error> {
    Ok(match crate::rollup::usage::readiness(pool).await? {
        crate::rollup::usage::Readiness::NeedsMigrate => {
            Err(Fail::new(crate::rollup::usage::NEEDS_MIGRATE.to_string()))
        }
        _ => Ok(()),
    })
}

/// Add history down to `cutoff` to every rollup (with a progress bar unless
/// `no_progress`), each slice's statements under `timeout` (not the pool's
/// interactive statement timeout), then catch up to now unless another
/// process follows. Also used by `jfmon prune`, which counts everything it
/// deletes first.
pub async fn backfill(
    pool: &PgPool,
    cutoff: chrono::DateTime<chrono::Utc>,
    slice_rows: i64,
    timeout: Duration,
    no_progress: bool,
) -> Result<(), sqlx::Error> {
    let mut m = Maintainer::new(pool.clone(), Role::Backfill).with_statement_timeout(timeout);
    while !m.try_lease().await? {
        eprintln!("jfmon rollup: another backfill runs; waiting for it");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    for r in existing(pool).await? {
        let target = target_id(pool, r, cutoff).await?;
        // The first step creates the position if needed and reports the base.
        let mut p = m.backfill_step(r, cutoff, slice_rows).await?;
        let top = p.base + p.rows as i64;
        let bar = if no_progress {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new((top - target).max(1) as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>32} [{elapsed_precise}] {wide_bar} {percent:>3}% (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(r.table());
            bar
        };
        let mut rows = p.rows;
        while !p.done {
            bar.set_position((top - p.base).max(0) as u64);
            p = m.backfill_step(r, cutoff, slice_rows).await?;
            rows += p.rows;
        }
        bar.finish_and_clear();
        eprintln!("jfmon rollup: {} backfilled ({rows} rows)", r.table());
    }
    // Sessions per service and outcome: by time, not by id (see rollup::usage).
    let mut rows = 0;
    loop {
        let (n, done) = m.usage_backfill_step(cutoff).await?;
        rows += n;
        if done {
            break;
        }
    }
    eprintln!("jfmon rollup: usage per service backfilled ({rows} rollup rows)");
    m.release();
    // Catch up to now as well, unless another process follows already.
    let mut f = Maintainer::new(pool.clone(), Role::Follow);
    if f.try_lease().await? {
        while f.follow_all().await?.more {}
        f.release();
    }
    Ok(())
}
