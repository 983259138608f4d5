//! Rule alerts as rows of `monitoring_alerts`, in the platform's existing
//! shape (the table is never altered): firing inserts one row whose
//! `context` says what jfmon knows (`source: "jfmon"`, fingerprint, rule,
//! labels, value, threshold or band); resolving adds `resolved_at` and
//! `resolved_value` to that row's `context`. A fingerprint already open in
//! the table is never inserted again, so a restart or a retry cannot
//! duplicate a row; a retried write first looks for its own row
//! ([`fired_row`], [`resolved_row`]) in case the first attempt committed and
//! only its reply was lost. Rows written by anything else are never touched.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::alert::{Alert, Bound};

/// `context->>'source'` of every row jfmon writes.
pub const SOURCE: &str = "jfmon";

/// Column limits of the platform's table.
const ALERT_TYPE_MAX: usize = 100;
const SEVERITY_MAX: usize = 20;
const TITLE_MAX: usize = 255;

/// The open jfmon rows with this fingerprint (the condition in SQL, `$1`).
const OPEN_FP: &str = "context->>'source' = 'jfmon' AND context->>'fingerprint' = $1 \
                       AND context->>'resolved_at' IS NULL";

/// The `context` written for a firing alert.
pub fn context(a: &Alert) -> Value {
    let mut c = json!({
        "source": SOURCE,
        "fingerprint": a.fingerprint,
        "rule": a.rule,
        "labels": a.labels,
        "value": a.value.map_or(Value::Null, finite),
        "since": a.since.to_rfc3339(),
    });
    let m = c.as_object_mut().expect("an object");
    match &a.bound {
        Bound::Threshold(t) => {
            m.insert("threshold".into(), finite(*t));
        }
        Bound::Band { low, high } => {
            m.insert(
                "band".into(),
                json!({"low": finite(*low), "high": finite(*high)}),
            );
        }
        Bound::None => {}
    }
    // The names the Alerts pane already understands.
    for k in ["integration", "endpoint"] {
        if let Some(v) = a.labels.get(k) {
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    if let Some(r) = &a.runbook {
        m.insert("runbook".into(), Value::String(r.clone()));
    }
    c
}

fn finite(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Write a firing alert: one row, unless its fingerprint is already open.
/// Returns the new row's id (`None`: it was open already).
pub async fn fire(conn: &mut PgConnection, a: &Alert) -> Result<Option<i64>, sqlx::Error> {
    let a = a.clone().masked();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO monitoring_alerts (alert_type, severity, title, description, context) \
         SELECT $2, $3, $4, $5, $6 \
         WHERE NOT EXISTS (SELECT 1 FROM monitoring_alerts WHERE {OPEN_FP}) \
         RETURNING id::int8"
    )))
    .bind(&a.fingerprint)
    .bind(cut(&a.rule, ALERT_TYPE_MAX))
    .bind(cut(&a.severity, SEVERITY_MAX))
    .bind(cut(&a.summary, TITLE_MAX))
    .bind(&a.description)
    .bind(context(&a))
    .fetch_optional(conn)
    .await
}

/// Whether the table holds the row of this very firing of `a` (same
/// fingerprint, same `since`), open or not: a write whose reply was lost
/// (the connection dropped after COMMIT) is found by this.
pub async fn fired_row(conn: &mut PgConnection, a: &Alert) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM monitoring_alerts \
         WHERE context->>'source' = 'jfmon' AND context->>'fingerprint' = $1 \
           AND context->>'since' = $2)",
    )
    .bind(&a.fingerprint)
    .bind(a.since.to_rfc3339())
    .fetch_one(conn)
    .await
}

/// Whether the row of `fingerprint` holds this very resolution (resolved
/// at `at`): a resolution whose reply was lost is found by this.
pub async fn resolved_row(
    conn: &mut PgConnection,
    fingerprint: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM monitoring_alerts \
         WHERE context->>'source' = 'jfmon' AND context->>'fingerprint' = $1 \
           AND context->>'resolved_at' = $2)",
    )
    .bind(fingerprint)
    .bind(at.to_rfc3339())
    .fetch_one(conn)
    .await
}

/// Write a resolution into the open row of `fingerprint`. Returns whether a
/// row was open (`false`: already resolved, or never written).
pub async fn resolve(
    conn: &mut PgConnection,
    fingerprint: &str,
    at: DateTime<Utc>,
    value: Option<f64>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE monitoring_alerts \
         SET context = context || jsonb_build_object('resolved_at', $2::text, 'resolved_value', $3::jsonb) \
         WHERE {OPEN_FP}"
    )))
    .bind(fingerprint)
    .bind(at.to_rfc3339())
    .bind(value.map_or(Value::Null, finite))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// A jfmon alert the table holds open: what a restarted hub resumes from.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    pub id: i64,
    pub fingerprint: String,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub severity: String,
    pub summary: String,
    pub value: Option<f64>,
    /// When it started firing (the row's `since`, else its creation).
    pub since: DateTime<Utc>,
}

/// One open row as read: id, context, severity, title, created.
type OpenRow = (i64, Value, Option<String>, Option<String>, DateTime<Utc>);

/// Every jfmon alert still open in the table, oldest first.
pub async fn open(conn: &mut PgConnection) -> Result<Vec<OpenAlert>, sqlx::Error> {
    let rows: Vec<OpenRow> = sqlx::query_as(
        "SELECT id::int8, context, severity, title, \
                coalesce(created_at, now()::timestamp)::timestamptz \
         FROM monitoring_alerts \
         WHERE context->>'source' = 'jfmon' AND context->>'resolved_at' IS NULL \
           AND context->>'fingerprint' IS NOT NULL \
         ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, c, severity, title, created)| {
            let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            OpenAlert {
                id,
                fingerprint: text("fingerprint"),
                rule: text("rule"),
                labels: c
                    .get("labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default(),
                severity: severity.unwrap_or_default(),
                summary: title.unwrap_or_default(),
                value: c.get("value").and_then(Value::as_f64),
                since: c
                    .get("since")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map_or(created, |t| t.with_timezone(&Utc)),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_has_what_the_issue_asks() {
        let a = Alert {
            fingerprint: "fp".into(),
            rule: "integration_down".into(),
            labels: [
                ("alertname".into(), "integration_down".into()),
                ("integration".into(), "openai".into()),
            ]
            .into(),
            severity: "critical".into(),
            summary: "s".into(),
            description: "d".into(),
            runbook: None,
            value: Some(0.25),
            bound: Bound::Band {
                low: 1.0,
                high: f64::INFINITY,
            },
            since: DateTime::<Utc>::UNIX_EPOCH,
        };
        let c = context(&a);
        assert_eq!(c["source"], "jfmon");
        assert_eq!(c["fingerprint"], "fp");
        assert_eq!(c["rule"], "integration_down");
        assert_eq!(c["labels"]["integration"], "openai");
        assert_eq!(c["integration"], "openai");
        assert_eq!(c["value"], 0.25);
        assert_eq!(c["band"]["low"], 1.0);
        assert!(c["band"]["high"].is_null());
        assert!(c.get("threshold").is_none());
    }

    #[test]
    fn cut_counts_characters() {
        assert_eq!(cut("héllo", 2), "hé");
        assert_eq!(cut("ab", 5), "ab");
    }
}
