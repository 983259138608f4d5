//! `jfmon prune --older-than 30d [--archive DIR] [--dry-run]`: counts the
//! rows to delete into the rollups first, then deletes them table by table
//! in batches (see [`crate::prune`]) with a progress bar per table. One prune
//! at a time (an advisory lock); refused under `--read-only` unless it is a
//! dry run.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Fail, Outcome, connect, refuse_if_read_only};
use crate::cli::PruneArgs;
use crate::config::Config;
use crate::prune::archive::Archive;
use crate::prune::batch::{LEASE_PRUNE, PruneError};
use crate::prune::{Pruner, Table};
use crate::rollup::follow::cannot_maintain;
use crate::rollup::maintain::BACKFILL_SLICE;
use crate::user_error::describe_db_error;

/// The shortest `--older-than` (the live views read recent raw rows).
const MIN_AGE: Duration = Duration::from_secs(86_400);

pub async fn run(cfg: &Config, a: &PruneArgs) -> Outcome {
    if !a.dry_run {
        refuse_if_read_only(cfg, "`jfmon prune`")?;
    }
    if a.older_than < MIN_AGE {
        return Err(Fail {
            message: "--older-than is at least 1d (the live views read the recent raw rows)".into(),
            code: 2,
        });
    }
    let (pool, url) = connect(cfg).await?;
    let db = |e: sqlx::Error| Fail::new(describe_db_error(&e, &url));
    let ready: bool = sqlx::query_scalar("SELECT to_regclass('jfmon_prune_batches') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .map_err(db)?;
    if !ready {
        return Err(Fail {
            message: "the table jfmon_prune_batches does not exist — run `jfmon migrate` first"
                .into(),
            code: 2,
        });
    }
    if !a.dry_run
        && let Some(why) = cannot_maintain(&pool).await.map_err(db)?
    {
        return Err(Fail {
            message: format!(
                "cannot prune: {why} (prune counts rows into the rollups before deleting them)"
            ),
            code: 2,
        });
    }
    // One prune at a time: the lock lives as long as this connection.
    let mut lease = pool.acquire().await.map_err(db)?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEASE_PRUNE)
        .fetch_one(&mut *lease)
        .await
        .map_err(db)?;
    if !got {
        return Err(Fail {
            message: "another `jfmon prune` is running on this database; wait for it to finish"
                .into(),
            code: 2,
        });
    }
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .map_err(db)?;
    let cutoff = now - TimeDelta::from_std(a.older_than).unwrap_or_default();
    let archive = match &a.archive {
        Some(dir) if !a.dry_run => Some(Archive::open(dir).map_err(|e| {
            Fail::new(format!(
                "cannot use the archive directory {}: {e}",
                dir.display()
            ))
        })?),
        _ => None,
    };
    if !a.dry_run {
        // Everything about to go is counted into the rollups first.
        super::rollup::refuse_unmigrated_usage_rollup(&pool)
            .await
            .map_err(db)??;
        eprintln!("jfmon prune: adding the rows to delete to the rollups first");
        super::rollup::backfill(
            &pool,
            DateTime::<Utc>::UNIX_EPOCH,
            BACKFILL_SLICE,
            cfg.backfill_timeout,
            a.no_progress,
        )
        .await
        .map_err(db)?;
    }
    let pruner = Pruner::new(
        pool.clone(),
        cutoff,
        a.batch_rows,
        archive.clone(),
        a.dry_run,
    );
    let fail = |e: PruneError| match e {
        PruneError::Db(e) => db(e),
        other => Fail::new(other.to_string()),
    };
    if let Some(archive) = &archive {
        let done = pruner.archived().await.map_err(db)?;
        let removed = archive.reconcile(&done).map_err(|e| fail(e.into()))?;
        if removed > 0 {
            eprintln!(
                "jfmon prune: removed {removed} archive file(s) of an interrupted batch (their rows are still in the table)"
            );
        }
    }
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    eprintln!(
        "jfmon prune: rows older than {} ({verb})",
        cutoff.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let started = Instant::now();
    let mut total = 0;
    for t in pruner.existing().await.map_err(db)? {
        let (bar, from) = progress_bar(&pruner, t, a.no_progress || a.dry_run)
            .await
            .map_err(db)?;
        let s = pruner
            .table(t, |b| bar.set_position((b.hi - from).max(0) as u64))
            .await
            .map_err(fail)?;
        bar.finish_and_clear();
        total += s.deleted;
        let mut line = format!("jfmon prune: {}: {verb} {} rows", t.name(), s.deleted);
        if s.files > 0 {
            line.push_str(&format!(" (archived in {} files)", s.files));
        }
        if s.kept > 0 {
            line.push_str(&format!(
                "; kept {} older rows the rollups have not counted yet (they go once `jfmon serve` or `jfmon rollup --follow` has counted them)",
                s.kept
            ));
        }
        eprintln!("{line}");
    }
    let secs = started.elapsed().as_secs_f64();
    if !a.dry_run {
        eprintln!(
            "jfmon prune: {total} rows deleted in {secs:.1} s ({:.0} rows/s)",
            total as f64 / secs.max(1e-3)
        );
    }
    drop(lease.detach());
    Ok(ExitCode::SUCCESS)
}

/// A bar over the ids of `t` to prune, and the id it starts from.
async fn progress_bar(
    pruner: &Pruner,
    t: Table,
    hidden: bool,
) -> Result<(ProgressBar, i64), sqlx::Error> {
    if hidden {
        return Ok((ProgressBar::hidden(), 0));
    }
    let Some((lo, hi)) = pruner.span(t).await? else {
        return Ok((ProgressBar::hidden(), 0));
    };
    let bar = ProgressBar::new((hi - lo).max(1) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>32} [{elapsed_precise}] {wide_bar} {percent:>3}% (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(t.name());
    Ok((bar, lo))
}
