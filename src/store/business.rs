//! Business KPIs: per-slot sums by metric over the window (minutes, or
//! coarser for long windows), and today's totals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::{BusinessStats, Minute, Today, minute_of, minute_start, slot_of};

use crate::model::MAX_KEYS;

#[derive(Debug, Clone, Default)]
pub(super) struct BusinessSeries {
    minutes: BTreeMap<Minute, BTreeMap<String, f64>>,
    today: Option<Today>,
}

fn day_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
}

/// Where a new day began, if `now` is past `t`'s day: its `day_end`; without
/// one, UTC midnight (what senders without a business zone meant) unless `t`
/// is a zone's day whose end is not known yet (kept until the source says).
fn next_day_start(t: &Today, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match t.day_end {
        Some(end) => (now >= end).then_some(end),
        None if t.zone.is_none() => Some(day_start(now)).filter(|s| t.day_start < *s),
        None => None,
    }
}

impl BusinessSeries {
    pub fn clear(&mut self) {
        self.minutes.clear();
        self.today = None;
    }

    pub fn set_today(&mut self, t: Today) {
        self.today = Some(t);
    }

    /// Add the totals of an older part of today (a progressive load's rest),
    /// if it is of the day held.
    pub fn add_older_today(&mut self, older: &Today) {
        if let Some(t) = &mut self.today
            && t.day_start == older.day_start
        {
            for (metric, v) in &older.totals {
                if v.is_finite() && (t.totals.len() < MAX_KEYS || t.totals.contains_key(metric)) {
                    *t.totals.entry(metric.clone()).or_default() += v;
                }
            }
        }
    }

    /// Count an observation into today's totals, if it is from today.
    pub fn add_today(&mut self, m: Minute, metric: &str, v: f64) {
        if let Some(t) = &mut self.today
            && minute_start(m) >= t.day_start
            && (t.totals.len() < MAX_KEYS || t.totals.contains_key(metric))
        {
            *t.totals.entry(metric.to_owned()).or_default() += v;
        }
    }

    /// Regroup the slots on a grid of `step` minutes (exact sums).
    pub fn rebucket(&mut self, step: i64) {
        let mut out: BTreeMap<Minute, BTreeMap<String, f64>> = BTreeMap::new();
        for (m, metrics) in std::mem::take(&mut self.minutes) {
            let slot = out.entry(slot_of(m, step)).or_default();
            for (k, v) in metrics {
                *slot.entry(k).or_default() += v;
            }
        }
        self.minutes = out;
    }

    /// Add an observation to the slot starting at `m`.
    pub fn add(&mut self, m: Minute, metric: String, v: f64) {
        let slot = self.minutes.entry(m).or_default();
        if slot.len() < MAX_KEYS || slot.contains_key(&metric) {
            *slot.entry(metric).or_default() += v;
        }
    }

    pub fn expire_before(&mut self, first: Minute, now: DateTime<Utc>) {
        self.minutes = self.minutes.split_off(&first);
        // A new day: today's totals restart from the minutes since midnight
        // (the business zone's, as the source said; the source sends the
        // next day's bounds with its next batch).
        if let Some(t) = &mut self.today
            && let Some(start) = next_day_start(t, now)
        {
            t.day_start = start;
            t.day_end = None;
            t.totals.clear();
            for (_, metrics) in self.minutes.range(minute_of(start)..) {
                for (k, v) in metrics {
                    *t.totals.entry(k.clone()).or_default() += v;
                }
            }
        }
    }

    pub fn stats(&self) -> BusinessStats {
        let mut s = BusinessStats::default();
        for (m, metrics) in &self.minutes {
            for (k, v) in metrics {
                *s.window.entry(k.clone()).or_default() += v;
                s.series.entry(k.clone()).or_default().push((*m, *v));
            }
        }
        if let Some(t) = &self.today {
            s.today = t.totals.clone();
            s.today_zone = t.zone.clone();
        }
        s
    }

    pub fn export_minutes(&self) -> Vec<(Minute, String, f64)> {
        self.minutes
            .iter()
            .flat_map(|(m, metrics)| metrics.iter().map(|(k, v)| (*m, k.clone(), *v)))
            .collect()
    }

    pub fn today(&self) -> Option<&Today> {
        self.today.as_ref()
    }

    /// Slots held.
    pub fn slots(&self) -> usize {
        self.minutes.len()
    }

    pub fn retained(&self) -> usize {
        self.minutes.values().map(BTreeMap::len).sum()
    }
}
