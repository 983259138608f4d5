//! The usage rollup's statements, built from one description of a rollup
//! row: what adds settled minutes of sessions, what adds the late ends of
//! the sessions it follows, and what reads those late ends before they are
//! added (a window's load, [`super::usage_minutes`]).
//!
//! A rollup row is one minute × service × outcome: `sessions`, `credits`
//! and, for the ended outcomes, `quick` (sessions that ended not completed
//! within [`QUICK_END_SECS`]) and `duration`, the (bucket, count) pairs of
//! their durations in whole seconds: the figures `crate::db::usage` reads
//! from raw rows.

use crate::hist::sql_bucket_expr;
use crate::model::QUICK_END_SECS;

/// Sessions no longer active from `source` (a FROM item over
/// `monitoring_sessions`' columns) satisfying `cond` (over `id` and `e`, the
/// end instant `coalesce(ended_at, last_activity_at)`), grouped per minute
/// × service × outcome × duration bucket: columns minute, service, outcome,
/// bucket, n, c (credits), q (quick ends). The subquery is flattened, so a
/// range on `e` over the table is a scan of `monitoring_sessions_ended_idx`.
pub(super) fn ended_groups(source: &str, cond: &str) -> String {
    format!(
        "SELECT date_trunc('minute', e) AS minute, service, outcome, {}::int8 AS bucket, \
                count(*) AS n, sum(c)::int8 AS c, \
                count(*) FILTER (WHERE outcome <> 'completed' AND d < {QUICK_END_SECS}) AS q \
         FROM (SELECT id, service, coalesce(ended_at, last_activity_at) AS e, \
                      CASE status WHEN 'completed' THEN 'completed' WHEN 'failed' THEN 'failed' \
                                  ELSE 'abandoned' END AS outcome, \
                      greatest(credits_used, 0) AS c, \
                      greatest(floor(extract(epoch FROM \
                          coalesce(ended_at, last_activity_at) - started_at)), 0)::int8 AS d \
               FROM {source} WHERE status <> 'active') AS x \
         WHERE {cond} GROUP BY 1, 2, 3, 4",
        sql_bucket_expr("d")
    )
}

/// Sessions started in `[$1, $2)`, in the columns of [`ended_groups`].
const STARTED_GROUPS: &str = "SELECT date_trunc('minute', started_at) AS minute, service, \
            'started' AS outcome, NULL::int8 AS bucket, count(*) AS n, 0::int8 AS c, 0::int8 AS q \
     FROM monitoring_sessions WHERE started_at >= $1 AND started_at < $2 GROUP BY 1, 2";

/// Rollup rows (minute, service, outcome, sessions, credits, quick,
/// duration) from `groups` (a FROM item in the columns of [`ended_groups`]).
pub(super) fn rows_of(groups: &str) -> String {
    format!(
        "SELECT minute, service, outcome, sum(n)::int8 AS sessions, sum(c)::int8 AS credits, \
                sum(q)::int8 AS quick, \
                jfmon_pairs(ARRAY[bucket, n::int8] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                  AS duration \
         FROM ({groups}) AS g GROUP BY 1, 2, 3"
    )
}

/// Insert rollup rows, adding to the minutes already there.
fn insert(rows: &str) -> String {
    format!(
        "INSERT INTO jfmon_rollup_usage AS r \
           (minute, service, outcome, sessions, credits, quick, duration) {rows} \
         ON CONFLICT (minute, service, outcome) DO UPDATE SET \
           sessions = r.sessions + excluded.sessions, credits = r.credits + excluded.credits, \
           quick = r.quick + excluded.quick, duration = jfmon_hist_merge(r.duration, excluded.duration)"
    )
}

/// Add the minutes `[$1, $2)`: the sessions started in them and those that
/// ended in them.
pub(super) fn add_minutes() -> String {
    insert(&rows_of(&format!(
        "{STARTED_GROUPS} UNION ALL {}",
        ended_groups("monitoring_sessions", "e >= $1 AND e < $2")
    )))
}

/// The ended groups of the sessions `ids` (an `int8[]` expression) that
/// ended in `[lo, hi)`. The sessions are found by primary key first (`OFFSET
/// 0` keeps the subquery apart): planned as one statement, the range on the
/// end would be a scan of the ended-sessions index over the rollup's whole
/// span (days), filtering by id: 978 ms to find 2 sessions among 1 M, where
/// the primary key takes 10 ms (0.3 ms for 5 ids among `hist_24h`'s 620 k).
pub(super) fn late_end_groups(ids: &str, lo: &str, hi: &str) -> String {
    ended_groups(
        &format!("(SELECT * FROM monitoring_sessions WHERE id = ANY({ids}) OFFSET 0) AS s"),
        &format!("e >= {lo} AND e < {hi}"),
    )
}

/// Add the ends of the sessions `$1` that ended in `[$2, $3)`.
pub(super) fn add_late_ends() -> String {
    insert(&rows_of(&late_end_groups("$1::int8[]", "$2", "$3")))
}
