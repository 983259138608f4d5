//! Raw monitoring records, one type per table row. The simulator produces
//! them, the Postgres poller reads them, and the aggregation code turns them
//! into per-minute buckets. `request_body` is deliberately absent: it may hold
//! users' personal data or tokens and jfmon never reads it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One API request (`monitoring_api_calls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub endpoint: String,
    pub method: String,
    /// NULL when the handler raised.
    pub status_code: Option<i32>,
    pub response_ms: Option<i32>,
    pub user_id: Option<i32>,
    pub error: Option<String>,
}

impl ApiCall {
    /// Server error: status >= 500, or a non-empty `error` (blank means
    /// spaces only, as SQL's `btrim` sees it, so the start-up load and the
    /// incremental reads agree).
    pub fn is_error(&self) -> bool {
        self.status_code.is_some_and(|s| s >= 500)
            || self
                .error
                .as_deref()
                .is_some_and(|e| !e.trim_matches(' ').is_empty())
    }
    /// Client error (4xx) that is not also a server error.
    pub fn is_client_error(&self) -> bool {
        !self.is_error() && self.status_code.is_some_and(|s| (400..500).contains(&s))
    }
}

/// One call to an external integration (`monitoring_integration_metrics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationCall {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub integration: String,
    pub operation: Option<String>,
    pub success: bool,
    pub duration_ms: Option<i32>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub session_id: Option<String>,
}

/// A user session (`monitoring_sessions`), as last written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: String,
    pub user_id: Option<i64>,
    pub service: String,
    /// active | completed | failed | abandoned
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub credits_used: i32,
}

/// An alert (`monitoring_alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: i64,
    pub alert_type: Option<String>,
    /// The severity exactly as stored (critical, high, medium, low, error, warning, info, ...).
    pub severity_raw: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub context: Option<serde_json::Value>,
    pub acknowledged: bool,
    pub acknowledged_by: Option<i64>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One business observation (`monitoring_business_metrics`): additive values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessObs {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// revenue | credits_used | conversions | signups | ...
    pub metric: String,
    pub value: f64,
    pub unit: Option<String>,
}

/// A context record of a session (`monitoring_context`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextEvent {
    pub session_id: String,
    pub user_id: Option<i64>,
    pub context_type: String,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// What an integration reports about itself (`monitoring_integration_health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub integration: String,
    pub status: String,
    pub message: Option<String>,
    pub checked_at: DateTime<Utc>,
}
