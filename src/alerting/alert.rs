//! The alert as alerting and notification see it: identity (fingerprint,
//! labels), what to say (summary, description, runbook) and why (value
//! against a threshold or band). Built from a rule's transition; every text
//! is masked on the way in, so nothing written or sent can hold a secret.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the value was compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// A fixed threshold.
    Threshold(f64),
    /// An anomaly band `[low, high]` from the baseline.
    Band { low: f64, high: f64 },
    /// Nothing numeric (a reported status, no data).
    None,
}

/// One rule alert (per rule × label set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Alertmanager's fingerprint of `labels` (16 hex digits).
    pub fingerprint: String,
    /// The rule's name.
    pub rule: String,
    /// The alert's labels, `alertname` included.
    pub labels: BTreeMap<String, String>,
    /// critical | high | warning | info
    pub severity: String,
    /// One line: the row's title, the notification's summary.
    pub summary: String,
    /// Why: value against threshold or band, since when.
    pub description: String,
    pub runbook: Option<String>,
    /// The value compared (`None`: no data).
    pub value: Option<f64>,
    pub bound: Bound,
    /// When it started firing.
    pub since: DateTime<Utc>,
}

impl Alert {
    /// The same alert with every text masked ([`crate::redact::mask_text`]).
    pub fn masked(mut self) -> Alert {
        let m = |s: &mut String| *s = crate::redact::mask_text(s).into_owned();
        m(&mut self.summary);
        m(&mut self.description);
        self.runbook.iter_mut().for_each(m);
        self.labels.values_mut().for_each(m);
        self
    }
}

/// A change of an alert's state that is written and notified.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Fired(Alert),
    /// Resolved at `at`, the value then being `value`.
    Resolved {
        alert: Alert,
        at: DateTime<Utc>,
        value: Option<f64>,
    },
}

impl Change {
    pub fn alert(&self) -> &Alert {
        match self {
            Change::Fired(a) | Change::Resolved { alert: a, .. } => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_hides_secrets_in_every_text() {
        let a = Alert {
            fingerprint: "0123456789abcdef".into(),
            rule: "r".into(),
            labels: [("endpoint".into(), "/x?api_key=hunter2".into())].into(),
            severity: "critical".into(),
            summary: "token=hunter2 leaked".into(),
            description: "password: hunter2".into(),
            runbook: Some("Bearer hunter2hunter2".into()),
            value: Some(1.0),
            bound: Bound::None,
            since: DateTime::<Utc>::UNIX_EPOCH,
        }
        .masked();
        let all = format!("{a:?}");
        assert!(!all.contains("hunter2"), "{all}");
    }
}
