//! `jfmon serve` as a process against a real database, and the hub when its
//! database goes away: a client follows the hub through SIGKILL and restart
//! (reconnects, resynchronises), `jfmon snapshot --follow --json --ws` reads
//! it without a database, SIGTERM ends it with close frames and exit 0; with
//! the database cut under the hub (loopback proxy) clients see the source
//! down with the data kept, then up again with nothing lost.

mod common;
mod hub_util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::serve::{HubProcess, serve_command};
use common::*;
use hub_util::*;
use jfmon::model::SourceId;
use jfmon::source::{self, link_pair};
use sqlx::PgPool;

/// A child process killed when dropped (a failing test leaves nothing behind).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `jfmon serve` polling every 200 ms, on a port of its own.
fn serve(url: &str) -> HubProcess {
    let url = url.to_owned();
    HubProcess::start(move || serve_command(&url, &["--interval", "200ms"]))
}

async fn wait_healthy(port: u16) {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && http_get(addr, "/healthz", None).await.0 == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("jfmon serve did not come up on {port}");
}

fn requests(s: &jfmon::store::State) -> u64 {
    s.endpoints().iter().map(|e| e.requests).sum()
}

/// Wait until the processes' database sessions are gone (the test database
/// is dropped after the test, which fails while anyone is connected).
async fn sessions_gone(pool: &PgPool) {
    for _ in 0..250 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'jfmon'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("jfmon sessions still open");
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn serve_survives_kill_restart_and_stops_cleanly(pool: PgPool) {
    let url = url_of(&pool);
    let mut rng = Rng(99);
    insert_api_calls(&pool, &mut rng, 300, 300.0).await;
    let mut hub = serve(&url);
    let port = hub.port;
    let ws = format!("ws://127.0.0.1:{port}/monitoring/ws");
    wait_healthy(port).await;
    let mut f = Follower::start(stream_settings(&ws, None));
    f.until("hub data and its source status", 20, |s| {
        requests(s) == 300 && s.source(SourceId::Postgres).is_some_and(|x| x.up)
    })
    .await;

    // Killed: no close frame; the client notices, keeps its data.
    hub.kill();
    f.until("stream down", 20, |s| {
        s.source(SourceId::Stream).is_some_and(|x| !x.up)
    })
    .await;
    assert_eq!(requests(&f.state), 300);

    insert_api_calls(&pool, &mut rng, 100, 2.0).await;
    // Restarted on its port: the follower reconnects to the same address.
    hub.restart();
    wait_healthy(port).await;
    f.until("resynchronised", 30, |s| {
        requests(s) == 400 && s.source(SourceId::Stream).is_some_and(|x| x.up)
    })
    .await;
    assert_matches_exact(&f.state, &exact_endpoints(&pool, 700.0).await);

    // `snapshot --follow --json --ws` without a database.
    let mut snap = Proc(
        Command::new(env!("CARGO_BIN_EXE_jfmon"))
            .args(["snapshot", "--follow", "--json", "--ws", &ws])
            .env_remove("DATABASE_URL")
            .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = snap.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        for l in lines.by_ref() {
            let l = l.unwrap();
            let v: serde_json::Value = serde_json::from_str(&l).expect("NDJSON");
            let n: u64 = v["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["requests"].as_u64().unwrap())
                .sum();
            if n == 400 {
                return v;
            }
        }
        panic!("no line with the hub's data");
    });
    let v = tokio::time::timeout(Duration::from_secs(20), line)
        .await
        .expect("snapshot --follow printed in time")
        .unwrap();
    let ids: Vec<&str> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["postgres", "stream"]);
    drop(snap);

    // One-shot `snapshot --json --ws`.
    let out = tokio::task::spawn_blocking({
        let ws = ws.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_jfmon"))
                .args(["snapshot", "--json", "--ws", &ws])
                .env_remove("DATABASE_URL")
                .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 4);

    // SIGTERM: close frames, exit 0.
    let pid = hub.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut hub.child, 15))
        .await
        .unwrap();
    assert!(st.success(), "exit status {st:?}");
    f.until("closed by the hub", 10, |s| {
        s.source(SourceId::Stream).is_some_and(|x| !x.up)
    })
    .await;
    let err = f.stream().unwrap().last_error.clone().unwrap();
    assert!(err.contains("hub shutting down"), "{err}");
    f.stop();
    sessions_gone(&pool).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn database_lost_and_back_under_the_hub(pool: PgPool) {
    let mut rng = Rng(3);
    insert_api_calls(&pool, &mut rng, 200, 60.0).await;
    let proxy = Proxy::start(&database_addr()).await;
    let poller = poller_through(&proxy, &pool, WINDOW).await;

    let served = Served::start(hub_settings()).await;
    let (link, peer) = link_pair();
    let source = tokio::spawn(source::postgres::run(
        poller,
        "postgres://postgres:hunter2@127.0.0.1/x".into(),
        "127.0.0.1/x".into(),
        Duration::from_millis(200),
        link,
    ));
    let feeder = served.hub.clone();
    let _cmds = peer.commands;
    let feed = tokio::spawn(async move { feeder.feed(peer.updates).await });

    let mut f = Follower::start(stream_settings(&served.ws_url(), None));
    f.until("data", 20, |s| requests(s) == 200).await;

    proxy.cut();
    insert_api_calls(&pool, &mut rng, 50, 1.0).await;
    f.until("hub's source down", 30, |s| {
        s.source(SourceId::Postgres).is_some_and(|x| !x.up)
    })
    .await;
    let pg = f.state.source(SourceId::Postgres).unwrap().clone();
    assert!(pg.last_error.as_deref().unwrap().contains("PostgreSQL"));
    assert!(!pg.last_error.as_deref().unwrap().contains("hunter2"));
    assert!(f.stream().unwrap().up, "the stream itself is fine");
    assert_eq!(requests(&f.state), 200, "data kept");
    let (code, body) = http_get(served.addr, "/monitoring/api/health", None).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["stale"], true);
    let (_, body) = http_get(served.addr, "/monitoring/api/metrics", None).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["endpoints"].as_array().unwrap().len(),
        4,
        "last data still served"
    );

    proxy.restore();
    f.until("back with every row", 30, |s| {
        s.source(SourceId::Postgres).is_some_and(|x| x.up) && requests(s) == 250
    })
    .await;
    assert_eq!(comparable(&f.state), served.hub.with_state(comparable));
    f.stop();
    source.abort();
    feed.abort();
    served.stop().await;
}
