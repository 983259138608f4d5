//! `jfmon migrate`: apply the embedded migrations (idempotent, additive).

use std::process::ExitCode;

use super::{Fail, Outcome, connect, refuse_if_read_only};
use crate::config::Config;
use crate::db::schema;
use crate::user_error::describe_db_error;

pub async fn run(cfg: &Config) -> Outcome {
    refuse_if_read_only(cfg, "`jfmon migrate`")?;
    let (pool, url) = connect(cfg).await?;
    let applied = schema::migrate(&pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => Fail::new(describe_db_error(&e, &url)),
        other => Fail::new(format!("migration failed: {other}")),
    })?;
    if applied.is_empty() {
        println!("schema is up to date (nothing to apply)");
    } else {
        for m in &applied {
            println!("applied {m}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
