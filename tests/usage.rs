//! Feature usage per service against exact SQL on simulated days: the live
//! window (a load, then a poll after sessions changed status), the usage
//! rollup (each minute exactly once, through follow and backfill steps) and
//! the day-ago comparison read from it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use jfmon::model::{
    Minute, ServiceUsage, UsageMinute, minute_of, minute_start, slot_minutes, slot_of,
    window_first_minute,
};
use jfmon::rollup::{Maintainer, Role};
use jfmon::sim::writer::{DEFAULT_BUFFER_ROWS, SimulateOptions, run};
use sqlx::PgPool;

async fn simulate(pool: &PgPool, hours: u64, rate: f64, seed: u64) {
    let opts = SimulateOptions {
        rate,
        duration: None,
        backfill: Some(Duration::from_secs(hours * 3600)),
        seed,
        progress: false,
        buffer_rows: DEFAULT_BUFFER_ROWS,
        ..SimulateOptions::default()
    };
    run(pool, &opts).await.expect("simulate");
}

#[derive(Debug, Default, PartialEq)]
struct Exact {
    started: u64,
    completed: u64,
    failed: u64,
    abandoned: u64,
    credits: u64,
    credits_unfinished: u64,
    quick_ends: u64,
    median: Option<i64>,
    p95: Option<i64>,
}

type ExactRow = (
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

/// Per service: sessions started from `from` on, sessions ended from `from`
/// on by outcome, their credits and durations (whole seconds), straight
/// from the raw rows.
async fn exact(pool: &PgPool, from: DateTime<Utc>) -> BTreeMap<String, Exact> {
    let rows: Vec<ExactRow> = sqlx::query_as(
        "WITH s AS (SELECT service, status, started_at, greatest(credits_used, 0)::int8 AS c, \
                           coalesce(ended_at, last_activity_at) AS e, \
                           greatest(floor(extract(epoch FROM coalesce(ended_at, last_activity_at) \
                                                      - started_at)), 0)::int8 AS d \
                    FROM monitoring_sessions), \
              ended AS (SELECT * FROM s WHERE status <> 'active' AND e >= $1) \
         SELECT service, \
                (SELECT count(*) FROM s AS x WHERE x.service = g.service AND x.started_at >= $1), \
                count(*) FILTER (WHERE status = 'completed'), \
                count(*) FILTER (WHERE status = 'failed'), \
                count(*) FILTER (WHERE status NOT IN ('completed', 'failed')), \
                coalesce(sum(c), 0)::int8, \
                coalesce(sum(c) FILTER (WHERE status <> 'completed'), 0)::int8, \
                count(*) FILTER (WHERE status <> 'completed' AND d < 10), \
                percentile_disc(0.5) WITHIN GROUP (ORDER BY d), \
                percentile_disc(0.95) WITHIN GROUP (ORDER BY d) \
         FROM (SELECT service FROM s WHERE started_at >= $1 UNION SELECT service FROM ended) AS g \
         LEFT JOIN ended USING (service) GROUP BY service",
    )
    .bind(from)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(s, st, done, failed, ab, cr, cru, quick, med, p95)| {
            let n = |v: i64| v as u64;
            (
                s,
                Exact {
                    started: n(st),
                    completed: n(done),
                    failed: n(failed),
                    abandoned: n(ab),
                    credits: n(cr),
                    credits_unfinished: n(cru),
                    quick_ends: n(quick),
                    median: med,
                    p95,
                },
            )
        })
        .collect()
}

/// Durations are kept in histogram buckets (exact below 256 s, within 1 %
/// above): what the view shows is the bucket's midpoint.
fn close(shown: Option<f64>, exact: Option<i64>) -> bool {
    match (shown, exact) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b as f64).abs() <= (b as f64 * 0.01).max(0.5),
        _ => false,
    }
}

fn assert_usage(shown: &[ServiceUsage], exact: &BTreeMap<String, Exact>) {
    assert_eq!(
        shown
            .iter()
            .map(|s| s.service.clone())
            .collect::<std::collections::BTreeSet<_>>(),
        exact.keys().cloned().collect(),
        "the same services"
    );
    for s in shown {
        let e = &exact[&s.service];
        let got = Exact {
            started: s.started,
            completed: s.completed,
            failed: s.failed,
            abandoned: s.abandoned,
            credits: s.credits,
            credits_unfinished: s.credits_unfinished,
            quick_ends: s.quick_ends,
            median: e.median,
            p95: e.p95,
        };
        assert_eq!(&got, e, "{}", s.service);
        assert!(
            close(s.median_secs, e.median),
            "{} median {:?} vs {:?}",
            s.service,
            s.median_secs,
            e.median
        );
        assert!(
            close(s.p95_secs, e.p95),
            "{} p95 {:?} vs {:?}",
            s.service,
            s.p95_secs,
            e.p95
        );
        let ended = e.completed + e.failed + e.abandoned;
        assert_eq!(
            s.completion_rate,
            (ended > 0).then(|| e.completed as f64 / ended as f64)
        );
    }
}

fn window_start(now: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    minute_start(window_first_minute(now, secs))
}

#[sqlx::test(migrations = "./migrations")]
async fn usage_matches_exact_sql_on_a_simulated_day(pool: PgPool) {
    simulate(&pool, 24, 0.2, 21).await;
    let day = 86_400;
    let mut p = poller(&pool, day).await;
    p.set_session_starts_refresh(Duration::ZERO);
    let mut s = state(day);
    poll_into(&mut p, &mut s).await;
    let u = s.usage();
    assert!(u.services.len() >= 4, "{:?}", u.services);
    assert!(
        u.services
            .iter()
            .map(|x| x.failed + x.abandoned)
            .sum::<u64>()
            > 0
    );
    assert_usage(&u.services, &exact(&pool, window_start(s.now(), day)).await);

    // Sessions change status after they start: end half of the active ones
    // now (some failed, with credits), start new ones; one is abandoned
    // within seconds. The next poll shows all of it.
    let ended = sqlx::query(
        "UPDATE monitoring_sessions SET status = CASE WHEN id % 3 = 0 THEN 'failed' ELSE 'completed' END, \
                ended_at = now(), last_activity_at = now(), credits_used = credits_used + 2 \
         WHERE status = 'active' AND id % 2 = 0",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(ended > 0, "some sessions were active");
    sqlx::query(
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, ended_at, credits_used) \
         SELECT 'usage-' || n, 'new_service', CASE WHEN n = 1 THEN 'abandoned' ELSE 'active' END, \
                now() - interval '4 s', CASE WHEN n = 1 THEN now() END, n FROM generate_series(1, 5) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    poll_into(&mut p, &mut s).await;
    let u = s.usage();
    let new = u
        .services
        .iter()
        .find(|x| x.service == "new_service")
        .expect("new service");
    assert_eq!((new.started, new.abandoned, new.quick_ends), (5, 1, 1));
    assert_usage(&u.services, &exact(&pool, window_start(s.now(), day)).await);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_session_end_written_late_is_counted_once(pool: PgPool) {
    simulate(&pool, 1, 2.0, 5).await;
    // Sessions that went quiet half an hour ago and are still marked active.
    sqlx::query(
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, \
                                          last_activity_at, credits_used) \
         SELECT 'quiet-' || n, CASE WHEN n % 2 = 0 THEN 'voice' ELSE 'guidance' END, 'active', \
                now() - make_interval(mins => 30 + n), now() - make_interval(mins => 25 + n), n \
         FROM generate_series(1, 12) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let hour = 3600;
    let mut p = poller(&pool, hour).await;
    p.set_session_starts_refresh(Duration::ZERO);
    let mut s = state(hour);
    poll_into(&mut p, &mut s).await;
    assert_usage(
        &s.usage().services,
        &exact(&pool, window_start(s.now(), hour)).await,
    );

    // A clean-up job marks sessions abandoned long after they went quiet:
    // their end (half-way between start and now, minutes ago) is older than
    // anything a poll re-reads by end time.
    let late = sqlx::query(
        "UPDATE monitoring_sessions SET status = 'abandoned', ended_at = last_activity_at \
         WHERE session_id LIKE 'quiet-%'",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(late, 12);
    poll_into(&mut p, &mut s).await;
    assert_usage(
        &s.usage().services,
        &exact(&pool, window_start(s.now(), hour)).await,
    );
    // Counted once: later polls do not add them again.
    poll_into(&mut p, &mut s).await;
    assert_usage(
        &s.usage().services,
        &exact(&pool, window_start(s.now(), hour)).await,
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn the_funnel_counts_one_population_and_matches_exact_sql(pool: PgPool) {
    simulate(&pool, 6, 5.0, 8).await;
    let day = 86_400;
    let mut p = poller(&pool, day).await;
    let mut s = state(day);
    poll_into(&mut p, &mut s).await;
    let funnel = s.usage().funnel.clone();
    let sums: Vec<(String, f64)> = sqlx::query_as(
        "SELECT metric, sum(value) FROM monitoring_business_metrics \
         WHERE recorded_at >= $1 GROUP BY metric",
    )
    .bind(window_start(s.now(), day))
    .fetch_all(&pool)
    .await
    .unwrap();
    let sum = |m: &str| sums.iter().find(|(k, _)| k == m).map_or(0.0, |(_, v)| *v);
    let steps: Vec<(&str, &str, f64)> = funnel
        .iter()
        .map(|f| (f.name.as_str(), f.metric.as_str(), f.count))
        .collect();
    assert_eq!(
        steps,
        [
            ("sign-ups", "signups", sum("signups")),
            ("first sessions", "first_sessions", sum("first_sessions")),
            ("purchases", "first_purchases", sum("first_purchases")),
        ]
    );
    // Each step counts users of the step before it (new users), so none
    // is larger; conversions (any user's first purchase) would be.
    assert!(sum("first_purchases") > 0.0, "{steps:?}");
    assert!(
        sum("signups") >= sum("first_sessions") && sum("first_sessions") >= sum("first_purchases"),
        "{steps:?}"
    );
    assert!(sum("conversions") > sum("first_sessions"), "{sums:?}");
    assert!(
        funnel.iter().all(|f| f.rate.is_none_or(|r| r <= 1.0)),
        "{funnel:?}"
    );
}

type Totals = BTreeMap<(String, String), (i64, i64)>;

/// Sessions per service × outcome over `[from, to)` from the raw rows.
async fn raw_totals(pool: &PgPool, from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT service, 'started', count(*), 0::int8 FROM monitoring_sessions \
         WHERE started_at >= $1 AND started_at < $2 GROUP BY 1 \
         UNION ALL \
         SELECT service, CASE status WHEN 'completed' THEN 'completed' WHEN 'failed' THEN 'failed' \
                ELSE 'abandoned' END, count(*), sum(greatest(credits_used, 0))::int8 \
         FROM monitoring_sessions WHERE status <> 'active' \
           AND coalesce(ended_at, last_activity_at) >= $1 AND coalesce(ended_at, last_activity_at) < $2 \
         GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(s, o, n, c)| ((s, o), (n, c)))
        .collect()
}

async fn rollup_totals(pool: &PgPool) -> Totals {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT service, outcome, sum(sessions)::int8, sum(credits)::int8 FROM jfmon_rollup_usage GROUP BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(s, o, n, c)| ((s, o), (n, c)))
        .collect()
}

async fn span(pool: &PgPool) -> (DateTime<Utc>, DateTime<Utc>) {
    sqlx::query_as("SELECT covered_from, settled_to FROM jfmon_rollup_usage_state")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn usage_rollup_counts_each_minute_once_and_serves_the_day_ago_window(pool: PgPool) {
    simulate(&pool, 26, 0.1, 22).await;
    let jp = jfmon_pool(&pool).await;
    let mut f = Maintainer::new(jp.clone(), Role::Follow);
    assert!(f.try_lease().await.unwrap());
    while f.follow_all().await.unwrap().more {}
    let mut b = Maintainer::new(jp.clone(), Role::Backfill);
    assert!(b.try_lease().await.unwrap());
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut steps = 0;
    while !b
        .usage_backfill_step(now - TimeDelta::hours(26))
        .await
        .unwrap()
        .1
    {
        steps += 1;
    }
    assert!(steps >= 3, "the backfill went in slices ({steps})");
    // Again: nothing more is added, by either.
    assert!(
        b.usage_backfill_step(now - TimeDelta::hours(26))
            .await
            .unwrap()
            .1
    );
    while f.follow_all().await.unwrap().more {}
    let (from, to) = span(&pool).await;
    assert!(to - from >= TimeDelta::hours(25), "{from} .. {to}");
    let rolled = rollup_totals(&pool).await;
    assert!(rolled.len() >= 12, "{rolled:?}");
    assert_eq!(
        rolled,
        raw_totals(&pool, from, to).await,
        "each minute exactly once"
    );

    // The Usage view compares its window with the same window a day earlier.
    let hour = 3600;
    let mut p = poller(&pool, hour).await;
    let mut s = state(hour);
    poll_into(&mut p, &mut s).await;
    let start = window_start(s.now(), hour);
    let end = minute_start(jfmon::model::minute_of(s.now()) + 1);
    let past = raw_totals(&pool, start - TimeDelta::days(1), end - TimeDelta::days(1)).await;
    let u = s.usage();
    assert!(!u.services.is_empty());
    for svc in &u.services {
        let d = svc.day_ago.expect("a day of history");
        let get = |o: &str| {
            past.get(&(svc.service.clone(), o.to_string()))
                .map_or(0, |v| v.0)
        };
        assert_eq!(d.started, get("started") as u64, "{}", svc.service);
        let ended = get("completed") + get("failed") + get("abandoned");
        assert_eq!(
            d.completion_rate,
            (ended > 0).then(|| get("completed") as f64 / ended as f64),
            "{}",
            svc.service
        );
        assert!(svc.week_ago.is_none(), "no week of history: none shown");
    }
    assert!(u.total.day_ago.is_some() && u.total.week_ago.is_none());
    // Today's hours come from the sessions-started rollup.
    let h = u.hours.as_ref().expect("hour profile");
    assert_eq!(h.today.len(), 24);
}

/// Steps a loop may take before the test calls it unbounded (the old
/// stepping took one per six hours spanned: 120 for 30 days, ~80,000 down
/// to the epoch).
const STEP_LIMIT: usize = 12;

#[sqlx::test(migrations = "./migrations")]
async fn usage_catch_up_and_backfill_step_over_empty_stretches_and_count_each_minute_once(
    pool: PgPool,
) {
    // Sessions at a few instants over 45 days, long empty stretches between:
    // a start and an end in different steps, one still active, recent ones.
    for sql in [
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, last_activity_at, ended_at, credits_used) \
         SELECT 'old-' || g, 'voice', CASE WHEN g % 3 = 0 THEN 'failed' ELSE 'completed' END, \
                now() - interval '41 days' + make_interval(mins => g), \
                now() - interval '41 days' + make_interval(mins => g + 5), \
                now() - interval '41 days' + make_interval(mins => g + 5), g \
         FROM generate_series(1, 30) AS g",
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, last_activity_at, ended_at, credits_used) \
         VALUES ('long', 'chat', 'completed', now() - interval '20 days', now() - interval '19 days', \
                 now() - interval '19 days', 7), \
                ('gone', 'chat', 'abandoned', now() - interval '12 days', now() - interval '12 days' + interval '3 minutes', NULL, 2)",
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, last_activity_at) \
         VALUES ('still-on', 'voice', 'active', now() - interval '15 days', now())",
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, last_activity_at, ended_at, credits_used) \
         SELECT 'new-' || g, 'chat', 'completed', now() - interval '2 hours' + make_interval(secs => g * 7), \
                now() - interval '2 hours' + make_interval(secs => g * 7 + 60), \
                now() - interval '2 hours' + make_interval(secs => g * 7 + 60), 1 \
         FROM generate_series(1, 200) AS g",
        // The usage rollup stopped 30 days ago (no maintainer since).
        "INSERT INTO jfmon_rollup_usage_state (covered_from, settled_to) \
         VALUES (date_trunc('minute', now() - interval '30 days'), date_trunc('minute', now() - interval '30 days'))",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let jp = jfmon_pool(&pool).await;

    // Catching up 30 days: a step per stretch holding sessions, not per 6 h.
    let mut f = Maintainer::new(jp.clone(), Role::Follow);
    assert!(f.try_lease().await.unwrap());
    let mut steps = 1;
    while f.follow_all().await.unwrap().more {
        steps += 1;
        assert!(
            steps <= STEP_LIMIT,
            "the catch-up took over {STEP_LIMIT} steps"
        );
    }
    let (from, to) = span(&pool).await;
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(to >= now - TimeDelta::minutes(7), "caught up to {to}");
    assert_eq!(
        rollup_totals(&pool).await,
        raw_totals(&pool, from, to).await
    );

    // Backfilling below it: 15 days empty, then a burst 41 days ago.
    let mut b = Maintainer::new(jp.clone(), Role::Backfill);
    assert!(b.try_lease().await.unwrap());
    let mut steps = 0;
    while !b
        .usage_backfill_step(now - TimeDelta::days(60))
        .await
        .unwrap()
        .1
    {
        steps += 1;
        assert!(
            steps <= STEP_LIMIT,
            "the backfill took over {STEP_LIMIT} steps"
        );
    }
    let (from, to) = span(&pool).await;
    assert!(from <= now - TimeDelta::days(60), "covered from {from}");
    let rolled = rollup_totals(&pool).await;
    assert_eq!(
        rolled,
        raw_totals(&pool, from, to).await,
        "each minute once"
    );
    let raw_all = raw_totals(&pool, from - TimeDelta::days(365), to).await;
    assert_eq!(rolled, raw_all, "every settled session is in");
    assert_eq!(
        rolled.get(&("voice".into(), "failed".into())),
        Some(&(10, (1..=30).filter(|g| g % 3 == 0).sum::<i64>()))
    );

    // Down to the epoch, as `jfmon prune` asks: nothing is left below, so
    // one step says so; nothing more is added, and the follower has nothing.
    let mut steps = 0;
    while !b
        .usage_backfill_step(DateTime::<Utc>::UNIX_EPOCH)
        .await
        .unwrap()
        .1
    {
        steps += 1;
        assert!(steps <= STEP_LIMIT, "the backfill to the epoch did not end");
    }
    assert_eq!(span(&pool).await.0, DateTime::<Utc>::UNIX_EPOCH);
    while f.follow_all().await.unwrap().more {}
    let (from, to) = span(&pool).await;
    assert_eq!(
        rollup_totals(&pool).await,
        raw_totals(&pool, from, to).await
    );
    assert_eq!(rollup_totals(&pool).await, rolled);
}

type Slots = BTreeMap<(Minute, String), UsageMinute>;

/// `minutes` summed into slots of `step` minutes.
fn reslot(minutes: &Slots, step: i64) -> Slots {
    let mut out = Slots::new();
    for ((m, service), u) in minutes {
        out.entry((slot_of(*m, step), service.clone()))
            .or_default()
            .merge(u);
    }
    out
}

/// A fresh load of the last `window` seconds, with or without the rollups:
/// what it sent of usage, per slot × service (a slot's parts, rollup and
/// raw, summed). Every minute sent is one the store keeps.
async fn load(pool: &PgPool, window: u64, rollups: bool) -> Slots {
    let mut p = poller(pool, window).await;
    p.set_use_rollups(rollups);
    let b = p.poll().await.expect("load");
    let u = b.usage.as_ref().expect("usage");
    let first = window_first_minute(b.now, window);
    let mut sent = Slots::new();
    for (m, service, x) in &u.minutes {
        assert!(*m >= u.from && *m >= first, "minute {m} before {}", u.from);
        // Per minute (raw) or per slot (rollup), both possibly in one slot.
        sent.entry((slot_of(*m, slot_minutes(window)), service.clone()))
            .or_default()
            .merge(x);
    }
    sent
}

/// `low` for the slots before `at`, `high` from it on.
fn split(low: &Slots, high: &Slots, at: Minute) -> Slots {
    low.iter()
        .filter(|((m, _), _)| *m < at)
        .chain(high.iter().filter(|((m, _), _)| *m >= at))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn usage_state(pool: &PgPool) -> (DateTime<Utc>, DateTime<Utc>, Vec<i64>) {
    sqlx::query_as(
        "SELECT covered_from, settled_to, followed FROM jfmon_rollup_usage_state \
         WHERE followed_at = updated_at",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

const DAY: u64 = 86_400;
/// Six hours: minutes are slots.
const SIX_HOURS: u64 = 6 * 3_600;

#[sqlx::test(migrations = "./migrations")]
async fn a_window_from_the_usage_rollup_equals_the_raw_read_late_ends_included(pool: PgPool) {
    simulate(&pool, 5, 0.3, 24).await;
    // Half the active sessions idle for an hour: a clean-up job will close
    // them at their last activity.
    let idle = sqlx::query(
        "UPDATE monitoring_sessions SET last_activity_at = now() - interval '1 h' \
         WHERE status = 'active' AND id % 2 = 0",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(idle > 0);
    let jp = jfmon_pool(&pool).await;
    let mut f = Maintainer::new(jp.clone(), Role::Follow);
    assert!(f.try_lease().await.unwrap());
    while f.follow_all().await.unwrap().more {}
    let mut bf = Maintainer::new(jp.clone(), Role::Backfill);
    assert!(bf.try_lease().await.unwrap());
    let cutoff = Utc::now() - TimeDelta::hours(6);
    while !bf.usage_backfill_step(cutoff).await.unwrap().1 {}
    let (_, settled, followed) = usage_state(&pool).await;
    assert_eq!(
        followed.len() as u64,
        idle,
        "the idle sessions are followed"
    );

    // The day (rollup slots, then raw minutes after them) equals the raw read.
    let raw_day = load(&pool, DAY, false).await;
    assert!(raw_day.values().map(UsageMinute::ended).sum::<u64>() > 100);
    assert!(raw_day.values().map(|u| u.duration.count()).sum::<u64>() > 100);
    assert_eq!(load(&pool, DAY, true).await, raw_day);

    // The rollup is what serves the minutes it holds: with the raw rows of
    // sessions that ended before `pruned` gone, the window still shows them.
    let step = slot_minutes(DAY);
    let pruned = slot_of(minute_of(settled) - 60, step);
    let gone = sqlx::query(
        "DELETE FROM monitoring_sessions WHERE status <> 'active' \
           AND coalesce(ended_at, last_activity_at) < $1",
    )
    .bind(minute_start(pruned))
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(gone > 50, "{gone}");
    let expected = |raw: &Slots| split(&raw_day, raw, pruned);
    let raw = load(&pool, DAY, false).await;
    assert_ne!(raw, raw_day);
    assert_eq!(load(&pool, DAY, true).await, expected(&raw));

    // The clean-up job closes the idle sessions: their ends lie an hour
    // back, in minutes the rollup has added. Before the next step the load
    // reads them beside the rollup; after it, the rollup has them; a step
    // after that adds nothing again.
    sqlx::query(
        "UPDATE monitoring_sessions SET status = 'abandoned', ended_at = NULL, credits_used = 3 \
         WHERE id = ANY($1)",
    )
    .bind(&followed)
    .execute(&pool)
    .await
    .unwrap();
    let raw = load(&pool, DAY, false).await;
    assert_eq!(load(&pool, DAY, true).await, expected(&raw), "read beside");
    while f.follow_all().await.unwrap().more {}
    assert_eq!(load(&pool, DAY, true).await, expected(&raw), "added");
    f.follow_all().await.unwrap();
    assert_eq!(load(&pool, DAY, true).await, expected(&raw), "added once");
    assert!(usage_state(&pool).await.2.is_empty());

    // A rollup kept by an older jfmon until two hours ago (rows without
    // details before it), `detailed_from` inside a slot: the minutes before
    // it come from raw rows, the rest from the rollup, by minute at 6 h
    // and summed into the same slots at 24 h.
    let rolled = load(&pool, SIX_HOURS, true).await;
    // Two minutes into the slot of about two hours ago, whatever the clock.
    let detailed = slot_of(minute_of(settled) - 122, step) + 2;
    assert_ne!(detailed % step, 0);
    sqlx::query("UPDATE jfmon_rollup_usage_state SET detailed_from = $1")
        .bind(minute_start(detailed))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE jfmon_rollup_usage SET duration = NULL, quick = NULL \
         WHERE minute < $1 AND outcome <> 'started'",
    )
    .bind(minute_start(detailed))
    .execute(&pool)
    .await
    .unwrap();
    let raw6 = load(&pool, SIX_HOURS, false).await;
    let mixed = split(&raw6, &rolled, detailed);
    assert!(mixed != raw6 && mixed != rolled);
    assert_eq!(load(&pool, SIX_HOURS, true).await, mixed);
    assert_eq!(load(&pool, DAY, true).await, reslot(&mixed, step));

    // A row without details where they should be (an older jfmon wrote it
    // while this one was not keeping the rollup): the whole window from raw
    // rows.
    let undetailed = sqlx::query(
        "UPDATE jfmon_rollup_usage SET duration = NULL, quick = NULL \
         WHERE (minute, service, outcome) IN (SELECT minute, service, outcome FROM jfmon_rollup_usage \
                WHERE outcome = 'completed' AND minute >= $1 ORDER BY minute LIMIT 1)",
    )
    .bind(minute_start(detailed))
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(undetailed, 1);
    assert_eq!(load(&pool, DAY, true).await, load(&pool, DAY, false).await);

    // An older jfmon moved the position (its rows lack details, and it
    // followed nothing): the next step keeps the details from where its
    // minutes end.
    sqlx::query(
        "UPDATE jfmon_rollup_usage_state SET detailed_from = covered_from, \
                updated_at = clock_timestamp()",
    )
    .execute(&pool)
    .await
    .unwrap();
    f.follow_all().await.unwrap();
    let d: DateTime<Utc> = sqlx::query_scalar("SELECT detailed_from FROM jfmon_rollup_usage_state")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(d >= settled, "{d} < {settled}");
}

/// `jfmon check --json`: its status, and the findings it reports under
/// `name` as "LEVEL: message".
fn check_findings(pool: &PgPool, name: &str) -> (String, Vec<String>) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(["check", "--json"])
        .env("DATABASE_URL", url_of(pool))
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .expect("run jfmon");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let found = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == name)
        .map(|f| {
            format!(
                "{}: {}",
                f["level"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    (v["status"].as_str().unwrap().to_owned(), found)
}

/// `n` sessions with ids `idle-<from>`… marked `status`, idle for half an
/// hour and more (`last_activity_at` a minute ago instead when `recent`).
async fn sessions(pool: &PgPool, (from, n): (i64, i64), status: &str, recent: bool) {
    sqlx::query(
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, \
                                          last_activity_at, ended_at) \
         SELECT 'idle-' || g, 'guidance', $3, now() - interval '40 minutes', \
                CASE WHEN $4 THEN now() - interval '1 minute' \
                     ELSE now() - interval '30 minutes' - make_interval(secs => g) END, \
                CASE WHEN $3 <> 'active' THEN now() - interval '30 minutes' END \
         FROM generate_series($1::int8, $1::int8 + $2::int8 - 1) AS g",
    )
    .bind(from)
    .bind(n)
    .bind(status)
    .bind(recent)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "./migrations")]
async fn check_warns_when_more_idle_sessions_could_end_late_than_the_rollup_follows(pool: PgPool) {
    use jfmon::rollup::usage::FOLLOW_CAP;
    let over = FOLLOW_CAP + 1;
    sessions(&pool, (1, over), "active", false).await;
    // Not counted: sessions active a minute ago, and ended ones.
    sessions(&pool, (over + 1, 5), "active", true).await;
    sessions(&pool, (over + 6, 5), "completed", false).await;
    let no_finding = |(status, found): (String, Vec<String>)| {
        assert!(status == "OK" || status == "WARNING", "{status}");
        assert_eq!(found, Vec::<String>::new());
    };
    // No usage rollup kept yet: nothing to say.
    no_finding(check_findings(&pool, "usage-rollup"));
    let jp = jfmon_pool(&pool).await;
    let mut f = Maintainer::new(jp.clone(), Role::Follow);
    assert!(f.try_lease().await.unwrap());
    while f.follow_all().await.unwrap().more {}
    assert_eq!(usage_state(&pool).await.2.len() as i64, FOLLOW_CAP);
    let warning = vec![format!(
        "WARNING: {over} sessions are still active but idle for over 5 minutes, more than the \
         {FOLLOW_CAP} the usage rollup follows — ends recorded late for the others are not \
         counted; check that the platform closes idle sessions"
    )];
    assert_eq!(check_findings(&pool, "usage-rollup").1, warning);
    // A rollup nobody followed for hours: counted up to where its next step
    // will settle, not up to where it stands.
    sqlx::query("UPDATE jfmon_rollup_usage_state SET settled_to = settled_to - interval '3 hours'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(check_findings(&pool, "usage-rollup").1, warning);
    // One of them ends: as many as it follows, all followed.
    sqlx::query(
        "UPDATE monitoring_sessions SET status = 'abandoned', ended_at = last_activity_at \
         WHERE session_id = 'idle-1'",
    )
    .execute(&pool)
    .await
    .unwrap();
    no_finding(check_findings(&pool, "usage-rollup"));
}
