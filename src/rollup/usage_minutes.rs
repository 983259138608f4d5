//! A window's usage minutes (sessions started and ended per minute ×
//! service, with outcomes, credits, quick ends and durations) read from the
//! usage rollup, so that opening a long window reads no session rows for the
//! minutes the rollup holds: about 20 rollup rows per minute, where the raw
//! read aggregates every session that started or ended in the window.
//!
//! The rollup holds these figures for the minutes
//! `[greatest(covered_from, detailed_from), settled_to)` (migration 0016).
//! A row there without them (written by a jfmon older than 0016 while this
//! one was not maintaining) makes the read decline, and the caller reads
//! raw rows as before. Read in the load's snapshot, the minutes equal the
//! raw rows' (tests/usage.rs), late ends included, but for the sessions the
//! rollup cannot see (see [`super::usage`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};

use super::pairs::Pairs;
use super::read::MINUTE;
use super::usage_sql;
use crate::model::{Minute, Outcome, UsageMinute, minute_of, slot_of};

/// The minutes the rollup holds with their details, if it can be read.
pub async fn detailed_span(
    conn: &mut PgConnection,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    Ok(super::usage::usage_span(conn).await?.and_then(|s| {
        let from = s.covered_from.max(s.detailed_from?);
        (from < s.settled_to).then_some((from, s.settled_to))
    }))
}

/// Usage per slot of `step` minutes × service over `[from, to)` (minute
/// starts inside [`detailed_span`]), each slot at its first minute in that
/// span: the rollup's minutes, and the ends of the sessions it follows that
/// ended there since its last step (which the next step adds to it); `None`
/// when a row there lacks its details.
pub async fn read(
    conn: &mut PgConnection,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    step: i64,
) -> Result<Option<Vec<(Minute, String, UsageMinute)>>, sqlx::Error> {
    // The sessions the rollup follows for late ends (none when invalid).
    let followed = format!(
        "coalesce((SELECT {} FROM jfmon_rollup_usage_state), '{{}}')::int8[]",
        super::usage::FOLLOWED
    );
    let late = usage_sql::rows_of(&usage_sql::late_end_groups(&followed, "$1", "$2"));
    let sql = format!(
        "SELECT {MINUTE}, service, outcome, sessions, credits, quick, duration \
         FROM jfmon_rollup_usage WHERE minute >= $1 AND minute < $2 \
         UNION ALL \
         SELECT {MINUTE}, service, outcome, sessions, credits, quick, duration FROM ({late}) AS l"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(from)
        .bind(to);
    let mut rows = q.fetch(&mut *conn);
    let mut slots: HashMap<(Minute, String), UsageMinute> = HashMap::new();
    // A slot starting before `from` is keyed at `from`'s minute (the same
    // slot), which the store keeps.
    let first = minute_of(from);
    while let Some(r) = rows.try_next().await? {
        let m: Minute = r.try_get(0)?;
        let outcome: String = r.try_get(2)?;
        let n = r.try_get::<i64, _>(3)?.max(0) as u64;
        let credits = r.try_get::<i64, _>(4)?.max(0) as u64;
        let u = slots
            .entry((slot_of(m, step).max(first), r.try_get(1)?))
            .or_default();
        let ended = match outcome.as_str() {
            "started" => {
                u.started += n;
                continue;
            }
            other => Outcome::of_status(other).unwrap_or(Outcome::Abandoned),
        };
        // A row without details, or whose histogram does not decode: the
        // caller reads raw rows.
        let (Some(quick), Ok(Some(duration))) = (
            r.try_get::<Option<i64>, _>(5)?,
            r.try_get::<Option<Pairs>, _>(6),
        ) else {
            return Ok(None);
        };
        match ended {
            Outcome::Completed => u.completed += n,
            Outcome::Failed => u.failed += n,
            Outcome::Abandoned => u.abandoned += n,
        }
        u.credits += credits;
        if ended != Outcome::Completed {
            u.credits_unfinished += credits;
        }
        u.quick_ends += quick.max(0) as u64;
        u.duration.add_pairs(&duration.0);
    }
    drop(rows);
    let mut out: Vec<_> = slots.into_iter().map(|((m, s), u)| (m, s, u)).collect();
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(Some(out))
}
