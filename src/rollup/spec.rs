//! What each rollup is made of: the raw table it reads, its time column and
//! the statement that adds a set of raw rows to its per-minute table. The
//! statements aggregate server-side (nothing but counts leaves the database)
//! and merge into existing minutes (`ON CONFLICT … DO UPDATE`).

use crate::hist::sql_bucket_expr;

/// The raw rows a delta covers: ids in `($1, $2]` and the ids in `$3`.
/// Every statement below binds exactly these three parameters.
const ROWS: &str = "((id > $1 AND id <= $2) OR id = ANY($3::int8[]))";

/// One rolled-up raw table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    Api,
    Integrations,
    Business,
    Sessions,
}

impl Rollup {
    pub const ALL: [Rollup; 4] = [
        Rollup::Api,
        Rollup::Integrations,
        Rollup::Business,
        Rollup::Sessions,
    ];

    /// The raw table (also the key of its state row).
    pub fn table(self) -> &'static str {
        match self {
            Rollup::Api => "monitoring_api_calls",
            Rollup::Integrations => "monitoring_integration_metrics",
            Rollup::Business => "monitoring_business_metrics",
            Rollup::Sessions => "monitoring_sessions",
        }
    }

    /// The rollup table.
    pub fn rollup_table(self) -> &'static str {
        match self {
            Rollup::Api => "jfmon_rollup_api",
            Rollup::Integrations => "jfmon_rollup_integrations",
            Rollup::Business => "jfmon_rollup_business",
            Rollup::Sessions => "jfmon_rollup_sessions",
        }
    }

    /// The raw row's instant as `timestamptz` (legacy columns through the
    /// session time zone, as the poller reads them).
    pub fn instant(self) -> &'static str {
        match self {
            Rollup::Api => "timestamp::timestamptz",
            Rollup::Integrations => "created_at",
            Rollup::Business => "recorded_at",
            Rollup::Sessions => "started_at",
        }
    }

    /// The statement adding the rows of [`ROWS`] to the rollup.
    pub fn delta_sql(self) -> String {
        match self {
            Rollup::Api => format!(
                "INSERT INTO jfmon_rollup_api AS r \
                   (minute, endpoint, method, status, requests, with_error, latency) \
                 SELECT minute, endpoint, method, status, sum(n)::int8, sum(with_error)::int8, \
                        jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                 FROM (SELECT date_trunc('minute', timestamp)::timestamptz AS minute, endpoint, method, \
                              coalesce(status_code, 0) AS status, {} AS bucket, count(*) AS n, \
                              count(*) FILTER (WHERE error IS NOT NULL AND btrim(error) <> '') AS with_error \
                       FROM monitoring_api_calls WHERE timestamp IS NOT NULL AND {ROWS} \
                       GROUP BY 1, 2, 3, 4, 5) AS g \
                 GROUP BY 1, 2, 3, 4 \
                 ON CONFLICT (minute, endpoint, method, status) DO UPDATE SET \
                   requests = r.requests + excluded.requests, \
                   with_error = r.with_error + excluded.with_error, \
                   latency = jfmon_hist_merge(r.latency, excluded.latency)",
                sql_bucket_expr("response_time")
            ),
            Rollup::Integrations => format!(
                "INSERT INTO jfmon_rollup_integrations AS r \
                   (minute, integration, calls, failures, latency) \
                 SELECT minute, integration, sum(n)::int8, sum(failures)::int8, \
                        jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                 FROM (SELECT date_trunc('minute', created_at) AS minute, integration, {} AS bucket, \
                              count(*) AS n, count(*) FILTER (WHERE NOT success) AS failures \
                       FROM monitoring_integration_metrics WHERE {ROWS} GROUP BY 1, 2, 3) AS g \
                 GROUP BY 1, 2 \
                 ON CONFLICT (minute, integration) DO UPDATE SET \
                   calls = r.calls + excluded.calls, failures = r.failures + excluded.failures, \
                   latency = jfmon_hist_merge(r.latency, excluded.latency)",
                sql_bucket_expr("duration_ms")
            ),
            Rollup::Business => format!(
                "INSERT INTO jfmon_rollup_business AS r (minute, metric, observations, total) \
                 SELECT date_trunc('minute', recorded_at), metric, count(*), sum(value) \
                 FROM monitoring_business_metrics WHERE {ROWS} GROUP BY 1, 2 \
                 ON CONFLICT (minute, metric) DO UPDATE SET \
                   observations = r.observations + excluded.observations, \
                   total = r.total + excluded.total"
            ),
            Rollup::Sessions => format!(
                "INSERT INTO jfmon_rollup_sessions AS r (minute, started) \
                 SELECT date_trunc('minute', started_at), count(*) \
                 FROM monitoring_sessions WHERE {ROWS} GROUP BY 1 \
                 ON CONFLICT (minute) DO UPDATE SET started = r.started + excluded.started"
            ),
        }
    }
}
