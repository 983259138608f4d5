//! Statistics the state store computes when data arrives, and the JSON shape
//! of a snapshot (`jfmon snapshot --json`, the hub's HTTP API). Views only read
//! these; they never aggregate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::{AlertRow, HealthReport, Session};
use super::update::{EndpointKey, Minute, SourceStatus};

/// An integration's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    // Order matters: worst first, for sorting.
    Down,
    Degraded,
    Unknown,
    Healthy,
}

impl Health {
    pub fn word(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }

    /// Map a status word from elsewhere (the platform's health table or stream).
    pub fn from_word(s: &str) -> Health {
        match s.trim().to_ascii_lowercase().as_str() {
            "healthy" | "ok" | "up" => Health::Healthy,
            "degraded" | "warning" | "warn" | "slow" => Health::Degraded,
            "down" | "error" | "critical" | "failed" | "database_error" => Health::Down,
            _ => Health::Unknown,
        }
    }
}

/// Alert severity, normalised from the many spellings in the wild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    // Order matters: most severe first.
    Critical,
    High,
    Warning,
    Info,
}

impl Severity {
    pub fn from_raw(raw: Option<&str>) -> Severity {
        match raw.unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "critical" | "fatal" | "emergency" | "crit" => Severity::Critical,
            "high" | "error" | "err" | "major" => Severity::High,
            "medium" | "warning" | "warn" | "moderate" => Severity::Warning,
            _ => Severity::Info,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One minute of an endpoint, for sparklines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinutePoint {
    pub minute: Minute,
    pub requests: u64,
    pub errors: u64,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub endpoint: String,
    pub method: String,
    pub requests: u64,
    pub rps: f64,
    pub errors: u64,
    pub client_errors: u64,
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Requests by status code over the window (0 = NULL status).
    pub status_codes: BTreeMap<u16, u64>,
    pub series: Vec<MinutePoint>,
}

impl EndpointStats {
    pub fn key(&self) -> EndpointKey {
        EndpointKey::new(&self.method, &self.endpoint)
    }
}

/// One minute of an integration, for its timeline and charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationPoint {
    pub minute: Minute,
    pub calls: u64,
    pub failures: u64,
    pub status: Health,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationStats {
    pub name: String,
    pub status: Health,
    /// Why the status is what it is, in a few words.
    pub reason: String,
    /// 0..=1; None without calls in the window.
    pub success_rate: Option<f64>,
    pub calls: u64,
    pub failures: u64,
    pub calls_per_min: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Since when the current status holds (minute precision).
    pub status_since: Option<DateTime<Utc>>,
    /// What the platform itself last reported for this integration.
    pub reported: Option<HealthReport>,
    pub series: Vec<IntegrationPoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusinessStats {
    /// Totals over the window, by metric.
    pub window: BTreeMap<String, f64>,
    /// Totals since midnight in the business time zone (database clock).
    pub today: BTreeMap<String, f64>,
    /// That zone's name; absent means UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today_zone: Option<String>,
    /// Per-minute totals by metric.
    pub series: BTreeMap<String, Vec<(Minute, f64)>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionsSnapshot {
    pub active: u64,
    pub items: Vec<Session>,
    pub started_per_minute: Vec<(Minute, u64)>,
}

/// An alert as shown: the stored row plus its normalised severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    pub severity: Severity,
    pub severity_raw: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub alert_type: Option<String>,
    /// The integration the alert is about, if its context or type names one.
    pub integration: Option<String>,
    pub acknowledged: bool,
    pub acknowledged_by: Option<i64>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Context JSON with secrets masked.
    pub context: Option<serde_json::Value>,
    /// When a rule alert resolved (its context's `resolved_at`): closed then.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
}

impl AlertView {
    pub fn from_row(r: &AlertRow) -> Self {
        let integration = r
            .context
            .as_ref()
            .and_then(|c| c.get("integration"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        AlertView {
            id: r.id,
            severity: Severity::from_raw(r.severity_raw.as_deref()),
            severity_raw: r.severity_raw.clone(),
            title: r.title.clone().unwrap_or_else(|| "(untitled)".into()),
            description: r.description.clone(),
            alert_type: r.alert_type.clone(),
            integration,
            acknowledged: r.acknowledged,
            acknowledged_by: r.acknowledged_by,
            acknowledged_at: r.acknowledged_at,
            created_at: r.created_at,
            context: r.context.as_ref().map(crate::redact::mask_json),
            resolved_at: r
                .context
                .as_ref()
                .and_then(|c| c.get("resolved_at"))
                .and_then(|v| v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Open: neither acknowledged nor resolved.
    pub fn is_open(&self) -> bool {
        !self.acknowledged && self.resolved_at.is_none()
    }
}

/// Everything a poll knows, as printed by `jfmon snapshot --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    pub window_secs: u64,
    pub sources: Vec<SourceStatus>,
    pub endpoints: Vec<EndpointStats>,
    pub integrations: Vec<IntegrationStats>,
    pub sessions: SessionsSnapshot,
    pub alerts: Vec<AlertView>,
    pub open_alerts_by_severity: BTreeMap<String, u64>,
    pub business: BusinessStats,
    pub tables_missing: Vec<String>,
    /// Feature usage per service, findings and funnel (the Usage view).
    #[serde(default)]
    pub usage: super::usage::UsageStats,
}
