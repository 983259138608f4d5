//! The incremental PostgreSQL poller. The first poll (and any poll after the
//! window changes or a table appears or disappears) loads the window with
//! server-side aggregates in one consistent snapshot: counts per minute ×
//! endpoint × status × latency bucket, the same buckets [`crate::hist`] uses.
//! Every later poll reads only rows added since (see [`super::tail`]) and turns
//! them into the same per-minute buckets, so its cost depends on the insert
//! rate, not on the table size or the window length. Small tables (sessions,
//! alerts, health reports) are read whole each poll, bounded by `LIMIT`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
// All dynamic SQL below is assembled from constants in this file (table and
// column names), never from input: hence `AssertSqlSafe`.
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};

use super::schema::{
    self, ALERTS, API_CALLS, BUSINESS_METRICS, INTEGRATION_HEALTH, INTEGRATION_METRICS, SESSIONS,
};
use super::tail::Tail;
use crate::aggregate;
use crate::hist::sql_bucket_expr;
use crate::model::*;

/// Rows read per query; a poll loops (bounded) while a backlog remains.
const PAGE: i64 = 20_000;
/// Pages read per table per poll before yielding the batch.
const MAX_PAGES: usize = 10;
/// Gap ids probed one by one per poll; wider gaps are read as ranges.
const GAP_IDS: usize = 20_000;
/// How far below the newest id the start-up load looks for uncommitted rows.
const STARTUP_GAP_SCAN: i64 = 200_000;
/// Polls between checks for tables appearing or disappearing.
pub const TABLE_CHECK_EVERY: u32 = 10;
/// Active sessions listed.
const SESSIONS_LIMIT: i64 = 100;
/// Newest sessions searched first for the active ones listed.
const SESSIONS_SCAN: i64 = 1000;
/// Alerts listed.
const ALERTS_LIMIT: i64 = 200;

#[derive(Debug, Clone)]
pub struct PollSettings {
    pub window: Duration,
    pub idle_timeout: Duration,
}

/// Reads the monitoring tables; one per source.
pub struct Poller {
    pool: PgPool,
    settings: PollSettings,
    api: Tail,
    integrations: Tail,
    business: Tail,
    /// Tables missing at the last poll; `None` until the first load.
    missing: Option<Vec<String>>,
    needs_reset: bool,
    /// Sessions started per minute over the window.
    session_starts: BTreeMap<Minute, u64>,
    polls_since_check: u32,
}

const API_COLS: &str = "id::int8 AS id, timestamp::timestamptz AS at, endpoint, method, status_code, \
     response_time, user_id, left(error, 500) AS error";
const INTEGRATION_COLS: &str = "id, created_at AS at, integration, operation, success, duration_ms, \
     status_code, left(error, 500) AS error, session_id";
const BUSINESS_COLS: &str = "id, recorded_at AS at, metric, value, unit";

impl Poller {
    pub fn new(pool: PgPool, settings: PollSettings) -> Self {
        Poller {
            pool,
            settings,
            api: Tail::default(),
            integrations: Tail::default(),
            business: Tail::default(),
            missing: None,
            needs_reset: true,
            session_starts: BTreeMap::new(),
            polls_since_check: 0,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn window(&self) -> Duration {
        self.settings.window
    }

    /// Change the window; the next poll reloads it.
    pub fn set_window(&mut self, window: Duration) {
        self.settings.window = window;
        self.needs_reset = true;
    }

    /// Reload everything at the next poll.
    pub fn reset(&mut self) {
        self.needs_reset = true;
    }

    /// Remembered gap ranges per tailed table (api, integrations, business).
    pub fn gap_counts(&self) -> [usize; 3] {
        [
            self.api.gap_count(),
            self.integrations.gap_count(),
            self.business.gap_count(),
        ]
    }

    fn has(&self, table: &str) -> bool {
        self.missing
            .as_ref()
            .is_some_and(|m| !m.iter().any(|t| t == table))
    }

    fn window_secs(&self) -> u64 {
        self.settings.window.as_secs().max(60)
    }

    /// Start of the first minute of the window ending at `now`.
    fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let span = self.window_secs().div_ceil(60) as i64;
        minute_start(minute_of(now) - span + 1)
    }

    /// One poll: a full load when needed, otherwise only what is new.
    pub async fn poll(&mut self) -> Result<Batch, sqlx::Error> {
        // Which tables exist is checked at a load, every few polls, and
        // after any error (a dropped table makes a query fail).
        self.polls_since_check += 1;
        let check = self.needs_reset || self.polls_since_check >= TABLE_CHECK_EVERY;
        let (now, missing): (DateTime<Utc>, Option<Vec<String>>) = sqlx::query_as(
            "SELECT now(), CASE WHEN $2 THEN coalesce(array(SELECT t FROM unnest($1::text[]) AS t \
                    WHERE to_regclass(quote_ident(t)) IS NULL ORDER BY t), '{}') END",
        )
        .bind(schema::TABLES.as_slice())
        .bind(check)
        .fetch_one(&self.pool)
        .await?;
        if let Some(missing) = missing {
            self.polls_since_check = 0;
            if self.missing.as_ref() != Some(&missing) {
                self.missing = Some(missing);
                self.needs_reset = true;
            }
        }
        if self.needs_reset {
            let batch = self.load().await;
            if batch.is_ok() {
                self.needs_reset = false;
            } else {
                self.polls_since_check = TABLE_CHECK_EVERY;
            }
            return batch;
        }
        // On error, restore the position: the rows of a failed poll are read
        // again by the next one, never skipped.
        let saved = (
            self.api.clone(),
            self.integrations.clone(),
            self.business.clone(),
        );
        let batch = self.incremental(now).await;
        if batch.is_err() {
            (self.api, self.integrations, self.business) = saved;
            self.polls_since_check = TABLE_CHECK_EVERY;
        }
        batch
    }

    /// The full load, in one REPEATABLE READ snapshot so that the aggregates,
    /// the high-water marks and the gaps agree with each other.
    async fn load(&mut self) -> Result<Batch, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        let start = self.window_start(now);
        let mut b = Batch {
            reset: true,
            now,
            window_secs: self.window_secs(),
            tables_missing: self.missing.clone(),
            ..Default::default()
        };
        if self.has(API_CALLS) {
            self.api = load_tail(&mut tx, API_CALLS, now).await?;
            load_api(&mut tx, &mut b, start, self.api.hwm).await?;
        }
        if self.has(INTEGRATION_METRICS) {
            self.integrations = load_tail(&mut tx, INTEGRATION_METRICS, now).await?;
            load_integrations(&mut tx, &mut b, start, self.integrations.hwm).await?;
        }
        if self.has(BUSINESS_METRICS) {
            self.business = load_tail(&mut tx, BUSINESS_METRICS, now).await?;
            load_business(&mut tx, &mut b, start, now, self.business.hwm).await?;
        }
        let has = self.has_small();
        small_tables(
            &mut tx,
            &mut b,
            start,
            has,
            self.settings.idle_timeout,
            SessionStarts::Load(&mut self.session_starts),
        )
        .await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Rows added since the last poll, each table on its own connection, in
    /// parallel: the poll takes as long as its slowest read, not their sum.
    async fn incremental(&mut self, now: DateTime<Utc>) -> Result<Batch, sqlx::Error> {
        let start = self.window_start(now);
        let has_small = self.has_small();
        let idle = self.settings.idle_timeout;
        let (has_api, has_int, has_biz) = (
            self.has(API_CALLS),
            self.has(INTEGRATION_METRICS),
            self.has(BUSINESS_METRICS),
        );
        let pool = self.pool.clone();
        let mut small = Batch::default();
        let (api, integrations, business, ()) = tokio::try_join!(
            async {
                if !has_api {
                    return Ok(Vec::new());
                }
                let mut c = pool.acquire().await?;
                read_new(&mut c, &mut self.api, API_CALLS, API_COLS, now, api_call).await
            },
            async {
                if !has_int {
                    return Ok(Vec::new());
                }
                let mut c = pool.acquire().await?;
                read_new(
                    &mut c,
                    &mut self.integrations,
                    INTEGRATION_METRICS,
                    INTEGRATION_COLS,
                    now,
                    integration_call,
                )
                .await
            },
            async {
                if !has_biz {
                    return Ok(Vec::new());
                }
                let mut c = pool.acquire().await?;
                read_new(
                    &mut c,
                    &mut self.business,
                    BUSINESS_METRICS,
                    BUSINESS_COLS,
                    now,
                    business_obs,
                )
                .await
            },
            async {
                small.now = now;
                small_tables_parallel(
                    &pool,
                    &mut small,
                    start,
                    has_small,
                    idle,
                    SessionStarts::Recent(&mut self.session_starts),
                )
                .await
            },
        )?;
        let mut b = Batch {
            now,
            window_secs: self.window_secs(),
            sessions: small.sessions,
            alerts: small.alerts,
            health_reports: small.health_reports,
            ..Default::default()
        };
        aggregate::add_api_calls(&mut b, &api);
        aggregate::add_integration_calls(&mut b, &integrations);
        aggregate::add_business(&mut b, &business);
        for tail in [&mut self.api, &mut self.integrations, &mut self.business] {
            tail.expire(start);
        }
        Ok(b)
    }

    /// Which of the small tables exist: sessions, alerts, health.
    fn has_small(&self) -> [bool; 3] {
        [
            self.has(SESSIONS),
            self.has(ALERTS),
            self.has(INTEGRATION_HEALTH),
        ]
    }
}

fn to_rows<T>(
    rows: Vec<PgRow>,
    f: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(f).collect()
}

/// Rows added since the last poll: above the high-water mark, and inside gaps.
async fn read_new<T: HasId>(
    conn: &mut PgConnection,
    tail: &mut Tail,
    table: &str,
    cols: &str,
    now: DateTime<Utc>,
    f: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    let mut out = Vec::new();
    if tail.has_gaps() {
        // Narrow gaps as an explicit id list (`= ANY` is estimated exactly and
        // probes the primary key); wide ones (a sequence jump) range by range.
        let (ids, wide) = tail.gap_probe(GAP_IDS);
        if !ids.is_empty() {
            let sql = format!("SELECT {cols} FROM {table} WHERE id = ANY($1::int8[]) ORDER BY id");
            let rows = to_rows(
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(ids)
                    .fetch_all(&mut *conn)
                    .await?,
                f,
            )?;
            out.extend(rows);
        }
        let sql = format!(
            "SELECT {cols} FROM {table} WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT {PAGE}"
        );
        for (lo, hi) in wide {
            let rows = to_rows(
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(&mut *conn)
                    .await?,
                f,
            )?;
            out.extend(rows);
        }
        let found: Vec<i64> = out.iter().map(HasId::id).collect();
        tail.fill(&found);
    }
    let sql = format!("SELECT {cols} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2");
    for _ in 0..MAX_PAGES {
        let rows = to_rows(
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(tail.hwm)
                .bind(PAGE)
                .fetch_all(&mut *conn)
                .await?,
            f,
        )?;
        let n = rows.len() as i64;
        let ids: Vec<i64> = rows.iter().map(HasId::id).collect();
        tail.advance(&ids, now);
        out.extend(rows);
        if n < PAGE {
            break;
        }
    }
    Ok(out)
}

/// The high-water mark and the gaps below it, as seen by the load's snapshot.
async fn load_tail(
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
    let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id::int8 FROM {table} WHERE id > $1 ORDER BY id"
    )))
    .bind(floor)
    .fetch_all(&mut *conn)
    .await?;
    let mut tail = Tail::new(floor);
    tail.advance(&ids, now);
    Ok(tail)
}

async fn load_api(
    conn: &mut PgConnection,
    b: &mut Batch,
    start: DateTime<Utc>,
    hwm: i64,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT floor(extract(epoch FROM timestamp::timestamptz) / 60)::int8 AS minute, \
                endpoint, method, coalesce(status_code, 0) AS status, {} AS bucket, \
                count(*) AS n, \
                count(*) FILTER (WHERE error IS NOT NULL AND btrim(error) <> '') AS with_error \
         FROM monitoring_api_calls \
         WHERE timestamp >= $1::timestamptz::timestamp AND id <= $2 \
         GROUP BY 1, 2, 3, 4, 5",
        sql_bucket_expr("response_time")
    );
    let mut buckets: HashMap<(Minute, EndpointKey), ApiMinute> = HashMap::new();
    let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
        .bind(start)
        .bind(hwm)
        .fetch_all(&mut *conn)
        .await?;
    for r in rows {
        let key = EndpointKey {
            endpoint: r.try_get("endpoint")?,
            method: r.try_get("method")?,
        };
        let status: i32 = r.try_get("status")?;
        let bucket: Option<i32> = r.try_get("bucket")?;
        let n = r.try_get::<i64, _>("n")? as u64;
        let with_error = r.try_get::<i64, _>("with_error")? as u64;
        let m = buckets.entry((r.try_get("minute")?, key)).or_default();
        m.requests += n;
        let errors = if status >= 500 { n } else { with_error };
        m.errors += errors;
        if (400..500).contains(&status) {
            m.client_errors += n - errors;
        }
        *m.status
            .entry(status.clamp(0, u16::MAX as i32) as u16)
            .or_default() += n;
        if let Some(bk) = bucket {
            m.latency.record_bucket(bk.max(0) as u32, n);
        }
    }
    let mut api: Vec<_> = buckets.into_iter().map(|((m, k), v)| (m, k, v)).collect();
    api.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    b.api = api;

    // Recent failing and slow calls, for the drill-downs.
    let floor = hwm - STARTUP_GAP_SCAN;
    let sql = format!(
        "SELECT {API_COLS} FROM monitoring_api_calls \
         WHERE id > $1 AND id <= $2 AND timestamp >= $3::timestamptz::timestamp \
           AND (status_code >= 500 OR (error IS NOT NULL AND btrim(error) <> '')) \
         ORDER BY id DESC LIMIT 100"
    );
    let mut errors = to_rows(
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(floor)
            .bind(hwm)
            .bind(start)
            .fetch_all(&mut *conn)
            .await?,
        api_call,
    )?;
    errors.reverse();
    b.api_errors = errors;
    let sql = format!(
        "SELECT {API_COLS} FROM monitoring_api_calls \
         WHERE id > $1 AND id <= $2 AND timestamp >= $3::timestamptz::timestamp \
           AND response_time IS NOT NULL \
         ORDER BY response_time DESC LIMIT 50"
    );
    let mut slow = to_rows(
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(floor)
            .bind(hwm)
            .bind(start)
            .fetch_all(&mut *conn)
            .await?,
        api_call,
    )?;
    slow.sort_by_key(|c| (c.at, c.id));
    b.api_slow = slow;
    Ok(())
}

async fn load_integrations(
    conn: &mut PgConnection,
    b: &mut Batch,
    start: DateTime<Utc>,
    hwm: i64,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT floor(extract(epoch FROM created_at) / 60)::int8 AS minute, integration, \
                {} AS bucket, count(*) AS n, count(*) FILTER (WHERE NOT success) AS failures \
         FROM monitoring_integration_metrics \
         WHERE created_at >= $1 AND id <= $2 GROUP BY 1, 2, 3",
        sql_bucket_expr("duration_ms")
    );
    let mut buckets: HashMap<(Minute, String), IntegrationMinute> = HashMap::new();
    for r in sqlx::query(AssertSqlSafe(sql.as_str()))
        .bind(start)
        .bind(hwm)
        .fetch_all(&mut *conn)
        .await?
    {
        let n = r.try_get::<i64, _>("n")? as u64;
        let m = buckets
            .entry((r.try_get("minute")?, r.try_get("integration")?))
            .or_default();
        m.calls += n;
        m.failures += r.try_get::<i64, _>("failures")? as u64;
        if let Some(bk) = r.try_get::<Option<i32>, _>("bucket")? {
            m.latency.record_bucket(bk.max(0) as u32, n);
        }
    }
    let mut minutes: Vec<_> = buckets.into_iter().map(|((m, k), v)| (m, k, v)).collect();
    minutes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    b.integrations = minutes;

    // Tails: last success, last error, failures since the last success.
    let rows = sqlx::query(
        "WITH w AS (SELECT * FROM monitoring_integration_metrics WHERE created_at >= $1 AND id <= $2), \
              ls AS (SELECT DISTINCT ON (integration) integration, id, created_at \
                     FROM w WHERE success ORDER BY integration, id DESC), \
              le AS (SELECT DISTINCT ON (integration) integration, created_at, \
                            coalesce(nullif(btrim(left(error, 500)), ''), \
                                     'HTTP ' || status_code::text, 'failed (no error text)') AS error \
                     FROM w WHERE NOT success ORDER BY integration, id DESC), \
              tf AS (SELECT w.integration, count(*) AS n FROM w LEFT JOIN ls USING (integration) \
                     WHERE NOT w.success AND w.id > coalesce(ls.id, 0) GROUP BY 1) \
         SELECT i.integration, ls.created_at AS last_success, le.created_at AS last_error_at, \
                le.error AS last_error, coalesce(tf.n, 0) AS trailing \
         FROM (SELECT DISTINCT integration FROM w) i \
         LEFT JOIN ls USING (integration) LEFT JOIN le USING (integration) \
         LEFT JOIN tf USING (integration)",
    )
    .bind(start)
    .bind(hwm)
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
        "SELECT {INTEGRATION_COLS} FROM monitoring_integration_metrics \
         WHERE created_at >= $1 AND id <= $2 AND NOT success ORDER BY id DESC LIMIT 100"
    );
    let mut errors = to_rows(
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(start)
            .bind(hwm)
            .fetch_all(&mut *conn)
            .await?,
        integration_call,
    )?;
    errors.reverse();
    b.integration_errors = errors;
    Ok(())
}

async fn load_business(
    conn: &mut PgConnection,
    b: &mut Batch,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    hwm: i64,
) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT floor(extract(epoch FROM recorded_at) / 60)::int8 AS minute, metric, sum(value) AS v \
         FROM monitoring_business_metrics WHERE recorded_at >= $1 AND id <= $2 \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(start)
    .bind(hwm)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        b.business
            .push((r.try_get("minute")?, r.try_get("metric")?, r.try_get("v")?));
    }
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let rows = sqlx::query(
        "SELECT metric, sum(value) AS v FROM monitoring_business_metrics \
         WHERE recorded_at >= $1 AND id <= $2 GROUP BY 1",
    )
    .bind(day_start)
    .bind(hwm)
    .fetch_all(&mut *conn)
    .await?;
    let mut totals = BTreeMap::new();
    for r in rows {
        totals.insert(r.try_get("metric")?, r.try_get("v")?);
    }
    b.today = Some(Today { day_start, totals });
    Ok(())
}

const ACTIVE_WHERE: &str =
    "status = 'active' AND last_activity_at >= now() - make_interval(secs => $1)";
const SESSION_COLS: &str = "session_id, user_id, service, status, started_at, last_activity_at, \
     ended_at, credits_used";

async fn read_active_count(conn: &mut PgConnection, idle: Duration) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM monitoring_sessions WHERE {ACTIVE_WHERE}"
    )))
    .bind(idle.as_secs_f64())
    .fetch_one(&mut *conn)
    .await?;
    Ok(n as u64)
}

/// The newest active sessions, looked for among the newest sessions first (a
/// short backward index scan however many are active); only if too few are
/// found there, among all active ones (cheap then: there are few).
async fn read_session_list(
    conn: &mut PgConnection,
    idle: Duration,
) -> Result<Vec<Session>, sqlx::Error> {
    let mut rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {SESSION_COLS} FROM (SELECT {SESSION_COLS} FROM monitoring_sessions \
                ORDER BY started_at DESC LIMIT {SESSIONS_SCAN}) AS newest \
         WHERE {ACTIVE_WHERE} ORDER BY started_at DESC LIMIT $2"
    )))
    .bind(idle.as_secs_f64())
    .bind(SESSIONS_LIMIT)
    .fetch_all(&mut *conn)
    .await?;
    if (rows.len() as i64) < SESSIONS_LIMIT {
        rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM monitoring_sessions WHERE {ACTIVE_WHERE} \
             ORDER BY started_at DESC LIMIT $2"
        )))
        .bind(idle.as_secs_f64())
        .bind(SESSIONS_LIMIT)
        .fetch_all(&mut *conn)
        .await?;
    }
    rows.iter()
        .map(|r| {
            Ok(Session {
                session_id: r.try_get("session_id")?,
                user_id: r.try_get("user_id")?,
                service: r.try_get("service")?,
                status: r.try_get("status")?,
                started_at: r.try_get("started_at")?,
                last_activity_at: r.try_get("last_activity_at")?,
                ended_at: r.try_get("ended_at")?,
                credits_used: r.try_get("credits_used")?,
            })
        })
        .collect()
}

/// Sessions started per minute: the whole window at a load, afterwards only
/// the last few minutes (sessions are inserted as they start), so the cost
/// does not grow with the window.
async fn read_session_starts(
    conn: &mut PgConnection,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    starts: SessionStarts<'_>,
) -> Result<Vec<(Minute, u64)>, sqlx::Error> {
    let from = match starts {
        SessionStarts::Load(_) => start,
        SessionStarts::Recent(_) => {
            minute_start(minute_of(now) - STARTS_REFRESH_MINUTES).max(start)
        }
    };
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM started_at) / 60)::int8, count(*) \
         FROM monitoring_sessions WHERE started_at >= $1 GROUP BY 1 ORDER BY 1",
    )
    .bind(from)
    .fetch_all(&mut *conn)
    .await?;
    let map = match starts {
        SessionStarts::Load(m) | SessionStarts::Recent(m) => m,
    };
    if from == start {
        map.clear();
    } else {
        map.retain(|m, _| *m >= minute_of(start) && *m < minute_of(from));
    }
    map.extend(counts.into_iter().map(|(m, n)| (m, n as u64)));
    Ok(map.iter().map(|(m, n)| (*m, *n)).collect())
}

/// Sessions, alerts and health reports (`has`: which of them exist) on one
/// connection, in order: the load's snapshot.
async fn small_tables(
    conn: &mut PgConnection,
    b: &mut Batch,
    start: DateTime<Utc>,
    has: [bool; 3],
    idle: Duration,
    starts: SessionStarts<'_>,
) -> Result<(), sqlx::Error> {
    if has[0] {
        b.sessions = Some(SessionsView {
            active: read_active_count(conn, idle).await?,
            items: read_session_list(conn, idle).await?,
            started_per_minute: read_session_starts(conn, start, b.now, starts).await?,
        });
    }
    if has[1] {
        b.alerts = Some(read_alerts(conn, start).await?);
    }
    if has[2] {
        b.health_reports = Some(read_health(conn).await?);
    }
    Ok(())
}

/// The same reads on four pooled connections in parallel (incremental polls).
async fn small_tables_parallel(
    pool: &PgPool,
    b: &mut Batch,
    start: DateTime<Utc>,
    has: [bool; 3],
    idle: Duration,
    starts: SessionStarts<'_>,
) -> Result<(), sqlx::Error> {
    let now = b.now;
    let (count, list_and_starts, alerts_and_health) = tokio::try_join!(
        async {
            if !has[0] {
                return Ok(0);
            }
            read_active_count(&mut *pool.acquire().await?, idle).await
        },
        async {
            if !has[0] {
                return Ok(None);
            }
            let (items, started) = tokio::try_join!(
                async { read_session_list(&mut *pool.acquire().await?, idle).await },
                async {
                    read_session_starts(&mut *pool.acquire().await?, start, now, starts).await
                },
            )?;
            Ok(Some((items, started)))
        },
        async {
            let mut c = pool.acquire().await?;
            let alerts = match has[1] {
                true => Some(read_alerts(&mut c, start).await?),
                false => None,
            };
            let health = match has[2] {
                true => Some(read_health(&mut c).await?),
                false => None,
            };
            Ok::<_, sqlx::Error>((alerts, health))
        },
    )?;
    b.sessions = list_and_starts.map(|(items, started_per_minute)| SessionsView {
        active: count,
        items,
        started_per_minute,
    });
    (b.alerts, b.health_reports) = alerts_and_health;
    Ok(())
}

/// Minutes of session starts re-read by each incremental poll.
const STARTS_REFRESH_MINUTES: i64 = 2;

/// Whether to reload all session starts of the window or only recent minutes.
enum SessionStarts<'a> {
    Load(&'a mut BTreeMap<Minute, u64>),
    Recent(&'a mut BTreeMap<Minute, u64>),
}

async fn read_alerts(
    conn: &mut PgConnection,
    start: DateTime<Utc>,
) -> Result<AlertsView, sqlx::Error> {
    // Open alerts of any age, acknowledged ones from the window.
    let rows = sqlx::query(
        "SELECT id::int8 AS id, alert_type, severity, title, left(description, 4000) AS description, \
                context, coalesce(acknowledged, false) AS acknowledged, \
                acknowledged_by::int8 AS acknowledged_by, \
                acknowledged_at::timestamptz AS acknowledged_at, \
                coalesce(created_at, now()::timestamp)::timestamptz AS created_at \
         FROM monitoring_alerts \
         WHERE NOT coalesce(acknowledged, false) OR created_at >= $1::timestamptz::timestamp \
         ORDER BY coalesce(acknowledged, false), \
                  CASE lower(btrim(severity)) WHEN 'critical' THEN 0 WHEN 'fatal' THEN 0 \
                       WHEN 'high' THEN 1 WHEN 'error' THEN 1 \
                       WHEN 'medium' THEN 2 WHEN 'warning' THEN 2 WHEN 'warn' THEN 2 ELSE 3 END, \
                  created_at DESC NULLS LAST, id DESC \
         LIMIT $2",
    )
    .bind(start)
    .bind(ALERTS_LIMIT)
    .fetch_all(&mut *conn)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(AlertRow {
                id: r.try_get("id")?,
                alert_type: r.try_get("alert_type")?,
                severity_raw: r.try_get("severity")?,
                title: r.try_get("title")?,
                description: r.try_get("description")?,
                context: r.try_get("context")?,
                acknowledged: r.try_get("acknowledged")?,
                acknowledged_by: r.try_get("acknowledged_by")?,
                acknowledged_at: r.try_get("acknowledged_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let counts: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT severity, count(*) FROM monitoring_alerts \
         WHERE NOT coalesce(acknowledged, false) GROUP BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut open_by_severity = BTreeMap::new();
    for (sev, n) in counts {
        *open_by_severity
            .entry(Severity::from_raw(sev.as_deref()).word().to_owned())
            .or_default() += n as u64;
    }
    Ok(AlertsView {
        items,
        open_by_severity,
    })
}

async fn read_health(conn: &mut PgConnection) -> Result<Vec<HealthReport>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT integration, status, message, checked_at FROM monitoring_integration_health \
         ORDER BY integration LIMIT 100",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HealthReport {
                integration: r.try_get("integration")?,
                status: r.try_get("status")?,
                message: r.try_get("message")?,
                checked_at: r.try_get("checked_at")?,
            })
        })
        .collect()
}

trait HasId {
    fn id(&self) -> i64;
}
impl HasId for ApiCall {
    fn id(&self) -> i64 {
        self.id
    }
}
impl HasId for IntegrationCall {
    fn id(&self) -> i64 {
        self.id
    }
}
impl HasId for BusinessObs {
    fn id(&self) -> i64 {
        self.id
    }
}

fn api_call(r: &PgRow) -> Result<ApiCall, sqlx::Error> {
    Ok(ApiCall {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        endpoint: r.try_get("endpoint")?,
        method: r.try_get("method")?,
        status_code: r.try_get("status_code")?,
        response_ms: r.try_get("response_time")?,
        user_id: r.try_get("user_id")?,
        error: r.try_get("error")?,
    })
}

fn integration_call(r: &PgRow) -> Result<IntegrationCall, sqlx::Error> {
    Ok(IntegrationCall {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        integration: r.try_get("integration")?,
        operation: r.try_get("operation")?,
        success: r.try_get("success")?,
        duration_ms: r.try_get("duration_ms")?,
        status_code: r.try_get("status_code")?,
        error: r.try_get("error")?,
        session_id: r.try_get("session_id")?,
    })
}

fn business_obs(r: &PgRow) -> Result<BusinessObs, sqlx::Error> {
    Ok(BusinessObs {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        metric: r.try_get("metric")?,
        value: r.try_get("value")?,
        unit: r.try_get("unit")?,
    })
}
