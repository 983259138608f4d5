//! The names of the platform's seven monitoring tables, and the one message
//! shown wherever a table is missing. Names only: the SQL that reads them is
//! in [`crate::db`], which, like the views, refers to them from here.

pub const API_CALLS: &str = "monitoring_api_calls";
pub const SESSIONS: &str = "monitoring_sessions";
pub const INTEGRATION_HEALTH: &str = "monitoring_integration_health";
pub const INTEGRATION_METRICS: &str = "monitoring_integration_metrics";
pub const ALERTS: &str = "monitoring_alerts";
pub const CONTEXT: &str = "monitoring_context";
pub const BUSINESS_METRICS: &str = "monitoring_business_metrics";

/// Every table of the monitoring system.
pub const TABLES: [&str; 7] = [
    API_CALLS,
    SESSIONS,
    INTEGRATION_HEALTH,
    INTEGRATION_METRICS,
    ALERTS,
    CONTEXT,
    BUSINESS_METRICS,
];

/// The message shown wherever a table is missing.
pub fn missing_message(table: &str) -> String {
    format!("table {table} not found — run `jfmon migrate`")
}
