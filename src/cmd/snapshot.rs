//! `jfmon snapshot`: one poll printed as a readable summary or JSON, or with
//! `--follow` one JSON object per poll (NDJSON) until interrupted. While
//! following, a lost database is reported in `sources` and retried; the last
//! known data keeps being printed.
//!
//! With `--ws URL` (or `stream.url` in the config) and no database URL, the
//! snapshot comes from the stream (a `jfmon serve` hub or the platform's own
//! stream); with both and `--follow`, the stream and the poller are combined
//! ([`source::stream::run_with_database`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use super::{Fail, Outcome, connect, poller, source_plan};
use crate::cli::SnapshotArgs;
use crate::config::Config;
use crate::duration::format_duration;
// Text from the database never reaches the terminal with control characters;
// latencies read as they do on the dashboard.
use crate::format::{ms, one_line};
use crate::model::tables::missing_message;
use crate::model::{SourceId, SourceStatus, Update};
use crate::redact::db_display;
use crate::source::stream::StreamSettings;
use crate::source::{self, Plan, Started};
use crate::store::State;
use crate::user_error::describe_db_error;

pub async fn run(cfg: &Config, a: &SnapshotArgs) -> Outcome {
    if a.follow {
        return follow(cfg, source::spawn(source_plan(cfg).await?)).await;
    }
    if cfg.database_url.is_none()
        && let Some(stream) = StreamSettings::from_config(cfg)
    {
        return once_from_stream(cfg, a, stream).await;
    }
    let (pool, url) = connect(cfg).await?;
    super::check_business_timezone(cfg, &pool, &url).await?;
    let mut p = poller(cfg, pool);
    let started = std::time::Instant::now();
    let batch = p
        .poll()
        .await
        .map_err(|e| Fail::new(describe_db_error(&e, &url)))?;
    let mut state = State::new(cfg.window.as_secs(), cfg.thresholds.clone());
    let mut status = SourceStatus::new(SourceId::Postgres, db_display(&url));
    status.up = true;
    status.last_ok = Some(batch.now);
    status.poll_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    status.history = p.history().map(str::to_owned);
    state.apply(Update::Batch(Box::new(batch)));
    state.apply(Update::Source(status));
    let out = if a.json {
        serde_json::to_string_pretty(&state.snapshot()).unwrap_or_default() + "\n"
    } else {
        summary(&state)
    };
    print_or_quit(&out);
    Ok(ExitCode::SUCCESS)
}

/// Print one NDJSON snapshot whenever a source reports its status (after
/// every poll, good or bad), having applied everything already queued.
async fn follow(cfg: &Config, source: Started) -> Outcome {
    // The task ends when `_task` is dropped, on return.
    let Started {
        mut handle,
        task: _task,
        ..
    } = source;
    let rx = &mut handle.updates;
    let mut state = State::new(cfg.window.as_secs(), cfg.thresholds.clone());
    loop {
        tokio::select! {
            u = rx.recv() => {
                let Some(u) = u else { break };
                let mut polled = matches!(u, Update::Source(_));
                state.apply(u);
                while let Ok(u) = rx.try_recv() {
                    polled |= matches!(u, Update::Source(_));
                    state.apply(u);
                }
                if polled {
                    let line = serde_json::to_string(&state.snapshot()).unwrap_or_default();
                    print_or_quit(&(line + "\n"));
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One snapshot from the stream: wait for the first data, then for the
/// status that follows it (a hub sends its sources after the full state,
/// which may come in parts), or a quiet second, whichever is first.
async fn once_from_stream(cfg: &Config, a: &SnapshotArgs, stream: StreamSettings) -> Outcome {
    let limit = stream.connect_timeout + Duration::from_secs(5);
    let Started {
        mut handle, task, ..
    } = source::spawn(Plan::Stream(stream));
    let mut state = State::new(cfg.window.as_secs(), cfg.thresholds.clone());
    let start = tokio::time::Instant::now();
    let mut got_data = false;
    loop {
        let wait = if got_data {
            Duration::from_secs(1)
        } else {
            (start + limit).saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, handle.updates.recv()).await {
            Ok(Some(u)) => {
                let is_status = matches!(u, Update::Source(_));
                got_data |= matches!(u, Update::Batch(_));
                state.apply(u);
                if got_data && is_status {
                    break;
                }
            }
            Ok(None) | Err(_) => break,
        }
        if start.elapsed() > limit + Duration::from_secs(5) {
            break;
        }
    }
    drop(task);
    if !got_data {
        let why = state
            .source(SourceId::Stream)
            .and_then(|s| s.last_error.clone())
            .unwrap_or_else(|| "nothing arrived in time".into());
        return Err(Fail::new(format!("no data from the stream: {why}")));
    }
    let out = if a.json {
        serde_json::to_string_pretty(&state.snapshot()).unwrap_or_default() + "\n"
    } else {
        summary(&state)
    };
    print_or_quit(&out);
    Ok(ExitCode::SUCCESS)
}

/// Print; a closed stdout (`| head`) ends the program quietly.
fn print_or_quit(s: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// The human-readable summary.
pub fn summary(state: &State) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "jfmon snapshot at {} — window {}",
        state.now().format("%Y-%m-%d %H:%M:%S UTC"),
        format_duration(std::time::Duration::from_secs(state.window_secs()))
    );
    for src in state.sources() {
        let _ = writeln!(
            s,
            "source {} ({}): {}{}",
            src.id.label(),
            src.target,
            if src.up { "up" } else { "DOWN" },
            src.poll_ms
                .map(|m| format!(", poll {m:.0} ms"))
                .unwrap_or_default()
        );
    }
    for t in state.tables_missing() {
        let _ = writeln!(s, "! {}", missing_message(t));
    }
    let _ = writeln!(s, "\nAPI ENDPOINTS");
    let _ = writeln!(
        s,
        "  {:<40} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "endpoint", "requests", "req/s", "err%", "p50", "p95", "p99"
    );
    for e in state.endpoints() {
        let _ = writeln!(
            s,
            "  {:<40} {:>8} {:>7.2} {:>6.1}% {:>7} {:>7} {:>7}",
            one_line(&format!("{} {}", e.method, e.endpoint)),
            e.requests,
            e.rps,
            e.error_rate * 100.0,
            ms(e.p50_ms),
            ms(e.p95_ms),
            ms(e.p99_ms)
        );
    }
    let _ = writeln!(s, "\nINTEGRATIONS");
    for i in state.integrations() {
        let _ = writeln!(
            s,
            "  {:<10} {:<9} success {:>6}  p95 {:>7}  {:>6.1}/min  {}",
            one_line(&i.name),
            i.status.word().to_uppercase(),
            i.success_rate
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
            ms(i.p95_ms),
            i.calls_per_min,
            i.last_error
                .as_deref()
                .map(|e| format!("last error: {}", one_line(e)))
                .unwrap_or_default()
        );
    }
    let sessions = state.sessions();
    let _ = writeln!(s, "\nSESSIONS  {} active", sessions.active);
    let usage = state.usage();
    for u in &usage.services {
        let _ = writeln!(
            s,
            "  {:<22} started {:>6}  completed {:>6}  failed {:>5}  abandoned {:>5}  median {:>6}  credits/session {:>5}",
            one_line(&u.service),
            u.started,
            u.completion_rate
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
            u.failed,
            u.abandoned,
            u.median_secs.map_or("-".into(), |v| ms(Some(v * 1000.0))),
            u.credits_per_session
                .map_or("-".into(), |c| format!("{c:.1}"))
        );
    }
    for f in &usage.findings {
        let _ = writeln!(s, "  ! {}", one_line(&f.text));
    }
    let open: u64 = state.open_alerts_by_severity().values().sum();
    let _ = writeln!(s, "\nALERTS  {open} open");
    for a in state.alerts().iter().take(10) {
        let _ = writeln!(
            s,
            "  #{:<6} {:<8} {:<5} {}",
            a.id,
            a.severity.word(),
            if a.acknowledged {
                "ack"
            } else if a.resolved_at.is_some() {
                "res"
            } else {
                "OPEN"
            },
            one_line(&a.title)
        );
    }
    let b = state.business();
    let fmt_totals = |m: &std::collections::BTreeMap<String, f64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(s, "\nBUSINESS  window: {}", fmt_totals(&b.window));
    let _ = writeln!(s, "          today:  {}", fmt_totals(&b.today));
    s
}
