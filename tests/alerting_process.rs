//! `jfmon serve` alerting as processes (the real binary) against a
//! per-test database, a small rules file and a webhook receiver on
//! loopback: a hub killed with SIGKILL while an alert fires and restarted
//! writes no second row, sends no second firing, and still writes and sends
//! the resolution; of two hubs exactly one writes and notifies, and when it
//! is killed the other takes over; `serve --read-only` judges but writes
//! and sends nothing. Calls are inserted directly; waits are generous
//! deadlines, never timed assertions.

mod common;
mod hub_util;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxState;
use axum::routing::post;
use common::serve::{HubProcess, serve_command};
use common::*;
use hub_util::http_get;
use serde_json::Value;
use sqlx::PgPool;
use tokio::net::TcpListener;

const RULES: &str = r#"
defaults = false

[[rules]]
name = "ProbeFailing"
scope = "endpoint"
match = "/api/probe"
metric = "error_rate"
op = ">"
threshold = 0.5
recover = 0.2
window = "5m"
for = "0"
min_samples = 5
no_data = "keep"
severity = "critical"
summary = "{method} {endpoint} fails: {why}"
"#;

/// A scratch directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "jfmon-alerting-process-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Inbox = Arc<Mutex<Vec<Value>>>;

/// A webhook receiver on loopback keeping every body in order.
async fn webhook() -> (Inbox, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    async fn keep(AxState(inbox): AxState<Inbox>, body: axum::body::Bytes) -> &'static str {
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        inbox.lock().unwrap().push(v);
        "ok"
    }
    let app = Router::new().fallback(post(keep)).with_state(inbox.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (inbox, port)
}

/// How many webhook bodies said `status`.
fn said(inbox: &Inbox, status: &str) -> usize {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == status)
        .count()
}

/// Rules and config (the webhook) in `dir`.
fn files(dir: &Path, hook_port: u16) -> (PathBuf, PathBuf) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n"
        ),
    )
    .unwrap();
    (rules, config)
}

/// `jfmon serve` with `rules`, `config` and `extra`, on a port of its own.
fn serve(url: &str, rules: &Path, config: &Path, extra: &[&str]) -> HubProcess {
    let url = url.to_owned();
    let mut args: Vec<String> = vec!["--interval".into(), "200ms".into()];
    args.push("--rules".into());
    args.push(rules.to_str().expect("a UTF-8 path").into());
    args.push("--config".into());
    args.push(config.to_str().expect("a UTF-8 path").into());
    args.extend(extra.iter().map(|s| s.to_string()));
    HubProcess::start(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve_command(&url, &args)
    })
}

/// Insert `n` calls to GET /api/probe answered `status`, now.
async fn probe(pool: &PgPool, n: i32, status: i32) {
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         SELECT '/api/probe', 'GET', $2, 100, now()::timestamp FROM generate_series(1, $1)",
    )
    .bind(n)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
}

/// The jfmon rows' contexts.
async fn rows(pool: &PgPool) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT context FROM monitoring_alerts WHERE context->>'source' = 'jfmon' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Wait (at most 90 s) until `f` holds; panics with `what`.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..900 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The hub's alerting as `/monitoring/api/alerts` reports it (`None`: not up).
async fn alerting(port: u16) -> Option<Value> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let (code, body) = http_get(addr, "/monitoring/api/alerts", None).await;
    if code != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    Some(v["alerting"].clone())
}

async fn role(port: u16) -> Option<String> {
    alerting(port)
        .await
        .and_then(|a| a["role"].as_str().map(str::to_owned))
}

/// Whether the hub judges ProbeFailing firing.
async fn judged_firing(port: u16) -> bool {
    alerting(port).await.is_some_and(|a| {
        a["alerts"].as_array().is_some_and(|l| {
            l.iter()
                .any(|x| x["rule"] == "ProbeFailing" && x["phase"] == "firing")
        })
    })
}

/// Wait until nothing of jfmon is connected to the test database any more.
async fn sessions_gone(pool: &PgPool) {
    until("jfmon's sessions to close", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'jfmon'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        n == 0
    })
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_hub_killed_while_firing_neither_repeats_nor_forgets(pool: PgPool) {
    let url = url_of(&pool);
    let dir = TempDir::new("kill");
    let (inbox, hook) = webhook().await;
    let (rules, config) = files(&dir.0, hook);
    probe(&pool, 20, 500).await;
    let mut hub = serve(&url, &rules, &config, &[]);
    until("the row", || async { rows(&pool).await.len() == 1 }).await;
    until("the firing notification", || async {
        said(&inbox, "firing") == 1
    })
    .await;

    hub.kill();
    probe(&pool, 20, 500).await;
    let _hub = serve(&url, &rules, &config, &[]);
    let port = _hub.port;
    until("the restarted hub to lead", || async {
        role(port).await.as_deref() == Some("leading")
    })
    .await;
    until("the restarted hub to judge the alert firing", || {
        judged_firing(port)
    })
    .await;
    assert_eq!(
        rows(&pool).await.len(),
        1,
        "no second row after the restart"
    );
    assert!(rows(&pool).await[0]["resolved_at"].is_null());

    probe(&pool, 400, 200).await;
    until("the resolution in the row", || async {
        rows(&pool).await[0]["resolved_at"].is_string()
    })
    .await;
    until("the resolved notification", || async {
        said(&inbox, "resolved") == 1
    })
    .await;
    assert_eq!(rows(&pool).await.len(), 1);
    assert_eq!(said(&inbox, "firing"), 1, "no second firing notification");
    drop(_hub);
    sessions_gone(&pool).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn of_two_hubs_one_alerts_and_the_other_takes_over(pool: PgPool) {
    let url = url_of(&pool);
    let dir = TempDir::new("two");
    let (inbox, hook) = webhook().await;
    let (rules, config) = files(&dir.0, hook);
    probe(&pool, 20, 500).await;
    let mut hubs = [
        serve(&url, &rules, &config, &[]),
        serve(&url, &rules, &config, &[]),
    ];
    let ports = [hubs[0].port, hubs[1].port];
    for p in ports {
        until("both hubs to judge the alert firing", || judged_firing(p)).await;
    }
    let roles = [role(ports[0]).await, role(ports[1]).await];
    let leader = roles
        .iter()
        .position(|r| r.as_deref() == Some("leading"))
        .expect("one hub leads");
    assert_eq!(
        roles[1 - leader].as_deref(),
        Some("standing by"),
        "{roles:?}"
    );
    until("the row", || async { rows(&pool).await.len() == 1 }).await;
    until("the firing notification", || async {
        said(&inbox, "firing") >= 1
    })
    .await;

    hubs[leader].kill();
    let other = ports[1 - leader];
    until("the other hub to take over", || async {
        role(other).await.as_deref() == Some("leading")
    })
    .await;
    probe(&pool, 400, 200).await;
    until("the resolution in the row", || async {
        rows(&pool).await[0]["resolved_at"].is_string()
    })
    .await;
    until("the resolved notification", || async {
        said(&inbox, "resolved") == 1
    })
    .await;
    assert_eq!(rows(&pool).await.len(), 1, "exactly one hub wrote");
    assert_eq!(said(&inbox, "firing"), 1, "exactly one hub notified");
    drop(hubs);
    sessions_gone(&pool).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_read_only_hub_judges_but_writes_and_sends_nothing(pool: PgPool) {
    let url = url_of(&pool);
    let dir = TempDir::new("ro");
    let (inbox, hook) = webhook().await;
    let (rules, config) = files(&dir.0, hook);
    probe(&pool, 20, 500).await;
    let hub = serve(&url, &rules, &config, &["--read-only"]);
    let port = hub.port;
    until("the read-only hub to judge the alert firing", || {
        judged_firing(port)
    })
    .await;
    assert_eq!(role(port).await.as_deref(), Some("read-only"));
    // A few more evaluations, then nothing may have been written or sent.
    let before = alerting(port).await.unwrap();
    probe(&pool, 20, 500).await;
    until("more polls", || async {
        alerting(port).await.is_some_and(|a| a != before) || !rows(&pool).await.is_empty()
    })
    .await;
    assert!(
        rows(&pool).await.is_empty(),
        "a read-only hub writes no row"
    );
    assert_eq!(count(&pool, "monitoring_alerts").await, 0);
    assert!(inbox.lock().unwrap().is_empty(), "and sends nothing");
    drop(hub);
    sessions_gone(&pool).await;
}
