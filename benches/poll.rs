//! Poll cost at scale: jfmon's incremental poll versus the naive full-window
//! `percentile_cont` query, measured in the same run, on a large
//! `monitoring_api_calls` with a live writer inserting rows meanwhile.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/jfmon_bench \
//!   cargo bench --bench poll -- --rows 10000000 --polls 60
//! ```
//! The table is filled once with `jfmon simulate --backfill 24h` (the same
//! code, called in-process) when it holds fewer than `--rows` rows.

use std::time::{Duration, Instant};

use jfmon::db::connect::{ConnectSettings, pool};
use jfmon::db::poller::{PollSettings, Poller};
use jfmon::sim::writer::{self, SimulateOptions};

struct Args {
    rows: i64,
    polls: usize,
    naive_runs: usize,
    insert_rate: f64,
    interval: Duration,
    windows: Vec<Duration>,
}

fn args() -> Args {
    let mut a = Args {
        rows: 10_000_000,
        polls: 60,
        naive_runs: 7,
        insert_rate: 1000.0,
        interval: Duration::from_secs(1),
        windows: vec![Duration::from_secs(15 * 60), Duration::from_secs(3600)],
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--rows" => a.rows = val.parse().expect("--rows N"),
            "--polls" => a.polls = val.parse().expect("--polls N"),
            "--naive-runs" => a.naive_runs = val.parse().expect("--naive-runs N"),
            "--insert-rate" => a.insert_rate = val.parse().expect("--insert-rate N"),
            "--windows" => {
                a.windows = val
                    .split(',')
                    .map(|w| jfmon::duration::parse_duration(w).expect("--windows 15m,1h"))
                    .collect()
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

const NAIVE: &str = "SELECT endpoint, method, count(*), \
       count(*) FILTER (WHERE status_code >= 500 OR btrim(coalesce(error, '')) <> ''), \
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) \
     FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - make_interval(secs => $1) \
     GROUP BY 1, 2";

#[tokio::main]
async fn main() {
    let a = args();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/jfmon_bench".into());
    let mut cs = ConnectSettings::new(url.clone());
    cs.statement_timeout = Duration::from_secs(600);
    let p = pool(&cs, true)
        .await
        .expect("connect (is DATABASE_URL right?)");
    jfmon::db::schema::migrate(&p).await.expect("migrate");

    let have: i64 =
        sqlx::query_scalar("SELECT coalesce(max(id), 0)::int8 FROM monitoring_api_calls")
            .fetch_one(&p)
            .await
            .unwrap();
    if have < a.rows {
        let rate = a.rows as f64 / 86_400.0;
        eprintln!("filling monitoring_api_calls: 24 h at {rate:.1} req/s (have {have} rows)");
        let t = Instant::now();
        writer::run(
            &p,
            &SimulateOptions {
                rate,
                duration: None,
                backfill: Some(Duration::from_secs(86_400)),
                seed: 42,
                progress: true,
                buffer_rows: writer::DEFAULT_BUFFER_ROWS,
                ..SimulateOptions::default()
            },
        )
        .await
        .expect("backfill");
        sqlx::query("VACUUM ANALYZE").execute(&p).await.unwrap();
        eprintln!("backfill took {:.0} s", t.elapsed().as_secs_f64());
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM monitoring_api_calls")
        .fetch_one(&p)
        .await
        .unwrap();

    // Sessions left "active" by an earlier, interrupted run of this bench
    // would never end (their writer is gone) and inflate the active set; end
    // them, as the platform would have.
    sqlx::query(
        "UPDATE monitoring_sessions SET status = 'abandoned', ended_at = now() \
         WHERE status = 'active'",
    )
    .execute(&p)
    .await
    .unwrap();

    // The live writer: `jfmon simulate --rate N` in its own process (as the
    // platform is), writing all seven tables for the whole measurement.
    let rate = a.insert_rate;
    let mut live = std::process::Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args([
            "simulate",
            "--rate",
            &rate.to_string(),
            "--seed",
            "7",
            "--duration",
            "1h",
        ])
        .env("DATABASE_URL", &url)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start jfmon simulate");
    tokio::time::sleep(Duration::from_secs(3)).await;

    println!("rows in monitoring_api_calls: {total}; live insert rate: {rate} req/s");
    println!(
        "| window | jfmon start-up load (ms) | jfmon poll median (ms) | jfmon poll p90 (ms) | naive query median (ms) | naive / jfmon |"
    );
    println!("|---|---|---|---|---|---|");
    for &window in &a.windows {
        let mut poller = Poller::new(
            p.clone(),
            PollSettings {
                window,
                idle_timeout: Duration::from_secs(1800),
            },
        );
        let t = Instant::now();
        poller.poll().await.expect("load");
        let load_ms = t.elapsed().as_secs_f64() * 1000.0;

        let mut polls = Vec::new();
        let mut naive = Vec::new();
        let every = (a.polls / a.naive_runs.max(1)).max(1);
        for i in 0..a.polls {
            tokio::time::sleep(a.interval).await;
            let t = Instant::now();
            let b = poller.poll().await.expect("poll");
            polls.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!b.reset);
            // Interleave the naive query so both see the same load.
            if i % every == every / 2 && naive.len() < a.naive_runs {
                let t = Instant::now();
                let rows = sqlx::query(NAIVE)
                    .bind(window.as_secs_f64())
                    .fetch_all(&p)
                    .await
                    .expect("naive");
                naive.push(t.elapsed().as_secs_f64() * 1000.0);
                assert!(!rows.is_empty());
            }
        }
        let pm = median(&mut polls.clone());
        let p90 = pct(&mut polls, 0.9);
        let nm = median(&mut naive);
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0}x |",
            jfmon::duration::format_duration(window),
            load_ms,
            pm,
            p90,
            nm,
            nm / pm
        );
    }
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring_sessions WHERE status = 'active' \
         AND last_activity_at >= now() - interval '30 minutes'",
    )
    .fetch_one(&p)
    .await
    .unwrap();
    println!("active sessions at the end: {active}");
    let _ = live.kill();
    let _ = live.wait();
}
