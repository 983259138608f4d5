//! The alerting task of `jfmon serve`: after every poll the hub applied
//! (and at least once per interval, so that "no data for N minutes" rules
//! move while the source is silent) it judges the state the hub already
//! holds with the rules ([`RulesJudge`], no query per rule), writes and
//! notifies through [`Alerting`], and records its role and the rule alerts
//! in the hub's [`Status`] (`/monitoring/api/alerts`, `/metrics`), and
//! publishes them as [`Update::RuleAlerts`] to the hub's stream clients. It runs
//! beside the poll, never inside it: a slow write delays the next judgement,
//! never the next poll.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;

use super::rules_judge::{BaselineFeed, RulesJudge};
use super::run::Alerting;
use super::status::Status;
use crate::hub::Hub;
use crate::model::{RuleOrigin, Update};
use crate::notify::Outbox;
use crate::rules::RuleSet;

/// How often the anomaly baselines are rebuilt from the rollups.
pub const BASELINE_REFRESH: Duration = Duration::from_secs(600);

/// What the alerting of one hub needs.
pub struct Drive {
    pub hub: Hub,
    pub rules: RuleSet,
    /// `None`: read-only (judges for display, writes and sends nothing).
    pub pool: Option<PgPool>,
    pub baselines: BaselineFeed,
    pub outbox: Option<Arc<Outbox>>,
    /// The longest wait for a poll before judging anyway.
    pub interval: Duration,
}

impl Drive {
    /// Run until `polls` closes: each change of `polls` is a poll the hub
    /// applied. The role and alerts land in `status` after every step.
    pub async fn run(self, mut polls: watch::Receiver<u64>, status: Arc<Status>) {
        let hub = self.hub;
        let mut alerting = Alerting::new(
            RulesJudge::new(self.rules, self.baselines),
            self.pool,
            self.outbox,
        );
        let wait = self.interval.max(Duration::from_secs(1));
        loop {
            // A poll, or the interval without one; a closed signal ends it.
            if let Ok(Err(_)) = tokio::time::timeout(wait, polls.changed()).await {
                return;
            }
            let now = Utc::now();
            let r = alerting
                .step(now, |j| {
                    hub.with_state(|s| super::run::Judge::judge(j, s, now))
                })
                .await;
            if r.fired + r.resolved > 0 {
                tracing::info!(
                    fired = r.fired,
                    resolved = r.resolved,
                    "rule alerts written"
                );
            }
            // Dashboards following the hub (`--ws`) get its rule alerts;
            // the store drops a set that did not change.
            let set = crate::rules::display::rule_alerts(
                alerting.judge().evaluator(),
                RuleOrigin::Hub,
                now,
            );
            hub.publish(Update::RuleAlerts(Box::new(set)));
            let alerts = alerting
                .judge()
                .alerts()
                .filter_map(|a| serde_json::to_value(a).ok())
                .collect();
            if let Some(role) = alerting.role() {
                status.set(role, alerts);
            }
        }
    }
}
