//! `--bell`: the terminal bell, once per rule alert that starts firing
//! while the dashboard watches. The decision is pure ([`Bell::rings`]) and
//! reads the newest set as received (with its `at`), not the capped list
//! the panes show:
//!
//! - The first set a judge sends is learned, not rung: alerts already
//!   firing when the dashboard starts (or when the judge changes, hub ↔
//!   local, whose clocks differ) ring nothing.
//! - After that an alert rings when it is firing (or flapping, held firing)
//!   and its firing began after the previous set the bell saw (`since` >
//!   that set's `at`, both on the judge's clock). So an alert rings once
//!   however many sets repeat it; a flapping alert keeps its `since` and
//!   rings once, not once per flip; one that resolved and fires again has a
//!   new `since` and rings anew; and one that drops out of a capped list and
//!   comes back keeps its old `since` and does not ring again.
//!
//! What it remembers is one time and one origin, whatever the number of
//! alerts.

use chrono::{DateTime, Utc};

use crate::model::{RuleAlerts, RuleOrigin};

/// The last set the bell saw: whose, and as of when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    origin: RuleOrigin,
    at: DateTime<Utc>,
}

/// The bell's state in the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bell {
    /// `--bell` / `bell = true`.
    pub enabled: bool,
    seen: Option<Seen>,
}

impl Bell {
    pub fn new(enabled: bool) -> Self {
        Bell {
            enabled,
            seen: None,
        }
    }

    /// How many times to ring now that the newest set is `set` (0 when the
    /// bell is off, or nothing was judged yet).
    pub fn rings(&mut self, set: Option<&RuleAlerts>) -> usize {
        let Some(set) = set else { return 0 };
        let n = match self.seen {
            Some(seen) if seen.origin == set.origin => set
                .alerts
                .iter()
                .filter(|a| a.state.is_firing() && a.since.is_some_and(|s| s > seen.at))
                .count(),
            // The first set of this judge: learned, not rung.
            _ => 0,
        };
        let at = match self.seen {
            Some(seen) if seen.origin == set.origin => seen.at.max(set.at),
            _ => set.at,
        };
        self.seen = Some(Seen {
            origin: set.origin,
            at,
        });
        if self.enabled { n } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RuleAlert, RuleAlertState, RuleBound, Severity};
    use chrono::TimeDelta;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(min)
    }

    /// Alert `fp` in `state`, firing (or pending) since minute `since`.
    fn a(fp: &str, state: RuleAlertState, since: i64) -> RuleAlert {
        RuleAlert {
            fingerprint: fp.into(),
            rule: "r".into(),
            labels: Default::default(),
            state,
            severity: Severity::High,
            metric: "error_rate".into(),
            value: None,
            bound: RuleBound::None,
            since: (state != RuleAlertState::Resolved).then(|| t(since)),
            resolved_at: (state == RuleAlertState::Resolved).then(|| t(since)),
            summary: String::new(),
            why: String::new(),
            baseline: None,
        }
    }

    fn set(origin: RuleOrigin, at: i64, alerts: Vec<RuleAlert>) -> RuleAlerts {
        RuleAlerts {
            origin,
            at: t(at),
            alerts,
            notes: Default::default(),
        }
    }

    fn hub(at: i64, alerts: Vec<RuleAlert>) -> RuleAlerts {
        set(RuleOrigin::Hub, at, alerts)
    }

    #[test]
    fn rings_once_per_newly_firing_alert() {
        use RuleAlertState::*;
        let mut b = Bell::new(true);
        assert_eq!(b.rings(None), 0);
        assert_eq!(b.rings(Some(&hub(0, vec![]))), 0);
        // Pending rings nothing; firing rings once, however often repeated.
        assert_eq!(b.rings(Some(&hub(1, vec![a("x", Pending, 1)]))), 0);
        assert_eq!(b.rings(Some(&hub(3, vec![a("x", Firing, 3)]))), 1);
        assert_eq!(b.rings(Some(&hub(3, vec![a("x", Firing, 3)]))), 0);
        assert_eq!(b.rings(Some(&hub(4, vec![a("x", Firing, 3)]))), 0);
        // Flapping is still the same firing alert: no second ring.
        assert_eq!(b.rings(Some(&hub(5, vec![a("x", Flapping, 3)]))), 0);
        let y = a("y", Firing, 6);
        assert_eq!(
            b.rings(Some(&hub(6, vec![a("x", Firing, 3), y.clone()]))),
            1
        );
        // Resolved, then firing again: a new firing, one ring.
        assert_eq!(
            b.rings(Some(&hub(7, vec![a("x", Resolved, 7), y.clone()]))),
            0
        );
        assert_eq!(
            b.rings(Some(&hub(8, vec![a("x", Firing, 8), y.clone()]))),
            1
        );
        // Two at once: two rings.
        assert_eq!(
            b.rings(Some(&hub(9, vec![a("p", Firing, 9), a("q", Flapping, 9)]))),
            2
        );
    }

    /// The fault the review found: every alert already firing rang at
    /// start, and again when it came back into a capped list.
    #[test]
    fn alerts_firing_at_start_or_back_from_a_cap_ring_nothing() {
        use RuleAlertState::*;
        let mut b = Bell::new(true);
        let firing: Vec<RuleAlert> = (0..3).map(|i| a(&format!("f{i}"), Firing, -30)).collect();
        assert_eq!(b.rings(Some(&hub(0, firing.clone()))), 0, "already firing");
        // f2 drops out (a cap, a partial set) and comes back, still firing
        // since before: no ring.
        assert_eq!(b.rings(Some(&hub(1, firing[..2].to_vec()))), 0);
        assert_eq!(b.rings(Some(&hub(2, firing.clone()))), 0, "cap churn");
        // A new one among them rings once.
        let mut more = firing.clone();
        more.push(a("n", Firing, 3));
        assert_eq!(b.rings(Some(&hub(3, more.clone()))), 1);
        assert_eq!(b.rings(Some(&hub(4, more[1..].to_vec()))), 0);
        assert_eq!(b.rings(Some(&hub(5, more))), 0);
    }

    /// A change of judge (the hub gone, the dashboard judging itself, and
    /// back) is learned like a first set: the other clock is not compared.
    #[test]
    fn a_change_of_judge_is_learned_not_rung() {
        use RuleAlertState::*;
        let mut b = Bell::new(true);
        assert_eq!(b.rings(Some(&hub(10, vec![a("x", Firing, 5)]))), 0);
        let local = |at, alerts| set(RuleOrigin::Local, at, alerts);
        assert_eq!(b.rings(Some(&local(11, vec![a("x", Firing, 11)]))), 0);
        assert_eq!(
            b.rings(Some(&local(
                12,
                vec![a("x", Firing, 11), a("y", Firing, 12)]
            ))),
            1
        );
        assert_eq!(
            b.rings(Some(&hub(13, vec![a("x", Firing, 5), a("y", Firing, 12)]))),
            0
        );
    }

    #[test]
    fn off_rings_nothing_but_remembers() {
        use RuleAlertState::*;
        let mut b = Bell::new(false);
        assert_eq!(b.rings(Some(&hub(0, vec![]))), 0);
        assert_eq!(b.rings(Some(&hub(1, vec![a("x", Firing, 1)]))), 0);
        b.enabled = true;
        // Turned on later: an alert already firing does not ring.
        assert_eq!(b.rings(Some(&hub(2, vec![a("x", Firing, 1)]))), 0);
        assert_eq!(
            b.rings(Some(&hub(3, vec![a("x", Firing, 1), a("y", Firing, 3)]))),
            1
        );
    }
}
