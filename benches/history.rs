//! Rollup maintenance per poll (issue 9): what keeping the rollups current
//! costs while `jfmon simulate --rate N` writes all seven tables, measured as
//! the wall time of one follow step (every rollup plus the usage rollup, one
//! transaction each) once a second, against the naive alternative of
//! re-aggregating the last minutes of raw API calls each poll (what a
//! rollup kept by `INSERT … SELECT … GROUP BY minute` over a trailing
//! window would cost), interleaved in the same run.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/hist_24h \
//!   cargo bench --bench history -- --rate 1000 --polls 60
//! ```
//! The rest of the history measurements (open times, RSS, idle CPU,
//! backfill, storage, prune) run the release binary: `benches/history.py`.

use std::time::{Duration, Instant};

use jfmon::db::connect::{ConnectSettings, pool};
use jfmon::rollup::{Maintainer, Role};

const NAIVE: &str = "SELECT date_trunc('minute', timestamp), endpoint, method, status_code, \
       count(*), percentile_cont(0.99) WITHIN GROUP (ORDER BY response_time) \
     FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - interval '5 minutes' \
     GROUP BY 1, 2, 3, 4";

fn arg(name: &str, default: f64) -> f64 {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
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

#[tokio::main]
async fn main() {
    let rate = arg("--rate", 1000.0);
    let polls = arg("--polls", 60.0) as usize;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/hist_24h".into());
    let mut cs = ConnectSettings::new(url.clone());
    cs.statement_timeout = Duration::from_secs(600);
    let p = pool(&cs, true)
        .await
        .expect("connect (is DATABASE_URL right?)");
    jfmon::db::schema::migrate(&p).await.expect("migrate");

    let mut live = std::process::Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(["simulate", "--rate", &rate.to_string(), "--seed", "9"])
        .args(["--duration", "1h"])
        .env("DATABASE_URL", &url)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start jfmon simulate");

    let mut m = Maintainer::new(p.clone(), Role::Follow);
    assert!(m.try_lease().await.expect("lease"), "another jfmon follows");
    // Catch up first (a new rollup starts just below the newest ids).
    while m.follow_all().await.expect("catch up").more {}

    let (mut steps, mut rows, mut naive) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..polls {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = Instant::now();
        let o = m.follow_all().await.expect("follow");
        steps.push(t.elapsed().as_secs_f64() * 1000.0);
        rows.push(o.rows as f64);
        if i % 6 == 3 {
            let t = Instant::now();
            sqlx::query(NAIVE).fetch_all(&p).await.expect("naive");
            naive.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let _ = live.kill();
    let _ = live.wait();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (sm, sp, smax) = (
        median(&mut steps.clone()),
        pct(&mut steps.clone(), 0.9),
        pct(&mut steps, 1.0),
    );
    let nm = median(&mut naive);
    println!("writer: jfmon simulate --rate {rate}; {polls} follow steps, one a second");
    println!(
        "| raw rows per step (median) | step median (ms) | p90 | max | naive 5-minute re-aggregate median (ms) | naive / step |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {:.0} | {sm:.1} | {sp:.1} | {smax:.1} | {nm:.1} | {:.1}x |",
        median(&mut rows),
        nm / sm
    );
    println!("load average: {}", load.trim());
}
