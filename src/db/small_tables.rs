//! The small tables, read whole (bounded) on every poll: active sessions and
//! their count, sessions started per minute (and per service, with outcomes:
//! [`super::usage`]), alerts, health reports.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
// All dynamic SQL here is assembled from constants, never from input: hence
// `AssertSqlSafe`.
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};

use super::usage::OpenSessions;
use crate::model::*;

/// Active sessions listed.
const SESSIONS_LIMIT: i64 = 100;
/// Newest sessions searched first for the active ones listed.
const SESSIONS_SCAN: i64 = 400;
/// Alerts listed.
const ALERTS_LIMIT: i64 = 200;

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

/// Sessions started per slot (minute, or `step` minutes for a long window):
/// the whole window at a load, afterwards only
/// the last few minutes (sessions are inserted as they start), so the cost
/// does not grow with the window.
async fn read_session_starts(
    conn: &mut PgConnection,
    (start, step): (DateTime<Utc>, i64),
    now: DateTime<Utc>,
    starts: SessionStarts<'_>,
) -> Result<Vec<(Minute, u64)>, sqlx::Error> {
    let load = matches!(starts, SessionStarts::Load(..));
    let from = match starts {
        SessionStarts::Keep(m) => return Ok(m.iter().map(|(m, n)| (*m, *n)).collect()),
        SessionStarts::Load(_, from) => from.max(start),
        SessionStarts::Since(_, last) => {
            let from = (minute_of(now) - STARTS_REFRESH_MINUTES).min(minute_of(last) - 1);
            // From a slot start: a slot is either kept or read whole.
            minute_start(slot_of(from, step)).max(start)
        }
    };
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT (extract(epoch FROM date_trunc('minute', started_at)) / 60)::int8, count(*) \
         FROM monitoring_sessions WHERE started_at >= $1 \
         GROUP BY date_trunc('minute', started_at) ORDER BY 1",
    )
    .bind(from)
    .fetch_all(&mut *conn)
    .await?;
    let map = match starts {
        SessionStarts::Load(m, _) | SessionStarts::Since(m, _) => m,
        SessionStarts::Keep(_) => unreachable!("returned above"),
    };
    if load {
        map.clear();
    } else {
        map.retain(|m, _| *m >= minute_of(start) && *m < minute_of(from));
    }
    for (m, n) in counts {
        *map.entry(slot_of(m, step)).or_default() += n as u64;
    }
    Ok(map.iter().map(|(m, n)| (*m, *n)).collect())
}

/// What a poll reads of feature usage: the minutes from `from` on, and
/// whether to re-read the rollups' past windows too (at a load, and once
/// a minute).
struct UsagePlan {
    from: DateTime<Utc>,
    history: bool,
    /// A load: follow the sessions active now from scratch.
    load: bool,
    /// A load may read the minutes the usage rollup holds from it.
    rollups: bool,
}

impl UsagePlan {
    /// The same slots as the sessions-started series re-reads (the store
    /// holds usage in slots of `step` minutes: a slot is read whole).
    fn of(
        (start, step): (DateTime<Utc>, i64),
        now: DateTime<Utc>,
        starts: &SessionStarts<'_>,
        rollups: bool,
    ) -> Option<Self> {
        match starts {
            SessionStarts::Keep(_) => None,
            SessionStarts::Load(_, from) => Some(UsagePlan {
                from: (*from).max(start),
                history: true,
                load: true,
                rollups,
            }),
            SessionStarts::Since(_, last) => {
                let from = (minute_of(now) - STARTS_REFRESH_MINUTES).min(minute_of(*last) - 1);
                Some(UsagePlan {
                    from: minute_start(slot_of(from, step)).max(start),
                    history: minute_of(now) != minute_of(*last),
                    load: false,
                    rollups: false,
                })
            }
        }
    }

    /// Late ends of the followed sessions first (one that ends meanwhile is
    /// then in the range read), the minutes from `from`, then the sessions
    /// started since that are still active are followed too.
    async fn read(
        self,
        conn: &mut PgConnection,
        (start, step, now): (DateTime<Utc>, i64, DateTime<Utc>),
        open: &mut OpenSessions,
    ) -> Result<(UsageUpdate, Option<UsageHistory>), sqlx::Error> {
        let usage = match self.load {
            true => super::usage::read_usage_at_load(conn, self.from, step, self.rollups).await?,
            false => {
                let late = open.late_ends(conn, self.from).await?;
                let mut usage = super::usage::read_usage(conn, self.from).await?;
                usage.late = late;
                usage
            }
        };
        match self.load {
            true => open.load(conn).await?,
            false => open.add_started(conn, self.from).await?,
        }
        let history = match self.history {
            true => Some(
                crate::rollup::usage::read_history(conn, minute_of(start), minute_of(now), now)
                    .await?,
            ),
            false => None,
        };
        Ok((usage, history))
    }
}

/// Sessions, alerts and health reports (`has`: which of them exist) on one
/// connection, in order: the load's snapshot. `rollups`: usage minutes may
/// come from the usage rollup.
#[allow(clippy::too_many_arguments)]
pub(super) async fn small_tables(
    conn: &mut PgConnection,
    b: &mut Batch,
    (start, step): (DateTime<Utc>, i64),
    has: [bool; 3],
    idle: Duration,
    starts: SessionStarts<'_>,
    open: &mut OpenSessions,
    rollups: bool,
) -> Result<(), sqlx::Error> {
    if has[0] {
        if let Some(plan) = UsagePlan::of((start, step), b.now, &starts, rollups) {
            let (usage, history) = plan.read(conn, (start, step, b.now), open).await?;
            b.usage = Some(usage);
            b.usage_history = history;
        }
        let started_per_minute = match (starts, &b.usage) {
            // A load read the same minutes' starts per service just now.
            (SessionStarts::Load(map, _), Some(usage)) => {
                map.clear();
                usage.add_starts(step, map);
                map.iter().map(|(m, n)| (*m, *n)).collect()
            }
            (starts, _) => read_session_starts(conn, (start, step), b.now, starts).await?,
        };
        b.sessions = Some(SessionsView {
            active: read_active_count(conn, idle).await?,
            items: read_session_list(conn, idle).await?,
            started_per_minute,
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
pub(super) async fn small_tables_parallel(
    pool: &PgPool,
    b: &mut Batch,
    (start, step): (DateTime<Utc>, i64),
    has: [bool; 3],
    idle: Duration,
    starts: SessionStarts<'_>,
    open: &mut OpenSessions,
) -> Result<(), sqlx::Error> {
    let now = b.now;
    let plan = UsagePlan::of((start, step), now, &starts, false).filter(|_| has[0]);
    let (count, list_and_starts, alerts_and_health, usage) = tokio::try_join!(
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
                    read_session_starts(&mut *pool.acquire().await?, (start, step), now, starts)
                        .await
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
        async {
            match plan {
                Some(p) => Ok(Some(
                    p.read(&mut *pool.acquire().await?, (start, step, now), open)
                        .await?,
                )),
                None => Ok::<_, sqlx::Error>(None),
            }
        },
    )?;
    if let Some((usage, history)) = usage {
        b.usage = Some(usage);
        b.usage_history = history;
    }
    b.sessions = list_and_starts.map(|(items, started_per_minute)| SessionsView {
        active: count,
        items,
        started_per_minute,
    });
    (b.alerts, b.health_reports) = alerts_and_health;
    Ok(())
}

/// Minutes of session starts re-read by each incremental poll.
const STARTS_REFRESH_MINUTES: i64 = 1;

/// Whether to reload all session starts of the window or only recent minutes.
pub(super) enum SessionStarts<'a> {
    /// A load: the minutes from the given instant on (a slot start: the
    /// window start, or a progressive load's first slice, whose history job
    /// reads the older minutes).
    Load(&'a mut BTreeMap<Minute, u64>, DateTime<Utc>),
    /// Re-read from the minute before the last read (given), or the last
    /// minute, whichever is earlier: no minute is left out however long the
    /// interval or a pause.
    Since(&'a mut BTreeMap<Minute, u64>, DateTime<Utc>),
    /// Read recently enough: send what is known (a per-minute series needs
    /// no refresh every poll).
    Keep(&'a BTreeMap<Minute, u64>),
}

/// How often incremental polls refresh sessions started per minute.
pub(super) const STARTS_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// An alert that is open: neither acknowledged nor resolved (`resolved_at`
/// in its context, written by jfmon's rule alerts).
const OPEN: &str = "(NOT coalesce(acknowledged, false) AND context->>'resolved_at' IS NULL)";

async fn read_alerts(
    conn: &mut PgConnection,
    start: DateTime<Utc>,
) -> Result<AlertsView, sqlx::Error> {
    // Open alerts of any age, closed ones (acknowledged, or resolved: a
    // rule alert's `context.resolved_at`) from the window.
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id::int8 AS id, alert_type, severity, title, left(description, 4000) AS description, \
                context, coalesce(acknowledged, false) AS acknowledged, \
                acknowledged_by::int8 AS acknowledged_by, \
                acknowledged_at::timestamptz AS acknowledged_at, \
                coalesce(created_at, now()::timestamp)::timestamptz AS created_at \
         FROM monitoring_alerts \
         WHERE {OPEN} OR created_at >= $1::timestamptz::timestamp \
         ORDER BY NOT {OPEN}, \
                  CASE lower(btrim(severity)) WHEN 'critical' THEN 0 WHEN 'fatal' THEN 0 \
                       WHEN 'high' THEN 1 WHEN 'error' THEN 1 \
                       WHEN 'medium' THEN 2 WHEN 'warning' THEN 2 WHEN 'warn' THEN 2 ELSE 3 END, \
                  created_at DESC NULLS LAST, id DESC \
         LIMIT $2"
    )))
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
                // Masked here, so raw secrets never enter a batch (the hub
                // streams batches as they are).
                context: r
                    .try_get::<Option<serde_json::Value>, _>("context")?
                    .as_ref()
                    .map(crate::redact::mask_json),
                acknowledged: r.try_get("acknowledged")?,
                acknowledged_by: r.try_get("acknowledged_by")?,
                acknowledged_at: r.try_get("acknowledged_at")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let counts: Vec<(Option<String>, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT severity, count(*) FROM monitoring_alerts WHERE {OPEN} GROUP BY 1"
    )))
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
