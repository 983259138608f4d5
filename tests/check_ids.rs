//! `jfmon check` warns when monitoring_api_calls.id (a 32-bit SERIAL in the
//! platform's schema) would run out within 30 days at the observed insert
//! rate, and says how to widen it; each test in its own database.

mod common;

use std::process::Command;

use common::*;
use sqlx::PgPool;

fn check(url: &str) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(["check", "--json"])
        .env("DATABASE_URL", url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .expect("run jfmon");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), v)
}

fn id_findings(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "ids")
        .map(|f| format!("{}: {}", f["level"], f["message"]))
        .collect()
}

/// Move the id sequence so `left` ids remain, then insert 3,600 calls one
/// per second over the last hour (ids in time order): 1 id/s.
async fn hour_of_calls_with_ids_left(pool: &PgPool, left: i64) {
    sqlx::query("SELECT setval(pg_get_serial_sequence('monitoring_api_calls', 'id'), $1)")
        .bind(i32::MAX as i64 - left)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         SELECT '/api/health', 'GET', 200, 5, now()::timestamp - make_interval(secs => 3600 - g) \
         FROM generate_series(1, 3600) AS g ORDER BY g",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "./migrations")]
async fn warns_when_the_32_bit_id_runs_out_within_30_days(pool: PgPool) {
    // 10 days of ids left at 1 id/s.
    hour_of_calls_with_ids_left(&pool, 3600 + 10 * 86_400).await;
    let (code, v) = check(&url_of(&pool));
    let ids = id_findings(&v);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let m = &ids[0];
    assert!(m.starts_with("\"WARNING\""), "{m}");
    assert!(
        m.contains("monitoring_api_calls.id (integer) runs out in about 10 days"),
        "{m}"
    );
    assert!(
        m.contains("ALTER TABLE monitoring_api_calls ALTER COLUMN id TYPE bigint;")
            && m.contains("ALTER SEQUENCE public.monitoring_api_calls_id_seq AS bigint;"),
        "{m}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn no_warning_with_ids_for_longer_than_30_days_or_a_bigint_id(pool: PgPool) {
    // 40 days left at 1 id/s: fine.
    hour_of_calls_with_ids_left(&pool, 3600 + 40 * 86_400).await;
    let (code, v) = check(&url_of(&pool));
    assert!(id_findings(&v).is_empty(), "{v}");
    assert_eq!(code, Some(0), "{v}");
    // Ids taken up to 647 before the end (as by a burst of rolled-back
    // inserts): the sequence counts, not just the rows.
    sqlx::query("SELECT setval(pg_get_serial_sequence('monitoring_api_calls', 'id'), 2147483000)")
        .execute(&pool)
        .await
        .unwrap();
    let (_, v) = check(&url_of(&pool));
    let ids = id_findings(&v);
    assert_eq!(ids.len(), 1, "{v}");
    assert!(ids[0].contains("runs out in about 11 minutes"), "{ids:?}");
    // Widened as the warning says: no warning.
    sqlx::raw_sql(
        "ALTER TABLE monitoring_api_calls ALTER COLUMN id TYPE bigint; \
         ALTER SEQUENCE monitoring_api_calls_id_seq AS bigint",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (code, v) = check(&url_of(&pool));
    assert!(id_findings(&v).is_empty(), "{v}");
    assert_eq!(code, Some(0), "{v}");
}
