//! A hub's clients hold exactly the hub's state, and the hub's state equals a
//! local poller's on the same database rows: several stream clients (the real
//! `source::stream::run`) follow an in-process hub fed by the incremental
//! poller while rows keep arriving; after every poll each client's snapshot
//! equals the hub's and a locally polling store's — percentiles included,
//! compared exactly. One client joins late (its reset is the whole state,
//! split into many small parts here).

mod common;
mod hub_util;

use common::*;
use hub_util::*;
use jfmon::model::{Batch, Update};
use sqlx::PgPool;

/// Integration calls, business observations, sessions, alerts, health
/// reports; deterministic, integer-valued (sums are exact in any order).
async fn seed_rest(pool: &PgPool, round: i32, n: i32) {
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics \
             (integration, operation, success, duration_ms, status_code, error, created_at) \
         SELECT (ARRAY['openai','prokerala','elevenlabs','did'])[1 + (i % 4)], 'call', \
                (i * 7 + $1) % 11 <> 0, 20 + (i * 37 + $1) % 2000, \
                CASE WHEN (i * 7 + $1) % 11 = 0 THEN 503 ELSE 200 END, \
                CASE WHEN (i * 7 + $1) % 11 = 0 THEN 'upstream 503 #' || i END, \
                now() - make_interval(secs => (i * 13 % $3)) \
         FROM generate_series(1, $2) AS i",
    )
    .bind(round)
    .bind(n)
    .bind(if round == 0 { 600 } else { 5 })
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_business_metrics (metric, value, recorded_at) \
         SELECT (ARRAY['revenue','credits_used','signups'])[1 + (i % 3)], (i % 50)::float8, \
                now() - make_interval(secs => (i * 17 % $3)) \
         FROM generate_series(1, $2) AS i",
    )
    .bind(round)
    .bind(n / 4)
    .bind(if round == 0 { 600 } else { 5 })
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_sessions (session_id, service, user_id, started_at) \
         SELECT 'r' || $1 || '-' || i, 'guidance', i, now() - make_interval(secs => i * 20) \
         FROM generate_series(1, 5) AS i",
    )
    .bind(round)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_alerts (alert_type, severity, title, context) \
         VALUES ('integration_down', $1, 'round ' || $2, '{\"integration\":\"openai\",\"api_key\":\"sk-x\"}')",
    )
    .bind(["critical", "high", "medium", "low"][round as usize % 4])
    .bind(round)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_integration_health (integration, status, message) \
         VALUES ('elevenlabs', $1, 'check ' || $2) \
         ON CONFLICT (integration) DO UPDATE SET status = EXCLUDED.status, \
             message = EXCLUDED.message, checked_at = now()",
    )
    .bind(if round % 2 == 0 {
        "degraded"
    } else {
        "healthy"
    })
    .bind(round)
    .execute(pool)
    .await
    .unwrap();
}

/// Move `local`'s clock to `now` with an empty batch: the local poll ran a
/// few milliseconds before the hub's, possibly in the previous minute (a
/// window one minute earlier); brought to the hub's instant, the two stores
/// must hold the same thing, whichever side of a minute boundary each poll fell on.
fn catch_up(local: &mut jfmon::store::State, now: chrono::DateTime<chrono::Utc>) {
    local.apply(Update::Batch(Box::new(Batch {
        now,
        ..Batch::default()
    })));
}

#[sqlx::test(migrations = "./migrations")]
async fn clients_equal_the_hub_and_a_local_poller(pool: PgPool) {
    let mut rng = Rng(0x4b);
    insert_api_calls(&pool, &mut rng, 3_000, 600.0).await;
    seed_rest(&pool, 0, 1_200).await;

    let mut s = hub_settings();
    s.reset_chunk_bytes = 8 * 1024; // many parts: the split must be exact
    let served = Served::start(s).await;
    let mut clients: Vec<Follower> = (0..3)
        .map(|_| Follower::start(stream_settings(&served.ws_url(), None)))
        .collect();
    for c in &mut clients {
        c.until("connected", 10, |s| {
            s.source(jfmon::model::SourceId::Stream)
                .is_some_and(|x| x.up)
        })
        .await;
    }

    let mut hub_poller = poller(&pool, WINDOW).await;
    let mut local_poller = poller(&pool, WINDOW).await;
    let mut local = state(WINDOW);

    for round in 1..=5u64 {
        poll_into(&mut local_poller, &mut local).await;
        let b = hub_poller.poll().await.expect("hub poll");
        catch_up(&mut local, b.now);
        served.hub.publish(Update::Batch(Box::new(b)));
        served.hub.publish(marker(round));

        if round == 3 {
            let parts = served
                .hub
                .with_state(|s| jfmon::wire::protocol::split_reset(s.to_batch(), 8 * 1024).len());
            assert!(parts > 5, "the late joiner's reset comes in {parts} parts");
            clients.push(Follower::start(stream_settings(&served.ws_url(), None)));
        }
        let hub_snap = served.hub.with_state(comparable);
        for (i, c) in clients.iter_mut().enumerate() {
            c.until(&format!("client {i} at round {round}"), 20, |s| {
                has_marker(s, round)
            })
            .await;
            assert_eq!(
                comparable(&c.state),
                hub_snap,
                "client {i} differs from the hub after round {round}"
            );
            assert_eq!(c.stream().unwrap().skipped, 0);
        }
        let mut local_snap = comparable(&local);
        // The local store was brought to the hub's clock, so rates agree
        // too; the tolerances below are what they were when they did not.
        local_snap.taken_at = hub_snap.taken_at;
        for (l, h) in local_snap.endpoints.iter_mut().zip(&hub_snap.endpoints) {
            assert!(
                (l.rps - h.rps).abs() <= 0.01 * h.rps.max(0.01),
                "rps {} vs {}",
                l.rps,
                h.rps
            );
            l.rps = h.rps;
        }
        for (l, h) in local_snap
            .integrations
            .iter_mut()
            .zip(&hub_snap.integrations)
        {
            assert!((l.calls_per_min - h.calls_per_min).abs() <= 0.01 * h.calls_per_min.max(0.01));
            l.calls_per_min = h.calls_per_min;
        }
        assert_eq!(
            local_snap, hub_snap,
            "the hub differs from a local poller after round {round}"
        );
        assert_eq!(hub_snap.endpoints.len(), 4);
        assert_eq!(hub_snap.integrations.len(), 4);
        assert!(
            hub_snap
                .integrations
                .iter()
                .all(|i| i.p95_ms.is_some() && i.failures > 0)
        );
        assert_eq!(hub_snap.business.window.len(), 3);
        assert!(hub_snap.sessions.active >= 5 && hub_snap.alerts.len() as u64 == round);
        assert!(hub_snap.endpoints.iter().all(|e| e.p99_ms.is_some()));

        if round == 5 {
            // And all of them equal exact SQL over the rows.
            let hub_state = served.hub.with_state(|s| s.clone());
            assert_matches_exact(&hub_state, &exact_endpoints(&pool, 700.0).await);
            break;
        }
        insert_api_calls(&pool, &mut rng, 400, 3.0).await;
        seed_rest(&pool, round as i32, 200).await;
    }
    assert_eq!(served.hub.clients(), 4);
    for c in clients {
        c.stop();
    }
    served.stop().await;
}
