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
//!
//! Probing costs per id, so gaps are not all probed every poll: a gap is
//! probed at every poll while it is young ([`YOUNG`]: most transactions
//! commit within milliseconds), then less and less often as it ages (a
//! quarter of its age between probes, at most [`MAX_PROBE_EVERY`]); a gap that old is almost
//! always a rollback that will never fill. Each poll probes at most
//! [`PROBE_IDS`] ids and [`PROBE_RANGES`] wide gaps, the most overdue first,
//! so a storm of rollbacks (thousands of gaps) costs a bounded amount per poll
//! while a late commit in any gap is still found, at most
//! [`MAX_PROBE_EVERY`] after it (plus any backlog) and counted.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Most gap ranges remembered; beyond this the oldest are dropped.
pub const MAX_GAPS: usize = 20_000;
/// Most ids probed one by one per poll; further due gaps wait a poll.
pub const PROBE_IDS: usize = 2_048;
/// Most wide gaps probed (one range query each) per poll.
pub const PROBE_RANGES: usize = 16;
/// Gaps up to this many ids are probed id by id; wider ones as a range.
pub const NARROW: i64 = 64;
/// Longest time between two probes of the same gap.
pub const MAX_PROBE_EVERY: TimeDelta = TimeDelta::seconds(60);
/// Gaps younger than this are probed at every poll.
pub const YOUNG: TimeDelta = TimeDelta::seconds(10);

/// Stored (rollup state) as `(hi, first seen)`, as before gaps had a probe
/// schedule; read back, a gap is due at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(i64, DateTime<Utc>)", into = "(i64, DateTime<Utc>)")]
struct Gap {
    /// Last id of the gap (inclusive).
    hi: i64,
    /// When the gap was first seen.
    seen: DateTime<Utc>,
    /// When it is next probed.
    due: DateTime<Utc>,
}

impl From<(i64, DateTime<Utc>)> for Gap {
    fn from((hi, seen): (i64, DateTime<Utc>)) -> Self {
        Gap {
            hi,
            seen,
            due: seen,
        }
    }
}

impl From<Gap> for (i64, DateTime<Utc>) {
    fn from(g: Gap) -> Self {
        (g.hi, g.seen)
    }
}

/// What one poll reads inside the gaps: narrow gaps id by id, wide ones as
/// inclusive `(lo, hi)` ranges; both ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub ids: Vec<i64>,
    pub ranges: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    pub hwm: i64,
    /// lo -> gap, inclusive ranges.
    gaps: BTreeMap<i64, Gap>,
    /// Probe every gap at every poll (the naive way; for comparison).
    #[serde(skip)]
    probe_every_poll: bool,
    /// Ids and ranges taken by the last [`Tail::probe`].
    #[serde(skip)]
    last_probe: (usize, usize),
}

impl Tail {
    pub fn new(hwm: i64) -> Self {
        Tail {
            hwm,
            ..Default::default()
        }
    }

    pub fn has_gaps(&self) -> bool {
        !self.gaps.is_empty()
    }

    pub fn gap_count(&self) -> usize {
        self.gaps.len()
    }

    /// Probe every gap at every poll, as jfmon did before gaps were probed
    /// by age (kept to compare the two in benchmarks).
    pub fn set_probe_every_poll(&mut self, on: bool) {
        self.probe_every_poll = on;
    }

    /// The gaps as two parallel arrays (lo, hi), for `unnest($1, $2)`.
    pub fn gap_arrays(&self) -> (Vec<i64>, Vec<i64>) {
        self.gaps.iter().map(|(lo, g)| (*lo, g.hi)).unzip()
    }

    /// The gaps to probe at the poll at `now`: those due, most overdue first
    /// (newest first among equals), within [`PROBE_IDS`] ids and
    /// [`PROBE_RANGES`] ranges. Each gap taken is next due a quarter of its
    /// age later (at most [`MAX_PROBE_EVERY`]).
    pub fn probe(&mut self, now: DateTime<Utc>) -> Probe {
        let p = if self.probe_every_poll {
            self.probe_all()
        } else {
            self.probe_due(now)
        };
        self.last_probe = (p.ids.len(), p.ranges.len());
        p
    }

    /// Ids and ranges the last [`Tail::probe`] took: the work of a poll.
    pub fn last_probe(&self) -> (usize, usize) {
        self.last_probe
    }

    fn probe_due(&mut self, now: DateTime<Utc>) -> Probe {
        let mut due: Vec<(DateTime<Utc>, i64)> = self
            .gaps
            .iter()
            .filter(|(_, g)| g.due <= now)
            .map(|(lo, g)| (g.due, *lo))
            .collect();
        due.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut p = Probe::default();
        for (_, lo) in due {
            if p.ids.len() >= PROBE_IDS && p.ranges.len() >= PROBE_RANGES {
                break;
            }
            let Some(g) = self.gaps.get_mut(&lo) else {
                continue;
            };
            let width = g.hi - lo + 1;
            if width <= NARROW {
                if p.ids.len() + width as usize > PROBE_IDS {
                    continue;
                }
                p.ids.extend(lo..=g.hi);
            } else {
                if p.ranges.len() >= PROBE_RANGES {
                    continue;
                }
                p.ranges.push((lo, g.hi));
            }
            g.due = now + probe_delay(now - g.seen);
        }
        p.ids.sort_unstable();
        p.ranges.sort_unstable();
        p
    }

    /// Every gap: narrow ones id by id (up to 20,000 ids, newest first), the
    /// rest as ranges – the old way.
    fn probe_all(&self) -> Probe {
        let mut p = Probe::default();
        for (lo, g) in self.gaps.iter().rev() {
            let width = (g.hi - lo + 1) as usize;
            if width as i64 <= NARROW && p.ids.len() + width <= MAX_GAPS {
                p.ids.extend(*lo..=g.hi);
            } else {
                p.ranges.push((*lo, g.hi));
            }
        }
        p.ids.sort_unstable();
        p.ranges.reverse();
        p
    }

    /// Record ids read above `hwm` (ascending); the holes become gaps, due
    /// for a probe at once.
    pub fn advance(&mut self, ids: &[i64], now: DateTime<Utc>) {
        let mut expect = self.hwm + 1;
        for &id in ids {
            if id < expect {
                continue;
            }
            if id > expect {
                let gap = Gap {
                    hi: id - 1,
                    seen: now,
                    due: now,
                };
                self.gaps.insert(expect, gap);
            }
            expect = id + 1;
        }
        self.hwm = self.hwm.max(expect - 1);
        self.cap();
    }

    /// Remove ids that were read from inside gaps.
    pub fn fill(&mut self, ids: &[i64]) {
        for &id in ids {
            let Some((&lo, &g)) = self.gaps.range(..=id).next_back() else {
                continue;
            };
            if id > g.hi {
                continue;
            }
            self.gaps.remove(&lo);
            if lo < id {
                self.gaps.insert(lo, Gap { hi: id - 1, ..g });
            }
            if id < g.hi {
                self.gaps.insert(id + 1, g);
            }
        }
        self.cap();
    }

    /// Remember `lo..=hi` as a gap first seen at `seen`: ids below the
    /// range read so far (the rollup backfill reads downwards), disjoint from
    /// every gap already remembered.
    pub fn insert_gap(&mut self, lo: i64, hi: i64, seen: DateTime<Utc>) {
        if lo <= hi {
            self.gaps.insert(
                lo,
                Gap {
                    hi,
                    seen,
                    due: seen,
                },
            );
            self.cap();
        }
    }

    /// Whether `id` lies in a remembered gap.
    pub fn in_gap(&self, id: i64) -> bool {
        self.gaps
            .range(..=id)
            .next_back()
            .is_some_and(|(_, g)| id <= g.hi)
    }

    /// Forget gaps first seen before `cutoff`.
    pub fn expire(&mut self, cutoff: DateTime<Utc>) {
        self.gaps.retain(|_, g| g.seen >= cutoff);
    }

    fn cap(&mut self) {
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
    }
}

/// Time until the next probe of a gap that is `age` old: none while young,
/// then a quarter of its age, at most [`MAX_PROBE_EVERY`].
fn probe_delay(age: TimeDelta) -> TimeDelta {
    if age < YOUNG {
        return TimeDelta::zero();
    }
    (age / 4).clamp(TimeDelta::zero(), MAX_PROBE_EVERY)
}

/// The SQL condition "`id` is in none of the gaps" for gaps given as two
/// parallel parameter arrays `lo`, `hi` (inclusive ranges). The gaps become
/// one `int8multirange` (an init plan, built once per statement), and each
/// row costs one binary search in it: a row × gap anti-join
/// (`NOT EXISTS (… unnest(…) … BETWEEN …)`) cost about 30 % of a slice's
/// aggregate with no gap at all (2.5 M rows: 4.1 s against 2.9 s), and rows
/// × gaps with many (20,000 gaps over 2.5 M rows: 3.9 s this way).
pub fn outside_gaps(id: &str, lo: &str, hi: &str) -> String {
    format!(
        "NOT (coalesce((SELECT range_agg(int8range(g.lo, g.hi, '[]')) \
                        FROM unnest({lo}::int8[], {hi}::int8[]) AS g(lo, hi)), \
                       '{{}}'::int8multirange) @> {id}::int8)"
    )
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
    fn probe_splits_narrow_and_wide() {
        let mut t = Tail::new(0);
        t.advance(&[2, 5, 200, 202], t0());
        // gaps: 1, 3-4, 6-199, 201
        let p = t.probe(t0());
        assert_eq!(p.ids, vec![1, 3, 4, 201]);
        assert_eq!(p.ranges, vec![(6, 199)]);
    }

    #[test]
    fn young_gaps_every_poll_old_ones_less_often() {
        let mut t = Tail::new(0);
        t.advance(&[2], t0());
        let probed_at: Vec<i64> = (1..=120)
            .filter(|s| !t.probe(t0() + TimeDelta::seconds(*s)).ids.is_empty())
            .collect();
        // Every poll for the first ten seconds, then ever further apart (a
        // quarter of the age), never more than a minute.
        assert_eq!(&probed_at[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(probed_at.len() < 30, "{probed_at:?}");
        let steps: Vec<i64> = probed_at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.windows(2).all(|w| w[1] >= w[0]), "{steps:?}");
        assert!(steps.iter().all(|s| *s <= 60));
        let mut later = t.clone();
        assert!(
            (121..=185).any(|s| !later.probe(t0() + TimeDelta::seconds(s)).ids.is_empty()),
            "still probed after two minutes"
        );
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

    /// A storm of rollbacks fills the gap set (every other id of 40,000):
    /// the naive way probes 20,000 ids every poll; by age, a poll probes at
    /// most `PROBE_IDS`, and once the storm is a few minutes old about one
    /// sixtieth of the gaps per (1 s) poll.
    #[test]
    fn rollback_storm_keeps_polls_cheap() {
        let ids: Vec<i64> = (1..=MAX_GAPS as i64).map(|i| 2 * i).collect();
        let mut t = Tail::new(0);
        t.advance(&ids, t0());
        assert_eq!(t.gap_count(), MAX_GAPS);
        let mut naive = t.clone();
        naive.set_probe_every_poll(true);
        assert_eq!(naive.probe(t0()).ids.len(), MAX_GAPS);

        let per_poll: Vec<usize> = (1..=900)
            .map(|s| t.probe(t0() + TimeDelta::seconds(s)).ids.len())
            .collect();
        assert!(per_poll.iter().all(|n| *n <= PROBE_IDS), "budget per poll");
        let late: &[usize] = &per_poll[300..];
        let mean = late.iter().sum::<usize>() as f64 / late.len() as f64;
        assert!(mean <= 350.0, "mean ids per poll after 5 min: {mean}");
        // Over 15 minutes every gap was still probed at least once a minute
        // (after its first minutes): total work under a thirtieth of the naive.
        let total: usize = per_poll.iter().sum();
        assert!(total <= 900 * MAX_GAPS / 30, "{total}");
    }

    /// A row committing late in an old gap is found within a minute, even
    /// among a storm of gaps.
    #[test]
    fn late_row_in_an_old_gap_is_found() {
        let ids: Vec<i64> = (1..=MAX_GAPS as i64).map(|i| 2 * i).collect();
        let mut t = Tail::new(0);
        t.advance(&ids, t0());
        for s in 1..=600 {
            t.probe(t0() + TimeDelta::seconds(s));
        }
        // Id 7 commits at 600 s (say): found by one of the next 60 polls.
        let found = (601..=661).find(|s| t.probe(t0() + TimeDelta::seconds(*s)).ids.contains(&7));
        assert!(found.is_some(), "gap 7 never probed");
        t.fill(&[7]);
        assert!(!t.in_gap(7) && t.in_gap(5) && t.in_gap(9));
    }
}
