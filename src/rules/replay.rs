//! Replaying per-minute history through the evaluator, as `jfmon rules
//! test` (series written in the test file) and `jfmon rules backtest` (the
//! rollups) do: each minute goes into a store as one batch, the rules are
//! evaluated at the end of that minute, and the baselines are rebuilt from
//! the history before it every hour of replayed time, as the live hub's
//! background refresh would.

use chrono::{DateTime, TimeDelta, Utc};

use super::anomaly::{BaselineBuilder, Baselines};
use super::eval::{Evaluator, Transition, TransitionKind};
use crate::model::{
    ApiMinute, Batch, EndpointKey, IntegrationMinute, Minute, Update, minute_start,
};
use crate::store::{State, Thresholds};

/// Per-minute history, each list sorted by minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Minutes {
    pub api: Vec<(Minute, EndpointKey, ApiMinute)>,
    pub integrations: Vec<(Minute, String, IntegrationMinute)>,
    pub business: Vec<(Minute, String, f64)>,
}

/// Minutes between baseline rebuilds.
pub const REBUILD_EVERY: i64 = 60;

fn slice3<A, B>(v: &[(Minute, A, B)], lo: Minute, hi: Minute) -> &[(Minute, A, B)] {
    let a = v.partition_point(|x| x.0 < lo);
    let b = v.partition_point(|x| x.0 < hi);
    &v[a..b.max(a)]
}

impl Minutes {
    pub fn sort(&mut self) {
        self.api.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        self.integrations
            .sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        self.business.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    }

    /// The first and last minute held.
    pub fn span(&self) -> Option<(Minute, Minute)> {
        let firsts = [
            self.api.first().map(|x| x.0),
            self.integrations.first().map(|x| x.0),
            self.business.first().map(|x| x.0),
        ];
        let lasts = [
            self.api.last().map(|x| x.0),
            self.integrations.last().map(|x| x.0),
            self.business.last().map(|x| x.0),
        ];
        Some((
            firsts.iter().flatten().min().copied()?,
            lasts.iter().flatten().max().copied()?,
        ))
    }

    /// The baselines as of `now`, from the minutes before it (only the
    /// ranges a baseline reads are visited).
    pub fn baselines(&self, now: DateTime<Utc>) -> Baselines {
        let mut b = BaselineBuilder::new(now);
        let from = crate::model::minute_of(BaselineBuilder::earliest(now));
        let to = crate::model::minute_of(now);
        for (m, k, d) in slice3(&self.api, from, to) {
            if b.wants(*m) {
                b.api(*m, k, d);
            }
        }
        for (m, n, d) in slice3(&self.integrations, from, to) {
            if b.wants(*m) {
                b.integration(*m, n, d);
            }
        }
        for (m, n, v) in slice3(&self.business, from, to) {
            if b.wants(*m) {
                b.business(*m, n, *v);
            }
        }
        b.build()
    }

    /// One minute as a batch dated at its end.
    pub fn batch(&self, m: Minute, window_secs: u64) -> Batch {
        Batch {
            now: minute_start(m + 1) - TimeDelta::seconds(1),
            window_secs,
            api: slice3(&self.api, m, m + 1).to_vec(),
            integrations: slice3(&self.integrations, m, m + 1).to_vec(),
            business: slice3(&self.business, m, m + 1).to_vec(),
            ..Batch::default()
        }
    }
}

/// Replay minutes `from..=to` of `history` through `ev`; `each` sees every
/// minute's evaluation time, the evaluator and its transitions.
pub fn run(
    ev: &mut Evaluator,
    history: &Minutes,
    from: Minute,
    to: Minute,
    window_secs: u64,
    mut each: impl FnMut(DateTime<Utc>, &Evaluator, &[Transition]),
) {
    let mut state = State::new(window_secs, Thresholds::default());
    let mut baselines = history.baselines(minute_start(from));
    let mut built = from;
    for m in from..=to {
        if m - built >= REBUILD_EVERY {
            baselines = history.baselines(minute_start(m));
            built = m;
        }
        let batch = history.batch(m, window_secs);
        let now = batch.now;
        state.apply(Update::Batch(Box::new(batch)));
        let t = ev.evaluate(&state, &baselines, now);
        each(now, ev, &t);
    }
}

/// One transition as `jfmon rules backtest` prints it: the minute, FIRING
/// with the summary or RESOLVED with how long it lasted, the rule and the
/// series' labels.
pub fn line(t: &Transition) -> String {
    let when = t.at.format("%Y-%m-%d %H:%M");
    let labels = t
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "severity")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    match t.kind {
        TransitionKind::Firing => format!(
            "{when}  FIRING    {:<24} {:<40} {}",
            t.rule,
            labels,
            t.annotations.get("summary").map_or("", String::as_str)
        ),
        TransitionKind::Resolved => format!(
            "{when}  RESOLVED  {:<24} {:<40} after {}m{}",
            t.rule,
            labels,
            (t.at - t.active_since).num_minutes(),
            if t.flapping { " (was flapping)" } else { "" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_by_minute() {
        let v: Vec<(Minute, u8, u8)> = vec![(1, 0, 0), (2, 0, 0), (2, 1, 0), (5, 0, 0)];
        assert_eq!(slice3(&v, 2, 3).len(), 2);
        assert_eq!(slice3(&v, 3, 5).len(), 0);
        assert_eq!(slice3(&v, 0, 10).len(), 4);
    }
}
