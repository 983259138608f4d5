//! Rule alerts as the dashboard shows them: one [`RuleAlert`] per rule ×
//! label set that is pending, firing, flapping or resolved recently, and the
//! whole current set as one [`RuleAlerts`] (what [`super::Update::RuleAlerts`]
//! carries, from a dashboard's own read-only evaluation or from a hub). The
//! set is replaced wholesale each time; the store keeps resolved alerts a
//! while longer ([`RESOLVED_KEPT_SECS`]) and never more than
//! [`MAX_RULE_ALERTS`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stats::Severity;

/// How long a resolved rule alert stays listed ("resolved recently").
pub const RESOLVED_KEPT_SECS: i64 = 15 * 60;
/// The most rule alerts a store keeps (most important first).
pub const MAX_RULE_ALERTS: usize = 500;

/// Where a rule alert stands. The order is the display order: what needs a
/// person first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAlertState {
    /// Its condition held long enough (`for`): it fired.
    Firing,
    /// Firing, held as one alert while its condition keeps flipping.
    Flapping,
    /// Its condition holds, not yet for long enough to fire.
    Pending,
    /// It was firing and has resolved (listed a while).
    Resolved,
}

impl RuleAlertState {
    pub fn word(self) -> &'static str {
        match self {
            RuleAlertState::Firing => "firing",
            RuleAlertState::Flapping => "flapping",
            RuleAlertState::Pending => "pending",
            RuleAlertState::Resolved => "resolved",
        }
    }

    /// Firing or flapping (a flapping alert is held firing).
    pub fn is_firing(self) -> bool {
        matches!(self, RuleAlertState::Firing | RuleAlertState::Flapping)
    }
}

/// What a rule alert's value is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleBound {
    /// A fixed threshold (`op` is `>`, `>=`, `<`, `<=`) and the recovery
    /// threshold the value must pass to resolve (hysteresis).
    Threshold {
        op: String,
        threshold: f64,
        recover: f64,
    },
    /// An anomaly band from the series' own baseline, in the shown value's
    /// unit (ms for latency).
    Band { low: f64, high: f64, median: f64 },
    /// Nothing numeric (not judged yet, or the rule is gone).
    None,
}

/// One rule alert as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleAlert {
    /// Alertmanager's fingerprint of `labels` (16 hex digits): the same id
    /// as the alert's `monitoring_alerts` row and its notifications.
    pub fingerprint: String,
    /// The rule's name.
    pub rule: String,
    /// The alert's labels (`alertname`, `severity`, the series' labels).
    pub labels: BTreeMap<String, String>,
    pub state: RuleAlertState,
    pub severity: Severity,
    /// The rule's metric (`error_rate`, `p95`, `latency_anomaly`, …).
    pub metric: String,
    /// The value shown, in the metric's unit (a latency level, not its
    /// anomaly score; an error rate as a ratio 0..1); `None`: no data.
    pub value: Option<f64>,
    pub bound: RuleBound,
    /// Pending since, or firing since.
    pub since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The rule's summary, expanded.
    pub summary: String,
    /// Why, in a few words: the value against the threshold or band.
    pub why: String,
    /// For anomaly rules: the baseline window used.
    #[serde(default)]
    pub baseline: Option<String>,
}

impl RuleAlert {
    /// The series label the alert is about: the integration, the endpoint
    /// (`POST /x`), the source or the business metric; empty for a global rule.
    pub fn subject(&self) -> String {
        let l = |k: &str| self.labels.get(k).map(String::as_str);
        match (l("integration"), l("endpoint"), l("source"), l("metric")) {
            (Some(i), ..) => i.to_string(),
            (_, Some(e), ..) => match l("method") {
                Some(m) if !m.is_empty() => format!("{m} {e}"),
                _ => e.to_string(),
            },
            (_, _, Some(s), _) => s.to_string(),
            (_, _, _, Some(m)) => m.to_string(),
            _ => String::new(),
        }
    }

    /// The display order: firing and flapping first, then pending, then
    /// resolved; within each the most severe, then the longest running.
    pub fn order(a: &RuleAlert, b: &RuleAlert) -> std::cmp::Ordering {
        let rank = |s: RuleAlertState| match s {
            RuleAlertState::Firing | RuleAlertState::Flapping => 0,
            RuleAlertState::Pending => 1,
            RuleAlertState::Resolved => 2,
        };
        rank(a.state)
            .cmp(&rank(b.state))
            .then(a.severity.cmp(&b.severity))
            .then(match a.state {
                RuleAlertState::Resolved => b.resolved_at.cmp(&a.resolved_at),
                _ => a.since.cmp(&b.since),
            })
            .then(a.rule.cmp(&b.rule))
            .then(a.fingerprint.cmp(&b.fingerprint))
    }
}

/// Who judged a set of rule alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleOrigin {
    /// This dashboard, read-only: nothing written, nothing notified.
    Local,
    /// A hub (`jfmon serve`), the one evaluator that writes and notifies.
    Hub,
}

impl RuleOrigin {
    pub fn word(self) -> &'static str {
        match self {
            RuleOrigin::Local => "local",
            RuleOrigin::Hub => "hub",
        }
    }
}

/// Whose judgement the rule alerts shown are, as an on-call engineer should
/// read them ([`crate::store::State::rule_judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleJudge {
    /// This dashboard's own read-only evaluation.
    Local,
    /// A hub that is connected now.
    Hub,
    /// A hub that is no longer reachable: its states as of `at` (the hub's
    /// clock), kept on screen (never blanked) but no longer current.
    HubLastKnown { at: DateTime<Utc> },
}

/// The current rule alerts, replacing the previous set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleAlerts {
    pub origin: RuleOrigin,
    /// When they were judged (the judging side's clock).
    pub at: DateTime<Utc>,
    /// Pending, firing, flapping and recently resolved alerts.
    pub alerts: Vec<RuleAlert>,
    /// Per rule, what keeps it from judging ("not enough history yet …").
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
}
