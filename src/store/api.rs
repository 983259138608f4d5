//! Per-endpoint slots over the window (one minute each, or coarser for long
//! windows: see [`crate::model::slot_minutes`]), with running totals and a
//! dense window histogram kept in step (add on merge, subtract on expiry).

use std::collections::{BTreeMap, HashMap};

use crate::hist::WindowHist;
use crate::model::{ApiMinute, EndpointKey, EndpointStats, Minute, MinutePoint, slot_of};

use crate::model::MAX_ENDPOINTS;

#[derive(Debug, Clone, Default)]
struct Entry {
    data: ApiMinute,
    p95: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct Endpoint {
    minutes: BTreeMap<Minute, Entry>,
    total: ApiMinute,
    hist: WindowHist,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ApiSeries {
    endpoints: HashMap<EndpointKey, Endpoint>,
}

fn other_key() -> EndpointKey {
    EndpointKey {
        endpoint: "(other endpoints)".into(),
        method: "*".into(),
    }
}

impl ApiSeries {
    pub fn clear(&mut self) {
        self.endpoints.clear();
    }

    /// Add `data` to the slot starting at `m`.
    pub fn merge(&mut self, m: Minute, key: EndpointKey, data: &ApiMinute) {
        let key = if self.endpoints.len() >= MAX_ENDPOINTS && !self.endpoints.contains_key(&key) {
            other_key()
        } else {
            key
        };
        let ep = self.endpoints.entry(key).or_default();
        let entry = ep.minutes.entry(m).or_default();
        entry.data.merge(data);
        entry.p95 = entry.data.latency.quantile(0.95);
        add_counts(&mut ep.total, data);
        ep.hist.add(&data.latency);
    }

    pub fn expire_before(&mut self, first: Minute) {
        for ep in self.endpoints.values_mut() {
            while let Some(entry) = ep.minutes.first_entry() {
                if *entry.key() >= first {
                    break;
                }
                let old = entry.remove();
                sub_counts(&mut ep.total, &old.data);
                ep.hist.subtract(&old.data.latency);
            }
        }
        self.endpoints.retain(|_, ep| !ep.minutes.is_empty());
    }

    /// Regroup the slots on a grid of `step` minutes (exact: the counts and
    /// histograms of slots that fall together are summed).
    pub fn rebucket(&mut self, step: i64) {
        for ep in self.endpoints.values_mut() {
            let mut out: BTreeMap<Minute, Entry> = BTreeMap::new();
            for (m, e) in std::mem::take(&mut ep.minutes) {
                let slot = out.entry(slot_of(m, step)).or_default();
                slot.data.merge(&e.data);
                slot.p95 = slot.data.latency.quantile(0.95);
            }
            ep.minutes = out;
        }
    }

    /// Stats over the slots starting at `grid` (the window's), which cover
    /// `coverage_secs` seconds.
    pub fn stats(&self, coverage_secs: f64, grid: &[Minute]) -> Vec<EndpointStats> {
        let mut out: Vec<EndpointStats> = self
            .endpoints
            .iter()
            .map(|(k, ep)| {
                let t = &ep.total;
                EndpointStats {
                    endpoint: k.endpoint.clone(),
                    method: k.method.clone(),
                    requests: t.requests,
                    rps: t.requests as f64 / coverage_secs,
                    errors: t.errors,
                    client_errors: t.client_errors,
                    error_rate: ratio(t.errors, t.requests),
                    p50_ms: ep.hist.quantile(0.50),
                    p95_ms: ep.hist.quantile(0.95),
                    p99_ms: ep.hist.quantile(0.99),
                    status_codes: t.status.clone(),
                    series: grid
                        .iter()
                        .map(|&m| match ep.minutes.get(&m) {
                            Some(e) => MinutePoint {
                                minute: m,
                                requests: e.data.requests,
                                errors: e.data.errors,
                                p95_ms: e.p95,
                            },
                            None => MinutePoint {
                                minute: m,
                                requests: 0,
                                errors: 0,
                                p95_ms: None,
                            },
                        })
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.error_rate
                .total_cmp(&a.error_rate)
                .then(b.requests.cmp(&a.requests))
                .then_with(|| (&a.endpoint, &a.method).cmp(&(&b.endpoint, &b.method)))
        });
        out
    }

    pub fn export(&self) -> Vec<(Minute, EndpointKey, ApiMinute)> {
        let mut out: Vec<_> = self
            .endpoints
            .iter()
            .flat_map(|(k, ep)| {
                ep.minutes
                    .iter()
                    .map(|(m, e)| (*m, k.clone(), e.data.clone()))
            })
            .collect();
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    /// Slots held, over all endpoints.
    pub fn slots(&self) -> usize {
        self.endpoints.values().map(|e| e.minutes.len()).sum()
    }

    pub fn retained(&self) -> usize {
        self.endpoints
            .values()
            .map(|e| {
                e.minutes
                    .values()
                    .map(|m| 1 + m.data.latency.0.len())
                    .sum::<usize>()
            })
            .sum()
    }
}

pub(super) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Totals only (the latency lives in the window histogram).
fn add_counts(t: &mut ApiMinute, d: &ApiMinute) {
    t.requests += d.requests;
    t.errors += d.errors;
    t.client_errors += d.client_errors;
    for (k, v) in &d.status {
        *t.status.entry(*k).or_default() += v;
    }
}

fn sub_counts(t: &mut ApiMinute, d: &ApiMinute) {
    t.requests -= d.requests;
    t.errors -= d.errors;
    t.client_errors -= d.client_errors;
    for (k, v) in &d.status {
        if let Some(c) = t.status.get_mut(k) {
            *c -= v;
            if *c == 0 {
                t.status.remove(k);
            }
        }
    }
}
