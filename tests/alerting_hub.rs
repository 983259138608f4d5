//! The rule engine driving the alerting against the real PostgreSQL, as
//! `jfmon serve` runs it ([`RulesJudge`] in [`Alerting`]): a breach fires
//! one row, a recovery resolves it; a write that fails is written again
//! once the alerting has re-synced with the table, and one whose reply was
//! lost after COMMIT is found, not written again, and notified once; a
//! failed resolution is retried on the next poll; a lease whose connection
//! the server closed is noticed (the hub stands by while another leads).

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::lost_reply::LostReply;
use common::*;
use jfmon::alerting::run::StepReport;
use jfmon::alerting::{Alerting, BaselineFeed, Judge, Role, RulesJudge};
use jfmon::db::connect::pool_with;
use jfmon::model::{Batch, IntegrationMinute, Update, minute_of};
use jfmon::notify::{Kind, Outbox, Receiver};
use jfmon::rules::{Baselines, RuleSet};
use jfmon::store::State;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

const RULES: &str = r#"
defaults = false

[[rules]]
name = "OpenaiFailing"
scope = "integration"
match = "openai"
metric = "error_rate"
op = ">"
threshold = 0.5
recover = 0.2
window = "5m"
for = "0"
min_samples = 5
no_data = "keep"
severity = "critical"
summary = "{integration} fails: {why}"
"#;

fn judge() -> RulesJudge {
    judge_of(RULES)
}

fn judge_of(rules: &str) -> RulesJudge {
    RulesJudge::new(
        RuleSet::from_toml(rules).unwrap(),
        BaselineFeed::Fixed(Arc::new(Baselines::empty())),
    )
}

/// An outbox whose one receiver is down: what it was asked to send stays
/// queued (counted), nothing is lost or sent.
fn outbox() -> Arc<Outbox> {
    Arc::new(Outbox::start(
        vec![Receiver::new("down", Kind::Webhook, "http://127.0.0.1:9/")],
        "http://hub.test".into(),
    ))
}

/// Notifications the outbox was asked for.
fn notified(o: &Outbox) -> u64 {
    o.report()
        .iter()
        .map(|l| l.queued + l.sent + l.dropped)
        .sum()
}

/// A jfmon pool to the test database through `proxy`.
async fn pool_through(proxy: &LostReply, pool: &PgPool) -> PgPool {
    let opts: PgConnectOptions = (*pool.connect_options())
        .clone()
        .host("127.0.0.1")
        .port(proxy.port)
        // The proxy reads the statements: no TLS.
        .ssl_mode(PgSslMode::Disable);
    pool_with(opts, &settings(), true).await.unwrap()
}

/// A state whose openai calls fail (`failures` of 20) this minute.
fn openai(failures: u64) -> State {
    let now = Utc::now();
    let mut s = state(900);
    let d = IntegrationMinute {
        calls: 20,
        failures,
        ..Default::default()
    };
    s.apply(Update::Batch(Box::new(Batch {
        now,
        window_secs: 900,
        integrations: vec![(minute_of(now), "openai".into(), d)],
        ..Default::default()
    })));
    s
}

async fn step(al: &mut Alerting<RulesJudge>, s: &State) -> StepReport {
    let now: DateTime<Utc> = Utc::now();
    al.step(now, |j| j.judge(s, now)).await
}

/// Make every `op` (INSERT or UPDATE) on `monitoring_alerts` fail, as a
/// database refusing the write would.
async fn refuse(pool: &PgPool, op: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION jfmon_test_refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
         CREATE TRIGGER refuse BEFORE {op} ON monitoring_alerts \
         FOR EACH ROW EXECUTE FUNCTION jfmon_test_refuse();"
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// Let the writes of `monitoring_alerts` through again.
async fn stop_refusing(pool: &PgPool) {
    sqlx::query("DROP TRIGGER refuse ON monitoring_alerts")
        .execute(pool)
        .await
        .unwrap();
}

async fn jfmon_rows(pool: &PgPool) -> Vec<serde_json::Value> {
    sqlx::query_scalar(
        "SELECT context FROM monitoring_alerts WHERE context->>'source' = 'jfmon' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn the_rules_fire_and_resolve_one_row(pool: PgPool) {
    let mut al = Alerting::new(judge(), Some(pool.clone()), None);
    let r = step(&mut al, &openai(20)).await;
    assert_eq!(al.role(), Some(Role::Leading));
    assert_eq!(r.fired, 1, "{r:?}");
    assert_eq!(step(&mut al, &openai(20)).await, StepReport::default());
    let rows = jfmon_rows(&pool).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["rule"], "OpenaiFailing");
    assert_eq!(rows[0]["labels"]["integration"], "openai");
    assert_eq!(rows[0]["value"], 1.0);
    assert_eq!(rows[0]["threshold"], 0.5);
    let r = step(&mut al, &openai(0)).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    let rows = jfmon_rows(&pool).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["resolved_at"].is_string(), "{}", rows[0]);
    assert_eq!(rows[0]["resolved_value"], 0.0);
}

/// Review finding: after a failed write the lease was given up and taken
/// again, but the judge was not re-synced with the table: it still held the
/// alert as firing, so the row it never wrote was never written.
#[sqlx::test(migrations = "./migrations")]
async fn a_firing_whose_write_failed_is_written_after_the_resync(pool: PgPool) {
    refuse(&pool, "INSERT").await;
    let mut al = Alerting::new(judge(), Some(pool.clone()), None);
    let r = step(&mut al, &openai(20)).await;
    assert_eq!(r, StepReport::default(), "the write failed");
    assert!(jfmon_rows(&pool).await.is_empty());
    stop_refusing(&pool).await;
    // Still failing: the alert is written now, once.
    let r = step(&mut al, &openai(20)).await;
    assert_eq!(al.role(), Some(Role::Leading));
    assert_eq!(r.fired, 1, "{r:?}");
    assert_eq!(step(&mut al, &openai(20)).await, StepReport::default());
    assert_eq!(jfmon_rows(&pool).await.len(), 1);
}

/// A resolution whose write failed is written once the alerting re-synced
/// (the table still holds the row open: the alert resolves again).
#[sqlx::test(migrations = "./migrations")]
async fn a_resolution_whose_write_failed_is_written_after_the_resync(pool: PgPool) {
    let mut al = Alerting::new(judge(), Some(pool.clone()), None);
    assert_eq!(step(&mut al, &openai(20)).await.fired, 1);
    refuse(&pool, "UPDATE").await;
    assert_eq!(step(&mut al, &openai(0)).await, StepReport::default());
    stop_refusing(&pool).await;
    let r = step(&mut al, &openai(0)).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    let rows = jfmon_rows(&pool).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["resolved_at"].is_string());
}

/// Review finding: `Lease::held()` never asked the server, so a hub whose
/// lease connection had been closed (its lock released, another hub
/// leading) still said it led.
#[sqlx::test(migrations = "./migrations")]
async fn a_lease_whose_connection_died_is_known_lost(pool: PgPool) {
    let quiet = openai(0);
    let mut a = Alerting::new(judge(), Some(pool.clone()), None);
    let mut b = Alerting::new(judge(), Some(pool.clone()), None);
    step(&mut a, &quiet).await;
    step(&mut b, &quiet).await;
    assert_eq!(
        (a.role(), b.role()),
        (Some(Role::Leading), Some(Role::StandingBy))
    );
    // The server ends the leader's session (as when its connection breaks).
    let n: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
    let mut led = false;
    for _ in 0..100 {
        step(&mut b, &quiet).await;
        if b.role() == Some(Role::Leading) {
            led = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(led, "the other hub takes the released lease");
    step(&mut a, &quiet).await;
    assert_eq!(a.role(), Some(Role::StandingBy));
}

/// Review finding: when the connection dropped after the insert's COMMIT
/// (the reply lost), the retry found the row open and took it for an
/// earlier run's: the alert was never notified. The retry now finds its own
/// row (same fingerprint and `since`): one row, one notification.
#[sqlx::test(migrations = "./migrations")]
async fn a_firing_whose_reply_was_lost_is_written_once_and_notified_once(pool: PgPool) {
    let proxy = LostReply::start(&database_addr()).await;
    let o = outbox();
    let mut al = Alerting::new(
        judge(),
        Some(pool_through(&proxy, &pool).await),
        Some(o.clone()),
    );
    proxy.arm("INSERT INTO monitoring_alerts");
    let r = step(&mut al, &openai(20)).await;
    assert!(proxy.fired(), "the insert went through the proxy");
    assert_eq!(r, StepReport::default(), "the reply was lost");
    assert_eq!(jfmon_rows(&pool).await.len(), 1, "the insert committed");
    assert_eq!(notified(&o), 0);
    let r = step(&mut al, &openai(20)).await;
    assert_eq!(al.role(), Some(Role::Leading));
    assert_eq!(r.fired, 1, "{r:?}");
    assert_eq!(step(&mut al, &openai(20)).await, StepReport::default());
    assert_eq!(jfmon_rows(&pool).await.len(), 1);
    assert_eq!(notified(&o), 1);
}

/// The same for a resolution: committed, reply lost, notified once after.
#[sqlx::test(migrations = "./migrations")]
async fn a_resolution_whose_reply_was_lost_is_notified_once(pool: PgPool) {
    let proxy = LostReply::start(&database_addr()).await;
    let o = outbox();
    let mut al = Alerting::new(
        judge(),
        Some(pool_through(&proxy, &pool).await),
        Some(o.clone()),
    );
    assert_eq!(step(&mut al, &openai(20)).await.fired, 1);
    proxy.arm("resolved_at");
    assert_eq!(step(&mut al, &openai(0)).await, StepReport::default());
    assert!(proxy.fired());
    let rows = jfmon_rows(&pool).await;
    assert!(rows[0]["resolved_at"].is_string(), "committed: {}", rows[0]);
    let r = step(&mut al, &openai(0)).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    assert_eq!(step(&mut al, &openai(0)).await, StepReport::default());
    assert_eq!(notified(&o), 2, "fired once, resolved once");
}

/// Review finding: a resolution whose write failed was left to the re-sync,
/// which saw the row open and held the alert firing for the rule's
/// `keep_firing_for` again before resolving it. It is retried on the next
/// poll now.
#[sqlx::test(migrations = "./migrations")]
async fn a_failed_resolution_is_retried_on_the_next_poll(pool: PgPool) {
    let rules = RULES.replace(
        "no_data = \"keep\"",
        "no_data = \"keep\"\nkeep_firing_for = \"10m\"",
    );
    let mut al = Alerting::new(judge_of(&rules), Some(pool.clone()), None);
    assert_eq!(step(&mut al, &openai(20)).await.fired, 1);
    // The condition clears; keep_firing_for holds the alert 10 minutes.
    let later = Utc::now() + chrono::TimeDelta::minutes(11);
    let quiet = openai(0);
    let step_at = async |al: &mut Alerting<RulesJudge>, at: DateTime<Utc>| {
        al.step(at, |j| j.judge(&quiet, at)).await
    };
    assert_eq!(step_at(&mut al, Utc::now()).await, StepReport::default());
    refuse(&pool, "UPDATE").await;
    assert_eq!(
        step_at(&mut al, later).await,
        StepReport::default(),
        "refused"
    );
    stop_refusing(&pool).await;
    let r = step_at(&mut al, later + chrono::TimeDelta::minutes(1)).await;
    assert_eq!(r.resolved, 1, "resolved on the next poll: {r:?}");
    assert!(jfmon_rows(&pool).await[0]["resolved_at"].is_string());
}

/// Review finding: a hub whose write failed kept the change and replayed it
/// when it next took the lease, even after another hub had led meanwhile:
/// a stale firing paged about an incident that was over. Once another hub
/// is seen leading, the failed writes are left to it.
#[sqlx::test(migrations = "./migrations")]
async fn failed_writes_are_not_replayed_after_another_hub_led(pool: PgPool) {
    refuse(&pool, "INSERT").await;
    let mut a = Alerting::new(judge(), Some(pool.clone()), None);
    assert_eq!(
        step(&mut a, &openai(20)).await,
        StepReport::default(),
        "refused"
    );
    stop_refusing(&pool).await;
    // The incident ends; another hub takes the lease and leads.
    let mut b = Alerting::new(judge(), Some(pool.clone()), None);
    assert_eq!(step(&mut b, &openai(0)).await, StepReport::default());
    assert_eq!(b.role(), Some(Role::Leading));
    assert_eq!(step(&mut a, &openai(0)).await, StepReport::default());
    assert_eq!(a.role(), Some(Role::StandingBy));
    // The other hub goes; this one leads again.
    drop(b);
    wait_until_no_advisory_lock(&pool).await;
    let r = step(&mut a, &openai(0)).await;
    assert_eq!(a.role(), Some(Role::Leading));
    assert_eq!(r.fired, 0, "a stale firing was replayed: {r:?}");
    assert!(
        jfmon_rows(&pool).await.is_empty(),
        "{:?}",
        jfmon_rows(&pool).await
    );
}
