//! `--bell`: the terminal bell, once per rule alert that starts firing. The
//! decision is pure ([`new_firing`]): an alert rings when it is firing (or
//! flapping, which is held firing) and did not ring while it stayed so; a
//! flapping alert therefore rings once, not once per flip, and one that
//! resolved and fires again rings anew. What it remembers is the set of
//! alerts firing now, so it is bounded by the store's rule alerts.

use std::collections::BTreeSet;

use crate::model::RuleAlert;

/// The alerts of `alerts` that are firing and not in `rung`, which becomes
/// the set firing now. Returns how many rings that makes.
pub fn new_firing(rung: &mut BTreeSet<String>, alerts: &[RuleAlert]) -> usize {
    let firing: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a.state.is_firing())
        .map(|a| a.fingerprint.clone())
        .collect();
    let new = firing.difference(rung).count();
    *rung = firing;
    new
}

/// The bell's state in the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bell {
    /// `--bell` / `bell = true`.
    pub enabled: bool,
    rung: BTreeSet<String>,
}

impl Bell {
    pub fn new(enabled: bool) -> Self {
        Bell {
            enabled,
            rung: BTreeSet::new(),
        }
    }

    /// How many times to ring now that the rule alerts are `alerts` (0 when
    /// the bell is off).
    pub fn rings(&mut self, alerts: &[RuleAlert]) -> usize {
        let n = new_firing(&mut self.rung, alerts);
        if self.enabled { n } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RuleAlertState, RuleBound, Severity};

    fn a(fp: &str, state: RuleAlertState) -> RuleAlert {
        RuleAlert {
            fingerprint: fp.into(),
            rule: "r".into(),
            labels: Default::default(),
            state,
            severity: Severity::High,
            metric: "error_rate".into(),
            value: None,
            bound: RuleBound::None,
            since: None,
            resolved_at: None,
            summary: String::new(),
            why: String::new(),
            baseline: None,
        }
    }

    #[test]
    fn rings_once_per_newly_firing_alert() {
        use RuleAlertState::*;
        let mut rung = BTreeSet::new();
        // Pending rings nothing; firing rings once.
        assert_eq!(new_firing(&mut rung, &[a("x", Pending)]), 0);
        assert_eq!(new_firing(&mut rung, &[a("x", Firing)]), 1);
        assert_eq!(new_firing(&mut rung, &[a("x", Firing)]), 0);
        // Flapping is still the same firing alert: no second ring.
        assert_eq!(new_firing(&mut rung, &[a("x", Flapping)]), 0);
        assert_eq!(new_firing(&mut rung, &[a("x", Firing), a("y", Firing)]), 1);
        // Resolved, then firing again: a new firing, one ring.
        assert_eq!(
            new_firing(&mut rung, &[a("x", Resolved), a("y", Firing)]),
            0
        );
        assert_eq!(new_firing(&mut rung, &[a("x", Firing), a("y", Firing)]), 1);
        // Two at once: two rings; the memory is what fires now.
        assert_eq!(
            new_firing(&mut rung, &[a("p", Firing), a("q", Flapping)]),
            2
        );
        assert_eq!(rung.len(), 2);
    }

    #[test]
    fn off_rings_nothing_but_remembers() {
        let mut b = Bell::new(false);
        assert_eq!(b.rings(&[a("x", RuleAlertState::Firing)]), 0);
        b.enabled = true;
        // Turned on later: an alert already firing does not ring.
        assert_eq!(b.rings(&[a("x", RuleAlertState::Firing)]), 0);
        assert_eq!(b.rings(&[a("y", RuleAlertState::Firing)]), 1);
    }
}
