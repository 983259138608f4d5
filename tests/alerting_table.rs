//! Rule alerts in `monitoring_alerts` against the real PostgreSQL: firing
//! writes one row in the platform's shape, never twice for an open
//! fingerprint; resolving writes into that row's context; the poller, the
//! JSON snapshot and `check` then treat it as closed while rows written by
//! anything else keep working; the open rows are what a restarted hub
//! resumes from; of two leases exactly one is held; a read-only or
//! standing-by alerting writes nothing.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use jfmon::alerting::lease::Lease;
use jfmon::alerting::table::{self, OpenAlert};
use jfmon::alerting::{Alert, Alerting, Bound, Change, Judge, Role};
use jfmon::store::State;
use sqlx::PgPool;

fn alert(fp: &str, integration: &str) -> Alert {
    Alert {
        fingerprint: fp.into(),
        rule: "integration_down".into(),
        labels: BTreeMap::from([
            ("alertname".into(), "integration_down".into()),
            ("integration".into(), integration.into()),
        ]),
        severity: "critical".into(),
        summary: format!("{integration} is down"),
        description: "success rate 0.1 below 0.5 (token=hunter2)".into(),
        runbook: Some("check the provider's status page".into()),
        value: Some(0.1),
        bound: Bound::Threshold(0.5),
        since: Utc::now() - TimeDelta::minutes(3),
    }
}

async fn rows(pool: &PgPool) -> Vec<(i64, String, String, String, serde_json::Value)> {
    sqlx::query_as(
        "SELECT id::int8, alert_type, severity, title, context FROM monitoring_alerts ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn fire_writes_one_row_in_the_platform_shape_and_never_twice(pool: PgPool) {
    let mut c = pool.acquire().await.unwrap();
    let a = alert("00000000000000aa", "openai");
    let id = table::fire(&mut c, &a).await.unwrap();
    assert!(id.is_some());
    assert_eq!(
        table::fire(&mut c, &a).await.unwrap(),
        None,
        "open: not again"
    );
    let r = rows(&pool).await;
    assert_eq!(r.len(), 1);
    let (_, alert_type, severity, title, ctx) = &r[0];
    assert_eq!(alert_type, "integration_down");
    assert_eq!(severity, "critical");
    assert_eq!(title, "openai is down");
    assert_eq!(ctx["source"], "jfmon");
    assert_eq!(ctx["fingerprint"], "00000000000000aa");
    assert_eq!(ctx["rule"], "integration_down");
    assert_eq!(ctx["labels"]["integration"], "openai");
    assert_eq!(ctx["value"], 0.1);
    assert_eq!(ctx["threshold"], 0.5);
    let desc: String = sqlx::query_scalar("SELECT description FROM monitoring_alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!desc.contains("hunter2"), "masked before writing: {desc}");

    // Resolved: the same fingerprint may fire again, as a new row.
    let at = Utc::now();
    assert!(
        table::resolve(&mut c, "00000000000000aa", at, Some(0.97))
            .await
            .unwrap()
    );
    assert!(
        !table::resolve(&mut c, "00000000000000aa", at, Some(0.97))
            .await
            .unwrap()
    );
    let r = rows(&pool).await;
    assert_eq!(r[0].4["resolved_value"], 0.97);
    let resolved_at = r[0].4["resolved_at"].as_str().unwrap();
    assert_eq!(
        DateTime::parse_from_rfc3339(resolved_at).unwrap(),
        at.fixed_offset()
    );
    assert!(table::fire(&mut c, &a).await.unwrap().is_some());
    assert_eq!(rows(&pool).await.len(), 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn resolved_is_closed_for_the_poller_snapshot_and_check(pool: PgPool) {
    // One platform alert (no context) and two jfmon alerts, one resolved.
    sqlx::query(
        "INSERT INTO monitoring_alerts (alert_type, severity, title, context) \
         VALUES ('integration_failure', 'critical', 'platform says so', NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut c = pool.acquire().await.unwrap();
    table::fire(&mut c, &alert("00000000000000b1", "openai"))
        .await
        .unwrap();
    table::fire(&mut c, &alert("00000000000000b2", "prokerala"))
        .await
        .unwrap();
    table::resolve(&mut c, "00000000000000b2", Utc::now(), Some(1.0))
        .await
        .unwrap();

    let mut p = poller(&pool, 900).await;
    let mut s = state(900);
    poll_into(&mut p, &mut s).await;
    let by_title: BTreeMap<&str, _> = s.alerts().iter().map(|a| (a.title.as_str(), a)).collect();
    assert!(by_title["platform says so"].is_open());
    assert!(by_title["openai is down"].is_open());
    let resolved = by_title["prokerala is down"];
    assert!(!resolved.is_open());
    assert!(resolved.resolved_at.is_some());
    assert_eq!(
        s.open_alerts_by_severity().get("critical").copied(),
        Some(2),
        "the resolved alert is not counted open"
    );
    // Open ones are listed first.
    assert!(!s.alerts().last().unwrap().is_open());
    let snap = serde_json::to_value(s.snapshot()).unwrap();
    let listed = snap["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "prokerala is down")
        .unwrap();
    assert!(listed["resolved_at"].is_string());
}

#[sqlx::test(migrations = "./migrations")]
async fn open_lists_only_open_jfmon_rows(pool: PgPool) {
    sqlx::query(
        "INSERT INTO monitoring_alerts (alert_type, severity, title, context) VALUES \
         ('x', 'high', 'platform', '{\"fingerprint\": \"00000000000000c9\"}'), \
         ('x', 'high', 'odd context', '[1, 2]')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut c = pool.acquire().await.unwrap();
    let a = alert("00000000000000c1", "openai");
    table::fire(&mut c, &a).await.unwrap();
    table::fire(&mut c, &alert("00000000000000c2", "did"))
        .await
        .unwrap();
    table::resolve(&mut c, "00000000000000c2", Utc::now(), Some(1.0))
        .await
        .unwrap();
    let open = table::open(&mut c).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].fingerprint, "00000000000000c1");
    assert_eq!(open[0].rule, "integration_down");
    assert_eq!(open[0].labels, a.labels);
    assert_eq!(open[0].value, Some(0.1));
    assert_eq!(open[0].since.timestamp_millis(), a.since.timestamp_millis());
}

#[sqlx::test(migrations = "./migrations")]
async fn one_lease_at_a_time(pool: PgPool) {
    let mut a = Lease::new(pool.clone());
    let mut b = Lease::new(pool.clone());
    assert!(a.try_take().await.unwrap());
    assert!(!b.try_take().await.unwrap());
    assert!(a.try_take().await.unwrap(), "held: still true");
    a.release();
    assert!(b.try_take().await.unwrap());
    assert!(!a.try_take().await.unwrap());
}

/// A judge that returns what the test queues and records what it was
/// restored from (the rule engine's place, seen through the trait).
#[derive(Default)]
struct Queued {
    next: Vec<Change>,
    restored: Vec<OpenAlert>,
}

impl Judge for Queued {
    fn judge(&mut self, _: &State, _: DateTime<Utc>) -> Vec<Change> {
        std::mem::take(&mut self.next)
    }
    fn restore(&mut self, open: &[OpenAlert], _: DateTime<Utc>) {
        self.restored = open.to_vec();
    }
}

async fn step(al: &mut Alerting<Queued>, changes: Vec<Change>) -> jfmon::alerting::run::StepReport {
    let s = state(900);
    al.step(Utc::now(), |j| {
        j.next = changes;
        j.judge(&s, Utc::now())
    })
    .await
}

#[sqlx::test(migrations = "./migrations")]
async fn the_leader_writes_resumes_and_never_repeats(pool: PgPool) {
    let a = alert("00000000000000d1", "openai");
    let mut first = Alerting::new(Queued::default(), Some(pool.clone()), None);
    let r = step(&mut first, vec![Change::Fired(a.clone())]).await;
    assert_eq!(first.role(), Some(Role::Leading));
    assert_eq!(r.fired, 1);

    // A second hub stands by: judges, writes nothing.
    let mut second = Alerting::new(Queued::default(), Some(pool.clone()), None);
    let r = step(
        &mut second,
        vec![Change::Fired(alert("00000000000000d2", "did"))],
    )
    .await;
    assert_eq!(second.role(), Some(Role::StandingBy));
    assert_eq!(r, Default::default());
    assert_eq!(count(&pool, "monitoring_alerts").await, 1);

    // The first goes away: the second leads, resuming from the table.
    // PostgreSQL frees the lock when its backend sees the closed
    // connection, which is a moment after the drop.
    drop(first);
    wait_until_no_advisory_lock(&pool).await;
    let r = step(&mut second, vec![Change::Fired(a.clone())]).await;
    assert_eq!(second.role(), Some(Role::Leading));
    assert_eq!(second.judge().restored.len(), 1);
    assert_eq!(second.judge().restored[0].fingerprint, a.fingerprint);
    assert_eq!(
        r.already, 1,
        "a firing already written is not written again"
    );
    let r = step(
        &mut second,
        vec![Change::Resolved {
            alert: a.clone(),
            at: Utc::now(),
            value: Some(0.99),
        }],
    )
    .await;
    assert_eq!(r.resolved, 1);
    assert_eq!(count(&pool, "monitoring_alerts").await, 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_read_only_alerting_writes_nothing(pool: PgPool) {
    let mut ro = Alerting::new(Queued::default(), None, None);
    let r = step(
        &mut ro,
        vec![Change::Fired(alert("00000000000000e1", "openai"))],
    )
    .await;
    assert_eq!(ro.role(), Some(Role::ReadOnly));
    assert_eq!(r, Default::default());
    assert_eq!(count(&pool, "monitoring_alerts").await, 0);
}
