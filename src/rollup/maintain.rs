//! Keeping the rollups current: one step reads what is new in a raw table
//! (above the high-water mark and inside gaps) and adds it, one backfill step
//! adds the next older slice; each in one `REPEATABLE READ` transaction with
//! its position, so every raw row is counted exactly once whatever is killed
//! when. The raw tables are only read (no lock a platform writer waits on).
//!
//! A [`Maintainer`] holds a lease (a session advisory lock on its own
//! connection, released by PostgreSQL when the process dies) so that of
//! several jfmon processes one follows while the others stand by; a backfill
//! has a lease of its own and runs alongside the follower (both lock the
//! position row, so their steps interleave).
//!
//! A step runs a transaction on that connection, so a step cut short (its
//! future dropped: a task aborted, a `select!` or timeout) leaves it inside
//! an open transaction, perhaps with a query still running. Such a
//! connection is never reused nor returned to the pool: the next step, and
//! dropping the maintainer, close it instead (PostgreSQL then rolls the
//! transaction back and frees the lease).

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres};

use super::spec::Rollup;
use super::state::{self, Position};
use crate::db::tail::Tail;
use crate::model::{minute_of, minute_start};

/// Raw rows read per follow step.
pub const FOLLOW_SLICE: i64 = 50_000;
/// Raw rows per backfill slice (default).
pub const BACKFILL_SLICE: i64 = 50_000;
/// How far below the newest id a new rollup starts, so transactions still
/// open when it starts are seen as gaps.
const START_SCAN: i64 = 200_000;
/// A backfill is complete once a whole slice lies this far before its cutoff
/// (a platform transaction running longer could be missed).
const BACKFILL_MARGIN: TimeDelta = TimeDelta::minutes(10);
/// Advisory lock keys, one per role.
const LEASE_FOLLOW: i64 = crate::db::leases::ROLLUP_FOLLOW;
const LEASE_BACKFILL: i64 = crate::db::leases::ROLLUP_BACKFILL;

/// What a step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// Raw rows added to the rollup.
    pub rows: u64,
    /// A full slice was read: call again soon.
    pub more: bool,
}

/// Where a backfill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillProgress {
    pub rows: u64,
    /// Lowest id counted so far.
    pub base: i64,
    pub done: bool,
}

/// Which lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follow,
    Backfill,
}

/// A rollup maintainer on one connection of its own.
pub struct Maintainer {
    pool: PgPool,
    role: Role,
    conn: Option<PoolConnection<Postgres>>,
    /// A step began on `conn` and has not finished (or was cut short).
    in_step: bool,
    /// The statement timeout of the lease connection, when not the pool's.
    statement_timeout: Option<std::time::Duration>,
}

impl Drop for Maintainer {
    /// Never hand the lease connection back to the pool: it holds the
    /// session's advisory lock and maybe an interrupted transaction.
    fn drop(&mut self) {
        self.release();
    }
}

impl Maintainer {
    pub fn new(pool: PgPool, role: Role) -> Self {
        Maintainer {
            pool,
            role,
            conn: None,
            in_step: false,
            statement_timeout: None,
        }
    }

    /// Run this maintainer's statements under `timeout` instead of the
    /// pool's `statement_timeout` (a backfill slice aggregates far more rows
    /// than an interactive query).
    pub fn with_statement_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// Take the lease if free; `false` means another process holds it
    /// (stand by and ask again later).
    pub async fn try_lease(&mut self) -> Result<bool, sqlx::Error> {
        if self.in_step {
            // The last step was cut short: its connection is in an unknown
            // state. Close it (ending its transaction and the lease) and
            // take the lease again on a fresh one.
            self.release();
        }
        if self.conn.is_some() {
            return Ok(true);
        }
        let mut conn = self.pool.acquire().await?;
        let key = match self.role {
            Role::Follow => LEASE_FOLLOW,
            Role::Backfill => LEASE_BACKFILL,
        };
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            if let Some(t) = self.statement_timeout {
                // For the session: this connection never goes back to the pool.
                sqlx::query("SELECT set_config('statement_timeout', $1, false)")
                    .bind(format!("{}ms", t.as_millis().max(1)))
                    .execute(&mut *conn)
                    .await?;
            }
            self.conn = Some(conn);
        }
        Ok(got)
    }

    /// Whether this maintainer holds its lease.
    pub fn has_lease(&self) -> bool {
        self.conn.is_some()
    }

    /// Give the lease up (also dropping the connection: a failed step may
    /// have left it unusable).
    pub fn release(&mut self) {
        self.in_step = false;
        if let Some(c) = self.conn.take() {
            // Closing the connection ends the session and its lock.
            drop(c.detach());
        }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("lease held")
    }

    /// One follow step on every rollup whose raw table exists.
    pub async fn follow_all(&mut self) -> Result<StepOutcome, sqlx::Error> {
        let mut total = StepOutcome::default();
        for r in existing(&self.pool).await? {
            let o = self.with_retry(|c| Box::pin(follow_step(c, r))).await?;
            total.rows += o.rows;
            total.more |= o.more;
        }
        // Before `jfmon migrate` adds migration 0016 the usage rollup is
        // left as it is (a backfill says so: `usage_backfill_step`).
        if super::usage::readiness(&self.pool).await? == super::usage::Readiness::Ready {
            // Counted in minutes, not raw rows: only whether more is due.
            let o = self
                .with_retry(|c| Box::pin(super::usage::follow_step(c)))
                .await?;
            total.more |= o.more;
        }
        Ok(total)
    }

    /// One backfill step of the usage rollup down to `cutoff`: (rows, done).
    pub async fn usage_backfill_step(
        &mut self,
        cutoff: DateTime<Utc>,
    ) -> Result<(u64, bool), sqlx::Error> {
        match super::usage::readiness(&self.pool).await? {
            super::usage::Readiness::Absent => return Ok((0, true)),
            // Refused rather than skipped: `jfmon prune` backfills before
            // deleting, and must not delete sessions this rollup never counted.
            super::usage::Readiness::NeedsMigrate => {
                // A sentence of jfmon's own, shown as it is (`user_error`).
                return Err(sqlx::Error::InvalidArgument(
                    super::usage::NEEDS_MIGRATE.into(),
                ));
            }
            super::usage::Readiness::Ready => {}
        }
        self.with_retry(|c| Box::pin(super::usage::backfill_step(c, cutoff)))
            .await
    }

    /// One backfill slice of `r` down to `cutoff`, `slice` rows.
    pub async fn backfill_step(
        &mut self,
        r: Rollup,
        cutoff: DateTime<Utc>,
        slice: i64,
    ) -> Result<BackfillProgress, sqlx::Error> {
        self.with_retry(|c| Box::pin(backfill_step(c, r, cutoff, slice)))
            .await
    }

    /// Run `f` on the lease connection, again after a serialization failure
    /// (another step changed the position since this one's snapshot).
    async fn with_retry<T>(
        &mut self,
        f: impl for<'c> Fn(
            &'c mut PgConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'c>,
        >,
    ) -> Result<T, sqlx::Error> {
        if self.in_step && !self.try_lease().await? {
            return Err(sqlx::Error::Protocol(
                "the rollup lease was lost after an interrupted step".into(),
            ));
        }
        let mut attempts = 0;
        loop {
            self.in_step = true;
            let res = f(self.conn()).await;
            self.in_step = false;
            match res {
                Err(e) if is_serialization_failure(&e) && attempts < 20 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempts)).await;
                }
                Err(e) => {
                    self.release();
                    return Err(e);
                }
                Ok(v) => return Ok(v),
            }
        }
    }
}

fn is_serialization_failure(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40001") || d.code().as_deref() == Some("40P01"))
}

/// The rollups whose raw table exists.
pub async fn existing(pool: &PgPool) -> Result<Vec<Rollup>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(quote_ident(t)) IS NOT NULL",
    )
    .bind(Rollup::ALL.map(|r| r.table()).as_slice())
    .fetch_all(pool)
    .await?;
    Ok(Rollup::ALL
        .into_iter()
        .filter(|r| tables.iter().any(|t| t == r.table()))
        .collect())
}

/// Begin the step's transaction and lock the position (created when absent).
async fn begin(
    conn: &mut PgConnection,
    r: Rollup,
    role: Role,
) -> Result<(Position, Snap), sqlx::Error> {
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *conn)
        .await?;
    let pos = state::lock(conn, r).await?;
    let snap = snap(conn).await?;
    // A new rollup's tier is started by whichever step comes first (there
    // are no minutes yet to rebuild it from).
    let rebuild = role == Role::Follow || pos.is_none();
    let pos = match pos {
        Some(p) => p,
        None => {
            // A new rollup: start a little below the newest id; minutes from
            // the next one on are complete.
            let newest: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT coalesce(max(id), 0)::int8 FROM {}",
                r.table()
            )))
            .fetch_one(&mut *conn)
            .await?;
            let floor = (newest - START_SCAN).max(0);
            Position {
                base: floor,
                tail: Tail::new(floor),
                horizons: Vec::new(),
                // From the first id on, every row will be counted.
                covered_from: if floor == 0 {
                    DateTime::<Utc>::UNIX_EPOCH
                } else {
                    minute_start(minute_of(snap.now) + 1)
                },
                tier: false,
            }
        }
    };
    let mut pos = pos;
    pos.tier = keep_tier(conn, r, pos.tier, rebuild).await?;
    Ok((pos, snap))
}

/// The longest a rebuild of the 5-minute tier may take (a month of
/// minutes takes minutes; an interactive statement may take 5 s).
const REBUILD_TIMEOUT: &str = "15min";

/// Whether this step keeps `r`'s 5-minute tier: when the tier exists
/// (migration 0017) and this role may rewrite it. When the last writer did
/// not keep it (`kept` false: a new rollup, the first step after the
/// migration, or a jfmon older than the tier stepped since), a follow step
/// (`rebuild`) first rebuilds it from the minute table, in this step's
/// snapshot and under its lock on the position, so it equals the minutes
/// the step starts from; a backfill step of an existing rollup leaves it to
/// the follower (beside an older follower it would rebuild a month of
/// minutes every slice).
async fn keep_tier(
    conn: &mut PgConnection,
    r: Rollup,
    kept: bool,
    rebuild: bool,
) -> Result<bool, sqlx::Error> {
    let (Some(table), Some(refill)) = (r.tier_table(), r.tier_rebuild_sql()) else {
        return Ok(false);
    };
    // Each right on its own: with a list, `has_table_privilege` asks for any.
    let usable: bool = sqlx::query_scalar(
        "SELECT coalesce(bool_and(has_table_privilege(to_regclass($1)::oid, p)), false) \
         FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await?;
    if !usable || kept {
        return Ok(usable);
    }
    if !rebuild {
        return Ok(false);
    }
    let timeout: String = sqlx::query_scalar(
        "SELECT current_setting('statement_timeout') FROM (SELECT set_config('statement_timeout', $1, true)) AS s",
    )
    .bind(REBUILD_TIMEOUT)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}")))
        .execute(&mut *conn)
        .await?;
    sqlx::query(AssertSqlSafe(refill))
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(timeout)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

struct Snap {
    now: DateTime<Utc>,
    xmin: i64,
    xmax: i64,
}

async fn snap(conn: &mut PgConnection) -> Result<Snap, sqlx::Error> {
    let (now, xmin, xmax): (DateTime<Utc>, i64, i64) = sqlx::query_as(
        "SELECT now(), pg_snapshot_xmin(pg_current_snapshot())::text::int8, \
                pg_snapshot_xmax(pg_current_snapshot())::text::int8",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Snap { now, xmin, xmax })
}

async fn rollback(conn: &mut PgConnection) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}

/// The ids above `$1`, oldest first, at most `$2` of them.
///
/// Ordered by the column itself (`t.id`): a bare `ORDER BY id` names the
/// output column `id::int8`, which no index serves when the platform's id is
/// a 32-bit `SERIAL`, so every call read and sorted all the rows past `$1`.
pub fn follow_ids_sql(r: Rollup) -> String {
    format!(
        "SELECT t.id::int8 FROM {} AS t WHERE t.id > $1 ORDER BY t.id LIMIT $2",
        r.table()
    )
}

/// The ids at or below `$1` with their instants, newest first, at most `$2`
/// (ordered by the column, as in [`follow_ids_sql`]: ordering by the cast
/// made each backfill slice read and sort every row below it, so a
/// backfill cost grew with the square of the table).
pub fn backfill_ids_sql(r: Rollup) -> String {
    format!(
        "SELECT t.id::int8, {} FROM {} AS t WHERE t.id <= $1 ORDER BY t.id DESC LIMIT $2",
        r.instant(),
        r.table()
    )
}

/// Add the rows `(lo, hi]` ∪ `ids` of `r`'s raw table to its rollup (and
/// to its 5-minute tier, with `tier`).
async fn add_delta(
    conn: &mut PgConnection,
    r: Rollup,
    tier: bool,
    lo: i64,
    hi: i64,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    if lo >= hi && ids.is_empty() {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(r.delta_sql(tier)))
        .bind(lo)
        .bind(hi)
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The ids of `r`'s raw rows that have appeared inside the gaps `$1`, `$2`
/// (parallel arrays of inclusive bounds), ascending.
pub fn gap_ids_sql(r: Rollup) -> String {
    let in_gaps = super::read::rows_in_gaps(r.table(), "x.id::int8 AS id", "$1", "$2", "g.hi");
    format!("SELECT id FROM ({in_gaps}) AS f ORDER BY 1")
}

/// One follow step of `r`: rows committed inside gaps, and up to
/// [`FOLLOW_SLICE`] rows above the high-water mark.
pub async fn follow_step(conn: &mut PgConnection, r: Rollup) -> Result<StepOutcome, sqlx::Error> {
    let res = follow_in_tx(conn, r).await;
    if res.is_err() {
        rollback(conn).await;
    }
    res
}

async fn follow_in_tx(conn: &mut PgConnection, r: Rollup) -> Result<StepOutcome, sqlx::Error> {
    let (mut pos, snap) = begin(conn, r, Role::Follow).await?;
    let mut found: Vec<i64> = Vec::new();
    if pos.tail.has_gaps() {
        let (lo, hi) = pos.tail.gap_arrays();
        found = sqlx::query_scalar(AssertSqlSafe(gap_ids_sql(r)))
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut *conn)
            .await?;
        pos.tail.fill(&found);
    }
    let old_hwm = pos.tail.hwm;
    let new: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(follow_ids_sql(r)))
        .bind(old_hwm)
        .bind(FOLLOW_SLICE)
        .fetch_all(&mut *conn)
        .await?;
    pos.tail.advance(&new, snap.now);
    add_delta(conn, r, pos.tier, old_hwm, pos.tail.hwm, &found).await?;
    pos.settle(snap.now, snap.xmin, snap.xmax);
    state::save(conn, r, &pos).await?;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(StepOutcome {
        rows: (found.len() + new.len()) as u64,
        more: new.len() as i64 >= FOLLOW_SLICE,
    })
}

/// One backfill slice of `r`: the `slice` newest rows below the base, until
/// the rollup covers `cutoff`.
pub async fn backfill_step(
    conn: &mut PgConnection,
    r: Rollup,
    cutoff: DateTime<Utc>,
    slice: i64,
) -> Result<BackfillProgress, sqlx::Error> {
    let res = backfill_in_tx(conn, r, cutoff, slice).await;
    if res.is_err() {
        rollback(conn).await;
    }
    res
}

async fn backfill_in_tx(
    conn: &mut PgConnection,
    r: Rollup,
    cutoff: DateTime<Utc>,
    slice: i64,
) -> Result<BackfillProgress, sqlx::Error> {
    let (mut pos, snap) = begin(conn, r, Role::Backfill).await?;
    if pos.base <= 0 {
        pos.covered_from = DateTime::<Utc>::UNIX_EPOCH;
    }
    if pos.covered_from <= cutoff {
        state::save(conn, r, &pos).await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        return Ok(BackfillProgress {
            rows: 0,
            base: pos.base,
            done: true,
        });
    }
    let hi = pos.base;
    // Newest first: the slice's ids and its latest instant.
    let rows: Vec<(i64, Option<DateTime<Utc>>)> =
        sqlx::query_as(AssertSqlSafe(backfill_ids_sql(r)))
            .bind(hi)
            .bind(slice)
            .fetch_all(&mut *conn)
            .await?;
    let full = rows.len() as i64 >= slice;
    let lo = if full {
        rows.last().map_or(0, |(id, _)| id - 1)
    } else {
        0
    };
    // Ids of the range not visible now: rolled back, or (rarely, for old
    // ids) still open.
    let mut next = hi;
    for (id, _) in &rows {
        if *id < next {
            pos.tail.insert_gap(id + 1, next, snap.now);
        }
        next = id - 1;
    }
    if lo < next {
        pos.tail.insert_gap(lo + 1, next, snap.now);
    }
    add_delta(conn, r, pos.tier, lo, hi, &[]).await?;
    pos.base = lo;
    let latest = rows.iter().filter_map(|(_, t)| *t).max();
    let done = lo == 0 || latest.is_some_and(|t| t < cutoff - BACKFILL_MARGIN);
    if lo == 0 {
        pos.covered_from = DateTime::<Utc>::UNIX_EPOCH;
    } else if done {
        pos.covered_from = pos.covered_from.min(cutoff);
    }
    pos.settle(snap.now, snap.xmin, snap.xmax);
    state::save(conn, r, &pos).await?;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(BackfillProgress {
        rows: rows.len() as u64,
        base: lo,
        done,
    })
}
