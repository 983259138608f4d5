//! The hub under load: 100 stream clients following `jfmon serve` while the
//! simulator writes 1,000 API calls/s; then the database load of 10
//! dashboards polling directly versus 10 following one hub.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/jfmon_bench_hub \
//!   cargo bench --bench hub -- --clients 100 --seconds 30
//! ```
//! The database is created if missing and its monitoring tables emptied, then
//! filled with 15 minutes of history at the insert rate. The hub is the real
//! `jfmon serve` binary in its own process, so its CPU and memory are its own
//! (read from /proc); the clients run here, each parsing every frame and
//! applying it to its own store, as a dashboard does.
//!
//! Latency is measured end to end: from the database clock at which the hub's
//! poll was taken (`Batch::now`) to the moment a client has applied the
//! update; it includes the poll itself (`poll_ms`, printed too).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use jfmon::db::connect::{ConnectSettings, pool};
use jfmon::db::poller::{PollSettings, Poller};
use jfmon::model::Update;
use jfmon::sim::writer::{self, SimulateOptions};
use jfmon::store::State;
use jfmon::store::Thresholds;
use jfmon::wire::protocol::{self, Frame};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

struct Args {
    clients: usize,
    dashboards: usize,
    seconds: u64,
    rate: f64,
}

fn args() -> Args {
    let mut a = Args {
        clients: 100,
        dashboards: 10,
        seconds: 30,
        rate: 1000.0,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--clients" => a.clients = val.parse().expect("--clients N"),
            "--dashboards" => a.dashboards = val.parse().expect("--dashboards N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds N"),
            "--rate" => a.rate = val.parse().expect("--rate N"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

/// CPU seconds (user + system) used by a process so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after ")" + state.
    let ticks: f64 = f.get(11).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// (VmRSS, VmHWM) in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_hub(url: &str, port: u16, interval: &str) -> Hub {
    let hub = Hub(Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--interval",
            interval,
        ])
        .env("DATABASE_URL", url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-bench")
        .env("JFMON_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start jfmon serve"));
    for _ in 0..400 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b).await;
            if b.starts_with(b"HTTP/1.1 200") {
                return hub;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("jfmon serve did not start");
}

#[derive(Default)]
struct Measure {
    recording: AtomicBool,
    latencies: Mutex<Vec<f64>>,
    poll_ms: Mutex<Vec<f64>>,
    frames: AtomicU64,
    bytes: AtomicU64,
    /// Clients (or dashboards) that hold the window's data.
    loaded: AtomicU64,
    disconnects: AtomicU64,
}

/// One client: parse every frame, apply it to its own store.
async fn client(url: String, m: Arc<Measure>, first: bool) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
        m.disconnects.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut state = State::new(900, Thresholds::default());
    while let Some(msg) = ws.next().await {
        let Ok(Message::Text(t)) = msg else {
            if msg.is_err() {
                m.disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            }
            continue;
        };
        let rec = m.recording.load(Ordering::Relaxed);
        if rec {
            m.frames.fetch_add(1, Ordering::Relaxed);
            m.bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
        }
        if let Frame::Update(u) = protocol::parse(t.as_str()) {
            let u = *u;
            let sample = match &u {
                Update::Batch(b) if !b.reset && rec => Some(b.now),
                Update::Source(s) if rec && first => {
                    if let Some(p) = s.poll_ms {
                        m.poll_ms.lock().unwrap().push(p);
                    }
                    None
                }
                _ => None,
            };
            let had = !state.endpoints().is_empty();
            state.apply(u);
            if !had && !state.endpoints().is_empty() {
                m.loaded.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(t0) = sample {
                let ms = (Utc::now() - t0).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                m.latencies.lock().unwrap().push(ms);
            }
        }
    }
}

async fn until_loaded(m: &Measure, n: usize) {
    let t = Instant::now();
    while (m.loaded.load(Ordering::Relaxed) as usize) < n {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "dashboards never loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Transactions committed and rows read in the database so far.
async fn db_counters(p: &PgPool) -> (i64, i64) {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(p)
        .await
        .unwrap();
    sqlx::query_as(
        "SELECT xact_commit, tup_returned + tup_fetched FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_one(p)
    .await
    .unwrap()
}

/// Database load per second over `secs`, as (transactions/s, rows read/s).
async fn load_over(p: &PgPool, secs: u64) -> (f64, f64) {
    // Stats are flushed by each backend at most once a second; let them settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (x0, r0) = db_counters(p).await;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (x1, r1) = db_counters(p).await;
    let s = secs as f64 + 1.5;
    ((x1 - x0) as f64 / s, (r1 - r0) as f64 / s)
}

#[tokio::main]
async fn main() {
    let a = args();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/jfmon_bench_hub".into());
    // Create the database if it is missing.
    let db = url
        .rsplit('/')
        .next()
        .unwrap_or("jfmon_bench_hub")
        .to_owned();
    let admin_url = format!("{}/postgres", url.rsplit_once('/').unwrap().0);
    let admin = pool(&ConnectSettings::new(admin_url), true)
        .await
        .expect("connect (is DATABASE_URL right?)");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&db)
            .fetch_one(&admin)
            .await
            .unwrap();
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .execute(&admin)
            .await
            .unwrap();
    }
    let mut cs = ConnectSettings::new(url.clone());
    cs.statement_timeout = Duration::from_secs(600);
    let p = pool(&cs, true).await.expect("connect");
    jfmon::db::schema::migrate(&p).await.expect("migrate");
    sqlx::query(
        "TRUNCATE monitoring_api_calls, monitoring_integration_metrics, monitoring_business_metrics, \
         monitoring_sessions, monitoring_alerts, monitoring_context, monitoring_integration_health",
    )
    .execute(&p)
    .await
    .unwrap();
    eprintln!("backfilling 15 min at {} req/s ...", a.rate);
    writer::run(
        &p,
        &SimulateOptions {
            rate: a.rate,
            duration: None,
            backfill: Some(Duration::from_secs(15 * 60)),
            seed: 42,
            progress: false,
            buffer_rows: writer::DEFAULT_BUFFER_ROWS,
            ..SimulateOptions::default()
        },
    )
    .await
    .expect("backfill");
    sqlx::query("VACUUM ANALYZE").execute(&p).await.unwrap();

    let writer_pool = pool(&cs, true).await.unwrap();
    let rate = a.rate;
    let live = tokio::spawn(async move {
        writer::run(
            &writer_pool,
            &SimulateOptions {
                rate,
                duration: Some(Duration::from_secs(3600)),
                backfill: None,
                seed: 7,
                progress: false,
                buffer_rows: writer::DEFAULT_BUFFER_ROWS,
                ..SimulateOptions::default()
            },
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    // ---- 1. fan-out to many clients -------------------------------------
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hub = start_hub(&url, port, "1s").await;
    let pid = hub.0.id();
    let ws = format!("ws://127.0.0.1:{port}/monitoring/ws");
    let m = Arc::new(Measure::default());
    let t_connect = Instant::now();
    let tasks: Vec<_> = (0..a.clients)
        .map(|i| tokio::spawn(client(ws.clone(), m.clone(), i == 0)))
        .collect();
    until_loaded(&m, a.clients).await;
    let (rss_idle, _) = memory_mib(pid);
    eprintln!(
        "{} clients connected in {:.1} s; measuring {} s ...",
        a.clients,
        t_connect.elapsed().as_secs_f64(),
        a.seconds
    );
    let cpu0 = cpu_secs(pid);
    let t0 = Instant::now();
    m.recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    m.recording.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (cpu_secs(pid) - cpu0) / wall * 100.0;
    let (rss, hwm) = memory_mib(pid);
    for t in &tasks {
        t.abort();
    }
    drop(hub);
    let inserted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - interval '60 seconds'",
    )
    .fetch_one(&p)
    .await
    .unwrap();
    let mut lat = m.latencies.lock().unwrap().clone();
    let mut polls = m.poll_ms.lock().unwrap().clone();
    let frames = m.frames.load(Ordering::Relaxed);
    let bytes = m.bytes.load(Ordering::Relaxed);

    println!(
        "\n## Hub fan-out: {} clients, {:.0} API calls/s inserted (measured {:.0}/s over the last minute), poll interval 1 s, window 15 m, {} s\n",
        a.clients,
        a.rate,
        inserted as f64 / 60.0,
        a.seconds
    );
    println!("| metric | value |\n|---|---|");
    println!("| hub CPU (% of one core) | {cpu:.1} |");
    println!(
        "| hub RSS with clients connected (MiB) | {rss:.1} (peak {hwm:.1}, after connect {rss_idle:.1}) |"
    );
    println!(
        "| update latency, database snapshot → applied by a client, p50 / p99 (ms) | {:.1} / {:.1} |",
        pct(&mut lat.clone(), 0.5),
        pct(&mut lat, 0.99)
    );
    println!(
        "| of which the hub's poll, p50 / p99 (ms) | {:.1} / {:.1} |",
        pct(&mut polls.clone(), 0.5),
        pct(&mut polls, 0.99)
    );
    println!(
        "| frames to clients per second | {:.0} ({:.1} MiB/s) |",
        frames as f64 / wall,
        bytes as f64 / wall / 1048576.0
    );
    println!(
        "| clients disconnected | {} |",
        m.disconnects.load(Ordering::Relaxed)
    );

    // ---- 2. database load: direct polling versus one hub -----------------
    eprintln!("measuring database load ...");
    let secs = 20;
    let (bx, br) = load_over(&p, secs).await;

    let mut direct = Vec::new();
    let md = Arc::new(Measure::default());
    for _ in 0..a.dashboards {
        let mut dcs = cs.clone();
        dcs.max_connections = 4;
        let dp = pool(&dcs, true).await.unwrap();
        let (link, peer) = jfmon::source::link_pair();
        let task = tokio::spawn(jfmon::source::postgres::run(
            Poller::new(
                dp,
                PollSettings {
                    window: Duration::from_secs(900),
                    idle_timeout: Duration::from_secs(1800),
                },
            ),
            url.clone(),
            "bench".into(),
            Duration::from_secs(2),
            link,
        ));
        let md = md.clone();
        let drain = tokio::spawn(async move {
            let mut rx = peer.updates;
            let _c = peer.commands;
            let mut s = State::new(900, Thresholds::default());
            while let Some(u) = rx.recv().await {
                let had = !s.endpoints().is_empty();
                s.apply(u);
                if !had && !s.endpoints().is_empty() {
                    md.loaded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        direct.push((task, drain));
    }
    until_loaded(&md, a.dashboards).await;
    let (dx, dr) = load_over(&p, secs).await;
    for (t, d) in direct {
        t.abort();
        d.abort();
    }

    let hub = start_hub(&url, port, "2s").await;
    let m2 = Arc::new(Measure::default());
    let tasks: Vec<_> = (0..a.dashboards)
        .map(|_| tokio::spawn(client(ws.clone(), m2.clone(), false)))
        .collect();
    until_loaded(&m2, a.dashboards).await;
    let (hx, hr) = load_over(&p, secs).await;
    for t in tasks {
        t.abort();
    }
    drop(hub);
    live.abort();

    println!(
        "\n## Database load of {} dashboards (poll interval 2 s, window 15 m, {:.0} API calls/s inserted; the writer's own load subtracted)\n",
        a.dashboards, a.rate
    );
    println!("| setup | transactions/s | rows read/s |\n|---|---|---|");
    println!(
        "| {} dashboards polling directly | {:.1} | {:.0} |",
        a.dashboards,
        dx - bx,
        dr - br
    );
    println!(
        "| {} dashboards following one `jfmon serve` | {:.1} | {:.0} |",
        a.dashboards,
        hx - bx,
        hr - br
    );
    println!("| writer alone (baseline) | {:.1} | {:.0} |", bx, br);
}
