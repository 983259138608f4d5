//! What a rule is ([`Rule`]) and how a set of them is read from TOML and
//! checked ([`RuleSet`]): every problem is one [`RuleError`] naming the rule
//! and the key. The shipped defaults (`assets/rules.default.toml`) lie under
//! the rules given; a given rule with a default's name changes only the keys
//! it sets (`enabled = false` turns a default off).

use std::collections::BTreeMap;
use std::fmt;

use chrono::TimeDelta;
use toml::{Table, Value};

use super::template;
use crate::duration::parse_duration;
use crate::model::Severity;

/// The shipped default rules.
pub const DEFAULT_RULES: &str = include_str!("../../assets/rules.default.toml");

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Each third-party integration (label `integration`).
    Integration,
    /// Each API endpoint (labels `endpoint`, `method`).
    Endpoint,
    /// Each data source of jfmon itself (label `source`).
    Source,
    /// Each business metric (label `metric`).
    Business,
    /// The platform as a whole (no extra label).
    Global,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Integration,
        Scope::Endpoint,
        Scope::Source,
        Scope::Business,
        Scope::Global,
    ];
    pub fn word(self) -> &'static str {
        match self {
            Scope::Integration => "integration",
            Scope::Endpoint => "endpoint",
            Scope::Source => "source",
            Scope::Business => "business",
            Scope::Global => "global",
        }
    }
}

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Failed / all calls over the rule's window (0..1).
    ErrorRate,
    /// Latency quantiles (ms) over the window.
    P50,
    P95,
    P99,
    /// Calls (requests) per minute over the window.
    CallsPerMin,
    /// Failed calls in a row, newest first.
    ConsecutiveFailures,
    /// jfmon's verdict: 0 healthy, 1 degraded, 2 down.
    Status,
    /// What the platform itself last reported: 0 healthy, 1 degraded, 2 down.
    ReportedStatus,
    /// Minutes since the last data.
    NoDataMinutes,
    /// p95 against the series' own baseline band, in robust deviations.
    LatencyAnomaly,
    /// How unlikely the window's error count is at the baseline error rate
    /// (−log10 of the binomial tail probability).
    ErrorAnomaly,
    /// Sum of a business metric over the window.
    Total,
    /// Percent change of the window's sum against the same window a week earlier.
    ChangeVsLastWeek,
    /// Credits used over the window while no session was active or started.
    CreditsWithoutSession,
}

impl Metric {
    pub const ALL: [Metric; 14] = [
        Metric::ErrorRate,
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::CallsPerMin,
        Metric::ConsecutiveFailures,
        Metric::Status,
        Metric::ReportedStatus,
        Metric::NoDataMinutes,
        Metric::LatencyAnomaly,
        Metric::ErrorAnomaly,
        Metric::Total,
        Metric::ChangeVsLastWeek,
        Metric::CreditsWithoutSession,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::CallsPerMin => "calls_per_min",
            Metric::ConsecutiveFailures => "consecutive_failures",
            Metric::Status => "status",
            Metric::ReportedStatus => "reported_status",
            Metric::NoDataMinutes => "no_data_minutes",
            Metric::LatencyAnomaly => "latency_anomaly",
            Metric::ErrorAnomaly => "error_anomaly",
            Metric::Total => "total",
            Metric::ChangeVsLastWeek => "change_vs_last_week",
            Metric::CreditsWithoutSession => "credits_without_session",
        }
    }

    /// The scopes this metric exists for.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Metric::ErrorRate
            | Metric::P50
            | Metric::P95
            | Metric::P99
            | Metric::CallsPerMin
            | Metric::LatencyAnomaly
            | Metric::ErrorAnomaly => &[Integration, Endpoint],
            Metric::ConsecutiveFailures | Metric::ReportedStatus => &[Integration],
            Metric::Status | Metric::NoDataMinutes => &[Integration, Source],
            Metric::Total | Metric::ChangeVsLastWeek => &[Business],
            Metric::CreditsWithoutSession => &[Global],
        }
    }

    pub fn is_anomaly(self) -> bool {
        matches!(self, Metric::LatencyAnomaly | Metric::ErrorAnomaly)
    }
}

/// How a value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    /// Equal (for a status); no hysteresis.
    Eq,
}

impl Op {
    pub fn word(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
        }
    }
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
        }
    }
    /// Whether the firing side is "above".
    pub fn upward(self) -> bool {
        matches!(self, Op::Gt | Op::Ge)
    }
}

/// What to do when a series has no data (or fewer samples than the minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoData {
    /// Count as recovered.
    Ok,
    /// Keep whatever state the alert is in.
    Keep,
    /// Count as breaching.
    Alert,
}

impl NoData {
    pub fn word(self) -> &'static str {
        match self {
            NoData::Ok => "ok",
            NoData::Keep => "keep",
            NoData::Alert => "alert",
        }
    }
}

/// Flap detection: an alert whose condition changed `flips` times within
/// `window` is held firing (and marked flapping) until its condition has
/// been clear for `stable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    pub window: TimeDelta,
    pub flips: u32,
    pub stable: TimeDelta,
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub scope: Scope,
    /// Glob on the scope's names (integration, `METHOD /path` or path, source, metric).
    pub pattern: String,
    pub metric: Metric,
    pub op: Op,
    pub threshold: f64,
    /// The value on the far side of which a firing alert counts as
    /// recovered (hysteresis); the threshold when not given.
    pub recover: f64,
    /// How far back the value looks.
    pub window: TimeDelta,
    /// How long the condition must hold before firing.
    pub for_: TimeDelta,
    /// How long a firing alert stays firing after its condition cleared.
    pub keep_firing_for: TimeDelta,
    /// Fewer samples (calls) than this count as no data.
    pub min_samples: u64,
    pub no_data: NoData,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    pub description: String,
    pub runbook: String,
    pub flap: Flap,
    /// Latency anomaly: the band is at least this wide on each side (ms) …
    pub margin_ms: f64,
    /// … and at least this fraction of the baseline median.
    pub margin_ratio: f64,
    /// Rules (of the same scope) that supersede this one on the same
    /// series, as Alertmanager's inhibition does: while one of them is
    /// firing on these labels, or was within this rule's window (whose
    /// data it still sees), this rule's breach counts as clear, so an
    /// incident raises one alert, not one per rule. An alert of this rule
    /// that is already firing is never cleared by it.
    pub inhibited_by: Vec<String>,
}

impl Rule {
    /// The value side of the comparison: breaching, between (held), or clear.
    pub fn judge(&self, value: f64) -> Judgement {
        if self.op.holds(value, self.threshold) {
            Judgement::Breach
        } else if self.op.holds(value, self.recover) {
            Judgement::Hold
        } else {
            Judgement::Clear
        }
    }

    /// The condition as text: `error_rate > 0.05 (recovers at 0.02)`.
    pub fn condition(&self) -> String {
        let mut s = format!(
            "{} {} {}",
            self.metric.word(),
            self.op.word(),
            num(self.threshold)
        );
        if self.recover != self.threshold {
            s.push_str(&format!(" (recovers at {})", num(self.recover)));
        }
        s
    }
}

/// Where a value stands against a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Breach,
    /// Past the recovery threshold but not the firing one.
    Hold,
    Clear,
}

/// A number without trailing zeros.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One problem in a rule file: which rule, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// `rules[3] "EndpointP95High"`, or the file for a syntax error.
    pub rule: String,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: key \"{k}\": {}", self.rule, self.message),
            None => write!(f, "{}: {}", self.rule, self.message),
        }
    }
}

/// A checked set of rules, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Indexes into `rules` in the order they are judged: a rule after the
    /// rules in its `inhibited_by`, otherwise file order (computed once).
    judging: Vec<usize>,
}

const KEYS: &[&str] = &[
    "name",
    "enabled",
    "scope",
    "match",
    "metric",
    "op",
    "threshold",
    "recover",
    "window",
    "for",
    "keep_firing_for",
    "min_samples",
    "no_data",
    "severity",
    "labels",
    "summary",
    "description",
    "runbook",
    "flap_window",
    "flap_flips",
    "flap_stable",
    "margin_ms",
    "margin_pct",
    "inhibited_by",
];

/// Names a template may use besides the rule's labels.
pub const TEMPLATE_NAMES: &[&str] = &[
    "alertname",
    "rule",
    "severity",
    "integration",
    "endpoint",
    "method",
    "source",
    "metric",
    "value",
    "threshold",
    "recover",
    "band",
    "baseline",
    "why",
    "window",
    "samples",
    "condition",
];

impl RuleSet {
    /// The shipped defaults alone.
    pub fn defaults() -> RuleSet {
        RuleSet::from_toml("").expect("the shipped default rules are valid")
    }

    /// A rule file: `[[rules]]` tables over the shipped defaults (unless the
    /// file says `defaults = false`).
    pub fn from_toml(text: &str) -> Result<RuleSet, Vec<RuleError>> {
        let doc: Table = toml::from_str(text).map_err(|e| {
            vec![RuleError {
                rule: "rule file".into(),
                key: None,
                message: e.message().to_string(),
            }]
        })?;
        let mut errors = Vec::new();
        let mut with_defaults = true;
        let mut tables = Vec::new();
        for (k, v) in &doc {
            match (k.as_str(), v) {
                ("defaults", Value::Boolean(b)) => with_defaults = *b,
                ("defaults", _) => errors.push(file_error("defaults", "must be true or false")),
                ("rules", Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::Table(t) => tables.push(t.clone()),
                            _ => errors.push(RuleError {
                                rule: format!("rules[{i}]"),
                                key: None,
                                message: "must be a table ([[rules]])".into(),
                            }),
                        }
                    }
                }
                ("rules", _) => {
                    errors.push(file_error("rules", "must be a list of [[rules]] tables"))
                }
                // Test files and config files carry other keys; a rule file
                // read alone is checked by `jfmon rules check`.
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        RuleSet::from_tables(with_defaults, &tables)
    }

    /// `tables` (each one `[[rules]]` entry) over the defaults when `with_defaults`.
    pub fn from_tables(with_defaults: bool, tables: &[Table]) -> Result<RuleSet, Vec<RuleError>> {
        let mut merged: Vec<(String, Table)> = Vec::new();
        if with_defaults {
            let doc: Table = toml::from_str(DEFAULT_RULES).expect("default rules parse");
            if let Some(Value::Array(items)) = doc.get("rules") {
                for item in items {
                    let t = item.as_table().expect("default rules are tables").clone();
                    merged.push(("default rules".into(), t));
                }
            }
        }
        let mut errors = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let name = t.get("name").and_then(Value::as_str);
            match name.and_then(|n| {
                merged
                    .iter_mut()
                    .find(|(_, m)| m.get("name").and_then(Value::as_str) == Some(n))
            }) {
                Some((_, base)) => {
                    for (k, v) in t {
                        base.insert(k.clone(), v.clone());
                    }
                }
                None => merged.push((format!("rules[{i}]"), t.clone())),
            }
        }
        let mut rules = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (origin, t) in &merged {
            let label = match t.get("name").and_then(Value::as_str) {
                Some(n) => format!("{origin} \"{n}\""),
                None => origin.clone(),
            };
            if t.get("enabled") == Some(&Value::Boolean(false)) {
                continue;
            }
            match parse_rule(&label, t) {
                Ok(r) => {
                    if !seen.insert(r.name.clone()) {
                        errors.push(RuleError {
                            rule: label,
                            key: Some("name".into()),
                            message: "another rule has this name".into(),
                        });
                    } else {
                        rules.push(r);
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        for (origin, t) in &merged {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some(rule) = rules.iter().find(|r| r.name == name) else {
                continue;
            };
            for other in &rule.inhibited_by {
                let known = merged
                    .iter()
                    .any(|(_, m)| m.get("name").and_then(Value::as_str) == Some(other.as_str()));
                let problem = match rules.iter().find(|r| &r.name == other) {
                    // A disabled rule inhibits nothing.
                    None if known => None,
                    None => Some(format!("\"{other}\" is not a rule")),
                    Some(o) if o.name == rule.name => Some("a rule cannot inhibit itself".into()),
                    Some(o) if o.scope != rule.scope => Some(format!(
                        "\"{other}\" has scope \"{}\", not \"{}\" (inhibition matches the same series)",
                        o.scope.word(),
                        rule.scope.word()
                    )),
                    Some(_) => None,
                };
                if let Some(message) = problem {
                    errors.push(RuleError {
                        rule: format!("{origin} \"{name}\""),
                        key: Some("inhibited_by".into()),
                        message,
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        match judging_order(&rules) {
            Ok(judging) => Ok(RuleSet { rules, judging }),
            Err(mut ring) => {
                // Said from the rule listed first.
                let at = (0..ring.len()).min_by_key(|&k| ring[k]).unwrap_or(0);
                ring.rotate_left(at);
                let name = |k: usize| rules[ring[k % ring.len()]].name.as_str();
                let pairs: Vec<String> = (0..ring.len())
                    .map(|k| format!("{} inhibits {}", name(k), name(k + 1)))
                    .collect();
                let origin = merged
                    .iter()
                    .find(|(_, t)| t.get("name").and_then(Value::as_str) == Some(name(0)))
                    .map_or("rules", |(o, _)| o.as_str());
                Err(vec![RuleError {
                    rule: format!("{origin} \"{}\"", name(0)),
                    key: Some("inhibited_by".into()),
                    message: format!(
                        "inhibitions form a ring: {} (only two rules may inhibit each other)",
                        pairs.join(", ")
                    ),
                }])
            }
        }
    }

    /// A set of exactly these rules (rules in a ring of inhibitions, which
    /// [`RuleSet::from_toml`] refuses, are judged in file order).
    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        let judging = judging_order(&rules).unwrap_or_else(|_| (0..rules.len()).collect());
        RuleSet { rules, judging }
    }

    /// The rules in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules in the order they are judged: every rule after the rules
    /// that inhibit it, so that an inhibitor firing on this poll already
    /// silences them on this poll; otherwise in file order.
    pub fn judging(&self) -> impl Iterator<Item = &Rule> {
        self.judging.iter().map(|&i| &self.rules[i])
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The judging order of `rules` (indexes): each rule after the rules named
/// in its `inhibited_by`, file order where that leaves a choice. Two rules
/// that name each other stand for each other (whichever fires first
/// silences the other; in the same poll, the one listed first) and are
/// not ordered by it. Any other ring has no order: `Err` with its rules,
/// each inhibiting the next and the last the first.
fn judging_order(rules: &[Rule]) -> Result<Vec<usize>, Vec<usize>> {
    let index = |name: &str| rules.iter().position(|r| r.name == name);
    // before[i]: the rules judged before rule i.
    let before: Vec<Vec<usize>> = rules
        .iter()
        .map(|r| {
            r.inhibited_by
                .iter()
                .filter_map(|n| index(n))
                .filter(|&j| !rules[j].inhibited_by.contains(&r.name))
                .collect()
        })
        .collect();
    let mut order = Vec::with_capacity(rules.len());
    let mut placed = vec![false; rules.len()];
    while order.len() < rules.len() {
        let next = (0..rules.len()).find(|&i| !placed[i] && before[i].iter().all(|&j| placed[j]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                // Every unplaced rule waits for another unplaced one: follow
                // those waits from the first until one repeats.
                let mut path = vec![(0..rules.len()).find(|&i| !placed[i]).expect("unplaced")];
                loop {
                    let last = *path.last().expect("non-empty");
                    let wait = *before[last]
                        .iter()
                        .find(|&&j| !placed[j])
                        .expect("a rule that waits");
                    if let Some(k) = path.iter().position(|&p| p == wait) {
                        let mut ring = path.split_off(k);
                        // path runs inhibited → inhibitor; the ring reads
                        // inhibitor → inhibited.
                        ring.reverse();
                        return Err(ring);
                    }
                    path.push(wait);
                }
            }
        }
    }
    Ok(order)
}

fn file_error(key: &str, message: &str) -> RuleError {
    RuleError {
        rule: "rule file".into(),
        key: Some(key.into()),
        message: message.into(),
    }
}

/// Reads one rule's keys, collecting every problem.
struct Reader<'a> {
    label: &'a str,
    t: &'a Table,
    errors: Vec<RuleError>,
}

impl Reader<'_> {
    fn err(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(RuleError {
            rule: self.label.to_string(),
            key: Some(key.to_string()),
            message: message.into(),
        });
    }

    fn text(&mut self, key: &str) -> Option<String> {
        match self.t.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.err(key, "must be a string");
                None
            }
        }
    }

    fn number(&mut self, key: &str) -> Option<f64> {
        match self.t.get(key) {
            None => None,
            Some(Value::Integer(i)) => Some(*i as f64),
            Some(Value::Float(f)) if f.is_finite() => Some(*f),
            Some(_) => {
                self.err(key, "must be a number");
                None
            }
        }
    }

    fn duration(&mut self, key: &str, default: TimeDelta) -> TimeDelta {
        let Some(s) = self.text(key) else {
            return default;
        };
        match parse_duration(&s) {
            Ok(d) if d.as_secs() <= 30 * 86_400 => TimeDelta::from_std(d).unwrap_or(default),
            Ok(_) => {
                self.err(key, "must be at most 30d");
                default
            }
            Err(e) => {
                self.err(key, e);
                default
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        key: &str,
        options: &[(&str, T)],
        default: Option<T>,
    ) -> Option<T> {
        let Some(s) = self.text(key) else {
            if default.is_none() && !self.t.contains_key(key) {
                self.err(key, "is required");
            }
            return default;
        };
        match options.iter().find(|(w, _)| *w == s) {
            Some((_, v)) => Some(*v),
            None => {
                let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
                self.err(key, format!("\"{s}\" is not one of {}", words.join(", ")));
                None
            }
        }
    }
}

fn parse_rule(label: &str, t: &Table) -> Result<Rule, Vec<RuleError>> {
    let mut r = Reader {
        label,
        t,
        errors: Vec::new(),
    };
    for k in t.keys() {
        if !KEYS.contains(&k.as_str()) {
            r.err(k, format!("unknown key (known keys: {})", KEYS.join(", ")));
        }
    }
    let name = r.text("name").unwrap_or_default();
    if name.is_empty() {
        r.err("name", "is required");
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        r.err("name", "may hold only letters, digits, '_', '-' and '.'");
    }
    let scopes: Vec<(&str, Scope)> = Scope::ALL.iter().map(|s| (s.word(), *s)).collect();
    let scope = r.choice("scope", &scopes, None);
    let metrics: Vec<(&str, Metric)> = Metric::ALL.iter().map(|m| (m.word(), *m)).collect();
    let metric = r.choice("metric", &metrics, None);
    if let (Some(s), Some(m)) = (scope, metric)
        && !m.scopes().contains(&s)
    {
        let words: Vec<&str> = m.scopes().iter().map(|s| s.word()).collect();
        r.err(
            "metric",
            format!(
                "\"{}\" does not exist for scope \"{}\" (only {})",
                m.word(),
                s.word(),
                words.join(", ")
            ),
        );
    }
    let op = r
        .choice(
            "op",
            &[
                (">", Op::Gt),
                (">=", Op::Ge),
                ("<", Op::Lt),
                ("<=", Op::Le),
                ("==", Op::Eq),
            ],
            Some(Op::Gt),
        )
        .unwrap_or(Op::Gt);
    let threshold = r.number("threshold");
    if threshold.is_none() && !t.contains_key("threshold") {
        r.err("threshold", "is required");
    }
    let threshold = threshold.unwrap_or(0.0);
    let recover = r.number("recover").unwrap_or(threshold);
    if op == Op::Eq && recover != threshold {
        r.err("recover", "\"==\" has no recovery threshold");
    }
    if op.upward() && recover > threshold {
        r.err(
            "recover",
            format!(
                "must not be above the threshold {} for \"{}\"",
                num(threshold),
                op.word()
            ),
        );
    }
    if matches!(op, Op::Lt | Op::Le) && recover < threshold {
        r.err(
            "recover",
            format!(
                "must not be below the threshold {} for \"{}\"",
                num(threshold),
                op.word()
            ),
        );
    }
    let default_window = match metric {
        Some(Metric::Total | Metric::ChangeVsLastWeek | Metric::CreditsWithoutSession) => {
            TimeDelta::hours(1)
        }
        _ => TimeDelta::minutes(5),
    };
    let window = r.duration("window", default_window);
    if window < TimeDelta::minutes(1) {
        r.err("window", "must be at least 1m");
    }
    let for_ = r.duration("for", TimeDelta::zero());
    let keep_firing_for = r.duration("keep_firing_for", TimeDelta::zero());
    let min_samples = match r.number("min_samples") {
        Some(n) if n >= 0.0 && n.fract() == 0.0 => n as u64,
        Some(_) => {
            r.err("min_samples", "must be a whole number, 0 or more");
            0
        }
        None => 0,
    };
    let default_no_data = match metric {
        Some(Metric::NoDataMinutes) => NoData::Keep,
        _ => NoData::Ok,
    };
    let no_data = r
        .choice(
            "no_data",
            &[
                ("ok", NoData::Ok),
                ("keep", NoData::Keep),
                ("alert", NoData::Alert),
            ],
            Some(default_no_data),
        )
        .unwrap_or(default_no_data);
    let severity = match r.text("severity") {
        None => Severity::Warning,
        Some(s) => match s.as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            _ => {
                r.err(
                    "severity",
                    format!("\"{s}\" is not one of critical, high, warning, info"),
                );
                Severity::Warning
            }
        },
    };
    let mut labels = BTreeMap::new();
    match t.get("labels") {
        None => {}
        Some(Value::Table(lt)) => {
            for (k, v) in lt {
                match v.as_str() {
                    Some(s) => {
                        if !valid_label_name(k) {
                            r.err("labels", format!("\"{k}\" is not a label name (letters, digits, '_', not starting with a digit)"));
                        } else if RESERVED_LABELS.contains(&k.as_str()) {
                            r.err("labels", format!("\"{k}\" is set by jfmon itself"));
                        } else {
                            labels.insert(k.clone(), s.to_string());
                        }
                    }
                    None => r.err("labels", format!("\"{k}\" must be a string")),
                }
            }
        }
        Some(_) => r.err("labels", "must be a table of strings"),
    }
    let summary = r
        .text("summary")
        .unwrap_or_else(|| "{alertname}: {why}".into());
    let description = r.text("description").unwrap_or_default();
    let runbook = r.text("runbook").unwrap_or_default();
    for key in ["summary", "description", "runbook"] {
        let text = match key {
            "summary" => &summary,
            "description" => &description,
            _ => &runbook,
        };
        for n in template::names(text) {
            if !TEMPLATE_NAMES.contains(&n) && !labels.contains_key(n) {
                r.err(
                    key,
                    format!(
                        "unknown name {{{n}}} (known: {}, or a label)",
                        TEMPLATE_NAMES.join(", ")
                    ),
                );
            }
        }
    }
    let flap_window = r.duration("flap_window", TimeDelta::minutes(30));
    let flips = match r.number("flap_flips") {
        Some(n) if n >= 2.0 && n.fract() == 0.0 => n as u32,
        Some(_) => {
            r.err("flap_flips", "must be a whole number, 2 or more");
            3
        }
        None => 3,
    };
    let flap_stable = r.duration("flap_stable", TimeDelta::minutes(10));
    let margin_ms = r.number("margin_ms").unwrap_or(50.0);
    let margin_pct = r.number("margin_pct").unwrap_or(25.0);
    if margin_ms < 0.0 {
        r.err("margin_ms", "must not be negative");
    }
    if margin_pct < 0.0 {
        r.err("margin_pct", "must not be negative");
    }
    if let Some(m) = metric
        && m.is_anomaly()
        && threshold <= 0.0
    {
        r.err(
            "threshold",
            "an anomaly threshold is a score above 0 (e.g. 4)",
        );
    }
    let inhibited_by = match t.get("inhibited_by") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_str) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            r.err(
                "inhibited_by",
                "must be a rule name or a list of rule names",
            );
            Vec::new()
        }
    };
    let pattern = r.text("match").unwrap_or_else(|| "*".into());
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(Rule {
        name,
        scope: scope.expect("checked"),
        pattern,
        metric: metric.expect("checked"),
        op,
        threshold,
        recover,
        window,
        for_,
        keep_firing_for,
        min_samples,
        no_data,
        severity,
        labels,
        summary,
        description,
        runbook,
        flap: Flap {
            window: flap_window,
            flips,
            stable: flap_stable,
        },
        margin_ms,
        margin_ratio: margin_pct / 100.0,
        inhibited_by,
    })
}

/// Labels jfmon sets on every alert.
pub const RESERVED_LABELS: &[&str] = &[
    "alertname",
    "severity",
    "integration",
    "endpoint",
    "method",
    "source",
    "metric",
];

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_named_uniquely() {
        let d = RuleSet::defaults();
        assert!(d.len() >= 8, "{}", d.len());
        assert!(d.get("IntegrationDown").is_some());
    }

    #[test]
    fn a_rule_overrides_a_default_by_name_and_can_turn_it_off() {
        let s = RuleSet::from_toml(
            "[[rules]]\nname = \"EndpointP95High\"\nthreshold = 30000\n\
             [[rules]]\nname = \"IntegrationDown\"\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(s.get("EndpointP95High").unwrap().threshold, 30000.0);
        // The other keys stay the default's.
        assert_eq!(s.get("EndpointP95High").unwrap().recover, 15000.0);
        assert!(s.get("IntegrationDown").is_none());
        assert_eq!(s.len(), RuleSet::defaults().len() - 1);
        let alone = RuleSet::from_toml("defaults = false\n").unwrap();
        assert!(alone.is_empty());
    }

    #[test]
    fn every_problem_names_its_rule_and_key() {
        let errs = RuleSet::from_toml(
            "defaults = false\n[[rules]]\nname = \"A\"\nscope = \"endpoint\"\nmetric = \"consecutive_failures\"\n\
             threshold = \"x\"\nwindow = \"5q\"\ncolour = 1\nsummary = \"{nope}\"\n\
             [[rules]]\nname = \"B\"\nscope = \"integration\"\nmetric = \"error_rate\"\nthreshold = 0.1\nrecover = 0.2\n",
        )
        .unwrap_err();
        let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let has = |s: &str| lines.iter().any(|l| l.contains(s));
        assert!(
            has("rules[0] \"A\": key \"colour\": unknown key"),
            "{lines:#?}"
        );
        assert!(
            has(
                "rules[0] \"A\": key \"metric\": \"consecutive_failures\" does not exist for scope \"endpoint\""
            ),
            "{lines:#?}"
        );
        assert!(
            has("rules[0] \"A\": key \"threshold\": must be a number"),
            "{lines:#?}"
        );
        assert!(has("rules[0] \"A\": key \"window\""), "{lines:#?}");
        assert!(
            has("rules[0] \"A\": key \"summary\": unknown name {nope}"),
            "{lines:#?}"
        );
        assert!(
            has("rules[1] \"B\": key \"recover\": must not be above the threshold 0.1"),
            "{lines:#?}"
        );
        assert_eq!(lines.len(), 6, "{lines:#?}");
    }

    #[test]
    fn hysteresis_judgement() {
        let mut r = RuleSet::defaults()
            .get("EndpointErrorRate")
            .unwrap()
            .clone();
        r.op = Op::Gt;
        r.threshold = 0.1;
        r.recover = 0.05;
        assert_eq!(r.judge(0.2), Judgement::Breach);
        assert_eq!(r.judge(0.07), Judgement::Hold);
        assert_eq!(r.judge(0.05), Judgement::Clear);
        r.op = Op::Lt;
        r.threshold = -70.0;
        r.recover = -50.0;
        assert_eq!(r.judge(-80.0), Judgement::Breach);
        assert_eq!(r.judge(-60.0), Judgement::Hold);
        assert_eq!(r.judge(-10.0), Judgement::Clear);
    }

    fn ring(inhibitions: &[(&str, &str)]) -> Result<RuleSet, Vec<RuleError>> {
        let mut text = String::from("defaults = false\n");
        for (name, by) in inhibitions {
            text.push_str(&format!(
                "[[rules]]\nname = \"{name}\"\nscope = \"integration\"\nmetric = \"error_rate\"\n\
                 threshold = 0.5\ninhibited_by = {by}\n"
            ));
        }
        RuleSet::from_toml(&text)
    }

    #[test]
    fn inhibitors_are_judged_first_and_a_ring_is_refused() {
        // C is inhibited by A, A by B: judged B, A, C; listed as written.
        let s = ring(&[("A", "\"B\""), ("B", "[]"), ("C", "\"A\"")]).unwrap();
        let judged: Vec<&str> = s.judging().map(|r| r.name.as_str()).collect();
        assert_eq!(judged, ["B", "A", "C"]);
        let listed: Vec<&str> = s.rules().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(listed, ["A", "B", "C"]);
        // Two rules that inhibit each other stand for each other (the
        // defaults' endpoint error rules do): file order.
        let s = ring(&[("A", "\"B\""), ("B", "\"A\"")]).unwrap();
        let judged: Vec<&str> = s.judging().map(|r| r.name.as_str()).collect();
        assert_eq!(judged, ["A", "B"]);
        // Three in a ring: one clear line.
        let e = ring(&[("A", "\"C\""), ("B", "\"A\""), ("C", "\"B\""), ("D", "[]")]).unwrap_err();
        let lines: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "rules[0] \"A\": key \"inhibited_by\": inhibitions form a ring: \
                 A inhibits B, B inhibits C, C inhibits A (only two rules may inhibit each other)"
            ]
        );
    }

    #[test]
    fn inhibited_by_names_a_rule_of_the_same_scope() {
        let e = RuleSet::from_toml(
            "[[rules]]\nname = \"IntegrationDegraded\"\ninhibited_by = \"Nope\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "default rules \"IntegrationDegraded\": key \"inhibited_by\": \"Nope\" is not a rule"
        );
        let e = RuleSet::from_toml(
            "[[rules]]\nname = \"IntegrationDegraded\"\ninhibited_by = [\"EndpointErrorRate\"]\n",
        )
        .unwrap_err();
        assert!(e[0].message.contains("has scope \"endpoint\""), "{e:?}");
        // Turning the inhibitor off is no error: nothing inhibits then.
        let s =
            RuleSet::from_toml("[[rules]]\nname = \"IntegrationDown\"\nenabled = false\n").unwrap();
        assert_eq!(
            s.get("IntegrationDegraded").unwrap().inhibited_by,
            ["IntegrationDown"]
        );
    }
}
