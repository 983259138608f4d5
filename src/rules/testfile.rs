//! Unit tests for rules, in the style of `promtool test rules`: a TOML file
//! with the rules under test (`[[rules]]`, over the defaults unless
//! `defaults = false`), and `[[tests]]`, each with input series (one value
//! per minute from minute 0, in promtool's expanding notation: `20x3` is
//! four 20s, `0+5x3` is 0 5 10 15, `_x2` two missing minutes) and the alerts
//! expected firing at given times. Run by `jfmon rules test FILE`.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::eval::Evaluator;
use super::replay::{self, Minutes};
use super::spec::RuleSet;
use crate::duration::parse_duration;
use crate::model::{ApiMinute, EndpointKey, IntegrationMinute, Minute};

/// Where test minute 0 lies (any fixed minute: 2024-01-01 00:00 UTC).
pub const EPOCH_MINUTE: Minute = 28_401_120;

/// Expand promtool's notation into one optional value per minute.
pub fn expand(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        let bad = || format!("\"{item}\" is not a value (use e.g. 5, 5x3, 0+5x3, _ or _x3)");
        let (head, times) = match item.split_once('x') {
            Some((h, n)) => (h, Some(n.parse::<usize>().map_err(|_| bad())?)),
            None => (item, None),
        };
        if head == "_" {
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        // a+b or a-b (a may itself be negative).
        let split = head[1..].find(['+', '-']).map(|i| i + 1);
        let (a, step) = match split {
            Some(i) => {
                let a: f64 = head[..i].parse().map_err(|_| bad())?;
                let b: f64 = head[i + 1..].parse().map_err(|_| bad())?;
                (a, if &head[i..=i] == "-" { -b } else { b })
            }
            None => (head.parse().map_err(|_| bad())?, 0.0),
        };
        if !a.is_finite() || !step.is_finite() {
            return Err(bad());
        }
        match times {
            None => out.push(Some(a)),
            Some(n) => out.extend((0..=n).map(|i| Some(a + step * i as f64))),
        }
    }
    Ok(out)
}

/// One expected set of firing alerts.
#[derive(Debug, Clone, PartialEq)]
struct Expect {
    at: i64,
    rule: String,
    firing: Vec<BTreeMap<String, String>>,
}

/// One `[[tests]]` entry.
#[derive(Debug, Clone, PartialEq)]
struct Case {
    name: String,
    minutes: Minutes,
    expects: Vec<Expect>,
}

/// A parsed test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    rules: RuleSet,
    cases: Vec<Case>,
}

/// A failed expectation, or a problem in the file.
pub type Problems = Vec<String>;

fn text<'a>(t: &'a Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(Value::as_str)
}

fn series_values(t: &Table, key: &str, where_: &str) -> Result<Vec<Option<f64>>, String> {
    match text(t, key) {
        Some(s) => expand(s).map_err(|e| format!("{where_}: key \"{key}\": {e}")),
        None => Ok(Vec::new()),
    }
}

fn at(values: &[Option<f64>], i: usize) -> Option<f64> {
    values.get(i).copied().flatten()
}

fn parse_case(i: usize, t: &Table) -> Result<Case, Problems> {
    let name =
        text(t, "name").map_or_else(|| format!("tests[{i}]"), |n| format!("tests[{i}] \"{n}\""));
    let mut problems = Vec::new();
    let mut minutes = Minutes::default();
    let series = t
        .get("series")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (j, s) in series.iter().enumerate() {
        let where_ = format!("{name} series[{j}]");
        let Some(s) = s.as_table() else {
            problems.push(format!("{where_}: must be a table"));
            continue;
        };
        let got = (|| -> Result<(), String> {
            let lat = series_values(s, "latency_ms", &where_)?;
            if let Some(n) = text(s, "integration") {
                let calls = series_values(s, "calls", &where_)?;
                let fails = series_values(s, "failures", &where_)?;
                for k in 0..calls.len().max(fails.len()) {
                    let Some(c) = at(&calls, k) else { continue };
                    let mut d = IntegrationMinute {
                        calls: c.max(0.0) as u64,
                        failures: at(&fails, k).unwrap_or(0.0).clamp(0.0, c.max(0.0)) as u64,
                        ..Default::default()
                    };
                    if let Some(ms) = at(&lat, k) {
                        d.latency
                            .record_bucket(crate::hist::bucket_of(ms as i64), d.calls);
                    }
                    minutes
                        .integrations
                        .push((EPOCH_MINUTE + k as i64, n.to_string(), d));
                }
            } else if let Some(e) = text(s, "endpoint") {
                let key: EndpointKey = e.parse().expect("infallible");
                let req = series_values(s, "requests", &where_)?;
                let errs = series_values(s, "errors", &where_)?;
                for k in 0..req.len() {
                    let Some(r) = at(&req, k) else { continue };
                    let r = r.max(0.0) as u64;
                    let e = (at(&errs, k).unwrap_or(0.0).max(0.0) as u64).min(r);
                    let mut d = ApiMinute::default();
                    d.add_counts(200, r - e, 0);
                    d.add_counts(500, e, e);
                    if let Some(ms) = at(&lat, k) {
                        d.latency
                            .record_bucket(crate::hist::bucket_of(ms as i64), r);
                    }
                    minutes.api.push((EPOCH_MINUTE + k as i64, key.clone(), d));
                }
            } else if let Some(metric) = text(s, "metric") {
                let vals = series_values(s, "values", &where_)?;
                for (k, v) in vals.iter().enumerate() {
                    if let Some(v) = v {
                        minutes
                            .business
                            .push((EPOCH_MINUTE + k as i64, metric.to_string(), *v));
                    }
                }
            } else {
                return Err(format!(
                    "{where_}: needs one of integration, endpoint or metric"
                ));
            }
            Ok(())
        })();
        if let Err(e) = got {
            problems.push(e);
        }
    }
    minutes.sort();
    let mut expects = Vec::new();
    let alerts = t
        .get("alerts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (j, a) in alerts.iter().enumerate() {
        let where_ = format!("{name} alerts[{j}]");
        let Some(a) = a.as_table() else {
            problems.push(format!("{where_}: must be a table"));
            continue;
        };
        let at = match text(a, "at").map(parse_duration) {
            Some(Ok(d)) => (d.as_secs() / 60) as i64,
            Some(Err(e)) => {
                problems.push(format!("{where_}: key \"at\": {e}"));
                continue;
            }
            None => {
                problems.push(format!("{where_}: key \"at\": is required (e.g. \"10m\")"));
                continue;
            }
        };
        let Some(rule) = text(a, "rule") else {
            problems.push(format!("{where_}: key \"rule\": is required"));
            continue;
        };
        let mut firing = Vec::new();
        for f in a
            .get("firing")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(ft) = f.as_table() else {
                problems.push(format!(
                    "{where_}: key \"firing\": each entry is a table of labels"
                ));
                continue;
            };
            firing.push(
                ft.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect(),
            );
        }
        expects.push(Expect {
            at,
            rule: rule.to_string(),
            firing,
        });
    }
    if problems.is_empty() {
        Ok(Case {
            name,
            minutes,
            expects,
        })
    } else {
        Err(problems)
    }
}

impl TestFile {
    pub fn parse(text_: &str) -> Result<TestFile, Problems> {
        let rules = RuleSet::from_toml(text_)
            .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        let doc: Table = toml::from_str(text_).map_err(|e| vec![e.message().to_string()])?;
        let mut problems = Vec::new();
        let mut cases = Vec::new();
        for (k, _) in &doc {
            if !["defaults", "rules", "tests"].contains(&k.as_str()) {
                problems.push(format!(
                    "unknown key \"{k}\" (known: defaults, rules, tests)"
                ));
            }
        }
        let tests = doc
            .get("tests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if tests.is_empty() {
            problems.push("no [[tests]] in the file".to_string());
        }
        for (i, t) in tests.iter().enumerate() {
            match t.as_table().map(|t| parse_case(i, t)) {
                Some(Ok(c)) => cases.push(c),
                Some(Err(mut p)) => problems.append(&mut p),
                None => problems.push(format!("tests[{i}]: must be a table")),
            }
        }
        for c in &cases {
            for e in &c.expects {
                if rules.get(&e.rule).is_none() {
                    problems.push(format!("{}: no rule named \"{}\"", c.name, e.rule));
                }
            }
        }
        if problems.is_empty() {
            Ok(TestFile { rules, cases })
        } else {
            Err(problems)
        }
    }

    /// Run every case; one line per failed expectation, and the count of
    /// expectations checked.
    pub fn run(&self) -> (usize, Problems) {
        let mut failures = Vec::new();
        let mut checked = 0;
        for c in &self.cases {
            let last = c.expects.iter().map(|e| e.at).max().unwrap_or(0);
            let mut ev = Evaluator::new(self.rules.clone());
            let mut by_minute: BTreeMap<i64, Vec<&Expect>> = BTreeMap::new();
            for e in &c.expects {
                by_minute.entry(e.at).or_default().push(e);
            }
            replay::run(
                &mut ev,
                &c.minutes,
                EPOCH_MINUTE,
                EPOCH_MINUTE + last,
                900,
                |now, ev, _| {
                    let minute = crate::model::minute_of(now) - EPOCH_MINUTE;
                    let Some(expects) = by_minute.get(&minute) else {
                        return;
                    };
                    for e in expects {
                        checked += 1;
                        let got: Vec<BTreeMap<String, String>> = ev
                            .alerts()
                            .filter(|a| a.rule == e.rule && a.phase == super::Phase::Firing)
                            .map(|a| a.labels.clone())
                            .collect();
                        let matched = e.firing.len() == got.len()
                            && e.firing.iter().all(|want| {
                                got.iter()
                                    .filter(|g| want.iter().all(|(k, v)| g.get(k) == Some(v)))
                                    .count()
                                    == 1
                            });
                        if !matched {
                            failures.push(format!(
                                "{}: at {}m, rule \"{}\": expected firing {} but got {}",
                                c.name,
                                minute,
                                e.rule,
                                show(&e.firing),
                                show(&got)
                            ));
                        }
                    }
                },
            );
        }
        (checked, failures)
    }
}

fn show(sets: &[BTreeMap<String, String>]) -> String {
    if sets.is_empty() {
        return "nothing".into();
    }
    let items: Vec<String> = sets
        .iter()
        .map(|s| {
            let kv: Vec<String> = s.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!("{{{}}}", kv.join(", "))
        })
        .collect();
    items.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_expanding_notation() {
        assert_eq!(expand("1 2").unwrap(), vec![Some(1.0), Some(2.0)]);
        assert_eq!(expand("5x2").unwrap(), vec![Some(5.0); 3]);
        assert_eq!(
            expand("0+5x3").unwrap(),
            vec![Some(0.0), Some(5.0), Some(10.0), Some(15.0)]
        );
        assert_eq!(
            expand("10-2x2").unwrap(),
            vec![Some(10.0), Some(8.0), Some(6.0)]
        );
        assert_eq!(expand("-1+1x1").unwrap(), vec![Some(-1.0), Some(0.0)]);
        assert_eq!(expand("_x2 1").unwrap(), vec![None, None, Some(1.0)]);
        assert!(expand("abc").is_err());
    }

    const FILE: &str = r#"
defaults = false

[[rules]]
name = "IntegrationDown"
scope = "integration"
metric = "status"
op = ">="
threshold = 2
recover = 1
window = "3m"
for = "1m"

[[tests]]
name = "openai outage"
[[tests.series]]
integration = "openai"
calls = "20x30"
failures = "0x4 20x3 0x22"

[[tests.alerts]]
at = "4m"
rule = "IntegrationDown"
firing = []
[[tests.alerts]]
at = "6m"
rule = "IntegrationDown"
firing = [{ integration = "openai" }]
[[tests.alerts]]
at = "20m"
rule = "IntegrationDown"
firing = []
"#;

    #[test]
    fn a_passing_file_passes_and_a_wrong_expectation_says_what_it_got() {
        let f = TestFile::parse(FILE).unwrap();
        let (checked, failures) = f.run();
        assert_eq!(checked, 3);
        assert!(failures.is_empty(), "{failures:#?}");
        let wrong = FILE.replace("at = \"4m\"", "at = \"7m\"");
        let (_, failures) = TestFile::parse(&wrong).unwrap().run();
        assert_eq!(
            failures,
            vec![
                "tests[0] \"openai outage\": at 7m, rule \"IntegrationDown\": expected firing nothing \
                 but got {alertname=\"IntegrationDown\", integration=\"openai\", severity=\"warning\"}"
                    .to_string()
            ]
        );
    }

    #[test]
    fn problems_in_the_file_are_named() {
        let bad = FILE.replace("calls = \"20x30\"", "calls = \"20y30\"");
        let p = TestFile::parse(&bad).unwrap_err();
        assert!(
            p.iter()
                .any(|l| l.contains("series[0]: key \"calls\": \"20y30\" is not a value")),
            "{p:#?}"
        );
    }
}
