//! Reading a window's past minutes from per-minute aggregates, behind one
//! narrow interface ([`MinuteHistory`]) so that another engine's aggregates
//! (a TimescaleDB continuous aggregate, a Citus rollup table, a ClickHouse
//! materialized view) could feed the same start-up load later.
//!
//! A history answers, inside the load's snapshot, with the minutes it holds
//! from the window start on and the raw rows it has not counted yet
//! ([`Uncounted`]); the load adds those from the raw table, so the window is
//! exactly what reading every raw row would give. A window whose slots are
//! whole multiples of 5 minutes reads jfmon's 5-minute tier instead of the
//! minutes when the state says the tier was kept with them.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::TryStreamExt;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::pairs::Pairs;
use super::spec::{Rollup, TIER_MINUTES};
use super::state::TIER_KEPT;
use crate::db::tail::Tail;
use crate::hist::SparseHist;
use crate::model::{ApiMinute, EndpointKey, IntegrationMinute, Minute, slot_of};

/// Rollups older than this (not maintained lately) are not used: their raw
/// tail could be as long as the window.
const STALE_AFTER: TimeDelta = TimeDelta::minutes(10);

/// The raw rows a history has not counted: ids above `hwm`, and ids inside
/// the ranges `gap_lo[i]..=gap_hi[i]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Uncounted {
    pub hwm: i64,
    pub gap_lo: Vec<i64>,
    pub gap_hi: Vec<i64>,
}

impl Uncounted {
    /// A FROM item (aliased `t`) holding the uncounted rows of `table` with
    /// ids up to `$2`, reading parameters `$3` (hwm), `$4`, `$5` (gaps): two
    /// primary-key range scans, whatever the window.
    pub fn from_item(table: &str) -> String {
        let in_gaps = rows_in_gaps(table, "x.*", "$4", "$5", "least(g.hi, $2)");
        format!(
            "(SELECT * FROM {table} WHERE id > $3 AND id <= $2 \
              UNION ALL {in_gaps}) AS t"
        )
    }
}

/// A SELECT of `cols` (of `table`, aliased `x`) for the rows whose id lies in
/// one of the gaps given as parallel arrays `lo`, `hi` (parameters), each
/// gap read up to `upper` (an expression over `g.lo`, `g.hi`).
///
/// Written as one primary-key range scan per gap (`LATERAL … OFFSET 0`
/// keeps PostgreSQL from flattening it). The plain join
/// `unnest(…) AS g JOIN t ON t.id BETWEEN g.lo AND g.hi` is planned, once
/// the arrays hold a few hundred gaps, as a scan of the whole table checked
/// against every gap: 412 s instead of 0.1 s for 2,582 gaps over 860 k
/// sessions (BENCHMARKS.md, soak run 3), past any statement timeout, so a
/// rollup step never committed again.
pub fn rows_in_gaps(table: &str, cols: &str, lo: &str, hi: &str, upper: &str) -> String {
    format!(
        "SELECT r.* FROM unnest({lo}::int8[], {hi}::int8[]) AS g(lo, hi) \
         CROSS JOIN LATERAL (SELECT {cols} FROM {table} AS x \
                             WHERE x.id BETWEEN g.lo AND {upper} OFFSET 0) AS r"
    )
}

/// Per-slot API aggregates from the window start on.
pub type ApiMinutes = Vec<(Minute, EndpointKey, ApiMinute)>;
/// Per-slot integration aggregates from the window start on.
pub type IntegrationMinutes = Vec<(Minute, String, IntegrationMinute)>;
/// Per-slot business sums from the window start on.
pub type BusinessMinutes = Vec<(Minute, String, f64)>;

/// A source of per-minute history. Each method runs inside the caller's
/// snapshot and returns `None` when this history cannot serve minutes from
/// `start` on (absent, not maintained, or not reaching back that far). The
/// minutes come summed into slots of `step` minutes
/// ([`crate::model::slot_minutes`]), so a long window's history is as small
/// as a short one's.
pub trait MinuteHistory {
    /// What the header and the JSON call this history.
    fn name(&self) -> &'static str;

    /// The minutes from `start` on (before `until`, if given: a window read
    /// in parts; the uncounted rows are then those of the whole history).
    fn api(
        &self,
        conn: &mut PgConnection,
        span: (DateTime<Utc>, Option<DateTime<Utc>>),
        step: i64,
    ) -> impl Future<Output = Result<Option<(ApiMinutes, Uncounted)>, sqlx::Error>> + Send;

    fn integrations(
        &self,
        conn: &mut PgConnection,
        start: DateTime<Utc>,
        step: i64,
    ) -> impl Future<Output = Result<Option<(IntegrationMinutes, Uncounted)>, sqlx::Error>> + Send;

    fn business(
        &self,
        conn: &mut PgConnection,
        start: DateTime<Utc>,
        step: i64,
    ) -> impl Future<Output = Result<Option<(BusinessMinutes, Uncounted)>, sqlx::Error>> + Send;

    /// Business totals by metric from `since` (a minute start) on: today's
    /// figures in the business strip, summed in the database.
    fn business_totals(
        &self,
        conn: &mut PgConnection,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(BusinessTotals, Uncounted)>, sqlx::Error>> + Send;
}

/// Totals by metric.
pub type BusinessTotals = BTreeMap<String, f64>;

/// jfmon's own rollup tables (`jfmon_rollup_*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PgRollups;

/// tail, covered_from, updated_at, now(), tier kept and readable.
type StateRow = (
    Json<Tail>,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
);

/// What a rollup serves from a window start on.
struct Coverage {
    uncounted: Uncounted,
    /// It has a 5-minute tier, equal to its minutes, that this role may
    /// read (false for a rollup without one: `to_regclass(NULL)`).
    tier: bool,
}

/// Whether the rollups of `r` serve minutes from `start` on, and what they
/// have not counted.
async fn coverage(
    conn: &mut PgConnection,
    r: Rollup,
    start: DateTime<Utc>,
) -> Result<Option<Coverage>, sqlx::Error> {
    let readable: bool = sqlx::query_scalar(
        "SELECT CASE WHEN to_regclass('jfmon_rollup_state') IS NULL THEN false \
                ELSE has_table_privilege(to_regclass('jfmon_rollup_state')::oid, 'SELECT') END",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !readable {
        return Ok(None);
    }
    let row: Option<StateRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT tail, covered_from, updated_at, now(), \
                {TIER_KEPT} AND coalesce(has_table_privilege(to_regclass($2::text)::oid, 'SELECT'), false) \
         FROM jfmon_rollup_state AS s WHERE source = $1"
    )))
    .bind(r.table())
    .bind(r.tier_table())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((tail, covered_from, updated_at, now, tier)) = row else {
        return Ok(None);
    };
    if covered_from > start || now - updated_at > STALE_AFTER {
        return Ok(None);
    }
    let (gap_lo, gap_hi) = tail.0.gap_arrays();
    Ok(Some(Coverage {
        uncounted: Uncounted {
            hwm: tail.0.hwm,
            gap_lo,
            gap_hi,
        },
        tier,
    }))
}

/// Where a read of a rollup's slots comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Minutes,
    /// The 5-minute tier ([`Rollup::tier_table`]).
    Tier,
}

/// Where to read a rollup's slots of `step` minutes from, for a read from
/// `start` (and before `until`): the 5-minute tier when it is kept and each
/// of its slots lies whole inside one of the read's, else the minutes.
fn source_of(
    cov: &Coverage,
    step: i64,
    (start, until): (DateTime<Utc>, Option<DateTime<Utc>>),
) -> Source {
    let aligned = |t: DateTime<Utc>| {
        t.timestamp().rem_euclid(TIER_MINUTES * 60) == 0 && t.timestamp_subsec_nanos() == 0
    };
    match cov.tier && step % TIER_MINUTES == 0 && aligned(start) && until.is_none_or(aligned) {
        true => Source::Tier,
        false => Source::Minutes,
    }
}

/// Add an API tier row's counts: `statuses`, the requests per status, and
/// `errors`, those with an error text per status (only the non-zero), both
/// sorted by status.
fn add_statuses(slot: &mut ApiMinute, statuses: &Pairs, errors: &Pairs) {
    let mut errors = errors.0.iter().peekable();
    for &(status, n) in &statuses.0 {
        while errors.next_if(|(s, _)| *s < status).is_some() {}
        let with_error = errors.next_if(|(s, _)| *s == status).map_or(0, |e| e.1);
        slot.add_counts(status as i32, n, with_error);
    }
}

/// A rollup row's latency histogram from its `(bucket, count)` pairs.
pub(super) fn hist(pairs: Pairs) -> SparseHist {
    let mut h = SparseHist::default();
    h.add_pairs(&pairs.0);
    h
}

/// The epoch minute of a rollup row: `date_part` (float8, exact for whole
/// minutes) rather than `extract` (numeric, about twice the cost per row,
/// and a week of API rollups is over a million rows).
pub(super) const MINUTE: &str = "(date_part('epoch', minute) / 60)::int8";

/// [`MINUTE`] of another time column.
fn epoch_minute(col: &str) -> String {
    format!("(date_part('epoch', {col}) / 60)::int8")
}

impl MinuteHistory for PgRollups {
    fn name(&self) -> &'static str {
        "rollups"
    }

    async fn api(
        &self,
        conn: &mut PgConnection,
        (start, until): (DateTime<Utc>, Option<DateTime<Utc>>),
        step: i64,
    ) -> Result<Option<(ApiMinutes, Uncounted)>, sqlx::Error> {
        let Some(cov) = coverage(conn, Rollup::Api, start).await? else {
            return Ok(None);
        };
        let tier = source_of(&cov, step, (start, until)) == Source::Tier;
        let sql = match tier {
            false => format!(
                "SELECT {MINUTE} AS m, endpoint, method, status, requests, with_error, latency \
                 FROM jfmon_rollup_api WHERE minute >= $1 AND ($2::timestamptz IS NULL OR minute < $2)"
            ),
            true => format!(
                "SELECT {} AS m, endpoint, method, statuses, errors, latency \
                 FROM jfmon_rollup_api_5m WHERE slot >= $1 AND ($2::timestamptz IS NULL OR slot < $2)",
                epoch_minute("slot")
            ),
        };
        let q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(start)
            .bind(until);
        // A week is over a million rows: columns by position, a hash map
        // (sorted once at the end), histogram pairs added in place.
        let mut rows = q.fetch(&mut *conn);
        let mut slots: HashMap<(Minute, EndpointKey), ApiMinute> = HashMap::new();
        while let Some(r) = rows.try_next().await? {
            let key = EndpointKey {
                endpoint: r.try_get(1)?,
                method: r.try_get(2)?,
            };
            let m: Minute = r.try_get(0)?;
            let slot = slots.entry((slot_of(m, step), key)).or_default();
            if tier {
                add_statuses(slot, &r.try_get::<Pairs, _>(3)?, &r.try_get::<Pairs, _>(4)?);
                slot.latency.add_pairs(&r.try_get::<Pairs, _>(5)?.0);
                continue;
            }
            slot.add_counts(
                r.try_get(3)?,
                r.try_get::<i64, _>(4)?.max(0) as u64,
                r.try_get::<i64, _>(5)?.max(0) as u64,
            );
            slot.latency.add_pairs(&r.try_get::<Pairs, _>(6)?.0);
        }
        drop(rows);
        let mut out: ApiMinutes = slots.into_iter().map(|((m, k), v)| (m, k, v)).collect();
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(Some((out, cov.uncounted)))
    }

    async fn integrations(
        &self,
        conn: &mut PgConnection,
        start: DateTime<Utc>,
        step: i64,
    ) -> Result<Option<(IntegrationMinutes, Uncounted)>, sqlx::Error> {
        let Some(cov) = coverage(conn, Rollup::Integrations, start).await? else {
            return Ok(None);
        };
        let (table, at) = match source_of(&cov, step, (start, None)) {
            Source::Minutes => (Rollup::Integrations.rollup_table(), "minute"),
            Source::Tier => ("jfmon_rollup_integrations_5m", "slot"),
        };
        let sql = format!(
            "SELECT {} AS m, integration, calls, failures, latency FROM {table} WHERE {at} >= $1",
            epoch_minute(at)
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(start);
        let mut rows = q.fetch(&mut *conn);
        let mut slots: BTreeMap<(Minute, String), IntegrationMinute> = BTreeMap::new();
        while let Some(r) = rows.try_next().await? {
            let m: Minute = r.try_get("m")?;
            slots
                .entry((slot_of(m, step), r.try_get("integration")?))
                .or_default()
                .merge(&IntegrationMinute {
                    calls: r.try_get::<i64, _>("calls")?.max(0) as u64,
                    failures: r.try_get::<i64, _>("failures")?.max(0) as u64,
                    latency: hist(r.try_get("latency")?),
                });
        }
        drop(rows);
        let out = slots.into_iter().map(|((m, k), v)| (m, k, v)).collect();
        Ok(Some((out, cov.uncounted)))
    }

    async fn business(
        &self,
        conn: &mut PgConnection,
        start: DateTime<Utc>,
        step: i64,
    ) -> Result<Option<(BusinessMinutes, Uncounted)>, sqlx::Error> {
        let Some(Coverage { uncounted: unc, .. }) = coverage(conn, Rollup::Business, start).await?
        else {
            return Ok(None);
        };
        let sql =
            format!("SELECT {MINUTE}, metric, total FROM jfmon_rollup_business WHERE minute >= $1");
        let q = sqlx::query_as::<_, (Minute, String, f64)>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(start);
        let mut rows = q.fetch(&mut *conn);
        let mut slots: BTreeMap<(Minute, String), f64> = BTreeMap::new();
        while let Some((m, metric, v)) = rows.try_next().await? {
            *slots.entry((slot_of(m, step), metric)).or_default() += v;
        }
        drop(rows);
        let out = slots.into_iter().map(|((m, k), v)| (m, k, v)).collect();
        Ok(Some((out, unc)))
    }

    async fn business_totals(
        &self,
        conn: &mut PgConnection,
        since: DateTime<Utc>,
    ) -> Result<Option<(BusinessTotals, Uncounted)>, sqlx::Error> {
        let Some(Coverage { uncounted: unc, .. }) = coverage(conn, Rollup::Business, since).await?
        else {
            return Ok(None);
        };
        let rows: Vec<(String, f64)> = sqlx::query_as(
            "SELECT metric, sum(total) FROM jfmon_rollup_business WHERE minute >= $1 GROUP BY 1",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Some((rows.into_iter().collect(), unc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_rows_errors_go_with_their_status() {
        let mut slot = ApiMinute::default();
        let statuses = Pairs(vec![(0, 2), (200, 10), (404, 3), (503, 4)]);
        // Error texts on the NULL status and on some 404s.
        let errors = Pairs(vec![(0, 2), (404, 1)]);
        add_statuses(&mut slot, &statuses, &errors);
        let mut want = ApiMinute::default();
        for (status, n, e) in [(0, 2, 2), (200, 10, 0), (404, 3, 1), (503, 4, 0)] {
            want.add_counts(status, n, e);
        }
        assert_eq!(slot, want);
        assert_eq!(
            (slot.requests, slot.errors, slot.client_errors),
            (19, 2 + 1 + 4, 2)
        );
    }
}
