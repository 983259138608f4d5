//! "Today" in the business strip starts at midnight in `business_timezone`
//! (issue 9), each test in its own database: the day's bounds (also on a
//! daylight-saving day), today's totals around midnight in Asia/Kolkata
//! against exact SQL, from the rollups and from the raw rows, a new day's
//! totals without the rows a poller has not read, and the store rolling over
//! at the zone's midnight.

mod common;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::*;
use jfmon::db::today::{TodayFrom, day_bounds, load_today, next_today};
use jfmon::model::{Batch, Today, Update, minute_of};
use jfmon::rollup::read::PgRollups;
use jfmon::rollup::{Maintainer, Role};
use sqlx::PgPool;

const KOLKATA: &str = "Asia/Kolkata";

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// Midnight in Kolkata on 2026-11-29 is 2026-11-28 18:30 UTC.
fn ist_midnight() -> DateTime<Utc> {
    utc(2026, 11, 28, 18, 30, 0)
}

/// `n` business rows every `every_secs` seconds from `from` on, values 1..=n,
/// alternating two metrics.
async fn insert_business(pool: &PgPool, from: DateTime<Utc>, n: i32, every_secs: i32) {
    sqlx::query(
        "INSERT INTO monitoring_business_metrics (metric, value, unit, recorded_at) \
         SELECT CASE WHEN i % 2 = 0 THEN 'revenue' ELSE 'credits_used' END, i, 'x', \
                $1::timestamptz + make_interval(secs => i * $3) \
         FROM generate_series(1, $2) AS i",
    )
    .bind(from)
    .bind(n)
    .bind(every_secs as f64)
    .execute(pool)
    .await
    .expect("insert business rows");
}

/// Exact totals by metric since `since`, optionally without ids in `lo..=hi`.
async fn exact_since(
    pool: &PgPool,
    since: DateTime<Utc>,
    without: Option<(i64, i64)>,
) -> Vec<(String, f64)> {
    let (lo, hi) = without.unwrap_or((0, -1));
    sqlx::query_as(
        "SELECT metric, sum(value) FROM monitoring_business_metrics \
         WHERE recorded_at >= $1 AND id NOT BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1",
    )
    .bind(since)
    .bind(lo)
    .bind(hi)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn sorted(t: &Today) -> Vec<(String, f64)> {
    t.totals.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

async fn max_id(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(id), 0)::int8 FROM monitoring_business_metrics")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn day_bounds_follow_the_zone_and_daylight_saving(pool: PgPool) {
    let mut c = pool.acquire().await.unwrap();
    // One second before and after midnight in Kolkata (UTC+05:30).
    let before = ist_midnight() - TimeDelta::seconds(1);
    let (s, e) = day_bounds(&mut c, KOLKATA, before).await.unwrap();
    assert_eq!(
        (s, e),
        (utc(2026, 11, 27, 18, 30, 0), utc(2026, 11, 28, 18, 30, 0))
    );
    let (s, e) = day_bounds(&mut c, KOLKATA, ist_midnight()).await.unwrap();
    assert_eq!((s, e), (ist_midnight(), utc(2026, 11, 29, 18, 30, 0)));
    // UTC is the default zone's day.
    let (s, e) = day_bounds(&mut c, "UTC", before).await.unwrap();
    assert_eq!(
        (s, e),
        (utc(2026, 11, 28, 0, 0, 0), utc(2026, 11, 29, 0, 0, 0))
    );
    // Berlin leaves summer time on 2026-10-25: that day lasts 25 hours.
    let (s, e) = day_bounds(&mut c, "Europe/Berlin", utc(2026, 10, 25, 12, 0, 0))
        .await
        .unwrap();
    assert_eq!(
        (s, e),
        (utc(2026, 10, 24, 22, 0, 0), utc(2026, 10, 25, 23, 0, 0))
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn today_around_kolkata_midnight_matches_exact_sql_from_rollups_and_raw_rows(pool: PgPool) {
    // Every 20 s from 23:00 to 01:00 IST around the midnight, and the day before.
    insert_business(&pool, ist_midnight() - TimeDelta::days(1), 30, 600).await;
    insert_business(&pool, ist_midnight() - TimeDelta::minutes(60), 360, 20).await;
    let jp = jfmon_pool(&pool).await;
    let mut c = jp.acquire().await.unwrap();
    let none: Option<&PgRollups> = None;

    for now in [
        ist_midnight() - TimeDelta::seconds(30),
        ist_midnight() + TimeDelta::seconds(30),
    ] {
        let (start, _) = day_bounds(&mut c, KOLKATA, now).await.unwrap();
        let exact = exact_since(&pool, start, None).await;
        let (t, from) = load_today(&mut c, none, KOLKATA, now, max_id(&pool).await)
            .await
            .unwrap();
        assert_eq!(from, TodayFrom::RawRows);
        assert_eq!((t.day_start, t.zone.as_deref()), (start, Some(KOLKATA)));
        assert_eq!(sorted(&t), exact, "raw rows at {now}");
    }
    // A minute after midnight the day holds only the rows since 18:30 UTC.
    let after = ist_midnight() + TimeDelta::seconds(30);
    let (t, _) = load_today(&mut c, none, KOLKATA, after, max_id(&pool).await)
        .await
        .unwrap();
    let since_midnight: f64 = exact_since(&pool, ist_midnight(), None)
        .await
        .iter()
        .map(|x| x.1)
        .sum();
    assert_eq!(t.totals.values().sum::<f64>(), since_midnight);
    assert!(since_midnight > 0.0);

    // From the rollups, with a raw tail they have not counted yet.
    let mut m = Maintainer::new(jp.clone(), Role::Follow);
    assert!(m.try_lease().await.unwrap());
    while m.follow_all().await.unwrap().more {}
    insert_business(&pool, ist_midnight() + TimeDelta::minutes(5), 40, 3).await;
    for now in [
        ist_midnight() - TimeDelta::seconds(30),
        ist_midnight() + TimeDelta::seconds(30),
    ] {
        let (start, _) = day_bounds(&mut c, KOLKATA, now).await.unwrap();
        let (t, from) = load_today(&mut c, Some(&PgRollups), KOLKATA, now, max_id(&pool).await)
            .await
            .unwrap();
        assert_eq!(from, TodayFrom::Rollups);
        assert_eq!(
            sorted(&t),
            exact_since(&pool, start, None).await,
            "rollups at {now}"
        );
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn a_new_day_counts_only_the_rows_the_poller_has_read(pool: PgPool) {
    insert_business(&pool, ist_midnight() - TimeDelta::minutes(2), 40, 6).await;
    let hwm = max_id(&pool).await;
    // Ids 30..=33 are a gap the poller has not read yet (they arrive later
    // and are added to today then): not counted now.
    let mut c = pool.acquire().await.unwrap();
    let after = ist_midnight() + TimeDelta::seconds(5);
    let t = next_today(&mut c, KOLKATA, after, hwm, (vec![30], vec![33]))
        .await
        .unwrap();
    assert_eq!(t.day_start, ist_midnight());
    assert_eq!(t.day_end, Some(ist_midnight() + TimeDelta::days(1)));
    assert_eq!(
        sorted(&t),
        exact_since(&pool, ist_midnight(), Some((30, 33))).await
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn a_poll_starts_today_at_midnight_in_the_business_zone(pool: PgPool) {
    // The last 30 hours, every 5 minutes: the Kolkata day and the UTC day
    // differ (unless it is just past midnight in both, which they never are
    // at once: they are 5:30 apart).
    let from: DateTime<Utc> = sqlx::query_scalar("SELECT now() - interval '30 hours'")
        .fetch_one(&pool)
        .await
        .unwrap();
    insert_business(&pool, from, 360, 300).await;
    let midnight: DateTime<Utc> = sqlx::query_scalar("SELECT date_trunc('day', now(), $1)")
        .bind(KOLKATA)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut p = poller(&pool, 900).await;
    p.set_business_timezone(KOLKATA);
    let b = p.poll().await.unwrap();
    let t = b.today.clone().expect("today");
    assert_eq!(p.today_from(), Some(TodayFrom::RawRows));
    assert_eq!(t.day_start, midnight);
    assert_eq!(sorted(&t), exact_since(&pool, midnight, None).await);
    let mut s = state(900);
    s.apply(Update::Batch(Box::new(b)));
    assert_eq!(s.business().today_zone.as_deref(), Some(KOLKATA));
    assert_eq!(
        s.business().today.values().sum::<f64>(),
        exact_since(&pool, midnight, None)
            .await
            .iter()
            .map(|x| x.1)
            .sum::<f64>()
    );

    // With current rollups the same figures come from them.
    let mut m = Maintainer::new(jfmon_pool(&pool).await, Role::Follow);
    assert!(m.try_lease().await.unwrap());
    while m.follow_all().await.unwrap().more {}
    let mut p = poller(&pool, 900).await;
    p.set_business_timezone(KOLKATA);
    let b = p.poll().await.unwrap();
    assert_eq!(p.today_from(), Some(TodayFrom::Rollups));
    assert_eq!(
        sorted(&b.today.unwrap()),
        exact_since(&pool, midnight, None).await
    );
}

#[test]
fn the_store_rolls_over_at_the_zones_midnight() {
    let mut s = state(3_600);
    let m = |t: DateTime<Utc>| minute_of(t);
    let day_start = ist_midnight() - TimeDelta::days(1);
    let before = ist_midnight() - TimeDelta::minutes(2);
    s.apply(Update::Batch(Box::new(Batch {
        reset: true,
        now: before,
        window_secs: 3_600,
        business: vec![(m(before) - 10, "revenue".into(), 5.0)],
        today: Some(Today {
            day_start,
            totals: [("revenue".to_string(), 100.0)].into_iter().collect(),
            day_end: Some(ist_midnight()),
            zone: Some(KOLKATA.into()),
        }),
        ..Default::default()
    })));
    assert_eq!(s.business().today.get("revenue"), Some(&100.0));
    // Rows before and after the midnight; the batch is dated after it.
    let after = ist_midnight() + TimeDelta::minutes(1);
    s.apply(Update::Batch(Box::new(Batch {
        now: after,
        window_secs: 3_600,
        business: vec![
            (m(ist_midnight()) - 1, "revenue".into(), 7.0),
            (m(ist_midnight()), "revenue".into(), 3.0),
        ],
        ..Default::default()
    })));
    // Today is the minutes since midnight in Kolkata only.
    assert_eq!(s.business().today.get("revenue"), Some(&3.0));
    assert_eq!(s.business().window.get("revenue"), Some(&15.0));
}
