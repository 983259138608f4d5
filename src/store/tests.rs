//! The store's memory bound: slots held do not grow with the window or with
//! uptime, and slots sum minutes exactly.

use chrono::{DateTime, TimeDelta, Utc};

use super::{State, Thresholds};
use crate::hist::SparseHist;
use crate::model::*;

const KEYS: usize = 3;

/// One batch of `minutes` minutes ending at `end`: every minute has calls on
/// `KEYS` endpoints and integrations and one business metric, with
/// latencies that vary with the minute (so coarse slots have to merge
/// different histograms).
fn batch(end: DateTime<Utc>, minutes: i64, window_secs: u64) -> Batch {
    let mut b = Batch {
        now: end,
        window_secs,
        ..Default::default()
    };
    let last = minute_of(end);
    for m in last - minutes + 1..=last {
        for k in 0..KEYS {
            let mut d = ApiMinute::default();
            for i in 0..4 {
                d.add_counts(if i == 0 && m % 7 == 0 { 503 } else { 200 }, 1, 0);
                d.latency.record(m.rem_euclid(97) * 10 + i * 250 + k as i64);
            }
            b.api
                .push((m, EndpointKey::new("GET", &format!("/e{k}")), d.clone()));
            b.integrations.push((
                m,
                format!("i{k}"),
                IntegrationMinute {
                    calls: d.requests,
                    failures: d.errors,
                    latency: d.latency,
                },
            ));
        }
        b.business.push((m, "revenue".into(), 1.5));
    }
    b
}

fn at(min: i64) -> DateTime<Utc> {
    minute_start(min) + TimeDelta::seconds(30)
}

/// Feed `hours` hours of minutes, one batch per `per_batch` minutes.
fn feed(s: &mut State, start: i64, hours: i64, per_batch: i64) -> i64 {
    let w = s.window_secs();
    let mut m = start;
    while m < start + hours * 60 {
        m += per_batch;
        s.apply(Update::Batch(Box::new(batch(at(m), per_batch, w))));
    }
    m
}

#[test]
fn a_30_day_window_holds_a_bounded_number_of_slots() {
    let w = 30 * 86_400;
    let mut s = State::new(w, Thresholds::default());
    // 40 days of minutes, one batch an hour: more than the window.
    let start = 29_000_000;
    let end = feed(&mut s, start, 40 * 24, 60);
    let per_key = window_slots(at(end), w).count();
    assert!(per_key <= 361, "{per_key} slots per key");
    // Endpoints + integrations + the business minutes.
    assert!(s.slots() <= per_key * (2 * KEYS + 1), "{} slots", s.slots());
    // Far fewer than one per minute (43,200 per key).
    assert!(s.slots() < 3_000, "{} slots", s.slots());
    for e in s.endpoints() {
        assert_eq!(e.series.len(), per_key);
        assert!(
            e.series
                .windows(2)
                .all(|p| p[1].minute - p[0].minute == 120)
        );
    }
}

#[test]
fn hours_of_minutes_leave_a_short_window_bounded() {
    let mut s = State::new(900, Thresholds::default());
    let start = 29_000_000;
    let mut most = 0;
    let mut m = start;
    for _ in 0..10 {
        m = feed(&mut s, m, 1, 1);
        most = most.max(s.slots());
    }
    // 16 minutes of the window (plus the next one) per key.
    assert!(most <= 17 * (2 * KEYS + 1), "{most} slots");
    assert!(s.retained() < 17 * (2 * KEYS + 1) * 40);
}

#[test]
fn coarse_slots_sum_minutes_exactly() {
    // A week: 30-minute slots. What the store shows over the window equals
    // the sums and percentiles of every minute inside it.
    let w = 7 * 86_400;
    let mut s = State::new(w, Thresholds::default());
    let start = 29_000_000;
    let end = feed(&mut s, start, 9 * 24, 45);
    let now = at(end);
    let first = window_first_minute(now, w);
    assert_eq!(s.slot_minutes(), 30);
    let all = batch(now, end - start, w);
    for k in 0..KEYS {
        let key = EndpointKey::new("GET", &format!("/e{k}"));
        let mut requests = 0;
        let mut errors = 0;
        let mut lat = SparseHist::default();
        for (m, kk, d) in &all.api {
            if *m >= first && *kk == key {
                requests += d.requests;
                errors += d.errors;
                lat.merge(&d.latency);
            }
        }
        let e = s.endpoints().iter().find(|e| e.key() == key).unwrap();
        assert_eq!((e.requests, e.errors), (requests, errors), "{key}");
        assert_eq!(e.p50_ms, lat.quantile(0.5), "{key} p50");
        assert_eq!(e.p95_ms, lat.quantile(0.95), "{key} p95");
        assert_eq!(e.p99_ms, lat.quantile(0.99), "{key} p99");
        // The series sums to the window.
        assert_eq!(e.series.iter().map(|p| p.requests).sum::<u64>(), requests);
    }
    let revenue: f64 = s.business().window["revenue"];
    let expect = all.business.iter().filter(|(m, ..)| *m >= first).count() as f64 * 1.5;
    assert!((revenue - expect).abs() < 1e-6, "{revenue} vs {expect}");
}

#[test]
fn a_window_change_without_reset_regroups_exactly() {
    // A stream may change the window without a reset: the slots held are
    // regrouped on the new grid, keeping every count.
    let mut s = State::new(3 * 3600, Thresholds::default());
    let end = feed(&mut s, 29_000_000, 3, 10);
    let before: u64 = s.endpoints().iter().map(|e| e.requests).sum();
    let mut b = batch(at(end), 0, 2 * 86_400);
    b.business.clear();
    s.apply(Update::Batch(Box::new(b)));
    assert_eq!(s.slot_minutes(), 30);
    let after: u64 = s.endpoints().iter().map(|e| e.requests).sum();
    assert_eq!(before, after);
    for e in s.endpoints() {
        assert!(e.series.iter().all(|p| p.minute % 30 == 0));
        assert_eq!(e.series.iter().map(|p| p.requests).sum::<u64>(), e.requests);
    }
}

/// A poll that brings only usage (sessions started, no API row) in the same
/// minute is applied: it is not taken for a poll that adds nothing.
#[test]
fn a_usage_only_poll_in_the_same_minute_is_applied() {
    let mut s = State::new(3600, Thresholds::default());
    let end = at(10_000);
    s.apply(Update::Batch(Box::new(batch(end, 5, 3600))));
    assert_eq!(s.usage().total.started, 0);
    let m = minute_of(end);
    let usage = UsageUpdate {
        from: m,
        minutes: vec![(
            m,
            "live_chat".to_owned(),
            UsageMinute {
                started: 3,
                ..Default::default()
            },
        )],
        ..Default::default()
    };
    let applied = s.apply(Update::Batch(Box::new(Batch {
        now: end + TimeDelta::seconds(1),
        window_secs: 3600,
        usage: Some(usage),
        ..Default::default()
    })));
    assert!(applied, "a usage update changes the Usage view");
    assert_eq!(s.usage().total.started, 3);
}
