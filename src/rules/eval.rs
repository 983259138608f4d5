//! The evaluator: every rule over every series it selects, one
//! [`Machine`] per rule × label set, on each call to
//! [`Evaluator::evaluate`]. Returns the [`Transition`]s (fired, resolved)
//! for whoever writes or notifies, and keeps the [`AlertState`]s for
//! display. Pure: time comes in as an argument, nothing is read or written.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::anomaly::Baselines;
use super::fingerprint::Fingerprint;
use super::machine::{Machine, Obs, Phase, Step, Timing};
use super::reading::{self, Reading};
use super::spec::{Judgement, Metric, NoData, Rule, RuleSet};
use super::template;
use crate::format::{self, Unit};
use crate::model::{Severity, minute_of};
use crate::store::State;

/// How long a resolved alert stays listed ("resolved recently").
pub const RECENTLY: TimeDelta = TimeDelta::minutes(15);
/// Points of an alert's metric kept for its drill-down (one per minute).
pub const HISTORY_POINTS: usize = 120;

/// Fired or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    Firing,
    Resolved,
}

/// An alert that fired or resolved in one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub fingerprint: Fingerprint,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook` (expanded), and `why`.
    pub annotations: BTreeMap<String, String>,
    pub severity: Severity,
    pub kind: TransitionKind,
    /// The value shown (for an anomaly, the level, not the score).
    pub value: Option<f64>,
    /// `{"op", "threshold", "recover"}`, or for an anomaly also `"band"`,
    /// `"median"`, `"baseline"`.
    pub threshold: serde_json::Value,
    pub active_since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// Resolved after having been held as flapping.
    pub flapping: bool,
}

/// An alert firing before a restart, as read back from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub fingerprint: Fingerprint,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub active_since: DateTime<Utc>,
    pub value: Option<f64>,
    /// The summary it last had (the row's title, the hub's summary); shown
    /// until its series says something new.
    pub summary: String,
}

/// One alert as it stands, for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub fingerprint: Fingerprint,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub severity: Severity,
    pub phase: Phase,
    pub flapping: bool,
    /// Pending since or firing since.
    pub since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub value: Option<f64>,
    pub threshold: serde_json::Value,
    /// Why, in a few words (value against threshold or band).
    pub why: String,
    /// The compared value once per minute, oldest first (for the drill-down).
    pub history: VecDeque<(DateTime<Utc>, f64)>,
    #[serde(skip)]
    machine: Machine,
}

/// Evaluates a [`RuleSet`] over successive states.
#[derive(Debug, Clone)]
pub struct Evaluator {
    rules: RuleSet,
    alerts: BTreeMap<Fingerprint, AlertState>,
    notes: BTreeMap<String, String>,
    /// When each rule × series was last firing, for the rules
    /// other rules name in `inhibited_by` (kept [`INHIBIT_MEMORY`]).
    active: HashMap<(String, SeriesLabels), DateTime<Utc>>,
}

/// A series' own labels (`integration`, or `endpoint` + `method`, …).
type SeriesLabels = Vec<(&'static str, String)>;

/// How long a rule's last activity is remembered for inhibition; a rule's
/// window longer than this is inhibited only this long after.
pub const INHIBIT_MEMORY: TimeDelta = TimeDelta::hours(24);

fn timing(r: &Rule) -> Timing {
    Timing {
        for_: r.for_,
        keep_firing_for: r.keep_firing_for,
        flap: r.flap,
    }
}

/// A metric's value (or threshold) as the dashboard shows it: `23.8s`,
/// `12.5%`, `-75%`, `31m`. An anomaly's threshold is a score, a plain number.
pub fn show(metric: Metric, v: f64) -> String {
    let unit = match format::unit_of(metric.word()) {
        _ if metric.is_anomaly() => Unit::Plain,
        u => u,
    };
    format::in_unit(unit, v)
}

/// The labels of an alert of `rule` on the series of `reading`, masked
/// ([`crate::redact::mask_text`]: an endpoint's query string can carry a
/// token). The fingerprint is computed from these masked labels, which are
/// exactly what is stored and sent, so a receiver (Alertmanager computes
/// the fingerprint itself from the labels it is given) and the table agree
/// on every alert's id.
fn labels_of(rule: &Rule, r: &Reading) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = rule.labels.clone();
    for (k, v) in &r.labels {
        l.insert(k.to_string(), v.clone());
    }
    l.insert("alertname".into(), rule.name.clone());
    l.insert("severity".into(), rule.severity.word().into());
    for v in l.values_mut() {
        if let std::borrow::Cow::Owned(m) = crate::redact::mask_text(v) {
            *v = m;
        }
    }
    l
}

fn threshold_json(rule: &Rule, r: &Reading) -> serde_json::Value {
    let mut t = json!({
        "metric": rule.metric.word(),
        "op": rule.op.word(),
        "threshold": rule.threshold,
        "recover": rule.recover,
        "window": crate::duration::format_duration(rule.window.to_std().unwrap_or_default()),
    });
    if let Some(b) = &r.band {
        t["band"] = json!([b.low.round(), b.high.round()]);
        t["median"] = json!(b.median.round());
        t["score"] = json!((b.score * 10.0).round() / 10.0);
    }
    if let Some(base) = &r.baseline {
        t["baseline"] = json!(base);
    }
    t
}

fn annotations(
    rule: &Rule,
    r: &Reading,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut vars = labels.clone();
    vars.insert("rule".into(), rule.name.clone());
    // The value shown: a latency anomaly's level (ms), an error anomaly's
    // count, else the compared value, each in the dashboard's unit.
    let unit = format::unit_of(rule.metric.word());
    vars.insert(
        "value".into(),
        r.shown
            .map_or_else(|| "no data".into(), |v| format::in_unit(unit, v)),
    );
    vars.insert("threshold".into(), show(rule.metric, rule.threshold));
    vars.insert("recover".into(), show(rule.metric, rule.recover));
    vars.insert(
        "band".into(),
        r.band.as_ref().map_or_else(
            || "(none)".into(),
            |b| {
                format!(
                    "{}–{}",
                    format::ms(Some(b.low.round())),
                    format::ms(Some(b.high.round()))
                )
            },
        ),
    );
    vars.insert(
        "baseline".into(),
        r.baseline.clone().unwrap_or_else(|| "(none)".into()),
    );
    vars.insert("why".into(), r.why.clone());
    vars.insert(
        "window".into(),
        crate::duration::format_duration(rule.window.to_std().unwrap_or_default()),
    );
    vars.insert("samples".into(), r.samples.to_string());
    vars.insert("condition".into(), rule.condition());
    let mut a = BTreeMap::new();
    a.insert("summary".into(), template::expand(&rule.summary, &vars));
    for (k, text) in [
        ("description", &rule.description),
        ("runbook", &rule.runbook),
    ] {
        if !text.is_empty() {
            a.insert(k.to_string(), template::expand(text, &vars));
        }
    }
    a.insert("why".into(), r.why.clone());
    a
}

impl Evaluator {
    pub fn new(rules: RuleSet) -> Self {
        Evaluator {
            rules,
            alerts: BTreeMap::new(),
            notes: BTreeMap::new(),
            active: HashMap::new(),
        }
    }

    /// The rule in `rule.inhibited_by` that was firing on
    /// `series` within `rule`'s window before `now`, if any.
    fn inhibitor<'r>(
        &self,
        rule: &'r Rule,
        series: &SeriesLabels,
        now: DateTime<Utc>,
    ) -> Option<&'r str> {
        rule.inhibited_by.iter().map(String::as_str).find(|other| {
            self.active
                .get(&(other.to_string(), series.clone()))
                .is_some_and(|t| now - *t <= rule.window)
        })
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Re-sync with the alerts the table holds open (after a restart, on
    /// taking the lease, after a failed write): those are firing (no second
    /// fire) and resolve once their condition is clear for the rule's
    /// `keep_firing_for`, counted from `now` (when the condition last held
    /// before the restart is not known). An alert whose rule no longer
    /// exists resolves on the next evaluation. An alert this evaluator holds
    /// firing that the table does not (its row was never written) goes back
    /// to pending with its `for` already served, so its next breach fires
    /// (and is written) again.
    pub fn restore(&mut self, alerts: impl IntoIterator<Item = Restored>, now: DateTime<Utc>) {
        self.restore_as(alerts, now, "restored after a restart");
    }

    /// [`Evaluator::restore`], saying `why` on the restored alerts until
    /// their next observation.
    pub fn restore_as(
        &mut self,
        alerts: impl IntoIterator<Item = Restored>,
        now: DateTime<Utc>,
        why: &str,
    ) {
        let alerts: Vec<Restored> = alerts.into_iter().collect();
        let open: std::collections::HashSet<Fingerprint> =
            alerts.iter().map(|a| a.fingerprint).collect();
        for (fp, a) in self.alerts.iter_mut() {
            if a.machine.phase == Phase::Firing && !open.contains(fp) {
                let for_ = self
                    .rules
                    .get(&a.rule)
                    .map_or(TimeDelta::zero(), |r| r.for_);
                a.machine.unwritten(now, for_);
                a.sync();
            }
        }
        for a in alerts {
            if self
                .alerts
                .get(&a.fingerprint)
                .is_some_and(|s| s.machine.phase == Phase::Firing)
            {
                continue;
            }
            let severity = self
                .rules
                .get(&a.rule)
                .map(|r| r.severity)
                .or_else(|| {
                    a.labels
                        .get("severity")
                        .map(|s| Severity::from_raw(Some(s)))
                })
                .unwrap_or(Severity::Warning);
            let mut annotations = BTreeMap::new();
            if !a.summary.is_empty() {
                annotations.insert("summary".to_string(), a.summary);
            }
            self.alerts.insert(
                a.fingerprint,
                AlertState {
                    fingerprint: a.fingerprint,
                    rule: a.rule,
                    labels: a.labels,
                    annotations,
                    severity,
                    phase: Phase::Firing,
                    flapping: false,
                    since: Some(a.active_since),
                    resolved_at: None,
                    value: a.value,
                    threshold: serde_json::Value::Null,
                    why: why.into(),
                    history: VecDeque::new(),
                    machine: Machine::firing_since(a.active_since, now),
                },
            );
        }
    }

    /// Evaluate every rule over `state` at `now`.
    pub fn evaluate(
        &mut self,
        state: &State,
        baselines: &Baselines,
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.notes.clear();
        let rules = std::mem::replace(&mut self.rules, RuleSet::from_rules(Vec::new()));
        let inhibits: HashSet<String> = rules
            .rules()
            .iter()
            .flat_map(|r| r.inhibited_by.iter().cloned())
            .collect();
        self.active.retain(|_, t| now - *t <= INHIBIT_MEMORY);
        // Inhibitors first: one that fires on this poll silences the rules
        // it inhibits on this same poll, wherever the file lists it.
        for rule in rules.judging() {
            let mut short = 0usize;
            for r in reading::read(rule, state, baselines, now) {
                if r.value.is_none() && r.why.starts_with("not enough history") {
                    short += 1;
                }
                let mut obs = match r.value {
                    Some(v) if r.samples >= rule.min_samples => match rule.judge(v) {
                        Judgement::Breach => Obs::Breach,
                        Judgement::Hold => Obs::Hold,
                        Judgement::Clear => Obs::Clear,
                    },
                    // Too few samples to raise an alert, but enough to see
                    // a recovery: a few calls that all pass the recovery
                    // threshold clear it (`no_data = "keep"` would
                    // otherwise hold an alert on a quiet series forever).
                    Some(v) if r.samples > 0 && matches!(rule.judge(v), Judgement::Clear) => {
                        Obs::Clear
                    }
                    _ => no_data(rule.no_data),
                };
                let mut r = r;
                let labels = labels_of(rule, &r);
                let fp = Fingerprint::of(&labels);
                // Inhibition stops a new alert, never one already firing
                // (as Alertmanager mutes, it does not resolve): clearing a
                // firing alert because another started would send a false
                // resolution in the middle of the incident.
                let firing = self
                    .alerts
                    .get(&fp)
                    .is_some_and(|a| a.phase == Phase::Firing);
                if !firing
                    && matches!(obs, Obs::Breach | Obs::Hold)
                    && let Some(other) = self.inhibitor(rule, &r.labels, now)
                {
                    obs = Obs::Clear;
                    r.why = format!("{} (superseded by {other} on the same series)", r.why);
                }
                seen.insert(fp);
                if obs != Obs::Breach && !self.alerts.contains_key(&fp) {
                    continue;
                }
                let a = self.alerts.entry(fp).or_insert_with(|| AlertState {
                    fingerprint: fp,
                    rule: rule.name.clone(),
                    labels: labels.clone(),
                    annotations: BTreeMap::new(),
                    severity: rule.severity,
                    phase: Phase::Inactive,
                    flapping: false,
                    since: None,
                    resolved_at: None,
                    value: None,
                    threshold: serde_json::Value::Null,
                    why: String::new(),
                    history: VecDeque::new(),
                    machine: Machine::new(),
                });
                let prior = a.machine.since;
                let step = a.machine.step(obs, now, &timing(rule));
                if obs != Obs::Keep {
                    a.value = r.shown;
                }
                // A kept alert keeps its texts (one restored after a
                // restart, or taken over from a hub, keeps the summary it
                // had); one restored without any gets them from this
                // reading rather than show blank.
                if obs != Obs::Keep || a.annotations.is_empty() {
                    a.why = r.why.clone();
                    a.threshold = threshold_json(rule, &r);
                    a.annotations = annotations(rule, &r, &labels);
                }
                if let Some(v) = r.value
                    && a.history
                        .back()
                        .is_none_or(|(t, _)| minute_of(*t) != minute_of(now))
                {
                    if a.history.len() == HISTORY_POINTS {
                        a.history.pop_front();
                    }
                    a.history.push_back((now, v));
                }
                a.sync();
                // Only a firing alert inhibits: two rules that inhibit each
                // other while merely pending could keep each other silent.
                if a.phase == Phase::Firing && inhibits.contains(&rule.name) {
                    self.active
                        .insert((rule.name.clone(), r.labels.clone()), now);
                }
                if let Some(t) = a.transition(step, now, prior) {
                    out.push(t);
                }
            }
            if short > 0 {
                self.notes.insert(
                    rule.name.clone(),
                    format!(
                        "not enough history yet for {short} series (needs {} minutes)",
                        super::anomaly::MIN_BASELINE_MINUTES
                    ),
                );
            }
        }
        // Series that vanished, and alerts of rules that are gone.
        for (fp, a) in self.alerts.iter_mut() {
            if seen.contains(fp) {
                continue;
            }
            let prior = a.machine.since;
            let step = match rules.get(&a.rule) {
                Some(rule) => a.machine.step(no_data(rule.no_data), now, &timing(rule)),
                None if a.machine.phase == Phase::Firing => {
                    a.why = "its rule no longer exists".into();
                    a.annotations.insert("why".into(), a.why.clone());
                    a.machine.phase = Phase::Resolved;
                    a.machine.resolved_at = Some(now);
                    Step::Resolved { flapping: false }
                }
                None => Step::Nothing,
            };
            a.sync();
            if let Some(t) = a.transition(step, now, prior) {
                out.push(t);
            }
        }
        self.rules = rules;
        let rules = &self.rules;
        self.alerts.retain(|_, a| match a.phase {
            Phase::Inactive => false,
            Phase::Resolved => {
                rules.get(&a.rule).is_some() && a.resolved_at.is_some_and(|t| now - t < RECENTLY)
            }
            _ => true,
        });
        out
    }

    /// Alerts pending, firing, or resolved within [`RECENTLY`], firing first.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertState> {
        let mut v: Vec<&AlertState> = self.alerts.values().collect();
        v.sort_by(|a, b| {
            rank(a.phase)
                .cmp(&rank(b.phase))
                .then(a.severity.cmp(&b.severity))
                .then(a.rule.cmp(&b.rule))
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        v.into_iter()
    }

    /// Alerts firing now.
    pub fn firing(&self) -> usize {
        self.alerts
            .values()
            .filter(|a| a.phase == Phase::Firing)
            .count()
    }

    /// Per rule, what keeps it from judging ("not enough history yet …").
    pub fn notes(&self) -> &BTreeMap<String, String> {
        &self.notes
    }
}

fn rank(p: Phase) -> u8 {
    match p {
        Phase::Firing => 0,
        Phase::Pending => 1,
        Phase::Resolved => 2,
        Phase::Inactive => 3,
    }
}

fn no_data(p: NoData) -> Obs {
    match p {
        NoData::Ok => Obs::Clear,
        NoData::Keep => Obs::Keep,
        NoData::Alert => Obs::Breach,
    }
}

impl AlertState {
    fn sync(&mut self) {
        self.phase = self.machine.phase;
        self.flapping = self.machine.flapping;
        self.since = self.machine.since;
        self.resolved_at = self.machine.resolved_at;
    }

    /// The transition `step` made; `prior` is when the alert was active
    /// from before the step.
    fn transition(
        &self,
        step: Step,
        now: DateTime<Utc>,
        prior: Option<DateTime<Utc>>,
    ) -> Option<Transition> {
        let (kind, flapping, since) = match step {
            Step::Nothing => return None,
            Step::Fired => (
                TransitionKind::Firing,
                false,
                self.machine.since.unwrap_or(now),
            ),
            Step::Resolved { flapping } => {
                (TransitionKind::Resolved, flapping, prior.unwrap_or(now))
            }
        };
        Some(Transition {
            fingerprint: self.fingerprint,
            rule: self.rule.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            severity: self.severity,
            kind,
            value: self.value,
            threshold: self.threshold.clone(),
            active_since: since,
            at: now,
            flapping,
        })
    }

    /// The machine's flip count in its flap window.
    pub fn flips(&self) -> usize {
        self.machine.flips()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{in_unit, unit_of};
    use crate::rules::Scope;
    use crate::rules::anomaly::Band;

    /// A reading of `rule`'s metric on its scope's series: `value` compared
    /// (for an anomaly, the latency level or error count it shows).
    fn reading(rule: &Rule, value: f64) -> Reading {
        let labels = match rule.scope {
            Scope::Integration => vec![("integration", "openai".to_string())],
            Scope::Endpoint => vec![
                ("endpoint", "/api/spiritual/guidance".to_string()),
                ("method", "POST".to_string()),
            ],
            Scope::Source => vec![("source", "postgres".to_string())],
            _ => vec![],
        };
        let band = (rule.metric == Metric::LatencyAnomaly).then_some(Band {
            low: 60.0,
            high: 160.0,
            median: 110.0,
            score: 9.1,
        });
        Reading {
            labels,
            value: Some(if rule.metric.is_anomaly() { 9.1 } else { value }),
            shown: Some(value),
            samples: 40,
            why: "what the reading says".into(),
            band,
            baseline: Some("24h, 1440 minutes".into()),
        }
    }

    /// Every default rule's summary over a few readings reads as one line:
    /// nothing left unexpanded, no clause said twice, the value in the
    /// dashboard's unit (a latency as `23.8s`, never `23813 ms`; a rate as
    /// `12.5%`) and no unit after it.
    #[test]
    fn default_summaries_read_as_one_clean_line() {
        for rule in RuleSet::defaults().rules() {
            let values: &[f64] = match unit_of(rule.metric.word()) {
                Unit::Ms => &[92.0, 2_100.0, 23_813.0, 125_000.0],
                Unit::Ratio => &[0.125, 1.0],
                Unit::Percent => &[-75.3, -100.0],
                Unit::Minutes => &[31.0, 2.0],
                _ => &[7.0, 36.0],
            };
            for &v in values {
                let r = reading(rule, v);
                let texts = annotations(rule, &r, &labels_of(rule, &r));
                let summary = &texts["summary"];
                let said = |s: &str| format!("{}: {summary:?}", rule.name) + s;
                assert!(!summary.contains(['\n', '{', '}']), "{}", said(""));
                let clauses: Vec<String> = summary
                    .split([':', ',', '(', ')', ';'])
                    .map(|c| c.trim().to_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect();
                for (i, c) in clauses.iter().enumerate() {
                    assert!(!clauses[..i].contains(c), "{}", said(" says it twice"));
                }
                let shown = in_unit(unit_of(rule.metric.word()), v);
                assert!(
                    summary.contains(&shown),
                    "{}",
                    said(&format!(" lacks {shown}"))
                );
                for unit in [" ms", " %", " minutes", "% %", "ms ms", "s ms"] {
                    assert!(
                        !summary.contains(unit),
                        "{}",
                        said(&format!(" has {unit:?}"))
                    );
                }
            }
        }
    }
}
