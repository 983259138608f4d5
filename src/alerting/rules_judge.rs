//! The rule engine as the alerting's [`Judge`]: each call evaluates the
//! rules ([`Evaluator`]) over the state the hub already holds and the newest
//! baselines (refreshed in the background, never per poll), and turns the
//! transitions into [`Change`]s. Restoring re-syncs the evaluator with the
//! table: what the table holds open is firing, and what the evaluator
//! believed firing but the table does not hold (a write that failed, or a
//! hub that only watched) fires again on its next breach.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::alert::{Alert, Bound, Change};
use super::run::Judge;
use super::table::OpenAlert;
use crate::rules::{
    AlertState, Baselines, Evaluator, Fingerprint, Restored, RuleSet, Transition, TransitionKind,
};
use crate::store::State;

/// Where the baselines come from: fixed (tests, no rollups) or the
/// background refresh's newest.
pub enum BaselineFeed {
    Fixed(Arc<Baselines>),
    Live(watch::Receiver<Arc<Baselines>>),
}

impl BaselineFeed {
    fn current(&self) -> Arc<Baselines> {
        match self {
            BaselineFeed::Fixed(b) => b.clone(),
            BaselineFeed::Live(rx) => rx.borrow().clone(),
        }
    }
}

/// The rules engine behind [`super::Alerting`].
pub struct RulesJudge {
    ev: Evaluator,
    baselines: BaselineFeed,
}

impl RulesJudge {
    pub fn new(rules: RuleSet, baselines: BaselineFeed) -> Self {
        RulesJudge {
            ev: Evaluator::new(rules),
            baselines,
        }
    }

    pub fn evaluator(&self) -> &Evaluator {
        &self.ev
    }

    /// The alerts as they stand (pending, firing, resolved recently).
    pub fn alerts(&self) -> impl Iterator<Item = &AlertState> {
        self.ev.alerts()
    }
}

/// The alert a transition is about, as written and notified.
pub fn alert_of(t: &Transition) -> Alert {
    let ann = |k: &str| t.annotations.get(k).cloned();
    let bound = match t.threshold.get("band").and_then(|b| b.as_array()) {
        Some(b) if b.len() == 2 => Bound::Band {
            low: b[0].as_f64().unwrap_or(f64::NAN),
            high: b[1].as_f64().unwrap_or(f64::NAN),
        },
        _ => t
            .threshold
            .get("threshold")
            .and_then(|v| v.as_f64())
            .map_or(Bound::None, Bound::Threshold),
    };
    Alert {
        fingerprint: t.fingerprint.to_string(),
        rule: t.rule.clone(),
        labels: t.labels.clone(),
        severity: t.severity.word().to_owned(),
        summary: ann("summary").unwrap_or_else(|| t.rule.clone()),
        description: ann("description")
            .or_else(|| ann("why"))
            .unwrap_or_default(),
        runbook: ann("runbook"),
        value: t.value,
        bound,
        since: t.active_since,
    }
}

/// A transition as a change of the table and the receivers.
pub fn change_of(t: &Transition) -> Change {
    let alert = alert_of(t);
    match t.kind {
        TransitionKind::Firing => Change::Fired(alert),
        TransitionKind::Resolved => Change::Resolved {
            alert,
            at: t.at,
            value: t.value,
        },
    }
}

impl Judge for RulesJudge {
    fn judge(&mut self, state: &State, now: DateTime<Utc>) -> Vec<Change> {
        let b = self.baselines.current();
        self.ev
            .evaluate(state, &b, now)
            .iter()
            .map(change_of)
            .collect()
    }

    fn restore(&mut self, open: &[OpenAlert], now: DateTime<Utc>) {
        let restored = open.iter().filter_map(|o| {
            Some(Restored {
                fingerprint: Fingerprint::parse(&o.fingerprint)?,
                rule: o.rule.clone(),
                labels: o.labels.clone(),
                active_since: o.since,
                value: o.value,
                summary: o.summary.clone(),
            })
        });
        self.ev.restore(restored, now);
    }
}
