//! Every pooled connection killed under jfmon (`pg_terminate_backend`, what a
//! PostgreSQL restart does to them): the next poll succeeds, with nothing lost
//! or counted twice, for the poller, the PostgreSQL source, `jfmon serve`, the
//! stream+database combination and acknowledging. Before, the pool handed out
//! its dead connections one poll at a time while the backoff grew, and
//! recovery took about two minutes (issue 8 §1).

mod common;
mod hub_util;

use std::cell::Cell;
use std::time::Duration;

use common::serve::{HubProcess, refused_port, serve_command};
use common::*;
use hub_util::*;
use jfmon::model::{SourceId, Update};
use jfmon::source::{self, link_pair};
use sqlx::PgPool;

/// Terminate every session of this database named `jfmon` and wait until
/// those are gone (new ones may already be open); returns how many there were.
async fn kill_jfmon_sessions(pool: &PgPool) -> usize {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'jfmon'",
    )
    .fetch_all(pool)
    .await
    .expect("jfmon sessions");
    sqlx::query("SELECT pg_terminate_backend(p) FROM unnest($1::int4[]) AS p")
        .bind(&pids)
        .execute(pool)
        .await
        .expect("terminate");
    for _ in 0..250 {
        let left: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1))",
        )
        .bind(&pids)
        .fetch_one(pool)
        .await
        .unwrap();
        if !left {
            return pids.len();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("jfmon sessions survived pg_terminate_backend");
}

/// Wait until the pool's connections are back in it, idle (a poll's
/// connections return to the pool in background tasks).
async fn settled(pool: &PgPool) {
    for _ in 0..250 {
        if pool.size() > 0 && pool.num_idle() == pool.size() as usize {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("pool never settled");
}

#[sqlx::test(migrations = "./migrations")]
async fn next_poll_succeeds_after_connections_are_killed(pool: PgPool) {
    let mut rng = Rng(81);
    insert_api_calls(&pool, &mut rng, 100, 60.0).await;
    let mut p = poller(&pool, 900).await;
    let mut s = state(900);
    poll_into(&mut p, &mut s).await;
    poll_into(&mut p, &mut s).await;
    let mut expected = 100;
    for round in 0..3 {
        settled(p.pool()).await;
        let killed = kill_jfmon_sessions(&pool).await;
        assert!(killed >= 1, "round {round}: the pool held connections");
        insert_api_calls(&pool, &mut rng, 50, 1.0).await;
        expected += 50;
        let b = p
            .poll()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the next poll failed: {e}"));
        s.apply(Update::Batch(Box::new(b)));
        assert_eq!(total_requests(&s), expected, "round {round}");
    }
    assert_matches_exact(&s, &exact_endpoints(&pool, 900.0).await);
}

#[sqlx::test(migrations = "./migrations")]
async fn source_and_acknowledge_ride_out_killed_connections(pool: PgPool) {
    let mut rng = Rng(82);
    insert_api_calls(&pool, &mut rng, 100, 60.0).await;
    let alert: i64 = sqlx::query_scalar(
        "INSERT INTO monitoring_alerts (alert_type, severity, title) \
         VALUES ('t', 'high', 'x') RETURNING id::int8",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // The combination runs the same PostgreSQL source behind it; its stream
    // goes nowhere (the database is the store's source).
    let (db_link, db_peer) = link_pair();
    let p = poller(&pool, WINDOW).await;
    let jfmon_pool = p.pool().clone();
    let db_task = tokio::spawn(source::postgres::run(
        p,
        "postgres://postgres@127.0.0.1/x".into(),
        "db".into(),
        Duration::from_millis(200),
        db_link,
    ));
    let (link, peer) = link_pair();
    // Held, never listening: connecting is refused, and no one else gets it.
    let (_held, refused) = refused_port();
    let dead = format!("ws://127.0.0.1:{refused}/monitoring/ws");
    let task = tokio::spawn(source::stream::run_with_database(
        stream_settings(&dead, None),
        db_peer,
        Duration::from_secs(WINDOW),
        link,
    ));
    let mut f = Follower::from_parts(peer, task);
    f.until("first load", 20, |s| total_requests(s) == 100)
        .await;

    let mut expected = 100;
    for round in 0..2 {
        settled(&jfmon_pool).await;
        kill_jfmon_sessions(&pool).await;
        insert_api_calls(&pool, &mut rng, 30, 1.0).await;
        expected += 30;
        let went_down = Cell::new(false);
        f.until("rows after the kill", 20, |s| {
            if s.source(SourceId::Postgres).is_some_and(|x| !x.up) {
                went_down.set(true);
            }
            total_requests(s) == expected
        })
        .await;
        assert!(!went_down.get(), "round {round}: a poll failed");
    }

    settled(&jfmon_pool).await;
    kill_jfmon_sessions(&pool).await;
    let (reply, answer) = tokio::sync::oneshot::channel();
    f.peer
        .commands
        .send(source::SourceCommand::Acknowledge { id: alert, reply })
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), answer)
        .await
        .expect("acknowledged in time")
        .unwrap();
    assert_eq!(r, Ok(()), "acknowledge after the kill");
    let acked: bool =
        sqlx::query_scalar("SELECT acknowledged FROM monitoring_alerts WHERE id = $1")
            .bind(alert)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(acked);

    // Acknowledging straight on the pool, too.
    settled(&jfmon_pool).await;
    kill_jfmon_sessions(&pool).await;
    source::postgres::acknowledge(&jfmon_pool, alert)
        .await
        .expect("acknowledge on a pool whose connections were killed");
    f.stop();
    db_task.abort();
}

#[sqlx::test(migrations = "./migrations")]
async fn serve_rides_out_killed_connections(pool: PgPool) {
    let db = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let mut rng = Rng(83);
    insert_api_calls(&pool, &mut rng, 100, 60.0).await;
    let hub = HubProcess::start(move || serve_command(&url, &["--interval", "200ms"]));
    let port = hub.port;
    let ws = format!("ws://127.0.0.1:{port}/monitoring/ws");
    let mut f = Follower::start(stream_settings(&ws, None));
    f.until("hub data", 30, |s| {
        total_requests(s) == 100 && s.source(SourceId::Postgres).is_some_and(|x| x.up)
    })
    .await;
    let mut expected = 100;
    for round in 0..2 {
        // The hub's pool has connections (it polls every 200 ms).
        kill_jfmon_sessions(&pool).await;
        insert_api_calls(&pool, &mut rng, 30, 1.0).await;
        expected += 30;
        let went_down = Cell::new(false);
        f.until("rows after the kill", 20, |s| {
            if s.source(SourceId::Postgres).is_some_and(|x| !x.up) {
                went_down.set(true);
            }
            total_requests(s) == expected
        })
        .await;
        assert!(
            !went_down.get(),
            "round {round}: the hub reported its database down"
        );
    }
    f.stop();
    drop(hub);
    kill_jfmon_sessions(&pool).await;
}
