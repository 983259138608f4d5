//! The PostgreSQL source when the database goes away mid-run (a loopback
//! proxy is cut and restored): it reports down with the reason, the store
//! keeps the last known data, and on return it resumes without losing or
//! double counting a row.

mod common;

use std::time::Duration;

use common::*;
use jfmon::model::{SourceId, Update};
use jfmon::source::{self, SourceLink};
use sqlx::PgPool;
use tokio::sync::mpsc;

/// Apply updates until `pred` holds (bounded: panics after 30 s of waiting).
async fn until(
    rx: &mut mpsc::Receiver<Update>,
    s: &mut jfmon::store::State,
    what: &str,
    pred: impl Fn(&jfmon::store::State) -> bool,
) {
    let wait = async {
        while !pred(s) {
            let u = rx.recv().await.expect("source alive");
            s.apply(u);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for: {what}"));
}

#[sqlx::test(migrations = "./migrations")]
async fn database_lost_and_back(pool: PgPool) {
    let mut rng = Rng(21);
    insert_api_calls(&pool, &mut rng, 300, 60.0).await;

    let proxy = Proxy::start(&database_addr()).await;
    let poller = poller_through(&proxy, &pool, 900).await;

    let (tx, mut rx) = mpsc::channel(source::UPDATE_CHANNEL);
    let (_cmd_tx, cmd_rx) = mpsc::channel(4);
    let task = tokio::spawn(source::postgres::run(
        poller,
        "postgres://postgres:hunter2@127.0.0.1/x".into(),
        "test".into(),
        Duration::from_millis(200),
        SourceLink {
            updates: tx,
            commands: cmd_rx,
        },
    ));
    let mut s = state(900);
    until(&mut rx, &mut s, "first load", |s| total_requests(s) == 300).await;

    proxy.cut();
    insert_api_calls(&pool, &mut rng, 40, 1.0).await;
    until(&mut rx, &mut s, "source down", |s| {
        s.source(SourceId::Postgres).is_some_and(|x| !x.up)
    })
    .await;
    let down = s.source(SourceId::Postgres).unwrap().clone();
    let err = down.last_error.clone().unwrap();
    assert!(!err.contains("hunter2"));
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(down.last_ok.is_some(), "last success remembered");
    assert_eq!(total_requests(&s), 300, "last known data kept while down");
    assert!(!s.endpoints().is_empty());

    insert_api_calls(&pool, &mut rng, 60, 1.0).await;
    proxy.restore();
    until(&mut rx, &mut s, "source back with all rows", |s| {
        s.source(SourceId::Postgres).is_some_and(|x| x.up) && total_requests(s) >= 400
    })
    .await;
    // A few more polls: nothing is counted twice.
    insert_api_calls(&pool, &mut rng, 10, 1.0).await;
    until(&mut rx, &mut s, "new rows after recovery", |s| {
        total_requests(s) >= 410
    })
    .await;
    for _ in 0..6 {
        let u = rx.recv().await.unwrap();
        s.apply(u);
    }
    assert_eq!(total_requests(&s), 410);
    assert_matches_exact(&s, &exact_endpoints(&pool, 700.0).await);
    task.abort();
}
