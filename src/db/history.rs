//! The rest of a long window, loaded after the first screen when no rollups
//! serve it: the poller's load reads only the most recent slice and hands
//! back a [`HistoryJob`] for the older part. The job runs as its own task,
//! on its own pooled connection, so live polling never waits for it; it
//! reads the window backwards in slices (each a streamed server-side
//! aggregate, summed into the window's slots) and sends each as an ordinary
//! batch through the source's channel. Rows are those the load's snapshot
//! saw (ids up to its high-water mark, outside its gaps), so the live tail
//! and the job never count a row twice. Each slice also brings what the
//! drill-downs show row by row ([`super::recent`]: integration tails, recent
//! failing and slow calls) while what is held so far could still change by
//! it. A window change aborts the job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;

use std::collections::BTreeMap;

use super::load::{
    RawRows, STARTUP_GAP_SCAN, Slice, api_minutes, business_minutes, integration_minutes,
};
use super::recent::{ERRORS, api_recent, integration_recent};
use crate::duration::format_duration;
use crate::model::IntegrationTail;
use crate::model::{Batch, Update, minute_of, minute_start, slot_of};

/// The first screen shows this much of the window (the newest part).
pub const FIRST_SLICE: TimeDelta = TimeDelta::hours(1);
/// Older slices double in length up to this.
const MAX_SLICE: TimeDelta = TimeDelta::hours(6);
/// Statement timeout for one slice.
const SLICE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts per slice before the job gives up (the header then says so).
const ATTEMPTS: u32 = 3;

/// Which tailed table a job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryTable {
    Api,
    Integrations,
    Business,
}

/// How far back a window's history has been loaded; shared between the job
/// (which advances it) and the poller (which reports it in the header).
#[derive(Debug)]
pub struct Progress {
    window_start: DateTime<Utc>,
    window: Duration,
    /// Unix seconds of the oldest instant loaded so far.
    loaded_from: AtomicI64,
    failed: AtomicBool,
}

impl Progress {
    /// A load of the window of `window` starting at `window_start`, whose
    /// first screen holds what is newer than `until`.
    pub fn new(window_start: DateTime<Utc>, window: Duration, until: DateTime<Utc>) -> Self {
        Progress {
            window_start,
            window,
            loaded_from: AtomicI64::new(until.timestamp()),
            failed: AtomicBool::new(false),
        }
    }

    /// Whether the whole window is loaded.
    pub fn done(&self) -> bool {
        self.loaded_from.load(Ordering::Relaxed) <= self.window_start.timestamp()
    }

    /// `raw rows 6h of 24h…` while loading; `raw rows, partial: 6h of 24h
    /// (loading older history failed)` when the job gave up; `raw rows`
    /// when complete. Durations are rounded to the hour from an hour on.
    pub fn label(&self, now: DateTime<Utc>) -> String {
        if self.done() {
            return "raw rows".into();
        }
        let loaded = (now.timestamp() - self.loaded_from.load(Ordering::Relaxed)).max(0) as u64;
        let unit = if loaded >= 3600 { 3600 } else { 60 };
        let loaded = Duration::from_secs((loaded + unit / 2) / unit * unit).min(self.window);
        let (loaded, window) = (format_duration(loaded), format_duration(self.window));
        if self.failed.load(Ordering::Relaxed) {
            format!("raw rows, partial: {loaded} of {window} (loading older history failed)")
        } else {
            format!("raw rows {loaded} of {window}…")
        }
    }
}

/// The older part of a window, to be loaded after the first screen.
#[derive(Debug)]
pub struct HistoryJob {
    pub(super) pool: PgPool,
    /// Load from here (the window start) ...
    pub(super) window_start: DateTime<Utc>,
    /// ... up to here (where the first screen started).
    pub(super) until: DateTime<Utc>,
    /// The database clock of the load.
    pub(super) now: DateTime<Utc>,
    /// Minutes per slot of the window.
    pub(super) step: i64,
    /// Per table: the load's high-water mark and gaps (`lo`, `hi` arrays).
    pub(super) tables: Vec<(HistoryTable, i64, Vec<i64>, Vec<i64>)>,
    pub(super) progress: Arc<Progress>,
    /// A pause after each slice (see [`super::poller::Poller::set_history_pace`]).
    pub(super) pace: Duration,
    /// What the rows read so far hold of the drill-downs' rows.
    pub(super) seen: Seen,
}

/// The row-by-row parts delivered so far: whether an older slice could
/// still add to them.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    tails: BTreeMap<String, IntegrationTail>,
    integration_errors: usize,
    api_errors: usize,
}

impl Seen {
    /// What a batch (the first screen) delivered.
    pub fn of(b: &Batch) -> Seen {
        Seen {
            tails: b.integration_tails.iter().cloned().collect(),
            integration_errors: b.integration_errors.len(),
            api_errors: b.api_errors.len(),
        }
    }

    /// Add an older slice's batch, keeping of its failing calls only the
    /// newest that still fit the [`ERRORS`] a complete load shows.
    fn add(&mut self, b: &mut Batch) {
        for (name, t) in &b.integration_tails {
            self.tails.entry(name.clone()).or_default().after(t);
        }
        keep_newest(&mut b.integration_errors, ERRORS - self.integration_errors);
        keep_newest(&mut b.api_errors, ERRORS - self.api_errors);
        self.integration_errors += b.integration_errors.len();
        self.api_errors += b.api_errors.len();
    }

    /// Whether integration rows of an older slice could change what is held:
    /// an integration in it without a full tail yet, or room for errors.
    fn wants_integrations(&self, b: &Batch) -> bool {
        self.integration_errors < ERRORS
            || b.integrations
                .iter()
                .any(|(_, name, _)| self.tails.get(name).is_none_or(|t| t.wants_older()))
    }

    fn wants_api(&self) -> bool {
        self.api_errors < ERRORS
    }
}

/// Keep the last `n` of `v` (oldest first).
fn keep_newest<T>(v: &mut Vec<T>, n: usize) {
    let extra = v.len().saturating_sub(n);
    v.drain(..extra);
}

impl HistoryJob {
    /// Load the slices, newest first, sending each as a batch; returns when
    /// the window is complete, the channel closed, or the job gave up.
    pub async fn run(mut self, updates: mpsc::Sender<Update>) {
        let mut span = FIRST_SLICE;
        let mut hi = self.until;
        while hi > self.window_start {
            let lo = minute_start(slot_of(minute_of(hi - span), self.step)).max(self.window_start);
            let mut attempt = 0;
            let batch = loop {
                attempt += 1;
                match self.slice(lo, hi).await {
                    Ok(b) => break Some(b),
                    Err(e) if attempt < ATTEMPTS => {
                        tracing::warn!(error = %e, "loading older history failed; retrying");
                        tokio::time::sleep(Duration::from_secs(attempt as u64)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "loading older history failed; giving up");
                        break None;
                    }
                }
            };
            let Some(mut batch) = batch else {
                self.progress.failed.store(true, Ordering::Relaxed);
                return;
            };
            self.seen.add(&mut batch);
            if updates.send(Update::Batch(Box::new(batch))).await.is_err() {
                return;
            }
            self.progress
                .loaded_from
                .store(lo.timestamp(), Ordering::Relaxed);
            hi = lo;
            span = (span * 2).min(MAX_SLICE);
            if !self.pace.is_zero() && hi > self.window_start {
                tokio::time::sleep(self.pace).await;
            }
        }
    }

    /// Whether the newest [`STARTUP_GAP_SCAN`] API call ids below `hwm`
    /// (where recent calls are looked for) reach back before `hi`, judged by
    /// the oldest of them (ids follow time closely): one index probe.
    async fn api_floor_before(
        &self,
        conn: &mut sqlx::PgConnection,
        hwm: i64,
        hi: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT timestamp::timestamptz FROM monitoring_api_calls \
             WHERE id > $1 AND id <= $2 ORDER BY id LIMIT 1",
        )
        .bind(hwm - STARTUP_GAP_SCAN)
        .bind(hwm)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
        Ok(oldest.is_some_and(|t| t < hi))
    }

    /// The rows of `[lo, hi)` the load's snapshot saw, as one batch.
    async fn slice(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Result<Batch, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(format!("{}ms", SLICE_STATEMENT_TIMEOUT.as_millis()))
            .execute(&mut *tx)
            .await?;
        let mut b = Batch {
            now: self.now,
            past: true,
            ..Default::default()
        };
        for (table, hwm, gap_lo, gap_hi) in &self.tables {
            let slice = Slice {
                until: hi,
                gap_lo: gap_lo.clone(),
                gap_hi: gap_hi.clone(),
            };
            let at = (lo, self.step);
            match table {
                HistoryTable::Api => {
                    b.api = api_minutes(&mut tx, at, *hwm, RawRows::Slice(slice.clone())).await?;
                    // Recent calls come from the newest ids only (as at the
                    // first screen): a slice older than those has none.
                    if self.seen.wants_api() && self.api_floor_before(&mut tx, *hwm, hi).await? {
                        api_recent(&mut tx, &mut b, lo, *hwm, Some(&slice)).await?;
                    }
                }
                HistoryTable::Integrations => {
                    b.integrations =
                        integration_minutes(&mut tx, at, *hwm, RawRows::Slice(slice.clone()))
                            .await?;
                    if self.seen.wants_integrations(&b) {
                        integration_recent(&mut tx, &mut b, lo, *hwm, Some(&slice)).await?;
                    }
                }
                HistoryTable::Business => {
                    b.business = business_minutes(&mut tx, at, *hwm, RawRows::Slice(slice)).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(b)
    }
}
