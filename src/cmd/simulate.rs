//! `jfmon simulate`: write realistic traffic into the database.

use std::process::ExitCode;

use super::{Fail, Outcome, connect, refuse_if_read_only};
use crate::cli::SimulateArgs;
use crate::config::Config;
use crate::sim::writer::{self, SimulateOptions, SimulateSummary};
use crate::user_error::describe_db_error;

pub async fn run(cfg: &Config, a: &SimulateArgs) -> Outcome {
    refuse_if_read_only(cfg, "`jfmon simulate`")?;
    let (pool, url) = connect(cfg).await?;
    let missing = crate::db::schema::missing_tables(&pool)
        .await
        .map_err(|e| Fail::new(describe_db_error(&e, &url)))?;
    if let Some(t) = missing.first() {
        return Err(Fail::new(crate::model::tables::missing_message(t)));
    }
    let opts = SimulateOptions {
        rate: a.rate,
        duration: a.duration,
        backfill: a.backfill,
        seed: a.seed,
        progress: !a.no_progress,
        buffer_rows: a.buffer_rows,
        incidents: a.incident.clone(),
        random_incidents: !a.no_random_incidents,
    };
    let summary = tokio::select! {
        r = writer::run(&pool, &opts) => r.map_err(|e| Fail::new(describe_db_error(&e, &url)))?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            return Ok(ExitCode::SUCCESS);
        }
    };
    eprintln!("{}", summary_line(&summary));
    for i in &summary.injected {
        eprintln!("{}", injected_line(i));
    }
    Ok(ExitCode::SUCCESS)
}

/// One injected incident: `injected: openai down 2026-01-01T10:00:00Z .. 10:03:00Z (--incident)`.
fn injected_line(i: &crate::sim::generator::Injected) -> String {
    format!(
        "injected: {} {} {} {} .. {} ({})",
        if i.on_endpoint {
            "endpoint"
        } else {
            "integration"
        },
        i.target,
        i.kind.as_str(),
        i.started.format("%Y-%m-%dT%H:%M:%SZ"),
        i.ends.format("%Y-%m-%dT%H:%M:%SZ"),
        if i.forced { "--incident" } else { "random" }
    )
}

/// What the run wrote, and what it could not (outages).
fn summary_line(s: &SimulateSummary) -> String {
    let mut line = format!(
        "wrote {} api calls, {} integration calls, {} session updates, {} alerts, {} business rows",
        s.api_calls, s.integration_calls, s.sessions, s.alerts, s.business
    );
    if s.reconnects > 0 {
        line += &format!("; rode out {} database outage(s)", s.reconnects);
    }
    if s.cancelled_writes > 0 {
        line += &format!(
            "; wrote again {} batches the database cancelled (statement or lock timeout)",
            s.cancelled_writes
        );
    }
    if s.dropped_rows > 0 {
        line += &format!(
            "; dropped {} rows ({} api calls) that did not fit the outage buffer",
            s.dropped_rows, s.dropped_api_calls
        );
    }
    if s.unsettled_batches > 0 {
        line += &format!(
            "; {} batches' commit outcome unknown (not counted, not repeated)",
            s.unsettled_batches
        );
    }
    line
}
