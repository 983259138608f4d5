//! A storm of rollbacks (issue 8 §5): 20,000 rolled-back inserts fill the
//! gap set. Probing every gap every poll, as jfmon did, reads 20,000 ids per
//! poll; probing by age keeps each poll within a fixed budget, and rows that
//! commit late inside the storm are still counted, exactly once.

mod common;

use common::*;
use jfmon::db::tail::{MAX_GAPS, PROBE_IDS};
use sqlx::PgPool;

const WINDOW: u64 = 900;

/// `n` inserts that commit and `n` that roll back (a subtransaction each),
/// alternating: `n` one-id gaps.
async fn rollback_storm(pool: &PgPool, n: i32) {
    let sql = "DO $$ BEGIN FOR i IN 1..2 * $N LOOP \
           BEGIN \
             INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
             VALUES ('/api/health', 'GET', 200, 4, now()::timestamp); \
             IF i % 2 = 1 THEN RAISE EXCEPTION 'rolled back'; END IF; \
           EXCEPTION WHEN raise_exception THEN NULL; \
           END; \
         END LOOP; END $$"
        .replace("$N", &n.to_string());
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .expect("rollback storm");
}

#[sqlx::test(migrations = "./migrations")]
async fn rollback_storm_keeps_polls_cheap_and_counts_late_rows(pool: PgPool) {
    let mut rng = Rng(5);
    insert_api_calls(&pool, &mut rng, 100, 60.0).await;
    let mut p = poller(&pool, WINDOW).await;
    let mut naive = poller(&pool, WINDOW).await;
    naive.set_probe_every_gap(true);
    let mut s = state(WINDOW);
    let mut sn = state(WINDOW);
    poll_into(&mut p, &mut s).await;
    poll_into(&mut naive, &mut sn).await;

    // Rows that commit late: one transaction before the storm, one inside it.
    let mut early = pool.begin().await.unwrap();
    insert_api_calls(&mut *early, &mut rng, 5, 1.0).await;
    rollback_storm(&pool, MAX_GAPS as i32 / 2).await;
    let mut middle = pool.begin().await.unwrap();
    insert_api_calls(&mut *middle, &mut rng, 7, 1.0).await;
    rollback_storm(&pool, MAX_GAPS as i32 / 2).await;
    insert_api_calls(&pool, &mut rng, 50, 1.0).await;

    let mut most = 0;
    for _ in 0..6 {
        poll_into(&mut p, &mut s).await;
        poll_into(&mut naive, &mut sn).await;
        most = most.max(p.gaps_probed()[0].0);
        assert!(p.gaps_probed()[0].0 <= PROBE_IDS, "{:?}", p.gaps_probed());
    }
    assert!(p.gap_counts()[0] >= MAX_GAPS - 10, "{:?}", p.gap_counts());
    assert!(
        naive.gaps_probed()[0].0 >= MAX_GAPS - 10,
        "the naive poll probes every gap: {:?}",
        naive.gaps_probed()
    );
    assert_eq!(total_requests(&s), 100 + MAX_GAPS as u64 + 50);

    early.commit().await.unwrap();
    middle.commit().await.unwrap();
    let expected = 100 + MAX_GAPS as u64 + 50 + 12;
    // Every gap is probed again within a poll budget's worth of polls.
    for _ in 0..(MAX_GAPS / PROBE_IDS + 2) {
        if total_requests(&s) == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        poll_into(&mut p, &mut s).await;
        most = most.max(p.gaps_probed()[0].0);
    }
    assert_eq!(total_requests(&s), expected, "late rows counted");
    for _ in 0..3 {
        poll_into(&mut p, &mut s).await;
    }
    assert_eq!(total_requests(&s), expected, "and only once");
    assert!(most <= PROBE_IDS);
    assert_matches_exact(&s, &exact_endpoints(&pool, 900.0).await);
}
