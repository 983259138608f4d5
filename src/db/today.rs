//! "Today" for the business strip: the totals since midnight in the business
//! time zone (`business_timezone`, default UTC), by the database clock. The
//! day's bounds come from PostgreSQL's time-zone database (so a
//! daylight-saving day is 23 or 25 hours long); the totals from the rollups
//! when they are current and reach back to midnight (plus the raw rows they
//! have not counted), else from the raw rows since midnight.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};

use super::tail::outside_gaps;
use crate::model::Today;
use crate::model::tables::BUSINESS_METRICS;
use crate::rollup::read::{BusinessTotals, MinuteHistory, Uncounted};

/// Midnight before `now` and the next one, in `zone`.
pub async fn day_bounds(
    conn: &mut PgConnection,
    zone: &str,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), sqlx::Error> {
    sqlx::query_as(
        "SELECT date_trunc('day', $1::timestamptz, $2), \
                ((date_trunc('day', $1::timestamptz, $2) AT TIME ZONE $2) + interval '1 day') \
                  AT TIME ZONE $2",
    )
    .bind(now)
    .bind(zone)
    .fetch_one(&mut *conn)
    .await
}

/// Where today's totals came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TodayFrom {
    Rollups,
    RawRows,
}

/// Today's business totals at `now`, counting rows with ids up to `hwm`
/// (the caller's snapshot; rows above it arrive with the next polls).
pub async fn load_today(
    conn: &mut PgConnection,
    history: Option<&impl MinuteHistory>,
    zone: &str,
    now: DateTime<Utc>,
    hwm: i64,
) -> Result<(Today, TodayFrom), sqlx::Error> {
    load_today_from(conn, history, zone, (now, DateTime::<Utc>::MIN_UTC), hwm).await
}

/// [`load_today`], counting raw rows only from `raw_from` on when that is
/// after midnight (a progressive load's first screen: its history job adds
/// the older part of the day, [`older_today`]).
pub async fn load_today_from(
    conn: &mut PgConnection,
    history: Option<&impl MinuteHistory>,
    zone: &str,
    (now, raw_from): (DateTime<Utc>, DateTime<Utc>),
    hwm: i64,
) -> Result<(Today, TodayFrom), sqlx::Error> {
    let (day_start, day_end) = day_bounds(conn, zone, now).await?;
    let from_history = match history {
        Some(h) => h.business_totals(conn, day_start).await?,
        None => None,
    };
    let (totals, from) = match from_history {
        Some((mut totals, unc)) => {
            let range = (day_start, None);
            add_raw(conn, &mut totals, range, hwm, Raw::Uncounted(&unc)).await?;
            (totals, TodayFrom::Rollups)
        }
        None => {
            let mut totals = BusinessTotals::new();
            let range = (day_start.max(raw_from), None);
            add_raw(conn, &mut totals, range, hwm, Raw::All).await?;
            (totals, TodayFrom::RawRows)
        }
    };
    let today = Today {
        day_start,
        totals,
        day_end: Some(day_end),
        zone: Some(zone.to_owned()),
    };
    Ok((today, from))
}

/// The new day's totals once `now` passed the last day's end, for a poller
/// whose tail stands at `hwm` with gaps `gap_lo[i]..=gap_hi[i]`: the rows it
/// has read (the rows in its gaps arrive later and are added then). Minutes
/// after midnight, so a short index range scan.
pub async fn next_today(
    conn: &mut PgConnection,
    zone: &str,
    now: DateTime<Utc>,
    hwm: i64,
    gaps: (Vec<i64>, Vec<i64>),
) -> Result<Today, sqlx::Error> {
    let (day_start, day_end) = day_bounds(conn, zone, now).await?;
    let mut totals = BusinessTotals::new();
    add_raw(conn, &mut totals, (day_start, None), hwm, Raw::SeenBy(gaps)).await?;
    Ok(Today {
        day_start,
        totals,
        day_end: Some(day_end),
        zone: Some(zone.to_owned()),
    })
}

/// The totals of the raw business rows of `[from, until)` a load's snapshot
/// saw (ids up to `hwm`, outside its gaps `gap_lo[i]..=gap_hi[i]`): the
/// part of today a progressive load's first screen left to its history job.
pub async fn older_today(
    conn: &mut PgConnection,
    (from, until): (DateTime<Utc>, DateTime<Utc>),
    hwm: i64,
    gaps: (Vec<i64>, Vec<i64>),
) -> Result<BusinessTotals, sqlx::Error> {
    let mut totals = BusinessTotals::new();
    add_raw(
        conn,
        &mut totals,
        (from, Some(until)),
        hwm,
        Raw::SeenBy(gaps),
    )
    .await?;
    Ok(totals)
}

/// Which raw rows [`add_raw`] adds.
enum Raw<'a> {
    All,
    /// Those a history has not counted.
    Uncounted(&'a Uncounted),
    /// Those outside a tail's gaps.
    SeenBy((Vec<i64>, Vec<i64>)),
}

/// Add the raw business rows from `from` on (and before `until`, if given)
/// with ids up to `hwm`.
async fn add_raw(
    conn: &mut PgConnection,
    totals: &mut BusinessTotals,
    (from_ts, until): (DateTime<Utc>, Option<DateTime<Utc>>),
    hwm: i64,
    raw: Raw<'_>,
) -> Result<(), sqlx::Error> {
    let from = match raw {
        Raw::All => BUSINESS_METRICS.to_owned(),
        Raw::Uncounted(_) => Uncounted::from_item(BUSINESS_METRICS),
        Raw::SeenBy(_) => format!(
            "(SELECT * FROM {BUSINESS_METRICS} AS r WHERE {}) AS t",
            outside_gaps("r.id", "$3", "$4")
        ),
    };
    // The end, if any, is the last parameter (custom plans fold the null test).
    let n = match raw {
        Raw::All => 3,
        Raw::Uncounted(_) => 6,
        Raw::SeenBy(_) => 5,
    };
    let sql = format!(
        "SELECT metric, sum(value) FROM {from} WHERE recorded_at >= $1 AND id <= $2 \
           AND (${n}::timestamptz IS NULL OR recorded_at < ${n}) GROUP BY 1"
    );
    let mut q = sqlx::query_as::<_, (String, f64)>(AssertSqlSafe(sql))
        .bind(from_ts)
        .bind(hwm);
    match raw {
        Raw::All => {}
        Raw::Uncounted(u) => q = q.bind(u.hwm).bind(u.gap_lo.clone()).bind(u.gap_hi.clone()),
        Raw::SeenBy((lo, hi)) => q = q.bind(lo).bind(hi),
    }
    q = q.bind(until);
    for (metric, v) in q.fetch_all(&mut *conn).await? {
        *totals.entry(metric).or_default() += v;
    }
    Ok(())
}
