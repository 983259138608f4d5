//! What `jfmon prune` may delete: per table, the instant that decides a row's
//! age, what else a row must satisfy (an alert acknowledged or resolved, a
//! session over), which rollup must have counted it first, and which columns
//! an archive leaves out (`request_body`) or masks (JSON, free text).
//! `monitoring_integration_health` (one row per integration, its current
//! status) is never pruned.

use crate::rollup::Rollup;

/// A prunable raw table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Api,
    Integrations,
    Business,
    Sessions,
    Context,
    Alerts,
}

/// Columns never written to an archive (personal data).
pub const NEVER_ARCHIVED: &[&str] = &["request_body"];

/// Text columns passed through `redact::mask_text` in an archive (free text
/// that may quote a token); JSON columns are always masked.
/// `endpoint` can carry a query string with a token (`?token=…`), masked
/// everywhere else too.
pub const MASKED_TEXT: &[&str] = &["error", "description", "message", "title", "endpoint"];

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Api,
        Table::Integrations,
        Table::Business,
        Table::Sessions,
        Table::Context,
        Table::Alerts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Api => "monitoring_api_calls",
            Table::Integrations => "monitoring_integration_metrics",
            Table::Business => "monitoring_business_metrics",
            Table::Sessions => "monitoring_sessions",
            Table::Context => "monitoring_context",
            Table::Alerts => "monitoring_alerts",
        }
    }

    /// The row's instant (`timestamptz`; legacy `timestamp` columns through
    /// the session time zone, as the poller and the rollups read them). Ids
    /// follow it closely, so a batch with no row older than the cutoff ends
    /// the table.
    pub fn instant(self) -> &'static str {
        match self {
            Table::Api => "timestamp::timestamptz",
            Table::Integrations | Table::Context => "created_at",
            Table::Business => "recorded_at",
            Table::Sessions => "started_at",
            Table::Alerts => "created_at::timestamptz",
        }
    }

    /// What a row older than the cutoff (`$1`) must also satisfy.
    pub fn also(self) -> &'static str {
        match self {
            // Never an open alert: resolved by jfmon's rules (acknowledging a
            // rule alert that still fires does not close it), or, for rows
            // anything else wrote, acknowledged.
            Table::Alerts => {
                "(context ->> 'resolved_at' IS NOT NULL \
                  OR (acknowledged IS TRUE AND context ->> 'source' IS DISTINCT FROM 'jfmon'))"
            }
            // A session is over (or idle) since before the cutoff too.
            Table::Sessions => "coalesce(ended_at, last_activity_at) < $1",
            _ => "true",
        }
    }

    /// The rollup that must count a row before it may go.
    pub fn rollup(self) -> Option<Rollup> {
        match self {
            Table::Api => Some(Rollup::Api),
            Table::Integrations => Some(Rollup::Integrations),
            Table::Business => Some(Rollup::Business),
            Table::Sessions => Some(Rollup::Sessions),
            Table::Context | Table::Alerts => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_table_is_never_pruned_and_every_rollup_is_kept() {
        assert!(
            Table::ALL
                .iter()
                .all(|t| t.name() != "monitoring_integration_health")
        );
        for r in Rollup::ALL {
            assert!(
                Table::ALL
                    .iter()
                    .any(|t| t.rollup() == Some(r) && t.name() == r.table()),
                "{r:?} has no prunable table"
            );
        }
    }
}
