//! A rollup's position, stored in `jfmon_rollup_state` and changed only in
//! the transaction that adds the matching deltas, so a crash at any point
//! leaves rollups and position in agreement.
//!
//! The rows counted are the visible rows with ids in `(base, tail.hwm]` that
//! are not in `tail`'s gaps. Gaps (ids allocated but not yet committed, or
//! rolled back) are closed only when every transaction that could still
//! commit one has ended: each step notes the snapshot's `xmax` (the first
//! transaction id not yet started) with the time; once the current `xmin`
//! has passed a noted `xmax`, every gap first seen well before that time
//! belongs to a transaction that has ended, and the row, if committed, has
//! been read.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;

use super::spec::Rollup;
use crate::db::tail::Tail;

/// Between taking an id (`nextval`) and getting a transaction id the
/// platform's `INSERT` does nothing that waits; this is the margin allowed.
const XID_GRACE: TimeDelta = TimeDelta::seconds(2);
/// Notes kept at most (the oldest go first: gaps then close later, never wrongly).
const MAX_HORIZONS: usize = 2_000;
/// A new note at most this often.
const HORIZON_EVERY: TimeDelta = TimeDelta::seconds(2);

#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub base: i64,
    pub tail: Tail,
    /// (time, snapshot xmax then), oldest first.
    pub horizons: Vec<(DateTime<Utc>, i64)>,
    /// Minutes from here on are complete in the rollup.
    pub covered_from: DateTime<Utc>,
    /// The 5-minute tier equals the minutes (as stored: the last writer
    /// kept it), and this step keeps it (once the step has checked).
    pub tier: bool,
}

#[derive(Serialize, Deserialize)]
struct Horizons(Vec<(DateTime<Utc>, i64)>);

/// A stored position: base, tail, horizons, covered_from, tier kept.
type StoredRow = (i64, Json<Tail>, Json<Horizons>, DateTime<Utc>, bool);

impl Position {
    /// Note the current snapshot and close the gaps it proves settled.
    pub fn settle(&mut self, now: DateTime<Utc>, xmin: i64, xmax: i64) {
        if self
            .horizons
            .last()
            .is_none_or(|(t, _)| now - *t >= HORIZON_EVERY)
        {
            self.horizons.push((now, xmax));
        }
        if let Some(i) = self.horizons.iter().rposition(|(_, x)| *x <= xmin) {
            let (t, _) = self.horizons[i];
            self.tail.expire(t - XID_GRACE);
            self.horizons.drain(..i);
        }
        if self.horizons.len() > MAX_HORIZONS {
            let extra = self.horizons.len() - MAX_HORIZONS;
            self.horizons.drain(..extra);
        }
    }
}

/// The position of `r`, locked for this transaction; `None` before the first step.
pub async fn lock(conn: &mut PgConnection, r: Rollup) -> Result<Option<Position>, sqlx::Error> {
    let row: Option<StoredRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT base, tail, horizons, covered_from, {TIER_KEPT} FROM jfmon_rollup_state AS s \
         WHERE source = $1 FOR UPDATE"
    )))
    .bind(r.table())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(base, tail, h, covered_from, tier)| Position {
        base,
        tail: tail.0,
        horizons: h.0.0,
        covered_from,
        tier,
    }))
}

/// Whether the state row `s` says its 5-minute tier was kept by the last
/// writer (`tier_at = updated_at`, migration 0017). Read through `to_jsonb`
/// so that it is simply false before the migration adds the column.
pub const TIER_KEPT: &str = "coalesce((SELECT j ->> 'tier_at' = j ->> 'updated_at' \
     FROM (SELECT to_jsonb(s) - 'tail' - 'horizons' AS j) AS x), false)";

/// Store `p` (insert or replace). With `p.tier`, also marks the tier as
/// kept up to this position (`tier_at = updated_at`); without, leaves
/// `tier_at` alone, as a jfmon older than the tier does.
pub async fn save(conn: &mut PgConnection, r: Rollup, p: &Position) -> Result<(), sqlx::Error> {
    // Without the tier the statement names no `tier_at`: the column exists
    // only once migration 0017 has run.
    let (column, value, set) = match p.tier {
        false => ("", "", ""),
        true => (", tier_at", ", c.t", ", tier_at = excluded.tier_at"),
    };
    let sql = format!(
        "INSERT INTO jfmon_rollup_state AS s \
           (source, base, tail, horizons, covered_from, updated_at{column}) \
         SELECT $1, $2, $3, $4, $5, c.t{value} FROM (SELECT clock_timestamp() AS t) AS c \
         ON CONFLICT (source) DO UPDATE SET base = excluded.base, tail = excluded.tail, \
           horizons = excluded.horizons, covered_from = excluded.covered_from, \
           updated_at = excluded.updated_at{set}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.table())
        .bind(p.base)
        .bind(Json(&p.tail))
        .bind(Json(Horizons(p.horizons.clone())))
        .bind(p.covered_from)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn pos() -> Position {
        Position {
            base: 0,
            tail: Tail::new(0),
            horizons: Vec::new(),
            covered_from: t(0),
            tier: false,
        }
    }

    #[test]
    fn a_gap_closes_only_after_its_transactions_can_have_ended() {
        let mut p = pos();
        p.tail.advance(&[1, 3], t(0)); // gap 2, first seen at 0
        p.settle(t(0), 100, 110);
        // xmin passed the xmax noted at 0, but the gap is not older than the grace.
        assert!(p.tail.has_gaps());
        p.settle(t(5), 105, 120);
        // xmin 105 < 120: transactions that began before t(5) may still run.
        assert!(p.tail.has_gaps());
        p.settle(t(10), 120, 130);
        assert!(
            !p.tail.has_gaps(),
            "xmin passed the note of t(5) > t(0) + grace"
        );
        assert_eq!(p.horizons.first().map(|h| h.0), Some(t(5)));
    }

    #[test]
    fn an_old_open_transaction_keeps_the_gap() {
        let mut p = pos();
        p.tail.advance(&[1, 3], t(0));
        for s in 1..100 {
            p.settle(t(s * 3), 99, 100 + s); // xmin held back by a long transaction
        }
        assert!(p.tail.has_gaps());
        assert!(p.horizons.len() <= MAX_HORIZONS);
    }
}
