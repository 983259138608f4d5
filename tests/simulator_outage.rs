//! The live simulator rides out database outages (issue 8 §2): it keeps
//! generating, buffers a bounded amount, reconnects, counts what it had to
//! drop, and never writes a row twice — also when the connection dies while
//! its COMMIT is on the wire, so that it cannot know whether the batch landed.
//!
//! Two faults: a loopback proxy that cuts the connection exactly at a COMMIT
//! (after forwarding it, or swallowing it), and real restarts (fast and
//! crash) of a throwaway PostgreSQL cluster the test starts itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use jfmon::db::connect::pool_with;
use jfmon::sim::writer::{SimulateOptions, SimulateSummary, run};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Rows written and whether any is there twice (the generator never makes two
/// identical API rows: timestamps are microsecond-precise).
async fn api_rows(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*),
                count(*) - count(DISTINCT (endpoint, method, status_code, response_time,
                                           user_id, error, timestamp))
         FROM monitoring_api_calls",
    )
    .fetch_one(pool)
    .await
    .expect("count api rows")
}

async fn count(pool: &PgPool, table: &str) -> u64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count") as u64
}

/// Every table the summary counts holds exactly what it says was written.
async fn assert_exact(pool: &PgPool, s: &SimulateSummary) {
    let (api, dups) = api_rows(pool).await;
    assert_eq!(dups, 0, "rows written twice: {s:?}");
    assert_eq!(api as u64, s.api_calls, "{s:?}");
    assert_eq!(
        count(pool, "monitoring_integration_metrics").await,
        s.integration_calls,
        "{s:?}"
    );
    assert_eq!(count(pool, "monitoring_alerts").await, s.alerts, "{s:?}");
    assert_eq!(
        count(pool, "monitoring_business_metrics").await,
        s.business,
        "{s:?}"
    );
    assert_eq!(count(pool, "monitoring_context").await, s.context, "{s:?}");
}

fn live(rate: f64, secs: u64, buffer_rows: usize) -> SimulateOptions {
    SimulateOptions {
        rate,
        duration: Some(Duration::from_secs(secs)),
        backfill: None,
        seed: 3,
        progress: false,
        buffer_rows,
        ..SimulateOptions::default()
    }
}

// ---------------------------------------------------------------------------
// A proxy that cuts the connection at a COMMIT.

/// Forwards to PostgreSQL; at the COMMITs numbered in `cut_at` (1-based,
/// counted over all connections) it stops passing replies, then either
/// forwards the COMMIT (the server commits, the client never hears) or
/// swallows it, and closes both sides.
struct CommitCutter {
    port: u16,
    commits: Arc<AtomicUsize>,
}

impl CommitCutter {
    async fn start(target: String, cut_at: &'static [usize]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let commits = Arc::new(AtomicUsize::new(0));
        let counter = commits.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, counter.clone(), cut_at));
            }
        });
        CommitCutter { port, commits }
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    commits: Arc<AtomicUsize>,
    cut_at: &'static [usize],
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mute = Arc::new(AtomicBool::new(false));
    let mute2 = mute.clone();
    let replies = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if mute2.load(Ordering::SeqCst) || cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if chunk.windows(7).any(|w| w == b"COMMIT\0") {
            let nth = commits.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(i) = cut_at.iter().position(|&c| c == nth) {
                mute.store(true, Ordering::SeqCst);
                if i % 2 == 0 {
                    // Forwarded: the server commits; the reply is lost.
                    let _ = sw.write_all(chunk).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                break;
            }
        }
        if sw.write_all(chunk).await.is_err() {
            break;
        }
    }
    replies.abort();
}

#[sqlx::test(migrations = "./migrations")]
async fn a_commit_cut_on_the_wire_is_settled_not_repeated(pool: PgPool) -> sqlx::Result<()> {
    let opts = pool.connect_options();
    let target = format!("{}:{}", opts.get_host(), opts.get_port());
    // Cut at COMMITs 3 (forwarded), 6 (swallowed), 9 (forwarded), 12 (swallowed).
    let proxy = CommitCutter::start(target, &[3, 6, 9, 12]).await;
    let through: PgConnectOptions = (*pool.connect_options())
        .clone()
        .host("127.0.0.1")
        .port(proxy.port)
        // Plain text, so the proxy can see the COMMITs.
        .ssl_mode(PgSslMode::Disable);
    let mut cs = common::settings();
    cs.connect_timeout = Duration::from_secs(2);
    let writer_pool = pool_with(through, &cs, true).await?;

    let s = run(&writer_pool, &live(100.0, 4, 100_000)).await?;

    assert!(
        proxy.commits.load(Ordering::SeqCst) >= 12,
        "too few commits to cut: {s:?}"
    );
    // Two COMMITs reached the server unconfirmed, two never did: all four
    // batches were in doubt, and each was settled by asking the server (the
    // exact counts below show which way).
    assert_eq!(s.commits_in_doubt, 4, "{s:?}");
    assert_eq!(s.reconnects, 4, "{s:?}");
    assert_eq!((s.unsettled_batches, s.dropped_rows), (0, 0), "{s:?}");
    assert!(s.api_calls > 200, "{s:?}");
    assert_exact(&pool, &s).await;
    Ok(())
}

// ---------------------------------------------------------------------------
// Statement timeouts: a lock the test holds stalls every write.

#[sqlx::test(migrations = "./migrations")]
async fn statement_timeouts_are_ridden_out_with_exact_counts(pool: PgPool) -> sqlx::Result<()> {
    let mut cs = common::settings();
    cs.statement_timeout = Duration::from_millis(200);
    let writer_pool = pool_with((*pool.connect_options()).clone(), &cs, true).await?;
    // The test holds a lock that blocks every insert into the API table.
    let mut lock = pool.begin().await?;
    sqlx::query("LOCK TABLE monitoring_api_calls IN SHARE MODE")
        .execute(&mut *lock)
        .await?;
    let writer = tokio::spawn(async move { run(&writer_pool, &live(200.0, 5, 100_000)).await });
    // Until a write of the simulator is seen waiting for the lock (generous
    // deadline), then a full second more: five times its statement timeout,
    // so the server has cancelled it at least once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'jfmon'
               AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await?;
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no write waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    lock.rollback().await?;

    let s = writer
        .await
        .expect("writer task")
        .expect("the writer rides out statement timeouts");
    assert!(s.cancelled_writes >= 1, "{s:?}");
    assert_eq!((s.dropped_rows, s.unsettled_batches), (0, 0), "{s:?}");
    assert!(s.api_calls > 200, "{s:?}");
    assert_exact(&pool, &s).await;
    Ok(())
}

// ---------------------------------------------------------------------------
// A throwaway cluster, restarted for real.

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster in a temporary directory on its own port, run as the
/// `postgres` user (initdb refuses root); stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

/// Run `args` as `postgres`; on failure, `Err` with its output.
fn as_postgres(args: &[&str]) -> Result<(), String> {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .expect("runuser");
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

impl Cluster {
    fn start() -> Cluster {
        let port = common::cluster_port::cluster_port();
        let dir =
            std::env::temp_dir().join(format!("jfmon-sim-outage-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Command::new("chown")
            .args(["postgres:postgres", dir.to_str().unwrap()])
            .status()
            .expect("chown");
        let c = Cluster { dir, port };
        let data = c.data();
        as_postgres(&[
            &format!("{BIN}/initdb"),
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        c.pg_ctl(&["start"]);
        c
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let data = self.data();
        let mut all = vec![
            format!("{BIN}/pg_ctl"),
            "-D".into(),
            data,
            "-l".into(),
            log.display().to_string(),
            "-o".into(),
            opts,
            "-w".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        if let Err(e) = as_postgres(&all.iter().map(String::as_str).collect::<Vec<_>>()) {
            let why = common::cluster_port::start_failure(self.port, &log);
            panic!("{e}\n{why}");
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D"])
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(Path::new(&self.dir));
    }
}

#[tokio::test]
async fn restarts_of_the_server_are_ridden_out_with_exact_counts() {
    let cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .expect("cluster");
    let check = PgPool::connect(&cluster.url()).await.expect("connect");
    sqlx::migrate!("./migrations")
        .run(&check)
        .await
        .expect("migrations");
    check.close().await;

    let mut cs = common::settings();
    cs.connect_timeout = Duration::from_secs(2);
    let opts: PgConnectOptions = cluster.url().parse().unwrap();
    let writer_pool = pool_with(opts, &cs, true).await.expect("writer pool");
    // 200 requests/s; the buffer holds ~2 s of traffic, so the 4 s outage
    // below overflows it.
    let writer = tokio::spawn(async move { run(&writer_pool, &live(200.0, 14, 600)).await });

    let c = Arc::new(cluster);
    let step = |args: &'static [&'static str]| {
        let c = c.clone();
        tokio::task::spawn_blocking(move || c.pg_ctl(args))
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A restart as an operator does it (fast: connections are terminated).
    step(&["-m", "fast", "restart"]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A crash (no shutdown checkpoint), down for 4 s.
    step(&["-m", "immediate", "stop"]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    step(&["start"]).await.unwrap();

    let s = writer
        .await
        .expect("writer task")
        .expect("the writer rides out restarts");
    assert!(s.reconnects >= 2, "{s:?}");
    assert!(
        s.dropped_rows > 0 && s.dropped_api_calls > 0,
        "a 4 s outage overflows a 600-row buffer: {s:?}"
    );
    assert_eq!(s.unsettled_batches, 0, "{s:?}");
    assert!(s.api_calls > 1000, "{s:?}");
    let check = PgPool::connect(&c.url()).await.expect("reconnect");
    assert_exact(&check, &s).await;
    check.close().await;
}
