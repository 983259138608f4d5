//! Reading an append-only table incrementally and exactly once per row.
//!
//! Ids come from a sequence at insert time but rows become visible at commit,
//! so a row with a lower id can appear after higher ones. A [`Tail`] remembers
//! the highest id read (`hwm`) and every id range below it that was missing
//! when it was passed (a *gap*: a transaction still open, or rolled back).
//! Each poll reads `id > hwm` plus the rows that have since appeared inside
//! the gaps, so nothing is missed and nothing is read twice.
//!
//! Gaps are forgotten once they are older than the window: a row's timestamp
//! is set when its transaction runs (`NOW()` is the transaction start), so a
//! row committing later than that lies outside the window and would not be
//! counted anyway. Their number is capped as a last resort.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most gap ranges remembered; beyond this the oldest are dropped.
pub const MAX_GAPS: usize = 20_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    pub hwm: i64,
    /// lo -> (hi, first seen), inclusive ranges.
    gaps: BTreeMap<i64, (i64, DateTime<Utc>)>,
}

impl Tail {
    pub fn new(hwm: i64) -> Self {
        Tail {
            hwm,
            gaps: BTreeMap::new(),
        }
    }

    pub fn has_gaps(&self) -> bool {
        !self.gaps.is_empty()
    }

    pub fn gap_count(&self) -> usize {
        self.gaps.len()
    }

    /// The gaps as two parallel arrays (lo, hi), for `unnest($1, $2)`.
    pub fn gap_arrays(&self) -> (Vec<i64>, Vec<i64>) {
        self.gaps.iter().map(|(lo, (hi, _))| (*lo, *hi)).unzip()
    }

    /// The gaps to probe: every id of the narrow gaps (up to `max_ids` in
    /// all, newest gaps first), and the remaining gaps as `(lo, hi)` ranges.
    pub fn gap_probe(&self, max_ids: usize) -> (Vec<i64>, Vec<(i64, i64)>) {
        let mut ids = Vec::new();
        let mut ranges = Vec::new();
        for (lo, (hi, _)) in self.gaps.iter().rev() {
            let width = (hi - lo + 1) as usize;
            if width <= 64 && ids.len() + width <= max_ids {
                ids.extend(*lo..=*hi);
            } else {
                ranges.push((*lo, *hi));
            }
        }
        ids.sort_unstable();
        ranges.reverse();
        (ids, ranges)
    }

    /// Record ids read above `hwm` (ascending); the holes become gaps.
    pub fn advance(&mut self, ids: &[i64], now: DateTime<Utc>) {
        let mut expect = self.hwm + 1;
        for &id in ids {
            if id < expect {
                continue;
            }
            if id > expect {
                self.gaps.insert(expect, (id - 1, now));
            }
            expect = id + 1;
        }
        self.hwm = self.hwm.max(expect - 1);
        self.cap();
    }

    /// Remove ids that were read from inside gaps.
    pub fn fill(&mut self, ids: &[i64]) {
        for &id in ids {
            let Some((&lo, &(hi, seen))) = self.gaps.range(..=id).next_back() else {
                continue;
            };
            if id > hi {
                continue;
            }
            self.gaps.remove(&lo);
            if lo < id {
                self.gaps.insert(lo, (id - 1, seen));
            }
            if id < hi {
                self.gaps.insert(id + 1, (hi, seen));
            }
        }
        self.cap();
    }

    /// Remember `lo..=hi` as a gap first seen at `seen`: ids below the
    /// range read so far (the rollup backfill reads downwards), disjoint from
    /// every gap already remembered.
    pub fn insert_gap(&mut self, lo: i64, hi: i64, seen: DateTime<Utc>) {
        if lo <= hi {
            self.gaps.insert(lo, (hi, seen));
            self.cap();
        }
    }

    /// Whether `id` lies in a remembered gap.
    pub fn in_gap(&self, id: i64) -> bool {
        self.gaps
            .range(..=id)
            .next_back()
            .is_some_and(|(_, (hi, _))| id <= *hi)
    }

    /// Forget gaps first seen before `cutoff`.
    pub fn expire(&mut self, cutoff: DateTime<Utc>) {
        self.gaps.retain(|_, (_, seen)| *seen >= cutoff);
    }

    fn cap(&mut self) {
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn holes_become_gaps_and_fill() {
        let mut t = Tail::new(10);
        t.advance(&[11, 14, 15, 20], t0());
        assert_eq!(t.hwm, 20);
        assert_eq!(t.gap_arrays(), (vec![12, 16], vec![13, 19]));
        t.fill(&[12, 17]);
        assert_eq!(t.gap_arrays(), (vec![13, 16, 18], vec![13, 16, 19]));
        assert!(t.in_gap(13) && !t.in_gap(12) && !t.in_gap(17) && t.in_gap(19));
        t.fill(&[13, 16, 18, 19]);
        assert!(!t.has_gaps());
    }

    #[test]
    fn gap_probe_splits_narrow_and_wide() {
        let mut t = Tail::new(0);
        t.advance(&[2, 5, 200, 202], t0());
        // gaps: 1, 3-4, 6-199, 201
        let (ids, wide) = t.gap_probe(100);
        assert_eq!(ids, vec![1, 3, 4, 201]);
        assert_eq!(wide, vec![(6, 199)]);
        let (ids, wide) = t.gap_probe(2);
        assert_eq!(ids, vec![1, 201]);
        assert_eq!(wide, vec![(3, 4), (6, 199)]);
    }

    #[test]
    fn duplicates_and_old_ids_are_ignored_by_advance() {
        let mut t = Tail::new(5);
        t.advance(&[3, 5, 6, 6, 7], t0());
        assert_eq!(t.hwm, 7);
        assert!(!t.has_gaps());
    }

    #[test]
    fn gaps_expire_and_are_capped() {
        let mut t = Tail::new(0);
        t.advance(&[2], t0());
        t.advance(&[4], t0() + chrono::Duration::seconds(100));
        t.expire(t0() + chrono::Duration::seconds(50));
        assert_eq!(t.gap_arrays(), (vec![3], vec![3]));
        let ids: Vec<i64> = (0..(MAX_GAPS as i64 + 10)).map(|i| 10 + 2 * i).collect();
        t.advance(&ids, t0() + chrono::Duration::seconds(200));
        assert_eq!(t.gap_count(), MAX_GAPS);
    }
}
