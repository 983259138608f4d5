//! `jfmon snapshot` and `jfmon check` as a user runs them, against a database
//! of their own: the JSON field names the issue promises, NDJSON with
//! `--follow`, and the Nagios exit codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use sqlx::PgPool;

fn jfmon(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .expect("run jfmon")
}

async fn seed(pool: &PgPool) {
    let mut rng = Rng(5);
    insert_api_calls(pool, &mut rng, 400, 120.0).await;
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, error) \
         SELECT 'openai', false, 30000, 'ConnectTimeout after 30000 ms' FROM generate_series(1, 8)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms) \
         SELECT 'prokerala', true, 200 FROM generate_series(1, 20)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_alerts (severity, title) VALUES ('critical', 'OpenAI down')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO monitoring_sessions (session_id, service) VALUES ('s1', 'guidance')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO monitoring_business_metrics (metric, value) VALUES ('revenue', 9.99)")
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "./migrations")]
async fn snapshot_json_has_the_promised_fields(pool: PgPool) {
    seed(&pool).await;
    let out = jfmon(&url_of(&pool), &["snapshot", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "taken_at",
        "window_secs",
        "sources",
        "endpoints",
        "integrations",
        "sessions",
        "alerts",
        "business",
        "tables_missing",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["window_secs"], 900);
    let e = &v["endpoints"][0];
    for k in [
        "endpoint",
        "method",
        "requests",
        "errors",
        "error_rate",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    ] {
        assert!(e.get(k).is_some(), "endpoint field {k}");
    }
    let total: u64 = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 400);
    let i = &v["integrations"][0];
    assert_eq!(i["name"], "openai");
    assert_eq!(i["status"], "down");
    assert_eq!(i["success_rate"], 0.0);
    assert_eq!(i["last_error"], "ConnectTimeout after 30000 ms");
    assert!(i.get("p95_ms").is_some());
    assert_eq!(v["sessions"]["active"], 1);
    assert!(v["sessions"]["items"].is_array());
    let a = &v["alerts"][0];
    for k in ["id", "severity", "title", "acknowledged", "created_at"] {
        assert!(a.get(k).is_some(), "alert field {k}");
    }
    assert_eq!(a["severity"], "critical");
    assert_eq!(v["business"]["window"]["revenue"], 9.99);
    assert_eq!(v["tables_missing"].as_array().unwrap().len(), 0);
    // request_body is never read, so never printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("request_body"));

    let text = jfmon(&url_of(&pool), &["snapshot"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("openai") && text.contains("DOWN"), "{text}");
}

#[sqlx::test(migrations = "./migrations")]
async fn follow_prints_one_object_per_poll(pool: PgPool) {
    seed(&pool).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(["snapshot", "--follow", "--interval", "200ms"])
        .env("DATABASE_URL", url_of(&pool))
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    insert_api_calls(&pool, &mut Rng(9), 25, 1.0).await;
    let mut last = first.clone();
    for _ in 0..50 {
        last = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        let n: u64 = last["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["requests"].as_u64().unwrap())
            .sum();
        if n == 425 {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let n: u64 = last["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(n, 425, "new rows reached a later line");
    assert_eq!(last["sources"][0]["up"], true);
}

#[sqlx::test(migrations = "./migrations")]
async fn check_exit_codes(pool: PgPool) {
    let url = url_of(&pool);
    // Empty but migrated: no API calls yet is a warning.
    let out = jfmon(&url, &["check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    insert_api_calls(&pool, &mut Rng(1), 50, 10.0).await;
    let out = jfmon(&url, &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    seed(&pool).await;
    let out = jfmon(&url, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "CRITICAL");
    let summary = v["summary"].as_str().unwrap();
    assert!(
        summary.contains("openai") && summary.contains("critical alert"),
        "{summary}"
    );
}

#[sqlx::test(migrations = false)]
async fn check_warns_on_missing_tables(pool: PgPool) {
    let out = jfmon(&url_of(&pool), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("table monitoring_api_calls not found — run `jfmon migrate`"),
        "{text}"
    );
}
