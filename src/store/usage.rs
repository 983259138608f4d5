//! Feature usage per service: buckets of session starts and outcomes over
//! the window, one per slot like the rest of the store (a minute up to a 6 h
//! window, coarser beyond: at most 360 per service whatever the window, see
//! [`crate::model::slot_minutes`]), replaced from a slot on by each update
//! (sessions change status after they start), plus the ends a source finds
//! late (written after it had read past their end) added to their slot; the
//! rollups' past windows, and the statistics and findings derived from them.
//! Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Timelike, Utc};

use crate::model::{
    BusinessStats, Finding, FindingKind, FunnelStep, HourProfile, MAX_KEYS, Minute, QUICK_END_SECS,
    ServiceUsage, UsageComparison, UsageHistory, UsageMinute, UsageStats, UsageTotals, UsageUpdate,
    slot_of,
};

/// Services beyond [`MAX_KEYS`] are counted under this name.
pub const OTHER_SERVICE: &str = "(other)";

/// Minimum sessions on each side of a comparison before it can be a finding.
const MIN_SESSIONS: u64 = 10;
/// A rate must move at least this much (absolute, 0..1) ...
const MIN_MOVE: f64 = 0.10;
/// ... and by at least this many standard errors (two-proportion z-test).
const MIN_Z: f64 = 3.0;
/// Quick ends: at least this many, and this part of the ended sessions.
const QUICK_MIN: u64 = 5;
const QUICK_PART: f64 = 0.05;
/// Unfinished credits: at least this many, and this part of the credits.
const UNFINISHED_MIN: u64 = 10;
const UNFINISHED_PART: f64 = 0.05;
/// Hour profile: the 7-day average must be at least this, and today's
/// count differ from it by this fraction.
const HOUR_MIN_AVG: f64 = 10.0;
const HOUR_MOVE: f64 = 0.5;

/// The funnel's steps, each read from the first of its metrics present.
/// A step must count the same users as the one before it: the purchases
/// step prefers the first purchases of new users (`first_purchases`) over
/// `conversions`, which also counts users who signed up long ago (and so
/// never had a first session in the window: more purchases than first
/// sessions).
const FUNNEL: [(&str, &[&str]); 3] = [
    ("sign-ups", &["signups", "sign_ups", "registrations"]),
    ("first sessions", &["first_sessions", "first_session"]),
    (
        "purchases",
        &["first_purchases", "conversions", "purchases"],
    ),
];

#[derive(Debug, Clone, Default)]
pub(super) struct UsageSeries {
    minutes: BTreeMap<Minute, BTreeMap<String, UsageMinute>>,
    history: UsageHistory,
    /// Services seen (bounded by [`MAX_KEYS`]).
    services: BTreeSet<String>,
}

impl UsageSeries {
    pub fn clear(&mut self) {
        self.minutes.clear();
        self.history = UsageHistory::default();
        self.services.clear();
    }

    /// Replace the slots from `u.from`'s on with `u`'s minutes, each summed
    /// into its slot of `step` minutes, keeping those in `first..=last`.
    /// `u.from` is a slot start (the poller reads whole slots), else the
    /// minutes of its slot before it are lost until the next load.
    pub fn apply(&mut self, u: UsageUpdate, first: Minute, last: Minute, step: i64) {
        let _replaced = self.minutes.split_off(&slot_of(u.from, step));
        for (m, service, data) in u.minutes {
            if m < u.from {
                continue;
            }
            self.add(m, service, &data, first, last, step);
        }
        for (m, service, data) in u.late {
            if m < u.from {
                self.add(m, service, &data, first, last, step);
            }
        }
    }

    /// Add the minutes of an older part of the window (a progressive load's
    /// history job: all of them before anything a live poll re-reads), each
    /// summed into its slot of `step` minutes, keeping those in
    /// `first..=last`.
    pub fn add_older(&mut self, u: UsageUpdate, first: Minute, last: Minute, step: i64) {
        for (m, service, data) in u.minutes.into_iter().chain(u.late) {
            self.add(m, service, &data, first, last, step);
        }
    }

    fn add(
        &mut self,
        m: Minute,
        service: String,
        data: &UsageMinute,
        first: Minute,
        last: Minute,
        step: i64,
    ) {
        if !(first..=last).contains(&m) {
            return;
        }
        let service = self.bounded(service);
        self.minutes
            .entry(slot_of(m, step))
            .or_default()
            .entry(service)
            .or_default()
            .merge(data);
    }

    /// Regroup what is held into slots of `step` minutes (a new window
    /// without a reload).
    pub fn rebucket(&mut self, step: i64) {
        let mut out: BTreeMap<Minute, BTreeMap<String, UsageMinute>> = BTreeMap::new();
        for (m, by) in std::mem::take(&mut self.minutes) {
            let slot = out.entry(slot_of(m, step)).or_default();
            for (service, data) in by {
                slot.entry(service).or_default().merge(&data);
            }
        }
        self.minutes = out;
    }

    fn bounded(&mut self, service: String) -> String {
        if self.services.contains(&service) {
            return service;
        }
        if self.services.len() >= MAX_KEYS {
            return OTHER_SERVICE.to_string();
        }
        self.services.insert(service.clone());
        service
    }

    pub fn set_history(&mut self, h: UsageHistory) {
        self.history = h;
    }

    pub fn history(&self) -> &UsageHistory {
        &self.history
    }

    pub fn expire_before(&mut self, first: Minute) {
        self.minutes = self.minutes.split_off(&first);
        if self.minutes.is_empty() {
            self.services.clear();
        }
    }

    /// Everything held, as one update from `first` on.
    pub fn export(&self, first: Minute) -> UsageUpdate {
        UsageUpdate {
            from: first,
            late: Vec::new(),
            minutes: self
                .minutes
                .iter()
                .flat_map(|(m, by)| by.iter().map(|(s, d)| (*m, s.clone(), d.clone())))
                .collect(),
        }
    }

    pub fn retained(&self) -> usize {
        self.minutes.values().map(BTreeMap::len).sum()
    }

    /// The Usage view's figures over the minutes `first..=last`, held in
    /// slots of `step` minutes (`first` is a slot start).
    pub fn stats(
        &self,
        (first, last, step): (Minute, Minute, i64),
        now: DateTime<Utc>,
        business: &BusinessStats,
    ) -> UsageStats {
        let step = step.max(1);
        let last_slot = slot_of(last, step).max(first);
        let span = ((last_slot - first) / step + 1) as usize;
        // Recent part against the earlier part of the window (for findings).
        let recent_from = last_slot + step - (span as i64 / 4).max(5) * step;
        let mut whole: BTreeMap<&str, (UsageMinute, Vec<u64>)> = BTreeMap::new();
        let mut recent: BTreeMap<&str, UsageMinute> = BTreeMap::new();
        let mut earlier: BTreeMap<&str, UsageMinute> = BTreeMap::new();
        for (m, by) in self.minutes.range(first..=last_slot) {
            for (s, d) in by {
                let (sum, starts) = whole
                    .entry(s.as_str())
                    .or_insert_with(|| (UsageMinute::default(), vec![0; span]));
                sum.merge(d);
                starts[((m - first) / step) as usize] += d.started;
                let part = if *m >= recent_from {
                    &mut recent
                } else {
                    &mut earlier
                };
                part.entry(s.as_str()).or_default().merge(d);
            }
        }
        let mut all = UsageMinute::default();
        let mut all_starts = vec![0; span];
        for (sum, starts) in whole.values() {
            all.merge(sum);
            for (a, s) in all_starts.iter_mut().zip(starts) {
                *a += s;
            }
        }
        let day = self.history.day_ago.as_ref().map(Past::new);
        let week = self.history.week_ago.as_ref().map(Past::new);
        let mut services: Vec<ServiceUsage> = whole
            .iter()
            .map(|(s, (sum, starts))| {
                let mut u = service_usage(s, sum, starts.clone(), all.started);
                u.day_ago = day.as_ref().map(|p| p.compare(s));
                u.week_ago = week.as_ref().map(|p| p.compare(s));
                u
            })
            .collect();
        services.sort_by(|a, b| b.started.cmp(&a.started).then(a.service.cmp(&b.service)));
        let mut total = service_usage("all", &all, all_starts, all.started);
        total.day_ago = day.as_ref().map(Past::compare_all);
        total.week_ago = week.as_ref().map(Past::compare_all);
        let hours = self.hour_profile(now);
        let mut findings = Vec::new();
        let label = format!("in the last {} min", last_slot + step - recent_from);
        let split = (span >= 10).then_some((&recent, &earlier, label.as_str()));
        findings.extend(completion_findings(
            &services,
            split,
            [("a day earlier", &day), ("a week earlier", &week)],
        ));
        findings.extend(share_findings(
            &services,
            split,
            [("a day earlier", &day), ("a week earlier", &week)],
        ));
        findings.extend(quick_findings(&services));
        findings.extend(credit_findings(&services));
        findings.extend(hours.as_ref().and_then(hour_finding));
        UsageStats {
            services,
            total,
            findings,
            funnel: funnel(business),
            hours,
        }
    }

    fn hour_profile(&self, now: DateTime<Utc>) -> Option<HourProfile> {
        let today = self.history.hours_today.clone()?;
        let week_avg = self.history.hours_week.clone()?;
        (today.len() == 24 && week_avg.len() == 24).then(|| HourProfile {
            today,
            week_avg,
            current_hour: now.hour(),
        })
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn service_usage(name: &str, s: &UsageMinute, starts: Vec<u64>, all_started: u64) -> ServiceUsage {
    let ended = s.ended();
    ServiceUsage {
        service: name.to_string(),
        started: s.started,
        completed: s.completed,
        failed: s.failed,
        abandoned: s.abandoned,
        completion_rate: ratio(s.completed, ended),
        median_secs: s.duration.quantile(0.5),
        p95_secs: s.duration.quantile(0.95),
        credits: s.credits,
        credits_per_session: ratio(s.credits, ended),
        share: ratio(s.started, all_started),
        quick_ends: s.quick_ends,
        credits_unfinished: s.credits_unfinished,
        starts_per_minute: starts,
        day_ago: None,
        week_ago: None,
    }
}

/// A past window from the rollups.
struct Past<'a> {
    by: &'a BTreeMap<String, UsageTotals>,
    all: UsageTotals,
}

impl<'a> Past<'a> {
    fn new(by: &'a BTreeMap<String, UsageTotals>) -> Self {
        let mut all = UsageTotals::default();
        for t in by.values() {
            all.started += t.started;
            all.completed += t.completed;
            all.failed += t.failed;
            all.abandoned += t.abandoned;
            all.credits += t.credits;
        }
        Past { by, all }
    }

    fn totals(&self, service: &str) -> UsageTotals {
        self.by.get(service).copied().unwrap_or_default()
    }

    fn compare(&self, service: &str) -> UsageComparison {
        comparison(&self.totals(service), self.all.started)
    }

    fn compare_all(&self) -> UsageComparison {
        comparison(&self.all, self.all.started)
    }
}

fn comparison(t: &UsageTotals, all_started: u64) -> UsageComparison {
    UsageComparison {
        started: t.started,
        completion_rate: ratio(t.completed, t.ended()),
        credits_per_session: ratio(t.credits, t.ended()),
        share: ratio(t.started, all_started),
    }
}

/// How far `k1 / n1` lies below `k0 / n0`, in standard errors (pooled
/// two-proportion z); `None` when either side has too few sessions.
fn z_drop(k1: u64, n1: u64, k0: u64, n0: u64) -> Option<f64> {
    if n1 < MIN_SESSIONS || n0 < MIN_SESSIONS {
        return None;
    }
    let (p1, p0) = (k1 as f64 / n1 as f64, k0 as f64 / n0 as f64);
    let p = (k1 + k0) as f64 / (n1 + n0) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n0 as f64)).sqrt();
    let d = p0 - p1;
    Some(if se > 0.0 {
        d / se
    } else if d > 0.0 {
        f64::INFINITY
    } else {
        0.0
    })
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Sessions (`k` of `n`) now and in a baseline, with where the baseline comes from.
struct Evidence {
    k1: u64,
    n1: u64,
    k0: u64,
    n0: u64,
    against: &'static str,
    /// What "now" is ("the last 15 min", "the window").
    now: String,
}

impl Evidence {
    fn z(&self) -> Option<f64> {
        z_drop(self.k1, self.n1, self.k0, self.n0)
    }
    fn p1(&self) -> f64 {
        self.k1 as f64 / self.n1.max(1) as f64
    }
    fn p0(&self) -> f64 {
        self.k0 as f64 / self.n0.max(1) as f64
    }
}

/// The window's recent minutes and the earlier ones, per service, and what
/// "recent" is ("in the last 15 min").
type Split<'s> = (
    &'s BTreeMap<&'s str, UsageMinute>,
    &'s BTreeMap<&'s str, UsageMinute>,
    &'s str,
);
type Pasts<'p, 'a> = [(&'static str, &'p Option<Past<'a>>); 2];

/// The strongest significant evidence of `pick` falling (or, with
/// `both_ways`, moving) for each service.
fn strongest(cands: Vec<Evidence>, both_ways: bool) -> Option<Evidence> {
    cands
        .into_iter()
        .filter_map(|e| {
            let z = e.z()?;
            let z = if both_ways { z.abs() } else { z };
            let moved = if both_ways {
                (e.p0() - e.p1()).abs()
            } else {
                e.p0() - e.p1()
            };
            (z >= MIN_Z && moved >= MIN_MOVE).then_some((z, e))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, e)| e)
}

fn completion_findings(
    services: &[ServiceUsage],
    split: Option<Split>,
    pasts: Pasts,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in services {
        let mut cands = Vec::new();
        if let Some((recent, earlier, label)) = split {
            let r = recent.get(s.service.as_str()).cloned().unwrap_or_default();
            let e = earlier.get(s.service.as_str()).cloned().unwrap_or_default();
            cands.push(Evidence {
                k1: r.completed,
                n1: r.ended(),
                k0: e.completed,
                n0: e.ended(),
                against: "earlier in the window",
                now: label.to_string(),
            });
        }
        for (label, past) in pasts {
            if let Some(p) = past {
                let t = p.totals(&s.service);
                cands.push(Evidence {
                    k1: s.completed,
                    n1: s.ended(),
                    k0: t.completed,
                    n0: t.ended(),
                    against: label,
                    now: "in the window".into(),
                });
            }
        }
        if let Some(e) = strongest(cands, false) {
            out.push(Finding {
                kind: FindingKind::CompletionFell,
                service: Some(s.service.clone()),
                value: e.p1(),
                baseline: Some(e.p0()),
                against: Some(e.against.to_string()),
                text: format!(
                    "{}: completion {} {} ({} of {} ended) against {} {} ({} of {})",
                    s.service,
                    pct(e.p1()),
                    e.now,
                    e.k1,
                    e.n1,
                    pct(e.p0()),
                    e.against,
                    e.k0,
                    e.n0
                ),
            });
        }
    }
    out
}

fn share_findings(services: &[ServiceUsage], split: Option<Split>, pasts: Pasts) -> Vec<Finding> {
    let starts = |m: &BTreeMap<&str, UsageMinute>| m.values().map(|u| u.started).sum::<u64>();
    let mut out = Vec::new();
    for s in services {
        let mut cands = Vec::new();
        if let Some((recent, earlier, label)) = split {
            let get = |m: &BTreeMap<&str, UsageMinute>| {
                m.get(s.service.as_str()).map_or(0, |u| u.started)
            };
            cands.push(Evidence {
                k1: get(recent),
                n1: starts(recent),
                k0: get(earlier),
                n0: starts(earlier),
                against: "earlier in the window",
                now: label.to_string(),
            });
        }
        for (label, past) in pasts {
            if let Some(p) = past {
                cands.push(Evidence {
                    k1: s.started,
                    n1: services.iter().map(|x| x.started).sum(),
                    k0: p.totals(&s.service).started,
                    n0: p.all.started,
                    against: label,
                    now: "in the window".into(),
                });
            }
        }
        if let Some(e) = strongest(cands, true) {
            out.push(Finding {
                kind: FindingKind::ShareMoved,
                service: Some(s.service.clone()),
                value: e.p1(),
                baseline: Some(e.p0()),
                against: Some(e.against.to_string()),
                text: format!(
                    "{}: {} of sessions started {} ({} of {}) against {} {} ({} of {})",
                    s.service,
                    pct(e.p1()),
                    e.now,
                    e.k1,
                    e.n1,
                    pct(e.p0()),
                    e.against,
                    e.k0,
                    e.n0
                ),
            });
        }
    }
    out
}

fn quick_findings(services: &[ServiceUsage]) -> Vec<Finding> {
    services
        .iter()
        .filter(|s| {
            s.quick_ends >= QUICK_MIN
                && ratio(s.quick_ends, s.ended()).is_some_and(|p| p >= QUICK_PART)
        })
        .map(|s| Finding {
            kind: FindingKind::QuickEnds,
            service: Some(s.service.clone()),
            value: s.quick_ends as f64,
            baseline: None,
            against: None,
            text: format!(
                "{}: {} sessions ended within {QUICK_END_SECS} s without completing ({} of {} ended)",
                s.service,
                s.quick_ends,
                pct(ratio(s.quick_ends, s.ended()).unwrap_or(0.0)),
                s.ended()
            ),
        })
        .collect()
}

fn credit_findings(services: &[ServiceUsage]) -> Vec<Finding> {
    services
        .iter()
        .filter(|s| {
            s.credits_unfinished >= UNFINISHED_MIN
                && ratio(s.credits_unfinished, s.credits).is_some_and(|p| p >= UNFINISHED_PART)
        })
        .map(|s| Finding {
            kind: FindingKind::UnfinishedCredits,
            service: Some(s.service.clone()),
            value: s.credits_unfinished as f64,
            baseline: None,
            against: None,
            text: format!(
                "{}: {} credits spent in sessions that did not complete ({} of {} credits)",
                s.service,
                s.credits_unfinished,
                pct(ratio(s.credits_unfinished, s.credits).unwrap_or(0.0)),
                s.credits
            ),
        })
        .collect()
}

fn hour_finding(h: &HourProfile) -> Option<Finding> {
    let hour = h.current_hour.checked_sub(1)? as usize;
    let (today, avg) = (h.today[hour], h.week_avg[hour]);
    if avg < HOUR_MIN_AVG || (today as f64 / avg - 1.0).abs() < HOUR_MOVE {
        return None;
    }
    Some(Finding {
        kind: FindingKind::HourProfile,
        service: None,
        value: today as f64,
        baseline: Some(avg),
        against: Some("the last 7 days".into()),
        text: format!(
            "{hour:02}:00-{:02}:00 UTC: {today} sessions started against {avg:.0} on average over the last 7 days ({:+.0}%)",
            hour + 1,
            (today as f64 / avg - 1.0) * 100.0
        ),
    })
}

fn funnel(business: &BusinessStats) -> Vec<FunnelStep> {
    let mut steps: Vec<FunnelStep> = Vec::new();
    for (name, metrics) in FUNNEL {
        let Some((metric, v)) = metrics
            .iter()
            .find_map(|m| business.window.get(*m).map(|v| (*m, *v)))
        else {
            continue;
        };
        let rate = steps
            .last()
            .and_then(|p| (p.count > 0.0).then(|| v / p.count));
        steps.push(FunnelStep {
            name: name.to_string(),
            metric: metric.to_string(),
            count: v,
            rate,
        });
    }
    if steps.len() < 2 {
        steps.clear();
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    fn minute(started: u64, ends: &[(Outcome, i64, i64)]) -> UsageMinute {
        let mut u = UsageMinute {
            started,
            ..Default::default()
        };
        for (o, d, c) in ends {
            u.record_end(*o, *d, *c);
        }
        u
    }

    fn series(data: Vec<(Minute, &str, UsageMinute)>) -> UsageSeries {
        let mut s = UsageSeries::default();
        s.apply(
            UsageUpdate {
                from: 0,
                minutes: data
                    .into_iter()
                    .map(|(m, n, u)| (m, n.to_string(), u))
                    .collect(),
                ..Default::default()
            },
            0,
            1000,
            1,
        );
        s
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(3600 * 10, 0).unwrap()
    }

    #[test]
    fn figures_per_service() {
        use Outcome::*;
        let s = series(vec![
            (
                0,
                "voice",
                minute(3, &[(Completed, 100, 5), (Failed, 4, 2)]),
            ),
            (1, "voice", minute(1, &[(Abandoned, 300, 1)])),
            (1, "guidance", minute(4, &[(Completed, 60, 3)])),
        ]);
        let st = s.stats((0, 1, 1), now(), &BusinessStats::default());
        assert_eq!(st.services[0].service, "guidance");
        let v = &st.services[1];
        assert_eq!(
            (v.started, v.completed, v.failed, v.abandoned),
            (4, 1, 1, 1)
        );
        assert_eq!(v.completion_rate, Some(1.0 / 3.0));
        assert_eq!(v.median_secs, Some(100.0));
        assert_eq!(v.credits, 8);
        assert_eq!(v.credits_unfinished, 3);
        assert_eq!(v.quick_ends, 1);
        assert_eq!(v.share, Some(0.5));
        assert_eq!(v.starts_per_minute, vec![3, 1]);
        assert_eq!(st.total.started, 8);
        assert_eq!(st.total.starts_per_minute, vec![3, 5]);
        assert!(v.day_ago.is_none(), "no history: no comparison");
    }

    #[test]
    fn an_update_replaces_its_minutes() {
        let mut s = series(vec![
            (5, "voice", minute(2, &[])),
            (6, "voice", minute(1, &[])),
        ]);
        s.apply(
            UsageUpdate {
                from: 6,
                minutes: vec![(6, "voice".into(), minute(1, &[(Outcome::Completed, 9, 0)]))],
                ..Default::default()
            },
            0,
            1000,
            1,
        );
        let st = s.stats((5, 6, 1), now(), &BusinessStats::default());
        assert_eq!(st.services[0].started, 3);
        assert_eq!(st.services[0].completed, 1);
        s.expire_before(6);
        assert_eq!(s.retained(), 1);
    }

    #[test]
    fn a_30_day_window_holds_coarse_slots_not_minutes() {
        use Outcome::*;
        let step = crate::model::slot_minutes(30 * 86_400);
        let (first, last) = (0, 30 * 1440 - 1);
        let services = ["a", "b", "c", "d", "e"];
        let per_minute = |m: Minute| {
            services
                .iter()
                .map(move |s| (m, s.to_string(), minute(1, &[(Completed, 60, 2)])))
        };
        let mut s = UsageSeries::default();
        s.apply(
            UsageUpdate {
                from: first,
                minutes: (first..=last).flat_map(per_minute).collect(),
                ..Default::default()
            },
            first,
            last,
            step,
        );
        // 43,200 minutes × 5 services arrive; 360 slots × 5 are held.
        assert_eq!(s.retained(), 360 * services.len());
        let st = s.stats((first, last, step), now(), &BusinessStats::default());
        assert_eq!(st.total.started, 43_200 * 5);
        assert_eq!(st.total.completed, 43_200 * 5);
        assert_eq!(st.total.starts_per_minute.len(), 360);
        assert_eq!(st.total.starts_per_minute[0], step as u64 * 5);
        // A poll re-reads its last slot whole: replaced, not added.
        let from = slot_of(last, step);
        s.apply(
            UsageUpdate {
                from,
                minutes: (from..=last).flat_map(per_minute).collect(),
                ..Default::default()
            },
            first,
            last,
            step,
        );
        let st = s.stats((first, last, step), now(), &BusinessStats::default());
        assert_eq!(st.total.started, 43_200 * 5);
        assert_eq!(s.retained(), 360 * services.len());
        // An end found late is added to its (older) slot once.
        s.apply(
            UsageUpdate {
                from,
                minutes: (from..=last).flat_map(per_minute).collect(),
                late: vec![(100, "a".into(), minute(0, &[(Abandoned, 5, 3)]))],
            },
            first,
            last,
            step,
        );
        let st = s.stats((first, last, step), now(), &BusinessStats::default());
        let a = st.services.iter().find(|x| x.service == "a").unwrap();
        assert_eq!((a.abandoned, a.quick_ends, a.credits_unfinished), (1, 1, 3));
        assert_eq!(st.total.started, 43_200 * 5);
    }

    #[test]
    fn a_completion_drop_is_found_and_a_steady_one_is_not() {
        use Outcome::*;
        let mut data = Vec::new();
        for m in 0..60 {
            // voice completes 9 of 10 until minute 45, then 3 of 10.
            let done = if m < 45 { 9 } else { 3 };
            let mut ends: Vec<(Outcome, i64, i64)> = vec![(Completed, 60, 1); done];
            ends.extend(vec![(Abandoned, 60, 1); 10 - done]);
            data.push((m, "voice", minute(10, &ends)));
            let mut steady: Vec<(Outcome, i64, i64)> = vec![(Completed, 60, 1); 9];
            steady.push((Failed, 60, 0));
            data.push((m, "guidance", minute(10, &steady)));
        }
        let st = series(data).stats((0, 59, 1), now(), &BusinessStats::default());
        let fell: Vec<&Finding> = st
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::CompletionFell)
            .collect();
        assert_eq!(fell.len(), 1, "{fell:?}");
        assert_eq!(fell[0].service.as_deref(), Some("voice"));
        assert_eq!(fell[0].value, 0.3);
        assert_eq!(fell[0].baseline, Some(0.9));
        assert!(fell[0].text.contains("30%"), "{}", fell[0].text);
        // Unfinished credits: voice spent 1 per abandoned session.
        assert!(
            st.findings
                .iter()
                .any(|f| f.kind == FindingKind::UnfinishedCredits
                    && f.service.as_deref() == Some("voice"))
        );
    }

    #[test]
    fn comparisons_come_from_history_and_say_when_absent() {
        let mut s = series(vec![(0, "voice", minute(10, &[]))]);
        let mut day = BTreeMap::new();
        day.insert(
            "voice".to_string(),
            UsageTotals {
                started: 40,
                completed: 30,
                failed: 5,
                abandoned: 5,
                credits: 80,
            },
        );
        s.set_history(UsageHistory {
            day_ago: Some(day),
            ..Default::default()
        });
        let st = s.stats((0, 0, 1), now(), &BusinessStats::default());
        let d = st.services[0].day_ago.unwrap();
        assert_eq!(d.started, 40);
        assert_eq!(d.completion_rate, Some(0.75));
        assert_eq!(d.credits_per_session, Some(2.0));
        assert_eq!(d.share, Some(1.0));
        assert!(st.services[0].week_ago.is_none());
    }

    #[test]
    fn funnel_from_business_metrics() {
        let mut b = BusinessStats::default();
        b.window.insert("signups".into(), 20.0);
        b.window.insert("conversions".into(), 5.0);
        let f = funnel(&b);
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].rate, Some(0.25));
        b.window.insert("first_sessions".into(), 10.0);
        let f = funnel(&b);
        assert_eq!(
            f.iter().map(|s| s.rate).collect::<Vec<_>>(),
            [None, Some(0.5), Some(0.5)]
        );
        // The first purchases of new users are preferred to conversions.
        b.window.insert("first_purchases".into(), 4.0);
        let f = funnel(&b);
        assert_eq!((f[2].metric.as_str(), f[2].count), ("first_purchases", 4.0));
        assert_eq!(f[2].rate, Some(0.4));
        b.window.clear();
        b.window.insert("revenue".into(), 1.0);
        assert!(funnel(&b).is_empty());
    }

    #[test]
    fn hour_profile_finding() {
        let mut today = vec![0; 24];
        today[9] = 20;
        let h = HourProfile {
            today,
            week_avg: vec![50.0; 24],
            current_hour: 10,
        };
        let f = hour_finding(&h).unwrap();
        assert_eq!(f.value, 20.0);
        assert!(f.text.contains("-60%"), "{}", f.text);
        let calm = HourProfile {
            today: vec![45; 24],
            ..h
        };
        assert!(hour_finding(&calm).is_none());
    }
}
