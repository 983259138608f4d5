//! Evaluator tests over real stores fed minute by minute.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::model::{
    ApiMinute, Batch, EndpointKey, IntegrationMinute, Minute, Update, minute_start,
};
use crate::store::{State, Thresholds};

const T0: i64 = 28_000_000; // a minute number (2023)

fn at(m: i64) -> DateTime<Utc> {
    minute_start(T0 + m) + TimeDelta::seconds(30)
}

fn state() -> State {
    State::new(900, Thresholds::default())
}

fn integ(calls: u64, failures: u64) -> IntegrationMinute {
    let mut d = IntegrationMinute {
        calls,
        failures,
        ..Default::default()
    };
    for _ in 0..calls {
        d.latency.record(200);
    }
    d
}

fn api(requests: u64, errors: u64, ms: i64) -> ApiMinute {
    let mut d = ApiMinute::default();
    d.add_counts(200, requests - errors, 0);
    d.add_counts(500, errors, errors);
    for _ in 0..requests {
        d.latency.record(ms);
    }
    d
}

fn feed(
    s: &mut State,
    m: i64,
    integrations: Vec<(&str, IntegrationMinute)>,
    endpoints: Vec<(EndpointKey, ApiMinute)>,
) {
    let b = Batch {
        now: at(m),
        window_secs: 900,
        integrations: integrations
            .into_iter()
            .map(|(n, d)| (T0 + m, n.to_string(), d))
            .collect(),
        api: endpoints.into_iter().map(|(k, d)| (T0 + m, k, d)).collect(),
        ..Default::default()
    };
    s.apply(Update::Batch(Box::new(b)));
}

fn only(text: &str) -> RuleSet {
    RuleSet::from_toml(&format!("defaults = false\n{text}")).unwrap()
}

/// The labels of IntegrationDown's alert on openai (also for the display's tests).
pub(super) fn openai_down_labels() -> BTreeMap<String, String> {
    [
        ("alertname", "IntegrationDown"),
        ("integration", "openai"),
        ("severity", "critical"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

const DOWN: &str = r#"
[[rules]]
name = "IntegrationDown"
scope = "integration"
metric = "status"
op = ">="
threshold = 2
recover = 1
window = "3m"
for = "1m"
severity = "critical"
summary = "{integration} is down: {why}"
"#;

#[test]
fn an_integration_outage_fires_once_and_resolves_once() {
    let mut s = state();
    let mut ev = Evaluator::new(only(DOWN));
    let b = Baselines::empty();
    let mut transitions = Vec::new();
    for m in 0..20 {
        let d = if (5..9).contains(&m) {
            integ(20, 20)
        } else {
            integ(20, 0)
        };
        feed(&mut s, m, vec![("openai", d)], vec![]);
        transitions.extend(ev.evaluate(&s, &b, at(m)));
    }
    let kinds: Vec<(TransitionKind, DateTime<Utc>)> =
        transitions.iter().map(|t| (t.kind, t.at)).collect();
    // Down from minute 5; `for = 1m` fires at minute 6. The 3-minute window
    // holds failures until minute 11; success is back above 80 % at minute 10.
    assert_eq!(kinds[0], (TransitionKind::Firing, at(6)));
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[1].0, TransitionKind::Resolved);
    let t = &transitions[0];
    let labels = openai_down_labels();
    assert_eq!(t.labels, labels);
    // The same id Alertmanager gives these labels (fingerprint.rs checks it against a real one).
    assert_eq!(t.fingerprint.to_string(), "d81de8d7620fe48c");
    assert_eq!(transitions[1].fingerprint, t.fingerprint);
    assert_eq!(transitions[1].active_since, at(6));
    assert!(
        t.annotations["summary"].starts_with("openai is down: "),
        "{:?}",
        t.annotations
    );
    assert_eq!(t.threshold["op"], ">=");
    assert_eq!(ev.firing(), 0);
    assert_eq!(ev.alerts().next().unwrap().phase, Phase::Resolved);
}

#[test]
fn three_failing_calls_are_no_alert_with_a_minimum_sample_count() {
    let rules = only(
        r#"
[[rules]]
name = "EndpointErrorRate"
scope = "endpoint"
metric = "error_rate"
threshold = 0.1
recover = 0.05
min_samples = 20
"#,
    );
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    let key = EndpointKey::new("POST", "/api/x");
    feed(&mut s, 0, vec![], vec![(key.clone(), api(3, 3, 100))]);
    assert!(ev.evaluate(&s, &Baselines::empty(), at(0)).is_empty());
    feed(&mut s, 1, vec![], vec![(key, api(30, 10, 100))]);
    let t = ev.evaluate(&s, &Baselines::empty(), at(1));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].labels["endpoint"], "/api/x");
    assert_eq!(t[0].labels["method"], "POST");
    assert_eq!(t[0].annotations["why"], "13 of 33 calls failed (39.4 %)");
}

#[test]
fn an_anomaly_rule_says_when_history_is_short_instead_of_guessing() {
    let mut ev = Evaluator::new(RuleSet::defaults());
    let mut s = state();
    let key = EndpointKey::new("GET", "/api/slow");
    for m in 0..15 {
        feed(&mut s, m, vec![], vec![(key.clone(), api(40, 0, 9_000))]);
        assert!(ev.evaluate(&s, &Baselines::empty(), at(m)).is_empty());
    }
    assert!(
        ev.notes()["EndpointLatencyAnomaly"].starts_with("not enough history yet"),
        "{:?}",
        ev.notes()
    );
}

#[test]
fn a_latency_anomaly_fires_with_value_band_baseline_and_why() {
    let key = EndpointKey::new("GET", "/api/x");
    // A day of 100 ms, then 2 s.
    let mut bb = BaselineBuilder::new(at(0));
    for m in 1..=1_440 {
        bb.api(T0 - m, &key, &api(20, 0, 100 + (m % 7) * 5));
    }
    let baselines = bb.build();
    let rules = only(
        r#"
[[rules]]
name = "Slow"
scope = "endpoint"
metric = "latency_anomaly"
threshold = 6
recover = 3
window = "5m"
min_samples = 30
summary = "p95 {value}, band {band}"
"#,
    );
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    feed(&mut s, 0, vec![], vec![(key.clone(), api(40, 0, 100))]);
    assert!(ev.evaluate(&s, &baselines, at(0)).is_empty());
    feed(&mut s, 1, vec![], vec![(key.clone(), api(400, 0, 2_000))]);
    // Two busy minutes are too few for a level.
    assert!(ev.evaluate(&s, &baselines, at(1)).is_empty());
    feed(&mut s, 2, vec![], vec![(key.clone(), api(400, 0, 2_000))]);
    let t = ev.evaluate(&s, &baselines, at(2));
    assert_eq!(t.len(), 1, "{:?}", ev.alerts().collect::<Vec<_>>());
    let t = &t[0];
    // The level is the median of the window's minute p95s: 100, 2000, 2000.
    assert!(t.value.unwrap() > 1_500.0);
    assert!(t.threshold["band"].is_array(), "{}", t.threshold);
    assert_eq!(t.threshold["baseline"], "24h, 1440 minutes");
    assert!(
        t.annotations["summary"].contains("band "),
        "{:?}",
        t.annotations
    );
    assert!(
        t.annotations["why"].contains("robust deviations above"),
        "{:?}",
        t.annotations
    );
}

#[test]
fn a_restart_neither_fires_again_nor_forgets_to_resolve() {
    let rules = only(DOWN);
    let labels = openai_down_labels();
    let fp = Fingerprint::of(&labels);
    let restored = Restored {
        fingerprint: fp,
        rule: "IntegrationDown".into(),
        labels: labels.clone(),
        active_since: at(-30),
        value: Some(2.0),
        summary: "openai is down: 100% of 20 calls failed".into(),
    };
    // Still down after the restart: no second fire.
    let mut ev = Evaluator::new(rules.clone());
    ev.restore([restored.clone()], at(0));
    let mut s = state();
    feed(&mut s, 0, vec![("openai", integ(20, 20))], vec![]);
    assert!(ev.evaluate(&s, &Baselines::empty(), at(0)).is_empty());
    assert_eq!(ev.firing(), 1);
    // Recovered while the hub was down: resolved on the first evaluation.
    let mut ev = Evaluator::new(rules.clone());
    ev.restore([restored.clone()], at(0));
    let mut s = state();
    feed(&mut s, 0, vec![("openai", integ(20, 0))], vec![]);
    let t = ev.evaluate(&s, &Baselines::empty(), at(0));
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].kind, t[0].fingerprint, t[0].active_since),
        (TransitionKind::Resolved, fp, at(-30))
    );
    // A rule that no longer exists: resolved too.
    let mut ev = Evaluator::new(only(""));
    ev.restore([restored], at(0));
    let t = ev.evaluate(&s, &Baselines::empty(), at(0));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].kind, TransitionKind::Resolved);
    assert_eq!(t[0].annotations["why"], "its rule no longer exists");
}

#[test]
fn revenue_against_the_same_hour_last_week() {
    let rules = only(
        r#"
[[rules]]
name = "RevenueDrop"
scope = "business"
match = "revenue"
metric = "change_vs_last_week"
op = "<"
threshold = -70
recover = -40
window = "1h"
min_samples = 5
summary = "revenue {value}"
"#,
    );
    let week: Minute = 7 * 1_440;
    let mut bb = BaselineBuilder::new(at(0));
    for m in 0..60 {
        bb.business(T0 - week + m, "revenue", 10.0);
    }
    let baselines = bb.build();
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    // The store holds 15 minutes: 15 × 10 a week ago against 15 × 1 now.
    for m in 0..15 {
        let b = Batch {
            now: at(m),
            window_secs: 900,
            business: vec![(T0 + m, "revenue".into(), 1.0)],
            ..Default::default()
        };
        s.apply(Update::Batch(Box::new(b)));
    }
    let t = ev.evaluate(&s, &baselines, at(14));
    assert_eq!(t.len(), 1, "{:?}", ev.alerts().collect::<Vec<_>>());
    assert_eq!(t[0].value, Some(-90.0));
    assert_eq!(t[0].annotations["summary"], "revenue -90%");
    assert_eq!(
        t[0].annotations["why"],
        "15 over the last 15m against 150 in the same 15m a week ago (-90 %)"
    );
}

#[test]
fn memory_is_bounded_by_series_not_by_uptime() {
    let mut ev = Evaluator::new(only(DOWN));
    let mut s = state();
    for m in 0..600 {
        let d = if (m / 7) % 2 == 0 {
            integ(20, 20)
        } else {
            integ(20, 0)
        };
        feed(&mut s, m, vec![("openai", d)], vec![]);
        ev.evaluate(&s, &Baselines::empty(), at(m));
    }
    let a: Vec<&AlertState> = ev.alerts().collect();
    assert_eq!(a.len(), 1);
    assert!(a[0].history.len() <= eval::HISTORY_POINTS);
    assert!(a[0].flips() <= 6);
}

/// Review finding: windows assumed one point per minute, but a store with a
/// long window keeps coarse slots (30 minutes for a 7 d window) keyed by
/// their start, so a 3 m rule found no point at all and an integration that
/// was down raised nothing. The window is real time: the slots overlapping
/// it are read and rates divide by the minutes they cover.
#[test]
fn rule_windows_read_coarse_slots_as_real_time() {
    let week = 7 * 86_400;
    let mut s = State::new(week, Thresholds::default());
    for m in 0..=25 {
        let b = Batch {
            now: at(m),
            window_secs: week,
            integrations: vec![(T0 + m, "openai".into(), integ(20, 20))],
            ..Default::default()
        };
        s.apply(Update::Batch(Box::new(b)));
    }
    assert_eq!(crate::model::slot_minutes(week), 30);
    let rules = only(
        r#"
[[rules]]
name = "Failing"
scope = "integration"
metric = "error_rate"
op = ">"
threshold = 0.5
window = "3m"
min_samples = 5

[[rules]]
name = "Rate"
scope = "integration"
metric = "calls_per_min"
op = ">"
threshold = 1
window = "3m"
"#,
    );
    let mut ev = Evaluator::new(rules);
    let t = ev.evaluate(&s, &Baselines::empty(), at(25));
    let by_rule: BTreeMap<&str, &Transition> = t.iter().map(|t| (t.rule.as_str(), t)).collect();
    assert_eq!(by_rule.len(), 2, "{:?}", ev.alerts().collect::<Vec<_>>());
    assert_eq!(by_rule["Failing"].value, Some(1.0));
    // T0 is 10 minutes into a 30-minute slot: the current slot started at
    // minute 20 and holds minutes 20..=25, 6 minutes of 20 calls.
    assert_eq!(by_rule["Rate"].value, Some(20.0));
}

/// Review finding: labels were masked after the fingerprint was computed,
/// so the id in the table differed from the one Alertmanager computes from
/// the (masked) labels it receives. The fingerprint is of the masked labels.
#[test]
fn the_fingerprint_is_of_the_masked_labels() {
    let rules = only(
        r#"
[[rules]]
name = "EndpointErrors"
scope = "endpoint"
metric = "error_rate"
op = ">"
threshold = 0.5
window = "3m"
min_samples = 5
"#,
    );
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    let key = EndpointKey::new("GET", "/api/x?api_key=hunter2");
    feed(&mut s, 0, vec![], vec![(key, api(20, 20, 100))]);
    let t = ev.evaluate(&s, &Baselines::empty(), at(0));
    assert_eq!(t.len(), 1);
    let all = format!("{:?}", t[0].labels);
    assert!(!all.contains("hunter2"), "{all}");
    assert_eq!(t[0].fingerprint, Fingerprint::of(&t[0].labels));
    let masked: BTreeMap<String, String> = t[0]
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), crate::redact::mask_text(v).into_owned()))
        .collect();
    assert_eq!(t[0].fingerprint, Fingerprint::of(&masked));
}

const DOWN_AND_DEGRADED: &str = r#"
[[rules]]
name = "Down"
scope = "integration"
metric = "error_rate"
op = ">"
threshold = 0.5
recover = 0.2
window = "3m"
min_samples = 10

[[rules]]
name = "Degraded"
scope = "integration"
metric = "error_rate"
op = ">"
threshold = 0.05
recover = 0.02
window = "5m"
for = "1m"
min_samples = 10
inhibited_by = "Down"
"#;

/// Issue 10's week: one incident raised both IntegrationDown and
/// IntegrationDegraded. Down supersedes degraded on the same integration:
/// while Down is firing there, or was within Degraded's window
/// (whose data still holds the outage), Degraded stays quiet; on another
/// integration it fires as usual.
#[test]
fn down_supersedes_degraded_on_the_same_integration_only() {
    let mut ev = Evaluator::new(only(DOWN_AND_DEGRADED));
    let mut s = state();
    let b = Baselines::empty();
    let mut fired = Vec::new();
    for m in 0..30 {
        // openai: down for minutes 5..10; rag: 10 % failures from minute 5 on.
        let openai = if (5..10).contains(&m) {
            integ(20, 20)
        } else {
            integ(20, 0)
        };
        let rag = if m >= 5 { integ(20, 2) } else { integ(20, 0) };
        feed(&mut s, m, vec![("openai", openai), ("rag", rag)], vec![]);
        for t in ev.evaluate(&s, &b, at(m)) {
            if t.kind == TransitionKind::Firing {
                fired.push((t.rule.clone(), t.labels["integration"].clone(), t.at));
            }
        }
    }
    let openai: Vec<&str> = fired
        .iter()
        .filter(|f| f.1 == "openai")
        .map(|f| f.0.as_str())
        .collect();
    assert_eq!(openai, ["Down"], "{fired:?}");
    assert!(
        fired.iter().any(|f| f.0 == "Degraded" && f.1 == "rag"),
        "{fired:?}"
    );
    let a = ev
        .alerts()
        .find(|a| a.rule == "Degraded" && a.labels["integration"] == "rag")
        .unwrap();
    assert_eq!(a.phase, Phase::Firing);
}

/// Without `inhibited_by` the same outage raises both (the test above
/// fails without the inhibition).
#[test]
fn without_inhibition_an_outage_raises_both_rules() {
    let text = DOWN_AND_DEGRADED.replace("inhibited_by = \"Down\"\n", "");
    let mut ev = Evaluator::new(only(&text));
    let mut s = state();
    let mut rules = std::collections::BTreeSet::new();
    for m in 0..20 {
        let d = if (5..10).contains(&m) {
            integ(20, 20)
        } else {
            integ(20, 0)
        };
        feed(&mut s, m, vec![("openai", d)], vec![]);
        for t in ev.evaluate(&s, &Baselines::empty(), at(m)) {
            if t.kind == TransitionKind::Firing {
                rules.insert(t.rule);
            }
        }
    }
    assert_eq!(rules.len(), 2, "{rules:?}");
}

/// An inhibitor listed after the rule it inhibits was judged after it, so
/// on the first poll of an outage the inhibited rule saw the previous
/// poll's state and both fired. Inhibitors are judged first.
#[test]
fn an_inhibitor_listed_later_still_silences_on_the_first_poll() {
    // Degraded listed first, with no `for`, so that it too fires at once.
    let [down, degraded]: [&str; 2] = DOWN_AND_DEGRADED
        .split("[[rules]]")
        .skip(1)
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    let degraded = degraded.replace("for = \"1m\"\n", "");
    let rules = only(&format!("[[rules]]{degraded}[[rules]]{down}"));
    let names: Vec<&str> = rules.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Degraded", "Down"], "listing keeps file order");
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    feed(&mut s, 0, vec![("openai", integ(20, 20))], vec![]);
    let fired: Vec<String> = ev
        .evaluate(&s, &Baselines::empty(), at(0))
        .into_iter()
        .filter(|t| t.kind == TransitionKind::Firing)
        .map(|t| t.rule)
        .collect();
    assert_eq!(fired, ["Down"]);
}

/// Issue 10's week: one slow request in a quiet minute pulled the
/// call-weighted p95 of a 10-minute window above the band (89 false
/// EndpointLatencyAnomaly alerts). The level is the median of the minute
/// p95s (minutes with enough calls), the statistic the band is built from.
#[test]
fn one_slow_minute_does_not_move_the_latency_level() {
    let key = EndpointKey::new("POST", "/api/auth/login");
    let mut bb = BaselineBuilder::new(at(0));
    for m in 1..=1_440 {
        bb.api(T0 - m, &key, &api(10, 0, 200 + (m % 5) * 10));
    }
    let baselines = bb.build();
    let rules = only(
        r#"
[[rules]]
name = "Slow"
scope = "endpoint"
metric = "latency_anomaly"
threshold = 6
recover = 3
window = "10m"
min_samples = 30
"#,
    );
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    for m in 0..10 {
        let ms = if m == 4 { 4_000 } else { 210 };
        feed(&mut s, m, vec![], vec![(key.clone(), api(10, 0, ms))]);
        assert!(ev.evaluate(&s, &baselines, at(m)).is_empty(), "minute {m}");
    }
    // Sustained, it fires: more than half the minutes are slow.
    let mut fired = false;
    for m in 10..20 {
        feed(&mut s, m, vec![], vec![(key.clone(), api(10, 0, 4_000))]);
        fired |= !ev.evaluate(&s, &baselines, at(m)).is_empty();
    }
    assert!(fired);
}

/// Review of issue 10: an alert already firing was cleared (and resolved,
/// mid-incident) when its inhibitor started. Inhibition stops new alerts;
/// a firing one is left to resolve on its own.
#[test]
fn a_firing_alert_is_not_resolved_when_its_inhibitor_starts() {
    let mut ev = Evaluator::new(only(DOWN_AND_DEGRADED));
    let mut s = state();
    let mut seen = Vec::new();
    for m in 0..20 {
        // Degraded (10 % failures) from minute 2, then down from minute 9.
        let d = match m {
            0..2 => integ(20, 0),
            2..9 => integ(20, 2),
            _ => integ(20, 20),
        };
        feed(&mut s, m, vec![("openai", d)], vec![]);
        for t in ev.evaluate(&s, &Baselines::empty(), at(m)) {
            seen.push((t.rule.clone(), t.kind, m));
        }
    }
    let fired = |r: &str| {
        seen.iter()
            .any(|x| x.0 == r && x.1 == TransitionKind::Firing)
    };
    assert!(fired("Degraded") && fired("Down"), "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|x| x.0 == "Degraded" && x.1 == TransitionKind::Resolved),
        "a firing Degraded was resolved while the outage went on: {seen:?}"
    );
}

/// Review of issue 10: two rules that inhibit each other kept each other
/// silent while merely pending. Only a firing alert inhibits.
#[test]
fn a_pending_alert_does_not_inhibit() {
    let rules = only(
        r#"
[[rules]]
name = "Slow"
scope = "integration"
metric = "error_rate"
op = ">"
threshold = 0.1
window = "3m"
for = "10m"
min_samples = 10

[[rules]]
name = "Quick"
scope = "integration"
metric = "error_rate"
op = ">"
threshold = 0.1
window = "3m"
for = "1m"
min_samples = 10
inhibited_by = "Slow"
"#,
    );
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    let mut quick = None;
    for m in 0..6 {
        feed(&mut s, m, vec![("openai", integ(20, 10))], vec![]);
        for t in ev.evaluate(&s, &Baselines::empty(), at(m)) {
            if t.rule == "Quick" && t.kind == TransitionKind::Firing {
                quick = Some(m);
            }
        }
    }
    assert!(quick.is_some(), "Quick was kept silent by a pending Slow");
}

/// Review of issue 10: with `no_data = "keep"`, a down integration that
/// came back with a few calls a minute (below `min_samples`) stayed down
/// forever. A few calls that all pass the recovery threshold clear it.
#[test]
fn a_few_good_calls_resolve_a_kept_alert() {
    let rules = only(
        r#"
[[rules]]
name = "Down"
scope = "integration"
metric = "error_rate"
op = ">"
threshold = 0.5
recover = 0.2
window = "3m"
min_samples = 10
no_data = "keep"
"#,
    );
    let mut ev = Evaluator::new(rules);
    let mut s = state();
    let mut kinds = Vec::new();
    for m in 0..15 {
        let d = if m < 4 { integ(20, 20) } else { integ(2, 0) };
        feed(&mut s, m, vec![("did", d)], vec![]);
        for t in ev.evaluate(&s, &Baselines::empty(), at(m)) {
            kinds.push((t.kind, m));
        }
    }
    assert!(
        kinds.iter().any(|k| k.0 == TransitionKind::Firing),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|k| k.0 == TransitionKind::Resolved),
        "a few good calls did not resolve it: {kinds:?}"
    );
}
