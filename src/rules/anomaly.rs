//! Anomaly detection an engineer can read, hand-written (a median, a MAD and
//! a binomial tail need no crate):
//!
//! - latency: a robust band, median ± k·MAD (scaled to σ, 1.4826·MAD) of the
//!   per-minute p95 over the trailing 24 h, plus the hour around the same
//!   time one day and one week earlier once that history exists; the band is
//!   never narrower than a margin floor (ms, and a fraction of the median).
//!   The score is how many (floored) deviations the recent level sits above
//!   the median, so `score > k` is exactly "above the band".
//! - errors: how unlikely `k` errors in `n` calls are at the baseline error
//!   rate: −log10 of the binomial tail P(X ≥ k), not a z-score of a ratio
//!   (noise at low traffic).
//!
//! [`Baselines`] hold what these need per series, built from per-minute
//! history (the rollups) by [`BaselineBuilder`] in the background, never per
//! poll. Until a series has [`MIN_BASELINE_MINUTES`] of history it has no
//! baseline, and an anomaly rule says "not enough history yet".

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{ApiMinute, EndpointKey, IntegrationMinute, Minute, minute_of};

/// Minutes of usable history a baseline needs.
pub const MIN_BASELINE_MINUTES: usize = 60;
/// Calls a minute needs before its p95 counts in a latency baseline.
pub const MIN_CALLS_PER_MINUTE: u64 = 5;
/// Requests an error baseline needs.
pub const MIN_BASELINE_REQUESTS: u64 = 500;

const DAY: i64 = 1_440;
const WEEK: i64 = 7 * DAY;
/// Half-width of the "same minutes one day / one week earlier" ranges.
const AROUND: i64 = 30;
/// Business minutes kept around the same time last week: 6 h before, 2 h after.
const BUSINESS_BEFORE: i64 = 360;
const BUSINESS_AFTER: i64 = 120;

/// The key of a series in [`Baselines`].
pub fn endpoint_series(k: &EndpointKey) -> String {
    format!("endpoint:{k}")
}
pub fn integration_series(name: &str) -> String {
    format!("integration:{name}")
}

/// The latency baseline of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyBaseline {
    pub median: f64,
    /// Median absolute deviation (unscaled).
    pub mad: f64,
    /// Minutes it was computed from.
    pub minutes: usize,
    /// Which history: "24h", "24h + 1d ago", "24h + 1d ago + 1w ago".
    pub window: String,
}

/// The error baseline of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBaseline {
    pub errors: u64,
    pub requests: u64,
    pub minutes: usize,
    pub window: String,
}

impl ErrorBaseline {
    /// The baseline error rate, pulled slightly off zero (half an error per
    /// request more) so that a clean history still gives a finite test.
    pub fn rate(&self) -> f64 {
        (self.errors as f64 + 0.5) / (self.requests as f64 + 1.0)
    }
}

/// A latency band and where a level sits in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub low: f64,
    pub high: f64,
    pub median: f64,
    /// Deviations above the median (negative below).
    pub score: f64,
}

impl LatencyBaseline {
    /// The band for `k` deviations with the margin floor, and `level`'s score.
    pub fn band(&self, level: f64, k: f64, margin_ms: f64, margin_ratio: f64) -> Band {
        let sigma = 1.4826 * self.mad;
        let half = (k * sigma).max(margin_ms).max(margin_ratio * self.median);
        let unit = if half > 0.0 { half / k } else { 1.0 };
        Band {
            low: (self.median - half).max(0.0),
            high: self.median + half,
            median: self.median,
            score: (level - self.median) / unit,
        }
    }
}

/// −log10 P(X ≥ k) for X ~ Binomial(n, p): 0 when `k` is at or below the
/// expected count, larger the less likely `k` errors are.
pub fn error_surprise(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 || n == 0 || (k as f64) <= n as f64 * p {
        return 0.0;
    }
    if p <= 0.0 {
        return f64::INFINITY;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let k = k.min(n);
    // ln of the pmf at k: ln C(n, k) + k ln p + (n − k) ln(1 − p).
    let kk = k.min(n - k);
    let mut ln_c = 0.0;
    for j in 1..=kk {
        ln_c += ((n - kk + j) as f64 / j as f64).ln();
    }
    let ln_pmf = ln_c + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln();
    // Sum the tail relative to the pmf at k; past the mode the terms shrink.
    let odds = p / (1.0 - p);
    let (mut sum, mut term) = (1.0f64, 1.0f64);
    let mut i = k;
    while i < n {
        term *= (n - i) as f64 / (i + 1) as f64 * odds;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
        i += 1;
    }
    (-(ln_pmf + sum.ln()) / std::f64::consts::LN_10).max(0.0)
}

/// The median of `v` (sorted in place); `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Per-series history for anomaly and business rules, as of `built_at`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baselines {
    built_at: Option<DateTime<Utc>>,
    latency: HashMap<String, LatencyBaseline>,
    errors: HashMap<String, ErrorBaseline>,
    /// Short of history: series → minutes held.
    short: HashMap<String, usize>,
    /// Business per-minute totals around the same time last week.
    business: HashMap<String, BTreeMap<Minute, f64>>,
}

impl Baselines {
    /// No history at all (anomaly rules say so).
    pub fn empty() -> Baselines {
        Baselines::default()
    }
    pub fn built_at(&self) -> Option<DateTime<Utc>> {
        self.built_at
    }
    pub fn latency(&self, series: &str) -> Option<&LatencyBaseline> {
        self.latency.get(series)
    }
    pub fn errors(&self, series: &str) -> Option<&ErrorBaseline> {
        self.errors.get(series)
    }
    /// Minutes of history a series has when that is too few for a baseline.
    pub fn history_minutes(&self, series: &str) -> usize {
        self.short.get(series).copied().unwrap_or(0)
    }
    /// The sum of `metric` over `[from, to)` minutes, and how many of those
    /// minutes had data; `None` when the baselines hold nothing there
    /// (history does not reach back a week, or the range was not kept).
    pub fn business_sum(&self, metric: &str, from: Minute, to: Minute) -> Option<(f64, u64)> {
        let built = minute_of(self.built_at?);
        let (lo, hi) = (
            built - WEEK - BUSINESS_BEFORE,
            built - WEEK + BUSINESS_AFTER,
        );
        if from < lo || to > hi {
            return None;
        }
        let m = self.business.get(metric)?;
        let mut sum = 0.0;
        let mut n = 0;
        for (_, v) in m.range(from..to) {
            sum += v;
            n += 1;
        }
        Some((sum, n))
    }
    /// Series with a baseline (for the benchmark and tests).
    pub fn series(&self) -> usize {
        self.latency.len().max(self.errors.len())
    }
    /// Memory held, roughly: minutes kept.
    pub fn retained(&self) -> usize {
        self.latency.len()
            + self.errors.len()
            + self.business.values().map(BTreeMap::len).sum::<usize>()
    }
}

#[derive(Debug, Default)]
struct Acc {
    p95: Vec<f64>,
    errors: u64,
    requests: u64,
    minutes: usize,
    day_ago: bool,
    week_ago: bool,
}

/// Builds [`Baselines`] as of `now` from per-minute history fed in any order;
/// minutes outside the ranges a baseline uses are ignored.
#[derive(Debug)]
pub struct BaselineBuilder {
    now: DateTime<Utc>,
    now_m: Minute,
    series: HashMap<String, Acc>,
    business: HashMap<String, BTreeMap<Minute, f64>>,
}

/// Where a minute falls for a baseline as of `now_m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    Trailing,
    DayAgo,
    WeekAgo,
}

fn range_of(now_m: Minute, m: Minute) -> Option<Range> {
    if (now_m - DAY..now_m).contains(&m) {
        Some(Range::Trailing)
    } else if (now_m - DAY - AROUND..=now_m - DAY + AROUND).contains(&m) {
        Some(Range::DayAgo)
    } else if (now_m - WEEK - AROUND..=now_m - WEEK + AROUND).contains(&m) {
        Some(Range::WeekAgo)
    } else {
        None
    }
}

impl BaselineBuilder {
    pub fn new(now: DateTime<Utc>) -> Self {
        BaselineBuilder {
            now,
            now_m: minute_of(now),
            series: HashMap::new(),
            business: HashMap::new(),
        }
    }

    /// The earliest instant any baseline reads (for the loader's query).
    pub fn earliest(now: DateTime<Utc>) -> DateTime<Utc> {
        now - TimeDelta::minutes(WEEK + BUSINESS_BEFORE)
    }

    /// Whether minute `m` is used at all.
    pub fn wants(&self, m: Minute) -> bool {
        range_of(self.now_m, m).is_some() || self.wants_business(m)
    }

    fn wants_business(&self, m: Minute) -> bool {
        (self.now_m - WEEK - BUSINESS_BEFORE..self.now_m - WEEK + BUSINESS_AFTER).contains(&m)
    }

    fn add(&mut self, series: String, m: Minute, requests: u64, errors: u64, p95: Option<f64>) {
        let Some(r) = range_of(self.now_m, m) else {
            return;
        };
        let a = self.series.entry(series).or_default();
        a.minutes += 1;
        a.requests += requests;
        a.errors += errors;
        a.day_ago |= r == Range::DayAgo;
        a.week_ago |= r == Range::WeekAgo;
        if requests >= MIN_CALLS_PER_MINUTE
            && let Some(p) = p95
        {
            a.p95.push(p);
        }
    }

    pub fn api(&mut self, m: Minute, key: &EndpointKey, d: &ApiMinute) {
        self.add(
            endpoint_series(key),
            m,
            d.requests,
            d.errors,
            d.latency.quantile(0.95),
        );
    }

    pub fn integration(&mut self, m: Minute, name: &str, d: &IntegrationMinute) {
        self.add(
            integration_series(name),
            m,
            d.calls,
            d.failures,
            d.latency.quantile(0.95),
        );
    }

    pub fn business(&mut self, m: Minute, metric: &str, v: f64) {
        if self.wants_business(m) && v.is_finite() {
            *self
                .business
                .entry(metric.to_string())
                .or_default()
                .entry(m)
                .or_default() += v;
        }
    }

    pub fn build(self) -> Baselines {
        let mut out = Baselines {
            built_at: Some(self.now),
            business: self.business,
            ..Baselines::default()
        };
        for (key, mut a) in self.series {
            let window = match (a.day_ago, a.week_ago) {
                (_, true) => "24h + same hour 1d and 1w ago",
                (true, false) => "24h + same hour 1d ago",
                _ => "24h",
            };
            let enough = a.p95.len() >= MIN_BASELINE_MINUTES;
            if enough && let Some(med) = median(&mut a.p95) {
                let mut dev: Vec<f64> = a.p95.iter().map(|v| (v - med).abs()).collect();
                let mad = median(&mut dev).unwrap_or(0.0);
                out.latency.insert(
                    key.clone(),
                    LatencyBaseline {
                        median: med,
                        mad,
                        minutes: a.p95.len(),
                        window: window.to_string(),
                    },
                );
            }
            if a.minutes >= MIN_BASELINE_MINUTES && a.requests >= MIN_BASELINE_REQUESTS {
                out.errors.insert(
                    key.clone(),
                    ErrorBaseline {
                        errors: a.errors,
                        requests: a.requests,
                        minutes: a.minutes,
                        window: window.to_string(),
                    },
                );
            }
            if !enough || a.minutes < MIN_BASELINE_MINUTES {
                out.short.insert(key, a.p95.len().min(a.minutes));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact binomial tails, checked against direct summation of the pmf.
    #[test]
    fn binomial_tail_matches_direct_summation() {
        fn direct(k: u64, n: u64, p: f64) -> f64 {
            let mut total = 0.0;
            for i in k..=n {
                let mut c = 1.0f64;
                for j in 0..i {
                    c *= (n - j) as f64 / (j + 1) as f64;
                }
                total += c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32);
            }
            -total.log10()
        }
        for (k, n, p) in [(3, 10, 0.05), (10, 40, 0.02), (5, 100, 0.01), (20, 60, 0.1)] {
            let got = error_surprise(k, n, p);
            let want = direct(k, n, p);
            assert!(
                (got - want).abs() < 1e-9,
                "k={k} n={n} p={p}: {got} vs {want}"
            );
        }
        // At or below the expected count: nothing surprising.
        assert_eq!(error_surprise(1, 100, 0.02), 0.0);
        assert_eq!(error_surprise(0, 100, 0.02), 0.0);
    }

    #[test]
    fn low_traffic_errors_are_not_alarming_but_a_burst_is() {
        // 1 error in 3 calls at a 1 % baseline: about 3 %, not alarming.
        assert!(error_surprise(1, 3, 0.01) < 2.0);
        // 30 errors in 200 calls at 1 %: vanishingly unlikely.
        assert!(error_surprise(30, 200, 0.01) > 15.0);
        // Large n needs no overflow care.
        assert!(error_surprise(5_000, 100_000, 0.01) > 100.0);
    }

    #[test]
    fn band_has_a_margin_floor_and_the_score_crosses_k_at_its_edge() {
        let b = LatencyBaseline {
            median: 200.0,
            mad: 0.0,
            minutes: 100,
            window: "24h".into(),
        };
        let band = b.band(260.0, 4.0, 50.0, 0.1);
        assert_eq!((band.low, band.high), (150.0, 250.0));
        assert!(band.score > 4.0);
        assert!(b.band(249.0, 4.0, 50.0, 0.1).score < 4.0);
        let wide = LatencyBaseline { mad: 100.0, ..b };
        let band = wide.band(700.0, 4.0, 50.0, 0.1);
        assert!((band.high - (200.0 + 4.0 * 148.26)).abs() < 1e-6);
    }

    #[test]
    fn a_baseline_needs_an_hour_of_history() {
        let now = DateTime::from_timestamp(100 * 86_400, 0).unwrap();
        let key = EndpointKey::new("GET", "/x");
        let mut b = BaselineBuilder::new(now);
        let mut d = ApiMinute::default();
        d.add_counts(200, 10, 0);
        for _ in 0..10 {
            d.latency.record(100);
        }
        for m in 1..=59 {
            b.api(minute_of(now) - m, &key, &d);
        }
        let bl = b.build();
        assert!(bl.latency(&endpoint_series(&key)).is_none());
        assert_eq!(bl.history_minutes(&endpoint_series(&key)), 59);
        let mut b = BaselineBuilder::new(now);
        for m in 1..=60 {
            b.api(minute_of(now) - m, &key, &d);
        }
        // A minute outside every range is ignored.
        b.api(minute_of(now) - 3 * DAY, &key, &d);
        let bl = b.build();
        let l = bl.latency(&endpoint_series(&key)).unwrap();
        assert_eq!((l.minutes, l.window.as_str()), (60, "24h"));
    }
}
