//! Latency histograms. The bucket scheme is HdrHistogram's with two significant
//! digits (every value is stored within 1 % of itself): values below 256 ms are
//! exact, above that each power-of-two range has 128 buckets.
//!
//! * [`SparseHist`] holds one minute of one endpoint: a short sorted list of
//!   `(bucket, count)`; cheap to keep for a whole window, mergeable, serialisable
//!   (the hub ships them), and what the start-up SQL aggregate produces directly.
//! * [`WindowHist`] is a dense `hdrhistogram::Histogram` for the whole window,
//!   kept up to date by adding new minutes and subtracting expired ones, so a
//!   percentile costs the same for a 1 m and a 24 h window.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency tracked; slower values are clamped (an hour is "very slow").
pub const MAX_MS: u64 = 3_600_000;
const SIGFIG: u8 = 2;
/// Values below this are their own bucket.
const EXACT_BELOW: u64 = 256;

/// The lowest value of the bucket `ms` falls in (negative values count as 0).
pub fn bucket_of(ms: i64) -> u32 {
    let v = (ms.max(0) as u64).min(MAX_MS);
    if v < EXACT_BELOW {
        return v as u32;
    }
    let shift = 63 - v.leading_zeros() - 7;
    ((v >> shift) << shift) as u32
}

/// The highest value of the bucket whose lowest value is `bucket`.
pub fn bucket_high(bucket: u32) -> u32 {
    let v = bucket as u64;
    if v < EXACT_BELOW {
        return bucket;
    }
    let shift = 63 - v.leading_zeros() - 7;
    (v + (1 << shift) - 1) as u32
}

/// The SQL expression that buckets an integer column exactly like [`bucket_of`],
/// so the start-up aggregate can group by it server-side.
pub fn sql_bucket_expr(col: &str) -> String {
    let mut s =
        format!("CASE WHEN {col} IS NULL THEN NULL WHEN {col} < 256 THEN greatest({col}, 0)");
    let mut lo: u64 = 256;
    let mut shift = 1;
    while lo <= MAX_MS {
        let mask = (1u64 << shift) - 1;
        s.push_str(&format!(" WHEN {col} < {} THEN ({col} & ~{mask})", lo * 2));
        lo *= 2;
        shift += 1;
    }
    s.push_str(&format!(" ELSE {} END", bucket_of(MAX_MS as i64)));
    s
}

/// One minute's latencies: sorted `(bucket, count)` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseHist(pub Vec<(u32, u64)>);

impl SparseHist {
    pub fn record(&mut self, ms: i64) {
        self.record_bucket(bucket_of(ms), 1);
    }

    /// Add `n` to the bucket whose lowest value is `bucket` (normalised).
    pub fn record_bucket(&mut self, bucket: u32, n: u64) {
        let b = bucket_of(bucket as i64);
        match self.0.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => self.0[i].1 += n,
            Err(i) => self.0.insert(i, (b, n)),
        }
    }

    pub fn merge(&mut self, other: &SparseHist) {
        self.add_pairs(&other.0);
    }

    /// Add `(bucket, count)` pairs: each run sorted by normalised bucket (a
    /// rollup column is one run, `jfmon_pairs` of several columns one run
    /// each) in one pass, a merge of two sorted lists, where adding them one
    /// by one shifts the list at each new bucket; anything else one by one.
    pub fn add_pairs(&mut self, pairs: &[(u32, u64)]) {
        debug_assert!(self.0.windows(2).all(|w| w[0].0 < w[1].0), "unsorted");
        let mut start = 0;
        for i in 1..=pairs.len() {
            if i == pairs.len() || pairs[i].0 <= pairs[i - 1].0 {
                self.add_run(&pairs[start..i]);
                start = i;
            }
        }
    }

    /// Add pairs sorted by bucket, merged in one pass when normalised.
    fn add_run(&mut self, run: &[(u32, u64)]) {
        if !run.iter().all(|&(b, _)| bucket_of(b as i64) == b) {
            for &(b, n) in run {
                self.record_bucket(b, n);
            }
            return;
        }
        if self.0.is_empty() {
            self.0.extend_from_slice(run);
            return;
        }
        let a = &self.0;
        let mut out = Vec::with_capacity(a.len() + run.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < run.len() {
            match a[i].0.cmp(&run[j].0) {
                std::cmp::Ordering::Less => {
                    out.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(run[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push((a[i].0, a[i].1 + run[j].1));
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&run[j..]);
        self.0 = out;
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|&(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `q` quantile (0..=1), reported like `percentile_disc`: the smallest
    /// recorded value at or above that rank, to bucket precision.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile_of(self.0.iter().copied(), self.count(), q)
    }
}

fn quantile_of(buckets: impl Iterator<Item = (u32, u64)>, total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (b, n) in buckets {
        seen += n;
        if seen >= rank {
            return Some(representative(b));
        }
    }
    None
}

/// The value reported for a bucket: its midpoint (error at most half a bucket).
fn representative(bucket: u32) -> f64 {
    (bucket as f64 + bucket_high(bucket) as f64) / 2.0
}

/// The dense histogram of a whole window.
#[derive(Debug, Clone)]
pub struct WindowHist {
    h: Histogram<u64>,
}

impl Default for WindowHist {
    fn default() -> Self {
        Self {
            h: Histogram::new_with_bounds(1, MAX_MS, SIGFIG).expect("static histogram bounds"),
        }
    }
}

impl WindowHist {
    pub fn add(&mut self, s: &SparseHist) {
        for &(b, n) in &s.0 {
            // In range: bucket_of clamps to MAX_MS.
            let _ = self.h.record_n(bucket_of(b as i64) as u64, n);
        }
    }

    pub fn subtract(&mut self, s: &SparseHist) {
        let mut tmp = Histogram::<u64>::new_from(&self.h);
        for &(b, n) in &s.0 {
            let _ = tmp.record_n(bucket_of(b as i64) as u64, n);
        }
        // Never fails: every count subtracted was added before.
        let _ = self.h.subtract(&tmp);
    }

    pub fn clear(&mut self) {
        self.h.reset();
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    pub fn quantile(&self, q: f64) -> Option<f64> {
        let iter = self
            .h
            .iter_recorded()
            .map(|v| (bucket_of(v.value_iterated_to() as i64), v.count_at_value()));
        quantile_of(iter, self.h.len(), q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_hdrhistogram() {
        let h = Histogram::<u64>::new_with_bounds(1, MAX_MS, SIGFIG).unwrap();
        for v in (0..5000).chain([65_535, 65_536, 1_000_003, 3_599_999]) {
            assert_eq!(
                bucket_of(v) as u64,
                h.lowest_equivalent(v as u64),
                "value {v}"
            );
            assert_eq!(
                bucket_high(bucket_of(v)) as u64,
                h.highest_equivalent(v as u64),
                "value {v}"
            );
        }
    }

    #[test]
    fn bucket_error_is_under_one_percent() {
        for v in 1..200_000i64 {
            let r = representative(bucket_of(v));
            assert!((r - v as f64).abs() / v as f64 <= 0.01, "{v} -> {r}");
        }
    }

    #[test]
    fn sparse_quantile_is_percentile_disc() {
        let mut s = SparseHist::default();
        for v in 1..=100 {
            s.record(v);
        }
        assert_eq!(s.quantile(0.5), Some(50.0));
        assert_eq!(s.quantile(0.95), Some(95.0));
        assert_eq!(s.quantile(1.0), Some(100.0));
        assert_eq!(SparseHist::default().quantile(0.5), None);
    }

    #[test]
    fn adding_pairs_in_one_pass_equals_adding_them_one_by_one() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        for _ in 0..200 {
            let (mut a, mut b) = (SparseHist::default(), SparseHist::default());
            for _ in 0..(next() % 40) {
                a.record_bucket(bucket_of(next() % 5_000), 1 + next() as u64 % 9);
            }
            for _ in 0..(next() % 40) {
                b.record_bucket(bucket_of(next() % 5_000), 1 + next() as u64 % 9);
            }
            let mut one_by_one = a.clone();
            for &(k, n) in &b.0 {
                one_by_one.record_bucket(k, n);
            }
            a.merge(&b);
            assert_eq!(a, one_by_one);
        }
        // Several sorted runs (concatenated columns), an unnormalised bucket.
        let mut h = SparseHist::default();
        h.record(5);
        h.add_pairs(&[(300, 1), (5, 2), (301, 4), (2, 1), (5, 1)]);
        assert_eq!(h.0, vec![(2, 1), (5, 4), (300, 5)]);
    }

    #[test]
    fn window_add_subtract_round_trips() {
        let mut a = SparseHist::default();
        let mut b = SparseHist::default();
        for v in [3, 300, 3000, 30_000] {
            a.record(v);
        }
        for v in [7, 700, 7000] {
            b.record(v);
        }
        let mut w = WindowHist::default();
        w.add(&a);
        w.add(&b);
        assert_eq!(w.count(), 7);
        w.subtract(&a);
        assert_eq!(w.count(), 3);
        assert_eq!(w.quantile(1.0), b.quantile(1.0));
        assert_eq!(w.quantile(0.5), b.quantile(0.5));
    }
}
