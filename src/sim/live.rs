//! The live phase of `jfmon simulate`, which rides out database outages.
//!
//! Every tick the generator advances to the wall clock and its batch joins a
//! bounded [`Outbox`]; one write at a time drains it, concurrently with the
//! ticks, so generation never waits for the database. A connection-class
//! error (the server restarting, a cut connection) closes the connection the
//! write used and every idle one in the pool, and the batch goes back to the
//! front of the outbox; writes resume with a short backoff (at most
//! [`MAX_RETRY`]) as soon as the server accepts connections again. When the
//! outbox holds more than `buffer_rows`, the oldest batches are dropped and
//! counted ([`SimulateSummary::dropped_rows`](super::writer::SimulateSummary)).
//! A write the server cancels on a working connection (a statement or lock
//! timeout on an overloaded or locked table, a deadlock, a serialization
//! failure: [`is_cancelled`]) is ridden out the same way, keeping the
//! connection: the transaction rolled back, so the batch is written again.
//!
//! Never a row twice: a batch is one transaction, and a connection lost
//! before COMMIT rolls it back. Only a connection lost *during* COMMIT leaves
//! the outcome unknown. Each transaction therefore takes its id
//! (`txid_current()`) first; after a failed COMMIT the batch is "in doubt",
//! and before it is written again the server is asked `txid_status(id)`:
//! `committed` means it was written (counted, not repeated), `aborted` means
//! write it again, `in progress` means the old backend still holds it (it is
//! terminated, then asked again). The platform tables are not touched for
//! this: transaction ids are PostgreSQL's own record of what committed.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::Utc;
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, Postgres};
use tokio::time::Instant;

use super::generator::Generator;
use super::writer::{SimulateOptions, Summer, WriteBatch, insert_all};

/// How often the generator is advanced and a batch queued.
const LIVE_TICK: Duration = Duration::from_millis(200);
/// First retry delay after a failed write; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two write attempts. Connecting itself waits for a
/// refusing server (sqlx retries a refused connect until its acquire
/// timeout), so writing resumes within about a second of the server being back.
const MAX_RETRY: Duration = Duration::from_secs(1);
/// After the run ends, how long buffered batches may still wait for the
/// database before they are given up (and counted as dropped).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Batches waiting to be written, bounded by a row count: beyond it the
/// oldest are dropped and counted.
pub(super) struct Outbox {
    queue: VecDeque<WriteBatch>,
    rows: usize,
    cap: usize,
    pub(super) dropped_rows: u64,
    pub(super) dropped_api: u64,
    /// The front batch's COMMIT outcome is in doubt: it is never dropped, so
    /// the doubt is always settled against the batch it belongs to.
    pinned: bool,
}

impl Outbox {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            rows: 0,
            cap: cap.max(1),
            dropped_rows: 0,
            dropped_api: 0,
            pinned: false,
        }
    }

    /// Queue a new batch; `held` rows are out being written. Returns how many
    /// rows were dropped to stay within the cap (the newest batch is always kept).
    pub(super) fn push(&mut self, b: WriteBatch, held: usize) -> u64 {
        if b.rows() == 0 {
            return 0;
        }
        self.rows += b.rows();
        self.queue.push_back(b);
        let mut dropped = 0;
        let keep_front = usize::from(self.pinned);
        while self.rows + held > self.cap && self.queue.len() > 1 + keep_front {
            if let Some(old) = self.queue.remove(keep_front) {
                dropped += old.rows() as u64;
                self.forget(&old);
            }
        }
        dropped
    }

    /// Take the oldest batch to write it.
    pub(super) fn pop(&mut self) -> Option<WriteBatch> {
        let b = self.queue.pop_front()?;
        self.pinned = false;
        self.rows -= b.rows();
        Some(b)
    }

    /// Put a batch that could not be written back at the front; `in_doubt`
    /// when its COMMIT outcome is unknown (it is then never dropped).
    pub(super) fn unpop(&mut self, b: WriteBatch, in_doubt: bool) {
        self.pinned = in_doubt;
        self.rows += b.rows();
        self.queue.push_front(b);
    }

    /// Give up every queued batch (counted as dropped).
    pub(super) fn drop_all(&mut self) {
        while let Some(b) = self.queue.pop_front() {
            self.forget(&b);
        }
    }

    fn forget(&mut self, b: &WriteBatch) {
        self.rows -= b.rows();
        self.dropped_rows += b.rows() as u64;
        self.dropped_api += b.api.len() as u64;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }
}

/// A transaction whose COMMIT was sent but not confirmed.
#[derive(Debug, Clone, Copy)]
struct Doubt {
    /// `txid_current()` of the transaction (epoch-extended, 64-bit).
    xid: i64,
    /// The backend that ran it.
    pid: i32,
}

/// How one write attempt ended.
enum Done {
    /// Committed now; `settled` when an earlier attempt's COMMIT was in
    /// doubt and the server said it had not happened.
    Written { settled: bool },
    /// An earlier attempt's COMMIT had gone through after all.
    AlreadyWritten,
    /// The transaction of an earlier attempt is still open on its old backend
    /// (now being terminated): ask again.
    StillOpen(Doubt),
    /// The server no longer knows the earlier attempt's outcome.
    Unsettled,
}

struct Failure {
    error: sqlx::Error,
    /// Set when the failure may have come after the server committed.
    doubt: Option<Doubt>,
}

struct Attempt {
    conn: Option<PoolConnection<Postgres>>,
    batch: WriteBatch,
    result: Result<Done, Failure>,
}

type InFlight = Pin<Box<dyn Future<Output = Attempt> + Send>>;

/// Is this error the connection (or the server) going away, as opposed to a
/// problem with the statement? Those are retried; anything else ends the run.
/// The poller's classification ([`crate::db::reconnect::is_connection_error`]),
/// plus what a writer also waits out: the rest of class 57P and 53300 (too
/// many connections).
pub(super) fn is_connection_error(e: &sqlx::Error) -> bool {
    crate::db::reconnect::is_connection_error(e)
        || matches!(e, sqlx::Error::Database(d)
            if d.code().is_some_and(|c| c.starts_with("57P") || c == "53300"))
}

/// Did the server cancel the statement on a working connection, for a
/// reason that passes: 57014 query_canceled (statement_timeout, or a
/// `pg_cancel_backend`), 55P03 lock_not_available (lock_timeout), 40P01
/// deadlock_detected, 40001 serialization_failure? The transaction is rolled
/// back, so writing the batch again cannot write a row twice.
pub(super) fn is_cancelled(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.code().is_some_and(|c| matches!(&*c, "57014" | "55P03" | "40P01" | "40001")))
}

/// Why writing stalled, for the notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// The connection or the server went away.
    Connection,
    /// The server cancelled writes ([`is_cancelled`]).
    Cancelled,
}

/// Close every idle connection of the pool: after a connection-class error
/// they are most likely dead too, and each would fail one more write.
fn drain_idle(pool: &PgPool) {
    while let Some(mut c) = pool.try_acquire() {
        c.close_on_drop();
    }
}

async fn attempt(
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    batch: WriteBatch,
    doubt: Option<Doubt>,
) -> Attempt {
    let mut conn = match conn {
        Some(c) => c,
        None => match pool.acquire().await {
            Ok(c) => c,
            Err(error) => {
                return Attempt {
                    conn: None,
                    batch,
                    result: Err(Failure { error, doubt }),
                };
            }
        },
    };
    let result = write_once(&mut conn, &batch, doubt).await;
    let conn = match &result {
        Err(f) if is_connection_error(&f.error) => {
            conn.close_on_drop();
            drop(conn);
            drain_idle(&pool);
            None
        }
        _ => Some(conn),
    };
    Attempt {
        conn,
        batch,
        result,
    }
}

/// Settle an earlier attempt's doubt, then write the batch in one
/// transaction unless it is already written.
async fn write_once(
    conn: &mut PgConnection,
    batch: &WriteBatch,
    doubt: Option<Doubt>,
) -> Result<Done, Failure> {
    if let Some(d) = doubt {
        let keep = |error| Failure {
            error,
            doubt: Some(d),
        };
        match settle(conn, d).await.map_err(keep)? {
            Settled::Committed => return Ok(Done::AlreadyWritten),
            Settled::Aborted => {
                write_tx(conn, batch).await?;
                return Ok(Done::Written { settled: true });
            }
            Settled::InProgress => return Ok(Done::StillOpen(d)),
            Settled::Unknown => return Ok(Done::Unsettled),
        }
    }
    write_tx(conn, batch).await?;
    Ok(Done::Written { settled: false })
}

/// The batch in one transaction that first notes its id.
async fn write_tx(conn: &mut PgConnection, batch: &WriteBatch) -> Result<(), Failure> {
    let plain = |error| Failure { error, doubt: None };
    let mut tx = conn.begin().await.map_err(plain)?;
    let (xid, pid): (i64, i32) = sqlx::query_as("SELECT txid_current(), pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await
        .map_err(plain)?;
    insert_all(&mut tx, batch).await.map_err(plain)?;
    // Until the server confirms, this COMMIT may or may not have happened.
    tx.commit().await.map_err(|error| Failure {
        error,
        doubt: Some(Doubt { xid, pid }),
    })
}

enum Settled {
    Committed,
    Aborted,
    InProgress,
    Unknown,
}

/// Ask the server what became of transaction `d`. A transaction still in
/// progress belongs to a backend that has not noticed its client is gone: it
/// is terminated (only if it still runs that very transaction), so the next
/// question gets `aborted`.
async fn settle(conn: &mut PgConnection, d: Doubt) -> Result<Settled, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar("SELECT txid_status($1)")
        .bind(d.xid)
        .fetch_one(&mut *conn)
        .await?;
    Ok(match status.as_deref() {
        Some("committed") => Settled::Committed,
        Some("aborted") => Settled::Aborted,
        Some(_) => {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE pid = $1 AND backend_xid::text = ($2 % 4294967296)::text",
            )
            .bind(d.pid)
            .bind(d.xid)
            .execute(&mut *conn)
            .await?;
            Settled::InProgress
        }
        None => Settled::Unknown,
    })
}

/// One short line for a notice; sqlx errors carry no passwords.
fn short(e: &sqlx::Error) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().to_string()
}

/// Write live traffic until the duration ends or Ctrl-C, riding out outages.
/// Buffered batches get [`STOP_GRACE`] to be written after the end.
pub(super) async fn run(
    pool: &PgPool,
    generator: &mut Generator,
    opts: &SimulateOptions,
    sum: &mut Summer,
) -> Result<(), sqlx::Error> {
    let deadline = opts.duration.map(|d| Instant::now() + d);
    let mut tick = tokio::time::interval(LIVE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    let mut outbox = Outbox::new(opts.buffer_rows);
    let mut conn: Option<PoolConnection<Postgres>> = None;
    let mut inflight: Option<InFlight> = None;
    let mut inflight_rows = 0usize;
    let mut doubt: Option<Doubt> = None;
    let mut retry_at = Instant::now();
    let mut failures = 0u32;
    let mut stalled: Option<(Instant, Stall)> = None;
    let mut stop_by: Option<Instant> = None;

    loop {
        if inflight.is_none()
            && Instant::now() >= retry_at
            && let Some(b) = outbox.pop()
        {
            inflight_rows = b.rows();
            inflight = Some(Box::pin(attempt(
                pool.clone(),
                conn.take(),
                b,
                doubt.take(),
            )));
        }
        if stop_by.is_some() && inflight.is_none() && outbox.is_empty() {
            break;
        }
        let waiting = inflight.is_none() && !outbox.is_empty();
        tokio::select! {
            _ = tick.tick(), if stop_by.is_none() => {
                let batch = WriteBatch::split(generator.advance_to(Utc::now()));
                let dropped = outbox.push(batch, inflight_rows);
                if dropped > 0 && outbox.dropped_rows == dropped {
                    let why = match stalled {
                        Some(_) => "until the database is back",
                        None => "while writing falls behind --rate",
                    };
                    eprintln!(
                        "simulate: buffer full ({} rows); dropping the oldest rows {why} \
                         (the count is in the summary)",
                        opts.buffer_rows
                    );
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    stop_by = Some(Instant::now() + STOP_GRACE);
                }
            }
            _ = &mut ctrl_c, if stop_by.is_none() => {
                let batch = WriteBatch::split(generator.advance_to(Utc::now()));
                outbox.push(batch, inflight_rows);
                stop_by = Some(Instant::now() + STOP_GRACE);
            }
            a = async { inflight.as_mut().expect("guarded").await }, if inflight.is_some() => {
                inflight = None;
                inflight_rows = 0;
                conn = a.conn;
                match a.result {
                    Ok(done) => {
                        match done {
                            Done::Written { settled } => {
                                sum.s.commits_in_doubt += settled as u64;
                                a.batch.count_into(sum);
                            }
                            Done::AlreadyWritten => {
                                sum.s.commits_in_doubt += 1;
                                a.batch.count_into(sum);
                            }
                            Done::StillOpen(d) => {
                                // The old backend is being terminated; ask again shortly.
                                doubt = Some(d);
                                outbox.unpop(a.batch, true);
                                retry_at = Instant::now() + FIRST_RETRY;
                                continue;
                            }
                            Done::Unsettled => {
                                sum.s.commits_in_doubt += 1;
                                sum.s.unsettled_batches += 1;
                            }
                        }
                        failures = 0;
                        if let Some((since, why)) = stalled.take() {
                            let what = match why {
                                Stall::Connection => {
                                    sum.s.reconnects += 1;
                                    "database back"
                                }
                                Stall::Cancelled => "writes go through again",
                            };
                            eprintln!(
                                "simulate: {what} after {:.1} s; writing {} buffered rows",
                                since.elapsed().as_secs_f64(),
                                outbox.rows()
                            );
                        }
                    }
                    Err(f) if is_connection_error(&f.error) || is_cancelled(&f.error) => {
                        doubt = f.doubt;
                        failures += 1;
                        let why = if is_cancelled(&f.error) {
                            sum.s.cancelled_writes += 1;
                            Stall::Cancelled
                        } else {
                            Stall::Connection
                        };
                        match stalled {
                            None => {
                                stalled = Some((Instant::now(), why));
                                let doing = match why {
                                    Stall::Connection => "database connection lost",
                                    Stall::Cancelled => "the database cancelled a write",
                                };
                                eprintln!(
                                    "simulate: {doing} ({}); buffering up to {} rows and retrying",
                                    short(&f.error),
                                    opts.buffer_rows
                                );
                            }
                            // A lost connection during a stall of timeouts
                            // is an outage to ride out (and count) too.
                            Some((since, Stall::Cancelled)) if why == Stall::Connection => {
                                stalled = Some((since, why));
                            }
                            Some(_) => {}
                        }
                        if stop_by.is_some_and(|s| Instant::now() >= s) {
                            if doubt.is_some() {
                                sum.s.commits_in_doubt += 1;
                                sum.s.unsettled_batches += 1;
                            } else {
                                outbox.unpop(a.batch, false);
                            }
                            outbox.drop_all();
                            eprintln!("simulate: database still unreachable at exit; buffered rows dropped");
                            break;
                        }
                        outbox.unpop(a.batch, doubt.is_some());
                        let delay = FIRST_RETRY
                            .saturating_mul(1 << failures.saturating_sub(1).min(10))
                            .min(MAX_RETRY);
                        retry_at = Instant::now() + delay;
                    }
                    Err(f) => return Err(f.error),
                }
            }
            _ = tokio::time::sleep_until(retry_at), if waiting && retry_at > Instant::now() => {}
        }
    }
    sum.s.dropped_rows += outbox.dropped_rows;
    sum.s.dropped_api_calls += outbox.dropped_api;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::events::ApiCall;

    fn batch(api: usize) -> WriteBatch {
        let mut b = WriteBatch::default();
        for _ in 0..api {
            b.api.push(ApiCall {
                id: 0,
                endpoint: "/x".into(),
                method: "GET".into(),
                status_code: Some(200),
                response_ms: Some(5),
                user_id: None,
                error: None,
                at: Utc::now(),
            });
        }
        b
    }

    #[test]
    fn outbox_drops_the_oldest_beyond_its_cap() {
        let mut o = Outbox::new(10);
        assert_eq!(o.push(batch(4), 0), 0);
        assert_eq!(o.push(batch(4), 0), 0);
        assert_eq!(o.push(batch(0), 0), 0, "empty batches are not queued");
        // 4 + 4 + 3 > 10: the oldest 4 go.
        assert_eq!(o.push(batch(3), 0), 4);
        assert_eq!((o.rows(), o.dropped_rows, o.dropped_api), (7, 4, 4));
        // Rows out being written count against the cap too.
        assert_eq!(o.push(batch(1), 5), 4);
        assert_eq!(o.rows(), 4);
        // The newest batch is kept even when it alone exceeds the cap.
        assert_eq!(o.push(batch(20), 0), 4);
        assert_eq!(o.rows(), 20);
        let b = o.pop().expect("one batch");
        assert!(o.is_empty() && o.rows() == 0);
        o.unpop(b, false);
        assert_eq!(o.rows(), 20);
        o.drop_all();
        assert_eq!((o.rows(), o.dropped_rows), (0, 32));
    }

    #[test]
    fn a_batch_in_doubt_is_never_dropped() {
        let mut o = Outbox::new(10);
        o.push(batch(4), 0);
        let in_doubt = o.pop().expect("one batch");
        o.unpop(in_doubt, true);
        // Over the cap: the batch behind the one in doubt goes, not the front.
        assert_eq!(o.push(batch(4), 0), 0);
        assert_eq!(o.push(batch(4), 0), 4);
        assert_eq!(o.pop().expect("front").rows(), 4);
        assert_eq!((o.rows(), o.dropped_rows), (4, 4));
        // Once popped, the front is an ordinary batch again.
        assert_eq!(o.push(batch(8), 0), 4);
        assert_eq!(o.rows(), 8);
    }

    #[test]
    fn connection_errors_are_told_apart() {
        use std::io;
        assert!(is_connection_error(&sqlx::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionReset
        ))));
        assert!(is_connection_error(&sqlx::Error::PoolTimedOut));
        assert!(!is_connection_error(&sqlx::Error::RowNotFound));
        assert!(!is_connection_error(&sqlx::Error::PoolClosed));
        assert!(!is_cancelled(&sqlx::Error::PoolTimedOut));
        assert!(!is_cancelled(&sqlx::Error::RowNotFound));
    }
}
