//! Alert rules (issue 10, "Measured"), two parts:
//!
//! 1. Evaluation cost per poll: 100 rules over 50 series (25 endpoints, 25
//!    integrations, a 15 min window, baselines for all), with the engine
//!    (reads what the store already aggregated) against the naive way (each
//!    rule re-aggregating the window's raw calls for each series it covers).
//! 2. A simulated week (the pure traffic generator at 2 requests/s, after
//!    one warm-up day; seven incidents forced on days 2, 4 and 6, none on
//!    days 1, 3, 5 and 7) replayed through the default rules: one fire and
//!    one resolve per incident, alerts on incident-free days, precision,
//!    recall and time to detection against what the generator says it
//!    injected, and the replay's transitions as `jfmon rules backtest`
//!    prints them.
//!
//! `cargo bench --bench rules` (add `-- eval` or `-- week` for one part;
//! `-- week --rules FILE` replays the week through FILE's rules instead of
//! the defaults, several `--rules` replay the one generated week each).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use jfmon::model::*;
use jfmon::rules::replay::{self, Minutes};
use jfmon::rules::{BaselineBuilder, Evaluator, RuleSet, Transition, TransitionKind};
use jfmon::sim::generator::{Generator, IncidentKind, Injected, SimConfig, SimEvent};
use jfmon::store::{State, Thresholds};

const T0: i64 = 29_000_000;
const WINDOW: i64 = 15;

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One raw call for the naive evaluator.
#[derive(Clone)]
struct Raw {
    series: usize,
    minute: Minute,
    failed: bool,
    ms: f64,
}

fn rules_100() -> RuleSet {
    let kinds = [
        ("endpoint", "error_rate", ">", 0.1, ""),
        ("endpoint", "p95", ">", 20000.0, ""),
        (
            "endpoint",
            "latency_anomaly",
            ">",
            6.0,
            "min_samples = 30\n",
        ),
        ("endpoint", "error_anomaly", ">", 8.0, "min_samples = 30\n"),
        ("integration", "status", ">=", 2.0, ""),
        ("integration", "error_rate", ">", 0.2, ""),
        ("integration", "p95", ">", 5000.0, ""),
        ("integration", "latency_anomaly", ">", 6.0, ""),
        ("integration", "calls_per_min", "<", 1.0, ""),
        ("integration", "consecutive_failures", ">=", 5.0, ""),
    ];
    let mut text = String::from("defaults = false\n");
    for i in 0..100 {
        let (scope, metric, op, th, extra) = kinds[i % kinds.len()];
        text.push_str(&format!(
            "[[rules]]\nname = \"R{i}\"\nscope = \"{scope}\"\nmetric = \"{metric}\"\nop = \"{op}\"\nthreshold = {th:?}\nwindow = \"{}m\"\n{extra}",
            5 + i % 10
        ));
    }
    RuleSet::from_toml(&text).expect("bench rules are valid")
}

fn eval_part() {
    let mut rng = Rng(7);
    let mut batch = Batch {
        reset: true,
        now: minute_start(T0 + WINDOW - 1) + TimeDelta::seconds(30),
        window_secs: (WINDOW * 60) as u64,
        ..Default::default()
    };
    let mut raw = Vec::new();
    let mut bb = BaselineBuilder::new(batch.now);
    for s in 0..50usize {
        for m in 0..WINDOW {
            let calls = 40;
            let mut api = ApiMinute::default();
            let mut integ = IntegrationMinute::default();
            for _ in 0..calls {
                let ms = 100.0 + 400.0 * rng.unit();
                let failed = rng.unit() < 0.02;
                raw.push(Raw {
                    series: s,
                    minute: T0 + m,
                    failed,
                    ms,
                });
                api.add_counts(if failed { 500 } else { 200 }, 1, failed as u64);
                api.latency.record(ms as i64);
                integ.calls += 1;
                integ.failures += failed as u64;
                integ.latency.record(ms as i64);
            }
            if s < 25 {
                batch.api.push((
                    T0 + m,
                    EndpointKey::new("GET", &format!("/api/e{s}")),
                    api.clone(),
                ));
            } else {
                batch
                    .integrations
                    .push((T0 + m, format!("i{s}"), integ.clone()));
            }
        }
        // A day of baseline history per series.
        for m in 1..=1_440 {
            if s < 25 {
                let mut api = ApiMinute::default();
                api.add_counts(200, 40, 0);
                for _ in 0..40 {
                    api.latency.record((100.0 + 400.0 * rng.unit()) as i64);
                }
                bb.api(
                    T0 - m,
                    &EndpointKey::new("GET", &format!("/api/e{s}")),
                    &api,
                );
            } else {
                let mut integ = IntegrationMinute {
                    calls: 40,
                    ..Default::default()
                };
                for _ in 0..40 {
                    integ.latency.record((100.0 + 400.0 * rng.unit()) as i64);
                }
                bb.integration(T0 - m, &format!("i{s}"), &integ);
            }
        }
    }
    let baselines = bb.build();
    let now = batch.now;
    let mut state = State::new((WINDOW * 60) as u64, Thresholds::default());
    state.apply(Update::Batch(Box::new(batch)));
    let rules = rules_100();
    let mut ev = Evaluator::new(rules.clone());
    // Warm up.
    for _ in 0..20 {
        black_box(ev.evaluate(&state, &baselines, now));
    }
    let runs = 200;
    let mut engine = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        black_box(ev.evaluate(&state, &baselines, now));
        engine.push(t.elapsed().as_secs_f64() * 1e6);
    }
    // Naive: every rule scans the window's raw calls for each series it covers.
    let mut naive = Vec::new();
    for _ in 0..runs / 10 {
        let t = Instant::now();
        let mut fired = 0usize;
        for (i, r) in rules.rules().iter().enumerate() {
            let w = r.window.num_minutes();
            let lo = if r.scope == jfmon::rules::Scope::Endpoint {
                0
            } else {
                25
            };
            for s in lo..lo + 25 {
                let mut lat: Vec<f64> = Vec::new();
                let (mut n, mut f) = (0u64, 0u64);
                for c in raw
                    .iter()
                    .filter(|c| c.series == s && c.minute > T0 + WINDOW - 1 - w)
                {
                    n += 1;
                    f += c.failed as u64;
                    lat.push(c.ms);
                }
                lat.sort_by(f64::total_cmp);
                let p95 = lat.get(lat.len() * 95 / 100).copied().unwrap_or(0.0);
                let v = if i % 2 == 0 {
                    f as f64 / n.max(1) as f64
                } else {
                    p95
                };
                fired += (v > r.threshold) as usize;
            }
        }
        black_box(fired);
        naive.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (e, n) = (median(engine), median(naive));
    println!(
        "eval: 100 rules x 50 series ({} raw calls in the window): engine median {e:.0} µs/poll, naive re-aggregation median {n:.0} µs/poll, naive/engine {:.1}x",
        raw.len(),
        n / e
    );
}

/// The incidents injected into the simulated week: (day, minute of the
/// day, target, kind, minutes). Days 1, 3, 5 and 7 have none.
const SCHEDULE: &[(i64, i64, &str, IncidentKind, i64)] = &[
    (2, 3 * 60 + 10, "openai", IncidentKind::Down, 6),
    (2, 14 * 60 + 40, "elevenlabs", IncidentKind::Degraded, 10),
    (4, 9 * 60 + 5, "prokerala", IncidentKind::Down, 5),
    (
        4,
        20 * 60 + 30,
        "/api/spiritual/guidance",
        IncidentKind::Down,
        6,
    ),
    (6, 6 * 60, "rag", IncidentKind::Degraded, 8),
    (6, 12 * 60, "openai", IncidentKind::Degraded, 8),
    (
        6,
        17 * 60 + 45,
        "/api/credits/purchase",
        IncidentKind::Down,
        5,
    ),
];

fn week_part(rule_files: &[String]) {
    let start = DateTime::<Utc>::from_timestamp(T0 * 60, 0).unwrap();
    // Day 0 only builds the baselines (the anomaly rules need an hour of
    // history, and "the same minutes a day earlier"); days 1..=7 are measured.
    let days = 8;
    let mut g = Generator::new(
        SimConfig {
            seed: 42,
            rate: 2.0,
            incidents: false,
        },
        start,
    );
    for (day, minute, target, kind, len) in SCHEDULE {
        let from = start + TimeDelta::minutes(day * 1_440 + minute);
        let until = from + TimeDelta::minutes(*len);
        let ok = if target.starts_with('/') {
            g.force_endpoint_incident(target, *kind, from, until)
        } else {
            g.force_incident(target, *kind, from, until)
        };
        assert!(ok, "{target}");
    }
    let t = Instant::now();
    let mut api: BTreeMap<(Minute, EndpointKey), ApiMinute> = BTreeMap::new();
    let mut integ: BTreeMap<(Minute, String), IntegrationMinute> = BTreeMap::new();
    let mut business: BTreeMap<(Minute, String), f64> = BTreeMap::new();
    for h in 1..=days * 24 {
        for e in g.advance_to(start + TimeDelta::hours(h)) {
            match e {
                SimEvent::Api(c) => api
                    .entry((minute_of(c.at), EndpointKey::new(&c.method, &c.endpoint)))
                    .or_default()
                    .record(&c),
                SimEvent::Integration(c) => integ
                    .entry((minute_of(c.at), c.integration.clone()))
                    .or_default()
                    .record(&c),
                SimEvent::Business(b) => {
                    *business
                        .entry((minute_of(b.at), b.metric.clone()))
                        .or_default() += b.value
                }
                _ => {}
            }
        }
    }
    let history = Minutes {
        api: api.into_iter().map(|((m, k), d)| (m, k, d)).collect(),
        integrations: integ.into_iter().map(|((m, k), d)| (m, k, d)).collect(),
        business: business.into_iter().map(|((m, k), v)| (m, k, v)).collect(),
    };
    let generated = t.elapsed();
    let injected = g.injected().to_vec();
    let sets: Vec<(String, RuleSet)> = if rule_files.is_empty() {
        vec![("the default rules".into(), RuleSet::defaults())]
    } else {
        rule_files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f}: {e}"));
                let rules = RuleSet::from_toml(&text).unwrap_or_else(|e| {
                    panic!(
                        "{f}: {}",
                        e.iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                });
                (f.clone(), rules)
            })
            .collect()
    };
    for (name, rules) in sets {
        println!("week: rules: {name}");
        replay_week(
            &history,
            &injected,
            rules,
            start,
            days,
            generated.as_secs_f64(),
        );
    }
}

/// Replays the generated week through `rules` and reports against what was injected.
fn replay_week(
    history: &Minutes,
    injected: &[Injected],
    rules: RuleSet,
    start: DateTime<Utc>,
    days: i64,
    generated_secs: f64,
) {
    let n_rules = rules.len();
    let mut ev = Evaluator::new(rules);
    let mut fired: Vec<Transition> = Vec::new();
    let mut resolved: Vec<Transition> = Vec::new();
    let t = Instant::now();
    // The warm-up day is replayed too (the rules' state must be warm), but
    // only the week after it is counted.
    let (from, to) = (T0, T0 + days * 1_440 - 1);
    let week_start = start + TimeDelta::days(1);
    let mut log = Vec::new();
    replay::run(&mut ev, history, from, to, 900, |_, _, ts| {
        for tr in ts {
            if tr.at < week_start {
                continue;
            }
            log.push(replay::line(tr));
            match tr.kind {
                TransitionKind::Firing => fired.push(tr.clone()),
                TransitionKind::Resolved => resolved.push(tr.clone()),
            }
        }
    });
    let replayed = t.elapsed();
    // An alert is the incident's own when it names the incident's target
    // (integration or endpoint) and fired between its start and 5 minutes
    // after its end; an endpoint alert in that span during an integration
    // incident is collateral (the endpoint calls the integration).
    let grace = TimeDelta::minutes(5);
    let during = |a: &Transition, i: &Injected| a.at >= i.started && a.at <= i.ends + grace;
    let own = |a: &Transition, i: &Injected| {
        during(a, i)
            && if i.on_endpoint {
                a.labels.get("endpoint") == Some(&i.target)
            } else {
                a.labels.get("integration") == Some(&i.target)
            }
    };
    let collateral = |a: &Transition, i: &Injected| {
        during(a, i) && !i.on_endpoint && a.labels.contains_key("endpoint")
    };
    println!(
        "week: 7 days (+1 warm-up day) at 2 req/s generated in {:.1} s, replayed through {} rules in {:.1} s ({:.2} ms per simulated minute)",
        generated_secs,
        n_rules,
        replayed.as_secs_f64(),
        replayed.as_secs_f64() * 1e3 / (days * 1_440) as f64
    );
    let mut delays = Vec::new();
    let (mut detected, mut exactly_one) = (0, 0);
    for i in injected {
        let fires: Vec<&Transition> = fired.iter().filter(|a| own(a, i)).collect();
        // Each own fire's own resolution: the first resolve of its
        // fingerprint after it (not a later alert's on the same series).
        let resolves = fires
            .iter()
            .filter(|f| {
                resolved
                    .iter()
                    .any(|r| r.fingerprint == f.fingerprint && r.at > f.at)
            })
            .count();
        let coll = fired.iter().filter(|a| collateral(a, i)).count();
        let first = fires.iter().map(|a| a.at).min();
        let delay = first.map(|f| (f - i.started).num_seconds());
        if let Some(d) = delay {
            detected += 1;
            delays.push(d as f64);
        }
        if fires.len() == 1 && resolves == 1 {
            exactly_one += 1;
        }
        println!(
            "week: incident {} {} {} +{}m: {} own alert(s) fired ({}), {} resolved, {} collateral endpoint alert(s), detected after {}",
            i.started.format("%a %H:%M"),
            i.target,
            i.kind.as_str(),
            (i.ends - i.started).num_minutes(),
            fires.len(),
            fires
                .iter()
                .map(|a| a.rule.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            resolves,
            coll,
            delay.map_or("never".to_owned(), |d| format!("{d} s"))
        );
    }
    let matched = fired
        .iter()
        .filter(|a| injected.iter().any(|i| own(a, i) || collateral(a, i)))
        .count();
    let quiet_days: Vec<i64> = (1..days)
        .filter(|d| !SCHEDULE.iter().any(|s| s.0 == *d))
        .collect();
    let on_quiet = fired
        .iter()
        .filter(|a| quiet_days.contains(&((a.at - start).num_days())))
        .count();
    let by_rule = fired
        .iter()
        .fold(BTreeMap::<&str, usize>::new(), |mut m, a| {
            *m.entry(a.rule.as_str()).or_default() += 1;
            m
        });
    println!(
        "week: {} incidents injected; {} alerts fired, {} resolved, {} still firing at the end; by rule {by_rule:?}",
        injected.len(),
        fired.len(),
        resolved.len(),
        ev.firing()
    );
    println!(
        "week: precision {:.3} ({matched} of {} alerts belong to an incident), recall {:.3} ({detected} of {} incidents detected by an alert on their target), exactly one fire + one resolve on the target: {exactly_one} of {}",
        matched as f64 / fired.len().max(1) as f64,
        fired.len(),
        detected as f64 / injected.len().max(1) as f64,
        injected.len(),
        injected.len(),
    );
    println!(
        "week: detection median {:.0} s, max {:.0} s (target: within 180 s); alerts on the incident-free days {quiet_days:?}: {on_quiet}",
        if delays.is_empty() {
            f64::NAN
        } else {
            median(delays.clone())
        },
        delays.iter().copied().fold(f64::NAN, f64::max),
    );
    println!("week: the replay, as `jfmon rules backtest` prints it:");
    for l in &log {
        println!("  {l}");
    }
    for (rule, note) in ev.notes() {
        println!("  note: {rule}: {note}");
    }
}

fn main() {
    // `-- week --rules FILE [--rules FILE2 …]`: replay the one generated
    // week through each rule file instead of the defaults (for tuning).
    let mut which: Vec<String> = Vec::new();
    let mut rule_files: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rules" {
            rule_files.extend(args.next());
        } else if !a.starts_with('-') {
            which.push(a);
        }
    }
    let all = which.is_empty();
    if all || which.iter().any(|w| w == "eval") {
        eval_part();
    }
    if all || which.iter().any(|w| w == "week") {
        week_part(&rule_files);
    }
}
