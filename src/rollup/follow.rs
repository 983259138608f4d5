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

/// Whether the rollup tables exist (`jfmon migrate` creates them).
pub async fn rollups_exist(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT to_regclass('jfmon_rollup_state') IS NOT NULL")
        .fetch_one(pool)
        .await
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
