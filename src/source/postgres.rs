//! The PostgreSQL source: runs the [`Poller`] every interval, reports its
//! state, and on failure keeps its position (nothing is lost or counted twice
//! when the database returns). A lost connection is retried at the poll
//! interval while the outage is short and backs off as it lasts
//! ([`crate::db::reconnect`]); other failures back off exponentially. A long
//! window without rollups opens from its newest slice; the older part loads
//! in a task of its own ([`crate::db::history`]) while polling goes on, and a
//! window change stops it.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use chrono::{DateTime, Utc};

use super::{SESSION_CONTEXT_LIMIT, SourceCommand, SourceLink, backoff, wait_or_command};
use crate::db::poller::Poller;
use crate::db::reconnect::{is_connection_error, retry_delay, retry_on_fresh};
use crate::model::tables::{CONTEXT, missing_message};
use crate::model::{ContextEvent, SourceId, SourceStatus, Update};
use crate::redact::mask_json;
use crate::user_error::{describe_db_error, describe_pool_error};

/// Write an acknowledgement (`acknowledged`, `acknowledged_at`); made again
/// on a new connection if the pooled one turns out dead.
pub async fn acknowledge(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    retry_on_fresh(pool, || {
        sqlx::query(
            "UPDATE monitoring_alerts SET acknowledged = true, acknowledged_at = now()::timestamp \
             WHERE id = $1",
        )
        .bind(id)
        .execute(pool)
    })
    .await?;
    Ok(())
}

/// session_id, user_id, context_type, data, created_at
type ContextRow = (
    String,
    Option<i64>,
    String,
    Option<serde_json::Value>,
    DateTime<Utc>,
);

/// The newest [`SESSION_CONTEXT_LIMIT`] context records of one session,
/// oldest first, with secret-looking values masked.
/// Errors are one line for the user (`url` only to keep its password out).
pub async fn session_context(
    pool: &PgPool,
    url: &str,
    session_id: &str,
) -> Result<Vec<ContextEvent>, String> {
    let err = |e: sqlx::Error| describe_db_error(&e, url);
    let present: bool = retry_on_fresh(pool, || {
        sqlx::query_scalar("SELECT to_regclass('monitoring_context') IS NOT NULL").fetch_one(pool)
    })
    .await
    .map_err(err)?;
    if !present {
        return Err(missing_message(CONTEXT));
    }
    let rows: Vec<ContextRow> = sqlx::query_as(
        "SELECT session_id, user_id, context_type, data, created_at FROM monitoring_context \
             WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(session_id)
    .bind(SESSION_CONTEXT_LIMIT as i64)
    .fetch_all(pool)
    .await
    .map_err(err)?;
    Ok(rows
        .into_iter()
        .rev()
        .map(
            |(session_id, user_id, context_type, data, at)| ContextEvent {
                session_id,
                user_id,
                context_type,
                data: mask_json(&data.unwrap_or(serde_json::Value::Null)),
                at,
            },
        )
        .collect())
}

/// Poll until the update channel closes.
pub async fn run(
    mut poller: Poller,
    url: String,
    target: String,
    interval: Duration,
    link: SourceLink,
) {
    let SourceLink { updates, commands } = link;
    let mut commands = Some(commands);
    // Long windows without rollups: the first screen from the newest slice,
    // the rest loaded by a task of its own while polling goes on.
    poller.set_progressive(true);
    let mut history: Option<tokio::task::JoinHandle<()>> = None;
    let mut status = SourceStatus::new(SourceId::Postgres, target);
    let mut failures = 0u32;
    // Since when the server has been unreachable (retries come at the poll
    // interval while that is short: see `retry_delay`).
    let mut down_since: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let mut unreachable = false;
        if poller.reload_pending()
            && let Some(job) = history.take()
        {
            // A reload (a window change) replaces the history being loaded;
            // once the job has ended none of its batches can follow the
            // reload's.
            job.abort();
            let _ = job.await;
        }
        match poller.poll().await {
            Ok(batch) => {
                // A poll may reload on its own (a table appeared or went):
                // a history job of the replaced window must end before the
                // reload's batch, or its older slices would be counted again.
                if batch.reset
                    && let Some(job) = history.take()
                {
                    job.abort();
                    let _ = job.await;
                }
                failures = 0;
                down_since = None;
                status.up = true;
                status.last_ok = Some(batch.now);
                status.last_error = None;
                status.poll_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                status.history = poller.history_label(batch.now);
                if updates.send(Update::Batch(Box::new(batch))).await.is_err() {
                    return;
                }
                if let Some(job) = poller.take_history_job() {
                    history = Some(tokio::spawn(job.run(updates.clone())));
                }
            }
            Err(e) => {
                failures += 1;
                unreachable = is_connection_error(&e);
                status.up = false;
                status.last_error =
                    Some(describe_pool_error(&e, &url, Duration::from_secs(3)).await);
                tracing::warn!(error = %status.last_error.as_deref().unwrap_or(""), "poll failed");
            }
        }
        if updates.send(Update::Source(status.clone())).await.is_err() {
            return;
        }
        let delay = if failures == 0 {
            interval.saturating_sub(started.elapsed())
        } else if unreachable {
            let since = *down_since.get_or_insert(started);
            retry_delay(since.elapsed(), interval).saturating_sub(started.elapsed())
        } else {
            // The server answers but the poll fails (a statement timeout, a
            // missing privilege): back off.
            backoff(failures, interval)
        };
        let mut next = {
            let wake = Instant::now() + delay;
            loop {
                let left = wake.saturating_duration_since(Instant::now());
                let Some(job) = history.as_mut().filter(|h| !h.is_finished()) else {
                    break wait_or_command(left, &mut commands).await;
                };
                tokio::select! {
                    next = wait_or_command(left, &mut commands) => break next,
                    _ = job => {}
                }
                // The window's history is complete (or the job gave up): the
                // header says so now, not at the next poll.
                history = None;
                status.history = poller.history_label(Utc::now());
                if updates.send(Update::Source(status.clone())).await.is_err() {
                    return;
                }
            }
        };
        // Handle every command that is queued, then poll.
        while let Some(cmd) = next.take() {
            match cmd {
                SourceCommand::RefreshNow => {}
                SourceCommand::SetWindow(w) => poller.set_window(w),
                SourceCommand::Acknowledge { id, reply } => {
                    let r = acknowledge(poller.pool(), id)
                        .await
                        .map_err(|e| describe_db_error(&e, &url));
                    let _ = reply.send(r);
                }
                SourceCommand::SessionContext { session_id, reply } => {
                    let r = session_context(poller.pool(), &url, &session_id).await;
                    if let Err(e) = &r {
                        tracing::warn!(error = %e, "session context query failed");
                    }
                    let _ = reply.send(r);
                }
            }
            next = commands.as_mut().and_then(|c| c.try_recv().ok());
        }
    }
}
