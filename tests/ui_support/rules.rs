//! Rule alerts over the usual fixture (see [`super::state`]): one of each
//! state, with values that agree with the fixture's data (openai down,
//! elevenlabs degraded, the guidance endpoint failing and slow for its last
//! four minutes), fingerprinted as the engine fingerprints them.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use jfmon::model::*;
use jfmon::rules::Fingerprint;
use jfmon::store::State;

use super::now;

const GUIDANCE: &str = "/api/spiritual/guidance";

fn labels(rule: &str, severity: Severity, scope: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = scope
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert("alertname".into(), rule.into());
    l.insert("severity".into(), severity.word().into());
    l
}

#[allow(clippy::too_many_arguments)]
fn alert(
    rule: &str,
    scope: &[(&str, &str)],
    state: RuleAlertState,
    severity: Severity,
    metric: &str,
    value: f64,
    bound: RuleBound,
    minutes_ago: i64,
    summary: &str,
    why: &str,
) -> RuleAlert {
    let labels = labels(rule, severity, scope);
    let at = now() - TimeDelta::minutes(minutes_ago);
    RuleAlert {
        fingerprint: Fingerprint::of(&labels).to_string(),
        rule: rule.into(),
        labels,
        state,
        severity,
        metric: metric.into(),
        value: Some(value),
        bound,
        since: (state != RuleAlertState::Resolved).then_some(at),
        resolved_at: (state == RuleAlertState::Resolved).then_some(at),
        summary: summary.into(),
        why: why.into(),
        baseline: None,
    }
}

fn threshold(op: &str, threshold: f64, recover: f64) -> RuleBound {
    RuleBound::Threshold {
        op: op.into(),
        threshold,
        recover,
    }
}

/// The rule alerts: firing, flapping, pending, resolved.
pub fn rule_alerts(origin: RuleOrigin) -> RuleAlerts {
    use RuleAlertState::*;
    let guidance = [("endpoint", GUIDANCE), ("method", "POST")];
    let mut band = alert(
        "EndpointLatencyAnomaly",
        &[("endpoint", "/api/auth/login"), ("method", "POST")],
        Resolved,
        Severity::Warning,
        "latency_anomaly",
        92.0,
        RuleBound::Band {
            low: 40.0,
            high: 130.0,
            median: 80.0,
        },
        6,
        "POST /api/auth/login is slower than usual: p95 92ms, band 40ms–130ms",
        "p95 92 ms against the band 40–130 ms (median 80 ms ± 4 deviations, 0.9 robust deviations above)",
    );
    band.baseline = Some("24h + same hour 1d ago, 1440 minutes".into());
    RuleAlerts {
        origin,
        at: now(),
        alerts: vec![
            alert(
                "IntegrationDown",
                &[("integration", "openai")],
                Firing,
                Severity::Critical,
                "status",
                2.0,
                threshold(">=", 2.0, 1.0),
                3,
                "openai is down: 32 of 32 calls failed (100 %)",
                "32 of 32 calls failed (100 %)",
            ),
            alert(
                "EndpointErrorRate",
                &guidance,
                Flapping,
                Severity::High,
                "error_rate",
                0.4,
                threshold(">", 0.10, 0.05),
                9,
                "POST /api/spiritual/guidance fails 40.0% of requests",
                "24 of 60 calls failed (40 %)",
            ),
            alert(
                "IntegrationDegraded",
                &[("integration", "elevenlabs")],
                Firing,
                Severity::Warning,
                "status",
                1.0,
                threshold("==", 1.0, 1.0),
                12,
                "elevenlabs is degraded: 5 of 50 calls failed (10 %)",
                "5 of 50 calls failed (10 %)",
            ),
            alert(
                "EndpointP95High",
                &guidance,
                Pending,
                Severity::Warning,
                "p95",
                30_100.0,
                threshold(">", 20_000.0, 15_000.0),
                1,
                "POST /api/spiritual/guidance is slow: p95 30.1s",
                "p95 30100 ms over 60 calls",
            ),
            band,
        ],
        notes: BTreeMap::new(),
    }
}

/// The usual state with the rule alerts judged by `origin`.
pub fn rule_state(origin: RuleOrigin) -> State {
    let mut s = super::state();
    s.apply(Update::RuleAlerts(Box::new(rule_alerts(origin))));
    s
}
