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
//! whatever the window or the table size. A session whose end is written
//! with an end time older than that span is not seen until the next load.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::hist::sql_bucket_expr;
use crate::model::{Minute, UsageMinute, UsageUpdate, minute_of};

/// Sessions started per minute × service from `$1` on.
const STARTS_SQL: &str = "SELECT (extract(epoch FROM date_trunc('minute', started_at)) / 60)::int8, \
            service, count(*)::int8 \
     FROM monitoring_sessions WHERE started_at >= $1 GROUP BY 1, 2";

/// Sessions ended per minute × service × duration bucket from `$1` on.
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
               WHERE status <> 'active' AND coalesce(ended_at, last_activity_at) >= $1) AS x \
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
    let starts: Vec<(i64, String, i64)> = sqlx::query_as(STARTS_SQL)
        .bind(from)
        .fetch_all(&mut *conn)
        .await?;
    let ends: Vec<EndRow> = sqlx::query_as(AssertSqlSafe(ends_sql()))
        .bind(from)
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
    })
}
