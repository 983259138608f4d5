//! How long a table's ids last: the id column's type and its sequence's
//! maximum (a `SERIAL` is a 32-bit `integer`: 2,147,483,647 ids), the last
//! id handed out, and the rate ids were taken at over the last hour, from
//! the newest row and the oldest row of that hour (two index lookups; ids
//! lost to rolled-back inserts count too, as they should).

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool};

/// Rate measured over at most this long a stretch.
const RATE_OVER: &str = "1 hour";
/// A rate needs rows at least this far apart (seconds).
const MIN_SPAN_SECS: f64 = 60.0;

/// Where a table's ids stand.
#[derive(Debug, Clone, PartialEq)]
pub struct IdSpace {
    pub table: &'static str,
    /// `integer` or `bigint`.
    pub column_type: String,
    /// The sequence behind the id, if any (`public.monitoring_api_calls_id_seq`).
    pub sequence: Option<String>,
    /// The largest id the column and its sequence allow.
    pub max: i64,
    /// The last id handed out.
    pub last: i64,
    /// Ids taken per second lately (`None`: too few rows to say).
    pub per_sec: Option<f64>,
}

impl IdSpace {
    /// Seconds until the ids run out at the current rate.
    pub fn secs_left(&self) -> Option<f64> {
        let rate = self.per_sec.filter(|r| *r > 0.0)?;
        Some((self.max - self.last).max(0) as f64 / rate)
    }

    /// The statements that widen the id to 64 bits.
    pub fn how_to_convert(&self) -> String {
        let mut s = format!("ALTER TABLE {} ALTER COLUMN id TYPE bigint;", self.table);
        if let Some(seq) = &self.sequence {
            s.push_str(&format!(" ALTER SEQUENCE {seq} AS bigint;"));
        }
        s
    }
}

/// Where `table`'s ids stand (`None` when the table does not exist).
/// `instant` is the row's time as `timestamptz`-comparable column.
pub async fn id_space(
    pool: &PgPool,
    table: &'static str,
    instant: &str,
) -> Result<Option<IdSpace>, sqlx::Error> {
    let meta: Option<(String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT format_type(a.atttypid, NULL), pg_get_serial_sequence(quote_ident($1), 'id'), \
                (SELECT s.seqmax FROM pg_sequence s \
                  WHERE s.seqrelid = to_regclass(pg_get_serial_sequence(quote_ident($1), 'id'))) \
         FROM pg_attribute a \
         WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attname = 'id' AND NOT a.attisdropped",
    )
    .bind(table)
    .fetch_optional(pool)
    .await?;
    let Some((column_type, sequence, seqmax)) = meta else {
        return Ok(None);
    };
    let type_max = match column_type.as_str() {
        "smallint" => i16::MAX as i64,
        "integer" => i32::MAX as i64,
        _ => i64::MAX,
    };
    let max = seqmax.map_or(type_max, |m| m.min(type_max));
    let last_seq: Option<i64> = match &sequence {
        // `last_value` of a sequence never used is its start, not an id.
        Some(seq) => sqlx::query_scalar(
            "SELECT last_value FROM pg_sequences \
             WHERE format('%I.%I', schemaname, sequencename)::regclass = $1::regclass",
        )
        .bind(seq)
        .fetch_optional(pool)
        .await?
        .flatten(),
        None => None,
    };
    let newest: Option<(i64, DateTime<Utc>)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT t.id::int8, {instant}::timestamptz FROM {table} AS t \
         WHERE {instant} IS NOT NULL ORDER BY t.id DESC LIMIT 1"
    )))
    .fetch_optional(pool)
    .await?;
    let oldest: Option<(i64, DateTime<Utc>)> = match newest {
        None => None,
        Some((_, at)) => {
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT id::int8, {instant}::timestamptz FROM {table} \
             WHERE {instant} >= $1::timestamptz - interval '{RATE_OVER}' \
             ORDER BY {instant} LIMIT 1"
            )))
            .bind(at)
            .fetch_optional(pool)
            .await?
        }
    };
    let per_sec = match (oldest, newest) {
        (Some((id0, t0)), Some((id1, t1))) => {
            let span = (t1 - t0).as_seconds_f64();
            (span >= MIN_SPAN_SECS && id1 > id0).then(|| (id1 - id0) as f64 / span)
        }
        _ => None,
    };
    let last = last_seq
        .into_iter()
        .chain(newest.map(|(id, _)| id))
        .max()
        .unwrap_or(0);
    Ok(Some(IdSpace {
        table,
        column_type,
        sequence,
        max,
        last,
        per_sec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(last: i64, per_sec: Option<f64>) -> IdSpace {
        IdSpace {
            table: "monitoring_api_calls",
            column_type: "integer".into(),
            sequence: Some("public.monitoring_api_calls_id_seq".into()),
            max: i32::MAX as i64,
            last,
            per_sec,
        }
    }

    #[test]
    fn time_left_is_the_ids_left_over_the_rate() {
        // 50,000 calls/s exhaust a fresh 32-bit id in about 12 hours.
        let h = space(0, Some(50_000.0)).secs_left().unwrap() / 3600.0;
        assert!((11.9..12.0).contains(&h), "{h}");
        assert_eq!(space(i32::MAX as i64, Some(1.0)).secs_left(), Some(0.0));
        assert_eq!(space(5, None).secs_left(), None);
    }

    #[test]
    fn conversion_names_the_column_and_the_sequence() {
        assert_eq!(
            space(0, None).how_to_convert(),
            "ALTER TABLE monitoring_api_calls ALTER COLUMN id TYPE bigint; \
             ALTER SEQUENCE public.monitoring_api_calls_id_seq AS bigint;"
        );
    }
}
