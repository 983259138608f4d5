//! The platform's own live stream (`/api/monitoring/ws` of the Python
//! monitoring dashboard): every few seconds a frame
//!
//! ```json
//! {"type": "system_health", "timestamp": "...", "data": {
//!    "timestamp": "...", "active_sessions": 12, "system_status": "healthy",
//!    "integration_points": {"openai": {"status": "warning", "success_rate": 91.5,
//!        "avg_duration_ms": 840, "total_validations": 120, "message": "..."}},
//!    "recent_issues": [{"type": "...", "severity": "high", "message": "...",
//!        "timestamp": "...", "source": "openai"}]}}
//! ```
//!
//! Read leniently (unknown fields ignored, wrong-typed fields dropped, sizes
//! capped) and mapped onto a [`Batch`]:
//!
//! * each integration point becomes a [`HealthReport`] with our status word
//!   (`warning` → degraded, `error` and `database_error` → down, `no_data` →
//!   unknown) and, when it counted validations, one minute bucket with its
//!   calls and failures (so success rates show as they do from the database;
//!   the stream carries no latency distribution, so no percentiles);
//! * `active_sessions` becomes the sessions count;
//! * `recent_issues` become alerts with stable synthetic ids.
//!
//! The platform's figures are totals over its own window, so each frame
//! replaces the previous one: the batch is a reset.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::model::MAX_KEYS;
use crate::model::*;

/// Issues kept from one frame (as the poller's alert LIMIT).
const MAX_ISSUES: usize = 200;
const MAX_TEXT: usize = 2000;
const MAX_NAME: usize = 200;

/// One integration point as the platform reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformIntegration {
    pub name: String,
    /// The status word exactly as sent.
    pub status_raw: String,
    /// Percent, 0..=100.
    pub success_rate: Option<f64>,
    pub avg_duration_ms: Option<f64>,
    pub total_validations: Option<u64>,
    pub message: Option<String>,
}

/// One of the platform's recent issues.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformIssue {
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    pub source: Option<String>,
}

/// A `system_health` frame's data, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemHealth {
    pub timestamp: Option<DateTime<Utc>>,
    pub active_sessions: Option<u64>,
    pub system_status: Option<String>,
    pub integrations: Vec<PlatformIntegration>,
    /// `None` when the frame had no `recent_issues` list.
    pub issues: Option<Vec<PlatformIssue>>,
}

/// Our health for the platform's status word.
pub fn map_status(raw: &str) -> Health {
    match raw.trim().to_ascii_lowercase().as_str() {
        "no_data" | "unknown" | "" => Health::Unknown,
        "database_error" => Health::Down,
        other => Health::from_word(other),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn text(v: Option<&Value>, max: usize) -> Option<String> {
    match v? {
        Value::String(s) => Some(cut(s, max)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    let x = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

fn count(v: Option<&Value>) -> Option<u64> {
    let x = number(v)?;
    (x >= 0.0).then(|| x.min(u64::MAX as f64).round() as u64)
}

/// A timestamp as the platform writes it: RFC 3339, naive ISO (taken as UTC)
/// or seconds since the epoch.
pub fn timestamp(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                        .iter()
                        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                        .map(|n| n.and_utc())
                })
        }
        Value::Number(n) => {
            let secs = n.as_f64()?;
            if !secs.is_finite() || secs.abs() > 1e11 {
                return None;
            }
            DateTime::from_timestamp_millis((secs * 1000.0) as i64)
        }
        _ => None,
    }
}

/// Read a frame's `data`; `None` when it is not an object.
pub fn from_value(data: &Value) -> Option<SystemHealth> {
    let d = data.as_object()?;
    let mut h = SystemHealth {
        timestamp: timestamp(d.get("timestamp")),
        active_sessions: count(d.get("active_sessions")),
        system_status: text(d.get("system_status"), MAX_NAME),
        ..Default::default()
    };
    if let Some(points) = d.get("integration_points").and_then(Value::as_object) {
        for (name, p) in points.iter().take(MAX_KEYS) {
            let Some(p) = p.as_object() else { continue };
            h.integrations.push(PlatformIntegration {
                name: cut(name, MAX_NAME),
                status_raw: text(p.get("status"), MAX_NAME).unwrap_or_default(),
                success_rate: number(p.get("success_rate")).map(|r| r.clamp(0.0, 100.0)),
                avg_duration_ms: number(p.get("avg_duration_ms")).filter(|d| *d >= 0.0),
                total_validations: count(p.get("total_validations")),
                message: text(p.get("message"), MAX_TEXT),
            });
        }
    }
    if let Some(list) = d.get("recent_issues").and_then(Value::as_array) {
        h.issues = Some(
            list.iter()
                .filter_map(Value::as_object)
                .take(MAX_ISSUES)
                .map(|i| PlatformIssue {
                    kind: text(i.get("type"), MAX_NAME),
                    severity: text(i.get("severity"), MAX_NAME),
                    message: text(i.get("message"), MAX_TEXT),
                    timestamp: timestamp(i.get("timestamp")),
                    source: text(i.get("source"), MAX_NAME),
                })
                .collect(),
        );
    }
    Some(h)
}

/// FNV-1a, for ids that stay the same while an issue stays in the list.
fn stable_id(parts: &[Option<&str>]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.unwrap_or("\u{0}").bytes().chain([0xff]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // 53 bits: exact in JavaScript and JSON tools too; never 0.
    ((h >> 11) as i64).max(1)
}

fn summary(p: &PlatformIntegration) -> String {
    let mut parts = vec![format!("platform: {}", p.status_raw)];
    if let Some(r) = p.success_rate {
        parts.push(format!("{r:.1}% success"));
    }
    if let Some(d) = p.avg_duration_ms {
        parts.push(format!("avg {d:.0} ms"));
    }
    if let Some(n) = p.total_validations {
        parts.push(format!("{n} validations"));
    }
    let mut s = parts.join(", ");
    if let Some(m) = p.message.as_deref().filter(|m| !m.trim().is_empty()) {
        s.push_str(" — ");
        s.push_str(m);
    }
    s
}

/// The batch for one frame received at `now` (the client's clock: the
/// platform's timestamps may be naive local time, so they are only shown).
pub fn to_batch(h: &SystemHealth, now: DateTime<Utc>) -> Batch {
    let minute = minute_of(now);
    let mut b = Batch {
        reset: true,
        now,
        ..Default::default()
    };
    let mut reports = Vec::new();
    for p in &h.integrations {
        let health = map_status(&p.status_raw);
        reports.push(HealthReport {
            integration: p.name.clone(),
            status: health.word().to_owned(),
            message: Some(summary(p)),
            checked_at: now,
        });
        if let Some(calls) = p.total_validations.filter(|n| *n > 0) {
            let rate = p.success_rate.unwrap_or(match health {
                Health::Healthy => 100.0,
                _ => 0.0,
            });
            let failures = ((calls as f64) * (100.0 - rate) / 100.0).round() as u64;
            b.integrations.push((
                minute,
                p.name.clone(),
                IntegrationMinute {
                    calls,
                    failures: failures.min(calls),
                    latency: Default::default(),
                },
            ));
        }
        if matches!(health, Health::Down | Health::Degraded) {
            let msg = p
                .message
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| format!("platform reports {}", p.status_raw));
            b.integration_tails.push((
                p.name.clone(),
                IntegrationTail {
                    last_error: Some((now, msg)),
                    ..Default::default()
                },
            ));
        }
    }
    b.health_reports = Some(reports);
    if let Some(n) = h.active_sessions {
        b.sessions = Some(SessionsView {
            active: n,
            ..Default::default()
        });
    }
    if let Some(issues) = &h.issues {
        let names: Vec<&str> = h.integrations.iter().map(|p| p.name.as_str()).collect();
        let mut items: Vec<AlertRow> = issues
            .iter()
            .map(|i| {
                let at = i.timestamp.unwrap_or(now);
                let mut ctx = serde_json::Map::new();
                ctx.insert("origin".into(), "platform stream".into());
                if let Some(s) = &i.source {
                    ctx.insert("source".into(), s.clone().into());
                    if names.contains(&s.as_str()) {
                        ctx.insert("integration".into(), s.clone().into());
                    }
                }
                let message = i.message.clone().unwrap_or_default();
                let stamp = i.timestamp.map(|t| t.to_rfc3339());
                AlertRow {
                    id: stable_id(&[
                        i.kind.as_deref(),
                        i.source.as_deref(),
                        i.message.as_deref(),
                        stamp.as_deref(),
                    ]),
                    alert_type: i.kind.clone(),
                    severity_raw: i.severity.clone(),
                    title: Some(if message.is_empty() {
                        i.kind.clone().unwrap_or_else(|| "platform issue".into())
                    } else {
                        cut(&message, 200)
                    }),
                    description: (message.len() > 200).then_some(message),
                    context: Some(crate::redact::mask_json(&Value::Object(ctx))),
                    acknowledged: false,
                    acknowledged_by: None,
                    acknowledged_at: None,
                    created_at: at,
                }
            })
            .collect();
        items.sort_by(|a, b| {
            Severity::from_raw(a.severity_raw.as_deref())
                .cmp(&Severity::from_raw(b.severity_raw.as_deref()))
                .then(b.created_at.cmp(&a.created_at))
                .then(a.id.cmp(&b.id))
        });
        items.dedup_by_key(|a| a.id);
        let mut open_by_severity = BTreeMap::new();
        for a in &items {
            *open_by_severity
                .entry(
                    Severity::from_raw(a.severity_raw.as_deref())
                        .word()
                        .to_owned(),
                )
                .or_default() += 1;
        }
        b.alerts = Some(AlertsView {
            items,
            open_by_severity,
        });
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map() {
        assert_eq!(map_status("healthy"), Health::Healthy);
        assert_eq!(map_status("warning"), Health::Degraded);
        assert_eq!(map_status("error"), Health::Down);
        assert_eq!(map_status("database_error"), Health::Down);
        assert_eq!(map_status("no_data"), Health::Unknown);
        assert_eq!(map_status("¿"), Health::Unknown);
    }

    #[test]
    fn lenient_reading() {
        let v: Value = serde_json::json!({
            "timestamp": "2025-01-02T03:04:05.123456",
            "active_sessions": "7",
            "integration_points": {
                "openai": {"status": "error", "success_rate": 40, "total_validations": 10},
                "odd": 5,
                "rag": {"status": "no_data", "success_rate": null, "extra": [1, 2]}
            },
            "recent_issues": [{"type": "integration_failure", "severity": "high",
                               "message": "openai 503", "timestamp": 1735787045, "source": "openai"}, 3]
        });
        let h = from_value(&v).unwrap();
        assert_eq!(h.active_sessions, Some(7));
        assert_eq!(h.integrations.len(), 2);
        assert_eq!(h.issues.as_ref().unwrap().len(), 1);
        assert!(h.timestamp.is_some());
        let now = Utc::now();
        let b = to_batch(&h, now);
        assert_eq!(b.integrations.len(), 1);
        assert_eq!(b.integrations[0].2.failures, 6);
        let a = &b.alerts.as_ref().unwrap().items[0];
        assert_eq!(a.context.as_ref().unwrap()["integration"], "openai");
        // Stable ids across frames.
        assert_eq!(to_batch(&h, now).alerts.unwrap().items[0].id, a.id);
    }
}
