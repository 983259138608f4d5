//! The history alert rules judge against ([`Baselines`]), read from the
//! rollups: the trailing day and the hours around the same time one day and
//! one week earlier, aggregated in the database to one row per minute and
//! series. Refreshed in the background ([`spawn_refresh`]), never per poll.
//! Also the per-minute history `jfmon rules backtest` replays ([`minutes`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::TryStreamExt;
use sqlx::{PgPool, Row};
use tokio::sync::watch;

use crate::model::{ApiMinute, EndpointKey, IntegrationMinute, Minute, minute_of};
pub use crate::rules::replay::Minutes;
use crate::rules::{BaselineBuilder, Baselines};

use super::read::{MINUTE, hist};

/// Whether the rollup tables exist and may be read.
async fn readable(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CASE WHEN to_regclass('jfmon_rollup_api') IS NULL \
                       OR to_regclass('jfmon_rollup_integrations') IS NULL \
                       OR to_regclass('jfmon_rollup_business') IS NULL THEN false \
                ELSE has_table_privilege(to_regclass('jfmon_rollup_api')::oid, 'SELECT') END",
    )
    .fetch_one(pool)
    .await
}

/// Where the rollup minutes read go: every minute kept ([`Minutes`], for a
/// backtest) or folded into baselines as they arrive ([`BaselineBuilder`],
/// which takes minutes in any order and keeps a few figures per series).
trait Sink {
    fn api(&mut self, m: Minute, key: EndpointKey, d: ApiMinute);
    fn integration(&mut self, m: Minute, name: String, d: IntegrationMinute);
    fn business(&mut self, m: Minute, metric: String, v: f64);
}

impl Sink for Minutes {
    fn api(&mut self, m: Minute, key: EndpointKey, d: ApiMinute) {
        self.api.push((m, key, d));
    }
    fn integration(&mut self, m: Minute, name: String, d: IntegrationMinute) {
        self.integrations.push((m, name, d));
    }
    fn business(&mut self, m: Minute, metric: String, v: f64) {
        self.business.push((m, metric, v));
    }
}

impl Sink for BaselineBuilder {
    fn api(&mut self, m: Minute, key: EndpointKey, d: ApiMinute) {
        BaselineBuilder::api(self, m, &key, &d);
    }
    fn integration(&mut self, m: Minute, name: String, d: IntegrationMinute) {
        BaselineBuilder::integration(self, m, &name, &d);
    }
    fn business(&mut self, m: Minute, metric: String, v: f64) {
        BaselineBuilder::business(self, m, &metric, v);
    }
}

/// The rollup minutes in the half-open instant ranges `ranges`, one row per
/// minute and series (statuses summed in the database). Empty when the
/// rollups do not exist.
pub async fn minutes(
    pool: &PgPool,
    ranges: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Minutes, sqlx::Error> {
    let mut out = Minutes::default();
    read(pool, ranges, &mut out).await?;
    Ok(out)
}

/// Stream the rollup minutes of `ranges` into `sink`, row by row. The
/// baselines once fetched a day and a half of API minutes with their
/// histograms whole and kept them as [`Minutes`] before building: a
/// dashboard with rollups on `hist_24h` peaked at 191-199 MB RSS (71-77 MB
/// streamed; BENCHMARKS.md, "History (issue 9)").
async fn read(
    pool: &PgPool,
    ranges: &[(DateTime<Utc>, DateTime<Utc>)],
    sink: &mut impl Sink,
) -> Result<(), sqlx::Error> {
    if ranges.is_empty() || !readable(pool).await? {
        return Ok(());
    }
    let lo: Vec<DateTime<Utc>> = ranges.iter().map(|r| r.0).collect();
    let hi: Vec<DateTime<Utc>> = ranges.iter().map(|r| r.1).collect();
    let within = "EXISTS (SELECT 1 FROM unnest($1::timestamptz[], $2::timestamptz[]) AS g(lo, hi) \
                  WHERE minute >= g.lo AND minute < g.hi)";
    let sql = format!(
        "SELECT {MINUTE} AS m, endpoint, method, sum(requests)::int8 AS requests, \
                sum(CASE WHEN status >= 500 THEN requests ELSE with_error END)::int8 AS errors, \
                jfmon_pairs(latency) AS latency \
         FROM jfmon_rollup_api WHERE {within} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&lo)
        .bind(&hi)
        .fetch(pool);
    while let Some(r) = rows.try_next().await? {
        let requests = r.try_get::<i64, _>("requests")?.max(0) as u64;
        let errors = r.try_get::<i64, _>("errors")?.max(0) as u64;
        sink.api(
            r.try_get("m")?,
            EndpointKey {
                endpoint: r.try_get("endpoint")?,
                method: r.try_get("method")?,
            },
            ApiMinute {
                requests,
                errors,
                latency: hist(r.try_get("latency")?),
                ..ApiMinute::default()
            },
        );
    }
    drop(rows);
    let sql = format!(
        "SELECT {MINUTE} AS m, integration, calls, failures, latency \
         FROM jfmon_rollup_integrations WHERE {within} ORDER BY 1, 2"
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&lo)
        .bind(&hi)
        .fetch(pool);
    while let Some(r) = rows.try_next().await? {
        sink.integration(
            r.try_get("m")?,
            r.try_get("integration")?,
            IntegrationMinute {
                calls: r.try_get::<i64, _>("calls")?.max(0) as u64,
                failures: r.try_get::<i64, _>("failures")?.max(0) as u64,
                latency: hist(r.try_get("latency")?),
            },
        );
    }
    drop(rows);
    let sql = format!(
        "SELECT {MINUTE}, metric, total FROM jfmon_rollup_business WHERE {within} ORDER BY 1, 2"
    );
    let mut rows = sqlx::query_as::<_, (Minute, String, f64)>(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(&lo)
        .bind(&hi)
        .fetch(pool);
    while let Some((m, metric, v)) = rows.try_next().await? {
        sink.business(m, metric, v);
    }
    Ok(())
}

/// The instant ranges the baselines as of `now` read.
pub fn ranges(now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let start = crate::model::minute_start(minute_of(now));
    let day = TimeDelta::days(1);
    let week = TimeDelta::days(7);
    vec![
        (start - day - TimeDelta::minutes(30), start),
        (
            start - week - TimeDelta::hours(6),
            start - week + TimeDelta::hours(2),
        ),
    ]
}

/// The baselines as of `now`, from the rollups (empty without them).
pub async fn load(pool: &PgPool, now: DateTime<Utc>) -> Result<Baselines, sqlx::Error> {
    let mut b = BaselineBuilder::new(now);
    read(pool, &ranges(now), &mut b).await?;
    Ok(b.build())
}

/// How long the first build waits: the window's first screen, which
/// starts at the same moment, gets the database and the cores first (a day
/// and a half of rollup minutes read beside it delayed a 24 h dashboard's
/// first screen on `hist_24h` by about half a second).
pub const FIRST_BUILD_AFTER: Duration = Duration::from_secs(3);

/// Rebuild the baselines every `every` in a task of their own, the first
/// time after [`FIRST_BUILD_AFTER`]; the receiver always holds the newest
/// (empty until the first load; a failed load keeps the previous one and is
/// logged).
pub fn spawn_refresh(
    pool: PgPool,
    url: String,
    every: Duration,
) -> watch::Receiver<Arc<Baselines>> {
    let (tx, rx) = watch::channel(Arc::new(Baselines::empty()));
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_BUILD_AFTER).await;
        loop {
            let now: Result<DateTime<Utc>, _> =
                sqlx::query_scalar("SELECT now()").fetch_one(&pool).await;
            match now {
                Ok(now) => match load(&pool, now).await {
                    Ok(b) => {
                        if tx.send(Arc::new(b)).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(
                        "alert baselines not refreshed: {}",
                        crate::user_error::describe_db_error(&e, &url)
                    ),
                },
                Err(e) => tracing::warn!(
                    "alert baselines not refreshed: {}",
                    crate::user_error::describe_db_error(&e, &url)
                ),
            }
            tokio::time::sleep(every).await;
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}
