//! Helpers shared by the integration tests: jfmon-style pools on the test
//! database `#[sqlx::test]` created, row inserts, exact SQL aggregates, and
//! a loopback TCP proxy that can cut the database connection.
#![allow(dead_code)]

pub mod cluster_port;
pub mod lost_reply;
pub mod serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jfmon::db::connect::{ConnectSettings, pool_with};
use jfmon::db::poller::{PollSettings, Poller};
use jfmon::model::Update;
use jfmon::store::State;
use jfmon::store::Thresholds;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// `DATABASE_URL`, which every database test needs (the README's test command sets it).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at the test PostgreSQL (see the README's test command)")
}

/// The URL of the database a `#[sqlx::test]` pool points at: `DATABASE_URL`
/// (user, password, host, port, parameters) with that pool's database name.
pub fn url_of(pool: &PgPool) -> String {
    let db = pool
        .connect_options()
        .get_database()
        .expect("a #[sqlx::test] pool names its database")
        .to_owned();
    let mut url = url::Url::parse(&database_url()).expect("DATABASE_URL is a URL");
    url.set_path(&db);
    url.to_string()
}

/// `host:port` of the PostgreSQL in `DATABASE_URL` (for the cutting proxy).
pub fn database_addr() -> String {
    let url = url::Url::parse(&database_url()).expect("DATABASE_URL is a URL");
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    )
}

/// Whether this run is CI (`CI` set to anything but empty, `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "false" | "0"))
}

/// Whether the external tool `cmd` (tmux, chromium, promtool, ...) runs, for
/// a test that needs it. Missing in CI, the test fails (`.ci/run` installs
/// them); missing locally, the test is skipped, saying why on stderr.
pub fn require_tool(cmd: &str, version_arg: &str) -> bool {
    let found = std::process::Command::new(cmd)
        .arg(version_arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !in_ci(),
            "`{cmd}` is not installed, and CI must run every test (.ci/run installs it)"
        );
        eprintln!(
            "SKIPPED: `{cmd}` is not installed; install it to run this test (CI fails instead)"
        );
    }
    found
}

pub fn settings() -> ConnectSettings {
    ConnectSettings::new("postgres://unused")
}

/// A pool on the same database with jfmon's session settings.
pub async fn jfmon_pool(test_pool: &PgPool) -> PgPool {
    let opts: PgConnectOptions = (*test_pool.connect_options()).clone();
    pool_with(opts, &settings(), true)
        .await
        .expect("jfmon pool")
}

pub fn poll_settings(window_secs: u64) -> PollSettings {
    PollSettings {
        window: Duration::from_secs(window_secs),
        idle_timeout: Duration::from_secs(1800),
    }
}

pub async fn poller(test_pool: &PgPool, window_secs: u64) -> Poller {
    Poller::new(jfmon_pool(test_pool).await, poll_settings(window_secs))
}

pub fn state(window_secs: u64) -> State {
    State::new(window_secs, Thresholds::default())
}

/// A poller on the test database reached through `proxy` (short connect
/// timeout, so a cut shows quickly).
pub async fn poller_through(proxy: &Proxy, test_pool: &PgPool, window_secs: u64) -> Poller {
    let opts: PgConnectOptions = (*test_pool.connect_options())
        .clone()
        .host("127.0.0.1")
        .port(proxy.port);
    let mut cs = settings();
    cs.connect_timeout = Duration::from_secs(2);
    let pool = pool_with(opts, &cs, true)
        .await
        .expect("pool through the proxy");
    Poller::new(pool, poll_settings(window_secs))
}

/// Poll once and apply the batch.
pub async fn poll_into(p: &mut Poller, s: &mut State) {
    let b = p.poll().await.expect("poll");
    s.apply(Update::Batch(Box::new(b)));
}

/// Deterministic pseudo-random numbers (xorshift), so tests need no seeds crate.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A heavy-tailed latency in ms (log-normal via Box-Muller).
    pub fn latency(&mut self, median: f64) -> i32 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median * (0.9 * z).exp()).round().clamp(0.0, 600_000.0) as i32
    }
}

pub const ENDPOINTS: [(&str, &str, f64); 4] = [
    ("/api/spiritual/guidance", "POST", 900.0),
    ("/api/auth/login", "POST", 80.0),
    ("/api/credits/purchase", "POST", 300.0),
    ("/api/health", "GET", 4.0),
];

/// Insert `n` API calls spread over the last `spread_secs` seconds (database
/// clock), with ~3 % 5xx, ~1 % NULL status with an error, ~4 % 4xx.
pub async fn insert_api_calls(
    exec: impl sqlx::PgExecutor<'_>,
    rng: &mut Rng,
    n: usize,
    spread_secs: f64,
) {
    let mut endpoint = Vec::new();
    let mut method = Vec::new();
    let mut status: Vec<Option<i32>> = Vec::new();
    let mut rt: Vec<Option<i32>> = Vec::new();
    let mut error: Vec<Option<String>> = Vec::new();
    let mut ago = Vec::new();
    for _ in 0..n {
        let (e, m, median) = ENDPOINTS[(rng.next() % ENDPOINTS.len() as u64) as usize];
        endpoint.push(e.to_owned());
        method.push(m.to_owned());
        let r = rng.unit();
        let (s, err) = if r < 0.03 {
            (Some(503), None)
        } else if r < 0.04 {
            (None, Some("TimeoutError: upstream".to_owned()))
        } else if r < 0.08 {
            (Some(404), None)
        } else if r < 0.085 {
            (Some(200), Some("   ".to_owned())) // blank error text is not an error
        } else {
            (Some(200), None)
        };
        status.push(s);
        error.push(err);
        rt.push(if rng.unit() < 0.01 {
            None
        } else {
            Some(rng.latency(median))
        });
        ago.push(rng.unit() * spread_secs);
    }
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, error, timestamp) \
         SELECT e, m, s, r, err, now()::timestamp - make_interval(secs => a) \
         FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::float8[]) \
              AS t(e, m, s, r, err, a)",
    )
    .bind(endpoint)
    .bind(method)
    .bind(status)
    .bind(rt)
    .bind(error)
    .bind(ago)
    .execute(exec)
    .await
    .expect("insert api calls");
}

/// Exact per-endpoint aggregates, straight from SQL.
#[derive(Debug)]
pub struct ExactEndpoint {
    pub endpoint: String,
    pub method: String,
    pub requests: i64,
    pub errors: i64,
    pub client_errors: i64,
    pub p50: Option<i32>,
    pub p95: Option<i32>,
    pub p99: Option<i32>,
}

type ExactRow = (
    String,
    String,
    i64,
    i64,
    i64,
    Option<i32>,
    Option<i32>,
    Option<i32>,
);

pub async fn exact_endpoints(pool: &PgPool, since_secs: f64) -> Vec<ExactEndpoint> {
    let rows: Vec<ExactRow> = sqlx::query_as(
        "SELECT endpoint, method, count(*), \
               count(*) FILTER (WHERE status_code >= 500 OR btrim(coalesce(error, '')) <> ''), \
               count(*) FILTER (WHERE status_code BETWEEN 400 AND 499 \
                                  AND NOT (btrim(coalesce(error, '')) <> '')), \
               percentile_disc(0.5) WITHIN GROUP (ORDER BY response_time), \
               percentile_disc(0.95) WITHIN GROUP (ORDER BY response_time), \
               percentile_disc(0.99) WITHIN GROUP (ORDER BY response_time) \
             FROM monitoring_api_calls \
             WHERE timestamp >= now()::timestamp - make_interval(secs => $1) \
             GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(since_secs)
    .fetch_all(pool)
    .await
    .expect("exact aggregates");
    rows.into_iter()
        .map(|r| ExactEndpoint {
            endpoint: r.0,
            method: r.1,
            requests: r.2,
            errors: r.3,
            client_errors: r.4,
            p50: r.5,
            p95: r.6,
            p99: r.7,
        })
        .collect()
}

/// Assert that jfmon's endpoint stats equal the exact SQL ones (percentiles within 2 %).
pub fn assert_matches_exact(state: &State, exact: &[ExactEndpoint]) {
    assert_eq!(state.endpoints().len(), exact.len(), "endpoint count");
    for x in exact {
        let e = state
            .endpoints()
            .iter()
            .find(|e| e.endpoint == x.endpoint && e.method == x.method)
            .unwrap_or_else(|| panic!("endpoint {} missing", x.endpoint));
        assert_eq!(e.requests as i64, x.requests, "{} requests", x.endpoint);
        assert_eq!(e.errors as i64, x.errors, "{} errors", x.endpoint);
        assert_eq!(
            e.client_errors as i64, x.client_errors,
            "{} 4xx",
            x.endpoint
        );
        for (name, ours, exact) in [
            ("p50", e.p50_ms, x.p50),
            ("p95", e.p95_ms, x.p95),
            ("p99", e.p99_ms, x.p99),
        ] {
            let (Some(o), Some(t)) = (ours, exact) else {
                assert_eq!(
                    ours.is_some(),
                    exact.is_some(),
                    "{} {name} presence",
                    x.endpoint
                );
                continue;
            };
            let t = t as f64;
            assert!(
                (o - t).abs() <= 0.02 * t.max(1.0),
                "{} {name}: jfmon {o} vs exact {t}",
                x.endpoint
            );
        }
    }
}

/// Total requests jfmon counted.
pub fn total_requests(state: &State) -> u64 {
    state.endpoints().iter().map(|e| e.requests).sum()
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}

pub fn db_now_approx() -> DateTime<Utc> {
    Utc::now()
}

/// A loopback TCP proxy to PostgreSQL that can be cut (existing connections
/// dropped, new ones refused) and restored.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let target = target.to_owned();
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Wait (bounded) until no session in this test's database holds an
/// advisory lock: PostgreSQL frees a dropped hub's lease when its backend
/// sees the closed connection, a moment after the drop.
pub async fn wait_until_no_advisory_lock(pool: &PgPool) {
    for _ in 0..400 {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database())",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if !held {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the dropped hub's advisory lock was still held after 10 s");
}
