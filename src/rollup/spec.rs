//! What each rollup is made of: the raw table it reads, its time column and
//! the statement that adds a set of raw rows to its per-minute table (and,
//! for API and integration calls, to the 5-minute tier in the same
//! statement). The statements aggregate server-side (nothing but counts
//! leaves the database) and merge into existing rows (`ON CONFLICT … DO
//! UPDATE`).

use crate::hist::sql_bucket_expr;

/// The raw rows a delta covers: ids in `($1, $2]` and the ids in `$3`.
/// Every statement below binds exactly these three parameters.
const ROWS: &str = "((id > $1 AND id <= $2) OR id = ANY($3::int8[]))";

/// The width of a tier slot, in minutes.
pub const TIER_MINUTES: i64 = 5;

/// The tier slot (`timestamptz`) of the column `minute`.
fn tier_slot() -> String {
    format!("date_bin('{TIER_MINUTES} minutes', minute, 'epoch'::timestamptz)")
}

/// The pairs of a minute table's `latency` column, one row per (minute row,
/// bucket): the columns `bucket`, `n`, beside the minute row's own. Read
/// once per row (`unnest`): a subscript of a TOASTed array unpacks all of it
/// each time (2.7 times slower over a day of integration minutes).
const UNNEST_LATENCY: &str = "CROSS JOIN LATERAL (SELECT bucket, n \
     FROM (SELECT u.v AS bucket, lead(u.v) OVER (ORDER BY u.o) AS n, u.o \
           FROM unnest(latency) WITH ORDINALITY AS u(v, o)) AS q WHERE q.o % 2 = 1) AS p";

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

    /// The 5-minute tier of this rollup (migration 0017), if it has one.
    pub fn tier_table(self) -> Option<&'static str> {
        match self {
            Rollup::Api => Some("jfmon_rollup_api_5m"),
            Rollup::Integrations => Some("jfmon_rollup_integrations_5m"),
            Rollup::Business | Rollup::Sessions => None,
        }
    }

    /// The statement that fills the 5-minute tier (emptied first) from the
    /// minute table: counts summed, histogram pairs merged per bucket.
    pub fn tier_rebuild_sql(self) -> Option<String> {
        let slot = tier_slot();
        let minutes = self.rollup_table();
        let (counts, buckets) = match self {
            Rollup::Api => (
                format!(
                    "SELECT {slot} AS slot, endpoint, method, status, sum(requests)::int8 AS n, \
                            sum(with_error)::int8 AS with_error FROM {minutes} GROUP BY 1, 2, 3, 4"
                ),
                format!(
                    "SELECT {slot} AS slot, endpoint, method, bucket, sum(n)::int8 AS n \
                     FROM {minutes} {UNNEST_LATENCY} GROUP BY 1, 2, 3, 4"
                ),
            ),
            Rollup::Integrations => (
                format!(
                    "SELECT {slot} AS slot, integration, sum(calls)::int8 AS calls, \
                            sum(failures)::int8 AS failures FROM {minutes} GROUP BY 1, 2"
                ),
                format!(
                    "SELECT {slot} AS slot, integration, bucket, sum(n)::int8 AS n \
                     FROM {minutes} {UNNEST_LATENCY} GROUP BY 1, 2, 3"
                ),
            ),
            Rollup::Business | Rollup::Sessions => return None,
        };
        self.tier_upsert(&counts, &buckets)
    }

    /// The statement adding to the 5-minute tier what two queries give:
    /// `counts`, by slot and key (API: per status, columns `n` and
    /// `with_error`; integrations: `calls` and `failures`), and `buckets`,
    /// by slot, key and latency bucket (column `n`).
    ///
    /// The API tier keeps one row per slot × endpoint × method, with the
    /// requests and those with an error text per status as (status, count)
    /// pairs: the views merge every status's latencies into the endpoint's,
    /// and one histogram per endpoint instead of one per status is a third
    /// fewer pairs and 27 times fewer rows on `hist_24h`.
    fn tier_upsert(self, counts: &str, buckets: &str) -> Option<String> {
        let tier = self.tier_table()?;
        let (keys, columns, cols, set) = match self {
            Rollup::Api => (
                "endpoint, method",
                "statuses, errors",
                "jfmon_pairs(ARRAY[status::int8, n] ORDER BY status) AS statuses, \
                 jfmon_pairs(ARRAY[status::int8, with_error] ORDER BY status) \
                   FILTER (WHERE with_error > 0) AS errors",
                "statuses = jfmon_hist_merge(r.statuses, excluded.statuses), \
                 errors = jfmon_hist_merge(r.errors, excluded.errors)",
            ),
            Rollup::Integrations => (
                "integration",
                "calls, failures",
                "sum(calls)::int8 AS calls, sum(failures)::int8 AS failures",
                "calls = r.calls + excluded.calls, failures = r.failures + excluded.failures",
            ),
            Rollup::Business | Rollup::Sessions => return None,
        };
        Some(format!(
            "INSERT INTO {tier} AS r (slot, {keys}, {columns}, latency) \
             SELECT slot, {keys}, {columns}, coalesce(h.latency, '{{}}') \
             FROM (SELECT slot, {keys}, {cols} FROM ({counts}) AS s GROUP BY slot, {keys}) AS c \
             LEFT JOIN (SELECT slot, {keys}, jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) AS latency \
                        FROM ({buckets}) AS b WHERE bucket IS NOT NULL GROUP BY slot, {keys}) AS h \
               USING (slot, {keys}) \
             ON CONFLICT (slot, {keys}) DO UPDATE SET {set}, \
               latency = jfmon_hist_merge(r.latency, excluded.latency)"
        ))
    }

    /// The statement adding the rows of [`ROWS`] to the rollup, and to its
    /// 5-minute tier too when `tier` (one statement, a data-modifying
    /// `WITH` over the raw rows grouped once as `g`: both or neither).
    pub fn delta_sql(self, tier: bool) -> String {
        let slot = tier_slot();
        let (g, minutes, counts, buckets) = match self {
            Rollup::Api => (
                format!(
                    "SELECT date_trunc('minute', timestamp)::timestamptz AS minute, endpoint, method, \
                            coalesce(status_code, 0) AS status, {} AS bucket, count(*) AS n, \
                            count(*) FILTER (WHERE error IS NOT NULL AND btrim(error) <> '') AS with_error \
                     FROM monitoring_api_calls WHERE timestamp IS NOT NULL AND {ROWS} \
                     GROUP BY 1, 2, 3, 4, 5",
                    sql_bucket_expr("response_time")
                ),
                "INSERT INTO jfmon_rollup_api AS r \
                   (minute, endpoint, method, status, requests, with_error, latency) \
                 SELECT minute, endpoint, method, status, sum(n)::int8, sum(with_error)::int8, \
                        jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                 FROM g GROUP BY 1, 2, 3, 4 \
                 ON CONFLICT (minute, endpoint, method, status) DO UPDATE SET \
                   requests = r.requests + excluded.requests, \
                   with_error = r.with_error + excluded.with_error, \
                   latency = jfmon_hist_merge(r.latency, excluded.latency)",
                format!(
                    "SELECT {slot} AS slot, endpoint, method, status, sum(n)::int8 AS n, \
                            sum(with_error)::int8 AS with_error FROM g GROUP BY 1, 2, 3, 4"
                ),
                format!(
                    "SELECT {slot} AS slot, endpoint, method, bucket, sum(n)::int8 AS n \
                     FROM g GROUP BY 1, 2, 3, 4"
                ),
            ),
            Rollup::Integrations => (
                format!(
                    "SELECT date_trunc('minute', created_at) AS minute, integration, {} AS bucket, \
                            count(*) AS n, count(*) FILTER (WHERE NOT success) AS failures \
                     FROM monitoring_integration_metrics WHERE {ROWS} GROUP BY 1, 2, 3",
                    sql_bucket_expr("duration_ms")
                ),
                "INSERT INTO jfmon_rollup_integrations AS r \
                   (minute, integration, calls, failures, latency) \
                 SELECT minute, integration, sum(n)::int8, sum(failures)::int8, \
                        jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                 FROM g GROUP BY 1, 2 \
                 ON CONFLICT (minute, integration) DO UPDATE SET \
                   calls = r.calls + excluded.calls, failures = r.failures + excluded.failures, \
                   latency = jfmon_hist_merge(r.latency, excluded.latency)",
                format!(
                    "SELECT {slot} AS slot, integration, sum(n)::int8 AS calls, \
                            sum(failures)::int8 AS failures FROM g GROUP BY 1, 2"
                ),
                format!(
                    "SELECT {slot} AS slot, integration, bucket, sum(n)::int8 AS n \
                     FROM g GROUP BY 1, 2, 3"
                ),
            ),
            Rollup::Business => {
                return format!(
                    "INSERT INTO jfmon_rollup_business AS r (minute, metric, observations, total) \
                     SELECT date_trunc('minute', recorded_at), metric, count(*), sum(value) \
                     FROM monitoring_business_metrics WHERE {ROWS} GROUP BY 1, 2 \
                     ON CONFLICT (minute, metric) DO UPDATE SET \
                       observations = r.observations + excluded.observations, \
                       total = r.total + excluded.total"
                );
            }
            Rollup::Sessions => {
                return format!(
                    "INSERT INTO jfmon_rollup_sessions AS r (minute, started) \
                     SELECT date_trunc('minute', started_at), count(*) \
                     FROM monitoring_sessions WHERE {ROWS} GROUP BY 1 \
                     ON CONFLICT (minute) DO UPDATE SET started = r.started + excluded.started"
                );
            }
        };
        match self.tier_upsert(&counts, &buckets) {
            Some(t) if tier => format!("WITH g AS ({g}), m AS ({minutes}) {t}"),
            _ => format!("WITH g AS ({g}) {minutes}"),
        }
    }
}
