//! A real PostgreSQL restart, ten times (issue 8 §1): a throwaway cluster of
//! this test's own (initdb/pg_ctl under a temp dir, on a free loopback port,
//! run as the `postgres` user) is restarted at seeded random intervals of
//! 2–20 s while `jfmon simulate` writes and jfmon's PostgreSQL source follows
//! at a 1 s interval. Afterwards the counts equal exact SQL, and after every
//! restart the first poll that starts once the server accepts connections
//! succeeds: no poll fails after the server is ready (one already under way
//! may). The recovery times (server ready → first successful poll) are
//! printed; BENCHMARKS.md records them. About two minutes, bounded.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use jfmon::db::connect::pool_with;
use jfmon::model::{SourceId, Update};
use jfmon::source::{self, SourceLink};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::mpsc;

const BIN: &str = "/usr/lib/postgresql/15/bin";
const RESTARTS: usize = 10;
const INTERVAL: Duration = Duration::from_secs(1);
const WINDOW: u64 = 900;

/// A PostgreSQL cluster in a temp dir, stopped and removed when dropped.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{BIN}/{program}")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("runuser {program}: {e}"))
}

impl Cluster {
    fn create() -> Cluster {
        let dir = std::env::temp_dir().join(format!("jfmon-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success(), "chown the cluster dir to postgres");
        let port = cluster_port::cluster_port();
        let c = Cluster { dir, port };
        let out = as_postgres(
            "initdb",
            &[
                "-D",
                c.data().to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.start();
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let data = self.data();
        let log = self.dir.join("server.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.display()
        );
        let mut all = vec!["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap()];
        all.extend(["-o", opts.as_str()]);
        all.extend(args);
        as_postgres("pg_ctl", &all)
    }

    /// Start and wait until it accepts connections.
    fn start(&self) {
        let out = self.pg_ctl(&["-w", "-t", "60", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            self.start_failure()
        );
    }

    /// Fast shutdown (as `pg_ctlcluster restart` does), waiting until down.
    fn stop(&self) {
        let out = self.pg_ctl(&["-w", "-m", "fast", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", self.log_tail());
    }

    /// Start without waiting (the test watches for readiness itself).
    fn start_nowait(&self) {
        let out = self.pg_ctl(&["-W", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            self.start_failure()
        );
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn log_tail(&self) -> String {
        cluster_port::log_tail(&self.dir.join("server.log"))
    }

    /// Why a start failed (a taken port named first), with the log's tail.
    fn start_failure(&self) -> String {
        cluster_port::start_failure(self.port, &self.dir.join("server.log"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait (bounded) until a new connection to `opts` (on `cluster`) succeeds;
/// its time.
async fn ready(opts: &PgConnectOptions, cluster: &Cluster) -> Instant {
    for _ in 0..6000 {
        if let Ok(Ok(c)) = tokio::time::timeout(
            Duration::from_secs(1),
            sqlx::PgConnection::connect_with(opts),
        )
        .await
        {
            let at = Instant::now();
            let _ = c.close().await;
            return at;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the server did not come back within a minute: {}",
        cluster.start_failure()
    );
}

/// Every poll's outcome with the time it arrived.
#[derive(Default)]
struct Seen {
    polls: Vec<(Instant, bool)>,
}

fn run_jfmon(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jfmon")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_real_restarts_recover_within_a_poll_interval() {
    assert!(
        Path::new(&format!("{BIN}/initdb")).exists(),
        "PostgreSQL 15 binaries"
    );
    let cluster = Arc::new(Cluster::create());
    let admin_url = cluster.url("postgres");
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query("CREATE DATABASE restarts")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = cluster.url("restarts");
    let st = run_jfmon(&["migrate", "--database-url", &url])
        .wait_with_output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    // Restart schedule: seeded, 2–20 s apart.
    let mut rng = Rng(8);
    for _ in 0..4 {
        rng.next();
    }
    let gaps: Vec<Duration> = (0..RESTARTS)
        .map(|_| Duration::from_secs_f64(2.0 + 18.0 * rng.unit()))
        .collect();
    let total: Duration = gaps.iter().sum();

    let writer = Proc(run_jfmon(&[
        "simulate",
        "--database-url",
        &url,
        "--rate",
        "50",
        "--seed",
        "8",
        "--no-progress",
        "--duration",
        &format!("{}s", total.as_secs() + RESTARTS as u64 * 3 + 5),
    ]));

    let opts: PgConnectOptions = url.parse().unwrap();
    let opts = opts.disable_statement_logging();
    let pool = pool_with(opts.clone(), &settings(), true).await.unwrap();
    let poller = jfmon::db::poller::Poller::new(pool, poll_settings(WINDOW));
    let (tx, mut rx) = mpsc::channel(source::UPDATE_CHANNEL);
    let (_cmd_tx, cmd_rx) = mpsc::channel(4);
    let follower = tokio::spawn(source::postgres::run(
        poller,
        url.clone(),
        "restarts".into(),
        INTERVAL,
        SourceLink {
            updates: tx,
            commands: cmd_rx,
        },
    ));
    let state = Arc::new(Mutex::new(state(WINDOW)));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (st2, seen2) = (state.clone(), seen.clone());
    let consumer = tokio::spawn(async move {
        while let Some(u) = rx.recv().await {
            if let Update::Source(s) = &u
                && s.id == SourceId::Postgres
            {
                seen2.lock().unwrap().polls.push((Instant::now(), s.up));
            }
            st2.lock().unwrap().apply(u);
        }
    });

    // Ten restarts; for each, when the server was ready again.
    let mut readies = Vec::new();
    for (i, gap) in gaps.iter().enumerate() {
        tokio::time::sleep(*gap).await;
        let c = cluster.clone();
        tokio::task::spawn_blocking(move || {
            c.stop();
            c.start_nowait();
        })
        .await
        .unwrap();
        let at = ready(&opts, &cluster).await;
        readies.push(at);
        eprintln!("restart {i} after {gap:.1?}: ready");
    }

    // The writer ends by itself; then the follower catches up exactly.
    let mut writer = writer;
    let out = tokio::task::spawn_blocking(move || {
        let st = writer.0.wait();
        let mut err = String::new();
        if let Some(mut e) = writer.0.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (st, err)
    })
    .await
    .unwrap();
    assert!(out.0.unwrap().success(), "jfmon simulate: {}", out.1);
    let check = sqlx::PgPool::connect(&url).await.unwrap();
    let rows = count(&check, "monitoring_api_calls").await as u64;
    assert!(rows > 1000, "the writer wrote through the restarts: {rows}");
    for _ in 0..150 {
        if total_requests(&state.lock().unwrap()) == rows {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(3 * INTERVAL).await;
    let exact = exact_endpoints(&check, WINDOW as f64).await;
    {
        let s = state.lock().unwrap();
        assert_eq!(total_requests(&s), rows, "every row counted once");
        assert_matches_exact(&s, &exact);
    }

    // Recovery: after each restart, the first poll that ends after the
    // server is ready; no failure after it except one already under way.
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut recoveries = Vec::new();
    for (i, at) in readies.iter().enumerate() {
        let after: Vec<&(Instant, bool)> = seen.polls.iter().filter(|(t, _)| t > at).collect();
        let first_ok = after
            .iter()
            .position(|(_, up)| *up)
            .unwrap_or_else(|| panic!("restart {i}: no successful poll after it"));
        assert!(
            first_ok <= 1,
            "restart {i}: {first_ok} polls failed after the server was ready"
        );
        recoveries.push(after[first_ok].0 - *at);
    }
    let failed = seen.polls.iter().filter(|(_, up)| !up).count();
    let mut ms: Vec<f64> = recoveries.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    eprintln!(
        "RECOVERY ms after ready (interval {} ms): {:?}; failed polls reported: {failed}",
        INTERVAL.as_millis(),
        ms.iter().map(|m| m.round()).collect::<Vec<_>>()
    );
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "RECOVERY median {:.0} ms, max {:.0} ms",
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
    follower.abort();
    consumer.abort();
    check.close().await;
}
