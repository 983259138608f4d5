//! The usage rollup (`jfmon_rollup_usage`): sessions per minute × service ×
//! outcome, with the credits, quick ends and durations of the sessions that
//! ended (what a window's Usage view needs: [`super::usage_minutes`]), and
//! reading from it (and from the sessions-started rollup) the past windows
//! the Usage view compares with.
//!
//! Sessions change status after they are inserted, so rolling them up by id
//! (as the other rollups do) would count them while still active. This one
//! adds whole minutes instead, once they are settled ([`SETTLE`] old): the
//! starts of the minute (index on `started_at`) and the sessions that ended
//! in it (index `monitoring_sessions_ended_idx`). Its position is the span
//! of minutes added, `[covered_from, settled_to)`, moved in the transaction
//! that adds them: every minute is added exactly once whatever is killed
//! when. A session closed later with an end time older than [`SETTLE`] (a
//! clean-up job marking an idle session abandoned leaves its end at its last
//! activity) is added late: each step follows the sessions active in its
//! snapshot that could end there (see `end_step`; in the state row, written in the
//! same transaction) and adds the ends of those that ended inside the
//! minutes already added. What it cannot see: a session whose row is written
//! more than [`SETTLE`] after the instant it records (a platform transaction
//! open that long), one never followed (beyond the [`FOLLOW_CAP`] idle
//! longest, which `jfmon check` warns of; inserted already ended; or given
//! an `ended_at` older than its last activity and than the settled edge),
//! or one that ended while a jfmon older than migration 0016 kept the
//! rollup (it also drops the followed set, kept in the state's `followed`
//! column; migration 0016's comment on it predates this rule). And a
//! session that ends, is made active again and ends again counts twice,
//! once per end; the raw read counts it once.
//!
//! A step's cost follows the sessions, not the time it spans: before adding
//! a span longer than one step it asks (in the same snapshot, one query on
//! the two indexes) where the nearest session instant lies, and passes over
//! the empty minutes up to it without a statement per slice. Catching up a
//! month without sessions, or a backfill down to the epoch (as `jfmon prune`
//! asks), is then a step or two instead of one per [`BACKFILL_SPAN`].

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};

use super::maintain::StepOutcome;
use super::usage_sql;
use crate::model::{Minute, Outcome, UsageHistory, UsageTotals, minute_start};

/// A minute is added once it is this old.
pub const SETTLE: TimeDelta = TimeDelta::minutes(5);
/// Minutes added by one follow step at most.
const FOLLOW_SPAN: TimeDelta = TimeDelta::hours(6);
/// Minutes added by one backfill step.
pub const BACKFILL_SPAN: TimeDelta = TimeDelta::hours(6);

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// What a step or a backfill says on a usage rollup older than migration
/// 0016 (one line, shown as it is).
pub const NEEDS_MIGRATE: &str =
    "the usage rollup (jfmon_rollup_usage) predates this jfmon — run `jfmon migrate` first";

/// Whether this database has the usage rollup as this jfmon keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// No usage rollup, or no sessions table: nothing to keep.
    Absent,
    /// The rollup predates migration 0016 (`jfmon migrate` adds what this
    /// jfmon writes).
    NeedsMigrate,
    Ready,
}

/// Whether migration 0016 has given the usage state the columns this jfmon
/// reads and writes (`detailed_from`, `followed`, `followed_at`: added
/// together), as an SQL expression.
const MIGRATED_0016: &str = "EXISTS (SELECT 1 FROM pg_attribute \
     WHERE attrelid = to_regclass('jfmon_rollup_usage_state') \
       AND attname = 'followed_at' AND NOT attisdropped)";

/// Which [`Readiness`] this database is in.
pub async fn readiness(pool: &PgPool) -> Result<Readiness, sqlx::Error> {
    let (tables, migrated): (bool, bool) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT to_regclass('jfmon_rollup_usage_state') IS NOT NULL \
                AND to_regclass('monitoring_sessions') IS NOT NULL, {MIGRATED_0016}"
    )))
    .fetch_one(pool)
    .await?;
    Ok(match (tables, migrated) {
        (false, _) => Readiness::Absent,
        (true, false) => Readiness::NeedsMigrate,
        (true, true) => Readiness::Ready,
    })
}

/// Where the rollup stands, locked for a step.
struct Position {
    covered_from: DateTime<Utc>,
    settled_to: DateTime<Utc>,
    /// The sessions followed at the last step, ascending; `None` when
    /// another writer moved the position since (see [`FOLLOWED`]).
    followed: Option<Vec<i64>>,
    now: DateTime<Utc>,
}

/// The sessions followed, from the state row: valid only if written by the
/// step that last moved the position (`followed_at = updated_at`). A jfmon
/// older than migration 0016 moves it without them (and adds minutes
/// without their details); NULL then.
pub(super) const FOLLOWED: &str = "CASE WHEN followed_at = updated_at THEN followed END";

/// Begin a step: lock the position, creating it (empty, at the settled
/// edge) when absent.
async fn begin(conn: &mut PgConnection) -> Result<Position, sqlx::Error> {
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *conn)
        .await?;
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *conn)
        .await?;
    let edge = floor_minute(now - SETTLE);
    sqlx::query(
        "INSERT INTO jfmon_rollup_usage_state \
           (covered_from, settled_to, detailed_from, updated_at, followed_at) \
         VALUES ($1, $1, $1, now(), now()) ON CONFLICT (only_row) DO NOTHING",
    )
    .bind(edge)
    .execute(&mut *conn)
    .await?;
    let (covered_from, settled_to, followed): (DateTime<Utc>, DateTime<Utc>, Option<Vec<i64>>) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT covered_from, settled_to, {FOLLOWED} FROM jfmon_rollup_usage_state FOR UPDATE"
        )))
        .fetch_one(&mut *conn)
        .await?;
    Ok(Position {
        covered_from,
        settled_to,
        followed,
        now,
    })
}

/// Most sessions followed for late ends (those idle longest first); `jfmon
/// check` warns when more could end late ([`beyond_follow_cap`]).
pub const FOLLOW_CAP: i64 = 20_000;

/// How many sessions could end late (active, and idle since before the
/// settled edge its next step will have), when that is more than
/// [`FOLLOW_CAP`], the rollup is kept here and this role may read it: the
/// follower keeps only the cap, and an end written late for any of the rest
/// is not counted. `None` otherwise (`jfmon check` warns of `Some`).
pub async fn beyond_follow_cap(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    if readiness(pool).await? != Readiness::Ready {
        return Ok(None);
    }
    let may_read: bool = sqlx::query_scalar(
        "SELECT has_table_privilege('jfmon_rollup_usage_state', 'SELECT') \
            AND has_table_privilege('monitoring_sessions', 'SELECT')",
    )
    .fetch_one(pool)
    .await?;
    if !may_read {
        return Ok(None);
    }
    let idle: Option<i64> = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM monitoring_sessions \
                 WHERE status = 'active' \
                   AND (last_activity_at < greatest(s.settled_to, \
                          date_trunc('minute', now() - make_interval(mins => $1))) \
                        OR last_activity_at IS NULL)) \
         FROM jfmon_rollup_usage_state AS s",
    )
    // A rollup nobody followed lately is behind: its next step settles up to
    // the edge a current one stands at.
    .bind(SETTLE.num_minutes() as i32)
    .fetch_optional(pool)
    .await?;
    Ok(idle.filter(|n| *n > FOLLOW_CAP))
}

/// Add the ends of the followed sessions that ended inside the minutes
/// already added (a session whose end is written with an end time older than
/// [`SETTLE`]: a clean-up job marking idle sessions abandoned); the others'
/// ends are in minutes not added yet, which the range adds will count.
async fn add_late_ends(conn: &mut PgConnection, p: &Position) -> Result<u64, sqlx::Error> {
    let Some(followed) = p.followed.as_ref().filter(|f| !f.is_empty()) else {
        return Ok(0);
    };
    if p.covered_from >= p.settled_to {
        return Ok(0);
    }
    Ok(sqlx::query(sqlx::AssertSqlSafe(usage_sql::add_late_ends()))
        .bind(followed)
        .bind(p.covered_from)
        .bind(p.settled_to)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// End a step that leaves the rollup holding `[covered_from, settled_to)`:
/// write the new position and follow the sessions that could end inside
/// those minutes from now on: active in this snapshot with their last
/// activity before `settled_to` (an end at the last activity, as a clean-up
/// job leaves it, or a later one the range adds count; an explicit
/// `ended_at` older than the last activity is not followed). Uses the
/// `(status, last_activity_at)` index; the set changes when a session goes
/// idle or ends, so a quiet rollup writes nothing.
///
/// After a writer without followed sessions (an older jfmon), the minutes
/// it added lack their details: `detailed_from` moves up past them.
async fn end_step(
    conn: &mut PgConnection,
    old: &Position,
    (covered_from, settled_to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), sqlx::Error> {
    let mut followed: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM monitoring_sessions \
         WHERE status = 'active' AND (last_activity_at < $1 OR last_activity_at IS NULL) \
         ORDER BY last_activity_at NULLS FIRST, id LIMIT $2",
    )
    .bind(settled_to)
    .bind(FOLLOW_CAP)
    .fetch_all(&mut *conn)
    .await?;
    followed.sort_unstable();
    if (covered_from, settled_to) == (old.covered_from, old.settled_to)
        && old.followed.as_ref() == Some(&followed)
    {
        return Ok(());
    }
    sqlx::query(
        "UPDATE jfmon_rollup_usage_state SET covered_from = $1, settled_to = $2, followed = $3, \
                detailed_from = CASE WHEN $4 THEN greatest(detailed_from, settled_to) \
                                     WHEN detailed_from = covered_from THEN $1 \
                                     ELSE detailed_from END, \
                updated_at = c.t, followed_at = c.t \
         FROM (SELECT clock_timestamp() AS t) AS c",
    )
    .bind(covered_from)
    .bind(settled_to)
    .bind(&followed)
    .bind(old.followed.is_none())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The latest session instant (a start, or the end of a session no longer
/// active) in `[floor, before)`, if any: two index probes
/// (`monitoring_sessions_started_idx`, `monitoring_sessions_ended_idx`).
const NEWEST_BEFORE_SQL: &str = "SELECT greatest( \
       (SELECT max(started_at) FROM monitoring_sessions \
         WHERE started_at >= $1 AND started_at < $2), \
       (SELECT max(coalesce(ended_at, last_activity_at)) FROM monitoring_sessions \
         WHERE status <> 'active' \
           AND coalesce(ended_at, last_activity_at) >= $1 \
           AND coalesce(ended_at, last_activity_at) < $2))";

/// The earliest session instant in `[from, before)`, if any (as above).
const OLDEST_FROM_SQL: &str = "SELECT least( \
       (SELECT min(started_at) FROM monitoring_sessions \
         WHERE started_at >= $1 AND started_at < $2), \
       (SELECT min(coalesce(ended_at, last_activity_at)) FROM monitoring_sessions \
         WHERE status <> 'active' \
           AND coalesce(ended_at, last_activity_at) >= $1 \
           AND coalesce(ended_at, last_activity_at) < $2))";

async fn probe(
    conn: &mut PgConnection,
    sql: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *conn)
        .await
}

/// Where a follow step from `settled` ends: `edge` when that is within one
/// step; else one step past the first minute holding a session instant, or
/// `edge` when none of `[settled, edge)` does (the empty minutes before
/// the first instant are passed over in the same step).
async fn follow_end(
    conn: &mut PgConnection,
    settled: DateTime<Utc>,
    edge: DateTime<Utc>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    if edge <= settled + FOLLOW_SPAN {
        return Ok(edge.max(settled));
    }
    Ok(match probe(conn, OLDEST_FROM_SQL, settled, edge).await? {
        Some(t) => edge.min(floor_minute(t) + FOLLOW_SPAN),
        None => edge,
    })
}

/// Where a backfill step down from `covered` to `cutoff` starts: `cutoff`
/// when that is within one step; else one step before the end of the last
/// minute holding a session instant, or `cutoff` when none of
/// `[cutoff, covered)` does.
async fn backfill_start(
    conn: &mut PgConnection,
    covered: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    if covered - BACKFILL_SPAN <= cutoff {
        return Ok(cutoff);
    }
    Ok(
        match probe(conn, NEWEST_BEFORE_SQL, cutoff, covered).await? {
            Some(t) => cutoff.max(floor_minute(t) + TimeDelta::minutes(1) - BACKFILL_SPAN),
            None => cutoff,
        },
    )
}

async fn add(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if from >= to {
        return Ok(0);
    }
    Ok(sqlx::query(sqlx::AssertSqlSafe(usage_sql::add_minutes()))
        .bind(from)
        .bind(to)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

async fn finish<T>(conn: &mut PgConnection, res: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
    match res {
        Ok(v) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(v)
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

/// Add the settled minutes after `settled_to` (at most [`FOLLOW_SPAN`] of
/// minutes holding sessions, the empty ones before them passed over) and
/// the late ends of the sessions followed. `rows` counts the rollup rows
/// written.
pub async fn follow_step(conn: &mut PgConnection) -> Result<StepOutcome, sqlx::Error> {
    let res = async {
        let p = begin(conn).await?;
        let edge = floor_minute(p.now - SETTLE);
        let to = follow_end(conn, p.settled_to, edge).await?;
        let rows = add_late_ends(conn, &p).await? + add(conn, p.settled_to, to).await?;
        end_step(conn, &p, (p.covered_from, to.max(p.settled_to))).await?;
        Ok::<_, sqlx::Error>(StepOutcome {
            rows,
            more: to < edge,
        })
    }
    .await;
    finish(conn, res).await
}

/// Add up to [`BACKFILL_SPAN`] of minutes holding sessions before
/// `covered_from` (the empty ones after them passed over), down to
/// `cutoff`, and the late ends of the sessions followed. Returns (rollup
/// rows written, done).
pub async fn backfill_step(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
) -> Result<(u64, bool), sqlx::Error> {
    let cutoff = floor_minute(cutoff);
    let res = async {
        let p = begin(conn).await?;
        if p.covered_from <= cutoff {
            return Ok((0, true));
        }
        let from = backfill_start(conn, p.covered_from, cutoff).await?;
        let rows = add_late_ends(conn, &p).await? + add(conn, from, p.covered_from).await?;
        end_step(conn, &p, (from, p.settled_to)).await?;
        Ok::<_, sqlx::Error>((rows, from <= cutoff))
    }
    .await;
    finish(conn, res).await
}

/// Where the usage rollup stands, as a reader sees it.
pub(super) struct UsageSpan {
    pub covered_from: DateTime<Utc>,
    pub settled_to: DateTime<Utc>,
    /// Where the minutes' details begin ([`super::usage_minutes`]); `None`
    /// before migration 0016.
    pub detailed_from: Option<DateTime<Utc>>,
}

/// covered_from, settled_to, detailed_from.
type SpanRow = (DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>);

/// The span the usage rollup covers, if it can be read.
pub(super) async fn usage_span(conn: &mut PgConnection) -> Result<Option<UsageSpan>, sqlx::Error> {
    let (readable, detailed): (bool, bool) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CASE WHEN to_regclass('jfmon_rollup_usage_state') IS NULL THEN false \
                ELSE has_table_privilege(to_regclass('jfmon_rollup_usage_state')::oid, 'SELECT') \
                     AND has_table_privilege(to_regclass('jfmon_rollup_usage')::oid, 'SELECT') END, \
                {MIGRATED_0016}"
    )))
    .fetch_one(&mut *conn)
    .await?;
    if !readable {
        return Ok(None);
    }
    let sql = match detailed {
        true => "SELECT covered_from, settled_to, detailed_from FROM jfmon_rollup_usage_state",
        false => "SELECT covered_from, settled_to, NULL::timestamptz FROM jfmon_rollup_usage_state",
    };
    let row: Option<SpanRow> = sqlx::query_as(sql).fetch_optional(&mut *conn).await?;
    Ok(
        row.map(|(covered_from, settled_to, detailed_from)| UsageSpan {
            covered_from,
            settled_to,
            detailed_from,
        }),
    )
}

/// Per service over `[from, to)`, from the usage rollup.
async fn totals(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<String, UsageTotals>, sqlx::Error> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT service, outcome, sum(sessions)::int8, sum(credits)::int8 FROM jfmon_rollup_usage \
         WHERE minute >= $1 AND minute < $2 GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<String, UsageTotals> = BTreeMap::new();
    for (service, outcome, n, credits) in rows {
        let t = out.entry(service).or_default();
        let n = n.max(0) as u64;
        match (outcome.as_str(), Outcome::of_status(&outcome)) {
            ("started", _) => t.started += n,
            (_, Some(Outcome::Completed)) => t.completed += n,
            (_, Some(Outcome::Failed)) => t.failed += n,
            _ => t.abandoned += n,
        }
        t.credits += credits.max(0) as u64;
    }
    Ok(out)
}

/// Sessions started per UTC hour of the day over `[from, to)`, from the
/// sessions-started rollup.
async fn hours(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<u64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT extract(hour FROM minute AT TIME ZONE 'UTC')::int4, sum(started)::int8 \
         FROM jfmon_rollup_sessions WHERE minute >= $1 AND minute < $2 GROUP BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = vec![0u64; 24];
    for (h, n) in rows {
        if let Some(slot) = out.get_mut(h.clamp(0, 23) as usize) {
            *slot += n.max(0) as u64;
        }
    }
    Ok(out)
}

/// Where the sessions-started rollup's complete minutes begin, if readable.
async fn starts_covered_from(
    conn: &mut PgConnection,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let readable: bool = sqlx::query_scalar(
        "SELECT CASE WHEN to_regclass('jfmon_rollup_state') IS NULL \
                  OR to_regclass('jfmon_rollup_sessions') IS NULL THEN false \
                ELSE has_table_privilege(to_regclass('jfmon_rollup_state')::oid, 'SELECT') \
                     AND has_table_privilege(to_regclass('jfmon_rollup_sessions')::oid, 'SELECT') END",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !readable {
        return Ok(None);
    }
    sqlx::query_scalar(
        "SELECT covered_from FROM jfmon_rollup_state WHERE source = 'monitoring_sessions'",
    )
    .fetch_optional(&mut *conn)
    .await
}

/// The past windows for the window whose minutes are `first..=last`, and
/// the hour-of-day profile of the day holding `now`: each part `None` when
/// the rollups do not reach back that far. Four small aggregate queries
/// over rollup rows (no raw row is read).
pub async fn read_history(
    conn: &mut PgConnection,
    first: Minute,
    last: Minute,
    now: DateTime<Utc>,
) -> Result<UsageHistory, sqlx::Error> {
    let mut h = UsageHistory::default();
    let (start, end) = (minute_start(first), minute_start(last + 1));
    if let Some(span) = usage_span(conn).await? {
        for (days, slot) in [(1, &mut h.day_ago), (7, &mut h.week_ago)] {
            let shift = TimeDelta::days(days);
            if span.covered_from <= start - shift && span.settled_to >= end - shift {
                *slot = Some(totals(conn, start - shift, end - shift).await?);
            }
        }
    }
    if let Some(covered) = starts_covered_from(conn).await? {
        let day = now.duration_trunc(TimeDelta::days(1)).unwrap_or(now);
        if covered <= day {
            h.hours_today = Some(hours(conn, day, now).await?);
        }
        let week = day - TimeDelta::days(7);
        if covered <= week {
            h.hours_week = Some(
                hours(conn, week, day)
                    .await?
                    .into_iter()
                    .map(|n| n as f64 / 7.0)
                    .collect(),
            );
        }
    }
    Ok(h)
}
