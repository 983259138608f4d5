//! Reading feature usage per service: sessions started and ended per minute
//! × service, aggregated server-side (counts, credits and a duration
//! histogram per minute leave the database, never session rows).
//!
//! Sessions change status after they are inserted, so a poll cannot read
//! "rows since the last id": it re-reads whole minutes instead, from the
//! minute before the last read on (the same span the sessions-started
//! series re-reads), and the store replaces those minutes. Starts come by
//! the `started_at` index, ends by `monitoring_sessions_ended_idx` (the
//! sessions no longer active, by `coalesce(ended_at, last_activity_at)`), so
//! a poll costs two index range scans over about two minutes of sessions,
//! whatever the window or the table size.
//!
//! An end can be written late: the platform (or a clean-up job) marks a
//! session ended, with an end time older than the minutes the poll re-reads.
//! Range reads by end time never see it again, so the poll also follows the
//! sessions it saw active ([`OpenSessions`], by primary key): each
//! incremental read first asks which of them have ended; those whose end
//! lies before the re-read minutes are sent as late ends, added once to
//! their minute (the others are in the range read that follows).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::hist::sql_bucket_expr;
use crate::model::{Minute, Outcome, UsageMinute, UsageUpdate, minute_of};

/// Most sessions followed for late ends; beyond, the oldest (smallest ids)
/// are let go, so a platform that never closes sessions cannot grow jfmon.
pub const OPEN_CAP: usize = 20_000;

/// Sessions the usage poll saw active, by id.
#[derive(Debug, Default)]
pub struct OpenSessions {
    ids: BTreeSet<i64>,
}

impl OpenSessions {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The sessions followed now.
    pub fn ids(&self) -> Vec<i64> {
        self.ids.iter().copied().collect()
    }

    /// At a load: follow every session active now (the newest [`OPEN_CAP`]).
    pub async fn load(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM monitoring_sessions WHERE status = 'active' ORDER BY id DESC LIMIT $1",
        )
        .bind(OPEN_CAP as i64)
        .fetch_all(&mut *conn)
        .await?;
        self.ids = ids.into_iter().collect();
        Ok(())
    }

    /// Follow the sessions started from `from` on that are still active.
    pub async fn add_started(
        &mut self,
        conn: &mut PgConnection,
        from: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM monitoring_sessions WHERE started_at >= $1 AND status = 'active'",
        )
        .bind(from)
        .fetch_all(&mut *conn)
        .await?;
        self.ids.extend(ids);
        while self.ids.len() > OPEN_CAP {
            self.ids.pop_first();
        }
        Ok(())
    }

    /// The followed sessions that have ended: no longer followed; those whose
    /// end lies before `from` (the minutes the range read that follows does
    /// not cover) are returned per minute × service.
    pub async fn late_ends(
        &mut self,
        conn: &mut PgConnection,
        from: DateTime<Utc>,
    ) -> Result<Vec<(Minute, String, UsageMinute)>, sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = self.ids.iter().copied().collect();
        let rows: Vec<EndedRow> = sqlx::query_as(
            "SELECT id, (extract(epoch FROM date_trunc('minute', e)) / 60)::int8, service, status, \
                    greatest(credits_used, 0)::int8, \
                    greatest(floor(extract(epoch FROM e - started_at)), 0)::int8 \
             FROM (SELECT id, service, status, credits_used, started_at, \
                          coalesce(ended_at, last_activity_at) AS e \
                   FROM monitoring_sessions WHERE id = ANY($1) AND status <> 'active') AS x",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        let before = minute_of(from);
        let mut by: std::collections::BTreeMap<(Minute, String), UsageMinute> = Default::default();
        for (id, m, service, status, credits, secs) in rows {
            self.ids.remove(&id);
            let Some(outcome) = Outcome::of_status(&status) else {
                continue;
            };
            if m < before {
                by.entry((m, service))
                    .or_default()
                    .record_end(outcome, secs, credits);
            }
        }
        Ok(by.into_iter().map(|((m, s), u)| (m, s, u)).collect())
    }
}

type EndedRow = (i64, i64, String, String, i64, i64);

/// Sessions started per minute × service from `$1` on (before `$2` unless
/// that is null: custom plans fold the test away).
const STARTS_SQL: &str = "SELECT (extract(epoch FROM date_trunc('minute', started_at)) / 60)::int8, \
            service, count(*)::int8 \
     FROM monitoring_sessions \
     WHERE started_at >= $1 AND ($2::timestamptz IS NULL OR started_at < $2) GROUP BY 1, 2";

/// Sessions ended per minute × service × duration bucket from `$1` on
/// (before `$2` unless that is null), but none of the sessions `$3`.
fn ends_sql() -> String {
    format!(
        "SELECT (extract(epoch FROM date_trunc('minute', e)) / 60)::int8, service, {}::int8, \
                count(*) FILTER (WHERE status = 'completed')::int8, \
                count(*) FILTER (WHERE status = 'failed')::int8, \
                count(*) FILTER (WHERE status NOT IN ('completed', 'failed'))::int8, \
                count(*) FILTER (WHERE status <> 'completed' AND d < {})::int8, \
                coalesce(sum(c), 0)::int8, \
                coalesce(sum(c) FILTER (WHERE status <> 'completed'), 0)::int8 \
         FROM (SELECT service, status, greatest(credits_used, 0) AS c, \
                      coalesce(ended_at, last_activity_at) AS e, \
                      greatest(floor(extract(epoch FROM \
                          coalesce(ended_at, last_activity_at) - started_at)), 0)::int8 AS d \
               FROM monitoring_sessions \
               WHERE status <> 'active' AND coalesce(ended_at, last_activity_at) >= $1 \
                 AND ($2::timestamptz IS NULL OR coalesce(ended_at, last_activity_at) < $2) \
                 AND NOT (id = ANY($3::int8[]))) AS x \
         GROUP BY 1, 2, 3",
        sql_bucket_expr("d"),
        crate::model::QUICK_END_SECS
    )
}

type EndRow = (i64, String, i64, i64, i64, i64, i64, i64, i64);

/// Usage per minute × service from `from` (a minute start) on, as an
/// update replacing those minutes.
pub async fn read_usage(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
) -> Result<UsageUpdate, sqlx::Error> {
    read_usage_until(conn, from, None, &[]).await
}

/// Usage per minute × service from `from` (a slot start) on at a load: with
/// `rollups`, the minutes the usage rollup holds in detail come from it
/// ([`crate::rollup::usage_minutes`], summed into slots of `step` minutes)
/// and only the minutes around them from raw rows; else all from raw rows.
///
/// A session ended after the rollup added the minute of its end (see
/// [`OpenSessions`]) is in the rollup's read too, while the rollup follows
/// it ([`crate::rollup::usage`] says which sessions it cannot follow).
pub async fn read_usage_at_load(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    step: i64,
    rollups: bool,
) -> Result<UsageUpdate, sqlx::Error> {
    let span = match rollups {
        true => crate::rollup::usage_minutes::detailed_span(conn).await?,
        false => None,
    };
    let Some((detailed, settled)) = span.filter(|(_, settled)| *settled > from) else {
        return read_usage(conn, from).await;
    };
    let held = detailed.max(from);
    let Some(mut minutes) = crate::rollup::usage_minutes::read(conn, (held, settled), step).await?
    else {
        return read_usage(conn, from).await;
    };
    if held > from {
        minutes.extend(read_usage_until(conn, from, Some(held), &[]).await?.minutes);
    }
    minutes.extend(read_usage_until(conn, settled, None, &[]).await?.minutes);
    Ok(UsageUpdate {
        from: minute_of(from),
        minutes,
        late: Vec::new(),
    })
}

/// Usage per minute × service from `from` on and before `until` (a minute
/// start; `None`: up to now), counting no end of the sessions `followed`:
/// an older part of a window, whose sessions active at its load are the
/// poller's to count when they end ([`OpenSessions::late_ends`]).
pub async fn read_usage_until(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    followed: &[i64],
) -> Result<UsageUpdate, sqlx::Error> {
    let starts: Vec<(i64, String, i64)> = sqlx::query_as(STARTS_SQL)
        .bind(from)
        .bind(until)
        .fetch_all(&mut *conn)
        .await?;
    let ends: Vec<EndRow> = sqlx::query_as(AssertSqlSafe(ends_sql()))
        .bind(from)
        .bind(until)
        .bind(followed)
        .fetch_all(&mut *conn)
        .await?;
    let mut by: std::collections::BTreeMap<(Minute, String), UsageMinute> = Default::default();
    for (m, service, n) in starts {
        by.entry((m, service)).or_default().started += n.max(0) as u64;
    }
    for (m, service, bucket, done, failed, abandoned, quick, credits, unfinished) in ends {
        let u = by.entry((m, service)).or_default();
        let pos = |v: i64| v.max(0) as u64;
        u.completed += pos(done);
        u.failed += pos(failed);
        u.abandoned += pos(abandoned);
        u.quick_ends += pos(quick);
        u.credits += pos(credits);
        u.credits_unfinished += pos(unfinished);
        u.duration
            .record_bucket(bucket.max(0) as u32, pos(done + failed + abandoned));
    }
    Ok(UsageUpdate {
        from: minute_of(from),
        minutes: by.into_iter().map(|((m, s), u)| (m, s, u)).collect(),
        late: Vec::new(),
    })
}
