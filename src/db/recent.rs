//! What the drill-downs show row by row rather than per minute: recent
//! failing and slow API calls, each integration's tail (last success, last
//! error, failures since the last success) and its recent failing calls.
//! Read for the window's first screen, and by a progressive load's history
//! job for each older slice (the rows the load's snapshot saw, before the
//! slice's end, outside its gaps), so that an integration quiet in the last
//! hour still shows its last error and success from earlier in the window.
//! (The slowest calls stay those of the first screen and the live polls.)

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::load::{STARTUP_GAP_SCAN, Slice};
use super::rows::{API_COLS, INTEGRATION_COLS, api_call, integration_call, to_rows};
use super::tail::outside_gaps;
use crate::model::tables::{API_CALLS, INTEGRATION_METRICS};
use crate::model::{ApiCall, Batch, IntegrationTail, Minute, minute_of, minute_start};

/// Recent failing calls a load delivers (per table).
pub(super) const ERRORS: usize = 100;
/// Slowest calls per batch.
const SLOWEST: i64 = 50;

/// The rows of `table` from `$1` (time column `ts`, compared as `ts_cmp`),
/// ids up to `$2`; for a slice also before `$3` and outside the gaps `$4`,
/// `$5`. Returns the FROM item (aliased `w`).
fn rows_sql(table: &str, ts: &str, local: bool, slice: bool) -> String {
    rows_as(table, ts, local, slice, "w")
}

/// [`rows_sql`], aliased `alias`.
fn rows_as(table: &str, ts: &str, local: bool, slice: bool, alias: &str) -> String {
    let cast = if local {
        "::timestamptz::timestamp"
    } else {
        ""
    };
    let mut sql = format!("SELECT * FROM {table} WHERE {ts} >= $1{cast} AND id <= $2");
    if slice {
        sql.push_str(&format!(
            " AND {ts} < $3{cast} AND {}",
            outside_gaps("id", "$4", "$5")
        ));
    }
    format!("({sql}) AS {alias}")
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind<'q>(q: Query<'q>, start: DateTime<Utc>, hwm: i64, slice: Option<&Slice>) -> Query<'q> {
    let q = q.bind(start).bind(hwm);
    match slice {
        Some(s) => q
            .bind(s.until)
            .bind(s.gap_lo.clone())
            .bind(s.gap_hi.clone()),
        None => q,
    }
}

/// Recent failing and slow API calls among the newest ids (as the live tail
/// sees them), from `start` on.
pub(super) async fn api_recent(
    conn: &mut PgConnection,
    b: &mut Batch,
    start: DateTime<Utc>,
    hwm: i64,
    slice: Option<&Slice>,
) -> Result<(), sqlx::Error> {
    let floor = hwm - STARTUP_GAP_SCAN;
    let from = rows_sql(API_CALLS, "timestamp", true, slice.is_some());
    let calls = async |conn: &mut PgConnection, filter: &str, order_limit: &str| {
        let sql = format!(
            "SELECT {API_COLS} FROM {from} WHERE id > {floor} AND ({filter}) ORDER BY {order_limit}"
        );
        let rows = bind(sqlx::query(AssertSqlSafe(sql)), start, hwm, slice)
            .fetch_all(&mut *conn)
            .await?;
        to_rows(rows, api_call)
    };
    let mut errors: Vec<ApiCall> = calls(
        conn,
        "status_code >= 500 OR (error IS NOT NULL AND btrim(error) <> '')",
        &format!("id DESC LIMIT {ERRORS}"),
    )
    .await?;
    errors.reverse();
    b.api_errors = errors;
    if slice.is_some() {
        // The slowest calls are the first screen's and the live polls' (a
        // slice's would not rank against them).
        return Ok(());
    }
    let mut slow = calls(
        conn,
        "response_time IS NOT NULL",
        &format!("response_time DESC LIMIT {SLOWEST}"),
    )
    .await?;
    slow.sort_by_key(|c| (c.at, c.id));
    b.api_slow = slow;
    Ok(())
}

/// Where the rows that decide the integrations' tails begin, from the
/// per-slot counts of the same rows, which `b` must already hold (raw or
/// from rollups; without them, the whole window is read):
/// each integration's last success and last failure lie in the newest slot
/// holding one, and the failures since the last success after it. So the
/// tails read from the oldest of those slots over all integrations (from
/// `start` for one without a success in the window): mostly the newest slot,
/// not the whole window.
fn tails_from(b: &Batch, start: DateTime<Utc>) -> DateTime<Utc> {
    let mut newest: BTreeMap<&str, (Option<Minute>, Option<Minute>)> = BTreeMap::new();
    for (m, name, x) in &b.integrations {
        let (ok, failed) = newest.entry(name.as_str()).or_default();
        if x.calls > x.failures {
            *ok = (*ok).max(Some(*m));
        }
        if x.failures > 0 {
            *failed = (*failed).max(Some(*m));
        }
    }
    let first = minute_of(start);
    let from = newest
        .values()
        .map(|(ok, failed)| ok.unwrap_or(first).min(failed.unwrap_or(Minute::MAX)))
        .min()
        .unwrap_or(first);
    minute_start(from).max(start)
}

/// Each integration's tail and its recent failing calls from `start` on.
pub(super) async fn integration_recent(
    conn: &mut PgConnection,
    b: &mut Batch,
    start: DateTime<Utc>,
    hwm: i64,
    slice: Option<&Slice>,
) -> Result<(), sqlx::Error> {
    let w = rows_sql(INTEGRATION_METRICS, "created_at", false, slice.is_some());
    let f = rows_as(
        INTEGRATION_METRICS,
        "created_at",
        false,
        slice.is_some(),
        "f",
    );
    // Tails: last success, last error, failures since the last success. One
    // hashed pass over the rows finds each integration's last success and
    // failure ids (their rows then by primary key); the failures since the
    // last success are all of them without one, else counted among the ids
    // above it (a primary-key range, short while it succeeds). Sorting the
    // window's rows per integration instead cost more than aggregating them.
    let sql = format!(
        "WITH a AS (SELECT integration, max(id) FILTER (WHERE success) AS ls, \
                           max(id) FILTER (WHERE NOT success) AS le, \
                           count(*) FILTER (WHERE NOT success) AS failures \
                    FROM {w} GROUP BY 1) \
         SELECT a.integration, s.created_at AS last_success, e.created_at AS last_error_at, \
                CASE WHEN e.id IS NOT NULL THEN \
                  coalesce(nullif(btrim(left(e.error, 500)), ''), \
                           'HTTP ' || e.status_code::text, 'failed (no error text)') END AS last_error, \
                CASE WHEN a.ls IS NULL THEN a.failures \
                     ELSE (SELECT count(*) FROM {f} WHERE f.integration = a.integration \
                             AND NOT f.success AND f.id > a.ls) END AS trailing \
         FROM a LEFT JOIN {INTEGRATION_METRICS} AS s ON s.id = a.ls \
                LEFT JOIN {INTEGRATION_METRICS} AS e ON e.id = a.le"
    );
    let rows = bind(
        sqlx::query(AssertSqlSafe(sql)),
        tails_from(b, start),
        hwm,
        slice,
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let last_success: Option<DateTime<Utc>> = r.try_get("last_success")?;
        let last_error_at: Option<DateTime<Utc>> = r.try_get("last_error_at")?;
        let last_error: Option<String> = r.try_get("last_error")?;
        b.integration_tails.push((
            r.try_get("integration")?,
            IntegrationTail {
                last_error: last_error_at.zip(last_error),
                last_success,
                trailing_failures: r.try_get::<i64, _>("trailing")? as u32,
                any_success: last_success.is_some(),
            },
        ));
    }
    let sql = format!(
        "SELECT {INTEGRATION_COLS} FROM {w} WHERE NOT success ORDER BY id DESC LIMIT {ERRORS}"
    );
    let rows = bind(sqlx::query(AssertSqlSafe(sql)), start, hwm, slice)
        .fetch_all(&mut *conn)
        .await?;
    let mut errors = to_rows(rows, integration_call)?;
    errors.reverse();
    b.integration_errors = errors;
    Ok(())
}
