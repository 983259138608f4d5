//! Reading the tailed tables' rows into the domain records: the column lists
//! and the row mappers shared by the start-up load and the incremental reads.
//! A legacy row without a `timestamp` is dated at the epoch: outside every
//! window, as the load's `timestamp >= …` excludes it, and never a decode
//! error that would stop the poller.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::model::{ApiCall, BusinessObs, IntegrationCall};

/// The API calls' columns. Their `SERIAL` id is read as `int8` under its
/// own name, `id64`: named `id`, the cast would be what a bare
/// `ORDER BY id` sorts by, which no index serves (the query then reads and
/// sorts every matching row instead of walking the primary key).
pub(super) const API_COLS: &str = "id::int8 AS id64, coalesce(timestamp, 'epoch')::timestamptz AS at, endpoint, method, status_code, \
     response_time, user_id, left(error, 500) AS error";
pub(super) const INTEGRATION_COLS: &str = "id, created_at AS at, integration, operation, success, duration_ms, \
     status_code, left(error, 500) AS error, session_id";
pub(super) const BUSINESS_COLS: &str = "id, recorded_at AS at, metric, value, unit";

pub(super) fn to_rows<T>(
    rows: Vec<PgRow>,
    f: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(f).collect()
}

pub(super) trait HasId {
    fn id(&self) -> i64;
}
impl HasId for ApiCall {
    fn id(&self) -> i64 {
        self.id
    }
}
impl HasId for IntegrationCall {
    fn id(&self) -> i64 {
        self.id
    }
}
impl HasId for BusinessObs {
    fn id(&self) -> i64 {
        self.id
    }
}

pub(super) fn api_call(r: &PgRow) -> Result<ApiCall, sqlx::Error> {
    Ok(ApiCall {
        id: r.try_get("id64")?,
        at: r.try_get("at")?,
        endpoint: r.try_get("endpoint")?,
        method: r.try_get("method")?,
        status_code: r.try_get("status_code")?,
        response_ms: r.try_get("response_time")?,
        user_id: r.try_get("user_id")?,
        error: r.try_get("error")?,
    })
}

pub(super) fn integration_call(r: &PgRow) -> Result<IntegrationCall, sqlx::Error> {
    Ok(IntegrationCall {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        integration: r.try_get("integration")?,
        operation: r.try_get("operation")?,
        success: r.try_get("success")?,
        duration_ms: r.try_get("duration_ms")?,
        status_code: r.try_get("status_code")?,
        error: r.try_get("error")?,
        session_id: r.try_get("session_id")?,
    })
}

pub(super) fn business_obs(r: &PgRow) -> Result<BusinessObs, sqlx::Error> {
    Ok(BusinessObs {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        metric: r.try_get("metric")?,
        value: r.try_get("value")?,
        unit: r.try_get("unit")?,
    })
}
