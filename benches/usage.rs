//! What feature usage adds to a poll (issue 13): the usage read a poll makes
//! (the followed sessions' late ends by primary key, and the last two minutes
//! of session starts and ends per service, by index)
//! against the naive way (one query per refresh aggregating the whole
//! window's sessions per service with `percentile_cont`), in the same run on
//! the same database, with a live writer; and what the store spends on
//! usage when it applies a poll with a 24 h window.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/jfmon_bench_usage \
//!   cargo bench --bench usage -- --hours 24 --rate 20 --polls 40
//! ```
//! The database is filled once with `jfmon simulate --backfill` (in-process)
//! when it holds fewer sessions than the run asks for.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use jfmon::db::connect::{ConnectSettings, pool};
use jfmon::db::usage::{OpenSessions, read_usage};
use jfmon::model::{
    Batch, Update, minute_of, minute_start, slot_minutes, slot_of, window_first_minute,
};
use jfmon::sim::writer::{self, SimulateOptions};
use jfmon::store::{State, Thresholds};

struct Args {
    hours: u64,
    rate: f64,
    polls: usize,
    windows: Vec<Duration>,
}

fn args() -> Args {
    let mut a = Args {
        hours: 24,
        rate: 20.0,
        polls: 40,
        windows: vec![Duration::from_secs(3600), Duration::from_secs(86_400)],
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--hours" => a.hours = val.parse().expect("--hours N"),
            "--rate" => a.rate = val.parse().expect("--rate N"),
            "--polls" => a.polls = val.parse().expect("--polls N"),
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

/// The naive way: every figure of the view from the raw sessions, per refresh.
const NAIVE: &str = "SELECT service, \
       count(*) FILTER (WHERE started_at >= $1), \
       count(*) FILTER (WHERE status = 'completed' AND coalesce(ended_at, last_activity_at) >= $1), \
       count(*) FILTER (WHERE status = 'failed' AND coalesce(ended_at, last_activity_at) >= $1), \
       count(*) FILTER (WHERE status NOT IN ('active', 'completed', 'failed') \
                          AND coalesce(ended_at, last_activity_at) >= $1), \
       sum(credits_used) FILTER (WHERE status <> 'active' AND coalesce(ended_at, last_activity_at) >= $1), \
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP \
         (ORDER BY extract(epoch FROM coalesce(ended_at, last_activity_at) - started_at)) \
         FILTER (WHERE status <> 'active' AND coalesce(ended_at, last_activity_at) >= $1) \
     FROM monitoring_sessions \
     WHERE started_at >= $1 OR (status <> 'active' AND coalesce(ended_at, last_activity_at) >= $1) \
     GROUP BY 1";

#[tokio::main]
async fn main() {
    let a = args();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/jfmon_bench_usage".into());
    let mut cs = ConnectSettings::new(url.clone());
    cs.statement_timeout = Duration::from_secs(600);
    let p = pool(&cs, true)
        .await
        .expect("connect (is DATABASE_URL right?)");
    jfmon::db::schema::migrate(&p).await.expect("migrate");
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM monitoring_sessions")
        .fetch_one(&p)
        .await
        .unwrap();
    if have == 0 {
        eprintln!("filling: {} h at {} req/s", a.hours, a.rate);
        writer::run(
            &p,
            &SimulateOptions {
                rate: a.rate,
                duration: None,
                backfill: Some(Duration::from_secs(a.hours * 3600)),
                seed: 42,
                progress: false,
                buffer_rows: writer::DEFAULT_BUFFER_ROWS,
                ..SimulateOptions::default()
            },
        )
        .await
        .expect("backfill");
        sqlx::query("VACUUM ANALYZE").execute(&p).await.unwrap();
    }
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM monitoring_sessions")
        .fetch_one(&p)
        .await
        .unwrap();
    let mut live = std::process::Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args([
            "simulate",
            "--rate",
            &a.rate.to_string(),
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

    println!(
        "sessions in monitoring_sessions: {sessions}; live writer at {} req/s",
        a.rate
    );
    println!(
        "| window | usage read per poll, median (ms) | naive query per refresh, median (ms) | naive / poll |"
    );
    println!("|---|---|---|---|");
    // The sessions a poll follows for ends written late (src/db/usage.rs).
    let mut open = OpenSessions::default();
    open.load(&mut p.acquire().await.unwrap())
        .await
        .expect("open sessions");
    for &window in &a.windows {
        let mut polls = Vec::new();
        let mut naive = Vec::new();
        for i in 0..a.polls {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
                .fetch_one(&p)
                .await
                .unwrap();
            // What a poll re-reads: from the minute before the last read.
            let from = minute_start(minute_of(now) - 1);
            let t = Instant::now();
            let mut c = p.acquire().await.unwrap();
            let _late = open.late_ends(&mut c, from).await.expect("late ends");
            let u = read_usage(&mut c, from).await.expect("usage read");
            open.add_started(&mut c, from).await.expect("follow");
            polls.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(u.from == minute_of(from));
            if i % 5 == 2 {
                let start = minute_start(window_first_minute(now, window.as_secs()));
                let t = Instant::now();
                let rows = sqlx::query(NAIVE)
                    .bind(start)
                    .fetch_all(&p)
                    .await
                    .expect("naive");
                naive.push(t.elapsed().as_secs_f64() * 1000.0);
                assert!(!rows.is_empty());
            }
        }
        let pm = median(&mut polls);
        let nm = median(&mut naive);
        println!(
            "| {} | {pm:.2} | {nm:.1} | {:.0}x |",
            jfmon::duration::format_duration(window),
            nm / pm
        );
    }
    println!(
        "(a poll: the followed sessions' late ends by primary key, {} followed at the end, \
         then the two range reads, then the new active sessions)",
        open.len()
    );
    let _ = live.kill();
    let _ = live.wait();

    // The store: apply a poll (a usage update of the last two minutes) with
    // a 24 h window full of usage minutes, and recompute the usage figures.
    let day = 86_400;
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&p)
        .await
        .unwrap();
    let start = minute_start(window_first_minute(now, day));
    let full = read_usage(&mut p.acquire().await.unwrap(), start)
        .await
        .expect("load");
    let minutes = full.minutes.len();
    let mut with = State::new(day, Thresholds::default());
    with.apply(Update::Batch(Box::new(Batch {
        reset: true,
        now,
        window_secs: day,
        usage: Some(full.clone()),
        ..Default::default()
    })));
    let mut without = State::new(day, Thresholds::default());
    without.apply(Update::Batch(Box::new(Batch {
        reset: true,
        now,
        window_secs: day,
        ..Default::default()
    })));
    // From a slot start, as the poller reads (a 24 h window has 4-minute slots).
    let recent_from = slot_of(minute_of(now) - 1, slot_minutes(day));
    let recent = jfmon::model::UsageUpdate {
        from: recent_from,
        minutes: full
            .minutes
            .iter()
            .filter(|(m, _, _)| *m >= recent_from)
            .cloned()
            .collect(),
        ..Default::default()
    };
    let mut t_with = Vec::new();
    let mut t_without = Vec::new();
    for i in 0..200 {
        let at = now + TimeDelta::milliseconds(i);
        let b = Batch {
            now: at,
            window_secs: day,
            usage: Some(recent.clone()),
            ..Default::default()
        };
        let t = Instant::now();
        with.apply(Update::Batch(Box::new(b)));
        t_with.push(t.elapsed().as_secs_f64() * 1000.0);
        let b = Batch {
            now: at,
            window_secs: day,
            ..Default::default()
        };
        let t = Instant::now();
        without.apply(Update::Batch(Box::new(b)));
        t_without.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!();
    println!(
        "store, 24 h window: {minutes} usage minute × service buckets read, {} records held \
         with usage, {} without",
        with.retained(),
        without.retained()
    );
    println!("| apply a poll | median (ms) |");
    println!("|---|---|");
    println!("| without usage | {:.3} |", median(&mut t_without));
    println!(
        "| with usage (2-minute update, recompute per-service figures and findings) | {:.3} |",
        median(&mut t_with)
    );
}
