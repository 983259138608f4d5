//! `--ws` together with a database: the screen takes the hub's data while
//! the hub is up (nothing counted twice), falls back to its own poller (a full
//! reload) when the hub goes away, and takes the hub's full state again when
//! it returns.

mod common;
mod hub_util;

use std::time::Duration;

use common::*;
use hub_util::*;
use jfmon::model::SourceId;
use jfmon::source::{self, link_pair};
use sqlx::PgPool;

fn requests(s: &jfmon::store::State) -> u64 {
    s.endpoints().iter().map(|e| e.requests).sum()
}

/// A hub fed by its own poller, as `jfmon serve` runs it.
async fn hub_on(
    pool: &PgPool,
    addr: Option<std::net::SocketAddr>,
) -> (Served, Vec<tokio::task::JoinHandle<()>>) {
    let served = match addr {
        Some(a) => Served::start_on(hub_settings(), a).await,
        None => Served::start(hub_settings()).await,
    };
    let (link, peer) = link_pair();
    let src = tokio::spawn(source::postgres::run(
        poller(pool, WINDOW).await,
        "postgres://postgres@127.0.0.1/x".into(),
        "hub-db".into(),
        Duration::from_millis(200),
        link,
    ));
    let feeder = served.hub.clone();
    let feed = tokio::spawn(async move {
        let _keep = peer.commands;
        feeder.feed(peer.updates).await
    });
    (served, vec![src, feed])
}

#[sqlx::test(migrations = "./migrations")]
async fn hub_preferred_database_as_fallback(pool: PgPool) {
    let mut rng = Rng(11);
    insert_api_calls(&pool, &mut rng, 200, 120.0).await;
    let (hub, tasks) = hub_on(&pool, None).await;
    let addr = hub.addr;

    let (db_link, db_peer) = link_pair();
    let db_task = tokio::spawn(source::postgres::run(
        poller(&pool, WINDOW).await,
        "postgres://postgres@127.0.0.1/x".into(),
        "screen-db".into(),
        Duration::from_millis(200),
        db_link,
    ));
    let (link, peer) = link_pair();
    let task = tokio::spawn(source::stream::run_with_database(
        stream_settings(&hub.ws_url(), None),
        db_peer,
        Duration::from_secs(WINDOW),
        link,
    ));
    let mut f = Follower::from_parts(peer, task);
    f.until("hub data", 20, |s| {
        requests(s) == 200 && s.source(SourceId::Stream).is_some_and(|x| x.up)
    })
    .await;
    f.drain_for(1000).await;
    assert_eq!(
        requests(&f.state),
        200,
        "hub and poller both running: nothing twice"
    );
    assert_eq!(
        f.state.source(SourceId::Postgres).unwrap().target,
        "screen-db",
        "the screen shows its own database connection"
    );

    insert_api_calls(&pool, &mut rng, 50, 2.0).await;
    f.until("new rows via the hub", 20, |s| requests(s) == 250)
        .await;

    hub.stop().await;
    for t in tasks {
        t.abort();
    }
    f.until("stream down", 20, |s| {
        s.source(SourceId::Stream).is_some_and(|x| !x.up)
    })
    .await;
    insert_api_calls(&pool, &mut rng, 30, 2.0).await;
    f.until("new rows via the local poller", 20, |s| requests(s) == 280)
        .await;
    f.drain_for(1000).await;
    assert_eq!(requests(&f.state), 280);
    assert_matches_exact(&f.state, &exact_endpoints(&pool, 700.0).await);

    let (hub, tasks) = hub_on(&pool, Some(addr)).await;
    f.until("hub back", 30, |s| {
        s.source(SourceId::Stream).is_some_and(|x| x.up)
    })
    .await;
    insert_api_calls(&pool, &mut rng, 20, 2.0).await;
    f.until("rows after the hub's return", 20, |s| requests(s) == 300)
        .await;
    f.drain_for(1000).await;
    assert_eq!(requests(&f.state), 300);
    assert_matches_exact(&f.state, &exact_endpoints(&pool, 700.0).await);

    f.stop();
    db_task.abort();
    hub.stop().await;
    for t in tasks {
        t.abort();
    }
}
