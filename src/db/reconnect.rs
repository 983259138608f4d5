//! Riding out a restarted or lost PostgreSQL server: which errors mean the
//! connection failed (not the statement), dropping every pooled connection
//! when one did, and how soon to try again.
//!
//! A restart (or `pg_terminate_backend`) kills every pooled connection at
//! once, but the pool does not test idle connections before handing them out
//! (a poll takes several at a time; a ping each would double its round trips).
//! So the first connection-class error empties the pool of its idle
//! connections and the work is retried once at once on fresh ones: when the
//! server is up again, that retry succeeds. While it is down, polls are retried
//! at the poll interval, and only an outage that lasts backs off
//! ([`retry_delay`]).

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;

/// Longest wait between attempts however long the server has been down.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// How long closing one stale connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether `e` says the connection to the server failed or was closed (the
/// server restarted, shut down, killed the session, or cannot be reached),
/// as opposed to a statement that failed on a working connection.
pub fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // Class 08: connection exception; 57P01 admin_shutdown (also
            // pg_terminate_backend), 57P02 crash_shutdown, 57P03
            // cannot_connect_now (starting up or shutting down).
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Whether `e` came from a connection the pool already had (so a fresh one
/// may work at once), rather than from failing to open one.
pub fn is_stale_connection_error(e: &sqlx::Error) -> bool {
    is_connection_error(e) && !matches!(e, sqlx::Error::PoolTimedOut)
}

/// Close every idle connection in `pool` (those checked out are tested by
/// the pool when they come back); the next acquire opens a new one. Returns
/// how many were closed.
pub async fn drop_idle(pool: &PgPool) -> usize {
    let mut idle = Vec::new();
    while let Some(c) = pool.try_acquire() {
        idle.push(c);
    }
    let n = idle.len();
    futures_util::future::join_all(idle.into_iter().map(|c| async move {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, c.close()).await;
    }))
    .await;
    n
}

/// After `e`: if the connection failed, drop the pool's idle connections
/// (they are likely dead too). Returns whether to retry at once: the error
/// came from a connection the pool already had, so a fresh one may work.
pub async fn recover(pool: &PgPool, e: &sqlx::Error) -> bool {
    if !is_connection_error(e) {
        return false;
    }
    let dropped = drop_idle(pool).await;
    let retry = is_stale_connection_error(e);
    if retry {
        tracing::info!(error = %e, dropped, "database connection lost; retrying on a new one");
    }
    retry
}

/// Run `work` on `pool`; if it fails on a stale connection, drop the pool's
/// idle connections and run it once more on fresh ones.
pub async fn retry_on_fresh<T, F, Fut>(pool: &PgPool, mut work: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let first = work().await;
    let Err(e) = &first else { return first };
    if !recover(pool, e).await {
        return first;
    }
    let second = work().await;
    if let Err(e) = &second {
        recover(pool, e).await;
    }
    second
}

/// Delay before the next attempt (counted from the start of the failed one)
/// when the server has been unreachable for `down_for`: the poll interval
/// while the outage is short (a restart: the first poll after the server is
/// ready succeeds), then a quarter of the outage so far, capped at
/// [`MAX_RETRY_DELAY`], with up to 20 % jitter above the interval so many
/// screens do not retry in step. Recovery comes at most a quarter of the
/// outage late, and never more than one interval late for an outage shorter
/// than four intervals.
pub fn retry_delay(down_for: Duration, interval: Duration) -> Duration {
    let grown = (down_for / 4).min(MAX_RETRY_DELAY);
    if grown <= interval {
        return interval;
    }
    let jitter = rand::random::<f64>() * 0.2;
    grown.mul_f64(1.0 - jitter).max(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_outages_retry_every_interval() {
        let i = Duration::from_secs(1);
        for ms in [0, 500, 1_000, 2_500, 3_999] {
            assert_eq!(retry_delay(Duration::from_millis(ms), i), i, "{ms} ms down");
        }
        let i = Duration::from_millis(200);
        assert_eq!(retry_delay(Duration::from_millis(799), i), i);
    }

    #[test]
    fn long_outages_back_off_to_the_cap() {
        let i = Duration::from_secs(1);
        let d = retry_delay(Duration::from_secs(40), i);
        assert!(
            d <= Duration::from_secs(10) && d >= Duration::from_secs(8),
            "{d:?}"
        );
        for mins in [3, 10, 600] {
            let d = retry_delay(Duration::from_secs(60 * mins), i);
            assert!(
                d <= MAX_RETRY_DELAY && d >= MAX_RETRY_DELAY.mul_f64(0.8),
                "{d:?}"
            );
        }
        // Never below the interval.
        let i = Duration::from_secs(10);
        assert!(retry_delay(Duration::from_secs(41), i) >= i);
    }

    #[test]
    fn connection_errors_are_told_from_statement_errors() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_connection_error(&io) && is_stale_connection_error(&io));
        assert!(is_connection_error(&sqlx::Error::PoolTimedOut));
        assert!(!is_stale_connection_error(&sqlx::Error::PoolTimedOut));
        assert!(!is_connection_error(&sqlx::Error::RowNotFound));
        assert!(!is_connection_error(&sqlx::Error::PoolClosed));
    }
}
