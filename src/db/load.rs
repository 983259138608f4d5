//! The start-up load: the window as server-side aggregates (counts per
//! minute × key × latency bucket), integration tails, recent failing and slow
//! calls, business totals, and each tailed table's high-water mark and gaps.
//! Everything runs in the caller's `REPEATABLE READ` snapshot. Rows are
//! grouped by slot ([`slot_sql`]: the minute, or the coarser slot of a long
//! window, so a 30-day window arrives as at most 360 slots per key, never as
//! 43,200 minutes) and the epoch minute computed once per group:
//! `extract(epoch …)` is numeric, costly on millions of rows. The aggregate
//! rows are streamed and folded as they arrive, never fetched whole.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
// All dynamic SQL here is assembled from constants (table and column names),
// never from input: hence `AssertSqlSafe`.
use futures_util::TryStreamExt;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::tail::{Tail, outside_gaps};
use crate::hist::sql_bucket_expr;
use crate::model::tables::{API_CALLS, BUSINESS_METRICS, INTEGRATION_METRICS};
use crate::model::*;
use crate::rollup::read::{ApiMinutes, BusinessMinutes, IntegrationMinutes, Uncounted};

/// Which raw rows a load aggregates.
pub(super) enum RawRows<T> {
    /// Every row of the window.
    Window,
    /// The rows a history has not counted; it supplied the minutes `T`.
    Uncounted(T, Uncounted),
    /// An older slice of the window, loaded after the first screen: rows
    /// before `until`, and none of the ids the live tail will count.
    Slice(Slice),
}

/// The rows of an older slice: before `until`, with ids up to the load's
/// high-water mark (`$2`), and not inside the load's gaps (rows that had not
/// committed then: the live tail counts those).
#[derive(Debug, Clone)]
pub(super) struct Slice {
    pub until: DateTime<Utc>,
    pub gap_lo: Vec<i64>,
    pub gap_hi: Vec<i64>,
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl<T: Default> RawRows<T> {
    /// The FROM item: the table, its uncounted rows (parameters `$3..$5`), or
    /// a slice's rows (`$3` the end, `$4..$5` the gaps; `ts_before` the
    /// condition "time column < $3").
    fn source_sql(&self, table: &str, ts_before: &str) -> String {
        match self {
            RawRows::Window => table.to_owned(),
            RawRows::Uncounted(..) => Uncounted::from_item(table),
            RawRows::Slice(_) => format!(
                "(SELECT * FROM {table} WHERE id <= $2 AND {ts_before} AND {}) AS t",
                outside_gaps("id", "$4", "$5")
            ),
        }
    }

    /// Bind `$3..$5` when the FROM item reads them.
    fn bind<'q>(&self, q: Query<'q>) -> Query<'q> {
        match self {
            RawRows::Window => q,
            RawRows::Uncounted(_, u) => q.bind(u.hwm).bind(u.gap_lo.clone()).bind(u.gap_hi.clone()),
            RawRows::Slice(s) => q
                .bind(s.until)
                .bind(s.gap_lo.clone())
                .bind(s.gap_hi.clone()),
        }
    }

    /// The minutes a history supplied (none for raw rows).
    fn seed(&mut self) -> T {
        match self {
            RawRows::Uncounted(t, _) => std::mem::take(t),
            _ => T::default(),
        }
    }
}

/// The SQL expression grouping `col` by slots of `step` minutes, aligned on
/// the Unix epoch in UTC like [`slot_of`]. `local`: the column is a
/// `timestamp without time zone` in the session's time zone (the bins are
/// then aligned on the epoch in local time, which is the same instants for
/// any fixed offset; around a DST change a bin may straddle two UTC slots,
/// and the store folds it into the first). Minutes use `date_trunc`; coarser
/// slots `date_bin` (PostgreSQL 14+).
pub(super) fn slot_sql(col: &str, step: i64, local: bool) -> String {
    match (step, local) {
        (..=1, _) => format!("date_trunc('minute', {col})"),
        (_, true) => {
            format!("date_bin('{step} minutes', {col}, 'epoch'::timestamptz::timestamp)")
        }
        (_, false) => format!("date_bin('{step} minutes', {col}, 'epoch'::timestamptz)"),
    }
}

/// The epoch minute of a slot expression (a UTC instant).
fn slot_minute_sql(slot: &str, local: bool) -> String {
    let cast = if local { "::timestamptz" } else { "" };
    format!("(extract(epoch FROM {slot}{cast}) / 60)::int8")
}

/// Run `aggregate` planned as a hash aggregate: sorts off and `work_mem` at
/// least [`HASH_WORK_MEM`], for that statement only (both `SET LOCAL`, then
/// `SET LOCAL … TO DEFAULT`: the session's values, so nothing else may set
/// these two locally; the caller holds a transaction, as every load does). PostgreSQL estimates the groups of these aggregates as the
/// product of the keys' distinct counts, ten times too many (2.5 M for the
/// 211 k groups of a 6-hour slice), so it sorts millions of rows by their
/// text keys on disk, where hashing them is about twice as fast: 24 h of
/// `hist_24h` API calls (10 M rows, 841 k groups) took 16.6 s sorted in
/// parallel and 8.7 s hashed by one process with 16 MB (11.4 s with the
/// default 4 MB: a hash aggregate spills by partitions).
async fn hashed<T, F>(conn: &mut PgConnection, aggregate: F) -> Result<T, sqlx::Error>
where
    F: AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
{
    sqlx::query(
        "SELECT set_config('enable_sort', 'off', true), \
                set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) \
                                              < pg_size_bytes($1) \
                                            THEN $1 ELSE current_setting('work_mem') END, true)",
    )
    .bind(HASH_WORK_MEM)
    .execute(&mut *conn)
    .await?;
    let out = aggregate(&mut *conn).await?;
    sqlx::raw_sql("SET LOCAL enable_sort TO DEFAULT; SET LOCAL work_mem TO DEFAULT")
        .execute(&mut *conn)
        .await?;
    Ok(out)
}

/// The least `work_mem` an aggregate runs with (see [`hashed`]).
const HASH_WORK_MEM: &str = "16MB";

/// How far below the newest id the start-up load looks for uncommitted rows.
pub(super) const STARTUP_GAP_SCAN: i64 = 200_000;

/// The high-water mark and the gaps below it, as seen by the load's snapshot.
pub(super) async fn load_tail(
    conn: &mut PgConnection,
    table: &str,
    now: DateTime<Utc>,
) -> Result<Tail, sqlx::Error> {
    let hwm: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT coalesce(max(id), 0)::int8 FROM {table}"
    )))
    .fetch_one(&mut *conn)
    .await?;
    let floor = (hwm - STARTUP_GAP_SCAN).max(0);
    // One array rather than a row per id: 200,000 rows took the client
    // longer to receive than the server to find (103 ms and then 86 ms
    // decoding on hist_24h, against 32 ms for the array).
    let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT array(SELECT t.id::int8 FROM {table} AS t WHERE t.id > $1 ORDER BY t.id)"
    )))
    .bind(floor)
    .fetch_one(&mut *conn)
    .await?;
    let mut tail = Tail::new(floor);
    tail.advance(&ids, now);
    Ok(tail)
}

/// API minutes × endpoints from `start` on, summed into slots of `step`
/// minutes, streamed from the server-side aggregate.
pub(super) async fn api_minutes(
    conn: &mut PgConnection,
    (start, step): (DateTime<Utc>, i64),
    hwm: i64,
    mut raw: RawRows<ApiMinutes>,
) -> Result<ApiMinutes, sqlx::Error> {
    let slot = slot_sql("timestamp", step, true);
    let sql = format!(
        "SELECT {} AS minute, \
                endpoint, method, coalesce(status_code, 0) AS status, {} AS bucket, \
                count(*) AS n, \
                count(*) FILTER (WHERE error IS NOT NULL AND btrim(error) <> '') AS with_error \
         FROM {} \
         WHERE timestamp >= $1::timestamptz::timestamp AND id <= $2 \
         GROUP BY {slot}, 2, 3, 4, 5",
        slot_minute_sql(&slot, true),
        sql_bucket_expr("response_time"),
        raw.source_sql(API_CALLS, "timestamp < $3::timestamptz::timestamp"),
    );
    let mut buckets: HashMap<(Minute, EndpointKey), ApiMinute> = HashMap::new();
    for (m, k, v) in raw.seed() {
        buckets.entry((slot_of(m, step), k)).or_default().merge(&v);
    }
    let q = raw.bind(
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(start)
            .bind(hwm),
    );
    let buckets = hashed(conn, async move |conn| {
        let mut rows = q.fetch(conn);
        while let Some(r) = rows.try_next().await? {
            let key = EndpointKey {
                endpoint: r.try_get("endpoint")?,
                method: r.try_get("method")?,
            };
            let status: i32 = r.try_get("status")?;
            let bucket: Option<i32> = r.try_get("bucket")?;
            let n = r.try_get::<i64, _>("n")? as u64;
            let with_error = r.try_get::<i64, _>("with_error")? as u64;
            let m = buckets
                .entry((slot_of(r.try_get("minute")?, step), key))
                .or_default();
            m.add_counts(status, n, with_error);
            if let Some(bk) = bucket {
                m.latency.record_bucket(bk.max(0) as u32, n);
            }
        }
        Ok(buckets)
    })
    .await?;
    let mut api: Vec<_> = buckets.into_iter().map(|((m, k), v)| (m, k, v)).collect();
    api.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(api)
}

/// Integration minutes from `start` on, summed into slots of `step` minutes.
pub(super) async fn integration_minutes(
    conn: &mut PgConnection,
    (start, step): (DateTime<Utc>, i64),
    hwm: i64,
    mut raw: RawRows<IntegrationMinutes>,
) -> Result<IntegrationMinutes, sqlx::Error> {
    let slot = slot_sql("created_at", step, false);
    let sql = format!(
        "SELECT {} AS minute, integration, \
                {} AS bucket, count(*) AS n, count(*) FILTER (WHERE NOT success) AS failures \
         FROM {} \
         WHERE created_at >= $1 AND id <= $2 GROUP BY {slot}, 2, 3",
        slot_minute_sql(&slot, false),
        sql_bucket_expr("duration_ms"),
        raw.source_sql(INTEGRATION_METRICS, "created_at < $3"),
    );
    let mut buckets: HashMap<(Minute, String), IntegrationMinute> = HashMap::new();
    for (m, k, v) in raw.seed() {
        buckets.entry((slot_of(m, step), k)).or_default().merge(&v);
    }
    let q = raw.bind(
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(start)
            .bind(hwm),
    );
    let buckets = hashed(conn, async move |conn| {
        let mut rows = q.fetch(conn);
        while let Some(r) = rows.try_next().await? {
            let n = r.try_get::<i64, _>("n")? as u64;
            let m = buckets
                .entry((
                    slot_of(r.try_get("minute")?, step),
                    r.try_get("integration")?,
                ))
                .or_default();
            m.calls += n;
            m.failures += r.try_get::<i64, _>("failures")? as u64;
            if let Some(bk) = r.try_get::<Option<i32>, _>("bucket")? {
                m.latency.record_bucket(bk.max(0) as u32, n);
            }
        }
        Ok(buckets)
    })
    .await?;
    let mut minutes: Vec<_> = buckets.into_iter().map(|((m, k), v)| (m, k, v)).collect();
    minutes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(minutes)
}

pub(super) async fn load_business(
    conn: &mut PgConnection,
    b: &mut Batch,
    (start, step): (DateTime<Utc>, i64),
    hwm: i64,
    raw: RawRows<BusinessMinutes>,
) -> Result<(), sqlx::Error> {
    let minutes = business_minutes(conn, (start, step), hwm, raw).await?;
    b.business.extend(minutes);
    Ok(())
}

/// Business sums per slot of `step` minutes from `start` on.
pub(super) async fn business_minutes(
    conn: &mut PgConnection,
    (start, step): (DateTime<Utc>, i64),
    hwm: i64,
    mut raw: RawRows<BusinessMinutes>,
) -> Result<BusinessMinutes, sqlx::Error> {
    let slot = slot_sql("recorded_at", step, false);
    let sql = format!(
        "SELECT {} AS minute, metric, sum(value) AS v \
         FROM {} WHERE recorded_at >= $1 AND id <= $2 \
         GROUP BY {slot}, 2",
        slot_minute_sql(&slot, false),
        raw.source_sql(BUSINESS_METRICS, "recorded_at < $3"),
    );
    let mut sums: BTreeMap<(Minute, String), f64> = BTreeMap::new();
    for (m, k, v) in raw.seed() {
        *sums.entry((slot_of(m, step), k)).or_default() += v;
    }
    let q = raw.bind(
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(start)
            .bind(hwm),
    );
    let sums = hashed(conn, async move |conn| {
        let mut rows = q.fetch(conn);
        while let Some(r) = rows.try_next().await? {
            *sums
                .entry((slot_of(r.try_get("minute")?, step), r.try_get("metric")?))
                .or_default() += r.try_get::<f64, _>("v")?;
        }
        Ok(sums)
    })
    .await?;
    Ok(sums.into_iter().map(|((m, k), v)| (m, k, v)).collect())
}
