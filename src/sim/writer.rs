//! Writes simulated traffic into the platform's PostgreSQL monitoring tables.
//!
//! Two phases, both driven by one [`Generator`]:
//! - backfill: history from `now - span` up to `now`, bulk-loaded with `COPY`
//!   in chunks of ~100k API rows (one transaction per chunk), sessions and
//!   integration health written as their last state per chunk (upserts);
//! - live ([`super::live`]): every ~200 ms the generator is advanced to the
//!   wall clock and the batch is inserted with multi-row `UNNEST` inserts in
//!   one transaction; batches wait in a bounded buffer while the database is
//!   unreachable.
//!
//! Time zones: `monitoring_api_calls.timestamp` and the `monitoring_alerts`
//! timestamps are `timestamp without time zone` in the database's local zone.
//! Instants are therefore always sent as `timestamptz` (COPY into a staging
//! table, or bound `DateTime<Utc>` parameters) and cast with `::timestamp`,
//! which converts using the session `TimeZone` (jfmon's pool sets it to the
//! database's zone). `request_body` is never written.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool};

use super::generator::{Generator, SimConfig, SimEvent};
use crate::model::events::{
    AlertRow, ApiCall, BusinessObs, ContextEvent, HealthReport, IntegrationCall, Session,
};

/// What `jfmon simulate` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateOptions {
    /// API requests per second.
    pub rate: f64,
    /// How long to run live; `None` = until Ctrl-C (or only the backfill, if one is given).
    pub duration: Option<Duration>,
    /// Bulk-load this much history first.
    pub backfill: Option<Duration>,
    pub seed: u64,
    /// Show a progress bar on stderr during the backfill.
    pub progress: bool,
    /// Live rows held in memory while the database is unreachable; beyond
    /// this the oldest are dropped (and counted in the summary).
    pub buffer_rows: usize,
    /// Named incidents injected when live traffic starts.
    pub incidents: Vec<super::incident::IncidentSpec>,
    /// Random integration incidents every 10-20 minutes.
    pub random_incidents: bool,
}

/// Default for [`SimulateOptions::buffer_rows`]: about eight minutes of
/// traffic at 200 requests/s, some 20 MB.
pub const DEFAULT_BUFFER_ROWS: usize = 100_000;

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            rate: 20.0,
            duration: None,
            backfill: None,
            seed: 42,
            progress: false,
            buffer_rows: DEFAULT_BUFFER_ROWS,
            incidents: Vec::new(),
            random_incidents: true,
        }
    }
}

/// Rows written, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulateSummary {
    pub api_calls: u64,
    pub integration_calls: u64,
    /// Distinct sessions (rows of `monitoring_sessions`).
    pub sessions: u64,
    pub alerts: u64,
    pub business: u64,
    /// Rows of `monitoring_context`.
    pub context: u64,
    /// Distinct integrations whose health was written (rows of `monitoring_integration_health`).
    pub integrations: u64,
    /// Live rows generated but never written (all tables): the outage buffer
    /// overflowed (oldest dropped first), or the database was still
    /// unreachable when the run ended.
    pub dropped_rows: u64,
    /// Of `dropped_rows`, API calls.
    pub dropped_api_calls: u64,
    /// Outages ridden out: the connection was lost and writing resumed.
    pub reconnects: u64,
    /// Writes the server cancelled on a working connection (statement or
    /// lock timeout, deadlock, serialization failure), rolled back and
    /// written again.
    pub cancelled_writes: u64,
    /// Batches whose COMMIT outcome was unknown when the connection died,
    /// settled afterwards by asking the server (`txid_status`).
    pub commits_in_doubt: u64,
    /// Of those, batches the server could no longer tell about: neither
    /// counted as written nor written again.
    pub unsettled_batches: u64,
    /// Incidents injected over the run (random and `--incident`), oldest first.
    pub injected: Vec<super::generator::Injected>,
}

/// API rows per backfill chunk (one COPY + transaction each).
const CHUNK_ROWS: f64 = 100_000.0;

/// Run the simulator: optional backfill, then live traffic when a duration is
/// given or no backfill was asked for. Live mode stops at the end of the
/// duration, on Ctrl-C, or when the future is dropped.
pub async fn run(pool: &PgPool, opts: &SimulateOptions) -> Result<SimulateSummary, sqlx::Error> {
    let now = Utc::now();
    let span = opts
        .backfill
        .and_then(|d| TimeDelta::from_std(d).ok())
        .unwrap_or_else(TimeDelta::zero);
    let cfg = SimConfig {
        seed: opts.seed,
        rate: opts.rate,
        incidents: opts.random_incidents,
    };
    let mut generator = Generator::new(cfg, now - span);
    let mut summary = Summer::default();
    if opts.backfill.is_some() {
        backfill(pool, &mut generator, now, opts, &mut summary).await?;
    }
    if opts.duration.is_some() || opts.backfill.is_none() {
        let start = Utc::now();
        for i in &opts.incidents {
            let until =
                start + TimeDelta::from_std(i.duration).unwrap_or_else(|_| TimeDelta::minutes(1));
            if i.on_endpoint() {
                generator.force_endpoint_incident(&i.target, i.kind, start, until);
            } else {
                generator.force_incident(&i.target, i.kind, start, until);
            }
        }
        super::live::run(pool, &mut generator, opts, &mut summary).await?;
    }
    summary.s.injected = generator.injected().to_vec();
    Ok(summary.finish())
}

/// The summary being counted, plus the integrations seen so far.
#[derive(Default)]
pub(super) struct Summer {
    pub(super) s: SimulateSummary,
    integrations: Vec<String>,
}

impl Summer {
    fn finish(mut self) -> SimulateSummary {
        self.s.integrations = self.integrations.len() as u64;
        self.s
    }
}

/// A generator batch split by table.
#[derive(Default)]
pub(super) struct WriteBatch {
    pub(super) api: Vec<ApiCall>,
    integration: Vec<IntegrationCall>,
    sessions: Vec<Session>,
    alerts: Vec<AlertRow>,
    business: Vec<BusinessObs>,
    context: Vec<ContextEvent>,
    health: Vec<HealthReport>,
    /// Sessions started in this batch.
    new_sessions: u64,
}

impl WriteBatch {
    /// Rows this batch writes, over all tables.
    pub(super) fn rows(&self) -> usize {
        self.api.len()
            + self.integration.len()
            + self.sessions.len()
            + self.alerts.len()
            + self.business.len()
            + self.context.len()
            + self.health.len()
    }

    pub(super) fn split(events: Vec<SimEvent>) -> Self {
        let mut b = WriteBatch::default();
        let mut session_idx: HashMap<String, usize> = HashMap::new();
        for e in events {
            match e {
                SimEvent::Api(x) => b.api.push(x),
                SimEvent::Integration(x) => b.integration.push(x),
                SimEvent::Session(x) => {
                    // A start carries last_activity_at == started_at and no end.
                    if x.ended_at.is_none() && x.last_activity_at == x.started_at {
                        b.new_sessions += 1;
                    }
                    // Keep only the last state: one upsert may not touch a row twice.
                    match session_idx.get(&x.session_id) {
                        Some(&i) => b.sessions[i] = x,
                        None => {
                            session_idx.insert(x.session_id.clone(), b.sessions.len());
                            b.sessions.push(x);
                        }
                    }
                }
                SimEvent::Alert(x) => b.alerts.push(x),
                SimEvent::Business(x) => b.business.push(x),
                SimEvent::Context(x) => b.context.push(x),
                SimEvent::Health(x) => {
                    match b.health.iter_mut().find(|h| h.integration == x.integration) {
                        Some(h) => *h = x,
                        None => b.health.push(x),
                    }
                }
            }
        }
        b
    }

    pub(super) fn count_into(&self, sum: &mut Summer) {
        let s = &mut sum.s;
        s.api_calls += self.api.len() as u64;
        s.integration_calls += self.integration.len() as u64;
        s.sessions += self.new_sessions;
        s.alerts += self.alerts.len() as u64;
        s.business += self.business.len() as u64;
        s.context += self.context.len() as u64;
        for h in &self.health {
            if !sum.integrations.contains(&h.integration) {
                sum.integrations.push(h.integration.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Backfill (COPY)

async fn backfill(
    pool: &PgPool,
    generator: &mut Generator,
    until: DateTime<Utc>,
    opts: &SimulateOptions,
    sum: &mut Summer,
) -> Result<(), sqlx::Error> {
    let start = generator.now();
    let span_s = (until - start).num_milliseconds().max(0) as f64 / 1000.0;
    let expected = (opts.rate.max(0.0) * span_s) as u64;
    let bar = if opts.progress {
        let bar = ProgressBar::new(expected.max(1));
        bar.set_style(
            ProgressStyle::with_template(
                "backfill [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} api rows ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut conn = pool.acquire().await?;
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS jfmon_sim_api_stage (
             endpoint text, method text, status_code int, response_time int,
             user_id int, error text, at timestamptz
         ) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *conn)
    .await?;

    let step_ms = if opts.rate > 0.0 {
        ((CHUNK_ROWS / opts.rate) * 1000.0).clamp(1000.0, 3_600_000.0) as i64
    } else {
        3_600_000
    };
    let mut t = start;
    while t < until {
        t = (t + TimeDelta::milliseconds(step_ms)).min(until);
        let batch = WriteBatch::split(generator.advance_to(t));
        write_bulk(&mut conn, &batch).await?;
        batch.count_into(sum);
        bar.inc(batch.api.len() as u64);
    }
    bar.finish_and_clear();
    sqlx::query("DROP TABLE IF EXISTS jfmon_sim_api_stage")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn write_bulk(conn: &mut PgConnection, b: &WriteBatch) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    // Bulk statements may outlive jfmon's interactive statement_timeout.
    sqlx::query("SELECT set_config('statement_timeout', '0', true)")
        .execute(&mut *tx)
        .await?;
    let mut buf = Vec::with_capacity(8 << 20);

    if !b.api.is_empty() {
        for a in &b.api {
            put_text(&mut buf, &a.endpoint);
            tab(&mut buf);
            put_text(&mut buf, &a.method);
            tab(&mut buf);
            put_opt_num(&mut buf, a.status_code);
            tab(&mut buf);
            put_opt_num(&mut buf, a.response_ms);
            tab(&mut buf);
            put_opt_num(&mut buf, a.user_id);
            tab(&mut buf);
            put_opt_text(&mut buf, a.error.as_deref());
            tab(&mut buf);
            put_ts(&mut buf, a.at);
            buf.push(b'\n');
        }
        copy(&mut tx, "COPY jfmon_sim_api_stage FROM STDIN", &mut buf).await?;
        sqlx::query(
            "INSERT INTO monitoring_api_calls
                 (endpoint, method, status_code, response_time, user_id, error, timestamp)
             SELECT endpoint, method, status_code, response_time, user_id, error, at::timestamp
             FROM jfmon_sim_api_stage",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("TRUNCATE jfmon_sim_api_stage")
            .execute(&mut *tx)
            .await?;
    }

    if !b.integration.is_empty() {
        for c in &b.integration {
            put_text(&mut buf, &c.integration);
            tab(&mut buf);
            put_opt_text(&mut buf, c.operation.as_deref());
            tab(&mut buf);
            buf.push(if c.success { b't' } else { b'f' });
            tab(&mut buf);
            put_opt_num(&mut buf, c.duration_ms);
            tab(&mut buf);
            put_opt_num(&mut buf, c.status_code);
            tab(&mut buf);
            put_opt_text(&mut buf, c.error.as_deref());
            tab(&mut buf);
            put_opt_text(&mut buf, c.session_id.as_deref());
            tab(&mut buf);
            put_ts(&mut buf, c.at);
            buf.push(b'\n');
        }
        copy(
            &mut tx,
            "COPY monitoring_integration_metrics
                 (integration, operation, success, duration_ms, status_code, error, session_id, created_at)
             FROM STDIN",
            &mut buf,
        )
        .await?;
    }

    if !b.context.is_empty() {
        for c in &b.context {
            put_text(&mut buf, &c.session_id);
            tab(&mut buf);
            put_opt_num(&mut buf, c.user_id);
            tab(&mut buf);
            put_text(&mut buf, &c.context_type);
            tab(&mut buf);
            put_text(&mut buf, &c.data.to_string());
            tab(&mut buf);
            put_ts(&mut buf, c.at);
            buf.push(b'\n');
        }
        copy(
            &mut tx,
            "COPY monitoring_context (session_id, user_id, context_type, data, created_at) FROM STDIN",
            &mut buf,
        )
        .await?;
    }

    if !b.business.is_empty() {
        for o in &b.business {
            put_text(&mut buf, &o.metric);
            tab(&mut buf);
            let _ = write!(buf, "{}", o.value);
            tab(&mut buf);
            put_opt_text(&mut buf, o.unit.as_deref());
            tab(&mut buf);
            put_ts(&mut buf, o.at);
            buf.push(b'\n');
        }
        copy(
            &mut tx,
            "COPY monitoring_business_metrics (metric, value, unit, recorded_at) FROM STDIN",
            &mut buf,
        )
        .await?;
    }

    upsert_sessions(&mut tx, &b.sessions).await?;
    upsert_health(&mut tx, &b.health).await?;
    insert_alerts(&mut tx, &b.alerts).await?;
    tx.commit().await
}

async fn copy(
    conn: &mut PgConnection,
    statement: &str,
    buf: &mut Vec<u8>,
) -> Result<(), sqlx::Error> {
    let mut c = conn.copy_in_raw(statement).await?;
    if let Err(e) = c.send(buf.as_slice()).await {
        let _ = c.abort("jfmon simulate: send failed").await;
        buf.clear();
        return Err(e);
    }
    buf.clear();
    c.finish().await?;
    Ok(())
}

fn tab(buf: &mut Vec<u8>) {
    buf.push(b'\t');
}

/// COPY text format: escape backslash, tab, newline and carriage return.
fn put_text(buf: &mut Vec<u8>, s: &str) {
    if !s
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

fn put_opt_text(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_text(buf, s),
        None => buf.extend_from_slice(b"\\N"),
    }
}

fn put_opt_num<T: std::fmt::Display>(buf: &mut Vec<u8>, v: Option<T>) {
    match v {
        Some(v) => {
            let _ = write!(buf, "{v}");
        }
        None => buf.extend_from_slice(b"\\N"),
    }
}

/// An instant as timestamptz text with an explicit UTC offset. Only for
/// `timestamptz` columns (or the staging table): never a `timestamp` column.
fn put_ts(buf: &mut Vec<u8>, t: DateTime<Utc>) {
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_micros().min(999_999)
    );
}

// ---------------------------------------------------------------------------
// Live (UNNEST)

/// Every insert of one live batch, inside the caller's transaction.
pub(super) async fn insert_all(conn: &mut PgConnection, b: &WriteBatch) -> Result<(), sqlx::Error> {
    insert_api(conn, &b.api).await?;
    insert_integration(conn, &b.integration).await?;
    insert_context(conn, &b.context).await?;
    insert_business(conn, &b.business).await?;
    upsert_sessions(conn, &b.sessions).await?;
    upsert_health(conn, &b.health).await?;
    insert_alerts(conn, &b.alerts).await
}

async fn insert_api(conn: &mut PgConnection, rows: &[ApiCall]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_api_calls
             (endpoint, method, status_code, response_time, user_id, error, timestamp)
         SELECT e, m, s, r, u, err, at::timestamp
         FROM UNNEST($1::text[], $2::text[], $3::int4[], $4::int4[], $5::int4[], $6::text[], $7::timestamptz[])
              AS t(e, m, s, r, u, err, at)",
    )
    .bind(rows.iter().map(|r| r.endpoint.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status_code).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.response_ms).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.user_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_integration(
    conn: &mut PgConnection,
    rows: &[IntegrationCall],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics
             (integration, operation, success, duration_ms, status_code, error, session_id, created_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::int4[], $5::int4[],
                              $6::text[], $7::text[], $8::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.integration.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.operation.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.success).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.duration_ms).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status_code).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.session_id.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_context(conn: &mut PgConnection, rows: &[ContextEvent]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_context (session_id, user_id, context_type, data, created_at)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::jsonb[], $5::timestamptz[])",
    )
    .bind(
        rows.iter()
            .map(|r| r.session_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.user_id).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.context_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.data.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_business(conn: &mut PgConnection, rows: &[BusinessObs]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_business_metrics (metric, value, unit, recorded_at)
         SELECT * FROM UNNEST($1::text[], $2::float8[], $3::text[], $4::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.value).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.unit.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows must have distinct `session_id`s (see [`WriteBatch::split`]).
async fn upsert_sessions(conn: &mut PgConnection, rows: &[Session]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_sessions
             (session_id, user_id, service, status, started_at, last_activity_at, ended_at, credits_used)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::timestamptz[],
                              $6::timestamptz[], $7::timestamptz[], $8::int4[])
         ON CONFLICT (session_id) DO UPDATE SET
             user_id = EXCLUDED.user_id,
             service = EXCLUDED.service,
             status = EXCLUDED.status,
             started_at = EXCLUDED.started_at,
             last_activity_at = EXCLUDED.last_activity_at,
             ended_at = EXCLUDED.ended_at,
             credits_used = EXCLUDED.credits_used",
    )
    .bind(rows.iter().map(|r| r.session_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.user_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.service.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.started_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.last_activity_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ended_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.credits_used).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows must have distinct integrations (see [`WriteBatch::split`]).
async fn upsert_health(conn: &mut PgConnection, rows: &[HealthReport]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_integration_health (integration, status, message, checked_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])
         ON CONFLICT (integration) DO UPDATE SET
             status = EXCLUDED.status,
             message = EXCLUDED.message,
             checked_at = EXCLUDED.checked_at",
    )
    .bind(
        rows.iter()
            .map(|r| r.integration.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.message.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.checked_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_alerts(conn: &mut PgConnection, rows: &[AlertRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitoring_alerts
             (alert_type, severity, title, description, context,
              acknowledged, acknowledged_by, acknowledged_at, created_at)
         SELECT ty, sev, ti, d, c, ack, ab, aa::timestamp, ca::timestamp
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[],
                     $6::bool[], $7::int4[], $8::timestamptz[], $9::timestamptz[])
              AS x(ty, sev, ti, d, c, ack, ab, aa, ca)",
    )
    .bind(
        rows.iter()
            .map(|r| r.alert_type.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.severity_raw.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.title.as_deref()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.description.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.context.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.acknowledged).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.acknowledged_by.map(|v| v as i32))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.acknowledged_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escaping() {
        let mut b = Vec::new();
        put_text(&mut b, "a\tb\\c\nd\re");
        assert_eq!(b, b"a\\tb\\\\c\\nd\\re");
        b.clear();
        put_opt_text(&mut b, None);
        assert_eq!(b, b"\\N");
        b.clear();
        let t = DateTime::parse_from_rfc3339("2025-03-01T10:00:05.000042Z")
            .unwrap()
            .with_timezone(&Utc);
        put_ts(&mut b, t);
        assert_eq!(b, b"2025-03-01 10:00:05.000042+00");
    }
}
