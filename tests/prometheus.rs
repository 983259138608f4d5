//! `/metrics` against the real linter (`promtool check metrics`, Debian's
//! `prometheus` package) and the shipped Grafana dashboard against what the
//! hub exports.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Utc;
use common::*;
use jfmon::hub::HubCounters;
use jfmon::hub::metrics;
use jfmon::model::{SourceId, SourceStatus, Update};
use sqlx::PgPool;

async fn seeded_exposition(pool: &PgPool) -> String {
    let mut rng = Rng(11);
    insert_api_calls(pool, &mut rng, 300, 120.0).await;
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics (integration, success, duration_ms, error) \
         SELECT 'openai', n % 3 = 0, 100 * n, CASE WHEN n % 3 <> 0 THEN 'timeout \"x\"' END \
         FROM generate_series(1, 30) n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO monitoring_alerts (severity, title) VALUES ('critical', 'down')")
        .execute(pool)
        .await
        .unwrap();
    let mut p = poller(pool, 900).await;
    let mut s = state(900);
    poll_into(&mut p, &mut s).await;
    let mut src = SourceStatus::new(SourceId::Postgres, "127.0.0.1:5432/test");
    src.up = true;
    src.last_ok = Some(Utc::now());
    src.poll_ms = Some(12.5);
    s.apply(Update::Source(src));
    let counters = HubCounters::default();
    metrics::render(&s, &counters, 3, Utc::now())
}

#[sqlx::test(migrations = "./migrations")]
async fn metrics_pass_promtool(pool: PgPool) {
    let text = seeded_exposition(&pool).await;
    // The exposition has the data the lint should see.
    for needle in [
        "jfmon_endpoint_latency_p95_seconds{",
        "jfmon_integration_latency_p99_seconds{integration=\"openai\"}",
        "jfmon_source_poll_duration_seconds{source=\"postgres\"} 0.0125",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(!text.contains("quantile="), "no quantile label on gauges");
    if !common::require_tool("promtool", "--version") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics complained:\n{said}"
    );
}

/// The metric names a PromQL expression mentions (identifiers starting
/// `jfmon_`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("jfmon_") {
        let start = i + at;
        let before_ok =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if before_ok {
            names.push(expr[start..end].to_owned());
        }
        i = end;
    }
    names
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

#[test]
fn grafana_dashboard_queries_name_exported_metrics() {
    let text = include_str!("../assets/grafana-dashboard.json");
    let dash: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    let mut queries = Vec::new();
    exprs(&dash, &mut queries);
    assert!(queries.len() >= 8, "the dashboard has its panels");
    let exported: Vec<&str> = metrics::family_names().collect();
    let mut used = std::collections::BTreeSet::new();
    for q in &queries {
        let names = metric_names(q);
        assert!(!names.is_empty(), "query names no jfmon metric: {q}");
        for n in names {
            assert!(
                exported.contains(&n.as_str()),
                "query {q:?} names {n}, which the hub does not export"
            );
            used.insert(n);
        }
    }
    // The panels cover endpoints, integrations, sessions, alerts and the source.
    for must in [
        "jfmon_endpoint_request_rate",
        "jfmon_endpoint_latency_p95_seconds",
        "jfmon_integration_status",
        "jfmon_active_sessions",
        "jfmon_open_alerts",
        "jfmon_source_up",
    ] {
        assert!(used.contains(must), "no panel uses {must}");
    }
    assert_eq!(
        metric_names("rate(jfmon_a_total[5m]) / xjfmon_b"),
        ["jfmon_a_total"]
    );
}
