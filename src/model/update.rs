//! What sources send to the state store over the bounded channel. A source is
//! a PostgreSQL poller, a hub stream or the built-in simulator; the store cannot
//! tell them apart. Time series travel as per-minute buckets, so a batch of new
//! rows and a whole window's baseline have the same shape and merge the same way.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::{AlertRow, ApiCall, HealthReport, IntegrationCall, Session};
use crate::hist::SparseHist;

/// Minutes since the Unix epoch (`timestamp / 60`).
pub type Minute = i64;

pub fn minute_of(t: DateTime<Utc>) -> Minute {
    t.timestamp().div_euclid(60)
}

pub fn minute_start(m: Minute) -> DateTime<Utc> {
    DateTime::from_timestamp(m * 60, 0).unwrap_or_default()
}

/// Minutes per slot for a window of `window_secs`: the resolution at which
/// the store keeps, and every source delivers, a window's history. Chosen so
/// that no window up to 30 days holds more than 360 slots per key (memory and
/// the per-batch recomputation do not grow with the window); each step
/// divides the next, so a coarser grid merges a finer one exactly.
pub fn slot_minutes(window_secs: u64) -> i64 {
    const HOUR: u64 = 3600;
    match window_secs {
        s if s <= 6 * HOUR => 1,
        s if s <= 24 * HOUR => 5,
        s if s <= 7 * 24 * HOUR => 30,
        _ => 120,
    }
}

/// The start of the slot of `step` minutes that holds minute `m` (slots are
/// aligned on the Unix epoch, in UTC).
pub fn slot_of(m: Minute, step: i64) -> Minute {
    m - m.rem_euclid(step.max(1))
}

/// The first minute of the window of `window_secs` ending at `now`: the
/// window is that many whole minutes before the current one, plus the current
/// (partial) minute, so it never holds less than `window_secs` of data, and
/// it starts on a slot boundary ([`slot_minutes`]), so that a long window is
/// exactly a whole number of slots. Every source and the store use this one
/// definition.
pub fn window_first_minute(now: DateTime<Utc>, window_secs: u64) -> Minute {
    slot_of(
        minute_of(now) - window_secs.max(60).div_ceil(60) as i64,
        slot_minutes(window_secs),
    )
}

/// The slot starts of the window ending at `now`, oldest first: the points
/// of every series over the window.
pub fn window_slots(now: DateTime<Utc>, window_secs: u64) -> impl Iterator<Item = Minute> {
    let step = slot_minutes(window_secs);
    let last = slot_of(minute_of(now), step);
    (window_first_minute(now, window_secs)..=last).step_by(step as usize)
}

/// How many seconds the window ending at `now` actually covers (what rates
/// are divided by).
pub fn window_coverage_secs(now: DateTime<Utc>, window_secs: u64) -> f64 {
    let start = minute_start(window_first_minute(now, window_secs));
    ((now - start).num_milliseconds() as f64 / 1000.0).max(1.0)
}

/// An API endpoint as the platform records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointKey {
    pub endpoint: String,
    pub method: String,
}

impl EndpointKey {
    pub fn new(method: &str, endpoint: &str) -> Self {
        EndpointKey {
            endpoint: endpoint.to_string(),
            method: method.to_string(),
        }
    }
}

/// `POST /api/x`: how the dashboard and the snapshot name an endpoint.
impl std::fmt::Display for EndpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.endpoint)
    }
}

/// The inverse of `Display`: `POST /api/x`; text without a space is an
/// endpoint with no method.
impl std::str::FromStr for EndpointKey {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.split_once(' ') {
            Some((m, e)) => EndpointKey::new(m, e),
            None => EndpointKey::new("", s),
        })
    }
}

/// One minute of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiMinute {
    pub requests: u64,
    /// status >= 500 or a non-empty error
    pub errors: u64,
    /// 4xx
    pub client_errors: u64,
    /// Requests by status code; 0 stands for NULL (the handler raised).
    pub status: BTreeMap<u16, u64>,
    pub latency: SparseHist,
}

impl ApiMinute {
    /// Add `n` requests of one status code, `with_error` of them with an
    /// error text (aggregated rows: a start-up load or a rollup).
    pub fn add_counts(&mut self, status: i32, n: u64, with_error: u64) {
        self.requests += n;
        let errors = if status >= 500 { n } else { with_error };
        self.errors += errors;
        if (400..500).contains(&status) {
            self.client_errors += n - errors;
        }
        *self
            .status
            .entry(status.clamp(0, u16::MAX as i32) as u16)
            .or_default() += n;
    }

    pub fn record(&mut self, c: &ApiCall) {
        self.requests += 1;
        self.errors += c.is_error() as u64;
        self.client_errors += c.is_client_error() as u64;
        let code = c.status_code.unwrap_or(0).clamp(0, u16::MAX as i32) as u16;
        *self.status.entry(code).or_default() += 1;
        if let Some(ms) = c.response_ms {
            self.latency.record(ms as i64);
        }
    }

    pub fn merge(&mut self, o: &ApiMinute) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.client_errors += o.client_errors;
        for (k, v) in &o.status {
            *self.status.entry(*k).or_default() += v;
        }
        self.latency.merge(&o.latency);
    }
}

/// One minute of one integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationMinute {
    pub calls: u64,
    pub failures: u64,
    pub latency: SparseHist,
}

impl IntegrationMinute {
    pub fn record(&mut self, c: &IntegrationCall) {
        self.calls += 1;
        self.failures += (!c.success) as u64;
        if let Some(ms) = c.duration_ms {
            self.latency.record(ms as i64);
        }
    }

    pub fn merge(&mut self, o: &IntegrationMinute) {
        self.calls += o.calls;
        self.failures += o.failures;
        self.latency.merge(&o.latency);
    }
}

/// The latest calls of one integration, summarised so that a newer tail merges
/// onto an older one: `older.then(newer)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationTail {
    pub last_error: Option<(DateTime<Utc>, String)>,
    pub last_success: Option<DateTime<Utc>>,
    /// Failures after the last success in this tail.
    pub trailing_failures: u32,
    /// Whether the tail holds any success (if not, failures add up across tails).
    pub any_success: bool,
}

impl IntegrationTail {
    /// Fold one call (in commit order) into the tail.
    pub fn record(&mut self, c: &IntegrationCall) {
        if c.success {
            self.any_success = true;
            self.trailing_failures = 0;
            self.last_success = self.last_success.max(Some(c.at));
        } else {
            self.trailing_failures = self.trailing_failures.saturating_add(1);
            let msg = c
                .error
                .clone()
                .filter(|e| !e.trim_matches(' ').is_empty())
                .unwrap_or_else(|| match c.status_code {
                    Some(s) => format!("HTTP {s}"),
                    None => "failed (no error text)".into(),
                });
            if self.last_error.as_ref().is_none_or(|(t, _)| c.at >= *t) {
                self.last_error = Some((c.at, msg));
            }
        }
    }

    /// Prepend an older tail (a long window's earlier part, loaded after
    /// the first screen).
    pub fn after(&mut self, older: &IntegrationTail) {
        if !self.any_success {
            self.trailing_failures = self
                .trailing_failures
                .saturating_add(older.trailing_failures);
            self.any_success = older.any_success;
        }
        self.last_success = self.last_success.max(older.last_success);
        if let Some((t, m)) = &older.last_error
            && self.last_error.as_ref().is_none_or(|(cur, _)| t > cur)
        {
            self.last_error = Some((*t, m.clone()));
        }
    }

    /// Whether an older tail could change this one: no success seen yet
    /// (the failures may go on further back), or no error.
    pub fn wants_older(&self) -> bool {
        !self.any_success || self.last_error.is_none()
    }

    /// Append a newer tail.
    pub fn then(&mut self, newer: &IntegrationTail) {
        if newer.any_success {
            self.trailing_failures = newer.trailing_failures;
            self.any_success = true;
        } else {
            self.trailing_failures = self
                .trailing_failures
                .saturating_add(newer.trailing_failures);
        }
        self.last_success = self.last_success.max(newer.last_success);
        if let Some((t, m)) = &newer.last_error
            && self.last_error.as_ref().is_none_or(|(old, _)| t >= old)
        {
            self.last_error = Some((*t, m.clone()));
        }
    }
}

/// Active sessions, replaced wholesale on every poll (a small table).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionsView {
    /// Sessions active and seen within the idle timeout.
    pub active: u64,
    /// The newest active sessions (bounded).
    pub items: Vec<Session>,
    /// Sessions started per minute over the window.
    pub started_per_minute: Vec<(Minute, u64)>,
}

/// Alerts, replaced wholesale on every poll: unacknowledged first, then by
/// severity and age (bounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertsView {
    pub items: Vec<AlertRow>,
    /// Open alerts (neither acknowledged nor resolved) by normalised severity (all of them, not just `items`).
    pub open_by_severity: BTreeMap<String, u64>,
}

/// Business totals since the start of the current day: midnight in the
/// business time zone (`business_timezone`, default UTC), by the database
/// clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Today {
    pub day_start: DateTime<Utc>,
    pub totals: BTreeMap<String, f64>,
    /// The next midnight in the business time zone (23 or 25 hours away on
    /// a daylight-saving day); absent from older senders, which meant the
    /// next UTC midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_end: Option<DateTime<Utc>>,
    /// The business time zone's name, for the label; absent means UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

impl Today {
    /// The zone "today" is counted in, as the business strip names it.
    pub fn zone_label(&self) -> &str {
        self.zone.as_deref().unwrap_or("UTC")
    }
}

/// Which source a batch or status belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceId {
    Postgres,
    Stream,
    Demo,
}

impl SourceId {
    pub fn label(self) -> &'static str {
        match self {
            SourceId::Postgres => "postgres",
            SourceId::Stream => "stream",
            SourceId::Demo => "demo",
        }
    }
}

/// A source's health as it reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub id: SourceId,
    pub up: bool,
    /// When the source last delivered data (its own clock).
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub poll_ms: Option<f64>,
    /// Where it reads from, for the header ("db.example:5432/jyoti"); never a password.
    pub target: String,
    /// Frames or rows skipped as malformed, oversized or unknown.
    pub skipped: u64,
    /// Where the window's history was loaded from ("rollups" or "raw rows");
    /// `None` for sources without a database history.
    #[serde(default)]
    pub history: Option<String>,
}

impl SourceStatus {
    pub fn new(id: SourceId, target: impl Into<String>) -> Self {
        Self {
            id,
            up: false,
            last_ok: None,
            last_error: None,
            poll_ms: None,
            target: target.into(),
            skipped: 0,
            history: None,
        }
    }
}

/// One delivery of data. With `reset` it replaces everything the store holds
/// (start-up, window change, resynchronisation); without, the minute buckets
/// merge into what is there and the `Option` parts replace theirs when present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub reset: bool,
    /// Older minutes of the window, loaded after the first screen
    /// ([`crate::db::history`]): today's totals do not take them from
    /// `business` (the part of today they hold comes as `today_older`), and
    /// their usage minutes are added to what is held (they are older than
    /// anything a live poll replaces).
    #[serde(default)]
    pub past: bool,
    /// The source's clock when the batch was taken (database `now()`).
    pub now: DateTime<Utc>,
    pub window_secs: u64,
    pub api: Vec<(Minute, EndpointKey, ApiMinute)>,
    pub integrations: Vec<(Minute, String, IntegrationMinute)>,
    pub integration_tails: Vec<(String, IntegrationTail)>,
    /// Recent failing integration calls (for the drill-down), oldest first.
    pub integration_errors: Vec<IntegrationCall>,
    /// Recent failing API calls, oldest first.
    pub api_errors: Vec<ApiCall>,
    /// Recent slow API calls (the slowest of each batch), oldest first.
    pub api_slow: Vec<ApiCall>,
    pub business: Vec<(Minute, String, f64)>,
    pub today: Option<Today>,
    /// Today's totals over a part of today older than what `today` counted
    /// (a progressive load's first screen counts today from its first slice
    /// on; its history job sends the rest): added to today's totals when
    /// the day is the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today_older: Option<Today>,
    pub sessions: Option<SessionsView>,
    pub alerts: Option<AlertsView>,
    pub health_reports: Option<Vec<HealthReport>>,
    pub tables_missing: Option<Vec<String>>,
    /// Sessions per service and minute (replacing the store's from `from` on).
    #[serde(default)]
    pub usage: Option<super::usage::UsageUpdate>,
    /// The rollups' past windows (replacing what the store holds).
    #[serde(default)]
    pub usage_history: Option<super::usage::UsageHistory>,
}

/// A message from a source to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Update {
    Batch(Box<Batch>),
    Source(SourceStatus),
    /// The current rule alerts (replacing the previous set), judged by
    /// the dashboard itself or by a hub.
    RuleAlerts(Box<super::rule_alerts::RuleAlerts>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_windows_hold_a_bounded_number_of_slots() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        for days in [1u64, 2, 7, 8, 30] {
            let w = days * 86_400;
            let step = slot_minutes(w);
            let first = window_first_minute(now, w);
            assert_eq!(first % step, 0, "{days} d starts on a slot boundary");
            // Never less than the window asked for.
            assert!(minute_of(now) - first >= (w / 60) as i64);
            let n = window_slots(now, w).count();
            assert!(n <= 362, "{days} d: {n} slots");
        }
        // Short windows keep minutes.
        assert_eq!(slot_minutes(6 * 3600), 1);
        assert_eq!(window_slots(now, 900).count(), 16);
        // Each step divides the next: a coarser grid merges a finer one.
        let steps = [3600u64, 86_400, 7 * 86_400, 30 * 86_400].map(slot_minutes);
        assert!(steps.windows(2).all(|p| p[1] % p[0] == 0), "{steps:?}");
    }

    #[test]
    fn endpoint_keys_read_back_what_they_print() {
        let k = EndpointKey::new("POST", "/api/spiritual/guidance");
        assert_eq!(k.to_string(), "POST /api/spiritual/guidance");
        assert_eq!(k.to_string().parse::<EndpointKey>(), Ok(k));
        // A path with spaces keeps them; no method keeps the whole text.
        let spaced = EndpointKey::new("GET", "/a b");
        assert_eq!(spaced.to_string().parse::<EndpointKey>(), Ok(spaced));
        assert_eq!("/x".parse(), Ok(EndpointKey::new("", "/x")));
    }
}
