//! `jfmon prune` against the real PostgreSQL, each test in its own database
//! and its own archive directory: the archive round-trips (loaded back into
//! a scratch table with COPY and compared), open alerts and the health table
//! survive, rollups keep the pruned days, rows the rollups have not counted
//! stay, a dry run changes nothing, a poller following during a prune counts
//! exactly, a prune killed with SIGKILL resumes without losing or
//! double-archiving a row, and --read-only refuses.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use sqlx::{AssertSqlSafe, PgPool};

fn jfmon(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .expect("run jfmon")
}

fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{:?}: {text}", out.status);
    text
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jfmon-prune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `n` API calls 40 days old (one a second, ids in time order), each with a
/// request body and some with a bearer token in the error text.
async fn old_api_calls(pool: &PgPool, n: i32) {
    sqlx::query(
        "INSERT INTO monitoring_api_calls \
           (endpoint, method, status_code, response_time, user_id, request_body, error, timestamp) \
         SELECT '/api/chat/' || (g % 7), 'POST', CASE WHEN g % 10 = 0 THEN 500 ELSE 200 END, \
                g % 900, g % 50, '{\"password\":\"hunter2\",\"n\":' || g || '}', \
                CASE WHEN g % 10 = 0 THEN 'upstream said \"no\", Authorization: Bearer abc123secret' END, \
                now()::timestamp - interval '40 days' + make_interval(secs => g) \
         FROM generate_series(1, $1) AS g ORDER BY g",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// Old rows in every other table, plus recent ones everywhere.
async fn old_and_new_rest(pool: &PgPool) {
    for sql in [
        "INSERT INTO monitoring_integration_metrics (integration, operation, success, duration_ms, created_at) \
         SELECT 'openai', 'chat', g % 5 <> 0, g % 3000, now() - interval '40 days' + make_interval(secs => g) \
         FROM generate_series(1, 300) AS g",
        "INSERT INTO monitoring_business_metrics (metric, value, dimensions, recorded_at) \
         SELECT 'revenue', g * 1.5, '{\"plan\":\"gold\",\"card_token\":\"tok_visa_4242\"}', \
                now() - interval '40 days' + make_interval(secs => g) \
         FROM generate_series(1, 200) AS g",
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, last_activity_at, ended_at) \
         SELECT 'old-' || g, 'voice', 'completed', now() - interval '40 days', \
                now() - interval '40 days' + interval '10 minutes', now() - interval '40 days' + interval '10 minutes' \
         FROM generate_series(1, 50) AS g",
        // Started long ago but still going: stays.
        "INSERT INTO monitoring_sessions (session_id, service, status, started_at, last_activity_at) \
         VALUES ('still-on', 'voice', 'active', now() - interval '40 days', now())",
        "INSERT INTO monitoring_context (session_id, context_type, data, created_at) \
         SELECT 'old-' || g, 'step', jsonb_build_object('step', g, 'api_key', 'sk-live-XYZ'), \
                now() - interval '40 days' + make_interval(secs => g) \
         FROM generate_series(1, 100) AS g",
        "INSERT INTO monitoring_alerts (alert_type, severity, title, context, acknowledged, created_at) VALUES \
           ('errors', 'critical', 'open one', '{}', false, now() - interval '40 days'), \
           ('errors', 'warning', 'acknowledged one', '{}', true, now() - interval '40 days'), \
           ('errors', 'warning', 'resolved one', '{\"resolved_at\":\"2026-01-01T00:00:00Z\"}', false, now() - interval '40 days'), \
           ('errors', 'warning', 'recent acknowledged', '{}', true, now()), \
           ('errors', 'critical', 'acknowledged rule alert still firing', '{\"source\":\"jfmon\",\"fingerprint\":\"0123456789abcdef\"}', true, now() - interval '40 days')",
        "INSERT INTO monitoring_integration_health (integration, status, checked_at) \
         VALUES ('openai', 'healthy', now() - interval '90 days')",
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms) \
         SELECT 'openai', true, 100 FROM generate_series(1, 20)",
        "INSERT INTO monitoring_business_metrics (metric, value) SELECT 'revenue', 1 FROM generate_series(1, 5)",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    insert_api_calls(pool, &mut Rng(0x9e), 100, 60.0).await;
}

/// Every row of `table` as text, by id (`cols` comma-separated).
async fn rows_text(
    pool: &PgPool,
    table: &str,
    cols: &str,
    filter: &str,
) -> Vec<Vec<Option<String>>> {
    let list: Vec<String> = cols
        .split(',')
        .map(|c| format!("{}::text", c.trim()))
        .collect();
    let rows: Vec<sqlx::postgres::PgRow> = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM {table} WHERE {filter} ORDER BY id",
        list.join(", ")
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    use sqlx::Row;
    rows.iter()
        .map(|r| {
            (0..list.len())
                .map(|i| r.get::<Option<String>, _>(i))
                .collect()
        })
        .collect()
}

#[derive(Debug, Clone)]
struct ManifestLine {
    table: String,
    first: i64,
    last: i64,
    rows: i64,
    sha256: String,
    file: String,
}

fn manifest(dir: &Path) -> Vec<ManifestLine> {
    let text = std::fs::read_to_string(dir.join("manifest.csv")).expect("manifest");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("table,first_id,last_id,rows,sha256,file")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            ManifestLine {
                table: f[0].into(),
                first: f[1].parse().unwrap(),
                last: f[2].parse().unwrap(),
                rows: f[3].parse().unwrap(),
                sha256: f[4].into(),
                file: f[5].into(),
            }
        })
        .collect()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Check every file against the manifest (SHA-256, no stray files), load
/// them all into `scratch_<table>` tables and return the rows per table.
async fn load_archive(pool: &PgPool, dir: &Path) -> BTreeMap<String, i64> {
    let m = manifest(dir);
    let listed: BTreeSet<String> = m.iter().map(|l| l.file.clone()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "manifest.csv")
        .collect();
    assert_eq!(on_disk, listed, "files on disk and in the manifest differ");
    assert_eq!(listed.len(), m.len(), "a file listed twice");
    let mut per_table = BTreeMap::new();
    for l in &m {
        let bytes = std::fs::read(dir.join(&l.file)).unwrap();
        assert_eq!(
            jfmon::prune::archive::sha256_hex(&bytes),
            l.sha256,
            "{}",
            l.file
        );
        let csv = gunzip(&dir.join(&l.file));
        let header =
            String::from_utf8_lossy(csv.split(|b| *b == b'\n').next().unwrap()).into_owned();
        assert!(!header.contains("request_body"), "{header}");
        let scratch = format!("scratch_{}", l.table);
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {scratch} (LIKE {} INCLUDING DEFAULTS)",
            l.table
        )))
        .execute(pool)
        .await
        .unwrap();
        let before = count(pool, &scratch).await;
        let mut conn = pool.acquire().await.unwrap();
        let mut copy = conn
            .copy_in_raw(&format!(
                "COPY {scratch} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)",
                header.replace('"', "")
            ))
            .await
            .unwrap();
        copy.send(csv).await.unwrap();
        let n = copy.finish().await.unwrap() as i64;
        drop(conn);
        assert_eq!(n, l.rows, "{}", l.file);
        assert_eq!(count(pool, &scratch).await - before, l.rows);
        let (lo, hi): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT min(id)::int8, max(id)::int8 FROM {scratch} WHERE id BETWEEN $1 AND $2"
        )))
        .bind(l.first)
        .bind(l.last)
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(lo >= l.first && hi <= l.last, "{l:?}");
        *per_table.entry(l.table.clone()).or_insert(0) += l.rows;
    }
    per_table
}

/// Requests per minute from the raw table, and as the rollup holds them.
async fn per_minute(pool: &PgPool) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let raw: Vec<(String, i64)> = sqlx::query_as(
        "SELECT date_trunc('minute', timestamp)::timestamptz::text, count(*) \
         FROM monitoring_api_calls WHERE timestamp IS NOT NULL GROUP BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let rolled: Vec<(String, i64)> =
        sqlx::query_as("SELECT minute::text, sum(requests)::int8 FROM jfmon_rollup_api GROUP BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    (raw.into_iter().collect(), rolled.into_iter().collect())
}

async fn titles(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT title FROM monitoring_alerts ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

const API_COLS: &str = "id, endpoint, method, status_code, response_time, user_id, timestamp";

#[sqlx::test(migrations = "./migrations")]
async fn archive_round_trips_and_keeps_open_alerts_health_and_rollups(pool: PgPool) {
    old_api_calls(&pool, 2_000).await;
    old_and_new_rest(&pool).await;
    let url = url_of(&pool);
    let old_api = rows_text(
        &pool,
        "monitoring_api_calls",
        API_COLS,
        "timestamp < now() - interval '30 days'",
    )
    .await;
    let old_business = rows_text(
        &pool,
        "monitoring_business_metrics",
        "id, metric, value, recorded_at",
        "recorded_at < now() - interval '30 days'",
    )
    .await;
    let (minutes_before, _) = per_minute(&pool).await;
    let dir = scratch_dir("roundtrip");
    let out = jfmon(
        &url,
        &[
            "prune",
            "--older-than",
            "30d",
            "--archive",
            dir.to_str().unwrap(),
            "--batch-rows",
            "300",
            "--no-progress",
        ],
    );
    let text = ok(&out);
    assert!(
        text.contains("monitoring_api_calls: deleted 2000 rows"),
        "{text}"
    );

    // What is left: recent rows, the open alert, the live session, health.
    assert_eq!(
        titles(&pool).await,
        [
            "open one",
            "recent acknowledged",
            "acknowledged rule alert still firing"
        ],
        "only acknowledged or resolved old alerts go; a rule alert stays until resolved"
    );
    assert_eq!(count(&pool, "monitoring_api_calls").await, 100);
    assert_eq!(count(&pool, "monitoring_integration_metrics").await, 20);
    assert_eq!(count(&pool, "monitoring_business_metrics").await, 5);
    assert_eq!(count(&pool, "monitoring_context").await, 0);
    let sessions: Vec<String> = sqlx::query_scalar("SELECT session_id FROM monitoring_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, ["still-on"]);
    assert_eq!(count(&pool, "monitoring_integration_health").await, 1);

    // The rollups still show the pruned days, minute by minute.
    let (_, rolled) = per_minute(&pool).await;
    assert_eq!(rolled, minutes_before, "the rollup lost pruned minutes");

    // The archive loads back and equals what was deleted (masked where it must be).
    let per_table = load_archive(&pool, &dir).await;
    assert_eq!(per_table.get("monitoring_api_calls"), Some(&2000));
    assert_eq!(per_table.get("monitoring_alerts"), Some(&2));
    assert_eq!(per_table.get("monitoring_context"), Some(&100));
    assert_eq!(per_table.get("monitoring_sessions"), Some(&50));
    assert_eq!(
        rows_text(&pool, "scratch_monitoring_api_calls", API_COLS, "true").await,
        old_api
    );
    assert_eq!(
        rows_text(
            &pool,
            "scratch_monitoring_business_metrics",
            "id, metric, value, recorded_at",
            "true"
        )
        .await,
        old_business
    );
    let bodies: i64 =
        sqlx::query_scalar("SELECT count(request_body) FROM scratch_monitoring_api_calls")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(bodies, 0, "request_body is never archived");
    let errors: Vec<String> = sqlx::query_scalar(
        "SELECT error FROM scratch_monitoring_api_calls WHERE error IS NOT NULL ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(errors.len(), 200);
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("upstream said \"no\"") && !e.contains("abc123secret")),
        "{:?}",
        &errors[..2]
    );
    let step: Vec<(i64, String)> = sqlx::query_as(
        "SELECT (data->>'step')::int8, data->>'api_key' FROM scratch_monitoring_context ORDER BY id LIMIT 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(step, [(1, "***".to_owned()), (2, "***".to_owned())]);
    let dims: String = sqlx::query_scalar(
        "SELECT dimensions::text FROM scratch_monitoring_business_metrics LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        dims.contains("gold") && !dims.contains("tok_visa"),
        "{dims}"
    );
    for l in manifest(&dir) {
        let csv = String::from_utf8(gunzip(&dir.join(&l.file))).unwrap();
        for secret in ["hunter2", "abc123secret", "sk-live-XYZ", "tok_visa"] {
            assert!(!csv.contains(secret), "{secret} in {}", l.file);
        }
    }

    // Nothing left to do: a second run deletes nothing and keeps the archive.
    let text = ok(&jfmon(
        &url,
        &[
            "prune",
            "--older-than",
            "30d",
            "--archive",
            dir.to_str().unwrap(),
            "--no-progress",
        ],
    ));
    assert!(text.contains("0 rows deleted"), "{text}");
    assert_eq!(manifest(&dir).len(), load_archive_count(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

fn load_archive_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count() - 1
}

#[sqlx::test(migrations = "./migrations")]
async fn dry_run_changes_nothing_and_read_only_refuses(pool: PgPool) {
    old_api_calls(&pool, 500).await;
    old_and_new_rest(&pool).await;
    let url = url_of(&pool);
    let snapshot = |pool: PgPool| async move {
        let mut all = Vec::new();
        for t in [
            "monitoring_api_calls",
            "monitoring_integration_metrics",
            "monitoring_business_metrics",
            "monitoring_sessions",
            "monitoring_context",
            "monitoring_alerts",
            "monitoring_integration_health",
            "jfmon_rollup_state",
            "jfmon_rollup_api",
            "jfmon_prune_batches",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT t::text FROM {t} AS t ORDER BY 1"
            )))
            .fetch_all(&pool)
            .await
            .unwrap();
            all.push((t, rows));
        }
        all
    };
    let before = snapshot(pool.clone()).await;
    let dir = scratch_dir("dry");
    let text = ok(&jfmon(
        &url,
        &[
            "prune",
            "--older-than",
            "30d",
            "--dry-run",
            "--archive",
            dir.to_str().unwrap(),
        ],
    ));
    assert!(
        text.contains("monitoring_api_calls: would delete 500 rows"),
        "{text}"
    );
    assert!(
        text.contains("monitoring_alerts: would delete 2 rows"),
        "{text}"
    );
    assert_eq!(
        snapshot(pool.clone()).await,
        before,
        "a dry run changed the database"
    );
    assert!(!dir.exists(), "a dry run wrote an archive");

    let out = jfmon(&url, &["--read-only", "prune", "--older-than", "30d"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(snapshot(pool.clone()).await, before);
}

#[sqlx::test(migrations = "./migrations")]
async fn rows_the_rollups_have_not_counted_stay(pool: PgPool) {
    old_api_calls(&pool, 300).await;
    let url = url_of(&pool);
    // Rollups start; then another process holds the follow lease and does
    // not follow, and more old-stamped rows arrive (a late batch import).
    ok(&jfmon(
        &url,
        &["rollup", "--backfill", "1d", "--no-progress"],
    ));
    let mut holder = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(0x6a66_6d6f_6e01_i64)
        .execute(&mut *holder)
        .await
        .unwrap();
    old_api_calls(&pool, 100).await;
    let text = ok(&jfmon(
        &url,
        &["prune", "--older-than", "30d", "--no-progress"],
    ));
    assert!(
        text.contains("monitoring_api_calls: deleted 300 rows"),
        "{text}"
    );
    assert!(
        text.contains("kept 100 older rows the rollups have not counted yet"),
        "{text}"
    );
    assert_eq!(count(&pool, "monitoring_api_calls").await, 100);
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(0x6a66_6d6f_6e01_i64)
        .execute(&mut *holder)
        .await
        .unwrap();
    drop(holder);
    // Once counted, they go, and the rollup holds all 400.
    let text = ok(&jfmon(
        &url,
        &["prune", "--older-than", "30d", "--no-progress"],
    ));
    assert!(
        text.contains("monitoring_api_calls: deleted 100 rows"),
        "{text}"
    );
    let total: i64 = sqlx::query_scalar("SELECT sum(requests)::int8 FROM jfmon_rollup_api")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(total, 400);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_poller_following_during_a_prune_counts_exactly(pool: PgPool) {
    old_api_calls(&pool, 20_000).await;
    let url = url_of(&pool);
    let mut p = poller(&pool, 3600).await;
    let mut s = state(3600);
    poll_into(&mut p, &mut s).await;
    assert_eq!(total_requests(&s), 0, "the old rows are outside the window");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args([
            "prune",
            "--older-than",
            "30d",
            "--batch-rows",
            "500",
            "--no-progress",
        ])
        .env("DATABASE_URL", &url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut rng = Rng(0x7a11);
    let mut inserted = 0;
    let mut rounds = 0;
    // Write and poll while the prune runs (and a few rounds more).
    loop {
        let running = child.try_wait().unwrap().is_none();
        insert_api_calls(&pool, &mut rng, 25, 1.0).await;
        inserted += 25;
        poll_into(&mut p, &mut s).await;
        rounds += 1;
        if !running && rounds > 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(child.wait().unwrap().success());
    poll_into(&mut p, &mut s).await;
    poll_into(&mut p, &mut s).await;
    assert_eq!(count(&pool, "monitoring_api_calls").await, inserted as i64);
    assert_eq!(total_requests(&s), inserted);
    assert!(rounds > 6, "the prune ended before any write raced it");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_killed_prune_resumes_without_losing_or_double_archiving(pool: PgPool) {
    old_api_calls(&pool, 30_000).await;
    let url = url_of(&pool);
    let old_ids: BTreeSet<i64> = sqlx::query_scalar("SELECT id::int8 FROM monitoring_api_calls")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let dir = scratch_dir("killed");
    let args = [
        "prune",
        "--older-than",
        "30d",
        "--archive",
        dir.to_str().unwrap(),
        "--batch-rows",
        "200",
        "--no-progress",
    ];
    let mut kills = 0;
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jfmon"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let done_before: i64 = count(&pool, "jfmon_prune_batches").await;
        // Wait for a few more batches, then SIGKILL (a bounded poll).
        for _ in 0..2_000 {
            if count(&pool, "jfmon_prune_batches").await >= done_before + 4
                || child.try_wait().unwrap().is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the prune finished before it could be killed");
    let remaining = count(&pool, "monitoring_api_calls").await;
    assert!(remaining > 0, "killed runs deleted everything");
    ok(&jfmon(&url, &args));
    assert_eq!(count(&pool, "monitoring_api_calls").await, 0);
    // Every deleted row is in exactly one archived file.
    let per_table = load_archive(&pool, &dir).await;
    assert_eq!(
        per_table.get("monitoring_api_calls"),
        Some(&(old_ids.len() as i64))
    );
    let archived: Vec<i64> =
        sqlx::query_scalar("SELECT id::int8 FROM scratch_monitoring_api_calls ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        archived.len(),
        old_ids.len(),
        "a row archived twice or lost"
    );
    assert_eq!(archived.into_iter().collect::<BTreeSet<_>>(), old_ids);
    let _ = std::fs::remove_dir_all(&dir);
}

#[sqlx::test(migrations = "./migrations")]
async fn prune_refuses_a_usage_rollup_older_than_this_jfmon(pool: PgPool) {
    old_api_calls(&pool, 50).await;
    old_and_new_rest(&pool).await;
    // A usage rollup as a jfmon before migration 0016 left it.
    sqlx::query("ALTER TABLE jfmon_rollup_usage_state DROP COLUMN followed_at")
        .execute(&pool)
        .await
        .unwrap();
    let sessions = count(&pool, "monitoring_sessions").await;
    let url = url_of(&pool);
    for args in [
        &["prune", "--older-than", "30d", "--no-progress"][..],
        &["rollup", "--backfill", "7d", "--no-progress"][..],
    ] {
        let out = jfmon(&url, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains(
                "the usage rollup (jfmon_rollup_usage) predates this jfmon — run `jfmon migrate` first"
            ),
            "{args:?}: {err}"
        );
    }
    assert_eq!(count(&pool, "monitoring_sessions").await, sessions);
}
