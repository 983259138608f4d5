//! The rule alerts the store holds: the newest set as judged (locally or by
//! a hub), plus the resolved alerts of earlier sets until they are
//! [`RESOLVED_KEPT_SECS`] old (a hub that restarted, or a rule removed, must
//! not make a resolution vanish from the screen at once), at most
//! [`MAX_RULE_ALERTS`], most important first.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{MAX_RULE_ALERTS, RESOLVED_KEPT_SECS, RuleAlert, RuleAlertState, RuleAlerts};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleAlertBook {
    /// The newest set as received (`None`: nothing judged yet).
    last: Option<RuleAlerts>,
    /// What is shown: the newest set and the kept resolutions, sorted.
    shown: Vec<RuleAlert>,
}

fn expired(a: &RuleAlert, now: DateTime<Utc>) -> bool {
    a.state == RuleAlertState::Resolved
        && a.resolved_at
            .is_none_or(|t| now - t >= TimeDelta::seconds(RESOLVED_KEPT_SECS))
}

impl RuleAlertBook {
    /// Replace the set with `new`; returns whether anything shown changed.
    pub fn set(&mut self, new: RuleAlerts, now: DateTime<Utc>) -> bool {
        let mut shown: Vec<RuleAlert> = new.alerts.clone();
        for old in &self.shown {
            if old.state == RuleAlertState::Resolved
                && !shown.iter().any(|a| a.fingerprint == old.fingerprint)
            {
                shown.push(old.clone());
            }
        }
        let now = now.max(new.at);
        shown.retain(|a| !expired(a, now));
        shown.sort_by(RuleAlert::order);
        shown.truncate(MAX_RULE_ALERTS);
        let changed = shown != self.shown
            || self
                .last
                .as_ref()
                .is_none_or(|l| l.notes != new.notes || l.origin != new.origin);
        self.shown = shown;
        self.last = Some(new);
        changed
    }

    /// Drop resolutions older than [`RESOLVED_KEPT_SECS`] at `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        self.shown.retain(|a| !expired(a, now));
    }

    /// Forget everything (a reset from another source).
    pub fn clear(&mut self) {
        *self = RuleAlertBook::default();
    }

    /// Pending, firing, flapping and recently resolved, most important first.
    pub fn alerts(&self) -> &[RuleAlert] {
        &self.shown
    }

    /// The newest set as received.
    pub fn last(&self) -> Option<&RuleAlerts> {
        self.last.as_ref()
    }

    /// Alerts firing now (flapping ones included: they are held firing).
    pub fn firing(&self) -> usize {
        self.shown.iter().filter(|a| a.state.is_firing()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RuleBound, RuleOrigin, Severity};

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(min)
    }

    fn alert(fp: &str, state: RuleAlertState, sev: Severity, at: i64) -> RuleAlert {
        RuleAlert {
            fingerprint: fp.into(),
            rule: format!("rule-{fp}"),
            labels: Default::default(),
            state,
            severity: sev,
            metric: "error_rate".into(),
            value: Some(0.5),
            bound: RuleBound::None,
            since: (state != RuleAlertState::Resolved).then(|| t(at)),
            resolved_at: (state == RuleAlertState::Resolved).then(|| t(at)),
            summary: String::new(),
            why: String::new(),
            baseline: None,
        }
    }

    fn set(at: i64, alerts: Vec<RuleAlert>) -> RuleAlerts {
        RuleAlerts {
            origin: RuleOrigin::Local,
            at: t(at),
            alerts,
            notes: Default::default(),
        }
    }

    #[test]
    fn most_important_first_and_resolutions_kept_then_expired() {
        use RuleAlertState::*;
        let mut b = RuleAlertBook::default();
        assert!(b.set(
            set(
                0,
                vec![
                    alert("a", Pending, Severity::Critical, 0),
                    alert("b", Firing, Severity::Warning, 0),
                    alert("c", Flapping, Severity::Critical, 0),
                    alert("d", Resolved, Severity::Critical, 0),
                ],
            ),
            t(0)
        ));
        let order: Vec<&str> = b.alerts().iter().map(|a| a.fingerprint.as_str()).collect();
        assert_eq!(order, ["c", "b", "a", "d"]);
        assert_eq!(b.firing(), 2);
        // The same set again changes nothing.
        assert!(!b.set(set(0, b.last().unwrap().alerts.clone()), t(0)));
        // A new set without the resolved one keeps it until it is old.
        assert!(b.set(set(5, vec![alert("b", Firing, Severity::Warning, 0)]), t(5)));
        let order: Vec<&str> = b.alerts().iter().map(|a| a.fingerprint.as_str()).collect();
        assert_eq!(order, ["b", "d"]);
        b.expire(t(15));
        assert_eq!(b.alerts().len(), 1);
        assert_eq!(b.firing(), 1);
    }

    #[test]
    fn bounded_whatever_a_source_sends() {
        let many = (0..MAX_RULE_ALERTS + 50)
            .map(|i| {
                alert(
                    &format!("{i:016x}"),
                    RuleAlertState::Firing,
                    Severity::Info,
                    0,
                )
            })
            .collect();
        let mut b = RuleAlertBook::default();
        b.set(set(0, many), t(0));
        assert_eq!(b.alerts().len(), MAX_RULE_ALERTS);
    }
}
