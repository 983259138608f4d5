//! The evaluator's alerts as the dashboard shows them
//! ([`crate::model::RuleAlerts`], one [`crate::model::Update::RuleAlerts`]),
//! and [`LocalRules`]: a dashboard without a hub judging the rules itself,
//! read-only (nothing is written, nothing notified), after each applied
//! batch. A hub sends the same update from its own evaluator.
//!
//! A `--ws` dashboard with a database fallback judges only while no hub
//! does ([`Standing::WhileNoHub`]). What an on-call engineer should be able
//! to trust when the hub goes away:
//!
//! - the screen never blanks: the hub's last states stay listed, marked as
//!   the hub's last known states with their time
//!   ([`crate::model::RuleJudge::HubLastKnown`]), until something current
//!   replaces them;
//! - with the database still readable the dashboard judges locally (marked
//!   local) and starts from the hub's last firing alerts: an outage the hub
//!   had firing stays firing (it is not shown as merely "pending" for the
//!   rule's `for`), and resolves once the database shows it clear for the
//!   rule's `keep_firing_for`;
//! - when a hub is back its states replace the local ones and the local
//!   judgement stands by; the next time the hub goes, it starts again from
//!   the hub's newest states.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::anomaly::Baselines;
use super::eval::{AlertState, Evaluator, Restored};
use super::fingerprint::Fingerprint;
use super::machine::Phase;
use super::spec::RuleSet;
use crate::model::{
    RuleAlert, RuleAlertState, RuleAlerts, RuleBound, RuleJudge, RuleOrigin, Update,
};
use crate::store::State;

fn number(v: &serde_json::Value, key: &str) -> Option<f64> {
    v.get(key).and_then(serde_json::Value::as_f64)
}

/// What the value was compared with, from the evaluator's threshold JSON.
fn bound(t: &serde_json::Value) -> RuleBound {
    if let Some(b) = t.get("band").and_then(|b| b.as_array())
        && let [low, high] = b.as_slice()
    {
        return RuleBound::Band {
            low: low.as_f64().unwrap_or(0.0),
            high: high.as_f64().unwrap_or(0.0),
            median: number(t, "median").unwrap_or(0.0),
        };
    }
    match (number(t, "threshold"), t.get("op").and_then(|o| o.as_str())) {
        (Some(threshold), Some(op)) => RuleBound::Threshold {
            op: op.to_string(),
            threshold,
            recover: number(t, "recover").unwrap_or(threshold),
        },
        _ => RuleBound::None,
    }
}

/// One evaluator alert as shown; `None` for an inactive one.
pub fn to_model(a: &AlertState, rules: &RuleSet) -> Option<RuleAlert> {
    let state = match (a.phase, a.flapping) {
        (Phase::Inactive, _) => return None,
        (Phase::Pending, _) => RuleAlertState::Pending,
        (Phase::Firing, true) => RuleAlertState::Flapping,
        (Phase::Firing, false) => RuleAlertState::Firing,
        (Phase::Resolved, _) => RuleAlertState::Resolved,
    };
    let metric = rules
        .get(&a.rule)
        .map(|r| r.metric.word().to_string())
        .or_else(|| {
            a.threshold
                .get("metric")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Some(RuleAlert {
        fingerprint: a.fingerprint.to_string(),
        rule: a.rule.clone(),
        labels: a.labels.clone(),
        state,
        severity: a.severity,
        metric,
        value: a.value,
        bound: bound(&a.threshold),
        since: a.since,
        resolved_at: a.resolved_at,
        summary: a.annotations.get("summary").cloned().unwrap_or_default(),
        why: a.why.clone(),
        baseline: a
            .threshold
            .get("baseline")
            .and_then(|b| b.as_str())
            .map(str::to_owned),
    })
}

/// The evaluator's current alerts as one set.
pub fn rule_alerts(ev: &Evaluator, origin: RuleOrigin, at: DateTime<Utc>) -> RuleAlerts {
    let mut alerts: Vec<RuleAlert> = ev
        .alerts()
        .filter_map(|a| to_model(a, ev.rules()))
        .collect();
    alerts.sort_by(RuleAlert::order);
    RuleAlerts {
        origin,
        at,
        alerts,
        notes: ev.notes().clone(),
    }
}

/// When a dashboard judges the rules itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Always: no hub (the database, the simulator).
    Always,
    /// Only while no hub is connected and judging: a `--ws` dashboard with
    /// a database fallback.
    WhileNoHub,
}

/// A dashboard's own, read-only judgement: the configured rules over the
/// store's state, after each applied batch (never in the draw loop).
/// Transitions are dropped: only a hub writes and notifies.
pub struct LocalRules {
    standing: Standing,
    evaluator: Evaluator,
    /// The newest baselines from the rollups (refreshed in the background);
    /// `None`: no history (the demo), anomaly rules say so.
    baselines: Option<watch::Receiver<Arc<Baselines>>>,
    empty: Baselines,
    last: Option<RuleAlerts>,
}

impl LocalRules {
    pub fn new(rules: RuleSet, baselines: Option<watch::Receiver<Arc<Baselines>>>) -> Self {
        LocalRules::standing(Standing::Always, rules, baselines)
    }

    /// Judging as `standing` says.
    pub fn standing(
        standing: Standing,
        rules: RuleSet,
        baselines: Option<watch::Receiver<Arc<Baselines>>>,
    ) -> Self {
        LocalRules {
            standing,
            evaluator: Evaluator::new(rules),
            baselines,
            empty: Baselines::empty(),
            last: None,
        }
    }

    /// Judge `state` as of its own clock; the update to apply when the set
    /// of alerts (or what keeps a rule from judging) changed.
    pub fn judge(&mut self, state: &State) -> Option<Update> {
        if !state.has_data() {
            return None;
        }
        let now = state.now();
        if self.standing == Standing::WhileNoHub {
            if state.rule_judge() == Some(RuleJudge::Hub) {
                // The hub judges; the next take-over sends its first set.
                self.last = None;
                return None;
            }
            if let Some(hub) = state
                .rule_alert_book()
                .last()
                .filter(|l| l.origin == RuleOrigin::Hub)
            {
                self.take_over(hub, now);
            }
        }
        let held = self.baselines.as_ref().map(|rx| rx.borrow().clone());
        let baselines = held.as_deref().unwrap_or(&self.empty);
        // Read-only: the transitions are what a hub would write and send.
        let _ = self.evaluator.evaluate(state, baselines, now);
        let set = rule_alerts(&self.evaluator, RuleOrigin::Local, now);
        let same = self
            .last
            .as_ref()
            .is_some_and(|l| l.alerts == set.alerts && l.notes == set.notes);
        if same {
            return None;
        }
        self.last = Some(set.clone());
        Some(Update::RuleAlerts(Box::new(set)))
    }
}

impl LocalRules {
    /// Start judging from the hub's last states: a fresh evaluator holding
    /// the hub's firing alerts firing (since when the hub said), so they
    /// resolve only once this dashboard's data shows them clear.
    fn take_over(&mut self, hub: &RuleAlerts, now: DateTime<Utc>) {
        let rules = self.evaluator.rules().clone();
        self.evaluator = Evaluator::new(rules);
        let firing = hub.alerts.iter().filter(|a| a.state.is_firing());
        let restored = firing.filter_map(|a| {
            Some(Restored {
                fingerprint: Fingerprint::parse(&a.fingerprint)?,
                rule: a.rule.clone(),
                labels: a.labels.clone(),
                active_since: a.since.unwrap_or(hub.at),
                value: a.value,
                summary: a.summary.clone(),
            })
        });
        self.evaluator
            .restore_as(restored, now, "firing when the hub was last reachable");
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_read_from_the_threshold_json() {
        assert_eq!(
            bound(&json!({"op": ">", "threshold": 0.05, "recover": 0.02})),
            RuleBound::Threshold {
                op: ">".into(),
                threshold: 0.05,
                recover: 0.02
            }
        );
        assert_eq!(
            bound(&json!({"op": ">", "threshold": 4, "band": [100, 300], "median": 200})),
            RuleBound::Band {
                low: 100.0,
                high: 300.0,
                median: 200.0
            }
        );
        assert_eq!(bound(&serde_json::Value::Null), RuleBound::None);
    }

    /// An outage as a dashboard sees it: pending, firing, resolved; no
    /// update when nothing changed.
    #[test]
    fn local_rules_follow_an_outage_and_send_only_changes() {
        use crate::model::{Batch, IntegrationMinute, minute_start};
        use crate::store::Thresholds;
        const T0: i64 = 28_000_000;
        let rules = RuleSet::from_toml(
            r#"
defaults = false
[[rules]]
name = "IntegrationDown"
scope = "integration"
metric = "status"
op = ">="
threshold = 2
recover = 1
window = "3m"
for = "2m"
severity = "critical"
summary = "{integration} is down: {why}"
"#,
        )
        .unwrap();
        let mut local = LocalRules::new(rules, None);
        let mut s = State::new(900, Thresholds::default());
        assert_eq!(local.judge(&s), None, "nothing to judge before data");
        let mut states = Vec::new();
        for m in 0..16 {
            let failures = if (3..8).contains(&m) { 20 } else { 0 };
            let b = Batch {
                now: minute_start(T0 + m) + chrono::TimeDelta::seconds(30),
                window_secs: 900,
                integrations: vec![(
                    T0 + m,
                    "openai".to_string(),
                    IntegrationMinute {
                        calls: 20,
                        failures,
                        ..Default::default()
                    },
                )],
                ..Default::default()
            };
            s.apply(Update::Batch(Box::new(b)));
            match local.judge(&s) {
                Some(Update::RuleAlerts(r)) => {
                    assert_eq!(r.origin, RuleOrigin::Local);
                    s.apply(Update::RuleAlerts(r.clone()));
                    let now = r.alerts.first().map(|a| a.state);
                    if states.last().is_none_or(|(_, last)| *last != now) {
                        states.push((m, now));
                    }
                }
                Some(other) => panic!("{other:?}"),
                None => {}
            }
        }
        use RuleAlertState::*;
        // The first judgement is sent even when empty (the header then says
        // no alert fires); `for = 2m` fires two minutes after the outage
        // began; the 3-minute window clears two minutes after it ended.
        assert_eq!(
            states,
            vec![
                (0, None),
                (3, Some(Pending)),
                (5, Some(Firing)),
                (10, Some(Resolved))
            ]
        );
        // Judged again with nothing new: no update.
        assert_eq!(local.judge(&s), None);
        let shown = &s.rule_alerts()[0];
        assert_eq!(shown.rule, "IntegrationDown");
        assert_eq!(shown.metric, "status");
        assert!(shown.summary.starts_with("openai is down"), "{shown:?}");
        assert!(matches!(shown.bound, RuleBound::Threshold { .. }));
    }

    /// A dashboard that takes over from a gone hub holds the hub's firing
    /// alerts firing; one whose series is not in its window (IntegrationDown
    /// keeps firing with no data) showed a blank summary. It shows the
    /// summary the hub gave it.
    #[test]
    fn a_kept_alert_whose_series_vanished_keeps_its_summary() {
        use crate::model::{
            Batch, IntegrationMinute, RuleAlert, RuleAlertState, Severity, SourceId, SourceStatus,
            minute_start,
        };
        use crate::store::Thresholds;
        let now = minute_start(28_000_000) + chrono::TimeDelta::seconds(30);
        let labels = super::super::tests::openai_down_labels();
        let summary = "openai is down: 100% of 32 calls failed";
        let hub = RuleAlerts {
            origin: RuleOrigin::Hub,
            at: now,
            alerts: vec![RuleAlert {
                fingerprint: crate::rules::Fingerprint::of(&labels).to_string(),
                rule: "IntegrationDown".into(),
                labels,
                state: RuleAlertState::Firing,
                severity: Severity::Critical,
                metric: "error_rate".into(),
                value: Some(1.0),
                bound: RuleBound::None,
                since: Some(now - chrono::TimeDelta::minutes(20)),
                resolved_at: None,
                summary: summary.into(),
                why: "32 of 32 calls failed (100%)".into(),
                baseline: None,
            }],
            notes: Default::default(),
        };
        let mut s = State::new(900, Thresholds::default());
        let mut stream = SourceStatus::new(SourceId::Stream, "hub:7878");
        stream.up = false;
        s.apply(Update::Source(stream));
        s.apply(Update::RuleAlerts(Box::new(hub)));
        // The poller's data: openai is not called in the window.
        s.apply(Update::Batch(Box::new(Batch {
            now,
            window_secs: 900,
            integrations: vec![(
                28_000_000,
                "rag".to_string(),
                IntegrationMinute {
                    calls: 20,
                    ..Default::default()
                },
            )],
            ..Default::default()
        })));
        let mut local = LocalRules::standing(Standing::WhileNoHub, RuleSet::defaults(), None);
        let Some(Update::RuleAlerts(set)) = local.judge(&s) else {
            panic!("no judgement");
        };
        let down = set
            .alerts
            .iter()
            .find(|a| a.rule == "IntegrationDown")
            .expect("still firing");
        assert_eq!(down.state, RuleAlertState::Firing);
        assert_eq!(down.summary, summary);
    }
}
