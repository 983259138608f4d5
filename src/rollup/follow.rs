//! The follow loop shared by `jfmon rollup --follow` and `jfmon serve`: take
//! the lease (or stand by until it is free), then step every rollup each
//! interval, at once again while a backlog remains. Errors are reported and
//! retried; they never end the loop.

use std::time::Duration;

use sqlx::PgPool;

use super::maintain::{Maintainer, Role};

/// What the loop reports, for a log line or a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEvent {
    /// The lease is held: this process maintains the rollups.
    Leading,
    /// Another process holds the lease.
    StandingBy,
    /// Rows added by one round of steps.
    Added(u64),
    /// A step failed (the message; retried after the interval).
    Failed(String),
}

/// Why this process cannot keep the rollups, if it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannotMaintain {
    /// No rollup tables: a database `jfmon migrate` has not brought up to date.
    NoTables,
    /// The role may not write the rollup tables (a read-only role).
    NotWritable,
    /// The session is read-only (a standby, or `default_transaction_read_only`).
    ReadOnlySession,
}

impl std::fmt::Display for CannotMaintain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoTables => "the rollup tables do not exist (run `jfmon migrate` to create them)",
            Self::NotWritable => "this database role may not write the rollup tables",
            Self::ReadOnlySession => "the database session is read-only",
        })
    }
}

/// Whether this connection can keep the rollups: the tables exist (`jfmon
/// migrate` creates them), the role may write every one of them and the
/// session is not read-only. `Ok(None)` means it can. (The 5-minute tiers
/// are left out: without the rights to rewrite them, the maintainer leaves
/// them aside and keeps the minutes.)
pub async fn cannot_maintain(pool: &PgPool) -> Result<Option<CannotMaintain>, sqlx::Error> {
    let (exist, writable, read_only): (bool, bool, bool) = sqlx::query_as(
        "SELECT to_regclass('jfmon_rollup_state') IS NOT NULL, \
                coalesce((SELECT bool_and(has_table_privilege(c.oid, 'SELECT') \
                                   AND has_table_privilege(c.oid, 'INSERT') \
                                   AND has_table_privilege(c.oid, 'UPDATE')) \
                            FROM pg_class c \
                           WHERE c.relname LIKE 'jfmon\\_rollup\\_%' AND c.relkind = 'r' \
                             AND c.relname NOT LIKE '%\\_5m' \
                             AND pg_table_is_visible(c.oid)), false), \
                current_setting('transaction_read_only') = 'on'",
    )
    .fetch_one(pool)
    .await?;
    Ok(if !exist {
        Some(CannotMaintain::NoTables)
    } else if !writable {
        Some(CannotMaintain::NotWritable)
    } else if read_only {
        Some(CannotMaintain::ReadOnlySession)
    } else {
        None
    })
}

/// Follow forever (until the task is dropped), reporting changes of role,
/// rows added and failures through `report`.
pub async fn follow(pool: PgPool, interval: Duration, mut report: impl FnMut(FollowEvent)) {
    let mut m = Maintainer::new(pool, Role::Follow);
    let mut last_role: Option<bool> = None;
    loop {
        let leading = match m.try_lease().await {
            Ok(l) => l,
            Err(e) => {
                report(FollowEvent::Failed(e.to_string()));
                tokio::time::sleep(interval).await;
                continue;
            }
        };
        if last_role != Some(leading) {
            report(if leading {
                FollowEvent::Leading
            } else {
                FollowEvent::StandingBy
            });
            last_role = Some(leading);
        }
        if !leading {
            tokio::time::sleep(interval).await;
            continue;
        }
        match m.follow_all().await {
            Ok(o) => {
                if o.rows > 0 {
                    report(FollowEvent::Added(o.rows));
                }
                if o.more {
                    continue;
                }
            }
            Err(e) => {
                last_role = None;
                report(FollowEvent::Failed(e.to_string()));
            }
        }
        tokio::time::sleep(interval).await;
    }
}
