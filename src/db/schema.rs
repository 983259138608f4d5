//! The schema jfmon expects: the embedded migrations that create the seven
//! monitoring tables (named in [`crate::model::tables`]), and discovery of
//! what a database actually has (jfmon works read-only on a database holding
//! only some of the tables).

use std::collections::BTreeSet;

use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::model::tables::TABLES;

/// Migrations from `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Which of [`TABLES`] are missing (resolved through the search path).
pub async fn missing_tables(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(quote_ident(t)) IS NULL ORDER BY t",
    )
    .bind(TABLES.as_slice())
    .fetch_all(pool)
    .await
}

/// Migrations embedded in this binary that the database has not applied.
pub async fn pending_migrations(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    let applied: BTreeSet<i64> = if has_table {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect()
    } else {
        BTreeSet::new()
    };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect())
}

/// Apply pending migrations; returns what was applied.
pub async fn migrate(pool: &PgPool) -> Result<Vec<String>, sqlx::migrate::MigrateError> {
    let pending = pending_migrations(pool).await?;
    MIGRATOR.run(pool).await?;
    Ok(pending)
}
