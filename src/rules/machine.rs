//! The state machine of one rule × label set, pure and clock-free (the time
//! comes in with each observation):
//!
//! inactive → pending (condition holds) → firing (held for `for`) →
//! resolved (clear for `keep_firing_for`) → pending … Between the recovery
//! and the firing threshold (hysteresis) a firing alert stays firing and a
//! pending one falls back. An alert whose condition flipped `flap.flips`
//! times within `flap.window` is flapping: it is held firing until its
//! condition has been clear for `flap.stable`, so it makes one alert, not
//! one per flip.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::spec::Flap;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl Phase {
    pub fn word(self) -> &'static str {
        match self {
            Phase::Inactive => "inactive",
            Phase::Pending => "pending",
            Phase::Firing => "firing",
            Phase::Resolved => "resolved",
        }
    }
}

/// One evaluation's verdict on the condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obs {
    /// Past the firing threshold.
    Breach,
    /// Between the recovery and the firing threshold.
    Hold,
    /// Past the recovery threshold.
    Clear,
    /// No verdict (no data, policy "keep"): nothing moves.
    Keep,
}

/// A rule's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub for_: TimeDelta,
    pub keep_firing_for: TimeDelta,
    pub flap: Flap,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Fired,
    /// Resolved; `flapping` when it had been held as flapping.
    Resolved {
        flapping: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub phase: Phase,
    /// Pending since, or firing since.
    pub since: Option<DateTime<Utc>>,
    /// When the condition last held (breach or hold) while firing.
    pub last_active: Option<DateTime<Utc>>,
    /// When the condition last cleared, while firing.
    pub clear_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub flapping: bool,
    flips: VecDeque<DateTime<Utc>>,
    last_raw: Option<bool>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

impl Machine {
    pub fn new() -> Self {
        Machine {
            phase: Phase::Inactive,
            since: None,
            last_active: None,
            clear_since: None,
            resolved_at: None,
            flapping: false,
            flips: VecDeque::new(),
            last_raw: None,
        }
    }

    /// A machine already firing since `since`, restored at `now` (after a
    /// restart): the condition counts as last active at `now`, so a clear
    /// observation resolves it once `keep_firing_for` has passed since the
    /// restore (at once without `keep_firing_for`).
    pub fn firing_since(since: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Machine {
            phase: Phase::Firing,
            since: Some(since),
            last_active: Some(now.max(since)),
            ..Machine::new()
        }
    }

    /// A firing machine whose firing was never written: back to pending
    /// with `for_` already served at `now`, so its next breach fires again
    /// and a clear observation forgets it.
    pub fn unwritten(&mut self, now: DateTime<Utc>, for_: TimeDelta) {
        self.phase = Phase::Pending;
        self.since = Some(now - for_);
        self.last_active = None;
        self.clear_since = None;
        self.flapping = false;
    }

    fn note_flip(&mut self, raw: bool, now: DateTime<Utc>, t: &Timing) {
        if self.last_raw.is_some_and(|r| r != raw) {
            self.flips.push_back(now);
        }
        self.last_raw = Some(raw);
        while self.flips.front().is_some_and(|&f| now - f > t.flap.window) {
            self.flips.pop_front();
        }
        // Bounded regardless of uptime: only the window's flips count.
        while self.flips.len() > t.flap.flips as usize * 2 {
            self.flips.pop_front();
        }
    }

    /// Flips counted in the flap window (for tests and display).
    pub fn flips(&self) -> usize {
        self.flips.len()
    }

    pub fn step(&mut self, obs: Obs, now: DateTime<Utc>, t: &Timing) -> Step {
        match obs {
            Obs::Keep => return Step::Nothing,
            Obs::Breach => self.note_flip(true, now, t),
            Obs::Clear => self.note_flip(false, now, t),
            Obs::Hold => {}
        }
        match (self.phase, obs) {
            (Phase::Inactive | Phase::Resolved, Obs::Breach) => {
                self.phase = Phase::Pending;
                self.since = Some(now);
                self.try_fire(now, t)
            }
            (Phase::Inactive | Phase::Resolved, _) => Step::Nothing,
            (Phase::Pending, Obs::Breach) => self.try_fire(now, t),
            (Phase::Pending, _) => {
                self.phase = if self.resolved_at.is_some() {
                    Phase::Resolved
                } else {
                    Phase::Inactive
                };
                self.since = None;
                Step::Nothing
            }
            (Phase::Firing, Obs::Breach | Obs::Hold) => {
                self.last_active = Some(now);
                self.clear_since = None;
                if self.flips.len() >= t.flap.flips as usize {
                    self.flapping = true;
                }
                Step::Nothing
            }
            (Phase::Firing, _) => {
                let clear_since = *self.clear_since.get_or_insert(now);
                if self.flips.len() >= t.flap.flips as usize {
                    self.flapping = true;
                }
                let kept = self
                    .last_active
                    .is_some_and(|a| now - a < t.keep_firing_for);
                let held = self.flapping && now - clear_since < t.flap.stable;
                if kept || held {
                    return Step::Nothing;
                }
                let flapping = self.flapping;
                self.phase = Phase::Resolved;
                self.resolved_at = Some(now);
                self.since = None;
                self.last_active = None;
                self.clear_since = None;
                self.flapping = false;
                Step::Resolved { flapping }
            }
        }
    }

    fn try_fire(&mut self, now: DateTime<Utc>, t: &Timing) -> Step {
        let since = self.since.unwrap_or(now);
        if now - since < t.for_ {
            return Step::Nothing;
        }
        self.phase = Phase::Firing;
        self.since = Some(now);
        self.last_active = Some(now);
        self.clear_since = None;
        self.resolved_at = None;
        Step::Fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }
    fn at(min: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(min)
    }
    fn timing(for_m: i64, keep_m: i64) -> Timing {
        Timing {
            for_: TimeDelta::minutes(for_m),
            keep_firing_for: TimeDelta::minutes(keep_m),
            flap: Flap {
                window: TimeDelta::minutes(30),
                flips: 3,
                stable: TimeDelta::minutes(10),
            },
        }
    }
    /// Feed one observation per minute from minute 0; return the steps that did something.
    fn run(t: &Timing, obs: &[Obs]) -> (Machine, Vec<(i64, Step)>) {
        let mut m = Machine::new();
        let mut out = Vec::new();
        for (i, o) in obs.iter().enumerate() {
            let s = m.step(*o, at(i as i64), t);
            if s != Step::Nothing {
                out.push((i as i64, s));
            }
        }
        (m, out)
    }
    use Obs::{Breach as B, Clear as C, Hold as H, Keep as K};

    #[test]
    fn pending_until_for_has_passed() {
        let t = timing(3, 0);
        let (m, steps) = run(&t, &[C, B, B, B]);
        assert_eq!(m.phase, Phase::Pending);
        assert!(steps.is_empty());
        let (m, steps) = run(&t, &[C, B, B, B, B]);
        assert_eq!(m.phase, Phase::Firing);
        assert_eq!(steps, vec![(4, Step::Fired)]);
        // An interruption while pending starts over.
        let (m, steps) = run(&t, &[B, B, C, B, B, B]);
        assert_eq!(m.phase, Phase::Pending);
        assert!(steps.is_empty());
        // for = 0 fires on the first breach.
        let (_, steps) = run(&timing(0, 0), &[C, B]);
        assert_eq!(steps, vec![(1, Step::Fired)]);
    }

    #[test]
    fn hysteresis_holds_a_firing_alert_but_not_a_pending_one() {
        let t = timing(0, 0);
        let (m, steps) = run(&t, &[B, H, H, H]);
        assert_eq!(m.phase, Phase::Firing);
        assert_eq!(steps, vec![(0, Step::Fired)]);
        let (_, steps) = run(&t, &[B, H, H, C]);
        assert_eq!(
            steps,
            vec![(0, Step::Fired), (3, Step::Resolved { flapping: false })]
        );
        let (m, _) = run(&timing(2, 0), &[B, H]);
        assert_eq!(m.phase, Phase::Inactive);
    }

    #[test]
    fn keep_firing_for_delays_the_resolution() {
        let t = timing(0, 3);
        let (_, steps) = run(&t, &[B, C, C, C, C]);
        assert_eq!(
            steps,
            vec![(0, Step::Fired), (3, Step::Resolved { flapping: false })]
        );
        // A breach inside keep_firing_for keeps the same alert (flap
        // detection off: three flips would count as flapping).
        let mut t = t;
        t.flap.flips = 1_000;
        let (_, steps) = run(&t, &[B, C, C, B, C, C, C, C]);
        assert_eq!(
            steps,
            vec![(0, Step::Fired), (6, Step::Resolved { flapping: false })]
        );
    }

    #[test]
    fn a_flapping_condition_makes_one_alert_held_until_stable() {
        let t = timing(0, 0);
        // Flips every minute: fires once, resolves, fires again, then is
        // held as flapping and resolves only after 10 clear minutes.
        let mut obs = Vec::new();
        for _ in 0..10 {
            obs.push(B);
            obs.push(C);
        }
        obs.extend([C; 12]);
        let (m, steps) = run(&t, &obs);
        let fired = steps.iter().filter(|(_, s)| *s == Step::Fired).count();
        assert!(fired <= 2, "{steps:?}");
        let last = *steps.last().unwrap();
        assert_eq!(last.1, Step::Resolved { flapping: true });
        // Resolved 10 minutes after the last flip (minute 19 was the last clear flip).
        assert_eq!(last.0, 29);
        assert_eq!(m.phase, Phase::Resolved);
        assert!(!m.flapping);
        // Without flips the same machine would have fired 10 times.
        let mut never = t;
        never.flap.flips = 1_000;
        let (_, steps) = run(&never, &obs);
        assert_eq!(steps.iter().filter(|(_, s)| *s == Step::Fired).count(), 10);
    }

    #[test]
    fn no_data_kept_moves_nothing() {
        let t = timing(2, 0);
        let (m, steps) = run(&t, &[B, K, K, K, B]);
        assert_eq!(m.phase, Phase::Firing);
        assert_eq!(steps, vec![(4, Step::Fired)]);
        let (m, _) = run(&timing(0, 0), &[B, K, K, K]);
        assert_eq!(m.phase, Phase::Firing);
    }

    #[test]
    fn a_restored_alert_resolves_on_its_first_clear_observation() {
        let t = timing(0, 0);
        let mut m = Machine::firing_since(at(-60), at(0));
        assert_eq!(m.step(B, at(0), &t), Step::Nothing);
        let mut m2 = Machine::firing_since(at(-60), at(0));
        assert_eq!(m2.step(C, at(0), &t), Step::Resolved { flapping: false });
        assert_eq!(m.phase, Phase::Firing);
    }

    /// Review finding: a restored alert counted as last active when it
    /// started firing, so `keep_firing_for` was skipped after a restart.
    #[test]
    fn a_restored_alert_keeps_firing_for_its_keep_firing_for() {
        let t = timing(0, 5);
        let mut m = Machine::firing_since(at(-60), at(0));
        for min in 0..5 {
            assert_eq!(m.step(C, at(min), &t), Step::Nothing, "minute {min}");
        }
        assert_eq!(m.step(C, at(5), &t), Step::Resolved { flapping: false });
    }

    #[test]
    fn an_unwritten_firing_fires_again_on_its_next_breach() {
        let t = timing(3, 0);
        let (mut m, _) = run(&t, &[B, B, B, B]);
        assert_eq!(m.phase, Phase::Firing);
        m.unwritten(at(4), t.for_);
        assert_eq!(m.phase, Phase::Pending);
        assert_eq!(m.step(B, at(5), &t), Step::Fired);
        let (mut m, _) = run(&t, &[B, B, B, B]);
        m.unwritten(at(4), t.for_);
        assert_eq!(m.step(C, at(5), &t), Step::Nothing);
        assert_eq!(m.phase, Phase::Inactive);
    }
}
