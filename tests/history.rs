//! Long windows (issue 9), each test in its own database: a week's window
//! held in coarse slots still matches `percentile_disc`; a month opened from
//! rollups equals the same month from raw rows; a progressive load (newest
//! slice first, the rest by a history job) ends in exactly the window a
//! complete load gives, while live rows keep arriving and being applied; a
//! window change in the middle of such a load ends in the new window's data;
//! a call that commits late, dated in an older slice, counts once; a read
//! beside the load sees the load's snapshot.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use jfmon::db::history::FIRST_SLICE;
use jfmon::model::{Batch, Update, minute_of, minute_start, slot_minutes, window_first_minute};
use jfmon::rollup::{Maintainer, Role, Rollup};
use jfmon::source::{SourceCommand, link_pair};
use jfmon::store::State;
use sqlx::PgPool;

const HOUR: f64 = 3600.0;

/// Insert `n` API calls with ages (seconds before the database's now) drawn
/// uniformly from `bands`, on the four [`ENDPOINTS`] with heavy-tailed
/// latencies and ~5 % server errors.
async fn insert_aged(pool: &PgPool, rng: &mut Rng, n: usize, bands: &[(f64, f64)]) {
    let total: f64 = bands.iter().map(|(lo, hi)| hi - lo).sum();
    let (mut e, mut m, mut s, mut rt, mut ago) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let (ep, method, median) = ENDPOINTS[(rng.next() % ENDPOINTS.len() as u64) as usize];
        e.push(ep.to_owned());
        m.push(method.to_owned());
        s.push(if rng.unit() < 0.05 { 503 } else { 200 });
        rt.push(rng.latency(median));
        let mut x = rng.unit() * total;
        let mut age = 0.0;
        for (lo, hi) in bands {
            if x < hi - lo {
                age = lo + x;
                break;
            }
            x -= hi - lo;
        }
        ago.push(age);
    }
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         SELECT e, m, s, r, now()::timestamp - make_interval(secs => a) \
         FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::float8[]) AS t(e, m, s, r, a)",
    )
    .bind(e)
    .bind(m)
    .bind(s)
    .bind(rt)
    .bind(ago)
    .execute(pool)
    .await
    .expect("insert api calls");
}

/// Per endpoint: requests, errors, p50, p95, p99 by `percentile_disc`, over
/// the rows from `start` on.
type Exact = BTreeMap<String, (i64, i64, [f64; 3])>;

async fn exact_since(pool: &PgPool, start: DateTime<Utc>) -> Exact {
    let rows: Vec<(String, i64, i64, i32, i32, i32)> = sqlx::query_as(
        "SELECT method || ' ' || endpoint, count(*), count(*) FILTER (WHERE status_code >= 500), \
                percentile_disc(0.5) WITHIN GROUP (ORDER BY response_time), \
                percentile_disc(0.95) WITHIN GROUP (ORDER BY response_time), \
                percentile_disc(0.99) WITHIN GROUP (ORDER BY response_time) \
         FROM monitoring_api_calls WHERE timestamp >= $1::timestamptz::timestamp GROUP BY 1",
    )
    .bind(start)
    .fetch_all(pool)
    .await
    .expect("exact");
    rows.into_iter()
        .map(|(k, n, e, a, b, c)| (k, (n, e, [a as f64, b as f64, c as f64])))
        .collect()
}

/// The store's view of the same: requests, errors, p50, p95, p99.
fn ours(s: &State) -> Exact {
    s.endpoints()
        .iter()
        .map(|e| {
            (
                e.key().to_string(),
                (
                    e.requests as i64,
                    e.errors as i64,
                    [e.p50_ms, e.p95_ms, e.p99_ms].map(|p| p.unwrap_or(-1.0)),
                ),
            )
        })
        .collect()
}

fn assert_within_one_percent(ours: &Exact, exact: &Exact) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        exact.keys().collect::<Vec<_>>()
    );
    for (k, (n, e, p)) in exact {
        let (on, oe, op) = &ours[k];
        assert_eq!((on, oe), (n, e), "{k}: requests, errors");
        for i in 0..3 {
            assert!(
                (op[i] - p[i]).abs() <= 0.01 * p[i].max(1.0),
                "{k} percentile {i}: jfmon {} vs percentile_disc {}",
                op[i],
                p[i]
            );
        }
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn a_week_in_coarse_slots_matches_percentile_disc(pool: PgPool) {
    let mut rng = Rng(0x7d7d);
    // Eight days: some of it outside the window.
    insert_aged(&pool, &mut rng, 12_000, &[(0.0, 8.0 * 24.0 * HOUR)]).await;
    let w = 7 * 86_400;
    let mut p = poller(&pool, w).await;
    let b = p.poll().await.unwrap();
    // The load delivers slots, not minutes: at most one per 30 minutes.
    let step = slot_minutes(w);
    assert_eq!(step, 30);
    assert!(b.api.iter().all(|(m, ..)| m % step == 0));
    assert!(b.api.len() <= 4 * 337, "{} api slots", b.api.len());
    let start = minute_start(window_first_minute(b.now, w));
    let mut s = state(w);
    s.apply(Update::Batch(Box::new(b)));
    assert!(s.slots() <= 4 * 337, "{} slots held", s.slots());
    assert_within_one_percent(&ours(&s), &exact_since(&pool, start).await);
    for e in s.endpoints() {
        assert!(e.series.len() <= 337);
        assert_eq!(e.series.iter().map(|p| p.requests).sum::<u64>(), e.requests);
    }
}

async fn follow_until_idle(m: &mut Maintainer) {
    while m.follow_all().await.expect("follow").more {}
}

#[sqlx::test(migrations = "./migrations")]
async fn a_month_from_rollups_equals_the_month_from_raw_rows(pool: PgPool) {
    let mut rng = Rng(0x3030);
    insert_aged(&pool, &mut rng, 6_000, &[(60.0, 20.0 * 24.0 * HOUR)]).await;
    let jp = jfmon_pool(&pool).await;
    let mut f = Maintainer::new(jp.clone(), Role::Follow);
    assert!(f.try_lease().await.unwrap());
    follow_until_idle(&mut f).await;
    let mut bf = Maintainer::new(jp.clone(), Role::Backfill);
    assert!(bf.try_lease().await.unwrap());
    let cutoff = Utc::now() - chrono::Duration::days(31);
    for r in Rollup::ALL {
        while !bf.backfill_step(r, cutoff, 5_000).await.unwrap().done {}
    }
    // A raw tail the rollups have not counted.
    insert_aged(&pool, &mut rng, 300, &[(0.0, 50.0)]).await;

    let w = 30 * 86_400;
    let mut from_rollups = poller(&pool, w).await;
    let mut from_raw = poller(&pool, w).await;
    from_raw.set_use_rollups(false);
    let a = from_rollups.poll().await.unwrap();
    let b = from_raw.poll().await.unwrap();
    assert_eq!(from_rollups.history(), Some("rollups"));
    assert_eq!(from_raw.history(), Some("raw rows"));
    assert_eq!(a.api.iter().map(|x| x.2.requests).sum::<u64>(), 6_300);
    assert!(a.api.iter().all(|(m, ..)| m % 120 == 0));
    assert!(a.api.len() <= 4 * 361);
    assert_eq!(a.api, b.api);
    assert_eq!(a.integrations, b.integrations);
    assert_eq!(a.business, b.business);
}

/// Mirror everything a source sends into a store; returns the history label
/// of every status and whether each batch was a reset, a past slice or live.
struct Mirror {
    state: State,
    labels: Vec<String>,
    /// For each batch: 'r' reset, 'p' past slice, 'l' live rows, '.' nothing new.
    kinds: String,
}

impl Mirror {
    fn new(w: u64) -> Self {
        Mirror {
            state: state(w),
            labels: Vec::new(),
            kinds: String::new(),
        }
    }

    fn take(&mut self, u: Update) {
        match &u {
            Update::Source(s) => self.labels.push(s.history.clone().unwrap_or_default()),
            Update::Batch(b) => self.kinds.push(kind(b)),
            Update::RuleAlerts(_) => {}
        }
        self.state.apply(u);
    }

    fn done(&self) -> bool {
        self.labels.last().is_some_and(|l| l == "raw rows")
    }
}

fn kind(b: &Batch) -> char {
    if b.reset {
        'r'
    } else if b.past {
        'p'
    } else if !b.api.is_empty() {
        'l'
    } else {
        '.'
    }
}

/// The database source on `p`, polling every `interval`, as the dashboard
/// runs it (progressive loads); its task and the dashboard's end of the link.
fn run_source(
    p: jfmon::db::poller::Poller,
    interval: Duration,
) -> (tokio::task::JoinHandle<()>, jfmon::source::SourceHandle) {
    let (link, handle) = link_pair();
    let source = tokio::spawn(jfmon::source::postgres::run(
        p,
        "postgres://test".into(),
        "test".into(),
        interval,
        link,
    ));
    (source, handle)
}

/// Rows of a 30-hour history, none within half an hour of the window edges
/// used below (24 h, 6 h), so a window start that moves a minute during the
/// test changes nothing.
async fn long_history(pool: &PgPool, rng: &mut Rng) {
    let bands = [
        (60.0, 5.5 * HOUR),
        (6.5 * HOUR, 23.5 * HOUR),
        (24.5 * HOUR, 30.0 * HOUR),
    ];
    insert_aged(pool, rng, 8_000, &bands).await;
}

/// A complete (non-progressive) load of the window, for comparison.
async fn complete(pool: &PgPool, w: u64) -> State {
    let mut p = poller(pool, w).await;
    let mut s = state(w);
    poll_into(&mut p, &mut s).await;
    s
}

#[sqlx::test(migrations = "./migrations")]
async fn live_rows_arrive_while_a_long_window_loads_and_it_ends_exact(pool: PgPool) {
    let mut rng = Rng(0x1f1f);
    long_history(&pool, &mut rng).await;
    let w = 24 * 3600;
    let mut p = poller(&pool, w).await;
    p.set_history_pace(Duration::from_millis(300));
    let (source, mut handle) = run_source(p, Duration::from_millis(100));
    // A writer adds live rows while the history loads.
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut rng = Rng(0x2e2e);
            for _ in 0..30 {
                insert_aged(&pool, &mut rng, 5, &[(0.0, 1.0)]).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut m = Mirror::new(w);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(m.done() && writer.is_finished()) {
        let u = tokio::time::timeout_at(deadline, handle.updates.recv())
            .await
            .expect("the history loads within a minute")
            .expect("source running");
        m.take(u);
    }
    // The first screen came from the newest slice (a quarter of an hour
    // from the start of a 5-minute slot), with progress shown.
    let first: i64 = m.labels[0]
        .strip_prefix("raw rows ")
        .and_then(|l| l.strip_suffix("m of 1d…"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", m.labels));
    assert!((15..=20).contains(&first), "{:?}", m.labels);
    // Live batches were applied between the older slices.
    let first_p = m.kinds.find('p').expect("past slices");
    let last_p = m.kinds.rfind('p').unwrap();
    assert!(
        m.kinds[first_p..last_p].contains('l'),
        "no live rows during the load: {}",
        m.kinds
    );
    // One more poll after the writer stopped, then exactly the window.
    handle
        .commands
        .send(SourceCommand::RefreshNow)
        .await
        .unwrap();
    let seen = m.kinds.len();
    while m.kinds.len() == seen {
        m.take(handle.updates.recv().await.unwrap());
    }
    let full = complete(&pool, w).await;
    assert_eq!(ours(&m.state), ours(&full));
    drop(handle);
    source.abort();
}

#[sqlx::test(migrations = "./migrations")]
async fn the_header_says_complete_when_the_history_is_in_not_at_the_next_poll(pool: PgPool) {
    let mut rng = Rng(0x7a7a);
    long_history(&pool, &mut rng).await;
    let w = 24 * 3600;
    let p = poller(&pool, w).await;
    // An hour between polls: only the history job's end can bring the
    // complete label in time.
    let (source, mut handle) = run_source(p, Duration::from_secs(3600));
    let mut m = Mirror::new(w);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !m.done() {
        let u = tokio::time::timeout_at(deadline, handle.updates.recv())
            .await
            .unwrap_or_else(|_| panic!("no complete label before the next poll: {:?}", m.labels))
            .expect("source running");
        m.take(u);
    }
    assert!(
        m.labels[0].starts_with("raw rows ") && m.labels[0].ends_with('…'),
        "{:?}",
        m.labels
    );
    assert_eq!(ours(&m.state), ours(&complete(&pool, w).await));
    drop(handle);
    source.abort();
}

/// The key the late call of the test below shows under.
const LATE: &str = "GET /api/late";

#[sqlx::test(migrations = "./migrations")]
async fn a_call_that_commits_late_in_an_older_slice_counts_once(pool: PgPool) {
    let mut rng = Rng(0x3d3d);
    long_history(&pool, &mut rng).await;
    // A transaction writes a call dated 12 h ago and stays open across the
    // first screen, while later ids commit: its id is a gap of the load.
    let mut late = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         VALUES ('/api/late', 'GET', 200, 42, now()::timestamp - interval '12 hours')",
    )
    .execute(&mut *late)
    .await
    .unwrap();
    insert_aged(&pool, &mut rng, 10, &[(60.0, 120.0)]).await;
    let w = 24 * 3600;
    let mut p = poller(&pool, w).await;
    p.set_history_pace(Duration::from_millis(300));
    let (source, mut handle) = run_source(p, Duration::from_millis(100));
    let mut m = Mirror::new(w);
    while !m.kinds.contains('r') {
        m.take(handle.updates.recv().await.unwrap());
    }
    // It commits after the first screen, before the slice of 12 h ago is
    // read: that slice must leave it to the live tail (it is in the gaps).
    late.commit().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(m.done() && ours(&m.state).contains_key(LATE)) {
        let u = tokio::time::timeout_at(deadline, handle.updates.recv())
            .await
            .expect("the history loads and the late call arrives within a minute")
            .expect("source running");
        m.take(u);
    }
    assert_eq!(ours(&m.state)[LATE].0, 1, "counted once");
    assert_eq!(ours(&m.state), ours(&complete(&pool, w).await));
    drop(handle);
    source.abort();
}

#[sqlx::test(migrations = "./migrations")]
async fn a_read_beside_the_load_sees_the_loads_snapshot(pool: PgPool) {
    use jfmon::db::aside::{Aside, Read, Snapshot};
    let mut rng = Rng(0x4e4e);
    insert_aged(&pool, &mut rng, 50, &[(60.0, 600.0)]).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .unwrap();
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM monitoring_api_calls")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let snapshot = Snapshot::export(&pool, &mut tx, Duration::from_secs(30))
        .await
        .expect("PostgreSQL exports the snapshot");
    // Rows committed after the load's snapshot was taken ...
    insert_aged(&pool, &mut rng, 7, &[(1.0, 2.0)]).await;
    let count = || -> Read<i64> {
        Box::new(|c| {
            Box::pin(async move {
                sqlx::query_scalar("SELECT count(*) FROM monitoring_api_calls")
                    .fetch_one(c)
                    .await
            })
        })
    };
    // ... are not seen beside it, on another connection ...
    let aside = Aside::start(Some(&snapshot), &mut tx, count())
        .await
        .unwrap();
    assert!(matches!(aside, Aside::Running(_)));
    assert_eq!(aside.get().await.unwrap(), before);
    // ... nor in it, without an exported snapshot.
    let inline = Aside::start(None, &mut tx, count()).await.unwrap();
    assert!(matches!(inline, Aside::Done(_)));
    assert_eq!(inline.get().await.unwrap(), before);
    tx.commit().await.unwrap();
}

#[sqlx::test(migrations = "./migrations")]
async fn a_window_change_mid_load_ends_in_the_new_windows_data(pool: PgPool) {
    let mut rng = Rng(0x6c6c);
    long_history(&pool, &mut rng).await;
    let mut p = poller(&pool, 24 * 3600).await;
    p.set_history_pace(Duration::from_millis(400));
    let (source, mut handle) = run_source(p, Duration::from_millis(100));
    let w = 6 * 3600;
    let mut m = Mirror::new(24 * 3600);
    // Change the window once the first older slice of the day arrived.
    while !m.kinds.contains('p') {
        m.take(handle.updates.recv().await.unwrap());
    }
    handle
        .commands
        .send(SourceCommand::SetWindow(Duration::from_secs(w)))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut resets = 0;
    loop {
        let u = tokio::time::timeout_at(deadline, handle.updates.recv())
            .await
            .expect("the new window loads within a minute")
            .unwrap();
        if let Update::Batch(b) = &u
            && b.reset
        {
            resets += 1;
        }
        m.take(u);
        if resets > 0 && m.done() && m.state.window_secs() == w {
            break;
        }
    }
    // Nothing of the day's load survives the reset.
    let full = complete(&pool, w).await;
    assert_eq!(ours(&m.state), ours(&full));
    assert_eq!(m.state.window_secs(), w);
    drop(handle);
    source.abort();
}

/// Integration calls (integration, seconds ago, success), with an error text
/// on failures.
async fn insert_integration_calls(pool: &PgPool, calls: &[(&str, f64, bool)]) {
    for (name, ago, ok) in calls {
        sqlx::query(
            "INSERT INTO monitoring_integration_metrics \
               (integration, operation, success, duration_ms, status_code, error, created_at) \
             VALUES ($1, 'op', $2, 100, CASE WHEN $2 THEN 200 ELSE 502 END, \
                     CASE WHEN $2 THEN NULL ELSE $1 || ' failed ' || $3::text END, \
                     now() - make_interval(secs => $3))",
        )
        .bind(name)
        .bind(ok)
        .bind(ago)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// What the drill-downs show row by row: per integration (last error, its
/// time, last success, failures since), the recent failing integration
/// calls, and how many recent failing API calls (which ones differs: these
/// test rows' ids do not follow their times, so "the newest ids" of a slice
/// and of the window are not the same rows).
type RowByRow = (
    Vec<(
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        u32,
    )>,
    Vec<i64>,
    usize,
);

fn row_by_row(s: &State) -> RowByRow {
    (
        s.integrations()
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    i.last_error.clone(),
                    i.last_error_at,
                    i.last_success_at,
                    i.consecutive_failures,
                )
            })
            .collect(),
        s.integration_errors().map(|c| c.id).collect(),
        s.api_errors().count(),
    )
}

#[sqlx::test(migrations = "./migrations")]
async fn a_progressive_load_ends_with_the_tails_and_errors_of_a_complete_one(pool: PgPool) {
    let mut rng = Rng(0x7a11);
    long_history(&pool, &mut rng).await;
    // "quiet" had nothing in the last hours: its last error and success are
    // older slices'. "busy" failed since its last success 3 h ago, in
    // three different slices.
    insert_integration_calls(
        &pool,
        &[
            ("quiet", 10.0 * HOUR, true),
            ("quiet", 5.0 * HOUR, false),
            ("busy", 3.0 * HOUR, true),
            ("busy", 2.5 * HOUR, false),
            ("busy", 1.5 * HOUR, false),
            ("busy", 600.0, false),
            ("busy", 60.0, false),
        ],
    )
    .await;
    let w = 24 * 3600;
    let mut p = poller(&pool, w).await;
    p.set_progressive(true);
    let mut s = state(w);
    poll_into(&mut p, &mut s).await;
    // The first screen knows only the last quarter of an hour.
    let quiet = |s: &State| {
        s.integrations()
            .iter()
            .find(|i| i.name == "quiet")
            .map(|i| i.last_error_at)
    };
    assert_eq!(quiet(&s), None);
    let job = p.take_history_job().expect("a history job");
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    job.run(tx).await;
    while let Ok(u) = rx.try_recv() {
        s.apply(u);
    }
    let full = complete(&pool, w).await;
    assert!(quiet(&full).flatten().is_some());
    assert_eq!(row_by_row(&s), row_by_row(&full));
    assert_eq!(
        s.api_errors().count(),
        100,
        "the first slice alone has fewer"
    );
    let busy = s.integrations().iter().find(|i| i.name == "busy").unwrap();
    assert_eq!(busy.consecutive_failures, 4);
}

/// Sessions (each ending 5 minutes after it started) and business rows
/// (integer values, so sums are exact in any order) over 30 hours, none near
/// the window edges used below (6 h, 24 h), and none in the last 6 minutes.
async fn sessions_and_business(pool: &PgPool, rng: &mut Rng) {
    let bands = [
        (360.0, 5.5 * HOUR),
        (6.5 * HOUR, 23.5 * HOUR),
        (24.5 * HOUR, 30.0 * HOUR),
    ];
    let total: f64 = bands.iter().map(|(lo, hi)| hi - lo).sum();
    let ago = |rng: &mut Rng| {
        let mut x = rng.unit() * total;
        for (lo, hi) in bands {
            if x < hi - lo {
                return lo + x;
            }
            x -= hi - lo;
        }
        bands[0].0
    };
    let (mut s_ago, mut b_ago, mut b_val) = (vec![], vec![], vec![]);
    for _ in 0..3_000 {
        s_ago.push(ago(rng));
    }
    for _ in 0..3_000 {
        b_ago.push(ago(rng));
        b_val.push((1 + rng.next() % 5) as f64);
    }
    sqlx::query(
        "INSERT INTO monitoring_sessions \
           (session_id, user_id, service, status, started_at, last_activity_at, ended_at, credits_used) \
         SELECT 's' || i, i % 97, (ARRAY['voice','avatar','astrology'])[1 + i % 3], \
                (ARRAY['completed','completed','failed','abandoned'])[1 + i % 4], \
                t, t + interval '4 minutes', t + interval '5 minutes', i % 7 \
         FROM unnest($1::float8[]) WITH ORDINALITY AS a(secs, i), \
              LATERAL (SELECT now() - make_interval(secs => a.secs) AS t) AS tt",
    )
    .bind(s_ago)
    .execute(pool)
    .await
    .expect("insert sessions");
    sqlx::query(
        "INSERT INTO monitoring_business_metrics (metric, value, unit, recorded_at) \
         SELECT (ARRAY['revenue','credits_used','signups'])[1 + (v::int % 3)], v, 'x', \
                now() - make_interval(secs => a) \
         FROM unnest($1::float8[], $2::float8[]) AS t(a, v)",
    )
    .bind(b_ago)
    .bind(b_val)
    .execute(pool)
    .await
    .expect("insert business rows");
}

/// A fixed-offset zone whose midnight was 12–13 hours ago: today reaches
/// back past a 6-hour window and into a 24-hour one.
fn zone_of_noon() -> String {
    let h = Utc::now().format("%H").to_string().parse::<i64>().unwrap();
    match 12 - h {
        off if off >= 0 => format!("Etc/GMT-{off}"),
        off => format!("Etc/GMT+{}", -off),
    }
}

/// What a window holds of sessions, usage and today, exactly: sessions
/// started per slot, usage minutes, today's day and totals.
type SessionsPart = (
    Vec<(i64, u64)>,
    Vec<(i64, String, jfmon::model::UsageMinute)>,
    Option<(DateTime<Utc>, BTreeMap<String, f64>)>,
);

fn sessions_part(s: &State) -> SessionsPart {
    let b = s.to_batch();
    (
        b.sessions.unwrap_or_default().started_per_minute,
        b.usage.map(|u| u.minutes).unwrap_or_default(),
        b.today.map(|t| (t.day_start, t.totals)),
    )
}

#[sqlx::test(migrations = "./migrations")]
async fn a_progressive_first_screen_reads_sessions_usage_and_today_from_its_slice_only(
    pool: PgPool,
) {
    let mut rng = Rng(0x5e55);
    long_history(&pool, &mut rng).await;
    sessions_and_business(&pool, &mut rng).await;
    let zone = zone_of_noon();
    for w in [6 * 3600, 24 * 3600] {
        let mut p = poller(&pool, w).await;
        p.set_business_timezone(zone.clone());
        p.set_progressive(true);
        let first = p.poll().await.unwrap();
        // The first screen: nothing of sessions, usage or today before its
        // slice (the newest quarter of an hour, from a slot start).
        let slice = minute_of(first.now) - FIRST_SLICE.num_minutes() - slot_minutes(w);
        let starts = &first.sessions.as_ref().unwrap().started_per_minute;
        assert!(!starts.is_empty());
        assert!(
            starts.iter().all(|(m, _)| *m >= slice),
            "{w}: sessions started {} min before now",
            minute_of(first.now) - starts[0].0
        );
        let usage = &first.usage.as_ref().unwrap().minutes;
        assert!(!usage.is_empty());
        assert!(usage.iter().all(|(m, ..)| *m >= slice), "{w}: usage");
        let mut s = state(w);
        s.apply(Update::Batch(Box::new(first)));
        let first_today: f64 = sessions_part(&s).2.unwrap().1.values().sum();

        // The history job brings the rest; one more poll the older starts.
        let job = p.take_history_job().expect("a history job");
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        job.run(tx).await;
        while let Ok(u) = rx.try_recv() {
            s.apply(u);
        }
        poll_into(&mut p, &mut s).await;
        assert_eq!(p.history_label(Utc::now()).as_deref(), Some("raw rows"));

        let mut c = poller(&pool, w).await;
        c.set_business_timezone(zone.clone());
        let mut full = state(w);
        poll_into(&mut c, &mut full).await;
        let (ours, exact) = (sessions_part(&s), sessions_part(&full));
        let exact_today: f64 = exact.2.as_ref().unwrap().1.values().sum();
        assert!(
            first_today < exact_today,
            "{w}: today began 12 h ago, the first screen counted its last quarter"
        );
        assert_eq!(ours.0, exact.0, "{w}: sessions started");
        assert_eq!(ours.1, exact.1, "{w}: usage minutes");
        assert_eq!(ours.2, exact.2, "{w}: today");
    }
}
