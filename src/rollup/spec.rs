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

/// The tier slot (`timestamptz`) of a `minute` expression.
fn tier_slot(minute: &str) -> String {
    format!("date_bin('{TIER_MINUTES} minutes', {minute}, 'epoch'::timestamptz)")
}

/// The API or integration delta of `r`: the raw rows of [`ROWS`] grouped
/// by minute, key and latency bucket (`rows`, named `g`), upserted per
/// minute and, with `tier`, per 5-minute slot in the same statement (a
/// data-modifying `WITH`). `upsert` takes (table, its time column, the
/// expression over `g` for it).
fn with_tier(
    r: Rollup,
    rows: &str,
    upsert: &dyn Fn(&str, &str, &str) -> String,
    tier: bool,
) -> String {
    let minutes = upsert(r.rollup_table(), "minute", "minute");
    match r.tier_table() {
        Some(t) if tier => format!(
            "WITH g AS ({rows}), m AS ({minutes}) {}",
            upsert(t, "slot", &format!("{} AS slot", tier_slot("minute")))
        ),
        _ => format!("WITH g AS ({rows}) {minutes}"),
    }
}

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

    /// The statement that refills the 5-minute tier (emptied first) from
    /// the minute table: counts summed, histogram pairs merged per bucket.
    pub fn tier_rebuild_sql(self) -> Option<String> {
        let (keys, sums) = match self {
            Rollup::Api => ("endpoint, method, status", ["requests", "with_error"]),
            Rollup::Integrations => ("integration", ["calls", "failures"]),
            Rollup::Business | Rollup::Sessions => return None,
        };
        let (tier, minutes) = (self.tier_table()?, self.rollup_table());
        let slot = tier_slot("minute");
        let [a, b] = sums;
        Some(format!(
            "INSERT INTO {tier} (slot, {keys}, {a}, {b}, latency) \
             SELECT slot, {keys}, c.{a}, c.{b}, coalesce(h.latency, '{{}}') \
             FROM (SELECT {slot} AS slot, {keys}, sum({a})::int8 AS {a}, sum({b})::int8 AS {b} \
                   FROM {minutes} GROUP BY slot, {keys}) AS c \
             LEFT JOIN (SELECT slot, {keys}, jfmon_pairs(ARRAY[k, n] ORDER BY k) AS latency \
                        FROM (SELECT {slot} AS slot, {keys}, latency[i] AS k, sum(latency[i + 1])::int8 AS n \
                              FROM {minutes}, generate_series(1, coalesce(array_length(latency, 1), 0), 2) AS i \
                              GROUP BY slot, {keys}, k) AS p \
                        GROUP BY slot, {keys}) AS h USING (slot, {keys})"
        ))
    }

    /// The statement adding the rows of [`ROWS`] to the rollup, and to its
    /// 5-minute tier too when `tier` (one statement: both or neither).
    pub fn delta_sql(self, tier: bool) -> String {
        match self {
            Rollup::Api => {
                let rows = format!(
                    "SELECT date_trunc('minute', timestamp)::timestamptz AS minute, endpoint, method, \
                            coalesce(status_code, 0) AS status, {} AS bucket, count(*) AS n, \
                            count(*) FILTER (WHERE error IS NOT NULL AND btrim(error) <> '') AS with_error \
                     FROM monitoring_api_calls WHERE timestamp IS NOT NULL AND {ROWS} \
                     GROUP BY 1, 2, 3, 4, 5",
                    sql_bucket_expr("response_time")
                );
                let upsert = |table: &str, at: &str, key: &str| {
                    format!(
                        "INSERT INTO {table} AS r ({at}, endpoint, method, status, requests, with_error, latency) \
                         SELECT {at}, endpoint, method, status, sum(n)::int8, sum(with_error)::int8, \
                                jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                         FROM (SELECT {key}, endpoint, method, status, bucket, sum(n)::int8 AS n, \
                                      sum(with_error)::int8 AS with_error FROM g GROUP BY 1, 2, 3, 4, 5) AS s \
                         GROUP BY 1, 2, 3, 4 \
                         ON CONFLICT ({at}, endpoint, method, status) DO UPDATE SET \
                           requests = r.requests + excluded.requests, \
                           with_error = r.with_error + excluded.with_error, \
                           latency = jfmon_hist_merge(r.latency, excluded.latency)"
                    )
                };
                with_tier(self, &rows, &upsert, tier)
            }
            Rollup::Integrations => {
                let rows = format!(
                    "SELECT date_trunc('minute', created_at) AS minute, integration, {} AS bucket, \
                            count(*) AS n, count(*) FILTER (WHERE NOT success) AS failures \
                     FROM monitoring_integration_metrics WHERE {ROWS} GROUP BY 1, 2, 3",
                    sql_bucket_expr("duration_ms")
                );
                let upsert = |table: &str, at: &str, key: &str| {
                    format!(
                        "INSERT INTO {table} AS r ({at}, integration, calls, failures, latency) \
                         SELECT {at}, integration, sum(n)::int8, sum(failures)::int8, \
                                jfmon_pairs(ARRAY[bucket::int8, n] ORDER BY bucket) FILTER (WHERE bucket IS NOT NULL) \
                         FROM (SELECT {key}, integration, bucket, sum(n)::int8 AS n, sum(failures)::int8 AS failures \
                               FROM g GROUP BY 1, 2, 3) AS s \
                         GROUP BY 1, 2 \
                         ON CONFLICT ({at}, integration) DO UPDATE SET \
                           calls = r.calls + excluded.calls, failures = r.failures + excluded.failures, \
                           latency = jfmon_hist_merge(r.latency, excluded.latency)"
                    )
                };
                with_tier(self, &rows, &upsert, tier)
            }
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
