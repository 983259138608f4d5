//! The simulator's writer against a real PostgreSQL: a short backfill lands in
//! all seven monitoring tables, with exactly the counts it reports, and the
//! legacy `timestamp without time zone` column holds database-local times.

use std::time::Duration;

use jfmon::sim::writer::{SimulateOptions, run};
use sqlx::PgPool;

async fn count(pool: &PgPool, table: &str) -> i64 {
    // Table names are the fixed literals below.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn backfill_fills_all_tables(pool: PgPool) -> sqlx::Result<()> {
    let opts = SimulateOptions {
        rate: 5.0,
        duration: None,
        backfill: Some(Duration::from_secs(600)),
        seed: 11,
        progress: false,
        buffer_rows: jfmon::sim::writer::DEFAULT_BUFFER_ROWS,
        ..SimulateOptions::default()
    };
    let s = run(&pool, &opts).await?;

    assert!(s.api_calls > 2000, "{s:?}");
    assert!(
        s.integration_calls > 0 && s.sessions > 0 && s.alerts > 0,
        "{s:?}"
    );
    assert!(s.business > 0 && s.context > 0, "{s:?}");
    assert_eq!(
        count(&pool, "monitoring_api_calls").await as u64,
        s.api_calls
    );
    assert_eq!(
        count(&pool, "monitoring_integration_metrics").await as u64,
        s.integration_calls
    );
    assert_eq!(count(&pool, "monitoring_sessions").await as u64, s.sessions);
    assert_eq!(count(&pool, "monitoring_alerts").await as u64, s.alerts);
    assert_eq!(
        count(&pool, "monitoring_business_metrics").await as u64,
        s.business
    );
    assert_eq!(count(&pool, "monitoring_context").await as u64, s.context);
    assert_eq!(
        count(&pool, "monitoring_integration_health").await as u64,
        s.integrations
    );
    assert_eq!(s.integrations, 5);

    // API timestamps are database-local and within the last 10 minutes
    // (a few seconds of slack for the test's own run time).
    let (outside, oldest_s): (i64, f64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE timestamp > now()::timestamp
                                    OR timestamp < now()::timestamp - interval '10 minutes 30 seconds'),
                extract(epoch FROM now()::timestamp - min(timestamp))::float8
         FROM monitoring_api_calls",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(outside, 0);
    assert!(
        oldest_s > 500.0,
        "history should span ~10 minutes, oldest is {oldest_s} s old"
    );
    let alerts_outside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring_alerts
         WHERE created_at > now()::timestamp OR created_at < now()::timestamp - interval '11 minutes'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(alerts_outside, 0);

    // request_body is never written; sessions end up in a final or active state.
    let bodies: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring_api_calls WHERE request_body IS NOT NULL",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(bodies, 0);
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring_sessions WHERE status <> 'active' AND ended_at IS NOT NULL",
    )
    .fetch_one(&pool)
    .await?;
    assert!(ended > 0);
    Ok(())
}
