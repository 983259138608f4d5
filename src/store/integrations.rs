//! Per-integration slots (minutes, or coarser for long windows), call tails (last error, last success,
//! consecutive failures) and the health verdict with the reason for it.

use std::collections::{BTreeMap, HashMap};

use super::Thresholds;
use crate::hist::WindowHist;
use crate::model::{
    Health, HealthReport, IntegrationMinute, IntegrationPoint, IntegrationStats, IntegrationTail,
    Minute, minute_start, slot_of,
};

use super::api::ratio;
use crate::model::MAX_KEYS;

#[derive(Debug, Clone, Default)]
struct Integration {
    minutes: BTreeMap<Minute, IntegrationMinute>,
    calls: u64,
    failures: u64,
    hist: WindowHist,
    tail: IntegrationTail,
}

#[derive(Debug, Clone, Default)]
pub(super) struct IntegrationSeries {
    by_name: HashMap<String, Integration>,
}

/// The verdict for `calls` calls with `failures` failures (and, for the whole
/// window, the consecutive failures and p95), with a short reason.
pub fn judge(
    t: &Thresholds,
    calls: u64,
    failures: u64,
    consecutive: u32,
    p95_ms: Option<f64>,
) -> (Health, String) {
    if calls == 0 {
        return (Health::Unknown, "no calls in window".into());
    }
    let success = 1.0 - ratio(failures, calls);
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    if t.down_consecutive_failures > 0 && consecutive >= t.down_consecutive_failures {
        return (Health::Down, format!("{consecutive} consecutive failures"));
    }
    if success < t.down_success {
        return (
            Health::Down,
            format!("success {} < {}", pct(success), pct(t.down_success)),
        );
    }
    if success < t.healthy_success {
        return (
            Health::Degraded,
            format!("success {} < {}", pct(success), pct(t.healthy_success)),
        );
    }
    if let (Some(limit), Some(p95)) = (t.latency_degraded_p95_ms, p95_ms)
        && p95 > limit
    {
        return (Health::Degraded, format!("p95 {p95:.0} ms > {limit:.0} ms"));
    }
    (Health::Healthy, format!("success {}", pct(success)))
}

impl IntegrationSeries {
    pub fn clear(&mut self) {
        self.by_name.clear();
    }

    fn slot(&mut self, name: &str) -> Option<&mut Integration> {
        if self.by_name.len() >= MAX_KEYS && !self.by_name.contains_key(name) {
            return None;
        }
        Some(self.by_name.entry(name.to_owned()).or_default())
    }

    pub fn merge_minute(&mut self, m: Minute, name: String, d: &IntegrationMinute) {
        if let Some(i) = self.slot(&name) {
            i.minutes.entry(m).or_default().merge(d);
            i.calls += d.calls;
            i.failures += d.failures;
            i.hist.add(&d.latency);
        }
    }

    /// Regroup the slots on a grid of `step` minutes (exact sums).
    pub fn rebucket(&mut self, step: i64) {
        for i in self.by_name.values_mut() {
            let mut out: BTreeMap<Minute, IntegrationMinute> = BTreeMap::new();
            for (m, d) in std::mem::take(&mut i.minutes) {
                out.entry(slot_of(m, step)).or_default().merge(&d);
            }
            i.minutes = out;
        }
    }

    pub fn merge_tail(&mut self, name: &str, t: &IntegrationTail) {
        if let Some(i) = self.slot(name) {
            i.tail.then(t);
        }
    }

    /// Merge the tail of an older part of the window.
    pub fn merge_older_tail(&mut self, name: &str, t: &IntegrationTail) {
        if let Some(i) = self.slot(name) {
            i.tail.after(t);
        }
    }

    pub fn expire_before(&mut self, first: Minute) {
        for i in self.by_name.values_mut() {
            while let Some(e) = i.minutes.first_entry() {
                if *e.key() >= first {
                    break;
                }
                let old = e.remove();
                i.calls -= old.calls;
                i.failures -= old.failures;
                i.hist.subtract(&old.latency);
            }
        }
        // Integrations with no calls stay (as "unknown") only while their
        // last activity is remembered; a forgotten one is dropped entirely.
        let cutoff = minute_start(first);
        self.by_name.retain(|_, i| {
            !i.minutes.is_empty()
                || i.tail.last_success.is_some_and(|t| t >= cutoff)
                || i.tail
                    .last_error
                    .as_ref()
                    .is_some_and(|(t, _)| *t >= cutoff)
        });
    }

    pub fn stats(
        &self,
        th: &Thresholds,
        reports: &BTreeMap<String, HealthReport>,
        coverage_secs: f64,
        grid: &[Minute],
    ) -> Vec<IntegrationStats> {
        let first = grid.first().copied().unwrap_or_default();
        let step = grid.get(1).map_or(1, |m| m - first);
        let empty = Integration::default();
        let mut names: Vec<&String> = self.by_name.keys().chain(reports.keys()).collect();
        names.sort();
        names.dedup();
        let mut out: Vec<IntegrationStats> = names
            .into_iter()
            .map(|name| {
                let i = self.by_name.get(name).unwrap_or(&empty);
                let p95 = i.hist.quantile(0.95);
                let (mut status, mut reason) =
                    judge(th, i.calls, i.failures, i.tail.trailing_failures, p95);
                // A report from within the window that is worse (down or
                // degraded) than the calls show wins: the platform's own
                // checks, or the stream of a platform whose calls we cannot see.
                if let Some(r) = reports
                    .get(name)
                    .filter(|r| r.checked_at >= minute_start(first))
                {
                    let said = Health::from_word(&r.status);
                    if matches!(said, Health::Down | Health::Degraded) && said < status {
                        status = said;
                        reason = format!("reported {}", r.status);
                    }
                }
                let series: Vec<IntegrationPoint> = grid
                    .iter()
                    .map(|&m| {
                        let d = i.minutes.get(&m);
                        let (calls, failures) = d.map_or((0, 0), |d| (d.calls, d.failures));
                        let lat = d.map(|d| &d.latency);
                        IntegrationPoint {
                            minute: m,
                            calls,
                            failures,
                            status: judge(th, calls, failures, 0, None).0,
                            p50_ms: lat.and_then(|l| l.quantile(0.50)),
                            p95_ms: lat.and_then(|l| l.quantile(0.95)),
                            p99_ms: lat.and_then(|l| l.quantile(0.99)),
                        }
                    })
                    .collect();
                IntegrationStats {
                    name: name.clone(),
                    status,
                    reason,
                    success_rate: (i.calls > 0).then(|| 1.0 - ratio(i.failures, i.calls)),
                    calls: i.calls,
                    failures: i.failures,
                    calls_per_min: i.calls as f64 * 60.0 / coverage_secs,
                    p50_ms: i.hist.quantile(0.50),
                    p95_ms: p95,
                    p99_ms: i.hist.quantile(0.99),
                    last_error: i.tail.last_error.as_ref().map(|(_, m)| m.clone()),
                    last_error_at: i.tail.last_error.as_ref().map(|(t, _)| *t),
                    last_success_at: i.tail.last_success,
                    consecutive_failures: i.tail.trailing_failures,
                    status_since: status_since(status, &series, step),
                    reported: reports.get(name).cloned(),
                    series,
                }
            })
            .collect();
        out.sort_by(|a, b| a.status.cmp(&b.status).then_with(|| a.name.cmp(&b.name)));
        out
    }

    pub fn export_minutes(&self) -> Vec<(Minute, String, IntegrationMinute)> {
        let mut out: Vec<_> = self
            .by_name
            .iter()
            .flat_map(|(k, i)| i.minutes.iter().map(|(m, d)| (*m, k.clone(), d.clone())))
            .collect();
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    pub fn export_tails(&self) -> Vec<(String, IntegrationTail)> {
        let mut out: Vec<_> = self
            .by_name
            .iter()
            .map(|(k, i)| (k.clone(), i.tail.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Slots held, over all integrations.
    pub fn slots(&self) -> usize {
        self.by_name.values().map(|i| i.minutes.len()).sum()
    }

    pub fn retained(&self) -> usize {
        self.by_name
            .values()
            .map(|i| {
                i.minutes
                    .values()
                    .map(|m| 1 + m.latency.0.len())
                    .sum::<usize>()
            })
            .sum()
    }
}

/// The start of the newest run of slots (with calls) judged like `status`.
/// For "unknown", the end of the last slot that had calls.
fn status_since(
    status: Health,
    series: &[IntegrationPoint],
    step: i64,
) -> Option<chrono::DateTime<chrono::Utc>> {
    if status == Health::Unknown {
        return series
            .iter()
            .rev()
            .find(|p| p.calls > 0)
            .map(|p| minute_start(p.minute + step))
            .or_else(|| series.first().map(|p| minute_start(p.minute)));
    }
    let mut since = None;
    for p in series.iter().rev().filter(|p| p.calls > 0) {
        if p.status != status {
            break;
        }
        since = Some(minute_start(p.minute));
    }
    since
}
