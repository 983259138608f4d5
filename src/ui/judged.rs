//! How a rule alert reads on screen: its state tag, its value and what it
//! was compared with in the metric's unit (`950ms > 800ms`, `12.5% > 5%`,
//! `420ms outside 120ms–300ms`), shared by the Alerts pane and the rule
//! alert's drill-down.

use ratatui::style::Style;

use super::fmt;
use super::theme::Theme;
use crate::format::{Unit, in_unit, unit_of};
use crate::model::{RuleAlert, RuleAlertState, RuleBound};

/// The alert's value against its bound: `950ms > 800ms`, `420ms outside
/// 120ms–300ms`; for an error anomaly (whose threshold is a surprise score)
/// and a status, the words of the evaluator (`why`).
pub fn comparison(a: &RuleAlert, dash: &str) -> String {
    let u = unit_of(&a.metric);
    let shown = a
        .value
        .map_or_else(|| "no data".to_string(), |v| in_unit(u, v));
    match &a.bound {
        RuleBound::Band { low, high, .. } => format!(
            "{shown} against the band {}{dash}{}",
            in_unit(u, *low),
            in_unit(u, *high)
        ),
        RuleBound::Threshold { op, threshold, .. }
            if !matches!(u, Unit::Health) && a.metric != "error_anomaly" =>
        {
            format!("{shown} {op} {}", in_unit(u, *threshold))
        }
        _ => fmt::one_line(&a.why),
    }
}

/// When it recovers: `recovers below 600ms` (hysteresis), if it says more
/// than the threshold itself.
pub fn recovery(a: &RuleAlert) -> Option<String> {
    let RuleBound::Threshold {
        op,
        threshold,
        recover,
    } = &a.bound
    else {
        return None;
    };
    let u = unit_of(&a.metric);
    if recover == threshold || matches!(u, Unit::Health) || a.metric == "error_anomaly" {
        return None;
    }
    let side = if op.starts_with('>') {
        "below"
    } else {
        "above"
    };
    Some(format!("recovers {side} {}", in_unit(u, *recover)))
}

/// A four-letter state tag: `FIRE`, `FLAP`, `PEND`, `res`.
pub fn state_tag(s: RuleAlertState) -> &'static str {
    match s {
        RuleAlertState::Firing => "FIRE",
        RuleAlertState::Flapping => "FLAP",
        RuleAlertState::Pending => "PEND",
        RuleAlertState::Resolved => "res",
    }
}

pub fn state_style(t: &Theme, s: RuleAlertState) -> Style {
    match s {
        RuleAlertState::Firing | RuleAlertState::Flapping => t.bad(),
        RuleAlertState::Pending => t.warn(),
        RuleAlertState::Resolved => t.muted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn alert(metric: &str, value: f64, bound: RuleBound) -> RuleAlert {
        RuleAlert {
            fingerprint: "f".into(),
            rule: "r".into(),
            labels: Default::default(),
            state: RuleAlertState::Firing,
            severity: Severity::High,
            metric: metric.into(),
            value: Some(value),
            bound,
            since: None,
            resolved_at: None,
            summary: String::new(),
            why: "the platform reports down".into(),
            baseline: None,
        }
    }

    fn th(op: &str, threshold: f64, recover: f64) -> RuleBound {
        RuleBound::Threshold {
            op: op.into(),
            threshold,
            recover,
        }
    }

    #[test]
    fn values_read_in_their_unit() {
        let a = alert("p95", 950.0, th(">", 800.0, 600.0));
        assert_eq!(comparison(&a, "–"), "950ms > 800ms");
        assert_eq!(recovery(&a).as_deref(), Some("recovers below 600ms"));
        let a = alert("error_rate", 0.125, th(">", 0.05, 0.05));
        assert_eq!(comparison(&a, "–"), "12.5% > 5.0%");
        assert_eq!(recovery(&a), None);
        let band = RuleBound::Band {
            low: 120.0,
            high: 300.0,
            median: 200.0,
        };
        let a = alert("latency_anomaly", 420.0, band);
        assert_eq!(comparison(&a, "-"), "420ms against the band 120ms-300ms");
        let a = alert("status", 2.0, th(">=", 2.0, 1.0));
        assert_eq!(comparison(&a, "-"), "the platform reports down");
        assert_eq!(in_unit(Unit::Health, 1.0), "degraded");
    }
}
