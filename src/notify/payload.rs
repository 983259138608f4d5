//! The bodies each kind of receiver expects, built from an alert change.
//! Pure functions; the texts are already masked ([`Alert::masked`]).
//!
//! - webhook: Alertmanager's webhook v4 body (one group per alert), so a
//!   receiver written for Alertmanager works unchanged;
//! - alertmanager: the `POST /api/v2/alerts` array (`endsAt` in the future
//!   while firing, so Alertmanager keeps it firing until the next re-send;
//!   the resolution time once resolved);
//! - slack: an incoming-webhook message (text + one attachment).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::alerting::{Alert, Bound, Change};

/// What Alertmanager writes as the `endsAt` of an alert still firing.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A number as an annotation: short, no trailing zeros.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// The annotations: summary, description, runbook, value and threshold or band.
pub fn annotations(a: &Alert, value: Option<f64>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("summary".into(), a.summary.clone());
    m.insert("description".into(), a.description.clone());
    if let Some(r) = &a.runbook {
        m.insert("runbook".into(), r.clone());
    }
    m.insert("value".into(), value.map_or("no data".to_owned(), number));
    match a.bound {
        Bound::Threshold(t) => {
            m.insert("threshold".into(), number(t));
        }
        Bound::Band { low, high } => {
            m.insert(
                "band".into(),
                format!("{} .. {}", number(low), number(high)),
            );
        }
        Bound::None => {}
    }
    m
}

/// `status`, `endsAt` and the value to report for a change.
fn status(c: &Change) -> (&'static str, Option<DateTime<Utc>>, Option<f64>) {
    match c {
        Change::Fired(a) => ("firing", None, a.value),
        Change::Resolved { at, value, .. } => ("resolved", Some(*at), *value),
    }
}

/// Alertmanager's group key for a group of exactly this alert.
fn group_key(a: &Alert) -> String {
    let labels: Vec<String> = a
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    format!("{{}}:{{{}}}", labels.join(", "))
}

/// The generic webhook: Alertmanager's webhook v4 body.
pub fn webhook(receiver: &str, c: &Change, generator_url: &str) -> Value {
    let a = c.alert();
    let (status, ends, value) = status(c);
    let annotations = annotations(a, value);
    json!({
        "version": "4",
        "groupKey": group_key(a),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": a.labels,
        "commonLabels": a.labels,
        "commonAnnotations": annotations,
        "externalURL": generator_url,
        "alerts": [{
            "status": status,
            "labels": a.labels,
            "annotations": annotations,
            "startsAt": time(a.since),
            "endsAt": ends.map_or(ZERO_TIME.to_owned(), time),
            "generatorURL": generator_url,
            "fingerprint": a.fingerprint,
        }],
    })
}

/// One element of Alertmanager's `POST /api/v2/alerts`: `ends` is when it
/// resolved, or (firing) how long Alertmanager should keep it firing without
/// hearing again.
pub fn alertmanager_alert(
    a: &Alert,
    value: Option<f64>,
    ends: DateTime<Utc>,
    generator_url: &str,
) -> Value {
    json!({
        "labels": a.labels,
        "annotations": annotations(a, value),
        "startsAt": time(a.since),
        "endsAt": time(ends),
        "generatorURL": generator_url,
    })
}

/// A Slack-compatible incoming-webhook message.
pub fn slack(c: &Change, generator_url: &str) -> Value {
    let a = c.alert();
    let (status, ends, value) = status(c);
    let (word, color) = match status {
        "firing" => ("FIRING", "#d00000"),
        _ => ("RESOLVED", "#2eb886"),
    };
    let mut fields = vec![
        json!({"title": "severity", "value": a.severity, "short": true}),
        json!({"title": "value", "value": value.map_or("no data".to_owned(), number), "short": true}),
        json!({"title": "since", "value": time(a.since), "short": true}),
    ];
    if let Some(e) = ends {
        fields.push(json!({"title": "resolved", "value": time(e), "short": true}));
    }
    let mut text = a.description.clone();
    if let Some(r) = &a.runbook {
        text.push_str(&format!("\nRunbook: {r}"));
    }
    json!({
        "text": format!("[{word}] {}", a.summary),
        "attachments": [{
            "color": color,
            "title": format!("{} ({})", a.rule, a.severity),
            "title_link": generator_url,
            "text": text,
            "fields": fields,
            "footer": format!("jfmon · fingerprint {}", a.fingerprint),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            fingerprint: "c9a3b2e1d0f45678".into(),
            rule: "endpoint_error_rate".into(),
            labels: [
                ("alertname".to_owned(), "endpoint_error_rate".to_owned()),
                ("endpoint".to_owned(), "GET /api/x".to_owned()),
                ("severity".to_owned(), "critical".to_owned()),
            ]
            .into(),
            severity: "critical".into(),
            summary: "GET /api/x fails".into(),
            description: "error rate 0.5 above 0.05".into(),
            runbook: Some("restart it".into()),
            value: Some(0.5),
            bound: Bound::Threshold(0.05),
            since: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn webhook_is_alertmanager_v4() {
        let b = webhook(
            "ops",
            &Change::Fired(alert()),
            "http://h/monitoring/dashboard",
        );
        assert_eq!(b["version"], "4");
        assert_eq!(b["status"], "firing");
        assert_eq!(b["receiver"], "ops");
        let a = &b["alerts"][0];
        assert_eq!(a["status"], "firing");
        assert_eq!(a["fingerprint"], "c9a3b2e1d0f45678");
        assert_eq!(a["labels"]["alertname"], "endpoint_error_rate");
        assert_eq!(a["annotations"]["threshold"], "0.05");
        assert_eq!(a["annotations"]["value"], "0.5");
        assert_eq!(a["startsAt"], "2026-01-02T03:04:05.000Z");
        assert_eq!(a["endsAt"], ZERO_TIME);
        assert_eq!(
            b["groupKey"],
            "{}:{alertname=\"endpoint_error_rate\", endpoint=\"GET /api/x\", severity=\"critical\"}"
        );
        let at = alert().since + chrono::TimeDelta::minutes(5);
        let r = webhook(
            "ops",
            &Change::Resolved {
                alert: alert(),
                at,
                value: Some(0.01),
            },
            "",
        );
        assert_eq!(r["status"], "resolved");
        assert_eq!(r["alerts"][0]["endsAt"], "2026-01-02T03:09:05.000Z");
        assert_eq!(r["alerts"][0]["annotations"]["value"], "0.01");
    }

    #[test]
    fn slack_says_firing_or_resolved() {
        let b = slack(&Change::Fired(alert()), "http://h/");
        assert_eq!(b["text"], "[FIRING] GET /api/x fails");
        assert_eq!(b["attachments"][0]["color"], "#d00000");
        assert!(
            b["attachments"][0]["text"]
                .as_str()
                .unwrap()
                .contains("restart it")
        );
        let r = slack(
            &Change::Resolved {
                alert: alert(),
                at: alert().since,
                value: Some(0.0),
            },
            "",
        );
        assert_eq!(r["text"], "[RESOLVED] GET /api/x fails");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(1200.0), "1200");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
