//! `jfmon simulate`: write realistic traffic into the database.

use std::process::ExitCode;

use super::{Fail, Outcome, connect, refuse_if_read_only};
use crate::cli::SimulateArgs;
use crate::config::Config;
use crate::sim::writer::{self, SimulateOptions};
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
    };
    let summary = tokio::select! {
        r = writer::run(&pool, &opts) => r.map_err(|e| Fail::new(describe_db_error(&e, &url)))?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            return Ok(ExitCode::SUCCESS);
        }
    };
    eprintln!(
        "wrote {} api calls, {} integration calls, {} session updates, {} alerts, {} business rows",
        summary.api_calls,
        summary.integration_calls,
        summary.sessions,
        summary.alerts,
        summary.business
    );
    Ok(ExitCode::SUCCESS)
}
