//! The incremental poller against a real PostgreSQL, each test in its own
//! database: aggregates equal exact SQL over the same rows (percentiles within
//! 2 %), late commits are counted exactly once, missing tables are reported.

mod common;

use common::*;
use jfmon::model::Health;
use sqlx::PgPool;

const WINDOW: u64 = 15 * 60;

#[sqlx::test(migrations = "./migrations")]
async fn load_and_increments_match_exact_sql(pool: PgPool) {
    let mut rng = Rng(0x5eed);
    insert_api_calls(&pool, &mut rng, 5_000, 600.0).await;
    // Rows older than the window must not count.
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         SELECT '/api/old', 'GET', 200, 10, now()::timestamp - interval '2 hours' FROM generate_series(1, 50)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut p = poller(&pool, WINDOW).await;
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    assert_matches_exact(&s, &exact_endpoints(&pool, 700.0).await);

    // Increments: several polls with new rows in between.
    for _ in 0..3 {
        insert_api_calls(&pool, &mut rng, 700, 5.0).await;
        poll_into(&mut p, &mut s).await;
    }
    assert_matches_exact(&s, &exact_endpoints(&pool, 700.0).await);
    assert_eq!(total_requests(&s), 5_000 + 3 * 700);
    // Nothing new: a poll changes no count.
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 5_000 + 3 * 700);
}

#[sqlx::test(migrations = "./migrations")]
async fn late_commit_is_counted_exactly_once(pool: PgPool) {
    let mut rng = Rng(7);
    insert_api_calls(&pool, &mut rng, 100, 60.0).await;

    // A transaction opened before the poller starts, committed much later.
    let mut early = pool.begin().await.unwrap();
    insert_api_calls(&mut *early, &mut rng, 3, 1.0).await;

    let mut p = poller(&pool, WINDOW).await;
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 100);

    // A transaction holding lower ids open across several polls.
    let mut late = pool.begin().await.unwrap();
    insert_api_calls(&mut *late, &mut rng, 5, 1.0).await;
    // And one that rolls back: its ids stay a gap forever.
    let mut doomed = pool.begin().await.unwrap();
    insert_api_calls(&mut *doomed, &mut rng, 4, 1.0).await;

    insert_api_calls(&pool, &mut rng, 50, 1.0).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 150);
    assert!(p.gap_counts()[0] >= 1, "open transactions leave gaps");

    insert_api_calls(&pool, &mut rng, 20, 1.0).await;
    poll_into(&mut p, &mut s).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 170);

    late.commit().await.unwrap();
    doomed.rollback().await.unwrap();
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 175);

    early.commit().await.unwrap();
    poll_into(&mut p, &mut s).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 178);
    assert_eq!(count(&pool, "monitoring_api_calls").await, 178);
    assert_matches_exact(&s, &exact_endpoints(&pool, 700.0).await);
}

#[sqlx::test(migrations = "./migrations")]
async fn integration_health_matches_sql(pool: PgPool) {
    // openai: 10 successes, then 6 failures (down by consecutive failures).
    // prokerala: 100 calls, 3 failures (healthy, 97 %).
    // elevenlabs: 50 calls, 6 failures interleaved (degraded, 88 %).
    // did: only a health report (unknown: no calls in the window).
    // rag: calls only long before the window (unknown).
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, operation, success, duration_ms, error, created_at) \
         SELECT 'openai', 'chat', g <= 10, 100 + g * 10, \
                CASE WHEN g > 10 THEN 'openai: 503 Service Unavailable #' || g END, \
                now() - make_interval(secs => 100 - g) FROM generate_series(1, 16) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, status_code, created_at) \
         SELECT 'prokerala', g % 33 <> 0, 200 + g, CASE WHEN g % 33 = 0 THEN 502 END, \
                now() - make_interval(secs => 200 - g) FROM generate_series(1, 100) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, created_at) \
         SELECT 'elevenlabs', g % 8 <> 0, 50 * g, now() - make_interval(secs => 100 - g) \
         FROM generate_series(1, 50) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, created_at) \
         SELECT 'rag', true, 20, now() - interval '3 hours' FROM generate_series(1, 10)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_integration_health (integration, status, message) \
         VALUES ('did', 'healthy', 'ok'), ('openai', 'error', 'upstream 503')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let mut p = poller(&pool, WINDOW).await;
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;

    let names: Vec<&str> = s.integrations().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["openai", "elevenlabs", "did", "prokerala"],
        "failing first"
    );

    let openai = s.integration("openai").unwrap();
    assert_eq!(openai.status, Health::Down);
    assert_eq!(openai.consecutive_failures, 6);
    assert_eq!(openai.calls, 16);
    assert_eq!(
        openai.last_error.as_deref(),
        Some("openai: 503 Service Unavailable #16")
    );
    assert!(openai.last_success_at.is_some());
    assert_eq!(openai.reported.as_ref().unwrap().status, "error");

    let pk = s.integration("prokerala").unwrap();
    assert_eq!(pk.status, Health::Healthy);
    assert!((pk.success_rate.unwrap() - 0.97).abs() < 1e-9);
    assert_eq!(pk.last_error.as_deref(), Some("HTTP 502"));
    let exact_p95: i32 = sqlx::query_scalar(
        "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) \
         FROM monitoring_integration_metrics WHERE integration = 'prokerala'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let ours = pk.p95_ms.unwrap();
    assert!((ours - exact_p95 as f64).abs() <= 0.02 * exact_p95 as f64);

    let el = s.integration("elevenlabs").unwrap();
    assert_eq!(el.status, Health::Degraded);
    assert_eq!(el.failures, 6);

    assert_eq!(s.integration("did").unwrap().status, Health::Unknown);
    assert!(
        s.integration("rag").is_none(),
        "no calls in window, no report"
    );

    // Recovery arrives incrementally: one success resets consecutive failures.
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms) \
         VALUES ('openai', true, 120)",
    )
    .execute(&pool)
    .await
    .unwrap();
    poll_into(&mut p, &mut s).await;
    let openai = s.integration("openai").unwrap();
    assert_eq!(openai.consecutive_failures, 0);
    // 11 of 17 succeeded: still below 80 %, so still down, by success rate now.
    assert_eq!(openai.status, Health::Down);
    assert!(openai.reason.contains("success"), "{}", openai.reason);
}

#[sqlx::test(migrations = "./migrations")]
async fn sessions_alerts_business_match_sql(pool: PgPool) {
    sqlx::query(
        "INSERT INTO monitoring_sessions (session_id, user_id, service, status, started_at, last_activity_at) VALUES \
         ('s1', 1, 'guidance', 'active', now() - interval '5 min', now() - interval '1 min'), \
         ('s2', 2, 'voice', 'active', now() - interval '2 min', now()), \
         ('s3', 3, 'guidance', 'active', now() - interval '3 hours', now() - interval '2 hours'), \
         ('s4', 4, 'avatar', 'completed', now() - interval '4 min', now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_alerts (alert_type, severity, title, description, context, acknowledged, created_at) VALUES \
         ('integration', 'warning', 'slow rag', 'd', '{\"integration\": \"rag\"}', false, now()::timestamp - interval '1 min'), \
         ('integration', 'critical', 'openai down', 'd', '{\"integration\": \"openai\", \"api_key\": \"sk-secret\"}', false, now()::timestamp - interval '3 min'), \
         ('system', 'error', 'db errors', 'd', null, false, now()::timestamp - interval '2 min'), \
         ('system', 'critical', 'old, handled', 'd', null, true, now()::timestamp - interval '5 min'), \
         ('system', 'low', 'fyi', 'd', null, false, now()::timestamp - interval '30 hours')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_business_metrics (metric, value, unit, recorded_at) VALUES \
         ('revenue', 10.5, 'USD', now() - interval '1 min'), ('revenue', 4.5, 'USD', now() - interval '2 min'), \
         ('credits_used', 3, null, now() - interval '1 min'), ('conversions', 1, null, now()), \
         ('revenue', 100, 'USD', now() - interval '3 hours')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let mut p = poller(&pool, WINDOW).await;
    p.set_session_starts_refresh(std::time::Duration::ZERO);
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;

    assert_eq!(s.sessions().active, 2);
    let ids: Vec<&str> = s
        .sessions()
        .items
        .iter()
        .map(|x| x.session_id.as_str())
        .collect();
    assert_eq!(ids, ["s2", "s1"], "newest first");

    let titles: Vec<&str> = s.alerts().iter().map(|a| a.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "openai down",
            "db errors",
            "slow rag",
            "fyi",
            "old, handled"
        ]
    );
    let a = &s.alerts()[0];
    assert_eq!(a.integration.as_deref(), Some("openai"));
    assert_eq!(a.context.as_ref().unwrap()["api_key"], "***");
    assert_eq!(s.alerts()[1].severity_raw.as_deref(), Some("error"));
    assert_eq!(s.open_alerts_by_severity().get("critical"), Some(&1));
    assert_eq!(s.open_alerts_by_severity().get("high"), Some(&1));

    let b = s.business();
    assert_eq!(b.window.get("revenue"), Some(&15.0));
    assert_eq!(b.window.get("conversions"), Some(&1.0));
    let today: f64 = sqlx::query_scalar(
        "SELECT sum(value) FROM monitoring_business_metrics \
         WHERE metric = 'revenue' AND recorded_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(b.today.get("revenue"), Some(&today));

    // Sessions started per minute: loaded for the window, then kept up to
    // date from the last minutes only.
    let started = |s: &jfmon::store::State| -> u64 {
        s.sessions().started_per_minute.iter().map(|(_, n)| n).sum()
    };
    assert_eq!(started(&s), 3, "s1, s2, s4 started within the window");
    sqlx::query("INSERT INTO monitoring_sessions (session_id, service) VALUES ('s5', 'voice')")
        .execute(&pool)
        .await
        .unwrap();
    poll_into(&mut p, &mut s).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(started(&s), 4);
    assert_eq!(s.sessions().active, 3);

    // Incremental business rows add to window and today.
    sqlx::query("INSERT INTO monitoring_business_metrics (metric, value) VALUES ('revenue', 5)")
        .execute(&pool)
        .await
        .unwrap();
    poll_into(&mut p, &mut s).await;
    assert_eq!(s.business().window.get("revenue"), Some(&20.0));
    assert_eq!(s.business().today.get("revenue"), Some(&(today + 5.0)));
}

/// The platform's legacy database: only the two tables it writes, no migrations.
async fn legacy_tables(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE monitoring_api_calls (id SERIAL PRIMARY KEY, endpoint VARCHAR(500) NOT NULL, \
           method VARCHAR(10) NOT NULL, status_code INTEGER, response_time INTEGER, user_id INTEGER, \
           request_body TEXT, error TEXT, timestamp TIMESTAMP DEFAULT NOW()); \
         CREATE TABLE monitoring_alerts (id SERIAL PRIMARY KEY, alert_type VARCHAR(100), severity VARCHAR(20), \
           title VARCHAR(255), description TEXT, context JSONB, acknowledged BOOLEAN DEFAULT FALSE, \
           acknowledged_by INTEGER, acknowledged_at TIMESTAMP, created_at TIMESTAMP DEFAULT NOW());",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = false)]
async fn missing_tables_are_reported_and_the_rest_works(pool: PgPool) {
    legacy_tables(&pool).await;
    let mut rng = Rng(99);
    insert_api_calls(&pool, &mut rng, 500, 300.0).await;
    sqlx::query("INSERT INTO monitoring_alerts (severity, title) VALUES ('high', 'x')")
        .execute(&pool)
        .await
        .unwrap();
    let mut p = poller(&pool, WINDOW).await;
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    assert_eq!(
        s.tables_missing(),
        [
            "monitoring_business_metrics",
            "monitoring_context",
            "monitoring_integration_health",
            "monitoring_integration_metrics",
            "monitoring_sessions",
        ]
    );
    assert_matches_exact(&s, &exact_endpoints(&pool, 700.0).await);
    assert_eq!(s.alerts().len(), 1);
    let json = serde_json::to_value(s.snapshot()).unwrap();
    assert_eq!(json["tables_missing"].as_array().unwrap().len(), 5);

    // A table appearing (someone ran migrate) triggers a reload.
    sqlx::raw_sql("CREATE TABLE monitoring_sessions (id BIGSERIAL PRIMARY KEY, session_id TEXT NOT NULL UNIQUE, \
        user_id BIGINT, service TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active', \
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(), last_activity_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
        ended_at TIMESTAMPTZ, credits_used INTEGER NOT NULL DEFAULT 0); \
        INSERT INTO monitoring_sessions (session_id, service) VALUES ('a', 'guidance');")
        .execute(&pool)
        .await
        .unwrap();
    // Checked every few polls: within TABLE_CHECK_EVERY polls it is seen.
    for _ in 0..jfmon::db::poller::TABLE_CHECK_EVERY {
        poll_into(&mut p, &mut s).await;
    }
    assert_eq!(s.tables_missing().len(), 4);
    assert_eq!(s.sessions().active, 1);
    assert_eq!(total_requests(&s), 500, "reload does not double count");
}

#[sqlx::test(migrations = false)]
async fn migrations_keep_legacy_rows_and_are_idempotent(pool: PgPool) {
    legacy_tables(&pool).await;
    let mut rng = Rng(3);
    insert_api_calls(&pool, &mut rng, 1_000, 300.0).await;
    sqlx::query("INSERT INTO monitoring_alerts (severity, title, context) VALUES ('critical', 'keep me', '{\"a\": 1}')")
        .execute(&pool)
        .await
        .unwrap();
    let before: Vec<(i32, String, Option<i32>)> =
        sqlx::query_as("SELECT id, endpoint, response_time FROM monitoring_api_calls ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let column_types = || async {
        let v: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_name IN ('monitoring_api_calls', 'monitoring_alerts') ORDER BY 1, 2",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        v
    };
    let types_before = column_types().await;

    let applied = jfmon::db::schema::migrate(&pool).await.unwrap();
    assert_eq!(applied.len(), jfmon::db::schema::MIGRATOR.iter().count());
    assert!(
        jfmon::db::schema::migrate(&pool).await.unwrap().is_empty(),
        "second run is a no-op"
    );
    assert!(
        jfmon::db::schema::pending_migrations(&pool)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        jfmon::db::schema::missing_tables(&pool)
            .await
            .unwrap()
            .is_empty()
    );

    let after: Vec<(i32, String, Option<i32>)> =
        sqlx::query_as("SELECT id, endpoint, response_time FROM monitoring_api_calls ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(before, after, "no row lost or changed");
    assert_eq!(types_before, column_types().await, "no column retyped");
    let title: String = sqlx::query_scalar("SELECT title FROM monitoring_alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(title, "keep me");
    let idx: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'monitoring_api_calls_timestamp_idx'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(idx, 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn legacy_timestamps_in_another_zone(pool: PgPool) {
    // The platform writes `timestamp without time zone` in its own zone.
    let mut w = pool.acquire().await.unwrap();
    sqlx::query("SET TIME ZONE 'Asia/Kolkata'")
        .execute(&mut *w)
        .await
        .unwrap();
    let mut rng = Rng(11);
    insert_api_calls(&mut *w, &mut rng, 200, 60.0).await;
    drop(w);
    let opts = (*pool.connect_options()).clone();
    let mut cs = settings();
    cs.db_timezone = Some("Asia/Kolkata".into());
    let jp = jfmon::db::connect::pool_with(opts, &cs, true)
        .await
        .unwrap();
    let mut p = jfmon::db::poller::Poller::new(jp, poll_settings(WINDOW));
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    assert_eq!(
        total_requests(&s),
        200,
        "rows 5.5 h 'ahead' are still inside the window"
    );
    let newest = s
        .api_errors()
        .chain(s.api_slow())
        .map(|c| c.at)
        .max()
        .unwrap();
    let skew = (chrono::Utc::now() - newest).num_seconds().abs();
    assert!(
        skew < 120,
        "timestamps converted from Asia/Kolkata, off by {skew} s"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn every_query_carries_timeout_and_application_name(pool: PgPool) {
    let jp = jfmon_pool(&pool).await;
    let (app, timeout): (String, String) = sqlx::query_as(
        "SELECT current_setting('application_name'), current_setting('statement_timeout')",
    )
    .fetch_one(&jp)
    .await
    .unwrap();
    assert_eq!(app, "jfmon");
    assert_eq!(timeout, "5s");
    // The timeout really cancels.
    let err = sqlx::query("SELECT pg_sleep(0.2)")
        .execute(
            &jfmon::db::connect::pool_with(
                (*pool.connect_options()).clone(),
                &{
                    let mut s = settings();
                    s.statement_timeout = std::time::Duration::from_millis(100);
                    s
                },
                true,
            )
            .await
            .unwrap(),
        )
        .await
        .unwrap_err();
    let line = jfmon::user_error::describe_db_error(&err, "postgres://x@127.0.0.1/db");
    assert!(line.contains("statement timeout"), "{line}");
}

#[sqlx::test(migrations = "./migrations")]
async fn database_time_zone_setting_is_detected(pool: PgPool) {
    // The platform's database has its own zone; its sessions write in it.
    let db = pool.connect_options().get_database().unwrap().to_owned();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{db}\" SET timezone = 'Asia/Kolkata'"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let mut w = pool.acquire().await.unwrap();
    sqlx::query("SET TIME ZONE 'Asia/Kolkata'")
        .execute(&mut *w)
        .await
        .unwrap();
    insert_api_calls(&mut *w, &mut Rng(12), 100, 60.0).await;
    drop(w);
    // No db_timezone configured: jfmon finds the database's setting.
    let mut p = poller(&pool, WINDOW).await;
    let zone: String = sqlx::query_scalar("SELECT current_setting('TimeZone')")
        .fetch_one(p.pool())
        .await
        .unwrap();
    assert_eq!(zone, "Asia/Kolkata");
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 100);
    let newest = s.api_slow().map(|c| c.at).max().unwrap();
    let skew = (chrono::Utc::now() - newest).num_seconds().abs();
    assert!(skew < 120, "converted from Asia/Kolkata, off by {skew} s");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_legacy_row_without_timestamp_does_not_stop_polling(pool: PgPool) {
    let mut p = poller(&pool, WINDOW).await;
    let mut s = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, timestamp) \
         VALUES ('/api/x', 'GET', 200, NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    insert_api_calls(&pool, &mut Rng(4), 30, 5.0).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(
        total_requests(&s),
        30,
        "the undated row is outside every window"
    );
    insert_api_calls(&pool, &mut Rng(5), 10, 5.0).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 40);
}

/// A poll far behind (a catch-up after an outage) walks the primary key and
/// stops at the page limit: ordering by the `id::int8` output column instead
/// of the column made PostgreSQL read and sort every row above the mark for
/// each page, so a catch-up cost grew with the square of the backlog.
#[sqlx::test(migrations = "./migrations")]
async fn a_catch_up_page_walks_the_id_index_instead_of_sorting_the_backlog(pool: PgPool) {
    for sql in [
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         SELECT '/api/x', 'GET', 200, g % 500, now()::timestamp - make_interval(secs => g) \
         FROM generate_series(1, 200000) AS g",
        "ANALYZE monitoring_api_calls",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let sql = jfmon::db::poller::api_forward_sql();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .bind(1_i64)
        .bind(5_000_i64)
        .fetch_all(&pool)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        !plan.contains("Sort"),
        "a catch-up page sorts the backlog:\n{plan}"
    );
    assert!(plan.contains("Index"), "no index walk:\n{plan}");
}
